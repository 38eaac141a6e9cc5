"""Log hygiene: what reaches a log field is short, single-line and safe for any handler."""

from __future__ import annotations

import logging

import pytest

from jwtguard import AuthError, Guard, RequestInfo
from jwtguard.testing import DevIssuer


@pytest.fixture(scope="module")
def guard() -> Guard:
    with DevIssuer(audience="https://api.example.test") as issuer:
        return Guard(issuer.settings(jwks={"keys": [issuer.key.public_jwk()]}))


def sanitize(value: str, guard: Guard, caplog: pytest.LogCaptureFixture) -> str | None:
    """What the refusal record of a request says of a path holding `value`."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jwtguard"), pytest.raises(AuthError):
        guard.check_request(RequestInfo("GET", value, None))
    (record,) = caplog.records
    field: str | None = getattr(record, "jwtguard_path")  # noqa: B009
    return field


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("alice", "alice", id="plain"),
        pytest.param("a\nb\rc\td", "a?b?c?d", id="newlines-and-tabs"),
        pytest.param("\x1b[31mred", "?[31mred", id="terminal-escape"),
        pytest.param("x\u2028y\u2029z", "x?y?z", id="unicode-line-separators"),
        pytest.param("admin\u202egnp.exe", "admin?gnp.exe", id="bidi-override"),
        pytest.param("lone\ud800surrogate", "lone?surrogate", id="lone-surrogate"),
        pytest.param("\x85next-line", "?next-line", id="c1-control"),
        pytest.param("ali\u061cce", "ali?ce", id="arabic-letter-mark"),
        pytest.param("ad\u200bmin", "ad?min", id="zero-width-space"),
        pytest.param("ad\u200dmin\u2060", "ad?min?", id="zero-width-joiner-and-word-joiner"),
        pytest.param("\ufeffbom", "?bom", id="byte-order-mark"),
        pytest.param("soft\u00adhyphen", "soft?hyphen", id="soft-hyphen"),
        pytest.param("tag\U000e0041\U000e007f", "tag??", id="tag-characters"),
        pytest.param("\u2066isolate\u2069", "?isolate?", id="bidi-isolates"),
        pytest.param("José Ωmega 東京", "José Ωmega 東京", id="printable-non-ascii-kept"),
    ],
)
def test_log_fields_hold_printable_characters_only(
    value: str, expected: str, guard: Guard, caplog: pytest.LogCaptureFixture
) -> None:
    assert sanitize(value, guard, caplog) == expected


def test_log_fields_are_truncated(guard: Guard, caplog: pytest.LogCaptureFixture) -> None:
    result = sanitize("k" * 10_000, guard, caplog)
    assert result is not None
    assert len(result) == 200
    assert result.endswith("...")
