"""Django integration: a middleware for `MIDDLEWARE`, settings from `settings.JWTGUARD`, requirement decorators.

    # settings.py
    MIDDLEWARE = [..., "jwtguard.django.JWTGuardMiddleware", ...]
    JWTGUARD = {"ISSUER": "https://id.example.com/", "AUDIENCE": "orders-api", "DISCOVERY": True}
    JWTGUARD_SET_USER = False   # True: also set request.user to the Principal

    # views.py
    @require_scopes("orders:read")
    def orders(request):
        return JsonResponse({"for": request.principal.subject})

    @authorize("scope:orders.admin | role:admin")
    def delete_order(request, id):
        ...

`request.principal` is the verified `Principal`, or None on an excluded path or an anonymous request.
`request.user` is left to `django.contrib.auth` unless `JWTGUARD_SET_USER` is True.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from ._request import RequestInfo
from .errors import AuthError, ConfigurationError
from .guard import Guard
from .principal import Requirement, ScopeRequirement, require, to_requirement
from .responses import RenderedError
from .settings import Settings
from .wsgi import check_sync_hooks

__all__ = ["JWTGuardMiddleware", "authorize", "require_scopes", "settings_from_django"]

_F = TypeVar("_F", bound=Callable[..., Any])


def settings_from_django() -> Settings:
    """`Settings` from the `JWTGUARD` dict in Django's settings (keys are field names, any case)."""
    values = getattr(django_settings, "JWTGUARD", None)
    if not isinstance(values, dict):
        raise ImproperlyConfigured("settings.JWTGUARD must be a dict of jwtguard settings, e.g. {'ISSUER': ...}")
    try:
        return Settings.from_mapping(values)
    except ConfigurationError as exc:
        raise ImproperlyConfigured(f"settings.JWTGUARD: {exc}") from exc


def _request_info(request: HttpRequest) -> RequestInfo:
    # request.META is the WSGI environ (or built from the ASGI scope), but Django has put its decoded paths in it:
    # take the paths from the request (`path_info` is what the resolver matches), not decoded a second time.
    return RequestInfo.from_environ(request.META)._replace(path=request.path, route_path=request.path_info)


def _response(rendered: RenderedError) -> HttpResponse:
    response = HttpResponse(rendered.body, status=rendered.status)
    for name, value in rendered.headers:
        response[name] = value
    return response


class JWTGuardMiddleware:
    """Django middleware: validates the bearer token before the view runs."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.guard = Guard(settings_from_django())
        check_sync_hooks(self.guard.settings)
        self.guard.startup()  # per jwks_prefetch
        self.set_user = bool(getattr(django_settings, "JWTGUARD_SET_USER", False))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.jwtguard = self.guard  # type: ignore[attr-defined]
        try:
            meta = request.META
            header = meta.get("HTTP_AUTHORIZATION")
            principal = None
            if header is not None:  # the hot path: a token the cache verified, decided without more work
                principal = self.guard.accept_cached(header, meta.get("QUERY_STRING"), RequestInfo.from_environ, meta)
            if principal is None:
                principal = self.guard.check_request(_request_info(request))
        except AuthError as exc:
            return _response(self.guard.render(exc, _request_info(request)))
        request.principal = principal  # type: ignore[attr-defined]
        if self.set_user and principal is not None:
            request.user = principal  # type: ignore[assignment]
        return self.get_response(request)


def authorize(requirement: Requirement | str) -> Callable[[_F], _F]:
    """Decorate a view so it needs a token that meets `requirement`: a requirement object
    (`Scopes(...) | Roles(...)`) or its text form (`"scope:orders.read | role:admin"`).

    A refusal is 401 `token_missing`, 403 `insufficient_scope` or 403 `insufficient_role`.
    """
    return _decorator(to_requirement(requirement, "authorize"), "authorize")


def require_scopes(*scopes: str) -> Callable[[_F], _F]:
    """Decorate a view so it needs a token with all of `scopes` (401 `token_missing` / 403 `insufficient_scope`)."""
    return _decorator(ScopeRequirement.for_route(scopes, "require_scopes"), "require_scopes")


def _decorator(requirement: Requirement, helper: str) -> Callable[[_F], _F]:
    def decorator(view: _F) -> _F:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            guard = getattr(request, "jwtguard", None)
            if not isinstance(guard, Guard):
                raise ImproperlyConfigured(f"add jwtguard.django.JWTGuardMiddleware to MIDDLEWARE for {helper}")
            try:
                require(getattr(request, "principal", None), requirement)
            except AuthError as exc:
                return _response(guard.reject(exc, _request_info(request)))
            return view(request, *args, **kwargs)

        return cast(_F, wrapper)

    return decorator
