"""Django REST framework integration: an authentication class, permission classes for requirements, and
jwtguard's own refusals from DRF views.

    # settings.py
    JWTGUARD = {"ISSUER": "https://id.example.com/", "AUDIENCE": "orders-api", "DISCOVERY": True}
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["jwtguard.drf.JWTAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "EXCEPTION_HANDLER": "jwtguard.drf.exception_handler",
    }

    # views.py
    class Orders(APIView):
        permission_classes = [IsAuthenticated, require_scopes("orders:read")]

        def get(self, request: Request) -> Response:
            return Response({"for": require_principal(request).subject})

`request.auth` is the verified `Principal`, and `request.user` a `jwtguard.django.TokenUser` made from it.

Where `jwtguard.django.JWTGuardMiddleware` runs, the authentication class takes its verdict and validates
nothing again. Elsewhere it applies the same `JWTGUARD` settings itself: `exclude_paths`, `rules` and
`allow_anonymous` decide which requests need a token, and a refusal is jwtguard's, logged once. With
`allow_anonymous`, a request without a bearer token goes on to the next authentication class and to the
permission classes, as DRF divides the work.

`exception_handler` answers the refusals of the permission classes and DRF's `NotAuthenticated` with jwtguard's
status, challenge, problem+json body and log record. Without it, DRF's own handler still sends the status and
the challenge, with its own body.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .django import TokenUser, current_principal, request_info, respond, settings_from_django
from .errors import AuthError, JWKSUnavailable, TokenMissing
from .guard import Guard
from .principal import (
    UNAUTHENTICATED_REASON,
    Principal,
    Requirement,
    Roles,
    ScopeRequirement,
    require,
    to_requirement,
)
from .responses import RenderedError, www_authenticate
from .wsgi import check_sync_hooks

if TYPE_CHECKING:
    # Not at run time: rest_framework.views imports the authentication classes its settings name, this one too.
    from rest_framework.response import Response
    from rest_framework.views import APIView

__all__ = [
    "HasRequirement",
    "JWTAuthentication",
    "Refusal",
    "authorize",
    "exception_handler",
    "refusal_response",
    "require_principal",
    "require_roles",
    "require_scopes",
    "settings_guard",
]


class Refusal(APIException):
    """A jwtguard refusal inside a DRF view, already logged: `error`, and `rendered`, jwtguard's answer to it.

    `exception_handler` sends `rendered` as it is. DRF's own handler sends its status, `WWW-Authenticate`
    and `Retry-After`, with `{"detail": <the error's fixed description>}` as the body.
    """

    def __init__(self, error: AuthError, rendered: RenderedError) -> None:
        super().__init__(error.description, error.code)
        self.status_code = rendered.status
        self.error = error
        self.rendered = rendered
        headers = dict(rendered.headers)
        self.auth_header = headers.get("www-authenticate")  # DRF's handler sends these two
        retry_after = headers.get("retry-after")
        self.wait = int(retry_after) if retry_after else None


class _SettingsGuard:
    """The guard built from `settings.JWTGUARD`, for requests the middleware did not see: built on first use,
    and again when the setting is replaced (as `override_settings` does)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: tuple[object, Guard] | None = None

    def __call__(self) -> Guard:
        values = getattr(django_settings, "JWTGUARD", None)
        built = self._built
        if built is None or built[0] is not values:
            with self._lock:  # one guard, one key cache: threads of the first requests wait for it
                built = self._built
                if built is None or built[0] is not values:
                    built = self._built = (values, _build_guard())
        return built[1]


def _build_guard() -> Guard:
    guard = Guard(settings_from_django())
    check_sync_hooks(guard.settings)
    # jwks_prefetch warms the keys. "strict" stops a server that cannot get them from starting; a guard built
    # for a request that has already come answers it 503 instead, as any guard without keys does.
    with contextlib.suppress(JWKSUnavailable):
        guard.startup()
    return guard


#: The `Guard` of DRF views that `jwtguard.django.JWTGuardMiddleware` does not cover.
settings_guard = _SettingsGuard()


def _guard(request: HttpRequest) -> Guard:
    guard = getattr(request, "jwtguard", None)  # the middleware's, when it ran
    return guard if isinstance(guard, Guard) else settings_guard()


def _check(request: HttpRequest, guard: Guard) -> Principal | None:
    """The guard's verdict on `request`, as the middleware reaches it; a refusal is raised as `Refusal`."""
    meta = request.META
    header = meta.get("HTTP_AUTHORIZATION")
    try:
        principal = None
        if header is not None:  # the hot path: a token the cache verified, decided without more work
            principal = guard.accept_cached(header, meta.get("QUERY_STRING"), request_info, request)
        if principal is None:
            principal = guard.check_request(request_info(request))
    except AuthError as exc:
        raise Refusal(exc, guard.render(exc, request_info(request))) from None  # check_request logged it
    # Kept where the middleware keeps it: Django's route helpers, and DRF on a second look, find the verdict.
    request.jwtguard = guard  # type: ignore[attr-defined]
    request.principal = principal  # type: ignore[attr-defined]
    return principal


class JWTAuthentication(BaseAuthentication):
    """DRF authentication by bearer JWT: `request.user` becomes a `TokenUser`, `request.auth` the `Principal`.

    Returns None (no user) for a request the settings let through without a token (an excluded path, an
    anonymous request); raises `Refusal` for one they refuse. Like DRF's token authentication, it needs no
    CSRF token: a browser never attaches a bearer token by itself.
    """

    def authenticate(self, request: Request) -> tuple[TokenUser, Principal] | None:
        http = request._request
        if hasattr(http, "principal") and isinstance(getattr(http, "jwtguard", None), Guard):
            principal = current_principal(http)  # decided by the middleware: not validated again
        else:
            principal = _check(http, settings_guard())
        return None if principal is None else (TokenUser(principal), principal)

    def authenticate_header(self, request: Request) -> str:
        """The challenge DRF sends with a 401: jwtguard's for `token_missing`."""
        guard = _guard(request._request)
        return www_authenticate(TokenMissing(), guard.settings.realm, guard.resource_metadata_url)


def _principal(request: Request) -> Principal | None:
    auth = request.auth
    return auth if isinstance(auth, Principal) else current_principal(request._request)


def require_principal(request: Request) -> Principal:
    """The verified token of `request`, for a view that needs one; without one, jwtguard's 401 `token_missing`."""
    principal = _principal(request)
    if principal is None:
        http = request._request
        error = TokenMissing(UNAUTHENTICATED_REASON)
        raise Refusal(error, _guard(http).reject(error, request_info(http)))
    return principal


class HasRequirement(BasePermission):
    """A permission class for a jwtguard requirement: it grants a request whose verified token meets
    `requirement`, a requirement object or its text form.

    Subclass it (`requirement = Roles("admin") | Scopes("orders.admin")`), or have `authorize(...)`,
    `require_scopes(...)` and `require_roles(...)` make one. It composes with DRF's `&`, `|` and `~`. The
    token is `request.auth`, or the middleware's verdict when another authentication class authenticated the
    request. `exception_handler` answers a refusal with jwtguard's 401 `token_missing`, 403
    `insufficient_scope` or 403 `insufficient_role`.
    """

    requirement: ClassVar[Requirement | str]
    _requirement: ClassVar[Requirement]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "requirement" in cls.__dict__:  # checked when the class is made, not at the first request
            cls._requirement = to_requirement(cls.requirement, cls.__name__)

    def __init__(self) -> None:
        if not hasattr(self, "_requirement"):
            raise ImproperlyConfigured(f"{type(self).__name__} has no requirement")

    def has_permission(self, request: Request, view: APIView) -> bool:
        try:
            require(_principal(request), self._requirement)
        except AuthError as exc:
            # DRF asks a permission yes or no: the refusal waits on the request for the exception handler.
            # DRF's own handler says the message and code.
            request._jwtguard_refusal = exc  # type: ignore[attr-defined]
            self.message = exc.description
            self.code = exc.code
            return False
        # Met (the branch of an `|` that another permission refused, say): an earlier refusal no longer stands.
        request._jwtguard_refusal = None  # type: ignore[attr-defined]
        return True


def authorize(requirement: Requirement | str) -> type[HasRequirement]:
    """A permission class that needs a token meeting `requirement`: a requirement object
    (`Scopes(...) | Roles(...)`) or its text form (`"scope:orders.read | role:admin"`)."""
    return _permission(to_requirement(requirement, "authorize"))


def require_scopes(*scopes: str) -> type[HasRequirement]:
    """A permission class that needs a token with all of `scopes` (with none, any verified token)."""
    return _permission(ScopeRequirement.for_route(scopes, "require_scopes"))


def require_roles(*roles: str) -> type[HasRequirement]:
    """A permission class that needs a token with all of `roles` (read from `role_claims`)."""
    return _permission(Roles(*roles, where="require_roles"))


def _permission(requirement: Requirement) -> type[HasRequirement]:
    name = f"HasRequirement[{requirement}]"
    return cast(
        type[HasRequirement], type(name, (HasRequirement,), {"requirement": requirement, "__module__": __name__})
    )


def _challenges(request: Request) -> bool:
    """True when DRF's 401 challenge for `request` is jwtguard's: its first authentication class is ours."""
    authenticators = request.authenticators or ()
    return bool(authenticators) and isinstance(authenticators[0], JWTAuthentication)


def refusal_response(exc: Exception, context: Mapping[str, Any]) -> HttpResponse | None:
    """jwtguard's answer to `exc` when it is a jwtguard refusal, else None: for an `EXCEPTION_HANDLER` of your
    own, which asks this first.

    Answered here: a `Refusal`; an `AuthError` a view raised; DRF's `PermissionDenied` or `NotAuthenticated`
    after a `HasRequirement` refused; and DRF's `NotAuthenticated` (from `IsAuthenticated`, say) when the
    view's first authentication class is `JWTAuthentication`, whose challenge DRF sends. All but the first are
    logged here, once.
    """
    if isinstance(exc, Refusal):
        return respond(exc.rendered)
    request = context.get("request")
    if not isinstance(request, Request):
        return None
    error = getattr(request, "_jwtguard_refusal", None)
    if isinstance(exc, AuthError):
        error = exc
    elif not isinstance(exc, NotAuthenticated | PermissionDenied):
        return None
    elif not isinstance(error, AuthError):
        if not (isinstance(exc, NotAuthenticated) and _challenges(request)):
            return None
        error = TokenMissing(UNAUTHENTICATED_REASON)
    http = request._request
    return respond(_guard(http).reject(error, request_info(http)))


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | Response | None:
    """For `REST_FRAMEWORK["EXCEPTION_HANDLER"]`: jwtguard's refusals as `refusal_response` answers them,
    everything else as DRF's own handler does."""
    from rest_framework.views import exception_handler as drf_exception_handler

    response = refusal_response(exc, context)
    if response is not None:
        return response
    return drf_exception_handler(exc, context)
