"""A page on one loopback origin calls the API on another with `fetch` and a bearer token, in a real browser: it
reads jwtguard's answers, 200 and 401 alike, on ASGI and WSGI, with the CORS layer outside jwtguard or inside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import flask
import flask_cors
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import jwtguard.flask
from jwtguard import JWTGuardMiddleware, Settings
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import live_server, live_wsgi_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from playwright.sync_api import Browser

# Runs in the page: the answer as the page can read it, or the error a CORS failure gives (fetch rejects).
FETCH = """async ([url, token]) => {
    try {
        const response = await fetch(url, {headers: token ? {Authorization: "Bearer " + token} : {}});
        return {
            status: response.status,
            body: await response.json(),
            challenge: response.headers.get("WWW-Authenticate"),
        };
    } catch (error) {
        return {error: String(error)};
    }
}"""


def _page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<!doctype html><title>a page on another origin</title>"]


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The origin the page comes from: http://127.0.0.1:PORT."""
    with live_wsgi_server(_page) as url:
        yield url


@pytest.fixture(scope="module")
def api_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", keys=[signing_keys["RS256"]]) as dev:
        yield dev


async def _me(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


def starlette_cors_outside(settings: Settings, origin: str) -> AbstractContextManager[str]:
    app = Starlette(routes=[Route("/me", _me)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    app.add_middleware(
        CORSMiddleware, allow_origins=[origin], allow_headers=["authorization"], expose_headers=["WWW-Authenticate"]
    )
    return live_server(app)


def fastapi_cors_inside(settings: Settings, origin: str) -> AbstractContextManager[str]:
    app = FastAPI()
    app.get("/me")(_me)
    app.add_middleware(CORSMiddleware, allow_origins=[origin], allow_headers=["authorization"])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return live_server(app)


def flask_with_flask_cors(settings: Settings, origin: str) -> AbstractContextManager[str]:
    app = flask.Flask("jwtguard-browser-tests")
    jwtguard.flask.JWTGuard(app, settings=settings)
    flask_cors.CORS(app, origins=[origin])

    @app.get("/me")
    def me() -> dict[str, Any]:
        principal = jwtguard.flask.current_principal()
        return {"sub": principal.subject if principal else None}

    return live_wsgi_server(app)


Serve = Callable[[Settings, str], AbstractContextManager[str]]
SETTINGS_OUTSIDE_CORS = ("cors_preflight", "cors_allow_origins")  # what jwtguard outside the CORS layer needs

STACKS: dict[str, tuple[Serve, bool]] = {
    "asgi-starlette-cors-outside": (starlette_cors_outside, False),
    "asgi-fastapi-cors-inside": (fastapi_cors_inside, True),
    "wsgi-flask-cors": (flask_with_flask_cors, True),
}


def _call(browser: Browser, page_origin: str, api: str, token: str | None) -> dict[str, Any]:
    page = browser.new_page()
    try:
        page.goto(page_origin + "/")
        answer: dict[str, Any] = page.evaluate(FETCH, [api + "/me", token])
        return answer
    finally:
        page.close()


def _other_origin(url: str) -> str:
    # The API at http://localhost:PORT, the page at http://127.0.0.1:PORT: two origins (RFC 6454), both loopback.
    return url.replace("http://127.0.0.1:", "http://localhost:")


@pytest.mark.parametrize("stack", STACKS)
def test_a_page_on_another_origin_reads_jwtguards_answers(
    browser: Browser, page_origin: str, api_issuer: DevIssuer, stack: str
) -> None:
    serve, jwtguard_outside = STACKS[stack]
    more: dict[str, Any] = {"cors_preflight": True, "cors_allow_origins": [page_origin]} if jwtguard_outside else {}
    with serve(api_issuer.settings(**more), page_origin) as url:
        api = _other_origin(url)
        ok = _call(browser, page_origin, api, api_issuer.token(subject="ann"))
        assert ok == {"status": 200, "body": {"sub": "ann"}, "challenge": None}
        expired = _call(browser, page_origin, api, api_issuer.token(expires_in=-600))  # preflight, then a 401
        assert (expired["status"], expired["body"]["code"]) == (401, "token_expired")
        assert expired["challenge"].startswith('Bearer realm="api", error="invalid_token"')
        missing = _call(browser, page_origin, api, None)  # a simple request: no preflight
        assert (missing["status"], missing["body"]["code"], missing["challenge"]) == (
            401,
            "token_missing",
            'Bearer realm="api"',
        )


def test_without_the_settings_the_page_gets_a_cors_error(
    browser: Browser, page_origin: str, api_issuer: DevIssuer
) -> None:
    # The failure the settings answer: jwtguard outside CORSMiddleware refuses the preflight, without CORS headers.
    with fastapi_cors_inside(api_issuer.settings(), page_origin) as url:
        api = _other_origin(url)
        assert "Failed to fetch" in _call(browser, page_origin, api, api_issuer.token(subject="ann")).get("error", "")
        assert "Failed to fetch" in _call(browser, page_origin, api, None).get("error", "")
