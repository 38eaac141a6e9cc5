"""Token sources under attack: a second credential smuggled in another place (or twice in one), a proxy's header
from a peer that is not the proxy, a cookie sent by another site's page (cross-site request forgery and
cross-site WebSocket hijacking), and a token in the query of a plain HTTP request.

Each case runs on a real server on 127.0.0.1 (uvicorn, and werkzeug's server for the WSGI folding of repeated
headers). A WebSocket handshake is sent as the GET it is (RFC 6455 §4.1): the server here speaks no WebSocket,
so the guard's answer to the handshake comes back as a plain HTTP response. Neither the token nor its signature
may show up in any response or log record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jwtguard import JWTGuardMiddleware, JWTGuardWSGIMiddleware

from ..conftest import live_server, live_wsgi_server
from .conftest import Attempt, Kit, run_case

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SOURCES = ["authorization", "cookie:at", "header:x-forwarded-access-token", "subprotocol", "query"]
PROXY_HEADER = "X-Forwarded-Access-Token"
HANDSHAKE = [
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
]
EVENT_STREAM = ("Accept", "text/event-stream")

Build = Callable[[Kit, str], Attempt]  # (kit, the server's own origin) -> the request


def secrets(*tokens: str) -> list[str]:
    """The tokens and their signatures: what must never come back."""
    return [part for token in tokens for part in (token, token.rsplit(".", 1)[-1])]


def attempt(
    *,
    authorization: Iterable[str] = (),
    headers: Iterable[tuple[str, str]] = (),
    path: str = "/",
    post: bool = False,
    tokens: Iterable[str] = (),
) -> Attempt:
    return Attempt(
        authorization=list(authorization),
        path=path,
        headers=list(headers),
        data={"amount": "100"} if post else None,
        secrets=secrets(*tokens),
    )


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture(scope="module")
def sources_url(kit: Kit) -> Iterator[str]:
    # The proxy's header is trusted from 10.0.0.0/8 only: this client, on 127.0.0.1, is not the proxy. The server
    # takes the peer from the connection (no X-Forwarded-For rewriting), as it must when it trusts a header.
    settings = kit.issuer.settings(token_sources=SOURCES, trusted_proxies=["10.0.0.0/8"])
    app = Starlette(routes=[Route("/", _ok, methods=["GET", "POST"])])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    with live_server(app, proxy_headers=False) as url:
        yield url


@pytest.fixture(scope="module")
def wsgi_sources_url(kit: Kit) -> Iterator[str]:
    # Here the proxy is this client: werkzeug's server folds repeated headers into one value joined by ",".
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    settings = kit.issuer.settings(token_sources=SOURCES, trusted_proxies=["127.0.0.1"])
    with live_wsgi_server(JWTGuardWSGIMiddleware(app, settings=settings)) as url:
        yield url


def smuggle_cookie_and_header(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(authorization=[f"Bearer {one}"], headers=[("Cookie", f"at={two}")], tokens=[one, two])


def smuggle_header_and_query_on_a_websocket(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(authorization=[f"Bearer {one}"], headers=HANDSHAKE, path=f"/?access_token={two}", tokens=[one, two])


def smuggle_cookie_and_query_on_a_websocket(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    headers = [*HANDSHAKE, ("Origin", own), ("Cookie", f"at={one}")]
    return attempt(headers=headers, path=f"/?access_token={two}", tokens=[one, two])


def smuggle_subprotocol_listed_twice(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    headers = [*HANDSHAKE, ("Sec-WebSocket-Protocol", f"chat, bearer.{one}, bearer.{two}")]
    return attempt(headers=headers, tokens=[one, two])


def smuggle_the_same_subprotocol_twice(k: Kit, own: str) -> Attempt:
    one = k.token()
    return attempt(headers=[*HANDSHAKE, ("Sec-WebSocket-Protocol", f"bearer.{one}, bearer.{one}")], tokens=[one])


def smuggle_subprotocol_headers_repeated(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    headers = [*HANDSHAKE, ("Sec-WebSocket-Protocol", f"bearer.{one}"), ("Sec-WebSocket-Protocol", f"bearer.{two}")]
    return attempt(headers=headers, tokens=[one, two])


def smuggle_subprotocol_and_header(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    headers = [*HANDSHAKE, ("Sec-WebSocket-Protocol", f"bearer.{two}")]
    return attempt(authorization=[f"Bearer {one}"], headers=headers, tokens=[one, two])


def smuggle_query_twice_on_a_websocket(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(headers=HANDSHAKE, path=f"/?access_token={one}&access%5Ftoken={two}", tokens=[one, two])


def smuggle_query_and_other_name_on_an_event_stream(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(headers=[EVENT_STREAM], path=f"/?access_token={one}&access_token={two}", tokens=[one, two])


def proxy_header_from_the_client(k: Kit, own: str) -> Attempt:
    token = k.token()
    return attempt(headers=[(PROXY_HEADER, token)], tokens=[token])


def proxy_header_with_a_forged_forwarded_for(k: Kit, own: str) -> Attempt:
    token = k.token()
    headers = [(PROXY_HEADER, f"Bearer {token}"), ("X-Forwarded-For", "10.0.0.1"), ("X-Real-IP", "10.0.0.1")]
    return attempt(headers=headers, tokens=[token])


def proxy_header_next_to_a_valid_authorization(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(authorization=[f"Bearer {one}"], headers=[(PROXY_HEADER, two)], tokens=[one, two])


def cookie_post(*headers: str | tuple[str, str]) -> Build:
    """A cookie on a POST with these headers: "own" stands for the server's own origin in an `Origin`."""

    def build(k: Kit, own: str) -> Attempt:
        token = k.token()
        sent = [header if isinstance(header, tuple) else ("Origin", header.format(own=own)) for header in headers]
        return attempt(headers=[("Cookie", f"at={token}"), *sent], post=True, tokens=[token])

    return build


def other_port(own: str) -> str:
    return own.rsplit(":", 1)[0] + ":" + str(int(own.rsplit(":", 1)[1]) % 65535 + 1)


def cookie_on_a_websocket(origin: str | None) -> Build:
    def build(k: Kit, own: str) -> Attempt:
        token = k.token()
        headers = [*HANDSHAKE, ("Cookie", f"at={token}")] + ([("Origin", origin.format(own=own))] if origin else [])
        return attempt(headers=headers, tokens=[token])

    return build


def query_on_plain_http(path: str, *headers: tuple[str, str], post: bool = False) -> Build:
    def build(k: Kit, own: str) -> Attempt:
        token = k.token()
        return attempt(headers=headers, path=path.format(token=token), post=post, tokens=[token])

    return build


def token_in(place: str) -> Build:
    """Controls: one token, in one place, where it is read."""

    def build(k: Kit, own: str) -> Attempt:
        token = k.token()
        return {
            "websocket-query": attempt(headers=HANDSHAKE, path=f"/?access_token={token}", tokens=[token]),
            "websocket-subprotocol": attempt(
                headers=[*HANDSHAKE, ("Sec-WebSocket-Protocol", f"chat, bearer.{token}")], tokens=[token]
            ),
            "event-stream-query": attempt(headers=[EVENT_STREAM], path=f"/?access_token={token}", tokens=[token]),
            "cookie-same-origin": cookie_post("{own}")(k, own),
        }[place]

    return build


CASES: list[object] = [
    # a second credential, wherever it hides (RFC 6750 §3.1: one method per request)
    pytest.param(smuggle_cookie_and_header, "invalid_request", id="cookie-and-header"),
    pytest.param(smuggle_header_and_query_on_a_websocket, "invalid_request", id="header-and-query-on-a-websocket"),
    pytest.param(smuggle_cookie_and_query_on_a_websocket, "invalid_request", id="cookie-and-query-on-a-websocket"),
    pytest.param(smuggle_subprotocol_listed_twice, "invalid_request", id="subprotocol-listed-twice"),
    pytest.param(smuggle_the_same_subprotocol_twice, "invalid_request", id="same-subprotocol-twice"),
    pytest.param(smuggle_subprotocol_headers_repeated, "invalid_request", id="subprotocol-header-repeated"),
    pytest.param(smuggle_subprotocol_and_header, "invalid_request", id="subprotocol-and-header"),
    pytest.param(smuggle_query_twice_on_a_websocket, "invalid_request", id="query-encoded-name-twice"),
    pytest.param(smuggle_query_and_other_name_on_an_event_stream, "invalid_request", id="query-twice-event-stream"),
    # a proxy's header from a peer that is not the proxy
    pytest.param(proxy_header_from_the_client, "untrusted_proxy", id="proxy-header-untrusted-peer"),
    pytest.param(proxy_header_with_a_forged_forwarded_for, "untrusted_proxy", id="proxy-header-forged-forwarded-for"),
    pytest.param(proxy_header_next_to_a_valid_authorization, "untrusted_proxy", id="proxy-header-next-to-header"),
    # a cookie on an unsafe request from anywhere but this origin
    pytest.param(cookie_post(), "cross_site_request", id="cookie-no-origin"),
    pytest.param(cookie_post("null"), "cross_site_request", id="cookie-origin-null"),
    pytest.param(cookie_post("https://evil.test"), "cross_site_request", id="cookie-foreign-origin"),
    pytest.param(
        lambda k, own: cookie_post(own.replace("http://", "https://"))(k, own),
        "cross_site_request",
        id="cookie-origin-other-scheme",
    ),
    pytest.param(
        lambda k, own: cookie_post(other_port(own))(k, own), "cross_site_request", id="cookie-origin-other-port"
    ),
    pytest.param(cookie_post("{own}.evil.test"), "cross_site_request", id="cookie-origin-suffix-match"),
    pytest.param(cookie_post("{own}/"), "cross_site_request", id="cookie-origin-trailing-slash"),
    pytest.param(
        lambda k, own: cookie_post(own.replace("127.0.0.1", "localhost"))(k, own),
        "cross_site_request",
        id="cookie-origin-other-host-same-machine",
    ),
    pytest.param(cookie_post(("Sec-Fetch-Site", "same-site")), "cross_site_request", id="cookie-fetch-same-site"),
    pytest.param(cookie_post(("Sec-Fetch-Site", "cross-site")), "cross_site_request", id="cookie-fetch-cross-site"),
    pytest.param(
        cookie_post(("Sec-Fetch-Site", "same-origin, cross-site")), "cross_site_request", id="cookie-fetch-list"
    ),
    pytest.param(
        cookie_post(("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "cross-site")),
        "cross_site_request",
        id="cookie-fetch-repeated",
    ),
    pytest.param(cookie_post("https://evil.test", "{own}"), "cross_site_request", id="cookie-two-origins"),
    pytest.param(cookie_post("{own}", "https://evil.test"), "cross_site_request", id="cookie-two-origins-own-first"),
    # cross-site WebSocket hijacking: every handshake is checked, GET though it is
    pytest.param(cookie_on_a_websocket(None), "cross_site_request", id="cookie-websocket-no-origin"),
    pytest.param(cookie_on_a_websocket("https://evil.test"), "cross_site_request", id="cookie-websocket-foreign"),
    pytest.param(cookie_on_a_websocket("null"), "cross_site_request", id="cookie-websocket-null"),
    pytest.param(cookie_on_a_websocket("{own}.evil.test"), "cross_site_request", id="cookie-websocket-suffix"),
    # a token in the query of a request whose browser API could have sent a header: refused (RFC 6750 §5.3)
    pytest.param(query_on_plain_http("/?access_token={token}"), "invalid_request", id="query-plain-get"),
    pytest.param(query_on_plain_http("/?page=2&access%5Ftoken={token}"), "invalid_request", id="query-encoded-name"),
    pytest.param(query_on_plain_http("/?%61ccess_token={token}"), "invalid_request", id="query-encoded-letter"),
    pytest.param(
        query_on_plain_http("/?access_token={token}", ("Accept", "text/html")), "invalid_request", id="query-html"
    ),
    pytest.param(
        query_on_plain_http("/?access_token={token}", EVENT_STREAM, post=True),
        "invalid_request",
        id="query-event-stream-post",
    ),
    pytest.param(
        query_on_plain_http("/?access_token={token}", ("Upgrade", "h2c")), "invalid_request", id="query-other-upgrade"
    ),
    # controls: one credential where it belongs
    pytest.param(token_in("websocket-query"), "ok", id="websocket-query"),
    pytest.param(token_in("websocket-subprotocol"), "ok", id="websocket-subprotocol"),
    pytest.param(token_in("event-stream-query"), "ok", id="event-stream-query"),
    pytest.param(token_in("cookie-same-origin"), "ok", id="cookie-same-origin"),
    pytest.param(cookie_on_a_websocket("{own}"), "ok", id="cookie-websocket-same-origin"),
]


@pytest.mark.parametrize(("build", "expected"), CASES)
def test_token_sources(
    build: Build,
    expected: str,
    kit: Kit,
    sources_url: str,
    http: httpx.Client,
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    run_case(lambda k: build(k, sources_url), expected, kit, sources_url, http, jwtguard_logs)


def folded_proxy_headers(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(headers=[(PROXY_HEADER, one), (PROXY_HEADER, two)], tokens=[one, two])


def comma_list_in_a_proxy_header(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(headers=[(PROXY_HEADER, f"{one}, Bearer {two}")], tokens=[one, two])


def folded_cookie_headers(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(headers=[("Cookie", f"at={one}"), ("Cookie", f"at={two}")], tokens=[one, two])


def folded_cookie_and_proxy_header(k: Kit, own: str) -> Attempt:
    one, two = k.token(), k.token(sub="mallory")
    return attempt(headers=[("Cookie", "theme=dark"), ("Cookie", f"at={one}"), (PROXY_HEADER, two)], tokens=[one, two])


def proxy_header_alone(k: Kit, own: str) -> Attempt:
    token = k.token()
    return attempt(headers=[(PROXY_HEADER, token)], tokens=[token])


def cookie_in_a_second_header(k: Kit, own: str) -> Attempt:
    token = k.token()
    return attempt(headers=[("Cookie", "theme=dark"), ("Cookie", f"at={token}")], tokens=[token])


WSGI_CASES: list[object] = [
    pytest.param(folded_proxy_headers, "invalid_request", id="proxy-header-repeated-and-folded"),
    pytest.param(comma_list_in_a_proxy_header, "invalid_request", id="proxy-header-comma-list"),
    pytest.param(folded_cookie_headers, "invalid_request", id="cookie-headers-folded"),
    pytest.param(folded_cookie_and_proxy_header, "invalid_request", id="folded-cookie-and-proxy-header"),
    pytest.param(proxy_header_alone, "ok", id="proxy-header-from-the-proxy"),
    pytest.param(cookie_in_a_second_header, "ok", id="cookie-in-a-second-folded-header"),
]


@pytest.mark.parametrize(("build", "expected"), WSGI_CASES)
def test_token_sources_behind_a_wsgi_server(
    build: Build,
    expected: str,
    kit: Kit,
    wsgi_sources_url: str,
    http: httpx.Client,
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    run_case(lambda k: build(k, wsgi_sources_url), expected, kit, wsgi_sources_url, http, jwtguard_logs)
