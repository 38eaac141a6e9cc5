"""The same small API on four stacks (ASGI, plain WSGI, Flask, Django), each behind jwtguard.

Every stack serves `/me` (the subject, or null when anonymous), `/orders` (needs scope `orders:read`,
checked by that stack's own route-level helper) and `/health`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import django
import flask
import httpx
from django.conf import settings as django_settings
from django.test import Client as DjangoClient
from django.test.utils import override_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import jwtguard.flask
from jwtguard import Guard, JWTGuardMiddleware, JWTGuardWSGIMiddleware, Principal, Settings, require_scopes
from jwtguard.errors import AuthError
from jwtguard.principal import ScopeRequirement, require
from jwtguard.wsgi import GUARD_KEY, PRINCIPAL_KEY, request_info, respond

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

JWTGUARD_HEADERS = ("content-type", "content-length", "cache-control", "www-authenticate", "retry-after")


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON


Get = Callable[[str, Sequence[str]], Answer]


def _answer(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> Answer:
    kept = {name.lower(): value for name, value in headers if name.lower() in JWTGUARD_HEADERS}
    if status == 200:
        kept = {}  # success bodies are each framework's own JSON rendering
    return Answer(status, kept, json.loads(body))


def _joined(authorization: Sequence[str]) -> dict[str, str]:
    # A WSGI server folds repeated headers into one comma-separated value (PEP 3333, RFC 9110 §5.3).
    return {"Authorization": ", ".join(authorization)} if authorization else {}


# -- ASGI (Starlette) ------------------------------------------------------------------------------


async def _asgi_me(request: Request) -> JSONResponse:
    principal = request.scope["auth"]
    return JSONResponse({"sub": principal.subject if isinstance(principal, Principal) else None})


@require_scopes("orders:read")
async def _asgi_orders(request: Request) -> JSONResponse:
    return JSONResponse({"orders": [], "sub": request.user.identity})


def asgi_stack(settings: Settings) -> Get:
    app = Starlette(routes=[Route("/me", _asgi_me), Route("/orders", _asgi_orders), Route("/health", _asgi_me)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    client = TestClient(app, client=("127.0.0.1", 50000))

    def get(path: str, authorization: Sequence[str]) -> Answer:
        response = client.get(path, headers=[("Authorization", value) for value in authorization])
        return _answer(response.status_code, response.headers.items(), response.content)

    return get


# -- plain WSGI ------------------------------------------------------------------------------------


def _bare_wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    principal = environ[PRINCIPAL_KEY]
    path = environ["PATH_INFO"]
    if path == "/orders":
        guard: Guard = environ[GUARD_KEY]
        try:
            principal = require(principal, ScopeRequirement.for_route(["orders:read"], "orders"))
        except AuthError as exc:
            return respond(guard.reject(exc, request_info(environ)), start_response)
        body: dict[str, Any] = {"orders": [], "sub": principal.subject}
    elif path in ("/me", "/health"):
        body = {"sub": principal.subject if principal else None}
    else:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b"{}"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def wsgi_stack(settings: Settings) -> Get:
    client = httpx.Client(transport=httpx.WSGITransport(JWTGuardWSGIMiddleware(_bare_wsgi, settings=settings)))

    def get(path: str, authorization: Sequence[str]) -> Answer:
        response = client.get("http://testserver" + path, headers=_joined(authorization))
        return _answer(response.status_code, response.headers.items(), response.content)

    return get


# -- Flask -----------------------------------------------------------------------------------------


def flask_stack(settings: Settings) -> Get:
    app = flask.Flask("jwtguard-tests")
    app.config.update({f"JWTGUARD_{field.name.upper()}": getattr(settings, field.name) for field in _fields()})
    jwtguard.flask.JWTGuard(app)

    @app.get("/me")
    @app.get("/health", endpoint="health")
    def me() -> dict[str, Any]:
        principal = jwtguard.flask.current_principal()
        return {"sub": principal.subject if principal else None}

    @app.get("/orders")
    @jwtguard.flask.require_scopes("orders:read")
    def orders() -> dict[str, Any]:
        principal = jwtguard.flask.current_principal()
        return {"orders": [], "sub": principal.subject if principal else None}

    client = app.test_client()

    def get(path: str, authorization: Sequence[str]) -> Answer:
        response = client.get(path, headers=_joined(authorization))
        return _answer(response.status_code, response.headers.items(), response.data)

    return get


# -- Django ----------------------------------------------------------------------------------------


def configure_django() -> None:
    if not django_settings.configured:
        django_settings.configure(
            SECRET_KEY="jwtguard-tests-only",
            ROOT_URLCONF="tests.django_urls",
            MIDDLEWARE=["jwtguard.django.JWTGuardMiddleware"],
            ALLOWED_HOSTS=["testserver"],
            INSTALLED_APPS=[],
            USE_TZ=True,
            JWTGUARD={},
        )
        django.setup()


def django_stack(settings: Settings) -> Get:
    configure_django()
    values = {field.name.upper(): getattr(settings, field.name) for field in _fields()}
    client = DjangoClient()

    def get(path: str, authorization: Sequence[str]) -> Answer:
        # The middleware is built on the first request, under these settings, and kept by the client.
        with override_settings(JWTGUARD=values):
            response = client.get(path, headers=_joined(authorization))
        return _answer(response.status_code, response.items(), response.content)

    return get


def _fields() -> list[dataclasses.Field[Any]]:
    return [field for field in dataclasses.fields(Settings) if field.name != "error_body_hook"]


STACKS: dict[str, Callable[[Settings], Get]] = {
    "asgi": asgi_stack,
    "wsgi": wsgi_stack,
    "flask": flask_stack,
    "django": django_stack,
}
