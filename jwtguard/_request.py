"""What the guard and the log know about a request, built one way per protocol: `from_scope`, `from_environ`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["RequestInfo", "header_values", "own_origin", "route_path"]


class RequestInfo(NamedTuple):
    """The request itself, as the request policy and the log see it.

    `path` is the full path (mount prefix included), for the log. `route_path` is the path the application
    routes on, with the mount prefix removed (None: the same as `path`); `exclude_paths` match it, because a
    prefix is often set by whoever sends the request. `query_string` is the raw query, still percent-encoded.
    `authorization` holds every `Authorization` header value, in order (the guard's token sources read the
    credentials from here). `origin` is the `Origin` header (the last one, if several). `preflight` is True for an
    OPTIONS request with `Origin` and `Access-Control-Request-Method`: the shape of a CORS preflight (Fetch
    standard, "CORS-preflight request"), which anyone can also send by hand. `raw` is the ASGI scope or WSGI
    environ the record was built from, for token sources that read other headers (`header_values`).
    `token_source` names the source the credentials came from, once the guard has read them.
    """

    method: str
    path: str
    client: str | None
    route_path: str | None = None
    query_string: str = ""
    authorization: tuple[str, ...] = ()
    origin: str | None = None
    preflight: bool = False
    raw: Mapping[str, Any] | None = None
    token_source: str | None = None

    def __repr__(self) -> str:  # never `raw`: its headers hold the credentials
        return (
            f"RequestInfo(method={self.method!r}, path={self.path!r}, client={self.client!r}, "
            f"route_path={self.route_path!r}, token_source={self.token_source!r})"
        )

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> RequestInfo:
        """From an ASGI `http` or `websocket` scope: the route path is `path` without `root_path`."""
        client = scope.get("client")
        path: str = scope.get("path", "")
        root_path: str = scope.get("root_path", "")
        query: bytes = scope.get("query_string", b"")
        method: str = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        headers = scope["headers"]
        authorization: list[str] = []
        origin = None
        for name, value in headers:  # a plain loop: a generator would be two more calls per request
            if name == b"authorization":
                authorization.append(value.decode("latin-1"))
            elif name == b"origin":
                origin = value
        return tuple.__new__(  # not `cls(...)`: the named tuple's constructor is a Python-level call
            cls,
            (
                method,
                path,
                (client[0] if type(client[0]) is str else str(client[0])) if client else None,
                route_path(path, root_path) if root_path else path,
                query.decode("latin-1") if query else "",
                tuple(authorization),
                None if origin is None else origin.decode("latin-1"),
                method == "OPTIONS" and origin is not None and _asks_for_a_method(headers),
                scope,
                None,
            ),
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> RequestInfo:
        """From a WSGI environ (or Django's `request.META`): the route path is `PATH_INFO`.

        Paths are decoded as UTF-8, like ASGI's. Applications route on PATH_INFO alone: SCRIPT_NAME is the
        mount point, and servers and proxy middleware may take it from a request header.
        """
        script_name: str = environ.get("SCRIPT_NAME", "")
        path_info = _decode_path(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD", "GET")
        origin = environ.get("HTTP_ORIGIN")
        return cls(
            method,
            _decode_path(script_name) + path_info if script_name else path_info,
            environ.get("REMOTE_ADDR") or None,
            path_info,
            environ.get("QUERY_STRING", ""),
            # WSGI servers fold repeated headers into one value joined by commas: the bearer parser knows.
            (environ["HTTP_AUTHORIZATION"],) if "HTTP_AUTHORIZATION" in environ else (),
            origin,
            method == "OPTIONS" and origin is not None and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ,
            environ,
        )


def header_values(request: RequestInfo, name: str) -> list[str]:
    """Every value of header `name` (lower case) in the request `request.raw` holds, in order.

    ASGI passes repeated headers apart; a WSGI server folds them into one value joined by commas (cookies
    too), which is then one value here.
    """
    raw = request.raw
    if raw is None:
        return []
    if "headers" in raw and "type" in raw:  # an ASGI scope
        wanted = name.encode("latin-1")
        return [value.decode("latin-1") for key, value in raw["headers"] if key == wanted]
    value = raw.get("HTTP_" + name.upper().replace("-", "_"))
    return [] if value is None else [value]


def own_origin(request: RequestInfo) -> str | None:
    """The origin the request was sent to, as a browser on that site writes `Origin`: scheme://host[:port]."""
    raw = request.raw
    if raw is None:
        return None
    hosts = header_values(request, "host")
    if "headers" in raw and "type" in raw:
        scheme = {"ws": "http", "wss": "https"}.get(raw.get("scheme", "http"), raw.get("scheme", "http"))
    else:
        scheme = raw.get("wsgi.url_scheme", "http")
        if not hosts and raw.get("SERVER_NAME"):
            # No Host header (HTTP/1.0, Django's test client): PEP 3333's URL reconstruction, as Django's
            # get_host() does, takes SERVER_NAME and SERVER_PORT. Without it a same-origin cookie request
            # would be cross-site on Django alone.
            hosts = [f"{raw['SERVER_NAME']}:{raw.get('SERVER_PORT', '')}".rstrip(":")]
    if len(hosts) != 1 or not hosts[0]:
        return None
    host = hosts[0].lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default is not None and host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}"


def route_path(path: str, root_path: str) -> str:
    """The path below the mount point, as Starlette's routers match it: `path` without `root_path`.

    ASGI's `path` includes `root_path`. When it does not start with `root_path` followed by '/' (or end
    there), routers match the whole `path`, and so does this.
    """
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest or rest[0] == "/":
            return rest
    return path


def _asks_for_a_method(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """True when the ASGI `headers` hold `Access-Control-Request-Method` (read for OPTIONS requests only)."""
    return any(name == b"access-control-request-method" for name, _ in headers)


def _decode_path(path: str) -> str:
    # PEP 3333 carries the path as latin-1 code points of the raw bytes.
    return path.encode("latin-1", "replace").decode("utf-8", "replace")
