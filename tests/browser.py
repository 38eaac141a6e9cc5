"""A headless Chromium for the few tests that need a real browser (Swagger UI's Authorize flow, CORS).

The browser is Debian's `chromium` (`apt-get install chromium`), driven through Playwright. Where it is missing the
browser tests are skipped, saying so; `.ci/run` installs it and sets `REQUIRE_BROWSER_TESTS=1`, which turns a
missing or broken browser into a failure instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REQUIRED = os.environ.get("REQUIRE_BROWSER_TESTS") == "1"


def chromium_path() -> str | None:
    """The Chromium executable: `JWTGUARD_CHROMIUM`, else `chromium` on the PATH."""
    return os.environ.get("JWTGUARD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _unavailable(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"browser tests cannot run: {why}", pytrace=False)
    pytest.skip(f"browser test skipped: {why} (apt-get install chromium to run it)")


# Per module, not per session: Playwright's sync API keeps an asyncio loop running in the main thread while it is
# open, and every later test that runs one of its own (`anyio.run`, `asyncio.run`) would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium for the module's tests; skips (or, under `.ci/run`, fails) when there is none."""
    executable = chromium_path()
    if executable is None:
        _unavailable("no chromium executable found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except Exception as exc:  # a browser that cannot start is reported, not a crash of the suite
            _unavailable(f"chromium did not start ({type(exc).__name__}: {str(exc).splitlines()[0]})")
        try:
            yield launched
        finally:
            launched.close()
