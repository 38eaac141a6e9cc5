"""Token sources (`token_sources`): WebSockets in a real Starlette app (subprotocol, query, cookie), and the
sources themselves: their text forms, peers, cookie parsing, the request's own origin, the log record."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from jwtguard import ConfigurationError, CrossSiteRequest, InvalidRequest, JWTGuardMiddleware, Settings, UntrustedProxy
from jwtguard._request import RequestInfo, own_origin
from jwtguard.bearer import AUTHORIZATION_HEADER
from jwtguard.sources import CookieSource, HeaderSource, QuerySource, SubprotocolSource, query_values, source_from
from jwtguard.testing import DevIssuer

from .conftest import records

OWN = "http://testserver"  # the origin of Starlette's test client's requests
BASE: dict[str, Any] = {"issuer": "https://issuer.test", "audience": "api", "jwks_uri": "http://127.0.0.1:9/jwks.json"}


# -- WebSockets, through the ASGI middleware --------------------------------------------------------


async def socket(websocket: WebSocket) -> None:
    """Tells what it was given; accepts with the subprotocol `accept-with` names, else the first it sees."""
    wanted = websocket.query_params.get("accept-with")
    offered = list(websocket.scope.get("subprotocols", []))
    await websocket.accept(subprotocol=wanted or (offered[0] if offered else None))
    await websocket.send_json(
        {
            "sub": websocket.user.identity,
            "subprotocols": offered,
            "header": [
                value.decode() for name, value in websocket.scope["headers"] if name == b"sec-websocket-protocol"
            ],
        }
    )
    await websocket.close()


@pytest.fixture
def ws_client(issuer: DevIssuer) -> Iterator[TestClient]:
    settings = issuer.settings(token_sources=["authorization", "subprotocol", "query", "cookie:at"])
    app = Starlette(routes=[WebSocketRoute("/ws", socket)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    with TestClient(app) as client:
        yield client


def connect(client: TestClient, path: str = "/ws", **options: Any) -> tuple[dict[str, Any], str | None]:
    with client.websocket_connect(path, **options) as websocket:
        return websocket.receive_json(), websocket.accepted_subprotocol


def denied(client: TestClient, path: str = "/ws", **options: Any) -> tuple[int, str]:
    with pytest.raises(WebSocketDenialResponse) as denial:
        connect(client, path, **options)
    return denial.value.status_code, denial.value.json()["code"]


def test_a_subprotocol_token_is_accepted_and_hidden_from_the_app(ws_client: TestClient, issuer: DevIssuer) -> None:
    token = issuer.token(subject="ann")
    seen, accepted = connect(ws_client, subprotocols=["chat.v1", f"bearer.{token}", "chat.v2"])
    assert seen == {"sub": "ann", "subprotocols": ["chat.v1", "chat.v2"], "header": ["chat.v1, chat.v2"]}
    assert accepted == "chat.v1"


def test_a_credential_alone_leaves_no_subprotocol_header(ws_client: TestClient, issuer: DevIssuer) -> None:
    seen, accepted = connect(ws_client, subprotocols=[f"bearer.{issuer.token(subject='ann')}"])
    assert seen == {"sub": "ann", "subprotocols": [], "header": []}
    assert accepted is None


def test_the_accept_never_echoes_the_credential(ws_client: TestClient, issuer: DevIssuer) -> None:
    # An app that accepts with the credential's subprotocol (it read it elsewhere, or guessed): not sent back.
    token = issuer.token(subject="ann")
    seen, accepted = connect(ws_client, f"/ws?accept-with=bearer.{token}", subprotocols=["chat", f"bearer.{token}"])
    assert seen["sub"] == "ann"
    assert accepted is None


def test_a_query_token_is_accepted_on_a_websocket(ws_client: TestClient, issuer: DevIssuer) -> None:
    seen, _ = connect(ws_client, f"/ws?access_token={issuer.token(subject='ann')}")
    assert seen["sub"] == "ann"


def test_two_subprotocol_credentials_are_refused(ws_client: TestClient, issuer: DevIssuer) -> None:
    offered = [f"bearer.{issuer.token(subject='ann')}", f"bearer.{issuer.token(subject='bob')}"]
    assert denied(ws_client, subprotocols=offered) == (400, "invalid_request")


def test_a_subprotocol_and_a_header_are_two_credentials(ws_client: TestClient, issuer: DevIssuer) -> None:
    options: dict[str, Any] = {
        "subprotocols": [f"bearer.{issuer.token(subject='ann')}"],
        "headers": {"Authorization": f"Bearer {issuer.token(subject='ann')}"},
    }
    assert denied(ws_client, **options) == (400, "invalid_request")


@pytest.mark.parametrize("origin", [None, "https://evil.test", "null", "https://testserver", "http://testserver:8080"])
def test_a_cookie_on_a_cross_site_handshake_is_refused(
    ws_client: TestClient, issuer: DevIssuer, origin: str | None
) -> None:
    # Cross-site WebSocket hijacking: a page elsewhere opens a socket, the browser attaches the cookie.
    headers = {"Cookie": f"at={issuer.token(subject='ann')}", **({"Origin": origin} if origin else {})}
    assert denied(ws_client, headers=headers) == (403, "cross_site_request")


@pytest.mark.parametrize("same_site", [{"Origin": OWN}, {"Sec-Fetch-Site": "same-origin"}])
def test_a_cookie_on_a_same_site_handshake_is_accepted(
    ws_client: TestClient, issuer: DevIssuer, same_site: dict[str, str]
) -> None:
    seen, _ = connect(ws_client, headers={"Cookie": f"at={issuer.token(subject='ann')}", **same_site})
    assert seen["sub"] == "ann"


# -- source_from and settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "name"),
    [
        ("authorization", type(AUTHORIZATION_HEADER), "authorization"),
        (" Authorization ", type(AUTHORIZATION_HEADER), "authorization"),
        ("header:X-Forwarded-Access-Token", HeaderSource, "header:x-forwarded-access-token"),
        ("HEADER: cf-access-jwt-assertion", HeaderSource, "header:cf-access-jwt-assertion"),
        ("cookie:at", CookieSource, "cookie:at"),
        ("cookie:__Host-at", CookieSource, "cookie:__Host-at"),
        ("subprotocol", SubprotocolSource, "subprotocol:bearer."),
        ("subprotocol:base64url.bearer.authorization.k8s.io.", SubprotocolSource, None),
        ("query", QuerySource, "query:access_token"),
        ("query:token", QuerySource, "query:token"),
    ],
)
def test_source_text_forms(spec: str, kind: type, name: str | None) -> None:
    source = source_from(spec)
    assert isinstance(source, kind)
    assert source.name == (name or f"subprotocol:{spec.partition(':')[2]}")
    assert source_from(source) is source  # an object is taken as it is


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "bearer",
        "authorization:x",
        "header",
        "header:",
        "header:authorization",
        "header:x token",
        "header:x:y",
        "cookie",
        "cookie:",
        "cookie:a=b",
        "cookie:a;b",
        'cookie:"at"',
        "subprotocol:bearer .",
        "subprotocol:a,b",
        "query:a&b",
        "query:a=b",
        "query:a b",
        "body:access_token",
    ],
)
def test_source_text_forms_refused(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="token_sources"):
        source_from(spec)


def test_source_objects_and_settings_refused() -> None:
    with pytest.raises(ConfigurationError, match="neither a token source"):
        source_from(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        source_from("header:x-token", trusted_proxies=["proxy.internal"])
    with pytest.raises(ConfigurationError, match="not '\\*' or 'null'"):
        CookieSource("at", trusted_origins=["null"])
    with pytest.raises(ConfigurationError, match="listed twice"):
        Settings(**BASE, token_sources=["cookie:at", "cookie:at"])
    with pytest.raises(ConfigurationError, match="at least one"):
        Settings(**BASE, token_sources=[])


def test_token_sources_from_the_environment() -> None:
    environ = {
        "JWTGUARD_ISSUER": "https://issuer.test",
        "JWTGUARD_AUDIENCE": "api",
        "JWTGUARD_JWKS_URI": "http://127.0.0.1:9/jwks.json",
        "JWTGUARD_TOKEN_SOURCES": "authorization, cookie:at",
        "JWTGUARD_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
    }
    settings = Settings.from_env(environ)
    assert [source.name for source in settings.sources] == ["authorization", "cookie:at"]
    assert settings.sources[0] is AUTHORIZATION_HEADER
    assert list(settings.trusted_proxies) == ["10.0.0.0/8", "::1"]


def test_a_proxy_header_without_trusted_proxies_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        Settings(**BASE, token_sources=["header:x-token"])
    assert "header:x-token accepts the header from any peer" in caplog.text


# -- the sources, on request records -----------------------------------------------------------------


def scope(
    headers: Sequence[tuple[str, str]] = (),
    *,
    method: str = "GET",
    client: str | None = "127.0.0.1",
    kind: str = "http",
    scheme: str = "http",
    query: str = "",
) -> RequestInfo:
    raw: dict[str, Any] = {
        "type": kind,
        "scheme": scheme,
        "method": method,
        "path": "/",
        "query_string": query.encode(),
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": (client, 5000) if client else None,
    }
    return RequestInfo.from_scope(raw)


def environ(headers: dict[str, str], *, method: str = "GET", scheme: str = "http", **more: str) -> RequestInfo:
    raw = {"REQUEST_METHOD": method, "PATH_INFO": "/", "wsgi.url_scheme": scheme, **more}
    raw.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return RequestInfo.from_environ(raw)


@pytest.mark.parametrize(
    ("client", "trusted"),
    [
        ("10.1.2.3", True),
        ("::ffff:10.1.2.3", True),  # a dual-stack server's IPv4-mapped peer: the IPv4 address
        ("::ffff:192.0.2.1", False),
        ("192.0.2.1", False),
        ("fd00::5", True),
        ("fd01::5", False),
        ("127.0.0.1", False),
        ("testclient", False),  # Starlette's test client: not an address, never trusted
        ("/run/app.sock", False),
        (None, False),
    ],
)
def test_a_proxy_header_from_trusted_peers_only(client: str | None, trusted: bool) -> None:
    source = HeaderSource("X-Token", trusted_proxies=["10.0.0.0/8", "fd00::/16"])
    request = scope([("x-token", "a.b.c")], client=client)
    if trusted:
        assert source.credentials(request) == "Bearer a.b.c"
    else:
        with pytest.raises(UntrustedProxy):
            source.credentials(request)


def test_a_proxy_header_as_it_comes() -> None:
    # An entry written as the IPv4-mapped address a dual-stack server reports matches that peer, both ways.
    source = HeaderSource("x-token", trusted_proxies=["::ffff:10.0.0.1"])
    assert source.credentials(scope([("x-token", "Bearer a.b.c")], client="::ffff:10.0.0.1")) == "Bearer a.b.c"
    assert source.credentials(scope([("x-token", "Bearer a.b.c")], client="10.0.0.1")) == "Bearer a.b.c"
    with pytest.raises(UntrustedProxy):
        source.credentials(scope([("x-token", "Bearer a.b.c")], client="10.0.0.2"))
    network = HeaderSource("x-token", trusted_proxies=["::ffff:10.0.0.0/104"])  # 10.0.0.0/8, mapped
    assert network.credentials(scope([("x-token", "a.b.c")], client="10.9.8.7")) == "Bearer a.b.c"
    assert network.credentials(scope([("x-token", "a.b.c")], client="::ffff:10.9.8.7")) == "Bearer a.b.c"
    with pytest.raises(UntrustedProxy):
        network.credentials(scope([("x-token", "a.b.c")], client="11.0.0.1"))
    untrusted = HeaderSource("x-token")  # no trusted_proxies: any peer
    assert untrusted.credentials(scope([("x-token", " a.b.c ")])) == "Bearer a.b.c"
    assert untrusted.credentials(scope([("x-token", "Bearer a.b.c")])) == "Bearer a.b.c"
    assert untrusted.credentials(scope([("x-token", "  ")])) is None  # blank: no credential
    with pytest.raises(InvalidRequest):
        untrusted.credentials(scope([("x-token", "a.b.c"), ("X-Token", "d.e.f")]))


@pytest.mark.parametrize(
    ("cookies", "found"),
    [
        (["at=a.b.c"], "Bearer a.b.c"),
        (["theme=dark; at=a.b.c; lang=en"], "Bearer a.b.c"),
        (["theme=dark;at=a.b.c"], "Bearer a.b.c"),
        (["  at  =  a.b.c  "], "Bearer a.b.c"),
        (["at="], None),  # emptied on sign-out: no credential
        (["at"], None),
        (["at=;theme=dark"], None),
        (["xat=a.b.c"], None),
        (["at_=a.b.c; AT=a.b.c"], None),  # cookie names are case-sensitive
        (["theme=at=a.b.c"], None),
        (['at="a.b.c"'], 'Bearer "a.b.c"'),  # kept as sent: the bearer parser refuses the quotes
        (["theme=dark", "at=a.b.c"], "Bearer a.b.c"),  # two Cookie headers (HTTP/2 crumbs)
        (["theme=dark,at=a.b.c"], "Bearer a.b.c"),  # the same, folded by a WSGI server
    ],
)
def test_cookie_parsing(cookies: list[str], found: str | None) -> None:
    assert CookieSource("at").credentials(scope([("cookie", value) for value in cookies])) == found


@pytest.mark.parametrize(
    "cookies", [["at=a.b.c; at=d.e.f"], ["at=a.b.c", "at=d.e.f"], ["at=a.b.c,at=d.e.f"], ["at=a.b.c; at=a.b.c"]]
)
def test_a_cookie_twice_is_refused(cookies: list[str]) -> None:
    with pytest.raises(InvalidRequest):
        CookieSource("at").credentials(scope([("cookie", value) for value in cookies]))


def test_the_csrf_check() -> None:
    source = CookieSource("at", trusted_origins=["https://app.example.test/"])
    cookie = ("cookie", "at=a.b.c")
    host = ("host", "api.example.test")
    for method in ("GET", "HEAD", "OPTIONS"):  # safe methods: no check
        assert source.credentials(scope([cookie, host, ("origin", "https://evil.test")], method=method))
    for headers in (
        [("origin", "http://api.example.test")],
        [("origin", "https://app.example.test")],
        [("sec-fetch-site", "same-origin"), ("origin", "https://evil.test")],
    ):
        assert source.credentials(scope([cookie, host, *headers], method="POST")), headers
    for headers in (
        [],
        [("origin", "null")],
        [("origin", "https://api.example.test")],  # another scheme
        [("origin", "http://api.example.test:8080")],  # another port
        [("origin", "http://api.example.test.evil.test")],
        [("origin", "http://evil.api.example.test")],
        [("sec-fetch-site", "same-site")],
        [("sec-fetch-site", "same-origin"), ("sec-fetch-site", "same-origin")],
        [("origin", "https://evil.test"), ("origin", "http://api.example.test")],  # not the last one's say
        [("origin", "http://api.example.test"), ("origin", "http://api.example.test")],
    ):
        with pytest.raises(CrossSiteRequest):
            source.credentials(scope([cookie, host, *headers], method="POST"))
    # Every WebSocket handshake is checked, over ASGI and as a WSGI upgrade request.
    with pytest.raises(CrossSiteRequest):
        source.credentials(scope([cookie, host], kind="websocket", scheme="ws"))
    with pytest.raises(CrossSiteRequest):
        source.credentials(environ({"Cookie": "at=a.b.c", "Host": "api.example.test", "Upgrade": "websocket"}))
    assert CookieSource("at", csrf=False).credentials(scope([cookie, host], method="POST")) == "Bearer a.b.c"


@pytest.mark.parametrize(
    ("request_info", "origin"),
    [
        (scope([("host", "API.example.test")]), "http://api.example.test"),
        (scope([("host", "api.example.test:80")]), "http://api.example.test"),
        (scope([("host", "api.example.test:443")], scheme="https"), "https://api.example.test"),
        (scope([("host", "api.example.test:443")]), "http://api.example.test:443"),
        (scope([("host", "api.example.test:8443")], scheme="https"), "https://api.example.test:8443"),
        (scope([("host", "api.example.test")], kind="websocket", scheme="ws"), "http://api.example.test"),
        (scope([("host", "api.example.test:443")], kind="websocket", scheme="wss"), "https://api.example.test"),
        (scope([("host", "[::1]:8000")]), "http://[::1]:8000"),
        (scope([]), None),
        (scope([("host", "a.test"), ("host", "b.test")]), None),  # ambiguous: never same-origin
        (environ({"Host": "api.example.test:443"}, scheme="https"), "https://api.example.test"),
        (environ({}, SERVER_NAME="testserver", SERVER_PORT="80"), "http://testserver"),  # no Host: PEP 3333
        (environ({}, scheme="https", SERVER_NAME="api.test", SERVER_PORT="8443"), "https://api.test:8443"),
        (environ({}), None),
    ],
)
def test_own_origin(request_info: RequestInfo, origin: str | None) -> None:
    assert own_origin(request_info) == origin


def test_subprotocols_and_queries_are_read_where_browsers_need_them() -> None:
    subprotocol, query = SubprotocolSource(), QuerySource()
    offered = ("sec-websocket-protocol", "chat, bearer.a.b.c")
    assert subprotocol.credentials(scope([offered], kind="websocket")) == "Bearer a.b.c"
    assert subprotocol.credentials(scope([offered])) is None  # not a WebSocket
    assert subprotocol.hides(" bearer.x")
    assert not subprotocol.hides("chat")
    assert query.credentials(scope(kind="websocket", query="access_token=a.b.c")) == "Bearer a.b.c"
    assert query.credentials(scope([("accept", "text/event-stream")], query="access_token=a.b.c")) == "Bearer a.b.c"
    assert query.credentials(scope(query="access_token=a.b.c")) is None
    assert query.credentials(scope([("accept", "text/event-stream")], method="POST", query="access_token=x")) is None
    assert query_values("a=1&access%5Ftoken=x+y&access_token=z", "access_token") == ["x y", "z"]
    with pytest.raises(InvalidRequest):
        query.credentials(scope(kind="websocket", query="access_token=a.b.c&access_token=d.e.f"))


# -- the log -------------------------------------------------------------------------------------------


def test_the_log_names_the_source_never_the_token(issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture) -> None:
    settings = issuer.settings(token_sources=["authorization", "cookie:at"])
    app = Starlette(routes=[WebSocketRoute("/ws", socket)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    client = TestClient(app)
    token = issuer.token(subject="ann")
    expired = issuer.token(subject="ann", expires_in=-600)
    connect(client, headers={"Cookie": f"at={token}", "Origin": OWN})
    denied(client, headers={"Cookie": f"at={expired}", "Origin": OWN})
    denied(client, headers={"Cookie": f"at={token}", "Origin": "https://evil.test"})
    [accepted] = records(jwtguard_logs, "ok")
    [expiry] = records(jwtguard_logs, "token_expired")
    [cross_site] = records(jwtguard_logs, "cross_site_request")
    assert accepted["source"] == expiry["source"] == cross_site["source"] == "cookie:at"
    assert "(token from cookie:at)" in expiry["message"]
    for secret in (token, expired, token.rsplit(".", 1)[1], expired.rsplit(".", 1)[1]):
        assert secret not in jwtguard_logs.text
        for record in jwtguard_logs.records:
            assert all(secret not in str(value) for value in vars(record).values())
