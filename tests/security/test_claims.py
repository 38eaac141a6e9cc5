"""Claims: missing, wrong types, booleans as numbers, arrays where strings belong, iss/aud case and prefix
games, leeway edges, far-future iat, exp before nbf, scope games."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import AUDIENCE, Case, Kit, run_case


def t(**changes: Any) -> Case:
    return lambda k: k.token(
        "RS256", **{name: (value(k) if callable(value) else value) for name, value in changes.items()}
    )


CASES: list[object] = [
    # exp
    pytest.param(t(exp=None), "claim_missing", id="exp-missing"),
    *[
        pytest.param(t(exp=value), "claim_invalid", id=f"exp-{name}")
        for name, value in (
            ("string", "9999999999"),
            ("true", True),
            ("false", False),
            ("list", [9999999999]),
            ("object", {"t": 9999999999}),
        )
    ],
    pytest.param(
        lambda k: k.forge(k.header(), {**k.claims(), "exp": None}, k.keys["RS256"]), "claim_invalid", id="exp-null"
    ),
    pytest.param(lambda k: k.forge(k.header(), b'{"exp":1e400}', k.keys["RS256"]), "claim_invalid", id="exp-overflow"),
    pytest.param(
        lambda k: k.forge(k.header(), b'{"exp":-1e400}', k.keys["RS256"]), "claim_invalid", id="exp-negative-overflow"
    ),
    pytest.param(
        t(exp=lambda k: k.now - 3600, iat=lambda k: k.now - 7200, nbf=lambda k: k.now - 7200),
        "token_expired",
        id="expired",
    ),
    pytest.param(
        t(exp=lambda k: k.now - 61, iat=lambda k: k.now - 600, nbf=lambda k: k.now - 600),
        "token_expired",
        id="expired-just-beyond-leeway",
    ),
    pytest.param(
        t(exp=lambda k: k.now - 55, iat=lambda k: k.now - 600, nbf=lambda k: k.now - 600),
        "ok",
        id="expired-within-leeway",
    ),
    pytest.param(
        t(exp=lambda k: k.now - 30.5, iat=lambda k: k.now - 600, nbf=lambda k: k.now - 600), "ok", id="fractional-exp"
    ),
    pytest.param(t(exp=1, iat=0, nbf=0), "token_expired", id="epoch"),
    pytest.param(t(exp=-9999999999, iat=None, nbf=None), "token_expired", id="negative-exp"),
    # nbf / iat
    *[
        pytest.param(t(nbf=value), "claim_invalid", id=f"nbf-{name}")
        for name, value in (("string", "0"), ("true", True), ("list", [0]))
    ],
    *[
        pytest.param(t(iat=value), "claim_invalid", id=f"iat-{name}")
        for name, value in (("string", "0"), ("false", False))
    ],
    pytest.param(
        t(nbf=lambda k: k.now + 120, exp=lambda k: k.now + 3600), "token_not_yet_valid", id="nbf-beyond-leeway"
    ),
    pytest.param(t(nbf=lambda k: k.now + 55, exp=lambda k: k.now + 3600), "ok", id="nbf-within-leeway"),
    pytest.param(
        t(iat=lambda k: k.now + 86400, nbf=None, exp=lambda k: k.now + 90000),
        "token_not_yet_valid",
        id="iat-far-future",
    ),
    pytest.param(t(iat=lambda k: k.now + 30, nbf=None), "ok", id="iat-within-leeway"),
    pytest.param(t(nbf=lambda k: k.now + 30, exp=lambda k: k.now + 20), "claim_invalid", id="exp-before-nbf"),
    pytest.param(
        t(iat=lambda k: k.now - 10, nbf=lambda k: k.now - 10, exp=lambda k: k.now - 10),
        "claim_invalid",
        id="exp-equals-nbf",
    ),
    pytest.param(t(iat=lambda k: k.now + 50, nbf=None, exp=lambda k: k.now + 40), "claim_invalid", id="exp-before-iat"),
    # iss: exact match only
    pytest.param(t(iss=None), "issuer_invalid", id="iss-missing"),
    pytest.param(t(iss=lambda k: k.issuer.issuer + "/"), "issuer_invalid", id="iss-trailing-slash"),
    pytest.param(t(iss=lambda k: k.issuer.issuer + "/evil"), "issuer_invalid", id="iss-prefix"),
    pytest.param(t(iss=lambda k: k.issuer.issuer[:-1]), "issuer_invalid", id="iss-truncated"),
    pytest.param(t(iss=lambda k: k.issuer.issuer.upper()), "issuer_invalid", id="iss-case"),
    pytest.param(t(iss=lambda k: " " + k.issuer.issuer), "issuer_invalid", id="iss-leading-space"),
    pytest.param(t(iss=lambda k: k.issuer.issuer.replace("http://", "https://")), "issuer_invalid", id="iss-scheme"),
    pytest.param(
        lambda k: k.forge(k.header(), {**k.claims(), "iss": [k.issuer.issuer]}, k.keys["RS256"]),
        "claim_invalid",
        id="iss-list",
    ),
    pytest.param(
        lambda k: k.forge(k.header(), {**k.claims(), "iss": 1}, k.keys["RS256"]), "claim_invalid", id="iss-number"
    ),
    pytest.param(
        lambda k: k.forge(k.header(), {**k.claims(), "iss": None}, k.keys["RS256"]), "issuer_invalid", id="iss-null"
    ),
    # aud: exact match of any value
    pytest.param(t(aud=None), "audience_invalid", id="aud-missing"),
    pytest.param(t(aud=""), "audience_invalid", id="aud-empty-string"),
    pytest.param(t(aud=[]), "audience_invalid", id="aud-empty-list"),
    pytest.param(t(aud=AUDIENCE + "/v2"), "audience_invalid", id="aud-prefix"),
    pytest.param(t(aud=AUDIENCE[:-4]), "audience_invalid", id="aud-truncated"),
    pytest.param(t(aud=AUDIENCE.upper()), "audience_invalid", id="aud-case"),
    pytest.param(t(aud=[AUDIENCE + " ", "other"]), "audience_invalid", id="aud-near-misses"),
    pytest.param(t(aud=f"{AUDIENCE} other"), "audience_invalid", id="aud-space-joined"),
    pytest.param(t(aud=["other", AUDIENCE]), "ok", id="aud-one-of-several"),
    pytest.param(t(aud=42), "claim_invalid", id="aud-number"),
    pytest.param(t(aud=[AUDIENCE, 42]), "claim_invalid", id="aud-list-with-number"),
    pytest.param(t(aud=[[AUDIENCE]]), "claim_invalid", id="aud-nested-list"),
    pytest.param(t(aud={"aud": AUDIENCE}), "claim_invalid", id="aud-object"),
    # sub and jti are strings
    pytest.param(t(sub=12345), "claim_invalid", id="sub-number"),
    pytest.param(t(sub=["admin"]), "claim_invalid", id="sub-list"),
    pytest.param(t(sub=True), "claim_invalid", id="sub-bool"),
    pytest.param(t(jti=1), "claim_invalid", id="jti-number"),
    pytest.param(t(sub=None), "ok", id="sub-absent-is-allowed"),
    # NumericDates after 9999-12-31T23:59:59Z: no issuer means them, and datetime cannot hold them.
    pytest.param(t(exp=253402300799), "ok", id="exp-last-second-of-9999"),
    pytest.param(t(exp=253402300800), "claim_invalid", id="exp-year-10000"),
    pytest.param(t(exp=1e300), "claim_invalid", id="exp-float-far-future"),
    pytest.param(t(exp=2**63), "claim_invalid", id="exp-int64-overflow"),
    pytest.param(t(nbf=253402300800), "claim_invalid", id="nbf-year-10000"),
    pytest.param(t(iat=253402300800), "claim_invalid", id="iat-year-10000"),
]


def typ(value: str | None) -> Case:
    return lambda k: k.forge(k.header(typ=value), k.claims(), k.keys["RS256"])


# RFC 8725 §3.11: with token_types unset, a JWT of another kind never passes as an access token.
TYP_CASES: list[object] = [
    pytest.param(typ(None), "ok", id="typ-absent"),
    pytest.param(typ("JWT"), "ok", id="typ-JWT"),
    pytest.param(typ("jwt"), "ok", id="typ-jwt-lower-case"),
    pytest.param(typ("application/jwt"), "ok", id="typ-application-jwt"),
    pytest.param(typ("at+jwt"), "ok", id="typ-at+jwt"),
    pytest.param(typ("application/AT+JWT"), "ok", id="typ-application-at+jwt"),
    pytest.param(typ("dpop+jwt"), "claim_invalid", id="typ-dpop-proof"),
    pytest.param(typ("DPoP+JWT"), "claim_invalid", id="typ-dpop-proof-mixed-case"),
    pytest.param(typ("secevent+jwt"), "claim_invalid", id="typ-security-event"),
    pytest.param(typ("logout+jwt"), "claim_invalid", id="typ-logout-token"),
    pytest.param(typ("application/logout+jwt"), "claim_invalid", id="typ-application-logout"),
    pytest.param(typ("id+jwt"), "claim_invalid", id="typ-id-token"),
    pytest.param(typ("token-introspection+jwt"), "claim_invalid", id="typ-introspection-response"),
    pytest.param(typ("client-authentication+jwt"), "claim_invalid", id="typ-client-assertion"),
]

SCOPE_CASES: list[object] = [
    pytest.param(t(scope=None), "insufficient_scope", id="no-scope"),
    pytest.param(t(scope="orders:readwrite"), "insufficient_scope", id="scope-superstring"),
    pytest.param(t(scope="orders:rea"), "insufficient_scope", id="scope-prefix"),
    pytest.param(t(scope="ORDERS:READ"), "insufficient_scope", id="scope-case"),
    pytest.param(t(scope="orders:read:all"), "insufficient_scope", id="scope-extended"),
    pytest.param(t(scope="xorders:read"), "insufficient_scope", id="scope-suffix"),
    pytest.param(t(scope="orders:read,profile"), "insufficient_scope", id="scope-comma-joined"),
    # RFC 6749 §3.3: scope tokens are separated by U+0020 alone; any other whitespace is part of a token.
    *[
        pytest.param(t(scope=f"photos.x{space}orders:read"), "insufficient_scope", id=f"scope-joined-by-{name}")
        for name, space in (
            ("ideographic-space", "\u3000"),
            ("no-break-space", "\u00a0"),
            ("line-separator", "\u2028"),
            ("unit-separator", "\u001f"),
            ("tab", "\t"),
            ("newline", "\n"),
            ("em-space", "\u2003"),
        )
    ],
    pytest.param(t(scope=None, scp="photos.x\u3000orders:read"), "insufficient_scope", id="scp-string-ideographic"),
    pytest.param(t(scope="  profile   orders:read  "), "ok", id="scope-repeated-spaces"),
    pytest.param(t(scope=7), "claim_invalid", id="scope-number"),
    pytest.param(t(scope=[1, 2]), "claim_invalid", id="scope-list-of-numbers"),
    pytest.param(t(scope=None, scp={"orders:read": True}), "claim_invalid", id="scp-object"),
    pytest.param(t(scope="profile orders:read email"), "ok", id="scope-among-others"),
    pytest.param(t(scope=None, scp=["orders:read"]), "ok", id="scp-list"),
    pytest.param(t(scope=None, scp="orders:read"), "ok", id="scp-string"),
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_claims(
    case: Case, expected: str, kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    run_case(case, expected, kit, default_url, http, jwtguard_logs)


@pytest.mark.parametrize(("case", "expected"), TYP_CASES)
def test_token_types_by_default(
    case: Case, expected: str, kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    run_case(case, expected, kit, default_url, http, jwtguard_logs)
    if expected != "ok":
        (record,) = [r for r in jwtguard_logs.records if getattr(r, "jwtguard_code", None) == expected]
        assert "typ" in getattr(record, "jwtguard_reason", "")


@pytest.mark.parametrize(("case", "expected"), SCOPE_CASES)
def test_scopes(
    case: Case, expected: str, kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    from .conftest import Attempt

    def scoped(k: Kit) -> Attempt:
        token = case(k)
        assert isinstance(token, str)
        return Attempt(authorization=[f"Bearer {token}"], path="/scoped", secrets=[token])

    run_case(scoped, expected, kit, default_url, http, jwtguard_logs)
