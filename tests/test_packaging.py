"""The distribution: `python -m build` makes an sdist and a wheel (the wheel from the sdist) that `twine check`
accepts, under the distribution's own name, with the MIT license in the metadata, the troubleshooting guide and
the pytest plugin's module in the wheel, and an installed wheel that explains an error code."""

from __future__ import annotations

import email.message
import email.parser
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import jwtguard
from jwtguard.explain import section

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
DISTRIBUTION = "bearer-jwks-middleware"
# The name as file names spell it (PEP 427/625): dashes become underscores.
FILE_STEM = f"{DISTRIBUTION.replace('-', '_')}-{jwtguard.__version__}"
GUIDE = ROOT / "docs" / "troubleshooting.md"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("build") is None, reason="the build package is not installed")


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """Build once per session, as a user would from a fresh clone: `python -m build` (the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = Dist(out / f"{FILE_STEM}.tar.gz", out / f"{FILE_STEM}-py3-none-any.whl")
    assert sorted(out.iterdir()) == sorted([built.sdist, built.wheel])
    return built


def _wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        return email.parser.Parser().parsestr(archive.read(f"{FILE_STEM}.dist-info/METADATA").decode())


def _sdist_metadata(sdist: Path) -> email.message.Message:
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"{FILE_STEM}/PKG-INFO")
        assert member is not None
        return email.parser.Parser().parsestr(member.read().decode())


def test_the_distribution_is_not_named_jwtguard() -> None:
    # `jwtguard` on the package index is another project: the distribution has a name of its own, the import name
    # and the command stay `jwtguard`.
    assert f'\nname = "{DISTRIBUTION}"\n' in PYPROJECT
    assert '\njwtguard = "jwtguard.cli:main"\n' in PYPROJECT


def test_twine_accepts_the_sdist_and_the_wheel(dist: Dist) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dist.sdist), str(dist.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_metadata_says_mit_and_ships_the_license(dist: Dist) -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License\n")
    for metadata in (_wheel_metadata(dist.wheel), _sdist_metadata(dist.sdist)):
        assert metadata["Name"] == DISTRIBUTION
        assert metadata["Version"] == jwtguard.__version__  # one source: jwtguard/_version.py
        assert metadata["License-Expression"] == "MIT"
        assert metadata.get_all("License-File") == ["LICENSE"]
        assert not [c for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")]
        assert metadata["Requires-Python"] == ">=3.10"
    with zipfile.ZipFile(dist.wheel) as archive:
        assert archive.read(f"{FILE_STEM}.dist-info/licenses/LICENSE").decode() == license_text


def test_the_wheel_ships_the_guide_the_pytest_plugin_and_the_entry_points(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("jwtguard/troubleshooting.md").decode() == GUIDE.read_text(encoding="utf-8")
        assert archive.read("_jwtguard_pytest.py") == (ROOT / "_jwtguard_pytest.py").read_bytes()
        entry_points = archive.read(f"{FILE_STEM}.dist-info/entry_points.txt").decode()
    assert "jwtguard/py.typed" in names
    modules = {path.name for path in (ROOT / "jwtguard").glob("*.py")}
    assert {name.removeprefix("jwtguard/") for name in names if re.fullmatch(r"jwtguard/[^/]+\.py", name)} == modules
    assert not [name for name in names if name.startswith(("tests/", "docs/", "example_app/"))]
    assert "[console_scripts]\njwtguard = jwtguard.cli:main\n" in entry_points
    assert "[pytest11]\njwtguard = _jwtguard_pytest\n" in entry_points


def test_the_sdist_carries_the_license_the_changelog_and_the_guide(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as archive:
        names = {name.removeprefix(f"{FILE_STEM}/") for name in archive.getnames()}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "docs/troubleshooting.md", "_jwtguard_pytest.py"} <= names
    assert {"pyproject.toml", "jwtguard/_version.py", "tests/test_packaging.py"} <= names


def test_the_installed_wheel_explains_an_error_code(dist: Dist, tmp_path: Path) -> None:
    # Offline, the wheel alone (its dependencies are this environment's): `jwtguard explain` reads the guide
    # shipped inside the package, not the checkout's docs folder.
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target", str(target),
         str(dist.wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert not (target / "docs").exists()
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import jwtguard; print(jwtguard.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert Path(where.stdout.strip()).parent == target / "jwtguard"
    explained = subprocess.run(
        [sys.executable, "-m", "jwtguard", "explain", "token_expired"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout == section("token_expired")
    assert explained.stdout.startswith("## token_expired\n")


def test_the_readme_install_line_installs_the_checkout(tmp_path: Path) -> None:
    # `pip install .` in the checkout, into a folder of its own rather than this environment; the dependencies are
    # this environment's, so only the build backend comes from the index.
    assert "\npip install .  " in (ROOT / "README.md").read_text(encoding="utf-8")
    target = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), "."],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (target / "jwtguard" / "troubleshooting.md").read_text(encoding="utf-8") == GUIDE.read_text("utf-8")
    assert (target / "_jwtguard_pytest.py").is_file()
    [dist_info] = target.glob("*.dist-info")
    assert dist_info.name == f"{FILE_STEM}.dist-info"
