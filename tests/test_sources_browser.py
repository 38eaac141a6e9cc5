"""The token sources a browser needs where it cannot set an `Authorization` header, in a real browser against a
real server: a WebSocket's `bearer.<token>` subprotocol, an `EventSource`'s `?access_token=`, and an HttpOnly
cookie, with the cookie's cross-site check seen from a page on another origin."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwtguard import JWTGuardMiddleware
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import live_server, live_wsgi_server, records

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from playwright.sync_api import Browser, BrowserContext

SOURCES = ["authorization", "subprotocol", "cookie:at", "query"]
PAGE = b"<!doctype html><title>jwtguard token sources</title>"

# Runs in the page: open a WebSocket, gather what the app sends until it closes. `opened` stays false for a
# refused handshake, which a page sees only as an error and a close (code 1006), never the status.
WEBSOCKET = """([url, protocols]) => new Promise((resolve) => {
    const socket = new WebSocket(url, protocols);
    const seen = {opened: false, protocol: null, messages: [], error: false};
    socket.onopen = () => { seen.opened = true; seen.protocol = socket.protocol; };
    socket.onmessage = (event) => seen.messages.push(JSON.parse(event.data));
    socket.onerror = () => { seen.error = true; };
    socket.onclose = (event) => resolve({...seen, code: event.code});
    setTimeout(() => resolve({...seen, timeout: true}), 5000);
})"""

# Runs in the page: the first message of an event stream, or the error an EventSource gives up with.
EVENT_SOURCE = """(url) => new Promise((resolve) => {
    const source = new EventSource(url);
    source.onmessage = (event) => { source.close(); resolve({data: JSON.parse(event.data)}); };
    source.onerror = () => {
        if (source.readyState === EventSource.CLOSED) resolve({error: true});
    };
    setTimeout(() => { source.close(); resolve({timeout: true}); }, 5000);
})"""

FETCH = """async ([url, init]) => {
    const response = await fetch(url, init);
    return {status: response.status, body: await response.json()};
}"""

# Runs in the page: a cross-origin request the page may send but not read (`no-cors`), with the cookies.
SEND_NO_CORS = """async ([url, method]) => {
    await fetch(url, {method, mode: "no-cors", credentials: "include"});
}"""


class App:
    """The application behind jwtguard: a page, a login route setting the cookie, `/me`, `/ws` and `/events`.
    `seen` is what `/me` answered, (method, subject): the requests jwtguard let through."""

    def __init__(self, issuer: DevIssuer) -> None:
        self.issuer = issuer
        self.seen: list[tuple[str, str]] = []

    def build(self, sources: list[str]) -> JWTGuardMiddleware:
        app = Starlette(
            routes=[
                Route("/", self.page),
                Route("/login", self.login),
                Route("/me", self.me, methods=["GET", "POST"]),
                Route("/events", self.events),
                WebSocketRoute("/ws", self.websocket),
            ]
        )
        settings = self.issuer.settings(token_sources=sources, exclude_paths=["/", "/login", "/favicon.ico"])
        return JWTGuardMiddleware(app, settings=settings)

    async def page(self, request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def login(self, request: Request) -> Response:
        # A backend-for-frontend's login: the access token in an HttpOnly cookie the page's scripts cannot read.
        response = HTMLResponse(PAGE)
        response.set_cookie("at", self.issuer.token(subject="ann"), httponly=True, samesite="lax")
        return response

    async def me(self, request: Request) -> Response:
        self.seen.append((request.method, request.user.identity))
        return JSONResponse({"sub": request.user.identity})

    async def events(self, request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            yield f'data: {{"sub": "{request.user.identity}"}}\n\n'

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def websocket(self, websocket: WebSocket) -> None:
        offered = list(websocket.scope.get("subprotocols", []))
        await websocket.accept(subprotocol="chat" if "chat" in offered else None)
        await websocket.send_json(
            {
                "sub": websocket.user.identity,
                "subprotocols": offered,
                "header": websocket.headers.get("sec-websocket-protocol"),
            }
        )
        await websocket.close()


@pytest.fixture(scope="module")
def api_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", keys=[signing_keys["ES256"]]) as dev:
        yield dev


@pytest.fixture(scope="module")
def app(api_issuer: DevIssuer) -> App:
    return App(api_issuer)


@pytest.fixture(scope="module")
def api(app: App) -> Iterator[str]:
    """The app with every browser-facing source, served with WebSockets (uvicorn's wsproto implementation)."""
    with live_server(app.build(SOURCES), ws="wsproto") as url:
        yield url


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test: no cookie left over from another test."""
    context = browser.new_context()
    try:
        yield context
    finally:
        context.close()


def _ws(url: str) -> str:
    return "ws://" + url.removeprefix("http://")


def _handshake(api: str, path: str, protocols: str | None = None) -> httpx.Response:
    """A WebSocket handshake sent by hand, to read the HTTP answer a browser does not show its page."""
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    if protocols is not None:
        headers["Sec-WebSocket-Protocol"] = protocols
    return httpx.get(api + path, headers=headers, timeout=5)


# uvicorn's wsproto implementation (the one it picks when `websockets` is not installed) leaves the
# `Sec-WebSocket-Protocol` header out of the scope and passes the offered subprotocols only as `scope["subprotocols"]`:
# the source reads that list, so this runs on the server setup where it is easiest to miss.
def test_a_websocket_carries_its_token_in_a_subprotocol_the_app_never_sees(
    context: BrowserContext, api: str, api_issuer: DevIssuer
) -> None:
    page = context.new_page()
    page.goto(api + "/")
    opened = page.evaluate(WEBSOCKET, [_ws(api) + "/ws", ["chat", "bearer." + api_issuer.token(subject="ann")]])
    assert (opened["opened"], opened["protocol"]) == (True, "chat")  # the app's pick; never the credential
    [seen] = opened["messages"]
    assert (seen["sub"], seen["subprotocols"]) == ("ann", ["chat"])
    assert seen["header"] in (None, "chat")  # the header itself: absent under wsproto, else without the credential


def test_a_websocket_without_a_credential_is_refused_before_the_handshake(
    context: BrowserContext, api: str, api_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    page = context.new_page()
    page.goto(api + "/")
    refused = page.evaluate(WEBSOCKET, [_ws(api) + "/ws", ["chat"]])
    # All a page learns of a refused handshake is that it failed: no open, an error, close code 1006.
    assert (refused["opened"], refused["error"], refused["code"], refused["messages"]) == (False, True, 1006, [])
    assert [record["code"] for record in records(jwtguard_logs)] == ["token_missing"]
    # uvicorn's wsproto implementation offers the websocket.http.response extension: jwtguard's own answer goes
    # out in place of the handshake (without it, a websocket.close before accept, which uvicorn turns into a 403).
    answer = _handshake(api, "/ws", "chat")
    assert (answer.status_code, answer.json()["code"]) == (401, "token_missing")
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="api"'

    # A plain HTTP GET never reads the query, `query` source or not: the token went where logs keep it.
    in_query = page.evaluate(FETCH, [api + "/me?access_token=" + api_issuer.token(subject="ann"), {}])
    assert (in_query["status"], in_query["body"]["code"]) == (400, "invalid_request")


def test_an_event_source_carries_its_token_in_the_query(
    context: BrowserContext, api: str, api_issuer: DevIssuer
) -> None:
    page = context.new_page()
    page.goto(api + "/")
    token = api_issuer.token(subject="ann")
    assert page.evaluate(EVENT_SOURCE, api + "/events?access_token=" + token) == {"data": {"sub": "ann"}}
    assert page.evaluate(EVENT_SOURCE, api + "/events") == {"error": True}  # 401: EventSource gives up
    # A WebSocket handshake reads the query too.
    opened = page.evaluate(WEBSOCKET, [_ws(api) + "/ws?access_token=" + token, ["chat"]])
    assert (opened["opened"], opened["messages"][0]["sub"]) == (True, "ann")


def _other_page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<!doctype html><title>a page on another origin</title>"]


def test_a_cookie_carries_the_token_for_this_sites_pages_only(
    context: BrowserContext, api: str, app: App, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    page = context.new_page()
    page.goto(api + "/login")  # Set-Cookie: at=<token>; HttpOnly; SameSite=Lax
    assert [cookie["name"] for cookie in context.cookies() if cookie["httpOnly"]] == ["at"]

    # This site's own page: Chromium sends `Sec-Fetch-Site: same-origin` (and `Origin` on the POST) by itself.
    for method in ("GET", "POST"):
        answer = page.evaluate(FETCH, [api + "/me", {"method": method}])
        assert answer == {"status": 200, "body": {"sub": "ann"}}
    assert app.seen[-2:] == [("GET", "ann"), ("POST", "ann")]
    # A WebSocket handshake is checked like a POST; Chromium sends no Sec-Fetch-Site on it, the Origin matches.
    opened = page.evaluate(WEBSOCKET, [_ws(api) + "/ws", ["chat"]])
    assert (opened["opened"], opened["messages"][0]["sub"]) == (True, "ann")

    # A page on another origin. SameSite=None would need Secure, which plain http cannot have, so the cookie is
    # Lax; Lax keeps it off cross-*site* POSTs, but 127.0.0.1:A and 127.0.0.1:B are one site (scheme and host;
    # the port is not part of a site) and two origins (the port is). Chromium does send the cookie, from a page
    # jwtguard must not trust: exactly what the Origin check is for.
    with live_wsgi_server(_other_page) as other:
        page.goto(other + "/")
        seen = len(app.seen)
        # A cross-origin GET is safe: the cookie goes with it and jwtguard lets it through (the page cannot read
        # the opaque answer). This is what proves the cookie crosses origins here.
        page.evaluate(SEND_NO_CORS, [api + "/me", "GET"])
        assert app.seen[seen:] == [("GET", "ann")]
        jwtguard_logs.clear()

        page.evaluate(SEND_NO_CORS, [api + "/me", "POST"])
        with page.expect_response(api + "/me") as form_post:
            page.set_content(f'<form method="post" action="{api}/me"></form>')
            page.evaluate("document.forms[0].submit()")
        assert (form_post.value.status, form_post.value.json()["code"]) == (403, "cross_site_request")
        page.goto(other + "/")
        hijack = page.evaluate(WEBSOCKET, [_ws(api) + "/ws", ["chat"]])  # cross-site WebSocket hijacking
        assert (hijack["opened"], hijack["messages"]) == (False, [])

        assert app.seen[seen:] == [("GET", "ann")]  # none of the three reached the app
        refused = records(jwtguard_logs, "cross_site_request")
        assert [(record["method"], record["path"], record["source"]) for record in refused] == [
            ("POST", "/me", "cookie:at"),
            ("POST", "/me", "cookie:at"),
            ("WEBSOCKET", "/ws", "cookie:at"),
        ]
        assert all(f"origin='{other}'" in record["message"] for record in refused)
        # Chromium calls the POSTs same-site: only the origin tells this page from the site's own.
        assert all("sec_fetch_site='same-site'" in record["message"] for record in refused[:2])
