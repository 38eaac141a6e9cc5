"""The development issuer's authorization code flow with PKCE: what Swagger UI's Authorize button does, by hand."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from jwtguard import Guard
from jwtguard.testing import DevIssuer

from .conftest import FakeClock

REDIRECT = "http://127.0.0.1:8000/docs/oauth2-redirect"


def challenge_for(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def dev() -> Iterator[DevIssuer]:
    with DevIssuer(audience="orders", scopes_supported=["orders:read"], login_subject="ann") as issuer:
        yield issuer


def authorize(issuer: DevIssuer, verifier: str, **overrides: str) -> httpx.Response:
    params = {
        "response_type": "code",
        "client_id": "docs",
        "redirect_uri": REDIRECT,
        "scope": "orders:read profile",
        "state": "s-1",
        "code_challenge": challenge_for(verifier),
        "code_challenge_method": "S256",
        **overrides,
    }
    return httpx.get(issuer.authorization_endpoint, params={k: v for k, v in params.items() if v != "-"})


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["s-1"]
    return query["code"][0]


def exchange(issuer: DevIssuer, authorization_code: str, verifier: str, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": authorization_code,
        "client_id": "docs",
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **overrides,
    }
    return httpx.post(issuer.token_endpoint, data=form, headers={"X-Requested-With": "XMLHttpRequest"})


def test_discovery_names_the_endpoints_and_pkce(dev: DevIssuer) -> None:
    document = httpx.get(dev.discovery_url).json()
    assert document["issuer"] == dev.issuer
    assert document["authorization_endpoint"] == dev.issuer + "/authorize"
    assert document["token_endpoint"] == dev.issuer + "/token"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["grant_types_supported"] == ["authorization_code"]
    assert document["scopes_supported"] == ["orders:read"]


def test_a_code_is_exchanged_once_for_a_token_the_guard_accepts(dev: DevIssuer) -> None:
    verifier = secrets.token_urlsafe(48)
    code = code_from(authorize(dev, verifier))
    answer = exchange(dev, code, verifier)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["access-control-allow-origin"] == "*"
    body: dict[str, Any] = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "orders:read profile"
    principal = Guard(dev.settings()).authenticate(f"Bearer {body['access_token']}")
    assert principal.subject == "ann"
    assert principal.scopes == {"orders:read", "profile"}
    assert principal.claims["client_id"] == "docs"

    again = exchange(dev, code, verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("code_verifier", secrets.token_urlsafe(48), id="another-verifier"),
        pytest.param("code_verifier", "short", id="verifier-too-short"),
        pytest.param("client_id", "other", id="another-client"),
        pytest.param("redirect_uri", "http://127.0.0.1:8000/elsewhere", id="another-redirect-uri"),
        pytest.param("code", "made-up", id="unknown-code"),
        pytest.param("grant_type", "password", id="another-grant"),
    ],
)
def test_the_token_endpoint_refuses_a_mismatch(dev: DevIssuer, field: str, value: str) -> None:
    verifier = secrets.token_urlsafe(48)
    code = code_from(authorize(dev, verifier))
    refused = exchange(dev, code, verifier, **{field: value})
    assert refused.status_code == 400
    assert refused.json()["error"] == ("unsupported_grant_type" if field == "grant_type" else "invalid_grant")
    assert "access_token" not in refused.json()


def test_codes_expire() -> None:
    clock = FakeClock(start=1_800_000_000)
    with DevIssuer(audience="orders", clock=clock) as dev:
        verifier = secrets.token_urlsafe(48)
        code = code_from(authorize(dev, verifier))
        clock.advance(DevIssuer.CODE_LIFETIME)
        assert exchange(dev, code, verifier).json()["error"] == "invalid_grant"
        forgotten = code_from(authorize(dev, verifier))
        clock.advance(DevIssuer.CODE_LIFETIME)
        code_from(authorize(dev, verifier))  # an expired code is dropped when the next is issued
        assert exchange(dev, forgotten, verifier).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="plain-pkce"),
        pytest.param({"code_challenge_method": "-", "code_challenge": "-"}, "invalid_request", id="no-pkce"),
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
        pytest.param({"scope": 'orders "read"'}, "invalid_scope", id="bad-scope"),
    ],
)
def test_the_authorization_endpoint_sends_errors_back(dev: DevIssuer, overrides: dict[str, str], error: str) -> None:
    answer = authorize(dev, secrets.token_urlsafe(48), **overrides)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == [error]
    assert query["state"] == ["s-1"]
    assert "code" not in query


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param("https://attacker.example/cb", id="another-host"),
        pytest.param("http://10.0.0.1/cb", id="private-address"),
        pytest.param("javascript:alert(1)", id="script"),
        pytest.param("http://127.0.0.1/cb#fragment", id="fragment"),
        pytest.param("http://[::1/cb", id="not-a-url"),
        pytest.param("-", id="missing"),
    ],
)
def test_the_authorization_endpoint_redirects_only_to_loopback(dev: DevIssuer, redirect_uri: str) -> None:
    answer = authorize(dev, secrets.token_urlsafe(48), redirect_uri=redirect_uri)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert answer.json()["error"] == "invalid_request"


def test_without_a_client_id_nothing_is_redirected(dev: DevIssuer) -> None:
    answer = authorize(dev, secrets.token_urlsafe(48), client_id="-")
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_preflights_are_answered_for_the_documentation_page(dev: DevIssuer) -> None:
    preflight = httpx.request(
        "OPTIONS",
        dev.token_endpoint,
        headers={"Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "X-Requested-With" in preflight.headers["access-control-allow-headers"]
    assert httpx.get(dev.discovery_url).headers["access-control-allow-origin"] == "*"


def test_localhost_without_state_or_scopes(dev: DevIssuer) -> None:
    verifier = secrets.token_urlsafe(48)
    redirect = "http://localhost:8000/cb?from=docs"
    answer = authorize(dev, verifier, redirect_uri=redirect, state="-", scope="-")
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert sorted(query) == ["code", "from"]
    body = exchange(dev, query["code"][0], verifier, redirect_uri=redirect).json()
    assert "scope" not in body
    assert Guard(dev.settings()).authenticate(f"Bearer {body['access_token']}").scopes == frozenset()
