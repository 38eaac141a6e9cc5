"""The ASGI adapter: translate scope and messages to and from the shared `Guard`, nothing more."""

from __future__ import annotations

from collections.abc import Awaitable, MutableMapping
from typing import TYPE_CHECKING, Any

from ._request import RequestInfo
from .errors import AuthError, ConfigurationError
from .guard import Guard, guard_from
from .resource_metadata import asgi_full_path
from .responses import RenderedError
from .sources import SubprotocolSource

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from .settings import Settings

__all__ = ["JWTGuardMiddleware", "expect_route_refusals", "record_refusal"]
# RFC 6455 §7.4.1: 1008 is "policy violation", the close code for a refused WebSocket.
_WS_POLICY_VIOLATION = 1008


# Where route helpers record their refusals for the middleware: `scope[_REFUSALS_KEY]` is a list, made for
# every HTTP request. Wrapped around an app (or around an app that mounts another), the middleware sits
# outside the app's `ServerErrorMiddleware`, which answers a route helper's refusal with a 500 before
# re-raising it. Once a refusal is recorded, the middleware holds back a 5xx response until the app is done:
# if an `AuthError` comes out, jwtguard's answer replaces it; otherwise (the app caught the refusal, then
# failed on its own) it goes out as it was.
_REFUSALS_KEY = "jwtguard.refusals"


# Whether any module that records refusals has been loaded. Until one is (`jwtguard.starlette`, `jwtguard.fastapi`,
# or an application's own helper calling `expect_route_refusals`), no request pays for the bookkeeping: the list in
# the scope, and a wrapper around `send` that every response message would go through.
_route_refusals = False


def expect_route_refusals() -> None:
    """Turn on the bookkeeping `record_refusal` needs, for every request from now on. A module that calls
    `record_refusal` calls this once, when it is imported (jwtguard's route helpers do)."""
    global _route_refusals
    _route_refusals = True


def record_refusal(scope: MutableMapping[str, Any], error: AuthError) -> None:
    """Note a route helper's refusal in the request's scope before it is raised, so that the middleware can
    answer it in place of the 500 an app's `ServerErrorMiddleware` would send for it (see `expect_route_refusals`)."""
    refusals = scope.get(_REFUSALS_KEY)
    if type(refusals) is list:
        refusals.append(error)


class JWTGuardMiddleware:
    """Pure ASGI middleware: guards `http` and `websocket` scopes, passes everything else through.

    On success `scope["auth"]` and `scope["user"]` are the `Principal`; on an excluded path or an
    anonymous request (with `allow_anonymous`) they are Starlette's empty credentials and
    `UnauthenticatedUser`. Refusals by `require_scopes` / `RequireScopes` inside the app are rendered
    here too, in the same format, whether the middleware was added with `add_middleware` or wraps the app.
    """

    def __init__(self, app: ASGIApp, settings: Settings | None = None, guard: Guard | None = None) -> None:
        # Starlette's anonymous user and credentials, for excluded and anonymous requests: imported here, so
        # that `import jwtguard` imports no web framework.
        from starlette.authentication import AuthCredentials, UnauthenticatedUser

        self.app = app
        self.guard = guard_from(settings, guard)
        # Subprotocols that carry a credential (`SubprotocolSource`): the app never sees them.
        self._hidden_subprotocols = tuple(
            source for source in self.guard.token_sources if isinstance(source, SubprotocolSource)
        )
        # The full path of the protected resource metadata (RFC 9728), answered here without a token; None: off.
        self._metadata_path = self.guard.resource_metadata_path
        self._no_credentials = AuthCredentials
        self._anonymous = UnauthenticatedUser
        self._describe = RequestInfo.from_scope  # bound once, not on every request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        principal = None
        if scope_type == "http":
            if self._metadata_path is not None and asgi_full_path(scope) == self._metadata_path:
                answer = self.guard.answer_resource_metadata(scope.get("method", "GET"))
                await _send_error(scope, receive, send, answer)
                return
            # The hot path: one Authorization header whose token the cache verified is decided here, without
            # awaiting anything and without building the request record unless it is logged.
            header = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    if header is not None:
                        header = None  # several: acheck_request says how
                        break
                    header = value
            if header is not None:
                principal = self.guard.accept_cached(header, scope.get("query_string"), self._describe, scope)
        elif scope_type != "websocket":
            if scope_type == "lifespan":
                await self._lifespan(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if principal is None:
            request = RequestInfo.from_scope(scope)
            try:
                principal = await self.guard.acheck_request(request)
            except AuthError as exc:
                await _send_error(scope, receive, send, self.guard.render(exc, request))
                return
            if principal is None:
                scope["auth"], scope["user"] = self._no_credentials(), self._anonymous()
            else:
                scope["auth"] = scope["user"] = principal
            if scope_type != "http":
                await self._websocket_app(scope, receive, send, request)
                return
        else:
            scope["auth"] = scope["user"] = principal

        if not _route_refusals:
            try:
                await self.app(scope, receive, send)
            except AuthError as exc:  # an application's own refusal, raised before the endpoint answered
                await self._answer_route_refusal(scope, receive, send, exc)
            return
        refusals: list[AuthError] = []  # a plain list: it is made for every request
        scope[_REFUSALS_KEY] = refusals
        held: list[Message] = []  # a 5xx response that started after a recorded refusal

        # A plain function returning the server's own awaitable: no extra coroutine per message. What it
        # needs comes in as defaults rather than from the enclosing scope, which would turn `send` and the
        # lists into cells for the whole of `__call__`.
        def send_or_hold(
            message: Message, refusals: list[AuthError] = refusals, held: list[Message] = held, send: Send = send
        ) -> Awaitable[None]:
            if not refusals:  # every ordinary request
                return send(message)
            if held or (message["type"] == "http.response.start" and message["status"] >= 500):
                held.append(message)
                return _done()
            return send(message)

        try:
            await self.app(scope, receive, send_or_hold)
        except AuthError as exc:  # a route-level refusal, raised before the endpoint answered
            await self._answer_route_refusal(scope, receive, send, exc)  # in place of any response held back
            return
        except Exception:
            if held:
                await _send_all(held, send)
            raise
        if held:  # the app caught the refusal, then failed on its own
            await _send_all(held, send)

    async def _answer_route_refusal(self, scope: Scope, receive: Receive, send: Send, error: AuthError) -> None:
        rendered = self.guard.reject(error, RequestInfo.from_scope(scope))
        try:
            await _send_error(scope, receive, send, rendered)
        except Exception:  # the response had started after all: the server refuses a second one
            raise error from None

    async def _websocket_app(self, scope: Scope, receive: Receive, send: Send, request: RequestInfo) -> None:
        # A WebSocket refused after accept cannot be answered with a handshake denial: track the accept.
        accepted = False
        hidden = self._hidden_subprotocols
        if hidden:
            _hide_subprotocols(scope, hidden)

        async def send_tracking(message: Message) -> None:
            nonlocal accepted
            if message["type"] in ("websocket.accept", "websocket.http.response.start", "websocket.close"):
                accepted = True
                if message["type"] == "websocket.accept" and hidden and _is_hidden(message.get("subprotocol"), hidden):
                    message = {**message, "subprotocol": None}  # never echo a credential back
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except AuthError as exc:
            if accepted:
                raise
            await _send_error(scope, receive, send, self.guard.reject(exc, request))

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Warm the key sets at startup (per `jwks_prefetch`) and close them at shutdown.

        In "strict" mode a failed prefetch is reported to the server itself as `lifespan.startup.failed`,
        with the reason, before the app hears of it: the server refuses to start. (An exception alone is not
        enough: uvicorn's default lifespan mode takes an exception at startup for "lifespan unsupported",
        and serves anyway.) The exception is then raised from the app's `receive`; its own report of the
        failure is not passed on (the server has one).
        """
        failed: list[BaseException] = []

        async def lifespan_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.guard.astartup()
                except (AuthError, ConfigurationError) as exc:
                    failed.append(exc)
                    await send({"type": "lifespan.startup.failed", "message": f"jwtguard: {exc}"})
                    raise
            elif message["type"] == "lifespan.shutdown":
                self.guard.close()
            return message

        async def lifespan_send(message: Message) -> None:
            if failed and message["type"] == "lifespan.startup.failed":
                return  # already reported, with jwtguard's reason
            await send(message)

        try:
            await self.app(scope, lifespan_receive, lifespan_send)
        except Exception:
            if failed:
                self.guard.close()  # the server has the reason, and exits
            raise


def _is_hidden(protocol: object, sources: tuple[SubprotocolSource, ...]) -> bool:
    return isinstance(protocol, str) and any(source.hides(protocol) for source in sources)


def _hide_subprotocols(scope: Scope, sources: tuple[SubprotocolSource, ...]) -> None:
    """Remove credential-carrying subprotocols from what the app sees: `subprotocols` and the header."""
    if "subprotocols" in scope:
        scope["subprotocols"] = [protocol for protocol in scope["subprotocols"] if not _is_hidden(protocol, sources)]
    headers = []
    for name, value in scope["headers"]:
        if name == b"sec-websocket-protocol":
            kept = [part for part in value.decode("latin-1").split(",") if not _is_hidden(part, sources)]
            if not kept:
                continue
            value = ",".join(kept).strip().encode("latin-1")
        headers.append((name, value))
    scope["headers"] = headers


async def _done() -> None:
    """What a held message's send returns: nothing to wait for."""


async def _send_all(held: list[Message], send: Send) -> None:
    """Send the response held back after a refusal: the app ended without an `AuthError` coming out."""
    for message in held:
        await send(message)


async def _send_error(scope: Scope, receive: Receive, send: Send, rendered: RenderedError) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in rendered.headers]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": rendered.status, "headers": headers})
        await send({"type": "http.response.body", "body": rendered.body})
        return
    # WebSocket: refuse before accept. The server has sent websocket.connect first (ASGI spec).
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": rendered.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": rendered.body})
    else:
        await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION})
