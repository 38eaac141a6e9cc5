"""Route-level refusals (`require_scopes`, `RequireScopes`) answer jwtguard's 401/403 however the middleware is
installed: never the app's own 500.

Wrapped around a Starlette or FastAPI app, the middleware sits outside the app's `ServerErrorMiddleware`, which
answers 500 to the refusal before jwtguard sees it. Each installation form runs on uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from jwtguard import AuthError, JWTGuardMiddleware, Principal, RequireScopes, Settings, require_scopes
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import live_server, records

ORDERS = "orders:read"


class Stamp(BaseHTTPMiddleware):
    """Another middleware, around or inside jwtguard's: it stamps every response it passes on."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.append("x-stamp", "1")
        return response


@require_scopes(ORDERS)
async def async_orders(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"async {request.user.identity}")


@require_scopes(ORDERS)
def sync_orders(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"sync {request.user.identity}")


def role(request: Request) -> str:
    # A refusal the app catches is not a refusal: the app answers.
    try:
        RequireScopes("admin")(request)
    except AuthError:
        return "guest"
    return "admin"  # pragma: no cover  # no test token has the scope


async def optional(request: Request) -> PlainTextResponse:
    return PlainTextResponse(role(request))


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/async", async_orders), Route("/sync", sync_orders), Route("/optional", optional)])


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/async", response_class=PlainTextResponse)
    async def orders(principal: Principal = Depends(RequireScopes(ORDERS))) -> str:  # noqa: B008
        return f"async {principal.subject}"

    @app.get("/sync", response_class=PlainTextResponse)
    def orders_sync(principal: Principal = Depends(RequireScopes(ORDERS))) -> str:  # noqa: B008
        return f"sync {principal.subject}"

    @app.get("/optional", response_class=PlainTextResponse)
    def optional(request: Request) -> str:
        return role(request)

    return app


Install = Callable[[Starlette, Settings], tuple[ASGIApp, str]]  # the served app, and the prefix of the routes


def add_middleware(app: Starlette, settings: Settings) -> tuple[ASGIApp, str]:
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app, ""


def wrapped(app: Starlette, settings: Settings) -> tuple[ASGIApp, str]:
    return JWTGuardMiddleware(app, settings=settings), ""


def wrapped_and_mounted(app: Starlette, settings: Settings) -> tuple[ASGIApp, str]:
    return Starlette(routes=[Mount("/api", app=JWTGuardMiddleware(app, settings=settings))]), "/api"


def add_middleware_around_a_mount(app: Starlette, settings: Settings) -> tuple[ASGIApp, str]:
    outer = Starlette(routes=[Mount("/api", app=app)])  # the mounted app answers errors with its own 500
    outer.add_middleware(JWTGuardMiddleware, settings=settings)
    return outer, "/api"


def nested_add_middleware(app: Starlette, settings: Settings) -> tuple[ASGIApp, str]:
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    app.add_middleware(Stamp)  # added last: outside jwtguard's
    return app, ""


def nested_wrapped(app: Starlette, settings: Settings) -> tuple[ASGIApp, str]:
    app.add_middleware(Stamp)  # between the app's error handling and its routes
    return Stamp(JWTGuardMiddleware(app, settings=settings)), ""


INSTALLS: dict[str, Install] = {
    "add_middleware": add_middleware,
    "wrapped": wrapped,
    "wrapped-and-mounted": wrapped_and_mounted,
    "add_middleware-around-a-mount": add_middleware_around_a_mount,
    "nested-add_middleware": nested_add_middleware,
    "nested-wrapped": nested_wrapped,
}
APPS: dict[str, Callable[[], Starlette]] = {"starlette": starlette_app, "fastapi": fastapi_app}


@pytest.fixture(scope="module")
def module_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", keys=[signing_keys["RS256"]]) as dev:
        yield dev


@pytest.fixture(scope="module")
def servers(module_issuer: DevIssuer) -> Iterator[dict[str, dict[str, str]]]:
    """For each app, the base URL of its routes under each installation form, each on its own uvicorn."""
    # With allow_anonymous the middleware lets a request without a token through: only the route refuses it.
    settings = module_issuer.settings(allow_anonymous=True)
    with ExitStack() as stack:
        urls: dict[str, dict[str, str]] = {name: {} for name in APPS}
        for app_name, build in APPS.items():
            for install_name, install in INSTALLS.items():
                app, prefix = install(build(), settings)
                urls[app_name][install_name] = stack.enter_context(live_server(app)) + prefix
        yield urls


def get(url: str, token: str | None = None) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=10)


REFUSALS = [
    pytest.param(["profile"], 403, "insufficient_scope", id="insufficient_scope"),
    pytest.param(None, 401, "token_missing", id="token_missing"),
]


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("endpoint", ["/async", "/sync"])
@pytest.mark.parametrize(("scopes", "status", "code"), REFUSALS)
def test_a_route_refusal_is_jwtguards_answer_however_installed(
    app: str,
    endpoint: str,
    scopes: list[str] | None,
    status: int,
    code: str,
    servers: dict[str, dict[str, str]],
    module_issuer: DevIssuer,
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    token = None if scopes is None else module_issuer.token(scopes=scopes)
    granted = module_issuer.token(subject="ann", scopes=[ORDERS])
    for install, url in servers[app].items():
        jwtguard_logs.clear()
        response = get(url + endpoint, token)
        assert response.status_code == status, (install, response.text)
        assert response.headers["content-type"] == "application/problem+json", install
        assert response.json()["code"] == code, install
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="api"'), install
        assert (f'scope="{ORDERS}"' in challenge) is (status == 403), install
        [record] = [record for record in records(jwtguard_logs) if record["code"] != "ok"]
        assert (record["code"], record["status"], record["path"]) == (code, status, httpx.URL(url + endpoint).path)
        assert not [record for record in jwtguard_logs.records if record.levelno >= logging.ERROR], install

        accepted = get(url + endpoint, granted)
        assert (accepted.status_code, accepted.text) == (200, f"{endpoint[1:]} ann"), install


@pytest.mark.parametrize("app", APPS)
def test_a_refusal_the_app_catches_is_not_answered_or_logged(
    app: str, servers: dict[str, dict[str, str]], module_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    for install, url in servers[app].items():
        # After a refusal on the same server, so that this also fails where route refusals answer 500.
        assert get(url + "/async", module_issuer.token(scopes=["profile"])).status_code == 403, install
        jwtguard_logs.clear()
        response = get(url + "/optional", module_issuer.token(scopes=[ORDERS]))
        assert (response.status_code, response.text) == (200, "guest"), install
        assert [record for record in records(jwtguard_logs) if record["code"] != "ok"] == [], install


# -- the bookkeeping's cost is paid only where it is needed ------------------------------------------------

_WITHOUT_HELPERS = r"""
import asyncio, json, sys
from jwtguard import JWTGuardMiddleware, Settings
from jwtguard.principal import Scopes, require
from jwtguard.testing import DevIssuer

seen = []

async def app(scope, receive, send):
    seen.append("jwtguard.refusals" in scope)
    if scope["path"] == "/admin":
        require(scope["auth"], Scopes("admin"))  # an application's own refusal, raised before it answers
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

async def call(asgi, path, token):
    sent = []
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"",
             "headers": [(b"authorization", b"Bearer " + token.encode())], "client": ("127.0.0.1", 1)}
    async def receive():
        return {"type": "http.request", "body": b""}
    async def send(message):
        sent.append(message)
    await asgi(scope, receive, send)
    return sent[0]["status"]

with DevIssuer(audience="api") as issuer:
    asgi = JWTGuardMiddleware(app, settings=issuer.settings())
    token = issuer.token()
    statuses = [asyncio.run(call(asgi, "/", token)) for _ in range(2)] + [asyncio.run(call(asgi, "/admin", token))]
    before = list(seen)
    import jwtguard.starlette  # a module whose helpers record their refusals
    asyncio.run(call(asgi, "/", token))
    print(json.dumps({"statuses": statuses, "before": before, "after": seen[-1]}))
"""


def test_route_refusal_bookkeeping_starts_with_the_first_module_that_records_refusals() -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_HELPERS], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(result.stdout)
    # A fresh token, then a cache hit, then an app's own refusal, answered by jwtguard (no 500 from the app here).
    assert report["statuses"] == [200, 200, 403]
    assert report["before"] == [False, False, False]  # nothing recorded refusals yet: no list in the scope
    assert report["after"] is True
