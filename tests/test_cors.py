"""CORS: preflights (`cors_preflight`), refusals a page on another origin can read (`cors_allow_origins`), and the
middleware orders the README recommends, with Starlette's CORSMiddleware, flask-cors and django-cors-headers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import flask
import flask_cors
import httpx
import pytest
from django.test import Client as DjangoClient
from django.test.utils import override_settings
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import jwtguard.flask
from jwtguard import ConfigurationError, Guard, JWTGuardMiddleware, JWTGuardWSGIMiddleware, RequestInfo, Settings
from jwtguard.testing import DevIssuer, SigningKey
from jwtguard.wsgi import PRINCIPAL_KEY

from .stacks import configure_django
from .test_readme import AUDIENCE, quickstart, run_block

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

PAGE = "http://127.0.0.1:5173"  # where the page that calls the API comes from
ELSEWHERE = "https://evil.example"
PREFLIGHT = {"Origin": PAGE, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
CORS_HEADERS = ("access-control-allow-origin", "access-control-expose-headers", "vary")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lowercase names
    body: bytes

    @property
    def code(self) -> str | None:
        """jwtguard's error code, when jwtguard answered."""
        if self.headers.get("content-type") != "application/problem+json":
            return None
        code: str = json.loads(self.body)["code"]
        return code

    @property
    def cors(self) -> dict[str, str]:
        return {name: value for name, value in self.headers.items() if name in CORS_HEADERS}


Send = Callable[[str, str, dict[str, str]], Reply]  # (method, path, headers) -> the answer


def _reply(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> Reply:
    return Reply(status, {name.lower(): value for name, value in headers}, body)


# -- the same API on every stack: /me answers the subject (or null) for every method the stack routes to it -------


async def _asgi_me(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity if request.user.is_authenticated else None})


def _asgi_send(app: Any) -> Send:
    client = TestClient(app)

    def send(method: str, path: str, headers: dict[str, str]) -> Reply:
        response = client.request(method, path, headers=headers)
        return _reply(response.status_code, response.headers.items(), response.content)

    return send


def starlette_stack(fields: dict[str, Any]) -> Send:
    app = Starlette(routes=[Route("/me", _asgi_me)])
    app.add_middleware(JWTGuardMiddleware, settings=Settings(**fields))
    return _asgi_send(app)


def fastapi_stack(fields: dict[str, Any]) -> Send:
    app = FastAPI()
    app.get("/me")(_asgi_me)
    app.add_middleware(JWTGuardMiddleware, settings=Settings(**fields))
    return _asgi_send(app)


def _bare_wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    # Like many plain WSGI apps, it answers whatever the method.
    principal = environ[PRINCIPAL_KEY]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"sub": principal.subject if principal else None}).encode()]


def _wsgi_send(app: Any) -> Send:
    client = httpx.Client(transport=httpx.WSGITransport(app), base_url="http://testserver")

    def send(method: str, path: str, headers: dict[str, str]) -> Reply:
        response = client.request(method, path, headers=headers)
        return _reply(response.status_code, response.headers.items(), response.content)

    return send


def wsgi_stack(fields: dict[str, Any]) -> Send:
    return _wsgi_send(JWTGuardWSGIMiddleware(_bare_wsgi, settings=Settings(**fields)))


def _flask_app(fields: dict[str, Any]) -> flask.Flask:
    app = flask.Flask("jwtguard-cors-tests")
    app.config.update({f"JWTGUARD_{name.upper()}": value for name, value in fields.items()})
    jwtguard.flask.JWTGuard(app)

    @app.get("/me")
    def me() -> dict[str, Any]:
        principal = jwtguard.flask.current_principal()
        return {"sub": principal.subject if principal else None}

    return app


def flask_stack(fields: dict[str, Any]) -> Send:
    return _wsgi_send(_flask_app(fields))


def django_stack(fields: dict[str, Any], **django_settings: Any) -> Send:
    configure_django()
    values = {name.upper(): value for name, value in fields.items()}
    client = DjangoClient()

    def send(method: str, path: str, headers: dict[str, str]) -> Reply:
        # The middleware is built on the first request, under these settings, and kept by the client.
        with override_settings(JWTGUARD=values, **django_settings):
            response = client.generic(method, path, headers=headers)
        return _reply(response.status_code, response.items(), response.content)

    return send


STACKS: dict[str, Callable[[dict[str, Any]], Send]] = {
    "starlette": starlette_stack,
    "fastapi": fastapi_stack,
    "wsgi": wsgi_stack,
    "flask": flask_stack,
    "django": django_stack,
}


@pytest.fixture(scope="module")
def api_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", keys=[signing_keys["RS256"]]) as dev:
        yield dev


def fields_of(issuer: DevIssuer, **more: Any) -> dict[str, Any]:
    return {
        "issuer": issuer.issuer,
        "audience": issuer.audience,
        "jwks_uri": issuer.jwks_uri,
        "algorithms": [issuer.key.alg],
        **more,
    }


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


# -- the request record -------------------------------------------------------------------------------------------


def _scope(method: str, headers: list[tuple[bytes, bytes]], kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "method": method, "path": "/me", "headers": headers, "query_string": b""}


ORIGIN = (b"origin", PAGE.encode())
ASKS = (b"access-control-request-method", b"GET")


@pytest.mark.parametrize(
    ("method", "headers", "kind", "preflight"),
    [
        pytest.param("OPTIONS", [ORIGIN, ASKS], "http", True, id="preflight"),
        pytest.param("OPTIONS", [ASKS, ORIGIN], "http", True, id="preflight-any-order"),
        pytest.param("OPTIONS", [ORIGIN], "http", False, id="options-without-requested-method"),
        pytest.param("OPTIONS", [ASKS], "http", False, id="options-without-origin"),
        pytest.param("GET", [ORIGIN, ASKS], "http", False, id="not-options"),
        pytest.param("GET", [ORIGIN, ASKS], "websocket", False, id="websocket"),
    ],
)
def test_the_request_record_says_whether_it_is_shaped_like_a_preflight(
    method: str, headers: list[tuple[bytes, bytes]], kind: str, preflight: bool
) -> None:
    from_scope = RequestInfo.from_scope(_scope(method, headers, kind))
    environ = {"REQUEST_METHOD": from_scope.method, "PATH_INFO": "/me"}
    environ.update({"HTTP_" + name.decode().upper().replace("-", "_"): value.decode() for name, value in headers})
    from_environ = RequestInfo.from_environ(environ)
    assert from_scope.preflight is from_environ.preflight is preflight
    assert from_scope.origin == from_environ.origin == (PAGE if ORIGIN in headers else None)


def test_a_request_without_origin_has_none() -> None:
    assert RequestInfo.from_scope(_scope("GET", [(b"authorization", b"Bearer x")])).origin is None
    assert RequestInfo.from_environ({"REQUEST_METHOD": "GET"}).origin is None


# -- settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origins",
    [
        pytest.param(["https://app.example.com/"], id="trailing-slash"),
        pytest.param(["https://app.example.com/spa"], id="path"),
        pytest.param(["app.example.com"], id="no-scheme"),
        pytest.param(["https://App.example.com"], id="uppercase"),
        pytest.param(["null"], id="null"),
        pytest.param(["*", "https://app.example.com"], id="star-and-more"),
        pytest.param([""], id="empty"),
    ],
)
def test_cors_allow_origins_takes_origins_as_browsers_send_them(origins: list[str], api_issuer: DevIssuer) -> None:
    with pytest.raises(ConfigurationError, match="cors_allow_origins"):
        api_issuer.settings(cors_allow_origins=origins)


def test_cors_settings_from_the_environment(api_issuer: DevIssuer) -> None:
    environ = {
        "JWTGUARD_ISSUER": api_issuer.issuer,
        "JWTGUARD_AUDIENCE": api_issuer.audience,
        "JWTGUARD_JWKS_URI": api_issuer.jwks_uri,
        "JWTGUARD_CORS_PREFLIGHT": "true",
        "JWTGUARD_CORS_ALLOW_ORIGINS": "http://127.0.0.1:5173, https://app.example.com, http://[::1]:8080",
    }
    settings = Settings.from_env(environ)
    assert settings.cors_preflight is True
    assert settings.cors_allow_origins == ("http://127.0.0.1:5173", "https://app.example.com", "http://[::1]:8080")
    assert Settings.from_env({**environ, "JWTGUARD_CORS_ALLOW_ORIGINS": "*"}).cors_allow_origins == ("*",)
    defaults = api_issuer.settings()
    assert (defaults.cors_preflight, defaults.cors_allow_origins) == (False, ())


# -- the guard's policy -----------------------------------------------------------------------------------------


def _preflight(**more: Any) -> RequestInfo:
    return RequestInfo("OPTIONS", "/me", None, origin=PAGE, preflight=True, **more)


def test_a_preflight_passes_only_with_cors_preflight(api_issuer: DevIssuer) -> None:
    refusing = Guard(api_issuer.settings())
    with pytest.raises(jwtguard.TokenMissing):
        refusing.check_request(_preflight())
    passing = Guard(api_issuer.settings(cors_preflight=True))
    assert passing.check_request(_preflight()) is None
    # Before the rules too: a preflight cannot meet a requirement, and asks for nothing by itself.
    ruled = Guard(api_issuer.settings(cors_preflight=True, rules=["* /* role:admin"]))
    assert ruled.check_request(_preflight()) is None


def test_a_preflight_passes_the_event_loop_face_alike(api_issuer: DevIssuer) -> None:
    assert anyio.run(Guard(api_issuer.settings(cors_preflight=True)).acheck_request, _preflight()) is None
    with pytest.raises(jwtguard.TokenMissing):
        anyio.run(Guard(api_issuer.settings()).acheck_request, _preflight())


def test_a_preflight_with_credentials_is_checked_like_any_request(api_issuer: DevIssuer) -> None:
    # Browsers never send credentials on a preflight (Fetch standard): this is someone else.
    guard = Guard(api_issuer.settings(cors_preflight=True))
    with pytest.raises(jwtguard.TokenMalformed):
        guard.check_request(_preflight(authorization=("Bearer not-a-token",)))
    principal = guard.check_request(_preflight(authorization=(f"Bearer {api_issuer.token(subject='ann')}",)))
    assert principal is not None
    assert principal.subject == "ann"


def test_an_options_request_that_is_no_preflight_needs_a_token(api_issuer: DevIssuer) -> None:
    guard = Guard(api_issuer.settings(cors_preflight=True))
    with pytest.raises(jwtguard.TokenMissing):
        guard.check_request(RequestInfo("OPTIONS", "/me", None, origin=PAGE))


@pytest.mark.parametrize(
    ("allowed", "origin", "expected"),
    [
        pytest.param(
            [PAGE],
            PAGE,
            {
                "access-control-allow-origin": PAGE,
                "access-control-expose-headers": "WWW-Authenticate",
                "vary": "Origin",
            },
            id="listed",
        ),
        pytest.param(
            ["*"],
            PAGE,
            {"access-control-allow-origin": "*", "access-control-expose-headers": "WWW-Authenticate"},
            id="any",
        ),
        pytest.param([PAGE], ELSEWHERE, {}, id="not-listed"),
        pytest.param([PAGE], None, {}, id="no-origin"),
        pytest.param([], PAGE, {}, id="off"),
    ],
)
def test_refusals_carry_cors_headers_for_the_origins_listed(
    api_issuer: DevIssuer, allowed: list[str], origin: str | None, expected: dict[str, str]
) -> None:
    guard = Guard(api_issuer.settings(cors_allow_origins=allowed))
    request = RequestInfo("GET", "/me", None, origin=origin)
    with pytest.raises(jwtguard.AuthError) as refused:
        guard.check_request(request)
    rendered = guard.render(refused.value, request)
    assert {name: value for name, value in rendered.headers if name in CORS_HEADERS} == expected
    # Without the request, as before: no CORS headers.
    assert not [name for name, _ in guard.render(refused.value).headers if name in CORS_HEADERS]


def test_a_503_exposes_its_retry_after(api_issuer: DevIssuer) -> None:
    guard = Guard(api_issuer.settings(cors_allow_origins=[PAGE]))
    rendered = guard.render(jwtguard.JWKSUnavailable("down"), RequestInfo("GET", "/me", None, origin=PAGE))
    assert dict(rendered.headers)["access-control-expose-headers"] == "Retry-After"


def test_a_refusal_without_a_challenge_exposes_nothing(api_issuer: DevIssuer) -> None:
    guard = Guard(api_issuer.settings(cors_allow_origins=[PAGE]))
    rendered = guard.render(jwtguard.RevocationUnavailable("no loop"), RequestInfo("GET", "/me", None, origin=PAGE))
    assert {name: value for name, value in rendered.headers if name in CORS_HEADERS} == {
        "access-control-allow-origin": PAGE,
        "vary": "Origin",
    }


def test_a_websocket_refusal_has_no_cors_headers(api_issuer: DevIssuer) -> None:
    guard = Guard(api_issuer.settings(cors_allow_origins=["*"]))
    rendered = guard.render(jwtguard.TokenMissing("none"), RequestInfo("WEBSOCKET", "/ws", None, origin=PAGE))
    assert not [name for name, _ in rendered.headers if name in CORS_HEADERS]


# -- every stack ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_refuses_a_preflight_by_default(api_issuer: DevIssuer, stack: str) -> None:
    answer = STACKS[stack](fields_of(api_issuer))("OPTIONS", "/me", PREFLIGHT)
    assert (answer.status, answer.code, answer.cors) == (401, "token_missing", {})


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_lets_a_preflight_through_with_cors_preflight(api_issuer: DevIssuer, stack: str) -> None:
    send = STACKS[stack](fields_of(api_issuer, cors_preflight=True))
    assert send("OPTIONS", "/me", PREFLIGHT).code is None  # what answers it is the app's business
    # Only the preflight: any other request still needs a token, and an OPTIONS request without the CORS
    # headers is no preflight.
    assert send("GET", "/me", {"Origin": PAGE}).code == "token_missing"
    assert send("OPTIONS", "/me", {"Origin": PAGE}).code == "token_missing"
    assert send("OPTIONS", "/me", {**PREFLIGHT, "Authorization": "Bearer nonsense"}).code == "token_malformed"


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_sends_the_same_cors_headers_with_a_refusal(api_issuer: DevIssuer, stack: str) -> None:
    send = STACKS[stack](fields_of(api_issuer, cors_allow_origins=[PAGE]))
    expired = send("GET", "/me", bearer(api_issuer.token(expires_in=-600), Origin=PAGE))
    assert (expired.status, expired.code) == (401, "token_expired")
    assert expired.cors == {
        "access-control-allow-origin": PAGE,
        "access-control-expose-headers": "WWW-Authenticate",
        "vary": "Origin",
    }
    assert send("GET", "/me", {"Origin": ELSEWHERE}).cors == {}
    ok = send("GET", "/me", bearer(api_issuer.token(subject="ann"), Origin=PAGE))
    assert (ok.status, json.loads(ok.body)) == (200, {"sub": "ann"})


def test_a_forged_preflight_reaches_a_view_that_answers_every_method(api_issuer: DevIssuer) -> None:
    # Why `cors_preflight` is off by default: a Django function view (like a plain WSGI app) runs for any method,
    # so with the setting on, anyone who sends a request shaped like a preflight reaches it without a token.
    for stack in ("django", "wsgi"):
        answer = STACKS[stack](fields_of(api_issuer, cors_preflight=True))("OPTIONS", "/me", PREFLIGHT)
        assert (answer.status, json.loads(answer.body)) == (200, {"sub": None})
    # Routers that dispatch on the method never run the view for it.
    for stack in ("starlette", "fastapi"):
        assert STACKS[stack](fields_of(api_issuer, cors_preflight=True))("OPTIONS", "/me", PREFLIGHT).status == 405
    flask_answer = flask_stack(fields_of(api_issuer, cors_preflight=True))("OPTIONS", "/me", PREFLIGHT)
    assert (flask_answer.status, flask_answer.body) == (200, b"")  # Flask's automatic OPTIONS answer


# -- the middleware orders the README recommends ----------------------------------------------------------------


def starlette_cors_outside(fields: dict[str, Any]) -> Send:
    app = Starlette(routes=[Route("/me", _asgi_me)])
    app.add_middleware(JWTGuardMiddleware, settings=Settings(**fields))
    app.add_middleware(  # added last: outermost
        CORSMiddleware, allow_origins=[PAGE], allow_headers=["authorization"], expose_headers=["WWW-Authenticate"]
    )
    return _asgi_send(app)


def fastapi_cors_inside(fields: dict[str, Any]) -> Send:
    app = FastAPI()
    app.get("/me")(_asgi_me)
    app.add_middleware(CORSMiddleware, allow_origins=[PAGE], allow_headers=["authorization"])  # first, as is common
    app.add_middleware(JWTGuardMiddleware, settings=Settings(**fields))
    return _asgi_send(app)


def flask_with_flask_cors(fields: dict[str, Any]) -> Send:
    app = _flask_app(fields)
    flask_cors.CORS(app, origins=[PAGE], allow_headers=["authorization"])
    return _wsgi_send(app)


def django_with_cors_headers(fields: dict[str, Any]) -> Send:
    return django_stack(
        fields,
        MIDDLEWARE=["corsheaders.middleware.CorsMiddleware", "jwtguard.django.JWTGuardMiddleware"],
        CORS_ALLOWED_ORIGINS=[PAGE],
        CORS_EXPOSE_HEADERS=["WWW-Authenticate"],
    )


ORDERS: dict[str, tuple[Callable[[dict[str, Any]], Send], dict[str, Any]]] = {
    # CORS outside jwtguard: it answers preflights and adds its headers to jwtguard's refusals; nothing to set.
    "starlette-cors-outside": (starlette_cors_outside, {}),
    "django-cors-headers-first": (django_with_cors_headers, {}),
    # jwtguard outside the CORS layer: preflights must pass, and refusals carry their own CORS headers.
    "fastapi-cors-inside": (fastapi_cors_inside, {"cors_preflight": True, "cors_allow_origins": [PAGE]}),
    "flask-cors": (flask_with_flask_cors, {"cors_preflight": True, "cors_allow_origins": [PAGE]}),
}


@pytest.mark.parametrize("order", ORDERS)
def test_the_recommended_orders_let_a_page_read_every_answer(api_issuer: DevIssuer, order: str) -> None:
    build, more = ORDERS[order]
    assert_a_page_reads_every_answer(build(fields_of(api_issuer, **more)), api_issuer)


def assert_a_page_reads_every_answer(send: Send, issuer: DevIssuer, origin: str = PAGE) -> None:
    """What the browser needs: a preflight answered for `origin`, then a 200 and a 401 both marked for it."""
    preflight = send("OPTIONS", "/me", {**PREFLIGHT, "Origin": origin})
    assert preflight.status in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    ok = send("GET", "/me", bearer(issuer.token(subject="ann"), Origin=origin))
    assert (ok.status, json.loads(ok.body), ok.headers["access-control-allow-origin"]) == (200, {"sub": "ann"}, origin)
    refused = send("GET", "/me", {"Origin": origin})
    assert (refused.status, refused.code, refused.headers["access-control-allow-origin"]) == (
        401,
        "token_missing",
        origin,
    )
    # The challenge is no CORS-safelisted header: the page reads it only once it is exposed.
    assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()


def test_without_the_settings_jwtguard_outside_cors_hides_its_answers(api_issuer: DevIssuer) -> None:
    # The issue this answers: added after CORSMiddleware, jwtguard refuses the preflight, without CORS headers.
    send = fastapi_cors_inside(fields_of(api_issuer))
    preflight = send("OPTIONS", "/me", PREFLIGHT)
    assert (preflight.status, preflight.code, preflight.cors) == (401, "token_missing", {})
    assert send("GET", "/me", {"Origin": PAGE}).cors == {}


# -- the README's examples, as written ---------------------------------------------------------------------------

README_ORIGIN = "https://app.example.com"


@pytest.fixture
def readme_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience=AUDIENCE, keys=[signing_keys["RS256"]]) as dev:
        yield dev


def test_the_readme_fastapi_example(readme_issuer: DevIssuer) -> None:
    app = run_block(quickstart("cors-fastapi", readme_issuer))["app"]
    app.get("/me")(_asgi_me)
    assert_a_page_reads_every_answer(_asgi_send(app), readme_issuer, README_ORIGIN)


def test_the_readme_flask_example(readme_issuer: DevIssuer) -> None:
    app = run_block(quickstart("cors-flask", readme_issuer))["app"]
    assert_a_page_reads_every_answer(_wsgi_send(app), readme_issuer, README_ORIGIN)


def test_the_readme_django_example(readme_issuer: DevIssuer) -> None:
    namespace: dict[str, Any] = {"INSTALLED_APPS": []}
    exec(compile(quickstart("cors-django"), "README.md", "exec"), namespace)  # noqa: S102  # our own README
    assert namespace["INSTALLED_APPS"] == ["corsheaders"]
    send = django_stack(
        fields_of(readme_issuer),
        MIDDLEWARE=[entry for entry in namespace["MIDDLEWARE"] if entry is not Ellipsis],
        CORS_ALLOWED_ORIGINS=namespace["CORS_ALLOWED_ORIGINS"],
        CORS_EXPOSE_HEADERS=namespace["CORS_EXPOSE_HEADERS"],
    )
    assert_a_page_reads_every_answer(send, readme_issuer, README_ORIGIN)
