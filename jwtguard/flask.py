"""Flask integration: settings from `app.config`, the principal for views, and requirement decorators.

app = Flask(__name__)
app.config["JWTGUARD_ISSUER"] = "https://id.example.com/"
app.config["JWTGUARD_AUDIENCE"] = "orders-api"
app.config["JWTGUARD_DISCOVERY"] = True
JWTGuard(app)

@app.get("/orders")
@require_scopes("orders:read")
def orders() -> dict[str, str | None]:
    return {"for": require_principal().subject}

@app.delete("/orders/<id>")
@authorize("scope:orders.admin | role:admin")
def delete_order(id):
    ...

`require_principal()` is the verified token of a view that needs one (a jwtguard 401 without one);
`current_principal()` is the token or None, for views that also serve anonymous requests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, request

from .errors import AuthError, TokenMissing
from .guard import Guard
from .principal import UNAUTHENTICATED_REASON, Principal, Requirement, ScopeRequirement, require, to_requirement
from .responses import RenderedError
from .settings import Settings
from .wsgi import GUARD_KEY, PRINCIPAL_KEY, JWTGuardWSGIMiddleware, request_info

__all__ = ["JWTGuard", "authorize", "current_principal", "require_principal", "require_scopes"]

_F = TypeVar("_F", bound=Callable[..., Any])
_EXTENSION = "jwtguard"


class JWTGuard:
    """The Flask extension: wraps `app.wsgi_app` in `JWTGuardWSGIMiddleware`.

    Settings come from `settings=` or `guard=`, else from `app.config`'s `JWTGUARD_*` keys (the same names
    as the environment variables; values may be strings or Python values). The app also answers an
    `AuthError` a view raises (`require_principal()`, or your own `require(...)`) with jwtguard's refusal.
    """

    def __init__(
        self, app: Flask | None = None, *, settings: Settings | None = None, guard: Guard | None = None
    ) -> None:
        self._settings = settings
        self._guard = guard
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        guard = self._guard or Guard(self._settings or Settings.from_mapping(app.config, prefix="JWTGUARD_"))
        app.wsgi_app = JWTGuardWSGIMiddleware(app.wsgi_app, guard=guard)  # type: ignore[method-assign]
        app.extensions[_EXTENSION] = guard
        app.register_error_handler(AuthError, _refuse)


def current_principal() -> Principal | None:
    """The verified token of the current request, or None (excluded path or anonymous request)."""
    principal = request.environ.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else None


def require_principal() -> Principal:
    """The verified token of the current request, for a view that needs one. Without one (an excluded path, an
    anonymous request) it raises `TokenMissing`, which the app answers with jwtguard's 401 `token_missing`."""
    principal = request.environ.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise TokenMissing(UNAUTHENTICATED_REASON)
    return principal


def _refuse(error: AuthError) -> Response:
    """jwtguard's answer to an `AuthError` a view raised, logged once."""
    return _response(_guard().reject(error, request_info(request.environ)))


def _guard() -> Guard:
    guard: Guard = request.environ.get(GUARD_KEY) or current_app.extensions[_EXTENSION]
    return guard


def _response(rendered: RenderedError) -> Response:
    return Response(rendered.body, status=rendered.status, headers=list(rendered.headers))


def authorize(requirement: Requirement | str) -> Callable[[_F], _F]:
    """Decorate a view so it needs a token that meets `requirement`: a requirement object
    (`Scopes(...) | Roles(...)`) or its text form (`"scope:orders.read | role:admin"`).

    A refusal is jwtguard's 401 `token_missing`, 403 `insufficient_scope` or 403 `insufficient_role`, in the
    same format and with the same log record as every other refusal.
    """
    return _decorator(to_requirement(requirement, "authorize"))


def require_scopes(*scopes: str) -> Callable[[_F], _F]:
    """Decorate a view so it needs a token with all of `scopes`.

    A refusal is jwtguard's 401 `token_missing` or 403 `insufficient_scope`, in the same format and with
    the same log record as every other refusal.
    """
    return _decorator(ScopeRequirement.for_route(scopes, "require_scopes"))


def _decorator(requirement: Requirement) -> Callable[[_F], _F]:
    def decorator(view: _F) -> _F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                require(request.environ.get(PRINCIPAL_KEY), requirement)
            except AuthError as exc:
                return _response(_guard().reject(exc, request_info(request.environ)))
            return view(*args, **kwargs)

        return cast(_F, wrapper)

    return decorator
