"""Property-based fuzzing of the guard and both middlewares: no exception escapes, no 5xx but
jwks_unavailable, and nothing is accepted that a trusted key did not sign and the policy does not allow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Scope

from jwtguard import Guard, JWTGuardMiddleware, JWTGuardWSGIMiddleware, Principal, RequestInfo
from jwtguard.errors import AuthError
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import ALGORITHMS, AUDIENCE, b64, segment

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ~\t,\x00\u00e9"


class Target:
    def __init__(self, issuer: DevIssuer, keys: list[SigningKey]) -> None:
        self.issuer = issuer
        self.keys = keys
        settings_ = issuer.settings(jwks={"keys": [key.public_jwk() for key in keys]}, leeway=60)
        self.guard = Guard(settings_)
        self.valid = [issuer.token(key=key, scopes=["a"]) for key in keys]

        async def app(scope: Scope, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        def wsgi_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [])
            return [b"ok"]

        self.asgi = JWTGuardMiddleware(app, guard=self.guard)
        self.wsgi = JWTGuardWSGIMiddleware(wsgi_app, guard=self.guard)

    def decide(self, authorization: str) -> tuple[int, Principal | None]:
        """The guard's answer as (status, principal); any other exception fails the property."""
        try:
            principal = self.guard.check_request(RequestInfo("GET", "/", None), authorization)
        except AuthError as exc:
            return exc.status_code, None
        return 200, principal

    def asgi_status(self, authorization: bytes) -> int:
        scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"authorization", authorization)]}
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        asyncio.run(self.asgi(scope, receive, send))
        status: int = sent[0]["status"]
        return status

    def wsgi_status(self, authorization: str) -> int:
        statuses: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
            statuses.append(status)

        body = b"".join(
            self.wsgi({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_AUTHORIZATION": authorization}, start_response)
        )
        assert body
        return int(statuses[0].split()[0])

    def assert_policy(self, principal: Principal) -> None:
        """An independent oracle for what an accepted token must satisfy."""
        claims = principal.claims
        now = time.time()
        assert isinstance(claims["exp"], int | float)
        assert not isinstance(claims["exp"], bool)
        assert claims["exp"] + 60 > now
        assert claims["iss"] == self.issuer.issuer
        aud = claims["aud"]
        assert aud == AUDIENCE or (isinstance(aud, list) and AUDIENCE in aud)


@pytest.fixture(scope="module")
def target(signing_keys: dict[str, SigningKey]) -> Iterator[Target]:
    with DevIssuer(audience=AUDIENCE, keys=list(signing_keys.values())) as issuer:
        yield Target(issuer, list(signing_keys.values()))


@st.composite
def mutated(draw: st.DrawFn, valid: list[str]) -> tuple[str, str]:
    original = draw(st.sampled_from(valid))
    token = original
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "swap", "append", "duplicate"]))
        i = draw(st.integers(0, max(len(token) - 1, 0)))
        char = draw(st.sampled_from(ALPHABET))
        if op == "replace" and token:
            token = token[:i] + char + token[i + 1 :]
        elif op == "insert":
            token = token[:i] + char + token[i:]
        elif op == "delete" and token:
            token = token[:i] + token[i + 1 :]
        elif op == "truncate":
            token = token[:i]
        elif op == "swap":
            parts = token.split(".")
            if len(parts) >= 2:
                j, k = draw(st.integers(0, len(parts) - 1)), draw(st.integers(0, len(parts) - 1))
                parts[j], parts[k] = parts[k], parts[j]
                token = ".".join(parts)
        elif op == "append":
            token += draw(st.sampled_from([".", "=", ".x", "==", " x", draw(st.sampled_from(valid))]))
        elif op == "duplicate":
            parts = token.split(".")
            token = ".".join([*parts, parts[draw(st.integers(0, len(parts) - 1))]])
    return original, token


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(header=st.text(max_size=200))
def test_random_headers(target: Target, header: str) -> None:
    status, principal = target.decide(header)
    assert status in (400, 401, 403)
    assert principal is None


@FUZZ
@given(data=st.data())
def test_mutated_tokens_are_refused_unless_unchanged(target: Target, data: st.DataObject) -> None:
    _, token = data.draw(mutated(target.valid))
    status, principal = target.decide(f"Bearer {token}")
    if status == 200:
        # Only a token a trusted key signed passes: the original, or another valid one that the
        # mutations rebuilt exactly, give or take the whitespace HTTP strips around a header value.
        assert token.strip(" \t") in target.valid
        assert principal is not None
        target.assert_policy(principal)
    else:
        assert status in (400, 401, 403)


CLAIM_NAMES = ["exp", "nbf", "iat", "iss", "aud", "sub", "scope", "scp", "jti", "x"]
DELETE = object()


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(CLAIM_NAMES), JSON | st.just(DELETE), max_size=4))
def test_signed_claims_are_accepted_only_within_policy(target: Target, changes: dict[str, Any]) -> None:
    # Trusted signatures over valid claims with random changes: only the claim checks stand between
    # them and the app, and an independent oracle says what an accepted token must satisfy.
    claims = target.issuer.claims(scopes=["a"])
    for name, value in changes.items():
        if value is DELETE:
            claims.pop(name, None)
        else:
            claims[name] = value
    key = target.keys[0]
    signing_input = f"{segment({'alg': key.alg, 'kid': key.kid})}.{segment(claims)}"
    token = f"{signing_input}.{b64(ALGORITHMS[key.alg].sign(signing_input.encode(), key.private_key))}"
    status, principal = target.decide(f"Bearer {token}")
    if status == 200:
        assert principal is not None
        target.assert_policy(principal)
    else:
        assert status in (400, 401, 403)


@FUZZ
@given(header=JSON, payload=JSON, signature=st.binary(max_size=80))
def test_random_json_segments(target: Target, header: Any, payload: Any, signature: bytes) -> None:
    token = f"{segment(header)}.{segment(payload)}.{b64(signature)}"
    status, principal = target.decide(f"Bearer {token}")
    assert status in (400, 401, 403)  # nothing here was signed by a trusted key
    assert principal is None


@FUZZ
@given(raw=st.binary(max_size=120))
def test_asgi_middleware_with_raw_header_bytes(target: Target, raw: bytes) -> None:
    assert target.asgi_status(raw) in (400, 401, 403)


@FUZZ
@given(data=st.data())
def test_asgi_and_wsgi_middleware_with_mutated_tokens(target: Target, data: st.DataObject) -> None:
    _, token = data.draw(mutated(target.valid))
    header = f"Bearer {token}"
    asgi = target.asgi_status(header.encode("utf-8"))
    wsgi = target.wsgi_status(header.encode("utf-8").decode("latin-1"))
    assert asgi == wsgi
    assert asgi in (400, 401, 403) or (asgi == 200 and token.strip(" \t") in target.valid)
