"""Every recipe of docs/providers.md, configured exactly as written, against that provider's token shapes.

The keys are served by a real `KeyServer` on 127.0.0.1 in place of the provider's key URL; a recipe that uses
discovery is also run with discovery against the local server. Tokens are signed under a `kid` in the provider's
style with the provider's own JOSE header (no `typ`, `at+jwt`, an `x5t`), and every request goes through a
Starlette app over httpx's ASGI transport, whose routes answer with what the `Principal` holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtguard import Guard, Issuer, JWTGuardMiddleware, Principal, Settings, authorize
from jwtguard.testing import DISCOVERY_PATH, KeyServer, SigningKey, generate_key

from .providers import COGNITO_CLIENT_ID, ENTRA_KID, ENTRA_TENANT, Token, all_providers
from .recipes import blocks, local_settings, run, sign, with_local_discovery

pytestmark = pytest.mark.anyio

NOW = 1_760_000_000
PROVIDERS = {provider.name: provider for provider in all_providers(NOW)}
DOCS = "docs/providers.md"
RECIPES = blocks(DOCS)


class Expected(NamedTuple):
    """What the recipe makes of the provider's tokens on `/orders`, the route its rules cover."""

    scopes: set[str]
    roles: set[str]
    permissions: set[str]
    missing_role: tuple[int, str]
    """The status and code for the token without the role."""
    challenge_scope: str | None = None
    """The scope the 403 challenge asks for, when scopes alone could lift it."""


EXPECTED = {
    "auth0": Expected(
        {"openid", "profile", "read:orders"},
        {"orders-reader"},
        {"read:orders"},
        (403, "insufficient_scope"),
        "read:orders",
    ),
    "keycloak": Expected(
        {"openid", "profile", "email"},
        {"default-roles-acme", "offline_access", "uma_authorization", "orders-reader", "reader"},
        set(),
        (403, "insufficient_role"),
    ),
    "entra-v2": Expected({"Orders.Read"}, {"Orders.Reader"}, set(), (403, "insufficient_scope"), "Orders.Read"),
    "entra-multi-tenant": Expected(
        {"Orders.Read"}, {"Orders.Reader"}, set(), (403, "insufficient_scope"), "Orders.Read"
    ),
    "cognito": Expected({"orders-api/read"}, {"orders-readers"}, set(), (403, "insufficient_scope"), "orders-api/read"),
    "okta": Expected(
        {"openid", "orders.read"}, {"Everyone", "orders-readers"}, set(), (403, "insufficient_scope"), "orders.read"
    ),
    # No roles at Google: the consumer account lacks the hosted domain the recipe requires.
    "google": Expected(set(), set(), set(), (401, "claim_missing")),
    "zitadel": Expected(set(), {"orders-reader"}, set(), (403, "insufficient_role")),
}
RECIPE_PROVIDERS = sorted(EXPECTED)
DISCOVERY_RECIPES = [name for name in RECIPE_PROVIDERS if "discovery=True" in RECIPES[name]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    """A key per provider under its `kid` (the Entra providers share theirs), once: RSA generation is slow."""
    by_kid: dict[str, SigningKey] = {}
    for provider in PROVIDERS.values():
        if provider.kid not in by_kid:
            by_kid[provider.kid] = generate_key(provider.alg, kid=provider.kid)
    return {name: by_kid[provider.kid] for name, provider in PROVIDERS.items()}


@pytest.fixture
def server() -> Iterator[KeyServer]:
    with KeyServer() as key_server:
        yield key_server


# What a provider's JWKS adds to each key: Entra's v2.0 keys document names the issuers that use the key.
PUBLISHED_MEMBERS = {ENTRA_KID: {"x5t": ENTRA_KID, "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"}}


def serve(server: KeyServer, *signing_keys: SigningKey) -> KeyServer:
    server.jwks = {"keys": [{**key.public_jwk(), **PUBLISHED_MEMBERS.get(key.kid, {})} for key in signing_keys]}
    return server


def recipe(name: str, server: KeyServer) -> Settings:
    """The recipe `name` as the documentation writes it, its keys from `server`."""
    return local_settings(RECIPES[name], f"{DOCS}: {name}", server.jwks_uri)


async def whoami(request: Request) -> JSONResponse:
    principal = request.auth
    assert isinstance(principal, Principal)
    return JSONResponse(
        {
            "sub": principal.subject,
            "scopes": sorted(principal.scopes),
            "roles": sorted(principal.roles),
            "permissions": sorted(principal.permissions),
        }
    )


def authorized(requirement: str) -> Route:
    """`/authorized`, guarded in code by `authorize(requirement)` rather than by a rule."""

    @authorize(requirement)
    async def endpoint(request: Request) -> JSONResponse:
        return await whoami(request)

    return Route("/authorized", endpoint)


class Api:
    """A Starlette app behind jwtguard, its wall clock at NOW."""

    def __init__(self, guard: Guard, client: httpx.AsyncClient) -> None:
        self.guard = guard
        self.client = client

    async def get(self, path: str, token: str) -> httpx.Response:
        return await self.client.get(path, headers={"Authorization": f"Bearer {token}"})

    async def outcome(self, path: str, token: str) -> tuple[int, str | None]:
        response = await self.get(path, token)
        return response.status_code, response.json().get("code")


@asynccontextmanager
async def api(settings: Settings, *routes: Route) -> AsyncIterator[Api]:
    guard = Guard(settings, clock=lambda: NOW)
    app = Starlette(routes=[Route("/orders", whoami), Route("/reports", whoami), Route("/me", whoami), *routes])
    app.add_middleware(JWTGuardMiddleware, guard=guard)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(guard, client)
    finally:
        guard.close()


def granted(body: Any) -> tuple[set[str], set[str], set[str]]:
    return set(body["scopes"]), set(body["roles"]), set(body["permissions"])


# -- every recipe: the valid token, another API's token, a token without the role -----------------------------------


def test_every_provider_section_has_its_recipe() -> None:
    assert sorted(RECIPES) == sorted([*RECIPE_PROVIDERS, "entra-v1-and-v2"])


@pytest.mark.parametrize("name", RECIPE_PROVIDERS)
async def test_the_valid_token_is_accepted_with_its_scopes_roles_and_permissions(
    name: str, keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider, expected = PROVIDERS[name], EXPECTED[name]
    token = sign(keys[name], provider.valid)
    assert jwt.get_unverified_header(token) == {"alg": provider.alg, "kid": provider.kid, **provider.valid.header}
    async with api(recipe(name, serve(server, keys[name]))) as app:
        response = await app.get("/orders", token)
        assert response.status_code == 200, response.json()
        assert response.json()["sub"] == provider.valid.claims["sub"]
        assert granted(response.json()) == (expected.scopes, expected.roles, expected.permissions)
        assert (await app.get("/me", token)).status_code == 200
    assert server.jwks_hits == 1


@pytest.mark.parametrize("name", RECIPE_PROVIDERS)
async def test_a_token_for_another_api_is_audience_invalid(
    name: str, keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider = PROVIDERS[name]
    async with api(recipe(name, serve(server, keys[name]))) as app:
        for path in ("/orders", "/me"):
            assert await app.outcome(path, sign(keys[name], provider.wrong_audience)) == (401, "audience_invalid")


@pytest.mark.parametrize("name", RECIPE_PROVIDERS)
async def test_a_token_without_the_role_is_refused_where_a_requirement_applies(
    name: str, keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider, expected = PROVIDERS[name], EXPECTED[name]
    routes = [authorized(provider.requirement)] if provider.requirement else []
    async with api(recipe(name, serve(server, keys[name])), *routes) as app:
        token = sign(keys[name], provider.missing_role)
        response = await app.get("/orders", token)
        assert (response.status_code, response.json()["code"]) == expected.missing_role
        challenge = response.headers["www-authenticate"]
        if expected.challenge_scope is None:
            assert "scope=" not in challenge
        else:
            assert challenge.endswith(f'scope="{expected.challenge_scope}"')
        if not provider.requirement:  # Google: the token itself is refused, on every route
            assert await app.outcome("/me", token) == expected.missing_role
            return
        # No rule covers /me: a valid token is all it needs. authorize() answers as the rule does.
        assert (await app.get("/me", token)).status_code == 200
        assert await app.outcome("/authorized", token) == expected.missing_role
        assert (await app.get("/authorized", sign(keys[name], provider.valid))).status_code == 200


# Each provider's other shapes, on /orders: (provider, variant, status, code).
VARIANTS = [
    ("auth0", "rfc9068_profile", 200, None),
    ("auth0", "machine_to_machine", 200, None),
    ("keycloak", "legacy_issuer", 401, "issuer_invalid"),
    ("entra-v2", "app_only", 200, None),
    ("entra-v2", "groups_overage", 200, None),
    ("entra-v2", "hasgroups", 200, None),
    ("entra-multi-tenant", "second_tenant", 200, None),
    ("entra-multi-tenant", "other_tenant", 401, "issuer_invalid"),
    ("entra-multi-tenant", "consumer_account", 401, "issuer_invalid"),
    ("entra-multi-tenant", "iss_tid_mismatch", 401, "issuer_invalid"),
    ("cognito", "id_token", 401, "audience_invalid"),
    ("cognito", "updated_issuer", 401, "issuer_invalid"),
    ("okta", "client_credentials", 200, None),
    ("google", "legacy_issuer", 200, None),
]


def test_every_variant_is_in_the_table() -> None:
    covered = {(name, label) for name, label, _, _ in VARIANTS}
    assert covered == {(name, label) for name in RECIPE_PROVIDERS for label in PROVIDERS[name].variants}


@pytest.mark.parametrize(("name", "label", "status", "code"), VARIANTS)
async def test_each_variant_gets_its_answer(
    name: str, label: str, status: int, code: str | None, keys: dict[str, SigningKey], server: KeyServer
) -> None:
    async with api(recipe(name, serve(server, keys[name]))) as app:
        assert await app.outcome("/orders", sign(keys[name], PROVIDERS[name].variants[label])) == (status, code)


# -- discovery, where a recipe uses it ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", DISCOVERY_RECIPES)
async def test_the_recipe_finds_its_keys_by_discovery(
    name: str, keys: dict[str, SigningKey], server: KeyServer
) -> None:
    # The local server is the issuer here: the discovery document must name exactly the configured issuer.
    provider = PROVIDERS[name]
    code = with_local_discovery(RECIPES[name], provider.issuer, server.url)
    settings = run(code, f"{DOCS}: {name}")
    assert [(entry.names, entry.discovery) for entry in settings.trusted_issuers] == [((server.url,), True)]
    serve(server, keys[name])
    async with api(settings) as app:
        response = await app.get("/orders", sign(keys[name], provider.valid, iss=server.url))
        assert response.status_code == 200, response.json()
        assert set(response.json()["roles"]) == EXPECTED[name].roles
        token = sign(keys[name], provider.wrong_audience, iss=server.url)
        assert await app.outcome("/orders", token) == (401, "audience_invalid")
    assert (server.hits[DISCOVERY_PATH], server.jwks_hits) == (1, 1)


# -- the acceptance cases of the provider recipes ----------------------------------------------------------------


async def test_a_keycloak_token_is_authorized_by_a_realm_role_and_by_a_client_role(
    keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider, key = PROVIDERS["keycloak"], keys["keycloak"]
    claims = provider.valid.claims
    realm_role_only = sign(key, provider.valid, resource_access={"account": claims["resource_access"]["account"]})
    client_role_only = sign(key, provider.valid, realm_access={"roles": ["default-roles-acme", "offline_access"]})
    async with api(recipe("keycloak", serve(server, key))) as app:
        # /orders needs the realm role orders-reader, /reports the client role reader of orders-api.
        assert (await app.get("/orders", realm_role_only)).status_code == 200
        assert await app.outcome("/reports", realm_role_only) == (403, "insufficient_role")
        response = await app.get("/reports", client_role_only)
        assert response.status_code == 200
        assert set(response.json()["roles"]) == {"default-roles-acme", "offline_access", "reader"}
        assert await app.outcome("/orders", client_role_only) == (403, "insufficient_role")
        both = sign(key, provider.valid)
        assert [(await app.get(path, both)).status_code for path in ("/orders", "/reports")] == [200, 200]


async def test_an_entra_app_only_token_is_authorized_by_an_app_role_with_scope_or_role(
    keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider, key = PROVIDERS["entra-v2"], keys["entra-v2"]
    app_only = provider.variants["app_only"]
    assert "scp" not in app_only.claims
    async with api(recipe("entra-v2", serve(server, key)), authorized(provider.requirement)) as app:
        for path in ("/orders", "/authorized"):  # the recipe's rule, and authorize() with the same requirement
            response = await app.get(path, sign(key, app_only))
            assert response.status_code == 200
            assert granted(response.json()) == (set(), {"Orders.Reader"}, set())
        # Neither the scope nor the role: scopes alone could lift it, so insufficient_scope names the scope.
        response = await app.get("/orders", sign(key, app_only, roles=["Orders.Writer"]))
        assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")
        assert response.headers["www-authenticate"].endswith('scope="Orders.Read"')


async def test_a_cognito_access_token_is_authorized_by_client_id_and_token_use_beside_an_auth0_issuer(
    keys: dict[str, SigningKey],
) -> None:
    cognito, auth0 = PROVIDERS["cognito"], PROVIDERS["auth0"]
    with KeyServer() as cognito_keys, KeyServer() as auth0_keys:
        # The two recipes' issuers, in one configuration, as the documentation says they combine.
        entries = [
            *recipe("auth0", serve(auth0_keys, keys["auth0"])).issuers,
            *recipe("cognito", serve(cognito_keys, keys["cognito"])).issuers,
        ]
        settings = Settings(issuers=entries)
        assert not settings.insecure_allow_any_audience
        assert [entry.audience_claim for entry in settings.trusted_issuers] == ["aud", "client_id"]

        def sign_cognito(token: Token, **claims: Any) -> str:
            return sign(keys["cognito"], token, **claims)

        def sign_auth0(token: Token, **claims: Any) -> str:
            return sign(keys["auth0"], token, **claims)

        async with api(settings, authorized(cognito.requirement)) as app:
            response = await app.get("/authorized", sign_cognito(cognito.valid))
            assert response.status_code == 200
            assert granted(response.json()) == ({"orders-api/read"}, {"orders-readers"}, set())
            assert await app.outcome("/me", sign_cognito(cognito.wrong_audience)) == (401, "audience_invalid")
            # The pool's ID tokens carry the client in aud, not client_id; an access token must say it is one.
            assert await app.outcome("/me", sign_cognito(cognito.variants["id_token"])) == (401, "audience_invalid")
            assert await app.outcome("/me", sign_cognito(cognito.valid, token_use="id")) == (401, "claim_invalid")
            assert await app.outcome("/me", sign_cognito(cognito.valid, token_use=None)) == (401, "claim_missing")

            # Auth0's tokens still need their aud: a client_id, even the Cognito client's, stands for nothing.
            assert (await app.get("/me", sign_auth0(auth0.valid))).status_code == 200
            assert await app.outcome("/me", sign_auth0(auth0.wrong_audience)) == (401, "audience_invalid")
            no_aud = sign_auth0(auth0.valid, aud=None, client_id=COGNITO_CLIENT_ID)
            assert await app.outcome("/me", no_aud) == (401, "audience_invalid")
            assert await app.outcome("/me", sign_auth0(auth0.valid, aud=auth0.audience)) == (200, None)
        assert (cognito_keys.jwks_hits, auth0_keys.jwks_hits) == (1, 1)


async def test_an_entra_token_from_an_allowed_tenant_passes_and_from_another_is_refused(
    keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider, key = PROVIDERS["entra-multi-tenant"], keys["entra-multi-tenant"]
    variants = provider.variants
    async with api(recipe("entra-multi-tenant", serve(server, key))) as app:
        for token in (provider.valid, variants["second_tenant"]):
            response = await app.get("/orders", sign(key, token))
            assert response.status_code == 200
            assert response.json()["sub"] == token.claims["sub"]
        for token in (variants["other_tenant"], variants["consumer_account"], variants["iss_tid_mismatch"]):
            assert await app.outcome("/me", sign(key, token)) == (401, "issuer_invalid")
        # The iss of an allowed tenant without the tenant claim, or with the tenant in another case.
        assert await app.outcome("/me", sign(key, provider.valid, tid=None)) == (401, "issuer_invalid")
        assert await app.outcome("/me", sign(key, provider.valid, tid=ENTRA_TENANT.upper())) == (401, "issuer_invalid")
        # The template's other spellings are other issuers.
        for iss in (
            f"https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0/",
            f"https://login.microsoftonline.com/{ENTRA_TENANT}/extra/v2.0",
            "https://login.microsoftonline.com//v2.0",
        ):
            assert await app.outcome("/me", sign(key, provider.valid, iss=iss)) == (401, "issuer_invalid")


async def test_entra_v1_and_v2_issuers_of_one_tenant_share_one_key_set(
    keys: dict[str, SigningKey], server: KeyServer
) -> None:
    v1, v2, key = PROVIDERS["entra-v1"], PROVIDERS["entra-v2"], keys["entra-v2"]
    assert keys["entra-v1"] is key  # one tenant, one key
    settings = recipe("entra-v1-and-v2", serve(server, key))
    async with api(settings) as app:
        assert len({id(key_set) for key_set in app.guard.key_sets.values()}) == 1
        for token in (v2.valid, v1.valid, v1.variants["aud_client_id"], v1.variants["aud_trailing_slash"]):
            response = await app.get("/orders", sign(key, token))
            assert response.status_code == 200, response.json()
            assert response.json()["roles"] == ["Orders.Reader"]
        for token in (v2.variants["app_only"], v1.variants["app_only"]):
            assert (await app.get("/orders", sign(key, token))).status_code == 200
        # Each issuer has its own audiences: a v2.0 token never carries the App ID URI.
        assert await app.outcome("/me", sign(key, v2.valid, aud=v1.audience)) == (401, "audience_invalid")
        assert await app.outcome("/me", sign(key, v1.wrong_audience)) == (401, "audience_invalid")
        assert await app.outcome("/orders", sign(key, v1.missing_role)) == (403, "insufficient_scope")
    assert server.jwks_hits == 1


def test_the_tokens_carry_the_provider_header(keys: dict[str, SigningKey]) -> None:
    for provider in PROVIDERS.values():
        tokens: list[Token] = [provider.valid, provider.wrong_audience, provider.missing_role]
        for token in [*tokens, *provider.variants.values()]:
            header = jwt.get_unverified_header(sign(keys[provider.name], token))
            assert header == {"alg": provider.alg, "kid": provider.kid, **token.header}


# -- what the recipes' notes say ---------------------------------------------------------------------------------


async def test_auth0_token_types_admits_the_rfc9068_profile_alone(
    keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider, key = PROVIDERS["auth0"], keys["auth0"]
    [entry] = recipe("auth0", serve(server, key)).issuers
    assert isinstance(entry, Issuer)
    settings = Settings(issuers=[dataclasses.replace(entry, token_types=["at+jwt"])])
    async with api(settings) as app:
        assert await app.outcome("/me", sign(key, provider.variants["rfc9068_profile"])) == (200, None)
        assert await app.outcome("/me", sign(key, provider.valid)) == (401, "claim_invalid")


async def test_google_refuses_a_consumer_account_and_another_domain(
    keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider, key = PROVIDERS["google"], keys["google"]
    async with api(recipe("google", serve(server, key))) as app:
        assert await app.outcome("/me", sign(key, provider.missing_role)) == (401, "claim_missing")
        assert await app.outcome("/me", sign(key, provider.valid, hd="example.org")) == (401, "claim_invalid")
        assert await app.outcome("/me", sign(key, provider.valid)) == (200, None)


async def test_an_entra_template_admitting_any_tenant_still_ties_iss_to_tid(
    keys: dict[str, SigningKey], server: KeyServer
) -> None:
    provider, key = PROVIDERS["entra-multi-tenant"], keys["entra-multi-tenant"]
    [entry] = recipe("entra-multi-tenant", serve(server, key)).issuers
    assert isinstance(entry, Issuer)
    settings = Settings(issuers=[dataclasses.replace(entry, tenants="any")])
    async with api(settings) as app:
        for label in ("other_tenant", "consumer_account"):
            assert await app.outcome("/me", sign(key, provider.variants[label])) == (200, None)
        assert await app.outcome("/me", sign(key, provider.variants["iss_tid_mismatch"])) == (401, "issuer_invalid")
