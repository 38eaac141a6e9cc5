"""Starlette and FastAPI route helpers: `authorize` / `require_scopes` for endpoints, `Authorize` /
`RequireScopes` as dependencies.

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
from .principal import Principal, Requirement, ScopeRequirement, require, to_requirement

__all__ = ["Authorize", "RequireScopes", "authorize", "require_scopes"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _principal_of(connection: HTTPConnection, requirement: Requirement) -> Principal:
    scope = connection.scope
    if "auth" not in scope:
        raise RuntimeError("JWTGuardMiddleware must wrap the app for route requirements to work")
    try:
        return require(scope["auth"], requirement)
    except AuthError as exc:
        record_refusal(scope, exc)  # so that the app's own 500 for it can be replaced
        raise


def _decorator(requirement: Requirement) -> Callable[[_F], _F]:
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


def authorize(requirement: Requirement | str) -> Callable[[_F], _F]:
    """Decorate a Starlette endpoint so it needs a token that meets `requirement`: a requirement object
    (`Scopes(...) | Roles(...)`) or its text form (`"scope:orders.read | role:admin"`).

    A refusal is 401 `token_missing`, 403 `insufficient_scope` (when scopes alone would do, with the challenge's
    `scope="..."`) or 403 `insufficient_role`, in jwtguard's format.
    """
    return _decorator(to_requirement(requirement, "authorize"))


def require_scopes(*scopes: str) -> Callable[[_F], _F]:
    """Decorate a Starlette endpoint so it needs a token with all of `scopes`.

    Unlike Starlette's `@requires`, which answers a bare 403, a refusal here is jwtguard's own
    401/403 with the RFC 6750 challenge (`scope="..."`) and the problem-details body.
    """
    return _decorator(ScopeRequirement.for_route(scopes, "require_scopes"))


class Authorize:
    """A FastAPI dependency: `principal: Principal = Depends(Authorize("scope:orders.read | role:admin"))`.

    Returns the `Principal` when it meets `requirement` (an object or its text form). A refusal is rendered by
    `JWTGuardMiddleware` in jwtguard's format (401 `token_missing`, 403 `insufficient_scope` or
    `insufficient_role`).
    """

    def __init__(self, requirement: Requirement | str) -> None:
        self.requirement = to_requirement(requirement, type(self).__name__)

    def __call__(self, connection: HTTPConnection) -> Principal:
        return _principal_of(connection, self.requirement)


class RequireScopes(Authorize):
    """A FastAPI dependency: `principal: Principal = Depends(RequireScopes("orders:read"))`.

    Returns the `Principal`; with no scopes it only requires a valid token. A refusal is rendered by
    `JWTGuardMiddleware` in jwtguard's format (401 `token_missing` or 403 `insufficient_scope`).
    """

    requirement: ScopeRequirement

    def __init__(self, *scopes: str) -> None:
        super().__init__(
            ScopeRequirement(scopes, where="RequireScopes", reason="token lacks a scope the route requires")
        )
        self.scopes = self.requirement.scopes
