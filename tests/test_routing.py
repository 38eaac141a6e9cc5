"""Several issuers: tokens are routed to an issuer's keys without parsing the unverified payload."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from jwtguard import Guard, Issuer, Settings
from jwtguard.errors import AuthError
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import FakeClock

AUDIENCE = "https://api.example.test"


@pytest.fixture
def second() -> Iterator[DevIssuer]:
    with DevIssuer(audience=AUDIENCE, algorithms=["ES256"]) as dev:
        yield dev


@pytest.fixture
def guard(issuer: DevIssuer, second: DevIssuer, clock: FakeClock) -> Guard:
    settings = Settings(
        audience=AUDIENCE,
        algorithms=["RS256", "ES256"],
        issuers=[Issuer(issuer=issuer.issuer, jwks_uri=issuer.jwks_uri), Issuer(issuer=second.issuer, discovery=True)],
    )
    return Guard(settings, key_clock=clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(key: SigningKey, payload: bytes, **header: Any) -> str:
    """A token of exactly these payload bytes (escapes, spacing and order as given)."""
    import jwt

    return jwt.api_jws.encode(payload, key.private_key, algorithm=key.alg, headers={"kid": key.kid, **header})


def payload(issuer: DevIssuer, before: str = "", after: str = "", iss: str | None = None) -> bytes:
    claims = issuer.claims()
    body = json.dumps({name: value for name, value in claims.items() if name != "iss"})[1:-1]
    member = json.dumps(issuer.issuer) if iss is None else iss
    return ("{" + before + '"iss" : ' + member + ", " + body + after + "}").encode()


def outcome(guard: Guard, token: str) -> str:
    try:
        guard.authenticate(f"Bearer {token}")
    except AuthError as exc:
        return exc.code
    return "ok"


def test_routing_reads_iss_as_json_does(issuer: DevIssuer, second: DevIssuer, guard: Guard) -> None:
    key = issuer.key
    escaped = json.dumps(issuer.issuer).replace("/", "\\/")  # some serialisers escape slashes
    cases = {
        "spaced": payload(issuer),
        "escaped-slashes": payload(issuer, iss=escaped),
        "unicode-escape": payload(issuer, iss=json.dumps(issuer.issuer).replace("h", "\\u0068", 1)),
        # A nested member (RFC 8693 `act`) after the top-level one does not change the route.
        "nested-after": payload(issuer, after=f', "act": {{"iss": {json.dumps(second.issuer)}, "sub": "svc"}}'),
        "other-members-first": payload(issuer, before='"x": "the \\"iss\\": is quoted", '),
    }
    for name, body in cases.items():
        assert outcome(guard, signed(key, body, kid="unknown-kid-" + name)) == "key_not_found", name  # routed to A
        assert outcome(guard, signed(key, body)) == "ok", name
    assert second.server.jwks_hits == 0  # B's keys were never fetched for A's tokens


def test_tokens_that_cannot_be_routed_are_refused(issuer: DevIssuer, guard: Guard) -> None:
    key = issuer.key
    many = "".join(f'"m{n}": {{"iss": "x"}}, ' for n in range(9))
    assert outcome(guard, signed(key, payload(issuer, before=many), kid="new")) == "issuer_invalid"
    assert outcome(guard, signed(key, payload(issuer, iss="42"), kid="new")) == "claim_invalid"
    assert outcome(guard, signed(key, payload(issuer, iss='"https://unknown.test/"'), kid="new")) == "issuer_invalid"
    no_iss = json.dumps({k: v for k, v in issuer.claims().items() if k != "iss"}).encode()
    assert outcome(guard, signed(key, no_iss, kid="new")) == "issuer_invalid"
    assert issuer.server.jwks_hits == 0


def test_a_known_kid_routes_without_reading_the_payload(issuer: DevIssuer, second: DevIssuer, guard: Guard) -> None:
    assert outcome(guard, issuer.token()) == "ok"
    assert outcome(guard, second.token()) == "ok"
    # Once A's keys are known, a token with A's kid goes to A whatever its payload says; the signature and
    # then the parsed iss are A's to check.
    assert outcome(guard, signed(issuer.key, payload(issuer, iss=json.dumps(second.issuer)))) == "issuer_invalid"
    # More "iss" members than routing reads: with a known kid the payload is parsed only after the signature.
    hits = second.server.jwks_hits
    assert outcome(guard, signed(issuer.key, b"{" + b'"iss":"x",' * 20 + b'"sub":"a"}')) == "token_malformed"
    assert second.server.jwks_hits == hits
