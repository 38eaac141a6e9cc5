"""Log hygiene: what reaches a log field is short, single-line and safe for any handler."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

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


# -- the decisive values ----------------------------------------------------------------------------------

NOW = 1_800_000_000


def refusal_line(guard: Guard, token: str, caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jwtguard"), pytest.raises(AuthError):
        guard.check_request(RequestInfo("GET", "/orders", "127.0.0.1", authorization=("Bearer " + token,)))
    (record,) = [record for record in caplog.records if record.name == "jwtguard"]
    return record


@pytest.fixture(scope="module")
def dev() -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", clock=lambda: NOW) as issuer:
        yield issuer


@pytest.mark.parametrize(
    ("overrides", "claims", "expected"),
    [
        pytest.param(
            {},
            {"aud": "https://other.example.test"},
            "audience_invalid (401) no aud value is a configured audience "
            "[aud=['https://other.example.test'] expected=['https://api.example.test']; token verified]",
            id="audience",
        ),
        pytest.param(
            {},
            {"expires_in": -93},
            f"token_expired (401) exp is in the past, beyond the leeway "
            f"[exp={NOW - 93} expired_seconds_ago=93 leeway=0; token verified]",
            id="expired",
        ),
        pytest.param(
            {"required_scopes": ["orders:write"]},
            {"scope": "orders:read profile"},
            "insufficient_scope (403) token lacks a scope in required_scopes "
            "[required=['orders:write'] granted_scopes=['orders:read', 'profile']; token verified]",
            id="scope",
        ),
        pytest.param(
            {"algorithms": ["ES256"]},
            {},
            "algorithm_not_allowed (401) alg is not in the algorithms allow-list "
            "[alg='RS256' allowed=['ES256']; token unverified]",
            id="alg",
        ),
        pytest.param(
            {"token_types": ["at+jwt"]},
            {},
            "claim_invalid (401) typ header is not one of token_types [typ='JWT' expected=['at+jwt']; token verified]",
            id="typ",
        ),
    ],
)
def test_the_refusal_line_names_presented_and_expected_values(
    overrides: dict[str, object],
    claims: dict[str, Any],
    expected: str,
    dev: DevIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = Guard(dev.settings(leeway=0, **overrides), clock=lambda: NOW)
    record = refusal_line(guard, dev.token(**claims), caplog)
    assert record.getMessage() == "jwtguard: rejected GET /orders: " + expected
    guard.close()


def test_the_issuer_is_quoted_so_a_trailing_slash_shows(dev: DevIssuer, caplog: pytest.LogCaptureFixture) -> None:
    guard = Guard(dev.settings(), clock=lambda: NOW)
    record = refusal_line(guard, dev.token(iss=dev.issuer + "/"), caplog)
    assert f"[iss={dev.issuer + '/'!r} expected=[{dev.issuer!r}]; token verified]" in record.getMessage()
    assert getattr(record, "jwtguard_details") == {"iss": repr(dev.issuer + "/"), "expected": repr([dev.issuer])}  # noqa: B009
    guard.close()


def test_an_unknown_kid_names_the_known_ones(dev: DevIssuer, caplog: pytest.LogCaptureFixture) -> None:
    guard = Guard(dev.settings(), clock=lambda: NOW)
    record = refusal_line(guard, dev.token(headers={"kid": "retired-2024"}), caplog)
    assert f"[kid='retired-2024' known_kids=[{dev.key.kid!r}]; token unverified]" in record.getMessage()
    guard.close()


def test_a_not_yet_valid_token_says_in_how_many_seconds(dev: DevIssuer, caplog: pytest.LogCaptureFixture) -> None:
    guard = Guard(dev.settings(leeway=30), clock=lambda: NOW - 600)  # the API's clock is ten minutes behind
    record = refusal_line(guard, dev.token(), caplog)
    assert "token_not_yet_valid" in record.getMessage()
    assert "valid_in_seconds=600 leeway=30; token verified]" in record.getMessage()
    guard.close()


def test_a_missing_role_names_what_the_token_has(dev: DevIssuer, caplog: pytest.LogCaptureFixture) -> None:
    guard = Guard(dev.settings(role_claims=["roles"], rules=["GET /orders role:admin"]), clock=lambda: NOW)
    record = refusal_line(guard, dev.token(roles=["viewer"]), caplog)
    message = record.getMessage()
    assert "insufficient_role (403)" in message
    assert "token does not meet role:admin; it has roles [viewer] and permissions []" in message
    guard.close()


def test_decisive_values_are_sanitized_and_never_the_token(dev: DevIssuer, caplog: pytest.LogCaptureFixture) -> None:
    guard = Guard(dev.settings(), clock=lambda: NOW)
    token = dev.token(aud="evil\n2026-12-02 INFO jwtguard: accepted \u202e")
    record = refusal_line(guard, token, caplog)
    message = record.getMessage()
    assert "\n" not in message
    assert "\u202e" not in message
    assert token not in message
    assert token.split(".")[2] not in message
    guard.close()
