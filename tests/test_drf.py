"""Django REST framework: the authentication class, the permission classes, `request.user`, and jwtguard's answers
from DRF views, with and without jwtguard's Django middleware, behind Django's own session, CSRF and auth layers."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path

from jwtguard import ConfigurationError, InsufficientScope, Principal, Roles, Scopes, TokenMissing
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import records
from .stacks import configure_django

configure_django()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402  # after Django's settings
from rest_framework.authentication import BaseAuthentication, SessionAuthentication  # noqa: E402
from rest_framework.permissions import IsAuthenticated  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

import jwtguard.drf  # noqa: E402
from jwtguard.django import TokenUser  # noqa: E402
from jwtguard.drf import (  # noqa: E402
    HasRequirement,
    JWTAuthentication,
    authorize,
    require_principal,
    require_roles,
    require_scopes,
)

#: Django's own layers, as `django-admin startproject` lists them.
DJANGO_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
JWTGUARD_MIDDLEWARE = [*DJANGO_MIDDLEWARE, "jwtguard.django.JWTGuardMiddleware"]
SCOPE_CHALLENGE = (
    f'Bearer realm="api", error="insufficient_scope", error_description="{InsufficientScope.description}", '
    'scope="orders:read"'
)


@pytest.fixture(scope="module")
def drf_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", keys=[signing_keys["RS256"]]) as dev:
        yield dev


def jwtguard_settings(issuer: DevIssuer, **more: Any) -> dict[str, Any]:
    return {"ISSUER": issuer.issuer, "AUDIENCE": issuer.audience, "JWKS_URI": issuer.jwks_uri, **more}


class Orders(APIView):
    permission_classes = (IsAuthenticated, require_scopes("orders:read"))

    def get(self, request: Request) -> Response:
        return Response({"for": require_principal(request).subject, "user": request.user.get_username()})

    post = get


class Open(APIView):
    permission_classes = ()

    def get(self, request: Request) -> Response:
        principal = request.auth
        return Response({"sub": principal.subject if isinstance(principal, Principal) else None})


class NeedsPrincipal(APIView):
    permission_classes = ()

    def get(self, request: Request) -> Response:
        return Response({"sub": require_principal(request).subject})


@contextmanager
def served(*routes: Any, middleware: Sequence[str], **settings: Any) -> Iterator[Client]:
    """A client (CSRF checks enforced, as a browser meets them) for `routes` behind `middleware`."""
    urls = types.ModuleType("drf_test_urls")
    urls.urlpatterns = list(routes)  # type: ignore[attr-defined]
    values = {
        "ROOT_URLCONF": urls,
        "MIDDLEWARE": middleware,
        "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
        **settings,
    }
    with override_settings(**values):
        yield Client(enforce_csrf_checks=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [record for record in records(caplog) if record["code"] != "ok"]


def answer(response: Any) -> tuple[int, Any]:
    body = json.loads(response.content)
    return response.status_code, body.get("code") or body


MIDDLEWARE_OR_NOT = pytest.mark.parametrize(
    "middleware", [DJANGO_MIDDLEWARE, JWTGUARD_MIDDLEWARE], ids=["drf-alone", "with-middleware"]
)


@MIDDLEWARE_OR_NOT
@pytest.mark.parametrize("method", ["get", "post"])
def test_is_authenticated_and_a_scope_answer_200_401_and_403(
    middleware: list[str], method: str, drf_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    with served(path("orders", Orders.as_view()), middleware=middleware, JWTGUARD=jwtguard_settings(drf_issuer)) as c:
        send = getattr(c, method)
        granted = send("/orders", headers=bearer(drf_issuer.token(subject="ann", scopes=["orders:read"])))
        assert answer(granted) == (200, {"for": "ann", "user": "ann"})  # POST needs no CSRF token
        jwtguard_logs.clear()

        lacking = send("/orders", headers=bearer(drf_issuer.token(subject="bob")))
        assert answer(lacking) == (403, "insufficient_scope")
        assert lacking.headers["Content-Type"] == "application/problem+json"
        assert lacking.headers["WWW-Authenticate"] == SCOPE_CHALLENGE
        assert json.loads(lacking.content)["required_scopes"] == ["orders:read"]
        [record] = refusals(jwtguard_logs)
        assert (record["code"], record["sub"], record["path"]) == ("insufficient_scope", "bob", "/orders")
        jwtguard_logs.clear()

        missing = send("/orders")
        assert answer(missing) == (401, "token_missing")
        assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert [r["code"] for r in refusals(jwtguard_logs)] == ["token_missing"]
        jwtguard_logs.clear()

        expired = send("/orders", headers=bearer(drf_issuer.token(expires_in=-600)))
        assert answer(expired) == (401, "token_expired")
        assert expired.headers["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')
        assert [r["code"] for r in refusals(jwtguard_logs)] == ["token_expired"]


@MIDDLEWARE_OR_NOT
def test_a_token_is_validated_once_per_request(
    middleware: list[str], drf_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    with served(path("orders", Orders.as_view()), middleware=middleware, JWTGUARD=jwtguard_settings(drf_issuer)) as c:
        token = drf_issuer.token(scopes=["orders:read"])
        for _ in range(2):  # a new token, then a cached one
            jwtguard_logs.clear()
            assert c.get("/orders", headers=bearer(token)).status_code == 200
            assert [r["code"] for r in records(jwtguard_logs)] == ["ok"]


def test_an_excluded_path_reads_no_token_with_or_without_the_middleware(drf_issuer: DevIssuer) -> None:
    # The middleware reads no token there, and the authentication class takes its verdict or applies the same.
    settings = jwtguard_settings(drf_issuer, EXCLUDE_PATHS=["/open"])
    with served(path("open", Open.as_view()), middleware=JWTGUARD_MIDDLEWARE, JWTGUARD=settings) as client:
        assert answer(client.get("/open", headers=bearer("not-a-token"))) == (200, {"sub": None})
    with served(path("open", Open.as_view()), middleware=DJANGO_MIDDLEWARE, JWTGUARD=settings) as client:
        assert answer(client.get("/open", headers=bearer("not-a-token"))) == (200, {"sub": None})


def test_request_user_and_auth(drf_issuer: DevIssuer) -> None:
    seen: list[Request] = []

    class Who(APIView):
        permission_classes = (IsAuthenticated,)

        def get(self, request: Request) -> Response:
            seen.append(request)
            return Response({})

    with served(path("who", Who.as_view()), middleware=DJANGO_MIDDLEWARE, JWTGUARD=jwtguard_settings(drf_issuer)) as c:
        assert c.get("/who", headers=bearer(drf_issuer.token(subject="ann", scopes=["a", "b"]))).status_code == 200
    [request] = seen
    user: object = request.user  # django-stubs know Django's two user classes only
    assert isinstance(request.auth, Principal)
    assert isinstance(user, TokenUser)
    assert user.principal is request.auth
    assert user.is_authenticated
    assert user.is_active
    assert not user.is_anonymous
    assert user.username == user.get_username() == "ann"
    assert user.scopes == frozenset({"a", "b"})
    django_user: object = request._request.user
    assert django_user is user  # DRF hands it to Django's request too


@MIDDLEWARE_OR_NOT
def test_drfs_session_authentication_never_fails_on_a_token_user(middleware: list[str], drf_issuer: DevIssuer) -> None:
    # The 0.1 failure: JWTGUARD_SET_USER put the Principal in request.user, which SessionAuthentication (DRF's
    # default) asked for `is_active`: a 500 on every request with a token.
    class Sessions(Orders):
        authentication_classes = (SessionAuthentication, JWTAuthentication)

    settings = {"JWTGUARD": jwtguard_settings(drf_issuer), "JWTGUARD_SET_USER": True}
    with served(path("orders", Sessions.as_view()), middleware=middleware, **settings) as client:
        token = drf_issuer.token(subject="ann", scopes=["orders:read"])
        for send in (client.get, client.post):
            assert answer(send("/orders", headers=bearer(token))) == (200, {"for": "ann", "user": "ann"})
        assert answer(client.post("/orders", headers=bearer(drf_issuer.token()))) == (403, "insufficient_scope")


class SessionUser:
    """A middleware that logs every request in as a session user would be (no database needed)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        from django.contrib.auth.models import AnonymousUser

        class Logged(AnonymousUser):
            is_active = True  # type: ignore[assignment]

            @property
            def is_authenticated(self) -> bool:  # type: ignore[override]
                return True

        request.user = Logged()
        return self.get_response(request)


def test_session_authentication_still_checks_csrf_for_a_session_without_a_token(drf_issuer: DevIssuer) -> None:
    class Sessions(APIView):
        authentication_classes = (SessionAuthentication,)
        permission_classes = (IsAuthenticated,)

        def post(self, request: Request) -> Response:
            return Response({})

    middleware = [*JWTGUARD_MIDDLEWARE, "tests.test_drf.SessionUser"]
    settings = jwtguard_settings(drf_issuer, EXCLUDE_PATHS=["/s"])
    with served(path("s", Sessions.as_view()), middleware=middleware, JWTGUARD=settings) as client:
        refused = client.post("/s")
        assert refused.status_code == 403
        assert json.loads(refused.content)["detail"].startswith("CSRF Failed")


def test_throttles_key_on_the_token_user(drf_issuer: DevIssuer) -> None:
    from django.core.cache import cache

    class PerAnonymous(AnonRateThrottle):
        rate = "1/min"

    class PerUser(UserRateThrottle):
        rate = "2/min"

    class Limited(APIView):
        permission_classes = (IsAuthenticated,)
        throttle_classes = (PerAnonymous, PerUser)

        def get(self, request: Request) -> Response:
            return Response({})

    cache.clear()
    try:
        settings = jwtguard_settings(drf_issuer)
        with served(path("limited", Limited.as_view()), middleware=DJANGO_MIDDLEWARE, JWTGUARD=settings) as client:
            ann, bob = (bearer(drf_issuer.token(subject=name)) for name in ("ann", "bob"))
            # Two requests per user a minute: AnonRateThrottle's one a minute does not apply to token users.
            assert [client.get("/limited", headers=ann).status_code for _ in range(3)] == [200, 200, 429]
            assert client.get("/limited", headers=bob).status_code == 200
            # Another token of ann's is still ann.
            assert client.get("/limited", headers=bearer(drf_issuer.token(subject="ann"))).status_code == 429
    finally:
        cache.clear()


def test_the_permission_classes(drf_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture) -> None:
    class Admins(HasRequirement):
        requirement = "role:admin & claim:tid=acme"

    class View(APIView):
        def get(self, request: Request) -> Response:
            return Response({"sub": require_principal(request).subject})

    views = {
        "roles": View.as_view(permission_classes=[require_roles("admin")]),
        "text": View.as_view(permission_classes=[authorize("scope:orders.read | role:admin")]),
        "objects": View.as_view(permission_classes=[authorize(Scopes("orders.read") | Roles("admin"))]),
        "subclass": View.as_view(permission_classes=[Admins]),
        "drf-or": View.as_view(permission_classes=[require_scopes("orders.read") | require_roles("admin")]),
        "drf-and": View.as_view(permission_classes=[IsAuthenticated & require_scopes("orders.read")]),
        "drf-not": View.as_view(permission_classes=[~require_roles("banned")]),
        "any-token": View.as_view(permission_classes=[require_scopes()]),
    }
    settings = jwtguard_settings(drf_issuer, ROLE_CLAIMS=["roles"])
    routes = [path(name, view) for name, view in views.items()]
    with served(*routes, middleware=DJANGO_MIDDLEWARE, JWTGUARD=settings) as client:

        def get(route: str, **claims: Any) -> tuple[int, Any]:
            return answer(client.get(f"/{route}", headers=bearer(drf_issuer.token(subject="ann", **claims))))

        admin, reader, nobody = {"roles": ["admin"]}, {"scopes": ["orders.read"]}, {"roles": ["viewer"]}
        for route in ("text", "objects", "drf-or"):
            assert get(route, **admin) == get(route, **reader) == (200, {"sub": "ann"}), route
        assert get("text", **nobody) == get("objects", **nobody) == (403, "insufficient_scope")
        assert get("roles", **admin) == (200, {"sub": "ann"})
        assert get("roles", **reader) == (403, "insufficient_role")
        assert get("subclass", roles=["admin"], tid="acme") == (200, {"sub": "ann"})
        assert get("subclass", roles=["admin"], tid="other") == (403, "insufficient_role")
        # DRF's `|` asks each class in turn: the refusal is that of the last one asked.
        assert get("drf-or", **nobody) == (403, "insufficient_role")
        assert get("drf-and", **nobody) == (403, "insufficient_scope")
        assert get("drf-not", **admin) == (200, {"sub": "ann"})
        assert get("drf-not", roles=["banned"])[0] == 403  # DRF's own refusal: `~` inverts a grant
        assert get("any-token") == (200, {"sub": "ann"})
        jwtguard_logs.clear()
        assert answer(client.get("/any-token")) == (401, "token_missing")
        assert [r["code"] for r in refusals(jwtguard_logs)] == ["token_missing"]


def test_requirements_are_checked_when_the_class_is_made() -> None:
    with pytest.raises(ConfigurationError, match="position 8"):
        authorize("role:a |")
    with pytest.raises(ConfigurationError, match=r"^Broken, position"):

        class Broken(HasRequirement):
            requirement = "scope:"

    with pytest.raises(ConfigurationError, match="require_roles: name at least one role"):
        require_roles()
    with pytest.raises(ImproperlyConfigured, match="HasRequirement has no requirement"):
        HasRequirement()
    assert authorize("role:admin").__name__ == "HasRequirement[role:admin]"


def test_without_jwtguards_exception_handler_drf_still_sends_the_status_and_challenge(drf_issuer: DevIssuer) -> None:
    framework = {"DEFAULT_AUTHENTICATION_CLASSES": ["jwtguard.drf.JWTAuthentication"]}
    settings = {"JWTGUARD": jwtguard_settings(drf_issuer), "REST_FRAMEWORK": framework}
    with served(path("orders", Orders.as_view()), middleware=DJANGO_MIDDLEWARE, **settings) as client:
        missing = client.get("/orders")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        expired = client.get("/orders", headers=bearer(drf_issuer.token(expires_in=-600)))
        assert expired.status_code == 401
        assert json.loads(expired.content) == {"detail": "The access token expired."}
        assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
        lacking = client.get("/orders", headers=bearer(drf_issuer.token()))
        assert lacking.status_code == 403
        assert json.loads(lacking.content) == {"detail": InsufficientScope.description}


def test_drfs_other_answers_are_drfs(drf_issuer: DevIssuer) -> None:
    class Missing(APIView):
        def get(self, request: Request) -> Response:
            from rest_framework.exceptions import NotFound

            raise NotFound

    class SessionFirst(Orders):
        authentication_classes = (SessionAuthentication, JWTAuthentication)

    routes = [path("missing", Missing.as_view()), path("session-first", SessionFirst.as_view())]
    settings = jwtguard_settings(drf_issuer, ALLOW_ANONYMOUS=True)
    with served(*routes, middleware=DJANGO_MIDDLEWARE, JWTGUARD=settings) as client:
        token = bearer(drf_issuer.token(scopes=["orders:read"]))
        assert answer(client.get("/missing", headers=token)) == (404, {"detail": "Not found."})
        # DRF sends the challenge of the first authentication class: none for sessions, so DRF answers 403.
        refused = client.get("/session-first")
        assert refused.status_code == 403
        assert "WWW-Authenticate" not in refused.headers


def test_allow_anonymous_leaves_other_schemes_to_the_next_authentication_class(drf_issuer: DevIssuer) -> None:
    class KeyUser(TokenUser):
        pass

    class ApiKeys(BaseAuthentication):
        def authenticate(self, request: Request) -> tuple[Any, None] | None:
            if request.headers.get("Authorization") == "ApiKey sesame":
                return KeyUser(Principal({"sub": "key-holder"})), None
            return None

    class Either(APIView):
        authentication_classes = (JWTAuthentication, ApiKeys)
        permission_classes = (IsAuthenticated,)

        def get(self, request: Request) -> Response:
            return Response({"user": request.user.get_username()})

    settings = jwtguard_settings(drf_issuer, ALLOW_ANONYMOUS=True)
    with served(path("either", Either.as_view()), middleware=DJANGO_MIDDLEWARE, JWTGUARD=settings) as client:
        assert answer(client.get("/either", headers={"Authorization": "ApiKey sesame"})) == (
            200,
            {"user": "key-holder"},
        )
        assert answer(client.get("/either", headers=bearer(drf_issuer.token(subject="ann")))) == (200, {"user": "ann"})
        assert answer(client.get("/either")) == (401, "token_missing")
        assert answer(client.get("/either", headers=bearer(drf_issuer.token(expires_in=-600)))) == (
            401,
            "token_expired",
        )


def test_require_principal_refuses_a_request_without_a_token(
    drf_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    settings = jwtguard_settings(drf_issuer, ALLOW_ANONYMOUS=True)
    for middleware in (DJANGO_MIDDLEWARE, JWTGUARD_MIDDLEWARE):
        with served(path("p", NeedsPrincipal.as_view()), middleware=middleware, JWTGUARD=settings) as client:
            assert answer(client.get("/p", headers=bearer(drf_issuer.token(subject="ann")))) == (200, {"sub": "ann"})
            jwtguard_logs.clear()
            assert answer(client.get("/p")) == (401, "token_missing")
            [record] = refusals(jwtguard_logs)
            assert record["reason"] == "route requires a token, the request had none"


def test_an_auth_error_a_view_raises_is_answered_by_jwtguard(drf_issuer: DevIssuer) -> None:
    class Raises(APIView):
        def get(self, request: Request) -> Response:
            raise TokenMissing("no token for this one")

    with served(path("r", Raises.as_view()), middleware=DJANGO_MIDDLEWARE, JWTGUARD=jwtguard_settings(drf_issuer)) as c:
        assert answer(c.get("/r", headers=bearer(drf_issuer.token()))) == (401, "token_missing")


def test_the_settings_guard_is_rebuilt_only_when_the_setting_is_replaced(drf_issuer: DevIssuer) -> None:
    values = jwtguard_settings(drf_issuer)
    with override_settings(JWTGUARD=values):
        first = jwtguard.drf.settings_guard()
        assert jwtguard.drf.settings_guard() is first
    with override_settings(JWTGUARD=jwtguard_settings(drf_issuer, LEEWAY=5)):
        second = jwtguard.drf.settings_guard()
        assert second is not first
        assert second.settings.leeway == 5
    with override_settings(JWTGUARD={"ISUER": "x"}), pytest.raises(ImproperlyConfigured, match="did you mean"):
        jwtguard.drf.settings_guard()


def test_a_plain_django_view_keeps_working_beside_drf(drf_issuer: DevIssuer) -> None:
    def plain(request: Any) -> HttpResponse:
        return HttpResponse("ok")

    with served(path("plain", plain), middleware=DJANGO_MIDDLEWARE, JWTGUARD=jwtguard_settings(drf_issuer)) as c:
        assert c.get("/plain").status_code == 200  # no DRF view: no jwtguard either
