"""How each identity provider shapes the tokens an API receives: claim sets, JOSE headers, issuers, key URLs.

Plain data for tests of per-issuer claim rules, role claim paths, composable requirements, issuer templates and
alternative audience claims. Each function takes the current time and returns a `Provider`: the issuer and key
locations, the claims that carry audience, scopes, roles, client id and tenant, and tokens as the provider
writes them (claims plus the JOSE header members besides `alg` and `kid`):

    valid           an access token (Google: an ID token) this API should accept
    wrong_audience  the same, issued for another API
    missing_role    the same, granting neither the role nor the scope of the API's example requirement
                    (Google, whose tokens have neither: without the hosted domain the API requires)
    variants        provider-specific shapes: other token versions, other tenants, app-only tokens, ...

Identifiers are invented but shaped like the provider's own (GUIDs for Entra, `0oa...` client ids for Okta...).
Role claim paths are written as jwtguard reads them: dot-separated segments, one containing a dot in double quotes.
Every fact carries the URL it comes from. "Observed" marks a value read from a decoded token published in a
public repository or issue rather than stated by the provider's documentation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENTRA_CONSUMER_TENANT",
    "ENTRA_GRAPH_HEADER",
    "PROVIDERS",
    "Provider",
    "Token",
    "accepted_issuers",
    "all_providers",
    "auth0",
    "cognito",
    "entra_multi_tenant",
    "entra_v1",
    "entra_v2",
    "google",
    "keycloak",
    "okta",
    "zitadel",
]


@dataclass(frozen=True)
class Token:
    """One token as the provider writes it: its claims, and the JOSE header members besides `alg` and `kid`.

    An empty `header` means the provider writes no `typ` at all.
    """

    claims: dict[str, Any]
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    """What an API needs to know about one provider's tokens, and tokens to test it with."""

    name: str
    issuer: str
    """The exact `iss` (trailing slash included); with `tenants`, a template with a `{tenant}` placeholder."""
    discovery_url: str
    jwks_uri: str
    alg: str
    kid: str
    """A key id in the provider's style: the test key signs under it."""
    audience: str
    """What the API configures as its audience."""
    audience_claim: str
    """The claim that carries `audience`: `aud`, or `client_id` for Cognito access tokens."""
    client_id_claim: str
    """The claim naming the client the token was issued to (`azp`, `client_id`, `appid`, `cid`)."""
    scope_claim: str | None
    """`scope` (space-separated string), `scp` (Entra: string; Okta: list), or None when the token has none."""
    role_claims: tuple[str, ...]
    permission_claims: tuple[str, ...]
    required_role: str | None
    """The role `valid` holds and `missing_role` lacks (None when the provider puts no roles in its tokens)."""
    requirement: str
    """An example requirement for this API, in the text form `scope:x | role:y`."""
    valid: Token
    wrong_audience: Token
    missing_role: Token
    also_issuers: tuple[str, ...] = ()
    """Other exact `iss` values the same keys sign (Google's legacy spelling)."""
    tenant_claim: str | None = None
    tenants: tuple[str, ...] = ()
    required_claim_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    variants: dict[str, Token] = field(default_factory=dict)


def accepted_issuers(provider: Provider) -> tuple[str, ...]:
    """The exact `iss` values the provider's `valid` token may carry: the template filled in for each tenant."""
    if provider.tenants:
        return tuple(provider.issuer.format(tenant=tenant) for tenant in provider.tenants)
    return (provider.issuer, *provider.also_issuers)


def _without(claims: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in claims.items() if name not in names}


# -- Auth0 ------------------------------------------------------------------------------------------------------
# https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
#   the default "Auth0 token profile": header typ "JWT"; iss "https://{tenant domain}/" with a trailing slash;
#   aud a string or a list holding the API identifier and "https://{tenant domain}/userinfo" (when openid was
#   requested); azp is the client id; scope a space-separated string. The "RFC 9068 profile": typ "at+jwt",
#   client_id instead of azp, adds jti, drops the Auth0-specific gty (the grant). Machine-to-machine tokens:
#   sub is "{client id}@clients".
# https://auth0.com/docs/get-started/apis/enable-role-based-access-control-for-apis
#   with RBAC and "Add Permissions in the Access Token", the permissions claim is a list of the user's permissions.
# https://auth0.com/docs/customize/actions/explore-triggers/post-login
#   roles are not in tokens by default; a post-login Action adds them (api.accessToken.setCustomClaim).
# https://auth0.com/docs/secure/tokens/json-web-tokens/create-custom-claims
#   custom claims should be namespaced with an http:// or https:// URL; "roles", "permissions" are reserved.
# https://auth0.com/docs/secure/tokens/json-web-tokens/json-web-key-sets
#   JWKS at https://{yourDomain}/.well-known/jwks.json; RS256 (HS256 is the other signing choice).

AUTH0_DOMAIN = "acme.eu.auth0.com"
AUTH0_ISSUER = f"https://{AUTH0_DOMAIN}/"
AUTH0_API = "https://orders.example.com"
AUTH0_CLIENT_ID = "Vq3xT8mPk2LbN7rYc4WdJ9sHf1GzA6eU"
AUTH0_ROLES_CLAIM = "https://example.com/roles"


def auth0(now: int) -> Provider:
    claims: dict[str, Any] = {
        "iss": AUTH0_ISSUER,
        "sub": "auth0|64f1c2e9a1b2c3d4e5f60718",
        "aud": [AUTH0_API, f"https://{AUTH0_DOMAIN}/userinfo"],
        "iat": now - 60,
        "exp": now - 60 + 86400,  # https://auth0.com/docs/tokens/guides/get-access-tokens: expires_in 86400
        "azp": AUTH0_CLIENT_ID,
        "scope": "openid profile read:orders",
        "permissions": ["read:orders"],
        AUTH0_ROLES_CLAIM: ["orders-reader"],
    }
    rfc9068 = {**_without(claims, "azp"), "client_id": AUTH0_CLIENT_ID, "jti": "73WakrfVbNJBaAmhQtEeDv"}
    machine = {
        **_without(claims, AUTH0_ROLES_CLAIM),
        "sub": f"{AUTH0_CLIENT_ID}@clients",
        "aud": AUTH0_API,
        "scope": "read:orders",
    }
    return Provider(
        name="auth0",
        issuer=AUTH0_ISSUER,
        discovery_url=f"https://{AUTH0_DOMAIN}/.well-known/openid-configuration",
        jwks_uri=f"https://{AUTH0_DOMAIN}/.well-known/jwks.json",
        alg="RS256",
        kid="Xq2mT9vLc8RbN4wYp7KdA",
        audience=AUTH0_API,
        audience_claim="aud",
        client_id_claim="azp",
        scope_claim="scope",
        role_claims=(f'"{AUTH0_ROLES_CLAIM}"',),
        permission_claims=("permissions",),
        required_role="orders-reader",
        requirement="scope:read:orders | role:orders-reader",
        valid=Token(claims, {"typ": "JWT"}),
        wrong_audience=Token(
            {**claims, "aud": ["https://billing.example.com", f"https://{AUTH0_DOMAIN}/userinfo"]}, {"typ": "JWT"}
        ),
        # With RBAC, scope holds only the requested permissions the user was granted.
        missing_role=Token(
            {**claims, "scope": "openid profile", AUTH0_ROLES_CLAIM: [], "permissions": []}, {"typ": "JWT"}
        ),
        variants={
            "rfc9068_profile": Token(rfc9068, {"typ": "at+jwt"}),
            "machine_to_machine": Token(machine, {"typ": "JWT"}),
        },
    )


# -- Keycloak ---------------------------------------------------------------------------------------------------
# https://www.keycloak.org/securing-apps/oidc-layers
#   discovery at /realms/{realm-name}/.well-known/openid-configuration, keys at
#   /realms/{realm-name}/protocol/openid-connect/certs; the issuer is https://{host}/realms/{realm-name}.
# https://www.keycloak.org/migration/migrating-to-quarkus
#   Keycloak 17 (Quarkus) removed /auth from the default context path: older servers issue
#   https://{host}/auth/realms/{realm-name}.
# https://www.keycloak.org/docs/latest/server_admin/#_oidc_token_role_mappings
#   realm roles go into realm_access.roles, client roles into resource_access.{client id}.roles.
# https://www.keycloak.org/docs/latest/server_admin/#audience-support
#   the "Audience Resolve" mapper (default client scope "roles") adds every client the user holds a client role
#   of; the frontend client itself is never an access token audience; a hardcoded "Audience" mapper adds one.
# https://github.com/keycloak/keycloak/issues/35262: without an audience mapper aud is just "account".
# https://github.com/keycloak/keycloak/pull/37573: header typ stays "JWT" unless a per-client option asks
#   for "at+jwt".
# Observed (https://github.com/rubelw/OSSS/blob/HEAD/documentation/docs/access_tokens.md): header
#   {"alg": "RS256", "typ": "JWT", "kid": <43 base64url characters>}; claim typ "Bearer"; azp the client id;
#   scope a space-separated string; sid; resource_access.account.roles from the default roles.

KEYCLOAK_ISSUER = "https://sso.example.com/realms/acme"
KEYCLOAK_API_CLIENT = "orders-api"


def keycloak(now: int) -> Provider:
    claims: dict[str, Any] = {
        "exp": now - 30 + 300,
        "iat": now - 30,
        "auth_time": now - 40,
        "jti": "7f3c1e52-8d4b-4a9e-b6f1-2c5d8e9a0b14",
        "iss": KEYCLOAK_ISSUER,
        "aud": [KEYCLOAK_API_CLIENT, "account"],
        "sub": "f1c4f64e-2c0c-4cda-8c9f-9f3f8f3a2b0e",
        "typ": "Bearer",
        "azp": "orders-web",
        "sid": "4c0a3a8a-3a47-4f2f-8e89-9e5f9b0a0a0a",
        "realm_access": {"roles": ["default-roles-acme", "offline_access", "uma_authorization", "orders-reader"]},
        "resource_access": {
            KEYCLOAK_API_CLIENT: {"roles": ["reader"]},
            "account": {"roles": ["manage-account", "manage-account-links", "view-profile"]},
        },
        "scope": "openid profile email",
        "email_verified": True,
        "preferred_username": "ada",
    }
    without_role = {
        **claims,
        "realm_access": {"roles": ["default-roles-acme", "offline_access", "uma_authorization"]},
        "resource_access": {"account": claims["resource_access"]["account"]},
    }
    return Provider(
        name="keycloak",
        issuer=KEYCLOAK_ISSUER,
        discovery_url=f"{KEYCLOAK_ISSUER}/.well-known/openid-configuration",
        jwks_uri=f"{KEYCLOAK_ISSUER}/protocol/openid-connect/certs",
        alg="RS256",
        kid="K0lQRi8_05eN9_5SNHnCTs7_b1oST0_WFlTp8dj01Fg",
        audience=KEYCLOAK_API_CLIENT,
        audience_claim="aud",
        client_id_claim="azp",
        scope_claim="scope",
        role_claims=("realm_access.roles", f"resource_access.{KEYCLOAK_API_CLIENT}.roles"),
        permission_claims=(),
        required_role="orders-reader",
        requirement="role:orders-reader",
        valid=Token(claims, {"typ": "JWT"}),
        # No audience mapper: only the Audience Resolve mapper's "account" (the default roles' client).
        wrong_audience=Token({**claims, "aud": "account"}, {"typ": "JWT"}),
        missing_role=Token(without_role, {"typ": "JWT"}),
        variants={
            "legacy_issuer": Token({**claims, "iss": "https://sso.example.com/auth/realms/acme"}, {"typ": "JWT"}),
        },
    )


# -- Microsoft Entra ID -----------------------------------------------------------------------------------------
# https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
#   header typ always "JWT", alg e.g. RS256, kid; x5t (same value as kid) only in v1.0 tokens. aud: v2.0 always
#   the API's client id; v1.0 the client id or the resource URI the client asked for. iss ends in /v2.0 for
#   v2.0 tokens. appid/appidacr only in v1.0, azp/azpacr only in v2.0. scp a space-separated string, only in
#   user tokens; roles a list (app roles; the client credentials flow's permissions); tid the tenant GUID;
#   ver "1.0" or "2.0"; uti the token id. Groups overage: no groups claim but _claim_names {"groups": "src1"}
#   and _claim_sources {"src1": {"endpoint": ...}} (an Azure AD Graph URL); hasgroups true in implicit flows.
#   Claims are present only when they have a value.
# https://learn.microsoft.com/entra/identity-platform/access-tokens
#   accessTokenAcceptedVersion null or 1 gives v1.0 tokens, 2 gives v2.0, whichever endpoint the client called.
#   v1.0 tokens: metadata at https://login.microsoftonline.com/{tenant}/.well-known/openid-configuration;
#   v2.0 tokens: .../{tenant}/v2.0/.well-known/openid-configuration; keys at .../{tenant}/discovery/v2.0/keys
#   (drop "/v2.0" for v1.0). Multi-tenant: the organizations/common documents give the issuer template
#   https://login.microsoftonline.com/{tenantid}/v2.0; tid must be a GUID and iss must be that template with
#   the token's own tid. Sample v1.0 token: iss "https://sts.windows.net/{tid}/". Tokens for Microsoft Graph
#   cannot be validated by these rules (proprietary format).
# https://learn.microsoft.com/entra/identity-platform/optional-claims-reference
#   idtyp "app" marks app-only access tokens; in v1.0 access tokens aud may be any App ID URI "with or without a
#   trailing slash" or the client id, unless the aud optional claim's use_guid property is set.
# https://github.com/MicrosoftDocs/azure-docs/issues/80018: Graph tokens carry a nonce in the JOSE header and
#   their signature covers a transformed nonce, so third parties cannot verify them. A decoded Graph token header,
#   {"typ": "JWT", "nonce": ..., "alg": "RS256", "x5t": ..., "kid": ...}, is quoted in
#   https://github.com/AzureAD/azure-activedirectory-identitymodel-extensions-for-dotnet/issues/609.
# https://github.com/Intility/fastapi-azure-auth/blob/HEAD/fastapi_azure_auth/auth.py
#   expects aud f"api://{app_client_id}" for v1 tokens and the bare client id for v2.

ENTRA_TENANT = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
ENTRA_SECOND_TENANT = "2f6a9b1c-3d4e-4f5a-8b6c-7d8e9f0a1b2c"
ENTRA_FOREIGN_TENANT = "b3e1d2c4-5a6b-4c7d-9e8f-0a1b2c3d4e5f"
#: The tenant of personal Microsoft accounts (access-token-claims-reference, "tid").
ENTRA_CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
ENTRA_API_CLIENT_ID = "5b2f1c4e-8a3d-4f6b-9c7e-1d2a3b4c5d6e"
ENTRA_OTHER_API_CLIENT_ID = "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a"
ENTRA_CLIENT_APP_ID = "3f8a6c2d-1b4e-4d7a-9e5f-6a7b8c9d0e1f"
ENTRA_KID = "nOo3ZDrODXEK1jKWhXslHR_KXEg"
#: The JOSE header of a token for Microsoft Graph: a nonce that only Graph can check (see above).
ENTRA_GRAPH_HEADER: dict[str, Any] = {
    "typ": "JWT",
    "nonce": "AQABAAAAAABnfiG-mA6NTae7CdWW7QfdHmBNrJzKZa3W2tNq2k9dVyJcb3t",
    "x5t": ENTRA_KID,
}


def _entra_v2_claims(now: int, tenant: str) -> dict[str, Any]:
    return {
        "aud": ENTRA_API_CLIENT_ID,
        "iss": f"https://login.microsoftonline.com/{tenant}/v2.0",
        "iat": now - 120,
        "nbf": now - 120,
        "exp": now - 120 + 4500,  # a random lifetime of 60 to 90 minutes (access-tokens, "Token lifetime")
        "aio": "AXQAi/8IAAAAtAaZLo3ChMif6KOnttRB7eBq4/DccQzjcJGxPYy/C3jDaNGxXd6wNIIVGRghNRnwJ1lOcAnN",
        "azp": ENTRA_CLIENT_APP_ID,
        "azpacr": "0",
        "name": "Abe Lincoln",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "preferred_username": "abe@contoso.example",
        "rh": "0.AXEAm2pMmA3kRkyrR1yXkVtWOBhR-Kc5N0hOjEXyqVPfr3ZxAAA.",
        "roles": ["Orders.Reader"],
        "scp": "Orders.Read",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
        "tid": tenant,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0",
    }


def _entra_app_only_v2(claims: dict[str, Any]) -> dict[str, Any]:
    service_principal = "8e1b2c3d-4f5a-4b6c-9d7e-8f9a0b1c2d3e"
    return {
        **_without(claims, "scp", "name", "preferred_username"),
        "azpacr": "1",
        "idtyp": "app",
        "oid": service_principal,
        "sub": service_principal,
        "roles": ["Orders.Reader"],
    }


def entra_v2(now: int) -> Provider:
    """A single-tenant API with accessTokenAcceptedVersion 2."""
    claims = _entra_v2_claims(now, ENTRA_TENANT)
    overage = {
        **claims,
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {
            "src1": {"endpoint": f"https://graph.windows.net/{ENTRA_TENANT}/users/{claims['oid']}/getMemberObjects"}
        },
    }
    issuer = f"https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0"
    return Provider(
        name="entra-v2",
        issuer=issuer,
        discovery_url=f"{issuer}/.well-known/openid-configuration",
        jwks_uri=f"https://login.microsoftonline.com/{ENTRA_TENANT}/discovery/v2.0/keys",
        alg="RS256",
        kid=ENTRA_KID,
        audience=ENTRA_API_CLIENT_ID,
        audience_claim="aud",
        client_id_claim="azp",
        scope_claim="scp",
        role_claims=("roles",),
        permission_claims=(),
        required_role="Orders.Reader",
        requirement="scope:Orders.Read | role:Orders.Reader",
        tenant_claim="tid",
        valid=Token(claims, {"typ": "JWT"}),
        wrong_audience=Token({**claims, "aud": ENTRA_OTHER_API_CLIENT_ID}, {"typ": "JWT"}),
        # A user with no app role assignment: the roles claim is absent, not empty.
        missing_role=Token({**_without(claims, "roles"), "scp": "Orders.Write"}, {"typ": "JWT"}),
        variants={
            "app_only": Token(_entra_app_only_v2(claims), {"typ": "JWT"}),
            "groups_overage": Token(overage, {"typ": "JWT"}),
            "hasgroups": Token({**claims, "hasgroups": True}, {"typ": "JWT"}),
        },
    )


def entra_v1(now: int) -> Provider:
    """A single-tenant API with accessTokenAcceptedVersion null (or 1), its App ID URI `api://{client id}`."""
    app_id_uri = f"api://{ENTRA_API_CLIENT_ID}"
    claims: dict[str, Any] = {
        "aud": app_id_uri,
        "iss": f"https://sts.windows.net/{ENTRA_TENANT}/",
        "iat": now - 120,
        "nbf": now - 120,
        "exp": now - 120 + 4500,
        "acr": "1",
        "aio": "AXQAi/8IAAAAFm+E/QTG+gFnVxLjWdw8K+61AGrSOuMMF6ebaMj7XO3IbmD3fGmrOyD+NvZyGn2VaT/kDKXw4MI",
        "amr": ["pwd"],
        "appid": ENTRA_CLIENT_APP_ID,
        "appidacr": "0",
        "family_name": "Lincoln",
        "given_name": "Abe",
        "ipaddr": "203.0.113.7",
        "name": "Abe Lincoln",
        "oid": "02223b6b-aa1d-42d4-9ec0-1b2bb9194438",
        "rh": "0.AXEAm2pMmA3kRkyrR1yXkVtWOBhR-Kc5N0hOjEXyqVPfr3ZxAAA.",
        "roles": ["Orders.Reader"],
        "scp": "user_impersonation",
        "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
        "tid": ENTRA_TENANT,
        "unique_name": "abe@contoso.example",
        "upn": "abe@contoso.example",
        "uti": "FVsGxYXI30-TuikuuUoFAA",
        "ver": "1.0",
    }
    service_principal = "8e1b2c3d-4f5a-4b6c-9d7e-8f9a0b1c2d3e"
    app_only = {
        **_without(claims, "scp", "acr", "amr", "family_name", "given_name", "ipaddr", "name", "unique_name", "upn"),
        "appidacr": "1",
        "idtyp": "app",
        "oid": service_principal,
        "sub": service_principal,
    }
    header = {"typ": "JWT", "x5t": ENTRA_KID}
    return Provider(
        name="entra-v1",
        issuer=f"https://sts.windows.net/{ENTRA_TENANT}/",
        discovery_url=f"https://login.microsoftonline.com/{ENTRA_TENANT}/.well-known/openid-configuration",
        jwks_uri=f"https://login.microsoftonline.com/{ENTRA_TENANT}/discovery/keys",
        alg="RS256",
        kid=ENTRA_KID,
        audience=app_id_uri,
        audience_claim="aud",
        client_id_claim="appid",
        scope_claim="scp",
        role_claims=("roles",),
        permission_claims=(),
        required_role="Orders.Reader",
        requirement="scope:user_impersonation | role:Orders.Reader",
        tenant_claim="tid",
        valid=Token(claims, header),
        wrong_audience=Token({**claims, "aud": "api://billing-api"}, header),
        missing_role=Token({**_without(claims, "roles"), "scp": "Orders.Write"}, header),
        variants={
            # The same API, as other clients' requests make v1.0 aud (optional-claims-reference, "aud").
            "aud_client_id": Token({**claims, "aud": ENTRA_API_CLIENT_ID}, header),
            "aud_trailing_slash": Token({**claims, "aud": f"{app_id_uri}/"}, header),
            "app_only": Token(app_only, header),
        },
    )


def entra_multi_tenant(now: int) -> Provider:
    """A multi-tenant v2.0 API that admits two customer tenants."""
    claims = _entra_v2_claims(now, ENTRA_TENANT)
    mismatched = {**claims, "tid": ENTRA_SECOND_TENANT}  # iss names the first tenant, tid the second
    return Provider(
        name="entra-multi-tenant",
        issuer="https://login.microsoftonline.com/{tenant}/v2.0",
        discovery_url="https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
        jwks_uri="https://login.microsoftonline.com/organizations/discovery/v2.0/keys",
        alg="RS256",
        kid=ENTRA_KID,
        audience=ENTRA_API_CLIENT_ID,
        audience_claim="aud",
        client_id_claim="azp",
        scope_claim="scp",
        role_claims=("roles",),
        permission_claims=(),
        required_role="Orders.Reader",
        requirement="scope:Orders.Read | role:Orders.Reader",
        tenant_claim="tid",
        tenants=(ENTRA_TENANT, ENTRA_SECOND_TENANT),
        valid=Token(claims, {"typ": "JWT"}),
        wrong_audience=Token({**claims, "aud": ENTRA_OTHER_API_CLIENT_ID}, {"typ": "JWT"}),
        missing_role=Token({**_without(claims, "roles"), "scp": "Orders.Write"}, {"typ": "JWT"}),
        variants={
            "second_tenant": Token(_entra_v2_claims(now, ENTRA_SECOND_TENANT), {"typ": "JWT"}),
            "other_tenant": Token(_entra_v2_claims(now, ENTRA_FOREIGN_TENANT), {"typ": "JWT"}),
            "consumer_account": Token(_entra_v2_claims(now, ENTRA_CONSUMER_TENANT), {"typ": "JWT"}),
            "iss_tid_mismatch": Token(mismatched, {"typ": "JWT"}),
        },
    )


# -- Amazon Cognito user pools ----------------------------------------------------------------------------------
# https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
#   header {"kid", "alg": "RS256"} (no typ); access token payload: sub, cognito:groups (list), token_use
#   "access", scope (space-separated), auth_time, iss, exp, iat, origin_jti, jti, client_id, username; no aud.
# https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html
#   ID token: aud is the app client id, token_use "id", cognito:username, email_verified.
# https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html
#   iss https://cognito-idp.{region}.amazonaws.com/{userPoolId}; keys at {iss}/.well-known/jwks.json; check
#   token_use.
# https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_IssuerConfigurationType.html
#   pools with the UPDATED issuer configuration issue https://issuer-cognito-idp.{region}.amazonaws.com/{pool}.
# https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_ResourceServerScopeType.html
#   custom scopes read "{resource server identifier}/{scope name}".
# https://github.com/awslabs/aws-jwt-verify/blob/HEAD/src/cognito-verifier.ts
#   the client id is checked in aud for ID tokens and in client_id for access tokens.

COGNITO_REGION = "eu-west-1"
COGNITO_POOL = "eu-west-1_AbC123xYz"
COGNITO_ISSUER = f"https://cognito-idp.{COGNITO_REGION}.amazonaws.com/{COGNITO_POOL}"
COGNITO_CLIENT_ID = "4k2nq8v3jf6h1t0r9p5c7s2m8b"


def cognito(now: int) -> Provider:
    user = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    claims: dict[str, Any] = {
        "sub": user,
        "cognito:groups": ["orders-readers"],
        "token_use": "access",
        "scope": "orders-api/read",
        "auth_time": now - 300,
        "iss": COGNITO_ISSUER,
        "exp": now - 60 + 3600,
        "iat": now - 60,
        "origin_jti": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
        "jti": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
        "client_id": COGNITO_CLIENT_ID,
        "username": "janedoe",
    }
    id_token = {
        "sub": user,
        "aud": COGNITO_CLIENT_ID,
        "email_verified": True,
        "token_use": "id",
        "auth_time": now - 300,
        "iss": COGNITO_ISSUER,
        "cognito:username": "janedoe",
        "exp": now - 60 + 3600,
        "iat": now - 60,
        "email": "janedoe@example.com",
        "jti": "0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d",
        "origin_jti": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
        "cognito:groups": ["orders-readers"],
    }
    updated_issuer = f"https://issuer-cognito-idp.{COGNITO_REGION}.amazonaws.com/{COGNITO_POOL}"
    return Provider(
        name="cognito",
        issuer=COGNITO_ISSUER,
        discovery_url=f"{COGNITO_ISSUER}/.well-known/openid-configuration",
        jwks_uri=f"{COGNITO_ISSUER}/.well-known/jwks.json",
        alg="RS256",
        kid="r4Tq9YbN2xKc7WmP1sLd8VfH3gJz6AeU0oIy5nBtCw8=",
        audience=COGNITO_CLIENT_ID,
        audience_claim="client_id",
        client_id_claim="client_id",
        scope_claim="scope",
        role_claims=("cognito:groups",),
        permission_claims=(),
        required_role="orders-readers",
        requirement="scope:orders-api/read | role:orders-readers",
        required_claim_values={"token_use": ("access",)},
        valid=Token(claims),
        wrong_audience=Token({**claims, "client_id": "7h3s9d2k5f8j1l4p6q0w2e4r6t"}),
        missing_role=Token({**claims, "cognito:groups": ["billing"], "scope": "orders-api/write"}),
        variants={
            "id_token": Token(id_token),
            "updated_issuer": Token({**claims, "iss": updated_issuer}),
        },
    )


# -- Okta (custom authorization server) -------------------------------------------------------------------------
# https://developer.okta.com/docs/reference/api/oidc/ ("Access Token", "Composing your base URL")
#   custom authorization servers: https://{yourOktaDomain}/oauth2/{authServerId}, "default" for the one every
#   developer org has; header holds only alg (always RS256) and kid; payload ver (integer), jti ("AT."...), iss,
#   aud, sub, iat, exp, cid (client id), uid (the user; absent without one), scp (a list); a groups claim only
#   when configured as a custom claim.
# https://developer.okta.com/docs/api/openapi/okta-oauth/oauth/customas/oauthkeyscustomas
#   keys at /oauth2/{authorizationServerId}/v1/keys.
# https://developer.okta.com/docs/guides/validate-access-tokens/ : aud "api://default" for the default server;
#   org authorization server tokens (iss https://{yourOktaOrg}) are not for third parties to validate.

OKTA_ISSUER = "https://acme.okta.com/oauth2/default"
OKTA_CLIENT_ID = "0oa1b2c3d4E5f6G7h8i9"


def okta(now: int) -> Provider:
    user = "00u1a2b3c4D5e6F7g8h9"
    claims: dict[str, Any] = {
        "ver": 1,
        "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
        "iss": OKTA_ISSUER,
        "aud": "api://default",
        "sub": user,
        "iat": now - 60,
        "exp": now - 60 + 3600,
        "cid": OKTA_CLIENT_ID,
        "uid": user,
        "scp": ["openid", "orders.read"],
        "groups": ["Everyone", "orders-readers"],
    }
    client_credentials = {
        **_without(claims, "uid", "groups"),
        "sub": OKTA_CLIENT_ID,
        "scp": ["orders.read"],
    }
    return Provider(
        name="okta",
        issuer=OKTA_ISSUER,
        discovery_url=f"{OKTA_ISSUER}/.well-known/openid-configuration",
        jwks_uri=f"{OKTA_ISSUER}/v1/keys",
        alg="RS256",
        kid="q9XbT3kM2vL8rN5pW7cY1dF4gH6jZ0aS-EuIo2KxQwB",
        audience="api://default",
        audience_claim="aud",
        client_id_claim="cid",
        scope_claim="scp",
        role_claims=("groups",),
        permission_claims=(),
        required_role="orders-readers",
        requirement="scope:orders.read | role:orders-readers",
        valid=Token(claims),
        wrong_audience=Token({**claims, "aud": "https://billing.example.com"}),
        missing_role=Token({**claims, "groups": ["Everyone"], "scp": ["openid"]}),
        variants={"client_credentials": Token(client_credentials)},
    )


# -- Google -----------------------------------------------------------------------------------------------------
# Google's OAuth access tokens are not JWTs; what an API can verify is the ID token.
# https://developers.google.com/identity/openid-connect/reference
#   discovery https://accounts.google.com/.well-known/openid-configuration; issuer "https://accounts.google.com",
#   with "accounts.google.com" still returned for legacy implementations.
# https://developers.google.com/identity/sign-in/web/backend-auth
#   aud is one of the app's client ids; hd restricts to a Workspace domain; keys in JWK or PEM format.
# https://github.com/googleapis/google-auth-library-python/blob/HEAD/google/oauth2/id_token.py
#   _GOOGLE_ISSUERS = ["accounts.google.com", "https://accounts.google.com"].
# https://github.com/googleapis/google-auth-library-ruby/blob/HEAD/lib/googleauth/id_tokens.rb
#   JWKS at https://www.googleapis.com/oauth2/v3/certs; azp may be checked alongside aud.
# Observed (https://github.com/dusainbolt/studybud-api/blob/HEAD/src/models/users/dto/oauth2-google.dto.ts):
#   header {"alg": "RS256", "kid": <40 hex digits>, "typ": "JWT"}; azp equal to aud for a web client.

GOOGLE_CLIENT_ID = "123456789012-a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.apps.googleusercontent.com"


def google(now: int) -> Provider:
    claims: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "azp": GOOGLE_CLIENT_ID,
        "aud": GOOGLE_CLIENT_ID,
        "sub": "110169484474386276334",
        "hd": "example.com",
        "email": "ada@example.com",
        "email_verified": True,
        "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
        "iat": now - 60,
        "exp": now - 60 + 3600,
    }
    other_client = "987654321098-z9y8x7w6v5u4t3s2r1q0p9o8n7m6l5k4.apps.googleusercontent.com"
    consumer = {**_without(claims, "hd"), "email": "ada.lovelace@gmail.com"}
    return Provider(
        name="google",
        issuer="https://accounts.google.com",
        also_issuers=("accounts.google.com",),
        discovery_url="https://accounts.google.com/.well-known/openid-configuration",
        jwks_uri="https://www.googleapis.com/oauth2/v3/certs",
        alg="RS256",
        kid="38f3883468fc659abb4475f36313d22585c2d7ca",
        audience=GOOGLE_CLIENT_ID,
        audience_claim="aud",
        client_id_claim="azp",
        scope_claim=None,
        role_claims=(),
        permission_claims=(),
        required_role=None,
        requirement="",
        required_claim_values={"hd": ("example.com",)},
        valid=Token(claims, {"typ": "JWT"}),
        wrong_audience=Token({**claims, "aud": other_client, "azp": other_client}, {"typ": "JWT"}),
        # No roles in Google tokens: the authorization that fails is the hosted-domain rule (a consumer account).
        missing_role=Token(consumer, {"typ": "JWT"}),
        variants={"legacy_issuer": Token({**claims, "iss": "accounts.google.com"}, {"typ": "JWT"})},
    )


# -- ZITADEL ----------------------------------------------------------------------------------------------------
# https://zitadel.com/docs/apis/openidoauth/endpoints
#   discovery ${CUSTOM_DOMAIN}/.well-known/openid-configuration; keys ${CUSTOM_DOMAIN}/oauth/v2/keys.
# https://zitadel.com/docs/apis/openidoauth/claims
#   access tokens carry aud, iss, sub, exp, iat, nbf, jti only "when JWT"; aud holds by default all client ids
#   and the project id; urn:zitadel:iam:org:project:roles and urn:zitadel:iam:org:project:{projectid}:roles
#   when requested or configured; urn:zitadel:iam:user:resourceowner:id.
# https://github.com/zitadel/zitadel/tree/HEAD/internal/api/oidc (type projectRoles, client.go; userinfo.go)
#   the roles claim maps role key -> {org id: org primary domain} (the claims page wraps its example in a list;
#   the code writes the object itself).
# https://pub.dev/documentation/zitadel/latest/user_service/CreateUserRequest_Machine/accessTokenType.html
#   access tokens are opaque Bearer tokens by default; JWT must be chosen (per app or machine user).
# Observed (https://github.com/cleanenergyexchange/fastapi-zitadel-auth/issues/3): header {"alg": "RS256",
#   "kid": <numeric id>, "typ": "JWT"}; payload iss without a trailing slash, aud a list, client_id,
#   jti "V2_<id>-at_<id>".

ZITADEL_ISSUER = "https://acme-a1b2c3.zitadel.cloud"
ZITADEL_PROJECT_ID = "284512369875412563"
ZITADEL_ORG_ID = "284512198763254123"
ZITADEL_CLIENT_ID = "284512433874569815@orders"


def zitadel(now: int) -> Provider:
    roles = {"orders-reader": {ZITADEL_ORG_ID: "acme.example.com"}}
    claims: dict[str, Any] = {
        "iss": ZITADEL_ISSUER,
        "sub": "286399320075272196",
        "aud": [ZITADEL_CLIENT_ID, ZITADEL_PROJECT_ID],
        "exp": now - 60 + 43200,
        "iat": now - 60,
        "nbf": now - 60,
        "client_id": ZITADEL_CLIENT_ID,
        "jti": "V2_296398617516703746-at_296398617516769282",
        "urn:zitadel:iam:org:project:roles": roles,
        f"urn:zitadel:iam:org:project:{ZITADEL_PROJECT_ID}:roles": roles,
        "urn:zitadel:iam:user:resourceowner:id": ZITADEL_ORG_ID,
    }
    other_roles = {"orders-writer": {ZITADEL_ORG_ID: "acme.example.com"}}
    without_role = {
        **claims,
        "urn:zitadel:iam:org:project:roles": other_roles,
        f"urn:zitadel:iam:org:project:{ZITADEL_PROJECT_ID}:roles": other_roles,
    }
    other_project = "291100223344556677"
    return Provider(
        name="zitadel",
        issuer=ZITADEL_ISSUER,
        discovery_url=f"{ZITADEL_ISSUER}/.well-known/openid-configuration",
        jwks_uri=f"{ZITADEL_ISSUER}/oauth/v2/keys",
        alg="RS256",
        kid="296393392504438786",
        audience=ZITADEL_PROJECT_ID,
        audience_claim="aud",
        client_id_claim="client_id",
        scope_claim=None,
        role_claims=("urn:zitadel:iam:org:project:roles", f"urn:zitadel:iam:org:project:{ZITADEL_PROJECT_ID}:roles"),
        permission_claims=(),
        required_role="orders-reader",
        requirement="role:orders-reader",
        valid=Token(claims, {"typ": "JWT"}),
        wrong_audience=Token({**claims, "aud": ["291100445566778899@billing", other_project]}, {"typ": "JWT"}),
        missing_role=Token(without_role, {"typ": "JWT"}),
    )


PROVIDERS: tuple[Callable[[int], Provider], ...] = (
    auth0,
    keycloak,
    entra_v2,
    entra_v1,
    entra_multi_tenant,
    cognito,
    okta,
    google,
    zitadel,
)


def all_providers(now: int) -> list[Provider]:
    """Every provider's shapes at `now`."""
    return [make(now) for make in PROVIDERS]
