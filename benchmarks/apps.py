"""The apps the benchmark compares, served in-process or by uvicorn (`--factory benchmarks.apps:create`).

- bare: a Starlette app with one route and no authentication;
- peer: the same app behind Starlette's AuthenticationMiddleware with a PyJWT + PyJWKClient backend, the
  way applications validate tokens by hand today;
- jwtguard-cold: the same app behind JWTGuardMiddleware with the verified-token cache off;
- jwtguard: the same app behind JWTGuardMiddleware with its defaults (token cache on).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError, SimpleUser
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jwtguard import JWTGuardMiddleware, JWTGuardWSGIMiddleware, Settings

VARIANTS = ("bare", "peer", "jwtguard-cold", "jwtguard")


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


class PyJWTBackend(AuthenticationBackend):
    """The hand-rolled backend: PyJWKClient for the key, jwt.decode for the rest."""

    def __init__(self, jwks_uri: str, issuer: str, audience: str) -> None:
        self.client = jwt.PyJWKClient(jwks_uri)
        self.issuer = issuer
        self.audience = audience

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        header = conn.headers.get("authorization")
        if not header or not header.lower().startswith("bearer "):
            return None
        token = header[7:]
        try:
            key = self.client.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer)
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from None
        return AuthCredentials(str(claims.get("scope", "")).split()), SimpleUser(claims["sub"])


def http_scope(token: str) -> dict[str, Any]:
    """An ASGI `http` scope for `GET /` with `Authorization: Bearer <token>`, as a server would build it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def settings(jwks_uri: str, issuer: str, audience: str, **overrides: Any) -> Settings:
    return Settings(issuer=issuer, audience=audience, jwks_uri=jwks_uri, algorithms=["RS256"], **overrides)


def build(variant: str, jwks_uri: str, issuer: str, audience: str) -> Starlette:
    app = Starlette(routes=[Route("/", hello)])
    if variant == "peer":
        app.add_middleware(AuthenticationMiddleware, backend=PyJWTBackend(jwks_uri, issuer, audience))
    elif variant == "jwtguard-cold":
        app.add_middleware(JWTGuardMiddleware, settings=settings(jwks_uri, issuer, audience, token_cache_size=0))
    elif variant == "jwtguard":
        app.add_middleware(JWTGuardMiddleware, settings=settings(jwks_uri, issuer, audience))
    elif variant != "bare":
        raise ValueError(f"unknown variant {variant!r}")
    return app


def create() -> Starlette:
    """For uvicorn --factory: the variant and the issuer come from BENCH_* environment variables."""
    return build(
        os.environ["BENCH_VARIANT"],
        os.environ["BENCH_JWKS_URI"],
        os.environ["BENCH_ISSUER"],
        os.environ["BENCH_AUDIENCE"],
    )


def bare_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def build_wsgi(variant: str, jwks_uri: str, issuer: str, audience: str) -> Any:
    if variant == "bare":
        return bare_wsgi
    cache = 0 if variant == "jwtguard-cold" else 4096
    return JWTGuardWSGIMiddleware(bare_wsgi, settings=settings(jwks_uri, issuer, audience, token_cache_size=cache))
