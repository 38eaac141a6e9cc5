"""Roles from claim paths, per-route rules, per-issuer claim policy and issuer templates, decided by the guard."""

from __future__ import annotations

from typing import Any

import pytest

from jwtguard import ConfigurationError, Guard, Issuer, Principal, RequestInfo, Rule, Settings
from jwtguard.errors import AuthError
from jwtguard.testing import DevIssuer, KeyServer, generate_key

RULES = (
    "* /health public",
    "GET /public/* anonymous",
    "GET,HEAD /orders/* scope:orders.read | role:orders-reader",
    "POST /orders/* role:orders-writer",
    "* /admin/* role:admin & claim:tid=acme",
)


def decide(guard: Guard, method: str, path: str, token: str | None = None) -> str:
    """The guard's decision, as "ok" (with a principal), "anonymous" (without one) or the refusal's code."""
    authorization = () if token is None else (f"Bearer {token}",)
    try:
        principal = guard.check_request(RequestInfo(method, path, None, authorization=authorization))
    except AuthError as exc:
        return exc.code
    return "anonymous" if principal is None else "ok"


def refusal(guard: Guard, method: str, path: str, token: str | None = None) -> AuthError:
    authorization = () if token is None else (f"Bearer {token}",)
    with pytest.raises(AuthError) as caught:
        guard.check_request(RequestInfo(method, path, None, authorization=authorization))
    return caught.value


@pytest.fixture
def guard(issuer: DevIssuer) -> Guard:
    return Guard(issuer.settings(rules=RULES, role_claims=["realm_access.roles"], exclude_paths=["/metrics"]))


def roles(*names: str) -> dict[str, Any]:
    return {"realm_access": {"roles": list(names)}}


@pytest.mark.parametrize(
    ("method", "path", "claims", "expected"),
    [
        ("GET", "/health", None, "anonymous"),  # public: no token read at all
        ("GET", "/metrics", None, "anonymous"),  # exclude_paths still work, as public rules placed first
        ("GET", "/public/x", None, "anonymous"),
        ("GET", "/public/x", {}, "ok"),
        ("GET", "/orders/1", {"scopes": ["orders.read"]}, "ok"),
        ("HEAD", "/orders/1", {"extra": roles("orders-reader")}, "ok"),
        ("GET", "/orders", {"extra": roles("orders-reader")}, "ok"),  # "/orders/*" covers "/orders" too
        ("GET", "/orders/1", {}, "insufficient_scope"),
        ("GET", "/orders/1", None, "token_missing"),
        ("POST", "/orders/1", {"extra": roles("orders-reader")}, "insufficient_role"),
        ("POST", "/orders/1", {"extra": roles("orders-writer")}, "ok"),
        ("DELETE", "/orders/1", {}, "ok"),  # no rule for DELETE: a valid token is enough
        ("GET", "/admin/x", {"extra": {**roles("admin"), "tid": "acme"}}, "ok"),
        ("GET", "/admin/x", {"extra": {**roles("admin"), "tid": "other"}}, "insufficient_role"),
        ("GET", "/other", None, "token_missing"),
        ("GET", "/orders/../admin/x", {}, "invalid_request"),
        ("GET", "//admin/x", {}, "invalid_request"),
        ("GET", "/public/./x", None, "invalid_request"),
        ("get", "/orders/1", {}, "insufficient_scope"),  # WSGI servers may pass the method as sent
        ("post", "/orders/1", {"extra": roles("orders-reader")}, "insufficient_role"),
        ("GET", "orders/1", {}, "invalid_request"),  # some routers add the missing "/"; no rule sees it
        ("GET", "", None, "token_missing"),  # the root of a mounted app: "/"
    ],
)
def test_the_first_matching_rule_decides(
    guard: Guard, issuer: DevIssuer, method: str, path: str, claims: dict[str, Any] | None, expected: str
) -> None:
    token = None if claims is None else issuer.token(scopes=claims.get("scopes", ()), **claims.get("extra", {}))
    assert decide(guard, method, path, token) == expected


def test_a_scope_alternative_is_named_in_the_challenge_and_roles_only_in_the_log(
    guard: Guard, issuer: DevIssuer
) -> None:
    error = refusal(guard, "GET", "/orders/1", issuer.token(**roles("viewer")))
    rendered = guard.render(error)
    assert rendered.status == 403
    assert 'scope="orders.read"' in dict(rendered.headers)["www-authenticate"]
    error = refusal(guard, "POST", "/orders/1", issuer.token(**roles("viewer")))
    rendered = guard.render(error)
    assert (rendered.status, error.code) == (403, "insufficient_role")
    assert b"viewer" not in rendered.body  # what the token had is for the operator's log only
    assert "viewer" in error.reason


def test_an_anonymous_rule_still_refuses_a_bad_token(guard: Guard, issuer: DevIssuer) -> None:
    assert decide(guard, "GET", "/public/x", issuer.token(expires_in=-3600)) == "token_expired"
    assert decide(guard, "GET", "/health", "not-a-token") == "anonymous"  # public reads nothing


def test_an_explicit_rule_overrides_allow_anonymous(issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings(allow_anonymous=True, rules=["* /private/* authenticated"]))
    assert decide(guard, "GET", "/private/x") == "token_missing"
    assert decide(guard, "GET", "/elsewhere") == "anonymous"


def test_roles_and_permissions_come_from_claim_paths(issuer: DevIssuer) -> None:
    guard = Guard(
        issuer.settings(
            role_claims=["realm_access.roles", "resource_access.orders-api.roles", '"https://example.com/roles"'],
            permission_claims=["permissions", "urn:zitadel:iam:org:project:roles"],
        )
    )
    claims: dict[str, Any] = {
        "realm_access": {"roles": ["offline_access", "user"]},
        "resource_access": {"orders-api": {"roles": ["reader"]}, "other": {"roles": ["x"]}},
        "https://example.com/roles": "admin auditor",
        "permissions": ["read:orders"],
        "urn:zitadel:iam:org:project:roles": {"editor": {"123": "acme.example"}},
    }
    token = issuer.key.sign(issuer.claims(**claims))
    principal = guard.authenticate(f"Bearer {token}")
    assert principal.roles == {"offline_access", "user", "reader", "admin", "auditor"}
    assert principal.permissions == {"read:orders", "editor"}
    assert guard.authenticate(f"Bearer {issuer.token()}").roles == frozenset()  # absent: no roles, no error


@pytest.mark.parametrize("value", [7, True, None, ["admin", 1], [["admin"]]])
def test_a_role_claim_of_another_shape_is_claim_invalid_naming_it(issuer: DevIssuer, value: object) -> None:
    guard = Guard(issuer.settings(role_claims=["realm_access.roles"]))
    claims: dict[str, Any] = {"realm_access": {"roles": value}}
    if value is None:
        claims = {"realm_access": 5}  # the path crosses a value that is not an object
    with pytest.raises(AuthError) as caught:
        guard.authenticate(f"Bearer {issuer.token(**claims)}")
    assert (caught.value.code, caught.value.claim) == ("claim_invalid", "realm_access.roles")


def test_rules_are_read_from_the_environment_and_from_mappings(issuer: DevIssuer) -> None:
    settings = Settings.from_env(
        {
            "JWTGUARD_ISSUER": issuer.issuer,
            "JWTGUARD_AUDIENCE": issuer.audience,
            "JWTGUARD_JWKS_URI": issuer.jwks_uri,
            "JWTGUARD_RULES": "* /health public; GET /orders/* scope:orders.read | role:reader",
            "JWTGUARD_ROLE_CLAIMS": "realm_access.roles,cognito:groups",
            "JWTGUARD_AUDIENCE_CLAIM": "client_id",
        }
    )
    assert [str(rule) for rule in settings.route_rules] == [
        "* /health public",
        "GET /orders/* scope:orders.read | role:reader",
    ]
    assert settings.role_claims == ("realm_access.roles", "cognito:groups")
    from_mapping = Settings.from_mapping(
        {"RULES": [{"path": "/orders/*", "methods": ["get"], "access": "role:reader"}, "* /health public"]},
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=issuer.jwks_uri,
    )
    assert from_mapping.route_rules == (Rule("/orders/*", "role:reader", ["GET"]), Rule("/health", "public"))


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (["GET /orders"], "METHODS PATH ACCESS"),
        (["GET orders public"], "must start with '/'"),
        (["GET /orders/*/x public"], "prefix ending in '/*'"),
        (["GET /orders scope:"], "rule for '/orders'"),
        ([{"path": "/x", "acess": "public"}], "rules[1]"),
        ([42], "rules[1]"),
    ],
)
def test_a_bad_rule_is_a_configuration_error_that_says_what_to_fix(
    issuer: DevIssuer, rules: list[Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("*", r"\*")):
        issuer.settings(rules=rules)


def test_each_issuer_has_its_own_claim_policy(issuer: DevIssuer) -> None:
    # Cognito-shaped access tokens (no aud; client_id and token_use) next to an Auth0-shaped issuer whose
    # tokens still need their aud: no insecure_* flag, and neither issuer's rules leak into the other's.
    cognito_key = generate_key("RS256", kid="cognito-1")
    cognito = KeyServer(jwks={"keys": [cognito_key.public_jwk()]}).start()
    try:
        cognito_iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool"
        settings = Settings(
            issuers=[
                Issuer(issuer=issuer.issuer, jwks_uri=issuer.jwks_uri, audience=issuer.audience),
                Issuer(
                    issuer=cognito_iss,
                    jwks_uri=cognito.jwks_uri,
                    audience="client-123",
                    audience_claim="client_id",
                    required_claim_values={"token_use": "access"},
                    role_claims=["cognito:groups"],
                ),
            ]
        )
        guard = Guard(settings)

        def cognito_token(**claims: Any) -> str:
            shape = {"aud": None, "client_id": "client-123", "token_use": "access", **claims}
            return issuer.token(key=cognito_key, issuer=cognito_iss, **shape)

        principal = guard.authenticate(f"Bearer {cognito_token(**{'cognito:groups': ['admins']})}")
        assert principal.roles == {"admins"}
        for token, code in [
            (cognito_token(client_id="client-999"), "audience_invalid"),
            (cognito_token(token_use="id"), "claim_invalid"),
            (issuer.token(aud=None), "audience_invalid"),  # the first issuer still needs its aud
            (issuer.token(client_id="client-123", aud=None), "audience_invalid"),
        ]:
            with pytest.raises(AuthError) as caught:
                guard.authenticate(f"Bearer {token}")
            assert caught.value.code == code
        assert isinstance(guard.authenticate(f"Bearer {issuer.token()}"), Principal)
    finally:
        cognito.stop()


ENTRA = "https://login.microsoftonline.com/{tenant}/v2.0"


def test_an_issuer_template_accepts_listed_tenants_whose_tid_matches(issuer: DevIssuer) -> None:
    settings = Settings(
        issuers=[
            Issuer(
                issuer=ENTRA,
                tenants=["t-1", "t-2"],
                tenant_claim="tid",
                jwks_uri=issuer.jwks_uri,
                audience=issuer.audience,
            ),
            Issuer(
                issuer="https://sts.windows.net/{tenant}/",
                tenants=["t-1"],
                tenant_claim="tid",
                jwks_uri=issuer.jwks_uri,
                audience=issuer.audience,
            ),
        ]
    )
    guard = Guard(settings)

    def entra(tenant: str, tid: object, version: str = "v2") -> str:
        iss = ENTRA.replace("{tenant}", tenant) if version == "v2" else f"https://sts.windows.net/{tenant}/"
        return f"Bearer {issuer.token(issuer=iss, tid=tid)}"

    assert guard.authenticate(entra("t-1", "t-1")).claims["tid"] == "t-1"
    assert guard.authenticate(entra("t-2", "t-2")).claims["tid"] == "t-2"
    assert guard.authenticate(entra("t-1", "t-1", "v1")).claims["tid"] == "t-1"
    for authorization in (
        entra("t-3", "t-3"),  # a tenant that is not listed
        entra("t-1", "t-2"),  # iss names one tenant, tid another
        entra("t-1", None),
        entra("t-2", "t-2", "v1"),  # listed for v2 only
        entra("t-1/x", "t-1/x"),
        f"Bearer {issuer.token(issuer='https://login.microsoftonline.com//v2.0', tid='')}",
    ):
        with pytest.raises(AuthError) as caught:
            guard.authenticate(authorization)
        assert caught.value.code == "issuer_invalid", authorization
    # The two issuers publish one JWKS: one key set serves both.
    assert len({id(key_set) for key_set in guard.key_sets.values()}) == 1


def test_any_tenant_is_allowed_only_when_said_and_is_logged(
    issuer: DevIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigurationError, match="tenants"):
        Issuer(issuer=ENTRA, tenant_claim="tid", jwks_uri=issuer.jwks_uri)
    with pytest.raises(ConfigurationError, match="tenant_claim"):
        Issuer(issuer=ENTRA, tenants="any", jwks_uri=issuer.jwks_uri)
    with pytest.raises(ConfigurationError, match="discovery"):
        Issuer(issuer=ENTRA, tenants="any", tenant_claim="tid", discovery=True)
    with pytest.raises(ConfigurationError, match="issuers="):
        Settings(issuer=ENTRA, audience=issuer.audience, jwks_uri=issuer.jwks_uri)
    entry = Issuer(issuer=ENTRA, tenants="any", tenant_claim="tid", jwks_uri=issuer.jwks_uri, audience=issuer.audience)
    guard = Guard(Settings(issuers=[entry]))
    assert caplog.text.count("accepts tokens of any tenant") == 1
    token = issuer.token(issuer=ENTRA.replace("{tenant}", "whoever"), tid="whoever")
    assert guard.authenticate(f"Bearer {token}").claims["tid"] == "whoever"


def test_a_forged_token_naming_a_template_issuer_is_refused_before_its_claims_are_read(issuer: DevIssuer) -> None:
    entry = Issuer(
        issuer=ENTRA, tenants=["t-1"], tenant_claim="tid", jwks_uri=issuer.jwks_uri, audience=issuer.audience
    )
    guard = Guard(
        Settings(
            issuers=[entry, Issuer(issuer="https://other.example", jwks_uri=issuer.jwks_uri)], audience=issuer.audience
        )
    )
    forged = generate_key("RS256", kid=issuer.key.kid).sign(
        issuer.claims(issuer=ENTRA.replace("{tenant}", "t-1"), tid="t-1")
    )
    with pytest.raises(AuthError) as caught:
        guard.authenticate(f"Bearer {forged}")
    assert caught.value.code == "signature_invalid"
