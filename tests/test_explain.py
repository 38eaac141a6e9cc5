"""`jwtguard explain CODE`: the troubleshooting guide's section on each error code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jwtguard._help import HELP
from jwtguard.cli import main
from jwtguard.explain import guide, section

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"


def test_the_guide_is_read_from_the_checkout_without_an_installed_copy() -> None:
    assert guide() == GUIDE.read_text(encoding="utf-8")


@pytest.mark.parametrize("code", sorted(HELP))
def test_every_code_has_a_section_that_ends_at_the_next_one(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = section(code)
    assert text is not None, f"docs/troubleshooting.md has no section on {code}"
    assert text.startswith(f"## {code}\n")
    assert "\n## " not in text
    assert len(text.splitlines()) > 3
    assert main(["explain", code]) == 0
    assert capsys.readouterr().out == text


def test_a_section_is_cut_at_the_next_heading_of_its_level() -> None:
    text = "# Guide\n\n## first\n\nbody\n\n### detail\n\nmore\n\n## second\n\nother\n"
    assert section("first", text) == "## first\n\nbody\n\n### detail\n\nmore\n"
    assert section("second", text) == "## second\n\nother\n"
    assert section("firs", text) is None
    assert section("f.rst", "## first\n") is None  # the code is matched literally


def test_an_unknown_code_is_a_usage_error_that_lists_the_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "token_expird"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no error code 'token_expird'" in captured.err
    assert "token_expired" in captured.err


def test_a_missing_guide_is_said_plainly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="troubleshooting guide is missing"):
        guide((tmp_path / "troubleshooting.md",))


def test_the_command_prints_the_section() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jwtguard", "explain", "jwks_unavailable"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == section("jwks_unavailable")
    usage = subprocess.run(
        [sys.executable, "-m", "jwtguard", "explain"], capture_output=True, text=True, timeout=60, check=False
    )
    assert usage.returncode == 2
    assert "code" in usage.stderr
