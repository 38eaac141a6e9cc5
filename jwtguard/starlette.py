"""Starlette and FastAPI route helpers: `require_scopes` for endpoints, `RequireScopes` as a dependency.

A refusal here is jwtguard's own 401/403 (RFC 6750 challenge, problem-details body, one log record),
rendered by `JWTGuardMiddleware` however it is installed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from starlette.requests import HTTPConnection

from .asgi import record_refusal
from .errors import AuthError
from .principal import Principal, ScopeRequirement, require

__all__ = ["RequireScopes", "require_scopes"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _principal_of(connection: HTTPConnection, requirement: ScopeRequirement) -> Principal:
    scope = connection.scope
    if "auth" not in scope:
        raise RuntimeError("JWTGuardMiddleware must wrap the app for scope checks to work")
    try:
        return require(scope["auth"], requirement)
    except AuthError as exc:
        record_refusal(scope, exc)  # so that the app's own 500 for it can be replaced
        raise


def require_scopes(*scopes: str) -> Callable[[_F], _F]:
    """Decorate a Starlette endpoint so it needs a token with all of `scopes`.

    Unlike Starlette's `@requires`, which answers a bare 403, a refusal here is jwtguard's own
    401/403 with the RFC 6750 challenge (`scope="..."`) and the problem-details body.
    """

    requirement = ScopeRequirement.for_route(scopes, "require_scopes")

    def decorator(endpoint: _F) -> _F:
        def find_connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
            for value in (*args, *kwargs.values()):
                if isinstance(value, HTTPConnection):
                    return value
            raise TypeError(f"{endpoint.__qualname__} has no Request or WebSocket argument")

        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                _principal_of(find_connection(args, kwargs), requirement)
                return await endpoint(*args, **kwargs)

            return cast(_F, async_wrapper)

        @functools.wraps(endpoint)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            _principal_of(find_connection(args, kwargs), requirement)
            return endpoint(*args, **kwargs)

        return cast(_F, sync_wrapper)

    return decorator


class RequireScopes:
    """A FastAPI dependency: `principal: Principal = Depends(RequireScopes("orders:read"))`.

    Returns the `Principal`; with no scopes it only requires a valid token. A refusal is rendered by
    `JWTGuardMiddleware` in jwtguard's format (401 `token_missing` or 403 `insufficient_scope`).
    """

    def __init__(self, *scopes: str) -> None:
        self.requirement = ScopeRequirement(
            scopes, where="RequireScopes", reason="token lacks a scope the route requires"
        )
        self.scopes = self.requirement.scopes

    def __call__(self, connection: HTTPConnection) -> Principal:
        return _principal_of(connection, self.requirement)
