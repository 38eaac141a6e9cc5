"""HTTP for keys: the URL rules, a JSON fetch within a deadline, discovery and its checks, what the response
headers say (Cache-Control TTL, the server's clock), and the default fetcher with a bounded body."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import ipaddress
import json
import re
import socket
import threading
import time
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ._logging import sanitize
from ._version import __version__
from .errors import ConfigurationError, FetchError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FetchError",
    "FetchResponse",
    "Fetcher",
    "HttpxFetcher",
    "cache_ttl",
    "check_key_url",
    "discover_jwks_uri",
    "fetch_json",
    "issuer_mismatch",
    "redact_url",
    "server_clock_offset",
]

_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# RFC 3986 appendix B: scheme, authority, path, query, fragment. Matches every string.
_URL_PARTS = re.compile(
    r"(?P<scheme>[^:/?#]+:)?(?://(?P<authority>[^/?#]*))?(?P<path>[^?#]*)(?P<query>\?[^#]*)?(?P<fragment>#.*)?",
    re.DOTALL,
)


def redact_url(url: str) -> str:
    """`url` as it may be shown: userinfo, query and fragment replaced by `***`.

    `https://user:secret@idp.example/keys?token=x` becomes `https://***@idp.example/keys?***`. Key URLs
    may carry credentials; wherever one is logged, reported, printed or put in a message it goes through
    here, and only the fetch itself sees the real URL.
    """
    parts = _URL_PARTS.fullmatch(url)
    if parts is None:  # unreachable: every group is optional
        return "***"
    scheme, authority, path = parts["scheme"] or "", parts["authority"], parts["path"]
    if authority is not None:
        shown = f"{scheme}//{'***@' if '@' in authority else ''}{authority.rpartition('@')[2]}{path}"
    else:  # no "//": a userinfo-looking prefix ("user:pw@host/...") is hidden all the same
        head, slash, tail = (scheme + path).partition("/")
        shown = f"{'***@' if '@' in head else ''}{head.rpartition('@')[2]}{slash}{tail}"
    query, fragment = parts["query"] or "", parts["fragment"] or ""
    return shown + ("?***" if len(query) > 1 else query) + ("#***" if len(fragment) > 1 else fragment)


def check_key_url(url: str, what: str) -> None:
    """Refuse key URLs an attacker on the network could answer: https only, plain http on loopback."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{what} must be a URL string, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid URL: {redact_url(url)!r}") from None
    if parts.scheme == "https" and hostname:
        return
    if parts.scheme == "http" and hostname and _is_loopback(hostname):
        return
    raise ConfigurationError(
        f"{what} must be an https:// URL (plain http:// is allowed only for 127.0.0.1 and localhost), "
        f"got {redact_url(url)!r}"
    )


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """What a fetcher returns: the status, the headers (lower-case names) and the body."""

    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Fetcher(Protocol):
    """Fetches one URL within `timeout` seconds and at most `max_bytes`; raises `FetchError` on failure."""

    def __call__(self, url: str, *, timeout: float, max_bytes: int) -> FetchResponse: ...


_TIMED_OUT = "timed out (jwks_timeout)"
_TOO_LARGE = "response larger than jwks_max_bytes"


def fetch_json(
    fetcher: Fetcher, url: str, *, deadline: float, max_bytes: int, what: str = "key endpoint"
) -> tuple[Any, Mapping[str, str]]:
    """The JSON document at `url` and the response headers, fetched before `deadline` (`time.monotonic()`).

    Raises `FetchError` when the time is up, the answer is not a 200, is larger than `max_bytes` (whatever
    the fetcher did) or is not JSON. `what` names the endpoint in the message.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(_TIMED_OUT)
    response = fetcher(url, timeout=remaining, max_bytes=max_bytes)
    if response.status != 200:
        raise _status_error(response, what)
    if len(response.content) > max_bytes:
        raise FetchError(_TOO_LARGE)
    try:
        return json.loads(response.content), response.headers
    except (ValueError, RecursionError):
        if _looks_like_html(response):
            raise FetchError(
                f"configuration error: the {what} at {redact_url(url)} answers an HTML page, not JSON: "
                "the URL points at a web page (a login or home page?), not at the document itself",
                configuration=True,
            ) from None
        raise FetchError("response is not JSON") from None


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _status_error(response: FetchResponse, what: str) -> FetchError:
    """The error for a non-200 answer: a redirect, 401 and 403 are named as the configuration errors they are."""
    status = response.status
    if status in _REDIRECTS:
        location = _header(response.headers, "location").strip()
        shown = sanitize(redact_url(location)) if location else "(no Location)"
        hint = ""
        if location.startswith(("https://", "http://")):
            with contextlib.suppress(ConfigurationError):
                check_key_url(location, "redirect")
                hint = f"; did you mean {shown!r}?"
        return FetchError(
            f"configuration error: HTTP {status} from the {what}: a redirect to {shown}, which jwtguard does "
            f"not follow; configure the final URL{hint}",
            configuration=True,
        )
    if status in (401, 403):
        return FetchError(
            f"configuration error: HTTP {status} from the {what}: it refuses an anonymous request; key "
            "documents are public, so the URL is probably not the key document's (or a proxy blocks it)",
            configuration=True,
        )
    return FetchError(f"HTTP {status} from the {what}")


def _looks_like_html(response: FetchResponse) -> bool:
    if "html" in _header(response.headers, "content-type").lower():
        return True
    start = response.content[:256].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def discover_jwks_uri(fetcher: Fetcher, issuer: str, *, deadline: float, max_bytes: int) -> str:
    """The `jwks_uri` that `issuer`'s OpenID Connect discovery document names, checked like a configured one.

    Raises `FetchError` when the document cannot be fetched, names another issuer (OpenID Connect Discovery
    §4.3: it must name exactly the issuer it was fetched for), or has no usable `jwks_uri`.
    """
    document, _ = fetch_json(
        fetcher,
        issuer.rstrip("/") + "/.well-known/openid-configuration",
        deadline=deadline,
        max_bytes=max_bytes,
        what="discovery endpoint",
    )
    if not isinstance(document, dict):
        raise FetchError("discovery document is not a JSON object")
    named = document.get("issuer")
    if not isinstance(named, str):
        raise FetchError("discovery document names no issuer")
    if named != issuer:
        raise FetchError(issuer_mismatch(issuer, named), configuration=True)
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise FetchError("discovery document has no jwks_uri")
    try:
        check_key_url(jwks_uri, "discovered jwks_uri")
    except ConfigurationError:
        raise FetchError("discovered jwks_uri is not https") from None
    return jwks_uri


def issuer_mismatch(configured: str, named: str) -> str:
    """The configuration error for a discovery document that names `named` while `configured` is the issuer:
    both values, what tells them apart (a trailing slash, or two names of one host), and a "did you mean"."""
    shown = sanitize(redact_url(named))
    why = ""
    if configured.rstrip("/") == named.rstrip("/"):
        why = " (they differ only in a trailing slash)"
    else:
        with contextlib.suppress(ValueError):
            ours, theirs = urlsplit(configured), urlsplit(named)
            if (ours.scheme, ours.port, ours.path.rstrip("/")) == (theirs.scheme, theirs.port, theirs.path.rstrip("/")):
                if ours.hostname and theirs.hostname and ours.hostname != theirs.hostname:
                    why = f" (another name for the host: {theirs.hostname!r} against {ours.hostname!r})"
                elif ours.netloc.lower() == theirs.netloc.lower():
                    why = " (they differ in letter case)"
    return (
        f"configuration error: the discovery document names issuer {shown!r}, but the configured issuer is "
        f"{redact_url(configured)!r}{why}; tokens from this issuer carry its own string in iss, so the "
        f"configured issuer must match it exactly: did you mean issuer={shown!r}?"
    )


_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d{1,10})\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-store|no-cache)(?:$|[,\s=])", re.IGNORECASE)


def cache_ttl(headers: Mapping[str, str], default: float, minimum: float, maximum: float) -> float:
    """The TTL the key server asks for with `Cache-Control`, kept within `[minimum, maximum]`."""
    value = headers.get("cache-control") or headers.get("Cache-Control") or ""
    if _NO_CACHE.search(value):
        return minimum
    match = _MAX_AGE.search(value)
    if match is None:
        return default
    return min(max(float(match.group(1)), minimum), maximum)


def server_clock_offset(headers: Mapping[str, str]) -> float | None:
    """The key server's clock minus ours in seconds, from the `Date` header (None without a valid one)."""
    value = headers.get("date") or headers.get("Date")
    if not value:
        return None
    try:
        server_time = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return round(server_time - time.time(), 1)


class HttpxFetcher:
    """The default fetcher: no redirects, `jwks_max_bytes` and `jwks_timeout` enforced on the socket.

    httpx's timeouts bound each read, not the whole answer: a server that drips its headers or its
    body, or sends gzip made of empty blocks, could hold a fetch (its thread and its connection) for as
    long as it liked. Here the connection is shut down at the deadline, which ends any read blocked on
    it. The body is decoded as it arrives and refused as soon as it would pass `max_bytes`, compressed
    or not; only gzip is asked for, and only gzip is decoded.

    Requests go straight to an `httpx.HTTPTransport` (one per proxy the environment names, as
    `httpx.Client` would choose it), because `httpx.Client` logs every URL it fetches, credentials and
    query included. Credentials in the URL are sent as Basic auth, as `httpx.Client` sends them.
    """

    def __init__(self) -> None:
        # httpx is imported here, with the first fetcher, so that `import jwtguard` loads no HTTP client.
        import httpx

        # Each fetch opens its own connection and closes it when done: fetches are minutes apart, and a
        # pooled connection would outlive the deadline that guards it.
        self._limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
        self._headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "User-Agent": f"jwtguard/{__version__}",
        }
        self._transports: dict[str | None, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, *, timeout: float, max_bytes: int) -> FetchResponse:
        deadline = _Deadline(timeout)
        try:
            return self._fetch(url, timeout, max_bytes, deadline)
        except FetchError:
            raise
        except Exception as exc:
            import httpx

            if deadline.expired or isinstance(exc, httpx.TimeoutException):
                raise FetchError(_TIMED_OUT) from None
            if isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
                raise FetchError(f"request failed ({type(exc).__name__})") from None
            raise
        finally:
            deadline.cancel()

    def _fetch(self, url: str, timeout: float, max_bytes: int, deadline: _Deadline) -> FetchResponse:
        import httpx

        target = httpx.URL(url)
        headers = dict(self._headers)
        if target.username or target.password:
            userinfo = f"{target.username}:{target.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(userinfo).decode("ascii")
        request = httpx.Request(
            "GET",
            target,
            headers=headers,
            extensions={
                "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout},
                "trace": deadline.trace,
            },
        )
        response = self._transport_for(target).handle_request(request)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(_TOO_LARGE)
            body = _Body(response.headers.get("content-encoding", ""), max_bytes)
            received = 0
            for chunk in response.iter_raw():
                if deadline.expired:
                    raise FetchError(_TIMED_OUT)
                received += len(chunk)
                if received > max_bytes:
                    raise FetchError(_TOO_LARGE)
                body.feed(chunk)
            return FetchResponse(response.status_code, body.finish(), dict(response.headers))
        finally:
            response.close()

    def _transport_for(self, url: httpx.URL) -> httpx.HTTPTransport:
        import httpx

        proxy = _environment_proxy(url)
        with self._lock:
            transport = self._transports.get(proxy)
            if transport is None:
                transport = self._transports[proxy] = httpx.HTTPTransport(proxy=proxy, limits=self._limits)
            return transport

    def close(self) -> None:
        with self._lock:
            transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            transport.close()


def _environment_proxy(url: httpx.URL) -> str | None:
    """The proxy `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` name for `url`, unless `NO_PROXY` exempts it."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class _Deadline:
    """Shuts the fetch's connection down when `seconds` have passed, ending any read blocked on it.

    httpcore reports each stream it opens through the `trace` request extension: the TCP connection,
    then TLS over it. (A TLS handshake is bounded on its own: the connect timeout covers all of it.)
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.name = "jwtguard-jwks-deadline"
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        # "connection.", "proxy." or "socks." events: a proxy tunnel reports its TLS stream as "proxy.".
        if not event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            return
        sock = info["return_value"].get_extra_info("socket")
        if isinstance(sock, socket.socket):
            with self._lock:
                self._socket = sock
                if self.expired:
                    _shut_down(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._socket is not None:
                _shut_down(self._socket)

    def cancel(self) -> None:
        """Stop the timer and wait for its thread, so nothing of this fetch outlives it."""
        self._timer.cancel()
        self._timer.join()


def _shut_down(sock: socket.socket) -> None:
    # The plain socket's shutdown, also under TLS: SSLSocket.shutdown would drop the TLS state while the
    # fetch thread is reading through it. The fetch thread then sees the connection end, and closes it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Body:
    """A response body, decoded as it arrives and refused as soon as it would exceed `limit` bytes."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity"):
            self._inflater = None
        elif encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        else:  # only gzip is advertised, so anything else is a misbehaving server
            raise FetchError("unsupported content-encoding")
        self._limit = limit
        self._size = 0
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> None:
        if self._inflater is None:
            self._add(data)
            return
        # Inflate with a bounded output: a gzip bomb is refused after `limit` bytes, not after it has
        # filled memory (100 MiB of zeros fit in 100 kB).
        while data:
            if self._inflater.eof:
                raise FetchError("response has data after the end of its gzip stream")
            try:
                self._add(self._inflater.decompress(data, self._limit - self._size + 1))
            except zlib.error:
                raise FetchError("response is not valid gzip") from None
            data = self._inflater.unconsumed_tail + self._inflater.unused_data

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise FetchError(_TOO_LARGE)
        self._parts.append(data)

    def finish(self) -> bytes:
        if self._inflater is not None and not self._inflater.eof:
            raise FetchError("response ends inside its gzip stream")
        return b"".join(self._parts)
