"""Django integration: a middleware for `MIDDLEWARE`, settings from `settings.JWTGUARD`, requirement decorators,
the principal for views, and the user a verified token stands for.

    # settings.py
    MIDDLEWARE = [..., "jwtguard.django.JWTGuardMiddleware", ...]
    JWTGUARD = {"ISSUER": "https://id.example.com/", "AUDIENCE": "orders-api", "DISCOVERY": True}
    JWTGUARD_SET_USER = False   # True: also set request.user to a TokenUser for the verified token

    # views.py
    @require_scopes("orders:read")
    def orders(request: HttpRequest) -> JsonResponse:
        return JsonResponse({"for": require_principal(request).subject})

    @authorize("scope:orders.admin | role:admin")
    def delete_order(request, id):
        ...

`request.principal` is the verified `Principal`, or None on an excluded path or an anonymous request;
`current_principal(request)` and `require_principal(request)` read it with its type.
`request.user` is left to `django.contrib.auth` unless `JWTGUARD_SET_USER` is True.

A request whose bearer token the middleware verified is exempt from Django's CSRF check: the token is its
credential, and a browser never attaches one by itself the way it attaches cookies.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar, cast

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from ._request import RequestInfo
from .errors import AuthError, ConfigurationError, TokenMissing
from .guard import Guard
from .principal import UNAUTHENTICATED_REASON, Principal, Requirement, ScopeRequirement, require, to_requirement
from .responses import RenderedError
from .settings import Settings
from .sources import CookieSource
from .wsgi import check_sync_hooks

__all__ = [
    "JWTGuardMiddleware",
    "TokenUser",
    "authorize",
    "current_principal",
    "request_info",
    "require_principal",
    "require_scopes",
    "respond",
    "settings_from_django",
]

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


def request_info(request: HttpRequest) -> RequestInfo:
    """The request record of `request`, for integrations that render a refusal themselves."""
    # request.META is the WSGI environ (or built from the ASGI scope), but Django has put its decoded paths in it:
    # take the paths from the request (`path_info` is what the resolver matches), not decoded a second time.
    return RequestInfo.from_environ(request.META)._replace(path=request.path, route_path=request.path_info)


def respond(rendered: RenderedError) -> HttpResponse:
    """A rendered refusal as a Django response."""
    response = HttpResponse(rendered.body, status=rendered.status)
    for name, value in rendered.headers:
        response[name] = value
    return response


class TokenUser:
    """The user a verified token stands for, without a database row: what `request.user` is when
    `JWTGUARD_SET_USER` is True, and under `jwtguard.drf.JWTAuthentication`. Django's and DRF's permissions,
    throttles and templates accept it.

    - `is_authenticated` and `is_active` are True; `is_anonymous`, `is_staff` and `is_superuser` False.
    - `username` and `get_username()`: the `sub` claim ("" without one).
    - `pk` and `id`: 32 hex digits of a SHA-256 over the `iss` and `sub` claims, or None without `sub`. The same
      for every token of one user, and different for the same `sub` at another issuer (a `sub` is unique only
      within its issuer); safe in a cache key, which is where DRF's `UserRateThrottle` puts it.
    - `has_perm`, `has_perms` and `has_module_perms` are False: Django's model permissions live in its database.
      A token's permissions are `principal.permissions`, required with `Permissions(...)`.
    - `principal` is the verified `Principal`; `subject`, `issuer`, `claims`, `scopes`, `roles`, `permissions`
      and the `has_*` checks read through to it.
    """

    __slots__ = ("_pk", "principal")

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False
    is_active: ClassVar[bool] = True
    is_staff: ClassVar[bool] = False
    is_superuser: ClassVar[bool] = False

    principal: Principal

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self._pk: str | None = ""  # "": not computed yet (a key is never empty)

    @property
    def pk(self) -> str | None:
        key = self._pk
        if key == "":
            subject = self.principal.subject
            key = self._pk = None if subject is None else _user_key(self.principal.issuer, subject)
        return key

    @property
    def id(self) -> str | None:
        return self.pk

    @property
    def username(self) -> str:
        return self.principal.subject or ""

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False

    def has_perms(self, perm_list: Iterable[str], obj: object = None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return False

    # The verified token's facts, as `request.user` offered them when it was the `Principal`.
    @property
    def subject(self) -> str | None:
        return self.principal.subject

    @property
    def issuer(self) -> str | None:
        return self.principal.issuer

    @property
    def claims(self) -> Mapping[str, Any]:
        return self.principal.claims

    @property
    def scopes(self) -> frozenset[str]:
        return self.principal.scopes

    @property
    def roles(self) -> frozenset[str]:
        return self.principal.roles

    @property
    def permissions(self) -> frozenset[str]:
        return self.principal.permissions

    def has_scopes(self, *scopes: str) -> bool:
        return self.principal.has_scopes(*scopes)

    def has_roles(self, *roles: str) -> bool:
        return self.principal.has_roles(*roles)

    def has_permissions(self, *permissions: str) -> bool:
        return self.principal.has_permissions(*permissions)

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"TokenUser({self.principal!r})"


def _user_key(issuer: str | None, subject: str) -> str:
    # JSON keeps the two apart whatever they hold: ("a", 'b","c') and ('a","b', "c") differ.
    return hashlib.sha256(json.dumps([issuer, subject]).encode()).hexdigest()[:32]


class JWTGuardMiddleware:
    """Django middleware: validates the bearer token before the view runs.

    It also answers an `AuthError` raised by a view (`require_principal`, or your own `require(...)`) with
    jwtguard's refusal and its log record.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.guard = Guard(settings_from_django())
        check_sync_hooks(self.guard.settings)
        self.guard.startup()  # per jwks_prefetch
        self.set_user = bool(getattr(django_settings, "JWTGUARD_SET_USER", False))
        # The full path of the protected resource metadata (RFC 9728), answered here without a token; None: off.
        self.metadata_path = self.guard.resource_metadata_path
        # A cookie source without its own CSRF check carries a credential the browser attaches by itself:
        # then Django's CSRF check stays on for every request.
        self.exempt_csrf = not any(
            isinstance(source, CookieSource) and not source.csrf for source in self.guard.token_sources
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.jwtguard = self.guard  # type: ignore[attr-defined]
        if self.metadata_path is not None and request.path == self.metadata_path:
            return respond(self.guard.answer_resource_metadata(request.method or "GET"))
        try:
            meta = request.META
            header = meta.get("HTTP_AUTHORIZATION")
            principal = None
            if header is not None:  # the hot path: a token the cache verified, decided without more work
                principal = self.guard.accept_cached(header, meta.get("QUERY_STRING"), request_info, request)
            if principal is None:
                principal = self.guard.check_request(request_info(request))
        except AuthError as exc:
            return respond(self.guard.render(exc, request_info(request)))
        request.principal = principal  # type: ignore[attr-defined]
        if principal is not None:
            # CSRF protects credentials a browser sends by itself: cookies. This request's credential is the
            # bearer token, which a page on another site cannot attach without a CORS preflight this site
            # approved, or a token cookie whose source checked the request came from this site. DRF exempts its
            # token authentication the same way. Requests without a verified token (excluded paths, anonymous
            # requests) keep the check.
            if self.exempt_csrf:
                request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
            if self.set_user:
                request.user = TokenUser(principal)  # type: ignore[assignment]
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """jwtguard's answer to an `AuthError` a view raised (logged here, once); None for anything else."""
        if isinstance(exception, AuthError):
            return respond(self.guard.reject(exception, request_info(request)))
        return None


def current_principal(request: HttpRequest) -> Principal | None:
    """The verified token of `request`, or None (excluded path, anonymous request, no jwtguard middleware)."""
    principal = getattr(request, "principal", None)
    return principal if isinstance(principal, Principal) else None


def require_principal(request: HttpRequest) -> Principal:
    """The verified token of `request`, for a view that needs one. Without one it raises `TokenMissing`, which
    the middleware answers with jwtguard's 401 `token_missing`."""
    principal = current_principal(request)
    if principal is None:
        raise TokenMissing(UNAUTHENTICATED_REASON)
    return principal


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
                return respond(guard.reject(exc, request_info(request)))
            return view(request, *args, **kwargs)

        return cast(_F, wrapper)

    return decorator
