"""Apps mounted below a prefix: `exclude_paths` are relative to the mount point, the log keeps the full path.

The prefix is genuine here: uvicorn's `root_path`, a Starlette `Mount`, and WSGI's `SCRIPT_NAME` set by werkzeug's
`DispatcherMiddleware`, each on a real server on 127.0.0.1. (Forged prefixes are in tests/security/test_prefix.py.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import flask
import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import jwtguard.flask
from jwtguard import JWTGuardMiddleware, JWTGuardWSGIMiddleware, Principal, Settings
from jwtguard.testing import DevIssuer

from .conftest import live_server, live_wsgi_server, records
from .stacks import configure_django

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Listed with the mount prefix, "/api/me" is no exclusion: the app below /api routes "/me".
EXCLUDE_PATHS = ["/health", "/api/me"]


def subject(principal: object) -> dict[str, Any]:
    return {"sub": principal.subject if isinstance(principal, Principal) else None}


async def asgi_me(request: Request) -> JSONResponse:
    return JSONResponse(subject(request.scope.get("auth")))


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/me", asgi_me), Route("/health", asgi_me)])


@contextmanager
def uvicorn_root_path(settings: Settings) -> Iterator[str]:
    # Behind a proxy that strips /api: the client's /api/me arrives as /me, and uvicorn puts root_path back.
    app = starlette_app()
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    with live_server(app, root_path="/api") as url:
        yield url


@contextmanager
def starlette_mount(settings: Settings) -> Iterator[str]:
    outer = Starlette(routes=[Mount("/api", app=JWTGuardMiddleware(starlette_app(), settings=settings))])
    with live_server(outer) as url:
        yield url + "/api"


@contextmanager
def starlette_mount_add_middleware(settings: Settings) -> Iterator[str]:
    inner = starlette_app()
    inner.add_middleware(JWTGuardMiddleware, settings=settings)
    with live_server(Starlette(routes=[Mount("/api", app=inner)])) as url:
        yield url + "/api"


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


@contextmanager
def wsgi_mount(app: WSGIApplication) -> Iterator[str]:
    with live_wsgi_server(DispatcherMiddleware(not_found, {"/api": app})) as url:
        yield url + "/api"


def bare_wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    if environ["PATH_INFO"] not in ("/me", "/health"):
        return not_found(environ, start_response)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(subject(environ["jwtguard.principal"])).encode()]


@contextmanager
def wsgi_script_name(settings: Settings) -> Iterator[str]:
    with wsgi_mount(JWTGuardWSGIMiddleware(bare_wsgi, settings=settings)) as url:
        yield url


@contextmanager
def flask_script_name(settings: Settings) -> Iterator[str]:
    app = flask.Flask(__name__)
    jwtguard.flask.JWTGuard(app, settings=settings)

    @app.get("/me")
    @app.get("/health", endpoint="health")
    def me() -> dict[str, Any]:
        return subject(jwtguard.flask.current_principal())

    with wsgi_mount(app) as url:
        yield url


@contextmanager
def django_script_name(settings: Settings) -> Iterator[str]:
    configure_django()
    values = {name.upper(): getattr(settings, name) for name in ("issuer", "audience", "jwks_uri", "exclude_paths")}
    # The middleware reads JWTGUARD when the handler is built.
    with override_settings(JWTGUARD=values, ALLOWED_HOSTS=["127.0.0.1"]), wsgi_mount(WSGIHandler()) as url:
        yield url


MOUNTS: dict[str, Callable[[Settings], AbstractContextManager[str]]] = {
    "uvicorn-root_path": uvicorn_root_path,
    "starlette-mount": starlette_mount,
    "starlette-mount-add_middleware": starlette_mount_add_middleware,
    "wsgi-script_name": wsgi_script_name,
    "flask-script_name": flask_script_name,
    "django-script_name": django_script_name,
}


@pytest.mark.parametrize("mount", MOUNTS)
def test_exclusions_are_relative_to_the_mount_point(
    mount: str, issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    with MOUNTS[mount](issuer.settings(exclude_paths=EXCLUDE_PATHS)) as url, httpx.Client(timeout=10) as http:
        public = http.get(url + "/health")
        refused = http.get(url + "/me")
        accepted = http.get(url + "/me", headers={"Authorization": f"Bearer {issuer.token(subject='ann')}"})
    assert (public.status_code, public.json()) == (200, {"sub": None})
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_missing"
    assert (accepted.status_code, accepted.json()) == (200, {"sub": "ann"})
    [record] = records(jwtguard_logs, "token_missing")
    assert record["path"] == "/api/me"  # the log keeps the full path
