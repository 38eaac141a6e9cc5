"""Every error code in the contract, reached through real HTTP to a Starlette app served by uvicorn."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import jwtguard
from jwtguard import JWTGuardMiddleware, Settings, require_scopes
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import ALGORITHMS, dead_url, events, live_server, records

AUDIENCE = "https://api.example.test"


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity, "scopes": sorted(request.auth.scopes)})


@require_scopes("orders:read")
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"orders": [], "sub": request.user.identity})


def make_app(settings: Settings) -> Starlette:
    app = Starlette(routes=[Route("/me", me), Route("/orders", orders)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app


@pytest.fixture
def base_url(issuer: DevIssuer) -> Iterator[str]:
    settings = issuer.settings(algorithms=list(ALGORITHMS))
    with live_server(make_app(settings)) as url:
        yield url


@dataclass(frozen=True)
class Case:
    code: str
    status: int
    challenge: str
    authorization: Callable[[DevIssuer, dict[str, SigningKey]], list[str]]
    path: str = "/me"


def bearer(token: str) -> list[str]:
    return [f"Bearer {token}"]


INVALID = 'Bearer realm="api", error="invalid_token", error_description="{}"'

CASES = [
    pytest.param(Case("token_missing", 401, 'Bearer realm="api"', lambda i, o: []), id="no-header"),
    pytest.param(
        Case("token_missing", 401, 'Bearer realm="api"', lambda i, o: ["Basic dXNlcjpwYXNz"]), id="basic-scheme"
    ),
    pytest.param(
        Case(
            "invalid_request",
            400,
            'Bearer realm="api", error="invalid_request", '
            "error_description=\"The Authorization header must be exactly 'Bearer <token>', sent once.\"",
            lambda i, o: ["Bearer abc def"],
        ),
        id="two-tokens",
    ),
    pytest.param(
        Case(
            "invalid_request",
            400,
            'Bearer realm="api", error="invalid_request", '
            "error_description=\"The Authorization header must be exactly 'Bearer <token>', sent once.\"",
            lambda i, o: [*bearer(i.token()), *bearer(i.token())],
        ),
        id="two-headers",
    ),
    pytest.param(
        Case("token_malformed", 401, INVALID.format(jwtguard.TokenMalformed.description), lambda i, o: bearer("abc")),
        id="malformed",
    ),
    pytest.param(
        Case(
            "algorithm_not_allowed",
            401,
            INVALID.format(jwtguard.AlgorithmNotAllowed.description),
            lambda i, o: bearer(jwt.encode(i.claims(), "a-shared-secret-of-32-bytes-long!", algorithm="HS256")),
        ),
        id="hs256",
    ),
    pytest.param(
        Case(
            "key_not_found",
            401,
            INVALID.format(jwtguard.KeyNotFound.description),
            lambda i, o: bearer(i.token(key=o["RS256"])),
        ),
        id="unknown-kid",
    ),
    pytest.param(
        Case(
            "signature_invalid",
            401,
            INVALID.format(jwtguard.SignatureInvalid.description),
            lambda i, o: bearer(i.token(key=o["RS256"], headers={"kid": i.key.kid})),
        ),
        id="wrong-key",
    ),
    pytest.param(
        Case(
            "token_expired",
            401,
            INVALID.format(jwtguard.TokenExpired.description),
            lambda i, o: bearer(i.token(expires_in=-3600)),
        ),
        id="expired",
    ),
    pytest.param(
        Case(
            "token_not_yet_valid",
            401,
            INVALID.format(jwtguard.TokenNotYetValid.description),
            lambda i, o: bearer(i.token(nbf=int(time.time()) + 3600, expires_in=7200)),
        ),
        id="nbf-future",
    ),
    pytest.param(
        Case(
            "issuer_invalid",
            401,
            INVALID.format(jwtguard.IssuerInvalid.description),
            lambda i, o: bearer(i.token(issuer="https://evil.example.test")),
        ),
        id="wrong-issuer",
    ),
    pytest.param(
        Case(
            "audience_invalid",
            401,
            INVALID.format(jwtguard.AudienceInvalid.description),
            lambda i, o: bearer(i.token(audience="https://other-api.example.test")),
        ),
        id="wrong-audience",
    ),
    pytest.param(
        Case(
            "claim_missing",
            401,
            INVALID.format(jwtguard.ClaimMissing.description),
            lambda i, o: bearer(i.token(exp=None)),
        ),
        id="no-exp",
    ),
    pytest.param(
        Case(
            "claim_invalid",
            401,
            INVALID.format(jwtguard.ClaimInvalid.description),
            lambda i, o: bearer(i.token(exp="tomorrow")),
        ),
        id="exp-string",
    ),
    pytest.param(
        Case(
            "insufficient_scope",
            403,
            'Bearer realm="api", error="insufficient_scope", '
            f'error_description="{jwtguard.InsufficientScope.description}", scope="orders:read"',
            lambda i, o: bearer(i.token(scopes=["orders:write"])),
            path="/orders",
        ),
        id="scope-lacking",
    ),
]


def fingerprint(header: str) -> str:
    return hashlib.sha256(header.split(" ", 1)[1].encode()).hexdigest()[:12]


@pytest.mark.parametrize("case", CASES)
def test_each_error_code_over_http(
    case: Case,
    base_url: str,
    issuer: DevIssuer,
    other_keys: dict[str, SigningKey],
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    authorization = case.authorization(issuer, other_keys)
    headers = [("Authorization", value) for value in authorization]
    response = httpx.get(base_url + case.path, headers=headers)

    assert response.status_code == case.status
    assert response.headers["www-authenticate"] == case.challenge
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == case.code
    assert body["status"] == case.status
    assert body["type"] == f"urn:jwtguard:error:{case.code}"
    error_class = next(cls for cls in vars(jwtguard.errors).values() if getattr(cls, "code", None) == case.code)
    assert body["detail"] == error_class.description
    assert body.get("error") == error_class.error

    [record] = records(jwtguard_logs, case.code)
    assert record["level"] == "INFO"
    assert record["status"] == case.status
    assert record["method"] == "GET"
    assert record["path"] == case.path
    assert record["client"] == "127.0.0.1"
    if len(authorization) == 1 and authorization[0].startswith("Bearer ") and case.code != "invalid_request":
        assert record["token_fingerprint"] == fingerprint(authorization[0])
    for value in authorization:
        secret = value.split(" ", 1)[-1]
        assert secret not in jwtguard_logs.text
        assert all(secret not in str(field) for field in record.values())
        assert secret not in response.text


def test_jwks_unavailable_when_key_server_is_down_on_a_cold_cache(
    issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    settings = issuer.settings(jwks_uri=dead_url(), jwks_timeout=2.0)
    with live_server(make_app(settings)) as url:
        started = time.monotonic()
        response = httpx.get(url + "/me", headers={"Authorization": f"Bearer {issuer.token()}"})
        elapsed = time.monotonic() - started
        again = httpx.get(url + "/me", headers={"Authorization": f"Bearer {issuer.token()}"})

    assert response.status_code == 503
    assert elapsed < 2.0 + 1.0  # within the fetch timeout, never a hang
    assert response.json()["code"] == "jwks_unavailable"
    assert "error" not in response.json()
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers
    # The failure is remembered: the next request is refused at once, without another attempt.
    assert again.status_code == 503
    assert int(again.headers["retry-after"]) >= 1
    rejections = records(jwtguard_logs, "jwks_unavailable")
    assert [record["level"] for record in rejections] == ["ERROR", "ERROR"]
    fetch_failures = events(jwtguard_logs, "jwks_fetch_failed")
    assert len(fetch_failures) == 1
    assert fetch_failures[0].levelname == "ERROR"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_each_algorithm_is_accepted_over_http(
    alg: str,
    base_url: str,
    issuer: DevIssuer,
    signing_keys: dict[str, SigningKey],
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    token = issuer.token(key=signing_keys[alg], subject=f"user-{alg}", scopes=["orders:read", "profile"])
    response = httpx.get(base_url + "/orders", headers={"Authorization": f"bearer {token}"})

    assert response.status_code == 200, response.text
    assert response.json() == {"orders": [], "sub": f"user-{alg}"}
    [record] = records(jwtguard_logs, "ok")
    assert record["level"] == "DEBUG"
    assert record["sub"] == f"user-{alg}"
    assert record["alg"] == alg
    assert record["kid"] == signing_keys[alg].kid
    assert token not in jwtguard_logs.text


def test_principal_reaches_the_endpoint(base_url: str, issuer: DevIssuer) -> None:
    token = issuer.token(subject="alice", scopes=["b", "a"])
    response = httpx.get(base_url + "/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"sub": "alice", "scopes": ["a", "b"]}
