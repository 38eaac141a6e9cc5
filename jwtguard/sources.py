"""Where a request may carry its token: the `Authorization` header (the default), and, when configured, another
header set by a trusted proxy, a cookie, a WebSocket subprotocol or a query parameter.

Each source returns what it finds in the shape of an `Authorization` value (`"Bearer <token>"`), so that one
parser checks every token's syntax and size. The guard asks every source and accepts exactly one credential per
request: credentials in two places (or twice in one) are 400 `invalid_request` (RFC 6750 §3.1).

What each costs in security:

- `HeaderSource`: any client can set a header. Give it `trusted_proxies` (the addresses of the proxy that sets it)
  unless every request reaches the application through that proxy; from another peer it is 403 `untrusted_proxy`.
- `CookieSource`: browsers attach cookies to requests other sites make them send. On unsafe methods (all but GET,
  HEAD and OPTIONS) and WebSocket handshakes the request must come from this site (`Sec-Fetch-Site: same-origin`,
  or an `Origin` that is this site's or one of `trusted_origins`); otherwise it is 403 `cross_site_request`.
- `SubprotocolSource`: for browser WebSockets, which cannot set headers. The credential is removed from the
  subprotocols the application sees; the client must also offer a real subprotocol for the application to pick.
- `QuerySource`: only on WebSocket handshakes and `text/event-stream` requests, never on plain HTTP (where a token
  in the query is 400 `invalid_request`, RFC 6750 §5.3). URLs end up in access logs: prefer a subprotocol.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import unquote_plus

from ._request import RequestInfo, header_values, own_origin
from .bearer import AUTHORIZATION_HEADER, COMMON_PREFIXES, AuthorizationHeader, TokenSource
from .errors import ConfigurationError, CrossSiteRequest, InvalidRequest, UntrustedProxy

__all__ = [
    "AUTHORIZATION_HEADER",
    "SAFE_METHODS",
    "AuthorizationHeader",
    "CookieSource",
    "HeaderSource",
    "Network",
    "QuerySource",
    "SubprotocolSource",
    "TokenSource",
    "from_peer_in",
    "is_event_stream",
    "is_websocket",
    "proxy_network",
    "query_values",
    "source_from",
]

#: Methods a browser may send cross-site without a CSRF check on a cookie-carried token (RFC 9110 §9.2.1 safe
#: methods; TRACE is not among them, since browsers refuse to send it). WebSocket handshakes are not safe.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _bearer(value: str) -> str:
    """A source's raw token as an `Authorization` value, for the one parser every token goes through."""
    return value if value[:7] in COMMON_PREFIXES else "Bearer " + value


def _several(where: str) -> InvalidRequest:
    return InvalidRequest(f"several credentials in {where}", details={"source": where})


def is_websocket(request: RequestInfo) -> bool:
    """An ASGI WebSocket scope, or a WSGI request asking to upgrade to one."""
    if request.method == "WEBSOCKET":
        return True
    return request.method == "GET" and any(
        value.strip().lower() == "websocket" for value in header_values(request, "upgrade")
    )


def is_event_stream(request: RequestInfo) -> bool:
    """A GET that accepts `text/event-stream` (what a browser's `EventSource` sends)."""
    return request.method == "GET" and any(
        "text/event-stream" in value.lower() for value in header_values(request, "accept")
    )


def query_values(query_string: str, parameter: str) -> list[str]:
    """The values of `parameter` in a raw query string, names and values percent-decoded as frameworks do."""
    if parameter not in query_string and "%" not in query_string:
        return []
    found = []
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        if name == parameter or ("%" in name and unquote_plus(name) == parameter):
            found.append(unquote_plus(value))
    return found


class HeaderSource:
    """A token in a header a proxy sets: the raw token, or `Bearer <token>` (oauth2-proxy's
    `X-Forwarded-Access-Token`, Google IAP's `X-Goog-IAP-JWT-Assertion`, Cloudflare's `Cf-Access-Jwt-Assertion`).

    With `trusted_proxies` (addresses or networks, e.g. `"10.0.0.0/8"`), the header is accepted only from a peer
    in one of them: from any other it is 403 `untrusted_proxy`. The peer is the server's client address: behind
    a server that rewrites it from `X-Forwarded-For` (uvicorn's `--proxy-headers`), that is the forwarded one.
    """

    __slots__ = ("header", "name", "trusted_proxies")

    def __init__(self, header: str, *, trusted_proxies: Iterable[str] = ()) -> None:
        header = header.strip().lower()
        if not header or any(char in header for char in " :\t\r\n"):
            raise ConfigurationError(f"token_sources: {header!r} is not a header name")
        if header == "authorization":
            raise ConfigurationError("token_sources: the Authorization header is the 'authorization' source")
        self.header = header
        self.name = f"header:{header}"
        self.trusted_proxies: tuple[Network, ...] = tuple(proxy_network(entry) for entry in trusted_proxies)

    def credentials(self, request: RequestInfo) -> str | None:
        values = [value for value in header_values(request, self.header) if value.strip(" \t")]
        if not values:
            return None
        if self.trusted_proxies and not from_peer_in(request.client, self.trusted_proxies):
            raise UntrustedProxy(f"{self.header} from a peer outside trusted_proxies", details={"peer": request.client})
        if len(values) > 1:
            raise _several(self.name)
        return _bearer(values[0].strip(" \t"))

    def __repr__(self) -> str:
        return f"HeaderSource({self.header!r}, trusted_proxies={[str(net) for net in self.trusted_proxies]!r})"


class CookieSource:
    """A token in a cookie (a backend-for-frontend's HttpOnly session of the access token).

    `csrf` (on by default) refuses the cookie on unsafe requests a browser did not send from this site; see the
    module's docstring. `trusted_origins` are further origins (`https://app.example.com`) whose pages may send it.
    Two cookies of that name (one planted by a sibling subdomain, say) are 400 `invalid_request`.
    """

    __slots__ = ("cookie", "csrf", "name", "trusted_origins")

    def __init__(self, cookie: str, *, csrf: bool = True, trusted_origins: Iterable[str] = ()) -> None:
        cookie = cookie.strip()
        if not cookie or any(char in cookie for char in ' ;=,\t"'):
            raise ConfigurationError(f"token_sources: {cookie!r} is not a cookie name")
        self.cookie = cookie
        self.csrf = csrf
        self.name = f"cookie:{cookie}"
        self.trusted_origins = frozenset(origin.rstrip("/") for origin in trusted_origins)
        if "*" in self.trusted_origins or "null" in self.trusted_origins:
            raise ConfigurationError("token_sources: a cookie's trusted_origins must name origins, not '*' or 'null'")

    def credentials(self, request: RequestInfo) -> str | None:
        # WSGI servers (werkzeug, gunicorn, wsgiref) fold two Cookie headers into one value joined by ",", not
        # "; ": split on both, or a cookie in the second header would be lost (or glued to the first's value).
        # A cookie value cannot hold a comma (RFC 6265 §4.1.1), nor can a token.
        found = [
            value.strip(" \t")
            for header in header_values(request, "cookie")
            for pair in header.replace(",", ";").split(";")
            for name, _, value in (pair.partition("="),)
            if name.strip(" \t") == self.cookie and value.strip(" \t")  # an emptied cookie: signed out
        ]
        if not found:
            return None
        if len(found) > 1:
            raise _several(self.name)
        if self.csrf and (request.method not in SAFE_METHODS or is_websocket(request)):
            self._check_site(request)
        return _bearer(found[0])

    def _check_site(self, request: RequestInfo) -> None:
        fetch_site = header_values(request, "sec-fetch-site")
        if fetch_site == ["same-origin"]:
            return
        # Exactly one Origin: `request.origin` is the last of several, where a WSGI server would fold them into
        # one value that matches nothing. A browser sends one; two are refused on every stack alike.
        origins = header_values(request, "origin")
        origin = origins[0] if len(origins) == 1 else None
        if origin is not None and (origin == own_origin(request) or origin in self.trusted_origins):
            return
        raise CrossSiteRequest(
            f"{self.name} on a {request.method} request from another site",
            details={
                "origin": origins[0] if len(origins) == 1 else origins or None,
                "sec_fetch_site": fetch_site[0] if len(fetch_site) == 1 else fetch_site or None,
            },
        )

    def __repr__(self) -> str:
        return f"CookieSource({self.cookie!r}, csrf={self.csrf!r}, trusted_origins={sorted(self.trusted_origins)!r})"


class SubprotocolSource:
    """A token in a WebSocket subprotocol, `<prefix><token>` (Kubernetes' way for browser WebSockets), read on
    WebSocket handshakes only. The ASGI middleware removes it from `scope["subprotocols"]` and from the
    `Sec-WebSocket-Protocol` header the application sees, and never lets the accept echo it.
    """

    __slots__ = ("name", "prefix")

    def __init__(self, prefix: str = "bearer.") -> None:
        if not prefix or any(char in prefix for char in ' ,;"\t'):
            raise ConfigurationError(f"token_sources: {prefix!r} is not a subprotocol prefix")
        self.prefix = prefix
        self.name = f"subprotocol:{prefix}"

    def credentials(self, request: RequestInfo) -> str | None:
        if not is_websocket(request):
            return None
        raw = request.raw
        offered: list[str]
        if raw is not None and isinstance(raw.get("subprotocols"), list | tuple):
            # ASGI's own field: some servers (uvicorn with wsproto) leave the header out of `headers`.
            offered = [str(protocol).strip(" \t") for protocol in raw["subprotocols"]]
        else:
            offered = [
                part.strip(" \t")
                for header in header_values(request, "sec-websocket-protocol")
                for part in header.split(",")
            ]
        found = [protocol[len(self.prefix) :] for protocol in offered if protocol.startswith(self.prefix)]
        if not found:
            return None
        if len(found) > 1:
            raise _several(self.name)
        return _bearer(found[0])

    def hides(self, protocol: str) -> bool:
        """True for a subprotocol that carries a credential: the application never sees it."""
        return protocol.strip(" \t").startswith(self.prefix)

    def __repr__(self) -> str:
        return f"SubprotocolSource({self.prefix!r})"


class QuerySource:
    """A token in a query parameter (`access_token` by default), read only on WebSocket handshakes and
    `text/event-stream` requests, whose browser APIs cannot set headers. Anywhere else a token in the query is
    refused (400 `invalid_request`), as it is without this source."""

    __slots__ = ("name", "parameter")

    def __init__(self, parameter: str = "access_token") -> None:
        if not parameter or any(char in parameter for char in "&=#? \t"):
            raise ConfigurationError(f"token_sources: {parameter!r} is not a query parameter name")
        self.parameter = parameter
        self.name = f"query:{parameter}"

    def applies(self, request: RequestInfo) -> bool:
        """True for the requests this source reads: WebSocket handshakes and event streams."""
        return is_websocket(request) or is_event_stream(request)

    def credentials(self, request: RequestInfo) -> str | None:
        if not request.query_string or not self.applies(request):
            return None
        found = query_values(request.query_string, self.parameter)
        if not found:
            return None
        if len(found) > 1:
            raise _several(self.name)
        return _bearer(found[0])

    def __repr__(self) -> str:
        return f"QuerySource({self.parameter!r})"


def source_from(spec: TokenSource | str, *, trusted_proxies: Sequence[str] = ()) -> TokenSource:
    """A token source from its text form: `authorization`, `header:NAME`, `cookie:NAME`, `subprotocol:PREFIX`
    or `query:NAME` (`subprotocol` and `query` alone take the defaults). `trusted_proxies` applies to `header:`."""
    if not isinstance(spec, str):
        if not isinstance(spec, TokenSource):
            raise ConfigurationError(f"token_sources: {spec!r} is neither a token source nor its text form")
        return spec
    kind, _, argument = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "authorization" and not argument:
        return AUTHORIZATION_HEADER
    if kind == "header" and argument:
        return HeaderSource(argument, trusted_proxies=trusted_proxies)
    if kind == "cookie" and argument:
        return CookieSource(argument)
    if kind == "subprotocol":
        return SubprotocolSource(argument) if argument else SubprotocolSource()
    if kind == "query":
        return QuerySource(argument) if argument else QuerySource()
    raise ConfigurationError(
        f"token_sources: {spec!r} is not one of authorization, header:NAME, cookie:NAME, subprotocol[:PREFIX], "
        "query[:NAME]"
    )


def proxy_network(entry: str) -> Network:
    """One `trusted_proxies` entry (an address or a network) as a network; `ConfigurationError` if it is neither."""
    try:
        network = ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise ConfigurationError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
    # An entry copied from a dual-stack server's log (::ffff:10.0.0.1) is the IPv4 one: peers are compared as
    # IPv4 once unmapped, and an IPv6 network never contains an IPv4 address, so it would never match.
    mapped = network.network_address.ipv4_mapped if isinstance(network, ipaddress.IPv6Network) else None
    if mapped is not None and network.prefixlen >= 96:
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def from_peer_in(client: str | None, networks: tuple[Network, ...]) -> bool:
    """True when the client address is in one of `networks` (an IPv4-mapped IPv6 address as its IPv4 one)."""
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False  # a Unix socket path, or nothing an address can be read from
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
