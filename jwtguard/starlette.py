"""Starlette and FastAPI route helpers: `authorize` / `require_scopes` for endpoints, `Authorize` /
`RequireScopes` as dependencies.

A refusal here is jwtguard's own 401/403 (RFC 6750 challenge, problem-details body, one log record),
rendered by `JWTGuardMiddleware` however it is installed.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

from starlette.requests import HTTPConnection

from .asgi import expect_route_refusals, record_refusal
from .errors import AuthError, ConfigurationError
from .principal import Principal, Requirement, ScopeRequirement, require, to_requirement

__all__ = ["Authorize", "RequireScopes", "authorize", "principal_of", "require_scopes", "route_requirement"]

_F = TypeVar("_F", bound=Callable[..., Any])

expect_route_refusals()  # this module's helpers record their refusals for the middleware


def principal_of(connection: HTTPConnection, requirement: Requirement) -> Principal:
    """The `Principal` the middleware attached to `connection`, if it meets `requirement`; a refusal is recorded
    for the middleware to answer, then raised."""
    scope = connection.scope
    if "auth" not in scope:
        raise RuntimeError("JWTGuardMiddleware must wrap the app for route requirements to work")
    try:
        return require(scope["auth"], requirement)
    except AuthError as exc:
        record_refusal(scope, exc)  # so that the app's own 500 for it can be replaced
        raise


# The requirement of each decorated endpoint, for `route_requirement`.
_REQUIREMENTS: weakref.WeakKeyDictionary[Callable[..., Any], Requirement] = weakref.WeakKeyDictionary()
# The keyword under which FastAPI hands a decorated endpoint its connection, when the endpoint takes none itself.
_CONNECTION = "jwtguard_connection"


def _with_connection(endpoint: Callable[..., Any]) -> inspect.Signature | None:
    """The endpoint's signature with a keyword-only `jwtguard_connection: HTTPConnection` added, for FastAPI,
    which passes a route's arguments by the signature it reads (it follows `__wrapped__` to the endpoint's own,
    and would pass no connection to an endpoint that declares none). Starlette passes the request positionally
    and reads no signature. None when the signature cannot be read (a builtin)."""
    try:
        signature = inspect.signature(endpoint)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    if _CONNECTION in signature.parameters:
        raise ConfigurationError(f"{endpoint.__qualname__}: the parameter name {_CONNECTION!r} is jwtguard's")
    added = inspect.Parameter(_CONNECTION, inspect.Parameter.KEYWORD_ONLY, annotation=HTTPConnection)
    at = next((i for i, p in enumerate(parameters) if p.kind is inspect.Parameter.VAR_KEYWORD), len(parameters))
    return signature.replace(parameters=[*parameters[:at], added, *parameters[at:]])


def _decorator(requirement: Requirement) -> Callable[[_F], _F]:
    def decorator(endpoint: _F) -> _F:
        def find_connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
            given = kwargs.pop(_CONNECTION, None)
            if isinstance(given, HTTPConnection):
                return given
            for value in (*args, *kwargs.values()):
                if isinstance(value, HTTPConnection):
                    return value
            raise TypeError(f"{endpoint.__qualname__} was called without a Request or WebSocket argument")

        wrapper: Any
        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                principal_of(find_connection(args, kwargs), requirement)
                return await endpoint(*args, **kwargs)

            wrapper = async_wrapper
        else:

            @functools.wraps(endpoint)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                principal_of(find_connection(args, kwargs), requirement)
                return endpoint(*args, **kwargs)

            wrapper = sync_wrapper
        signature = _with_connection(endpoint)
        if signature is not None:
            wrapper.__signature__ = signature
        _REQUIREMENTS[wrapper] = requirement
        return cast(_F, wrapper)

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


def route_requirement(endpoint: Callable[..., Any]) -> Requirement | None:
    """The requirement `authorize` or `require_scopes` put on `endpoint`, or None: what `jwtguard.fastapi`
    writes into the OpenAPI document for a decorated route."""
    try:
        return _REQUIREMENTS.get(endpoint)
    except TypeError:  # not weakly referenceable: not one of ours
        return None


class Authorize:
    """A FastAPI dependency: `principal: Principal = Depends(Authorize("scope:orders.read | role:admin"))`.

    Returns the `Principal` when it meets `requirement` (an object or its text form). A refusal is rendered by
    `JWTGuardMiddleware` in jwtguard's format (401 `token_missing`, 403 `insufficient_scope` or
    `insufficient_role`).
    """

    def __init__(self, requirement: Requirement | str) -> None:
        self.requirement = to_requirement(requirement, type(self).__name__)

    def __call__(self, connection: HTTPConnection) -> Principal:
        return principal_of(connection, self.requirement)


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
