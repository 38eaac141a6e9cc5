"""Django beyond the cross-stack table: CSRF for bearer requests, the principal for views, and `TokenUser`."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path

from jwtguard import CookieSource, Principal
from jwtguard.django import TokenUser, current_principal, require_principal, require_scopes
from jwtguard.testing import DevIssuer

from .conftest import records
from .stacks import configure_django

#: Django's own layers, as `django-admin startproject` lists them, then jwtguard's.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "jwtguard.django.JWTGuardMiddleware",
]


@contextmanager
def served(
    *routes: Any,
    exclude: Sequence[str] = (),
    sources: Sequence[Any] = ("authorization",),
    issuer: DevIssuer,
    **settings: Any,
) -> Iterator[Client]:
    """A client that meets Django's CSRF check as a browser does, for `routes` behind `MIDDLEWARE`."""
    configure_django()
    urls = types.ModuleType("django_test_urls")
    urls.urlpatterns = list(routes)  # type: ignore[attr-defined]
    jwtguard = {
        "ISSUER": issuer.issuer,
        "AUDIENCE": issuer.audience,
        "JWKS_URI": issuer.jwks_uri,
        "EXCLUDE_PATHS": list(exclude),
        "TOKEN_SOURCES": list(sources),
    }
    with override_settings(
        ROOT_URLCONF=urls,
        MIDDLEWARE=MIDDLEWARE,
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        JWTGUARD=jwtguard,
        **settings,
    ):
        yield Client(enforce_csrf_checks=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def change(request: HttpRequest) -> JsonResponse:
    principal = current_principal(request)
    return JsonResponse({"sub": principal.subject if principal else None})


def test_a_post_with_a_verified_token_needs_no_csrf_token(issuer: DevIssuer) -> None:
    # The bearer token is the credential: a page on another site can make a browser send cookies, not it.
    routes = [path("change", change), path("form", change)]
    with served(*routes, exclude=["/form"], issuer=issuer) as client:
        for send in (client.post, client.put, client.delete):
            response = send("/change", headers=bearer(issuer.token(subject="ann")))
            assert (response.status_code, json.loads(response.content)) == (200, {"sub": "ann"})
        # A refused token is jwtguard's answer, not Django's CSRF page.
        expired = client.post("/change", headers=bearer(issuer.token(expires_in=-600)))
        assert (expired.status_code, json.loads(expired.content)["code"]) == (401, "token_expired")
        # Without a verified token (an excluded path: the token is not read) Django checks CSRF as before.
        assert client.post("/form").status_code == 403
        assert client.post("/form", headers=bearer(issuer.token())).status_code == 403
        assert b"CSRF" in client.post("/form").content


def test_a_token_cookie_is_exempt_from_djangos_csrf_check_only_where_jwtguard_checked_the_site(
    issuer: DevIssuer,
) -> None:
    token = issuer.token(subject="ann")
    same_site = {"Origin": "http://testserver"}
    with served(path("change", change), sources=["cookie:at"], issuer=issuer) as client:
        client.cookies["at"] = token
        assert client.post("/change", headers=same_site).status_code == 200  # jwtguard's own check passed
        refused = client.post("/change", headers={"Origin": "https://elsewhere.example"})
        assert (refused.status_code, json.loads(refused.content)["code"]) == (403, "cross_site_request")
    # Without jwtguard's check the cookie is a credential the browser attaches by itself: Django's check stays.
    sources = ["authorization", CookieSource("at", csrf=False)]
    with served(path("change", change), sources=sources, issuer=issuer) as client:
        client.cookies["at"] = token
        response = client.post("/change", headers=same_site)
        assert response.status_code == 403
        assert b"CSRF" in response.content
        # In such an app the check stays for every request, a bearer header's too (the safe side).
        client.cookies.clear()
        assert client.post("/change", headers=bearer(token)).status_code == 403


def test_require_principal_gives_the_token_or_jwtguards_401(
    issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    def me(request: HttpRequest) -> JsonResponse:
        return JsonResponse({"sub": require_principal(request).subject})

    with served(path("me", me), exclude=["/me"], issuer=issuer) as client:
        jwtguard_logs.clear()
        refused = client.get("/me")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert json.loads(refused.content)["code"] == "token_missing"
        [record] = records(jwtguard_logs)
        assert (record["code"], record["reason"]) == ("token_missing", "route requires a token, the request had none")
    with served(path("me", me), issuer=issuer) as client:
        assert json.loads(client.get("/me", headers=bearer(issuer.token(subject="ann"))).content) == {"sub": "ann"}


def test_other_exceptions_of_a_view_stay_djangos(issuer: DevIssuer) -> None:
    def broken(request: HttpRequest) -> HttpResponse:
        raise LookupError("a bug")

    with served(path("broken", broken), issuer=issuer) as client, pytest.raises(LookupError, match="a bug"):
        client.get("/broken", headers=bearer(issuer.token()))


def test_set_user_makes_request_user_a_token_user(issuer: DevIssuer) -> None:
    seen: list[object] = []

    @require_scopes()
    def who(request: HttpRequest) -> HttpResponse:
        seen.append(request.user)
        return HttpResponse("ok")

    with served(path("who", who), issuer=issuer, JWTGUARD_SET_USER=True) as client:
        assert client.post("/who", headers=bearer(issuer.token(subject="ann"))).status_code == 200
    with served(path("who", who), issuer=issuer) as client:
        assert client.post("/who", headers=bearer(issuer.token(subject="ann"))).status_code == 200
    token_user, session_user = seen
    assert isinstance(token_user, TokenUser)
    assert token_user.get_username() == "ann"
    assert not isinstance(session_user, TokenUser)  # left to django.contrib.auth
    assert not getattr(session_user, "is_authenticated")  # noqa: B009  # an AnonymousUser, lazily loaded


def principal(**claims: Any) -> Principal:
    return Principal({"iss": "https://id.example.test/", "sub": "ann", **claims}, scopes=frozenset({"a"}))


def test_a_token_user_is_a_user_django_accepts() -> None:
    user = TokenUser(principal(roles=["x"]))
    assert (user.is_authenticated, user.is_active, user.is_anonymous) == (True, True, False)
    assert (user.is_staff, user.is_superuser) == (False, False)
    assert user.username == user.get_username() == str(user) == "ann"
    # Django's model permissions live in its database: a token grants none of them.
    assert not user.has_perm("orders.add_order")
    assert not user.has_perms(["orders.add_order"])
    assert user.has_perms([])  # as Django's own users answer an empty list
    assert not user.has_module_perms("orders")
    assert (
        repr(user) == "TokenUser(Principal(subject='ann', issuer='https://id.example.test/', scopes=['a'], roles=[]))"
    )
    # The token's facts read through.
    assert user.subject == "ann"
    assert user.issuer == "https://id.example.test/"
    assert user.claims["roles"] == ["x"]
    assert user.scopes == frozenset({"a"})
    assert user.has_scopes("a")
    assert not user.has_roles("x")  # roles come from role_claims, none configured here
    assert user.roles == user.permissions == frozenset()
    assert not user.has_permissions("p")


def test_a_token_users_key_is_its_subject_at_its_issuer() -> None:
    ann = TokenUser(principal()).pk
    assert ann is not None
    assert len(ann) == 32
    assert int(ann, 16) >= 0
    assert TokenUser(principal()).id == ann  # every token of the same user
    assert TokenUser(principal(jti="another")).pk == ann
    assert TokenUser(principal(iss="https://other.example.test/")).pk != ann  # a `sub` is unique per issuer
    assert TokenUser(principal(sub="bob")).pk != ann
    # Issuer and subject cannot trade characters and collide.
    assert TokenUser(principal(iss="a", sub='b","c')).pk != TokenUser(principal(iss='a","b', sub="c")).pk
    no_subject = TokenUser(Principal({"iss": "https://id.example.test/"}))
    assert (no_subject.pk, no_subject.username) == (None, "")
