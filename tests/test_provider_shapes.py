"""The provider fixtures hold together, and each provider's token verifies with plain settings.

These tests check the fixtures themselves (times, issuers, audiences, roles where the fixture says they are), so
that the tests of per-issuer claim rules, role paths, requirements and issuer templates can rely on them. The
configurations of docs/providers.md are tested against the same fixtures in test_providers.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from jwtguard import AudienceInvalid, Guard, IssuerInvalid, Settings
from jwtguard.testing import SigningKey, generate_key

from .providers import (
    ENTRA_CONSUMER_TENANT,
    ENTRA_GRAPH_HEADER,
    Provider,
    Token,
    accepted_issuers,
    all_providers,
    cognito,
    entra_multi_tenant,
    google,
    keycloak,
)

NOW = 1_760_000_000
PROVIDERS = {provider.name: provider for provider in all_providers(NOW)}
NAMES = sorted(PROVIDERS)
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The JOSE typ values access tokens come with; jwtguard accepts these (and no typ) by default.
ACCESS_TOKEN_TYPES = {"JWT", "at+jwt"}


def every_token(provider: Provider) -> Iterator[tuple[str, Token]]:
    yield "valid", provider.valid
    yield "wrong_audience", provider.wrong_audience
    yield "missing_role", provider.missing_role
    yield from provider.variants.items()


ALL_TOKENS = [(name, label) for name in NAMES for label, _ in every_token(PROVIDERS[name])]


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The value at a role claim path: dot-separated segments, one containing a dot in double quotes."""
    value: Any = claims
    for quoted, plain in re.findall(r'(?:"([^"]*)"|([^."]+))(?:\.|$)', path):
        if not isinstance(value, dict):
            return None
        value = value.get(quoted or plain)
    return value


def roles_in(claims: dict[str, Any], provider: Provider) -> set[str]:
    roles: set[str] = set()
    for path in provider.role_claims:
        value = claim_at(claims, path)
        if isinstance(value, list | dict):  # a list of names, or (ZITADEL) role key -> {org id: org domain}
            roles.update(value)
    return roles


def audiences_of(claims: dict[str, Any], provider: Provider) -> list[Any]:
    value = claims.get(provider.audience_claim)
    return value if isinstance(value, list) else [value]


# -- the fixtures hold together -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "label"), ALL_TOKENS)
def test_every_token_is_current(name: str, label: str) -> None:
    claims = dict(every_token(PROVIDERS[name]))[label].claims
    assert isinstance(claims["iat"], int)
    assert isinstance(claims["exp"], int)
    assert claims["iat"] <= NOW < claims["exp"]
    assert "nbf" not in claims or claims["nbf"] <= NOW


@pytest.mark.parametrize(("name", "label"), ALL_TOKENS)
def test_every_header_names_an_access_token_type_or_none(name: str, label: str) -> None:
    header = dict(every_token(PROVIDERS[name]))[label].header
    assert "typ" not in header or header["typ"] in ACCESS_TOKEN_TYPES
    assert not {"alg", "kid"} & set(header)  # those come from the signing key


@pytest.mark.parametrize("name", NAMES)
def test_the_three_main_tokens_come_from_a_configured_issuer(name: str) -> None:
    provider = PROVIDERS[name]
    for token in (provider.valid, provider.wrong_audience, provider.missing_role):
        assert token.claims["iss"] in accepted_issuers(provider)
    assert provider.discovery_url.endswith("/.well-known/openid-configuration")
    assert provider.jwks_uri.startswith("https://")


@pytest.mark.parametrize("name", NAMES)
def test_audience_is_in_the_valid_token_and_not_in_the_wrong_one(name: str) -> None:
    provider = PROVIDERS[name]
    assert provider.audience in audiences_of(provider.valid.claims, provider)
    assert provider.audience not in audiences_of(provider.wrong_audience.claims, provider)
    assert provider.valid.claims[provider.client_id_claim]


@pytest.mark.parametrize("name", NAMES)
def test_the_required_role_is_where_the_role_claims_say(name: str) -> None:
    provider = PROVIDERS[name]
    if provider.required_role is None:
        assert not provider.role_claims
        return
    assert provider.required_role in roles_in(provider.valid.claims, provider)
    assert provider.required_role not in roles_in(provider.missing_role.claims, provider)
    assert f"role:{provider.required_role}" in provider.requirement


@pytest.mark.parametrize("name", NAMES)
def test_required_claim_values_hold_in_the_valid_token(name: str) -> None:
    provider = PROVIDERS[name]
    for claim, allowed in provider.required_claim_values.items():
        assert provider.valid.claims[claim] in allowed
    if provider.required_role is None:  # no roles (Google): missing_role fails a claim rule instead
        rules = provider.required_claim_values.items()
        assert any(provider.missing_role.claims.get(claim) not in allowed for claim, allowed in rules)


def granted_scopes(claims: dict[str, Any], provider: Provider) -> set[str]:
    value = claims.get(provider.scope_claim) if provider.scope_claim else None
    if isinstance(value, list):
        return set(value)
    return set(value.split(" ")) if isinstance(value, str) else set()


@pytest.mark.parametrize("name", NAMES)
def test_the_valid_token_meets_every_alternative_of_the_requirement_and_missing_role_none(name: str) -> None:
    provider = PROVIDERS[name]
    for part in filter(None, provider.requirement.split(" | ")):
        kind, _, value = part.partition(":")
        assert kind in ("scope", "role")
        granted = granted_scopes if kind == "scope" else roles_in
        assert value in granted(provider.valid.claims, provider)
        assert value not in granted(provider.missing_role.claims, provider)


@pytest.mark.parametrize("name", NAMES)
def test_the_scope_claim_has_the_provider_shape(name: str) -> None:
    provider = PROVIDERS[name]
    if provider.scope_claim is None:
        assert "scope" not in provider.valid.claims
        assert "scp" not in provider.valid.claims
        return
    scopes = provider.valid.claims[provider.scope_claim]
    assert isinstance(scopes, list) == (name == "okta")  # only Okta writes scp as a list
    assert all(isinstance(scope, str) and " " not in scope for scope in granted_scopes(provider.valid.claims, provider))


def test_auth0_issuer_ends_with_a_slash_and_the_rfc9068_profile_differs_as_documented() -> None:
    provider = PROVIDERS["auth0"]
    assert provider.issuer.endswith("/")
    profile = provider.variants["rfc9068_profile"]
    assert profile.header["typ"] == "at+jwt"
    assert "client_id" in profile.claims
    assert "azp" not in profile.claims
    assert "jti" in profile.claims
    assert provider.variants["machine_to_machine"].claims["sub"].endswith("@clients")


def test_keycloak_audience_without_a_mapper_is_account_and_the_issuer_has_no_slash() -> None:
    provider = keycloak(NOW)
    assert provider.wrong_audience.claims["aud"] == "account"
    assert provider.valid.claims["azp"] not in provider.valid.claims["aud"]  # the frontend is never an audience
    assert provider.valid.claims["typ"] == "Bearer"  # a claim, not the JOSE header
    assert not provider.issuer.endswith("/")
    assert "/auth/realms/" in provider.variants["legacy_issuer"].claims["iss"]


@pytest.mark.parametrize("name", ["entra-v2", "entra-multi-tenant"])
def test_entra_v2_issuer_contains_its_tid(name: str) -> None:
    claims = PROVIDERS[name].valid.claims
    assert GUID.fullmatch(claims["tid"])
    assert claims["iss"] == f"https://login.microsoftonline.com/{claims['tid']}/v2.0"
    assert claims["ver"] == "2.0"
    assert GUID.fullmatch(claims["aud"])  # v2.0: always the API's client id


def test_entra_v1_differs_from_v2_as_documented() -> None:
    provider = PROVIDERS["entra-v1"]
    claims = provider.valid.claims
    assert claims["iss"] == f"https://sts.windows.net/{claims['tid']}/"
    assert claims["ver"] == "1.0"
    assert claims["aud"].startswith("api://")
    assert "appid" in claims
    assert "azp" not in claims
    assert provider.valid.header["x5t"] == provider.kid
    assert provider.variants["aud_trailing_slash"].claims["aud"] == f"{claims['aud']}/"
    assert GUID.fullmatch(provider.variants["aud_client_id"].claims["aud"])


@pytest.mark.parametrize("name", ["entra-v2", "entra-v1"])
def test_entra_app_only_tokens_have_roles_and_no_scp(name: str) -> None:
    claims = PROVIDERS[name].variants["app_only"].claims
    assert claims["roles"]
    assert "scp" not in claims
    assert claims["idtyp"] == "app"


def test_entra_groups_overage_points_to_a_claim_source() -> None:
    variants = PROVIDERS["entra-v2"].variants
    overage = variants["groups_overage"].claims
    assert "groups" not in overage
    source = overage["_claim_names"]["groups"]
    assert overage["_claim_sources"][source]["endpoint"].startswith("https://")
    assert variants["hasgroups"].claims["hasgroups"] is True


def test_entra_multi_tenant_variants_differ_by_tenant() -> None:
    provider = entra_multi_tenant(NOW)
    template = provider.issuer
    assert "{tenant}" in template
    variants = provider.variants
    second = variants["second_tenant"].claims
    assert second["tid"] in provider.tenants
    assert second["iss"] == template.format(tenant=second["tid"])
    for label in ("other_tenant", "consumer_account"):
        claims = variants[label].claims
        assert claims["tid"] not in provider.tenants
        assert claims["iss"] == template.format(tenant=claims["tid"])
    assert variants["consumer_account"].claims["tid"] == ENTRA_CONSUMER_TENANT
    mismatch = variants["iss_tid_mismatch"].claims
    assert mismatch["iss"] in accepted_issuers(provider)  # a trusted tenant's issuer...
    assert mismatch["iss"] != template.format(tenant=mismatch["tid"])  # ...but another tenant's tid
    assert "nonce" in ENTRA_GRAPH_HEADER


def test_cognito_access_tokens_carry_no_aud_and_id_tokens_do() -> None:
    provider = cognito(NOW)
    for token in (provider.valid, provider.wrong_audience, provider.missing_role):
        assert "aud" not in token.claims
        assert token.claims["token_use"] == "access"
        assert token.header == {}  # kid and alg only
    id_token = provider.variants["id_token"].claims
    assert id_token["aud"] == provider.audience == provider.valid.claims["client_id"]
    assert id_token["token_use"] == "id"
    assert provider.variants["updated_issuer"].claims["iss"].startswith("https://issuer-cognito-idp.")


def test_okta_tokens_carry_cid_and_scp_and_no_typ() -> None:
    provider = PROVIDERS["okta"]
    claims = provider.valid.claims
    assert provider.issuer.endswith("/oauth2/default")
    assert claims["aud"] == "api://default"
    assert claims["uid"] == claims["sub"]
    assert provider.valid.header == {}
    machine = provider.variants["client_credentials"].claims
    assert "uid" not in machine
    assert machine["sub"] == machine["cid"]


def test_google_has_two_issuer_spellings_and_no_roles() -> None:
    provider = google(NOW)
    assert accepted_issuers(provider) == ("https://accounts.google.com", "accounts.google.com")
    assert provider.variants["legacy_issuer"].claims["iss"] == "accounts.google.com"
    assert provider.valid.claims["azp"] == provider.valid.claims["aud"]
    assert provider.valid.claims["email_verified"] is True
    assert "hd" not in provider.missing_role.claims


def test_zitadel_roles_map_role_keys_to_organizations() -> None:
    provider = PROVIDERS["zitadel"]
    generic, per_project = (provider.valid.claims[path] for path in provider.role_claims)
    assert generic == per_project
    for orgs in generic.values():
        assert all(isinstance(org, str) and isinstance(domain, str) for org, domain in orgs.items())
    assert not provider.issuer.endswith("/")


# -- each provider's token verifies with plain settings -----------------------------------------------------------

# Cognito access tokens carry no aud: their client id is in client_id, which `audience_claim` makes the claim the
# audience check reads. No insecure_allow_any_audience is needed; without audience_claim they are refused
# (test_a_cognito_access_token_needs_audience_claim).


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    """One key per provider, under a kid in that provider's style (RSA generation is slow: once per module)."""
    return {name: generate_key(PROVIDERS[name].alg, kid=PROVIDERS[name].kid) for name in NAMES}


def sign(key: SigningKey, token: Token) -> str:
    # PyJWT writes typ "JWT" unless given an empty one: a provider that writes no typ gets none.
    return key.sign(token.claims, {"typ": "", **token.header})


def guard_for(provider: Provider, key: SigningKey, **overrides: Any) -> Guard:
    settings = Settings(
        issuer=list(accepted_issuers(provider)),
        audience=provider.audience,
        algorithms=[provider.alg],
        jwks={"keys": [key.public_jwk()]},
        **{"audience_claim": provider.audience_claim, **overrides},
    )
    return Guard(settings, clock=lambda: NOW)


@pytest.mark.parametrize("name", NAMES)
def test_the_valid_token_verifies_and_the_wrong_audience_is_refused(name: str, keys: dict[str, SigningKey]) -> None:
    provider = PROVIDERS[name]
    token = sign(keys[name], provider.valid)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": provider.alg, "kid": provider.kid, **provider.valid.header}
    guard = guard_for(provider, keys[name])
    principal = guard.authenticate(f"Bearer {token}")
    assert principal.subject == provider.valid.claims["sub"]
    assert dict(principal.claims) == provider.valid.claims
    with pytest.raises(AudienceInvalid):
        guard.authenticate(f"Bearer {sign(keys[name], provider.wrong_audience)}")


def test_google_legacy_issuer_verifies_when_both_spellings_are_configured(keys: dict[str, SigningKey]) -> None:
    provider = PROVIDERS["google"]
    guard = guard_for(provider, keys["google"])
    legacy = sign(keys["google"], provider.variants["legacy_issuer"])
    assert guard.authenticate(f"Bearer {legacy}").issuer == "accounts.google.com"


def test_entra_tenant_outside_the_configured_issuers_is_refused(keys: dict[str, SigningKey]) -> None:
    provider = PROVIDERS["entra-multi-tenant"]
    guard = guard_for(provider, keys["entra-multi-tenant"])
    second = sign(keys["entra-multi-tenant"], provider.variants["second_tenant"])
    assert guard.authenticate(f"Bearer {second}").claims["tid"] == provider.tenants[1]
    with pytest.raises(IssuerInvalid):
        guard.authenticate(f"Bearer {sign(keys['entra-multi-tenant'], provider.variants['other_tenant'])}")


def test_a_cognito_id_token_verifies_with_its_aud(keys: dict[str, SigningKey]) -> None:
    provider = PROVIDERS["cognito"]
    guard = guard_for(provider, keys["cognito"], audience_claim="aud", required_claim_values={"token_use": "id"})
    token = sign(keys["cognito"], provider.variants["id_token"])
    assert "typ" not in jwt.get_unverified_header(token)
    assert guard.authenticate(f"Bearer {token}").claims["token_use"] == "id"


def test_a_cognito_access_token_needs_audience_claim(keys: dict[str, SigningKey]) -> None:
    provider = PROVIDERS["cognito"]
    guard = guard_for(provider, keys["cognito"], audience_claim="aud", required_claim_values={"token_use": "access"})
    with pytest.raises(AudienceInvalid, match="aud is absent"):
        guard.authenticate(f"Bearer {sign(keys['cognito'], provider.valid)}")
