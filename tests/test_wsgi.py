"""The WSGI adapter under a real threaded WSGI server, and the Flask and Django integrations' own behaviour."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import flask
import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import override_settings

import jwtguard.flask
from jwtguard import ConfigurationError, Guard, JWTGuardWSGIMiddleware, Principal
from jwtguard.testing import DevIssuer

from .conftest import FakeClock
from .stacks import configure_django

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def whoami(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    principal = environ["jwtguard.principal"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"sub": principal.subject if principal else None}).encode()]


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 512  # hundreds of clients connect at once


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def threaded_wsgi_server(app: WSGIApplication) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_hundreds_of_threads_on_a_cold_cache_cause_one_fetch(issuer: DevIssuer) -> None:
    # 200 clients each building an httpx client (and its TLS context) can starve the one fetch thread of
    # the GIL for seconds: the deadline is not what this test is about.
    app = JWTGuardWSGIMiddleware(whoami, settings=issuer.settings(jwks_timeout=30))
    statuses: list[int] = []
    barrier = threading.Barrier(200)
    with threaded_wsgi_server(app) as url:

        def worker(n: int) -> None:
            token = issuer.token(subject=f"t{n}")
            barrier.wait()
            # A generous timeout: on a loaded machine 200 requests queue behind one another, and speed is not
            # what this test is about.
            response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
            statuses.append(response.status_code)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert statuses == [200] * 200
    assert issuer.server.jwks_hits == 1


def test_a_hanging_key_server_does_not_stall_threads_whose_key_is_cached(issuer: DevIssuer, clock: FakeClock) -> None:
    settings = issuer.settings()
    guard = Guard(settings, key_clock=clock)
    app = JWTGuardWSGIMiddleware(whoami, guard=guard)
    with threaded_wsgi_server(app) as url:
        cached_key = issuer.key
        assert httpx.get(url, headers={"Authorization": f"Bearer {issuer.token()}"}).status_code == 200
        new_key = issuer.rotate()
        clock.advance(31)
        issuer.server.hang = True
        slow: list[httpx.Response] = []

        def slow_request() -> None:
            token = issuer.token(key=new_key, subject="slow")
            slow.append(httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30))

        thread = threading.Thread(target=slow_request)
        thread.start()
        assert issuer.server.wait_for_jwks_hits(2)
        fast = httpx.get(url, headers={"Authorization": f"Bearer {issuer.token(key=cached_key, subject='fast')}"})
        assert fast.json() == {"sub": "fast"}
        assert slow == []  # still waiting on the key server
        issuer.server.hang = False
        thread.join()

    assert slow[0].json() == {"sub": "slow"}


def test_the_wsgi_middleware_refuses_without_calling_the_app(issuer: DevIssuer) -> None:
    calls: list[str] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])  # pragma: no cover  # must not be reached
        return []  # pragma: no cover

    client = httpx.Client(transport=httpx.WSGITransport(JWTGuardWSGIMiddleware(app, settings=issuer.settings())))
    response = client.get("http://testserver/secret", headers={"Authorization": "Bearer x.y.z"})
    assert response.status_code == 401
    assert response.json()["code"] == "token_malformed"
    assert calls == []


def test_exactly_one_of_settings_or_guard(issuer: DevIssuer) -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        JWTGuardWSGIMiddleware(whoami)


# -- Flask ---------------------------------------------------------------------------------------


def test_flask_reads_string_config_like_the_environment(issuer: DevIssuer) -> None:
    app = flask.Flask("strings")
    app.config.update(
        JWTGUARD_ISSUER=issuer.issuer,
        JWTGUARD_AUDIENCE=issuer.audience,
        JWTGUARD_JWKS_URI=issuer.jwks_uri,
        JWTGUARD_ALGORITHMS="RS256, ES256",
        JWTGUARD_EXCLUDE_PATHS="/health",
        JWTGUARD_ALLOW_ANONYMOUS="false",
        SECRET_KEY="unrelated",
    )
    extension = jwtguard.flask.JWTGuard()
    extension.init_app(app)
    guard = app.extensions["jwtguard"]
    assert guard.settings.algorithms == ("RS256", "ES256")
    assert guard.settings.exclude_paths == ("/health",)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"principal": repr(jwtguard.flask.current_principal())}

    assert app.test_client().get("/health").json == {"principal": "None"}


def test_flask_config_typos_are_refused(issuer: DevIssuer) -> None:
    app = flask.Flask("typo")
    app.config.update(
        JWTGUARD_ISSUER=issuer.issuer, JWTGUARD_AUDIENCES=issuer.audience, JWTGUARD_JWKS_URI=issuer.jwks_uri
    )
    with pytest.raises(ConfigurationError, match="did you mean JWTGUARD_AUDIENCE"):
        jwtguard.flask.JWTGuard(app)


# -- Django --------------------------------------------------------------------------------------


def django_settings_for(issuer: DevIssuer) -> dict[str, Any]:
    return {"ISSUER": issuer.issuer, "AUDIENCE": issuer.audience, "JWKS_URI": issuer.jwks_uri}


def run_django_middleware(request: HttpRequest) -> HttpRequest:
    from jwtguard.django import JWTGuardMiddleware

    seen: list[HttpRequest] = []

    def view(req: HttpRequest) -> HttpResponse:
        seen.append(req)
        return HttpResponse("ok")

    response = JWTGuardMiddleware(view)(request)
    assert response.status_code == 200, response.content
    return seen[0]


def test_django_leaves_request_user_alone_unless_asked(issuer: DevIssuer) -> None:
    configure_django()
    factory = RequestFactory()
    token = issuer.token(subject="dj")
    with override_settings(JWTGUARD=django_settings_for(issuer)):
        request = factory.get("/me", headers={"Authorization": f"Bearer {token}"})
        sentinel = object()
        request.user = sentinel  # type: ignore[assignment]
        handled = run_django_middleware(request)
        assert handled.user is sentinel
        assert isinstance(handled.principal, Principal)  # type: ignore[attr-defined]
        assert handled.principal.subject == "dj"  # type: ignore[attr-defined]

    with override_settings(JWTGUARD=django_settings_for(issuer), JWTGUARD_SET_USER=True):
        handled = run_django_middleware(factory.get("/me", headers={"Authorization": f"Bearer {token}"}))
        assert isinstance(handled.user, Principal)
        assert handled.user.is_authenticated


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(None, "must be a dict", id="absent"),
        pytest.param({"ISSUER": "https://id.example.test/", "AUDIENCE": "a"}, "no key source", id="incomplete"),
        pytest.param({"ISUER": "https://id.example.test/"}, "did you mean issuer", id="typo"),
    ],
)
def test_django_configuration_errors_are_improperly_configured(value: Any, message: str) -> None:
    configure_django()
    from jwtguard.django import JWTGuardMiddleware

    with override_settings(JWTGUARD=value), pytest.raises(ImproperlyConfigured, match=message):
        JWTGuardMiddleware(lambda request: HttpResponse())


# -- a revocation hook that returns an awaitable where nothing can await it --------------------------


async def _not_revoked(principal: Principal) -> bool:
    return False


def _returns_a_coroutine(principal: Principal) -> Any:
    return _not_revoked(principal)  # a plain function: start-up cannot tell it is async


def test_a_hook_returning_an_awaitable_answers_503_under_a_real_wsgi_server(
    issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    settings = issuer.settings(revocation_hook=_returns_a_coroutine)
    flask_app = flask.Flask("revocation-hook")
    jwtguard.flask.JWTGuard(flask_app, settings=settings)
    flask_app.get("/")(lambda: "ok")
    for app in (JWTGuardWSGIMiddleware(whoami, settings=settings), flask_app):
        with threaded_wsgi_server(app) as url:
            response = httpx.get(url + "/", headers={"Authorization": f"Bearer {issuer.token()}"})
        assert response.status_code == 503
        assert response.json()["code"] == "revocation_unavailable"
        assert "www-authenticate" not in response.headers
    errors = [r for r in jwtguard_logs.records if r.levelname == "ERROR"]
    assert any("revocation_hook returned an awaitable" in r.getMessage() for r in errors)
    assert [r.jwtguard_code for r in errors if hasattr(r, "jwtguard_code")] == ["revocation_unavailable"] * 2


def test_a_hook_returning_an_awaitable_answers_503_under_django(issuer: DevIssuer) -> None:
    from .stacks import django_stack

    get = django_stack(issuer.settings(revocation_hook=_returns_a_coroutine))
    answer = get("/me", [f"Bearer {issuer.token()}"])
    assert answer.status == 503
    assert answer.body["code"] == "revocation_unavailable"


def test_an_async_def_hook_is_refused_at_start_up(issuer: DevIssuer) -> None:
    with pytest.raises(ConfigurationError, match="revocation_hook is async"):
        JWTGuardWSGIMiddleware(whoami, settings=issuer.settings(revocation_hook=_not_revoked))
