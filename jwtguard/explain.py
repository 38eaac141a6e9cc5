"""`jwtguard explain CODE`: the troubleshooting guide's section on one error code.

The guide is docs/troubleshooting.md; the wheel ships it as jwtguard/troubleshooting.md, so the section can be read
wherever the package is installed, not only in a checkout.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ._help import HELP

__all__ = ["GUIDE_PATHS", "add_explain_command", "cmd_explain", "guide", "section"]

_PACKAGE = Path(__file__).resolve().parent
#: Where the guide is looked for: next to this module (installed from a wheel), else the checkout's docs folder.
GUIDE_PATHS = (_PACKAGE / "troubleshooting.md", _PACKAGE.parent / "docs" / "troubleshooting.md")

EXIT_OK = 0
EXIT_USAGE = 2


def guide(paths: tuple[Path, ...] = GUIDE_PATHS) -> str:
    """The troubleshooting guide's text, from the first of `paths` that exists."""
    for path in paths:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError("the troubleshooting guide is missing from this installation")


def section(code: str, text: str | None = None) -> str | None:
    """The guide's section on `code`, from its `## code` heading to the next heading of that level; None if absent."""
    text = guide() if text is None else text
    match = re.search(rf"^## {re.escape(code)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        return None
    return f"## {code}\n{match.group(1)}".rstrip() + "\n"


def add_explain_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = commands.add_parser("explain", help="print the troubleshooting guide's section on an error code")
    explain.add_argument("code", help="the error code, e.g. token_expired (the body's `code`, the log's jwtguard_code)")


def cmd_explain(args: argparse.Namespace, out: object = None) -> int:
    """Print the section on `args.code`; exit 2 (with the known codes) when the guide has none."""
    code = str(args.code).strip()
    try:
        text = section(code)
    except FileNotFoundError as exc:
        sys.stderr.write(f"jwtguard: {exc}\n")
        return EXIT_USAGE
    if text is None:
        sys.stderr.write(f"jwtguard: no error code {code!r}; the codes are: {', '.join(HELP)}\n")
        return EXIT_USAGE
    sys.stdout.write(text)
    return EXIT_OK
