"""The same small API on seven stacks (Starlette, FastAPI, plain WSGI, Flask, Django, and Django REST framework
with and without jwtguard's Django middleware), each behind jwtguard.

Every stack serves `/me` (the subject, or null when anonymous), `/orders` (needs scope `orders:read`,
checked by that stack's own route-level helper) and `/health`; and, for per-route rules, `/public/...`,
`/orders/...` and `/admin/...`, which answer like `/me` and leave every check to the settings (these and
`/health` take GET and POST).
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import django
import flask
import flask.testing
import werkzeug.test
from django.conf import settings as django_settings
from django.test import Client as DjangoClient
from django.test.utils import override_settings
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import jwtguard.flask
from jwtguard import (
    Guard,
    JWTGuardMiddleware,
    JWTGuardWSGIMiddleware,
    Principal,
    RequireScopes,
    Settings,
    require_scopes,
)
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
    body: Any  # parsed JSON (the text of a framework's own HTML page)


Headers = Sequence[tuple[str, str]]


class Get(Protocol):
    """Send `method` to `path` (the query, if any, after '?'; percent-encoding as sent) with these
    `Authorization` header values and further `headers` (`Cookie`, `Origin`, ...; a name given twice is sent
    twice where the protocol keeps them apart, folded where WSGI folds them), from client address `peer`
    (`PEER` by default); the answer as the client sees it."""

    def __call__(
        self, path: str, authorization: Sequence[str], method: str = "GET", headers: Headers = (), peer: str = ...
    ) -> Answer: ...


#: The route prefixes that per-route rules decide alone: every stack answers them like `/me`.
RULED = ("/public/", "/orders/", "/admin/")
#: A client sends the path as given: relative to this base, a path starting '//' would be read as a host.
BASE_URL = "http://testserver"
#: The origin a browser on the stacks' own site sends (every client sends `Host: testserver` over http).
OWN_ORIGIN = BASE_URL
#: The client address every stack's test client sends from unless a case names another.
PEER = "127.0.0.1"


def _answer(method: str, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> Answer:
    kept = {name.lower(): value for name, value in headers if name.lower() in JWTGUARD_HEADERS}
    if status == 200:
        kept = {}  # success bodies are each framework's own JSON rendering
    # A response to HEAD has no body (RFC 9110 §9.3.2), whatever a test client makes of what was sent.
    return Answer(status, kept, None if method == "HEAD" else _parsed(body))


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # Django's 404 page, say
        return body.decode("utf-8", "replace")


def _joined(authorization: Sequence[str], headers: Headers = ()) -> dict[str, str]:
    # A WSGI server folds repeated headers into one comma-separated value (PEP 3333, RFC 9110 §5.3), `Cookie`
    # included: werkzeug, gunicorn and wsgiref join with ",", not the "; " of RFC 6265 §5.4.
    folded: dict[str, list[str]] = {}
    for name, value in [*(("Authorization", value) for value in authorization), *headers]:
        folded.setdefault(name.title(), []).append(value)
    return {name: ("," if name == "Cookie" else ", ").join(values) for name, values in folded.items()}


# -- Starlette -------------------------------------------------------------------------------------


async def _asgi_me(request: Request) -> JSONResponse:
    principal = request.scope["auth"]
    return JSONResponse({"sub": principal.subject if isinstance(principal, Principal) else None})


@require_scopes("orders:read")
async def _asgi_orders(request: Request) -> JSONResponse:
    return JSONResponse({"orders": [], "sub": request.user.identity})


def starlette_stack(settings: Settings) -> Get:
    app = Starlette(
        routes=[
            Route("/me", _asgi_me),
            Route("/orders", _asgi_orders),
            Route("/health", _asgi_me, methods=["GET", "POST"]),
            *(Route(prefix + "{rest:path}", _asgi_me, methods=["GET", "POST"]) for prefix in RULED),
        ]
    )
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return _asgi_client(app)


def _asgi_client(app: Starlette) -> Get:
    clients: dict[str, TestClient] = {}  # the client address is the test client's: one client per address

    def get(
        path: str, authorization: Sequence[str], method: str = "GET", headers: Headers = (), peer: str = PEER
    ) -> Answer:
        client = clients.get(peer) or clients.setdefault(peer, TestClient(app, client=(peer, 50000)))
        sent = [("Authorization", value) for value in authorization] + list(headers)  # repeated headers kept apart
        response = client.request(method, BASE_URL + path, headers=sent)
        return _answer(method, response.status_code, response.headers.items(), response.content)

    return get


# -- FastAPI ---------------------------------------------------------------------------------------


def fastapi_stack(settings: Settings) -> Get:
    app = FastAPI()

    @app.get("/me")
    @app.api_route("/health", methods=["GET", "POST"])
    def me(request: Request) -> dict[str, Any]:
        principal = request.scope["auth"]
        return {"sub": principal.subject if isinstance(principal, Principal) else None}

    @app.get("/orders")
    def orders(principal: Annotated[Principal, Depends(RequireScopes("orders:read"))]) -> dict[str, Any]:
        return {"orders": [], "sub": principal.subject}

    for prefix in RULED:
        app.api_route(prefix + "{rest:path}", methods=["GET", "POST"])(me)
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return _asgi_client(app)


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
    elif path in ("/me", "/health") or path.startswith(RULED):
        body = {"sub": principal.subject if principal else None}
    else:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b"{}"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def wsgi_stack(settings: Settings) -> Get:
    # werkzeug's client, not httpx's WSGI transport: it carries PATH_INFO as PEP 3333 says (the raw bytes as
    # latin-1 code points), as WSGI servers do; httpx's gives the decoded text.
    # No cookie jar: it would replace the request's own `Cookie` header.
    client = werkzeug.test.Client(JWTGuardWSGIMiddleware(_bare_wsgi, settings=settings), use_cookies=False)

    def get(
        path: str, authorization: Sequence[str], method: str = "GET", headers: Headers = (), peer: str = PEER
    ) -> Answer:
        response = client.open(_environ(path, authorization, method, headers, peer))
        return _answer(method, response.status_code, response.headers.items(), response.data)

    return get


def _environ(
    path: str, authorization: Sequence[str], method: str, headers: Headers, peer: str
) -> werkzeug.test.EnvironBuilder:
    route, _, query = path.partition("?")
    builder = werkzeug.test.EnvironBuilder(
        base_url=BASE_URL,  # Host: testserver, as the other clients send
        method=method,
        query_string=query,
        headers=list(_joined(authorization, headers).items()),
        environ_base={"REMOTE_ADDR": peer},  # as a server sets it
    )
    builder.path = urllib.parse.unquote(route)  # set as sent: the builder would read a path starting '//' as a host
    return builder


# -- Flask -----------------------------------------------------------------------------------------


def flask_stack(settings: Settings) -> Get:
    app = flask.Flask("jwtguard-tests")
    app.config.update({f"JWTGUARD_{name.upper()}": value for name, value in _configured(settings).items()})
    jwtguard.flask.JWTGuard(app)

    @app.get("/me")
    @app.route("/health", endpoint="health", methods=["GET", "POST"])
    def me(rest: str = "") -> dict[str, Any]:
        principal = jwtguard.flask.current_principal()
        return {"sub": principal.subject if principal else None}

    for prefix in RULED:
        app.add_url_rule(prefix + "<path:rest>", endpoint=prefix, view_func=me, methods=["GET", "POST"])

    @app.get("/orders")
    @jwtguard.flask.require_scopes("orders:read")
    def orders() -> dict[str, Any]:
        return {"orders": [], "sub": jwtguard.flask.require_principal().subject}

    client = app.test_client(use_cookies=False)  # no cookie jar: it would replace the request's `Cookie`

    def get(
        path: str, authorization: Sequence[str], method: str = "GET", headers: Headers = (), peer: str = PEER
    ) -> Answer:
        response = client.open(_environ(path, authorization, method, headers, peer))
        return _answer(method, response.status_code, response.headers.items(), response.data)

    return get


# -- Django ----------------------------------------------------------------------------------------


def configure_django() -> None:
    if not django_settings.configured:
        django_settings.configure(
            SECRET_KEY="jwtguard-tests-only",
            ROOT_URLCONF="tests.django_urls",
            MIDDLEWARE=["jwtguard.django.JWTGuardMiddleware"],
            ALLOWED_HOSTS=["testserver"],
            # django.contrib.auth: for AuthenticationMiddleware, and DRF's anonymous user.
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
            USE_TZ=True,
            JWTGUARD={},
            REST_FRAMEWORK={
                "DEFAULT_AUTHENTICATION_CLASSES": ["jwtguard.drf.JWTAuthentication"],
                "EXCEPTION_HANDLER": "jwtguard.drf.exception_handler",
            },
        )
        django.setup()


def django_stack(settings: Settings) -> Get:
    return _django_client(settings)


def _django_client(settings: Settings, **more: Any) -> Get:
    configure_django()
    values = {name.upper(): value for name, value in _configured(settings).items()}
    client = DjangoClient()

    def get(
        path: str, authorization: Sequence[str], method: str = "GET", headers: Headers = (), peer: str = PEER
    ) -> Answer:
        # The middleware is built on the first request, under these settings, and kept by the client.
        with override_settings(JWTGUARD=values, **more):
            response = client.generic(
                method, BASE_URL + path, headers=_joined(authorization, headers), REMOTE_ADDR=peer
            )
        return _answer(method, response.status_code, response.items(), response.content)

    return get


# -- Django REST framework -------------------------------------------------------------------------


def drf_stack(settings: Settings) -> Get:
    """DRF views, authenticated by `jwtguard.drf.JWTAuthentication` alone: it applies the settings itself."""
    return _django_client(settings, MIDDLEWARE=[], ROOT_URLCONF="tests.drf_urls")


def drf_middleware_stack(settings: Settings) -> Get:
    """The same DRF views behind jwtguard's Django middleware, whose verdict the authentication class takes."""
    return _django_client(settings, ROOT_URLCONF="tests.drf_urls")


def _configured(settings: Settings) -> dict[str, Any]:
    """`settings` as a framework's configuration spells them: by field name, rules in their text form."""
    values = {field.name: getattr(settings, field.name) for field in dataclasses.fields(Settings)}
    del values["error_body_hook"]
    values["rules"] = [str(rule) for rule in settings.route_rules]
    return values


#: Stacks that route before jwtguard sees a request: a path no view serves is their framework's 404.
ROUTES_FIRST = frozenset({"drf"})

STACKS: dict[str, Callable[[Settings], Get]] = {
    "starlette": starlette_stack,
    "fastapi": fastapi_stack,
    "wsgi": wsgi_stack,
    "flask": flask_stack,
    "django": django_stack,
    "drf": drf_stack,
    "drf-middleware": drf_middleware_stack,
}
