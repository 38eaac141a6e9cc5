"""Swagger UI's files for the browser tests, so that the browser reaches nothing but 127.0.0.1.

FastAPI's `/docs` page loads Swagger UI from a CDN. The browser tests answer those requests from a local copy of
the npm package `swagger-ui-dist` (pinned, its integrity checked) and refuse every other request off this machine.
The copy is fetched once with `npm pack` into `$TESTS_CACHE_DIR` (default `~/.cache/jwtguard-tests`);
`SWAGGER_UI_DIST_DIR` names a directory that holds the files instead. Without npm or the registry the browser
tests are skipped, or fail under `.ci/run` (`REQUIRE_BROWSER_TESTS=1`), as for a missing browser.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from .browser import REQUIRED

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route

VERSION = "5.35.0"  # the major version FastAPI's page asks the CDN for: swagger-ui-dist@5
INTEGRITY = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"


def _unavailable(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"browser tests cannot run: {why}", pytrace=False)
    pytest.skip(f"browser test skipped: {why}")


def _cache() -> Path:
    base = os.environ.get("TESTS_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "jwtguard-tests")
    return Path(base) / f"swagger-ui-dist-{VERSION}"


def _fetch(target: Path) -> None:
    """`npm pack` the pinned package, check its integrity, and keep the files the page loads."""
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed, to fetch swagger-ui-dist")
    with tempfile.TemporaryDirectory() as scratch:
        try:
            subprocess.run(
                [str(npm), "pack", f"swagger-ui-dist@{VERSION}", "--pack-destination", scratch, "--silent"],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"npm pack swagger-ui-dist@{VERSION} failed ({type(exc).__name__})")
        [tarball] = Path(scratch).glob("swagger-ui-dist-*.tgz")
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != INTEGRITY:
            pytest.fail(f"swagger-ui-dist@{VERSION} does not have the pinned integrity", pytrace=False)
        staging = Path(scratch) / "files"
        staging.mkdir()
        with tarfile.open(tarball) as archive:
            for name in FILES:  # read by name, never extracted by the archive's own paths
                member = archive.extractfile(f"package/{name}")
                if member is None:
                    pytest.fail(f"swagger-ui-dist@{VERSION} has no {name}", pytrace=False)
                (staging / name).write_bytes(member.read())
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(target)
        except OSError:  # another run put it there meanwhile
            if not all((target / name).is_file() for name in FILES):
                raise


@pytest.fixture(scope="session")
def swagger_ui_dist() -> Path:
    """A directory with Swagger UI's bundle and stylesheet."""
    given = os.environ.get("SWAGGER_UI_DIST_DIR")
    directory = Path(given) if given else _cache()
    if not all((directory / name).is_file() for name in FILES):
        if given:
            _unavailable(f"SWAGGER_UI_DIST_DIR={given} lacks {', '.join(FILES)}")
        _fetch(directory)
    return directory


def serve_locally(context: BrowserContext, dist: Path) -> list[str]:
    """Route `context`'s requests: the CDN's Swagger UI files come from `dist`, 127.0.0.1 is reached, anything
    else is refused. Returns the list the refused URLs are added to."""
    refused: list[str] = []

    def route(route: Route) -> None:
        url = route.request.url
        name = url[len(CDN) :] if url.startswith(CDN) else None
        if name in FILES:
            route.fulfill(path=str(dist / name))
        elif urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", route)
    return refused
