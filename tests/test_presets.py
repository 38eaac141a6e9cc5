"""The identity-aware proxy presets of `jwtguard.presets`, with assertions shaped as each proxy writes them.

A `DevIssuer` on 127.0.0.1 signs and serves the keys in place of the proxy's key URL (`jwks_uri=` override); every
request goes through a Starlette app (or a WSGI one) from a given peer address, since the presets accept their header
only from `trusted_proxies`. The blocks of docs/providers.md's "Identity-aware proxies" section run as written.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client
from werkzeug.wrappers import Response

from jwtguard import JWTGuardMiddleware, Principal, Settings
from jwtguard._jwk import load_jwks
from jwtguard.errors import ConfigurationError
from jwtguard.presets import (
    CLOUDFLARE_ACCESS_HEADER,
    GOOGLE_IAP_HEADER,
    GOOGLE_IAP_ISSUER,
    GOOGLE_IAP_JWKS_URI,
    GOOGLE_IAP_RANGES,
    OAUTH2_PROXY_HEADER,
    cloudflare_access,
    google_iap,
    oauth2_proxy,
)
from jwtguard.testing import DevIssuer, SigningKey, generate_key
from jwtguard.wsgi import JWTGuardWSGIMiddleware

from .recipes import ROOT

PROXY = "10.1.2.3"  # the proxy's address, in trusted_proxies
STRANGER = "203.0.113.9"  # any other peer

IAP_AUDIENCE = "/projects/123456789012/global/backendServices/4567890123456789012"
IAP_KID = "gO4i_Q"  # IAP's kids are six base64url characters
AUD_TAG = "32eafc7626e974616deaf0dc3ce63d7bcbed58a2731e84d06bc3cdf1b53c4228"
CF_TEAM = "https://acme.cloudflareaccess.com"
CF_KID = "9338abe1baf2fe492f646a736f25afbf7b025e35c627be4f60c414d4c73069b8"


@pytest.fixture(scope="module")
def es256_key() -> SigningKey:
    return generate_key("ES256", kid=IAP_KID)


@pytest.fixture(scope="module")
def rs256_key() -> SigningKey:
    return generate_key("RS256", kid=CF_KID)


@pytest.fixture
def iap(es256_key: SigningKey) -> Iterator[DevIssuer]:
    with DevIssuer(audience=IAP_AUDIENCE, keys=[es256_key]) as dev:
        yield dev


@pytest.fixture
def cloudflare(rs256_key: SigningKey) -> Iterator[DevIssuer]:
    with DevIssuer(audience=AUD_TAG, keys=[rs256_key]) as dev:
        # The certs document as Cloudflare serves it: the JWKs, and the same keys as PEM certificates beside them.
        pem = {"kid": CF_KID, "cert": "-----BEGIN CERTIFICATE-----\nMIIDZz...\n-----END CERTIFICATE-----\n"}
        dev.server.jwks = {**dev.server.jwks, "public_cert": pem, "public_certs": [pem]}
        yield dev


def iap_assertion(dev: DevIssuer, **claims: Any) -> str:
    """An assertion as IAP writes it: ES256 under a short kid, `typ` JWT, no `nbf` or `jti`."""
    options: dict[str, Any] = {
        "issuer": GOOGLE_IAP_ISSUER,
        "subject": "accounts.google.com:110532853671892060667",
        "expires_in": 600,
        "email": "alice@example.com",
        "hd": "example.com",
        "nbf": None,
        "jti": None,
        **claims,
    }
    return dev.token(headers={"typ": "JWT"}, **options)


def cloudflare_assertion(dev: DevIssuer, **claims: Any) -> str:
    """An application token as Cloudflare Access writes it: `aud` a list with the AUD tag, `type` app."""
    options: dict[str, Any] = {
        "issuer": CF_TEAM,
        "audience": [AUD_TAG],
        "subject": str(uuid.uuid4()),
        "email": "alice@example.com",
        "type": "app",
        "identity_nonce": "6ei69kawdKzMIAPF",
        "country": "US",
        "jti": None,
        **claims,
    }
    return dev.token(headers={"typ": "JWT"}, **options)


async def whoami(request: Request) -> JSONResponse:
    principal = request.auth
    assert isinstance(principal, Principal)
    return JSONResponse({"sub": principal.subject, "email": principal.claims.get("email")})


def call(settings: Settings, peer: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """GET /me from `peer` through a Starlette app guarded by `settings`."""
    app = Starlette(routes=[Route("/me", whoami)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    with TestClient(app, client=(peer, 1234)) as client:
        response = client.get("/me", headers=headers)
    return response.status_code, response.json()


def code(result: tuple[int, dict[str, Any]]) -> tuple[int, str | None]:
    return result[0], result[1].get("code")


# -- Google IAP -----------------------------------------------------------------------------------------------------


def iap_settings(dev: DevIssuer, **overrides: Any) -> Settings:
    return google_iap(IAP_AUDIENCE, trusted_proxies=["10.1.2.0/24"], jwks_uri=dev.jwks_uri, **overrides)


def test_google_iap_fills_in_iap(iap: DevIssuer) -> None:
    settings = google_iap(IAP_AUDIENCE, trusted_proxies=GOOGLE_IAP_RANGES)
    assert settings.issuer == (GOOGLE_IAP_ISSUER,)
    assert settings.jwks_uri == GOOGLE_IAP_JWKS_URI
    assert settings.algorithms == ("ES256",)
    assert [source.name for source in settings.sources] == [f"header:{GOOGLE_IAP_HEADER}"]
    assert settings.trusted_proxies == GOOGLE_IAP_RANGES


def test_an_iap_assertion_from_the_proxy_is_accepted(iap: DevIssuer) -> None:
    status, body = call(iap_settings(iap), PROXY, {"X-Goog-IAP-JWT-Assertion": iap_assertion(iap)})
    assert (status, body) == (200, {"sub": "accounts.google.com:110532853671892060667", "email": "alice@example.com"})


def test_an_iap_assertion_from_another_peer_is_untrusted_proxy(iap: DevIssuer) -> None:
    result = call(iap_settings(iap), STRANGER, {"X-Goog-IAP-JWT-Assertion": iap_assertion(iap)})
    assert code(result) == (403, "untrusted_proxy")


def test_a_token_in_authorization_is_token_missing_for_iap(iap: DevIssuer) -> None:
    result = call(iap_settings(iap), PROXY, {"Authorization": f"Bearer {iap_assertion(iap)}"})
    assert code(result) == (401, "token_missing")


def test_an_iap_assertion_for_another_backend_is_audience_invalid(iap: DevIssuer) -> None:
    other = iap_assertion(iap, audience="/projects/123456789012/global/backendServices/1")
    assert code(call(iap_settings(iap), PROXY, {GOOGLE_IAP_HEADER: other})) == (401, "audience_invalid")


def test_an_rs256_assertion_is_refused_by_the_iap_preset(iap: DevIssuer, rs256_key: SigningKey) -> None:
    iap.publish([iap.key, rs256_key])
    forged = iap_assertion(iap, key=rs256_key)
    assert code(call(iap_settings(iap), PROXY, {GOOGLE_IAP_HEADER: forged})) == (401, "algorithm_not_allowed")


def test_iap_settings_pass_overrides_through(iap: DevIssuer) -> None:
    settings = iap_settings(iap, required_claim_values={"hd": ["example.org"]})
    assert code(call(settings, PROXY, {GOOGLE_IAP_HEADER: iap_assertion(iap)})) == (401, "claim_invalid")
    static = google_iap(IAP_AUDIENCE, trusted_proxies=[PROXY], jwks={"keys": [iap.key.public_jwk()]})
    assert (static.jwks_uri, static.static_jwks) == (None, {"keys": [iap.key.public_jwk()]})


@pytest.mark.parametrize(
    "audience",
    [
        IAP_AUDIENCE,
        "/projects/123456789012/apps/acme-orders",
        "/projects/123456789012/locations/europe-west1/services/orders-api",
        [IAP_AUDIENCE, "/projects/123456789012/apps/acme-orders"],
    ],
)
def test_each_iap_audience_shape_is_accepted(audience: str | list[str]) -> None:
    settings = google_iap(audience, trusted_proxies=GOOGLE_IAP_RANGES)
    assert settings.audiences == ((audience,) if isinstance(audience, str) else tuple(audience))


@pytest.mark.parametrize(
    ("audience", "message"),
    [
        ("/projects/acme-orders/global/backendServices/4567890123456789012", "number (digits), not its id"),
        ("/projects/123456789012/global/backendServices/orders-backend", "numeric id, not its name"),
        ("123456789012", "is not /projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID"),
        ("https://orders.example.com", "is not /projects/PROJECT_NUMBER"),
        ("projects/123456789012/apps/acme-orders", "is not /projects/PROJECT_NUMBER"),
        ("/projects/123456789012/global/backendServices/45678/", "is not /projects/PROJECT_NUMBER"),
        ("", "non-empty"),
    ],
)
def test_a_wrong_iap_audience_is_a_configuration_error(audience: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        google_iap(audience, trusted_proxies=GOOGLE_IAP_RANGES)


def test_an_iap_assertion_through_wsgi_from_the_proxy_only(iap: DevIssuer) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        principal = environ["jwtguard.principal"]
        return Response(principal.subject)(environ, start_response)

    client = Client(JWTGuardWSGIMiddleware(app, iap_settings(iap)))
    headers = {GOOGLE_IAP_HEADER: iap_assertion(iap)}
    accepted = client.get("/me", headers=headers, environ_base={"REMOTE_ADDR": PROXY})
    assert (accepted.status_code, accepted.text) == (200, "accounts.google.com:110532853671892060667")
    refused = client.get("/me", headers=headers, environ_base={"REMOTE_ADDR": STRANGER})
    assert (refused.status_code, json.loads(refused.text)["code"]) == (403, "untrusted_proxy")


# -- Cloudflare Access ----------------------------------------------------------------------------------------------


def cloudflare_settings(dev: DevIssuer) -> Settings:
    return cloudflare_access("acme", AUD_TAG, trusted_proxies=[PROXY], jwks_uri=dev.jwks_uri)


def test_cloudflare_access_fills_in_the_team() -> None:
    for team in ("acme", "acme.cloudflareaccess.com", "https://acme.cloudflareaccess.com/", "ACME"):
        settings = cloudflare_access(team, AUD_TAG.upper(), trusted_proxies=["127.0.0.1"])
        assert settings.issuer == (CF_TEAM,)
        assert settings.jwks_uri == f"{CF_TEAM}/cdn-cgi/access/certs"
        assert settings.audiences == (AUD_TAG,)
        assert settings.algorithms == ("RS256",)
        assert [source.name for source in settings.sources] == [f"header:{CLOUDFLARE_ACCESS_HEADER}"]


def test_the_cloudflare_certs_document_loads_its_keys_and_ignores_the_pem_members(cloudflare: DevIssuer) -> None:
    keys, skipped = load_jwks(dict(cloudflare.server.jwks))
    assert ([key.kid for key in keys], skipped) == ([CF_KID], [])


def test_a_cloudflare_assertion_from_the_proxy_is_accepted(cloudflare: DevIssuer) -> None:
    token = cloudflare_assertion(cloudflare, subject="7335d417-61da-459d-899c-0a01c76a2f94")
    status, body = call(cloudflare_settings(cloudflare), PROXY, {"Cf-Access-Jwt-Assertion": token})
    assert (status, body) == (200, {"sub": "7335d417-61da-459d-899c-0a01c76a2f94", "email": "alice@example.com"})


def test_a_cloudflare_assertion_from_another_peer_is_untrusted_proxy(cloudflare: DevIssuer) -> None:
    result = call(
        cloudflare_settings(cloudflare), STRANGER, {"Cf-Access-Jwt-Assertion": cloudflare_assertion(cloudflare)}
    )
    assert code(result) == (403, "untrusted_proxy")


def test_the_cf_authorization_cookie_alone_is_token_missing(cloudflare: DevIssuer) -> None:
    result = call(
        cloudflare_settings(cloudflare), PROXY, {"Cookie": f"CF_Authorization={cloudflare_assertion(cloudflare)}"}
    )
    assert code(result) == (401, "token_missing")


def test_a_cloudflare_assertion_for_another_application_is_audience_invalid(cloudflare: DevIssuer) -> None:
    other = cloudflare_assertion(cloudflare, audience=["0" * 64])
    assert code(call(cloudflare_settings(cloudflare), PROXY, {CLOUDFLARE_ACCESS_HEADER: other})) == (
        401,
        "audience_invalid",
    )


@pytest.mark.parametrize(
    ("team", "audience", "message"),
    [
        ("acme", "orders.example.com", "is not an Access application's AUD tag"),
        ("acme", AUD_TAG[:-1], "is not an Access application's AUD tag"),
        ("acme.example.com", AUD_TAG, "is not a Zero Trust team name"),
        ("", AUD_TAG, "is not a Zero Trust team name"),
    ],
)
def test_a_wrong_cloudflare_team_or_aud_tag_is_a_configuration_error(team: str, audience: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        cloudflare_access(team, audience, trusted_proxies=[PROXY])


# -- oauth2-proxy ---------------------------------------------------------------------------------------------------


def test_oauth2_proxy_finds_the_idp_keys_by_discovery_and_reads_its_header(iap: DevIssuer) -> None:
    with DevIssuer(audience="orders-api") as idp:
        settings = oauth2_proxy(idp.issuer, "orders-api", trusted_proxies=[PROXY])
        assert (settings.discovery, settings.jwks_uri) == (True, None)
        token = idp.token(subject="alice")
        status, body = call(settings, PROXY, {"X-Forwarded-Access-Token": token})
        assert (status, body["sub"]) == (200, "alice")
        assert code(call(settings, STRANGER, {OAUTH2_PROXY_HEADER: token})) == (403, "untrusted_proxy")
        assert code(call(settings, PROXY, {"Authorization": f"Bearer {token}"})) == (401, "token_missing")
        by_uri = oauth2_proxy(idp.issuer, "orders-api", trusted_proxies=[PROXY], jwks_uri=idp.jwks_uri)
        assert (by_uri.discovery, by_uri.jwks_uri) == (False, idp.jwks_uri)


def test_every_preset_requires_trusted_proxies() -> None:
    with pytest.raises(TypeError):
        google_iap(IAP_AUDIENCE)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        cloudflare_access("acme", AUD_TAG)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        oauth2_proxy("https://sso.example.com", "orders-api")  # type: ignore[call-arg]


def test_importing_jwtguard_does_not_import_the_presets() -> None:
    script = "import sys, jwtguard; assert 'jwtguard.presets' not in sys.modules; print('ok')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


# -- the documentation's blocks -------------------------------------------------------------------------------------

DOCS = (ROOT / "docs" / "providers.md").read_text(encoding="utf-8")
BLOCKS = dict(re.findall(r"<!-- preset: ([\w-]+) -->\n```python\n(.*?)```", DOCS, re.DOTALL))
ENV_BLOCKS = dict(re.findall(r"<!-- preset-env: ([\w-]+) -->\n```sh\n(.*?)```", DOCS, re.DOTALL))


def run(name: str) -> Settings:
    namespace: dict[str, Any] = {"__name__": "preset_recipe"}
    exec(compile(BLOCKS[name], f"docs/providers.md: {name}", "exec"), namespace)  # noqa: S102  # our own documentation
    settings = namespace["settings"]
    assert isinstance(settings, Settings)
    return settings


def essentials(settings: Settings) -> dict[str, Any]:
    return {
        "issuer": settings.issuer,
        "audience": settings.audiences,
        "algorithms": settings.algorithms,
        "jwks_uri": settings.jwks_uri,
        "discovery": settings.discovery,
        "sources": [source.name for source in settings.sources],
        "trusted_proxies": settings.trusted_proxies,
        "required_claim_values": settings.required_claim_values,
        "exclude_paths": settings.exclude_paths,
    }


def test_every_preset_block_is_found() -> None:
    assert sorted(BLOCKS) == ["aws-alb-access-token", "cloudflare-access", "google-iap", "oauth2-proxy"]
    assert sorted(ENV_BLOCKS) == ["cloudflare-access", "google-iap", "oauth2-proxy"]
    assert DOCS.count("<!-- preset") == len(BLOCKS) + len(ENV_BLOCKS)


@pytest.mark.parametrize("name", ["cloudflare-access", "google-iap", "oauth2-proxy"])
def test_the_environment_form_says_what_the_preset_does(name: str) -> None:
    environ = dict(line.split("=", 1) for line in ENV_BLOCKS[name].splitlines() if line.strip())
    assert essentials(Settings.from_env(environ)) == essentials(run(name))


def test_the_documented_iap_preset_accepts_an_assertion_from_googles_front_ends(iap: DevIssuer) -> None:
    settings = dataclasses.replace(run("google-iap"), issuer=GOOGLE_IAP_ISSUER, jwks_uri=iap.jwks_uri)
    headers = {GOOGLE_IAP_HEADER: iap_assertion(iap)}
    assert call(settings, "35.191.4.5", headers)[0] == 200
    assert call(settings, "2600:2d00:1:1::17", headers)[0] == 200
    assert code(call(settings, PROXY, headers)) == (403, "untrusted_proxy")
    assert code(call(settings, "35.191.4.5", {GOOGLE_IAP_HEADER: iap_assertion(iap, hd=None)})) == (
        401,
        "claim_missing",
    )


def test_the_documented_cloudflare_preset_accepts_an_assertion_from_cloudflared(cloudflare: DevIssuer) -> None:
    settings = dataclasses.replace(run("cloudflare-access"), jwks_uri=cloudflare.jwks_uri)
    headers = {CLOUDFLARE_ACCESS_HEADER: cloudflare_assertion(cloudflare)}
    assert call(settings, "127.0.0.1", headers)[0] == 200
    assert code(call(settings, PROXY, headers)) == (403, "untrusted_proxy")


def test_the_documented_alb_alternative_reads_the_forwarded_access_token() -> None:
    settings = run("aws-alb-access-token")
    assert [source.name for source in settings.sources] == ["header:x-amzn-oidc-accesstoken"]
    assert settings.trusted_proxies == ("10.0.0.0/20",)
