"""The WSGI adapter: translate environ and start_response to and from the shared `Guard`, nothing more."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from ._request import RequestInfo
from .errors import AuthError, ConfigurationError
from .guard import Guard, guard_from
from .responses import RenderedError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .settings import Settings

__all__ = ["GUARD_KEY", "PRINCIPAL_KEY", "JWTGuardWSGIMiddleware", "check_sync_hooks", "request_info", "status_line"]

#: Where the verified `Principal` goes (None for excluded paths and anonymous requests).
PRINCIPAL_KEY = "jwtguard.principal"
#: Where the `Guard` goes, so framework decorators can render and log refusals the same way.
GUARD_KEY = "jwtguard.guard"


def request_info(environ: WSGIEnvironment) -> RequestInfo:
    """`RequestInfo.from_environ`, for framework integrations."""
    return RequestInfo.from_environ(environ)


def status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


class JWTGuardWSGIMiddleware:
    """WSGI middleware: validates the bearer token before the app runs.

    On success `environ["jwtguard.principal"]` is the `Principal` (None on an excluded path or an anonymous
    request with `allow_anonymous`); on failure the rendered error is written and the app is not called.
    Threads share the guard's key cache and its single in-flight JWKS fetch.
    """

    def __init__(self, app: WSGIApplication, settings: Settings | None = None, guard: Guard | None = None) -> None:
        self.app = app
        self.guard = guard_from(settings, guard)
        check_sync_hooks(self.guard.settings)
        self.guard.startup()  # WSGI has no lifespan: warm the keys now, per jwks_prefetch
        # The full path of the protected resource metadata (RFC 9728) as WSGI carries paths (PEP 3333: the raw
        # bytes as latin-1 code points), answered here without a token; None: off.
        path = self.guard.resource_metadata_path
        self._metadata_path = None if path is None else path.encode("utf-8").decode("latin-1")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[GUARD_KEY] = guard = self.guard
        if (
            self._metadata_path is not None
            and environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "") == self._metadata_path
        ):
            return respond(guard.answer_resource_metadata(environ.get("REQUEST_METHOD", "GET")), start_response)
        header = environ.get("HTTP_AUTHORIZATION")
        if header is not None:  # the hot path: a token the cache verified, decided without more work
            principal = guard.accept_cached(header, environ.get("QUERY_STRING"), RequestInfo.from_environ, environ)
            if principal is not None:
                environ[PRINCIPAL_KEY] = principal
                return self.app(environ, start_response)
        request = RequestInfo.from_environ(environ)
        try:
            principal = guard.check_request(request)
        except AuthError as exc:
            return respond(guard.render(exc, request), start_response)
        environ[PRINCIPAL_KEY] = principal
        return self.app(environ, start_response)


def check_sync_hooks(settings: Settings) -> None:
    """WSGI runs the guard synchronously: an async revocation hook cannot be awaited there."""
    hook = settings.revocation_hook
    if hook is not None and (inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(type(hook).__call__)):
        raise ConfigurationError("revocation_hook is async; WSGI needs a plain function (or use the ASGI middleware)")


def respond(rendered: RenderedError, start_response: StartResponse) -> Iterable[bytes]:
    start_response(status_line(rendered.status), list(rendered.headers))
    return [rendered.body]
