"""For each error code: what usually causes it and how to fix it (the CLI and docs/troubleshooting.md)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["HELP", "NOT_A_JWT", "Help"]


class Help(NamedTuple):
    causes: tuple[str, ...]
    fix: str

    def link(self, code: str) -> str:
        """Where the full section is: a command, since the guide ships inside the installed package."""
        return f"jwtguard explain {code}"


#: What `inspect` and `verify` say of a token with nothing of a JWT in it (no dot-separated JSON header or claims).
NOT_A_JWT = (
    "not a JWT: an opaque token, which only the identity provider that issued it can read (or a truncated or "
    "re-encoded token). jwtguard verifies JWT access tokens only: ask the identity provider for one (with Auth0, "
    "request the token with your API's 'audience' parameter)"
)

HELP: dict[str, Help] = {
    "token_missing": Help(
        (
            "the client sent no Authorization header",
            "it used another scheme (Basic, Token; DPoP where dpop is off, for all issuers or the token's)",
        ),
        "send 'Authorization: Bearer <access token>'",
    ),
    "invalid_request": Help(
        (
            "'Bearer' without a token",
            "two tokens or two Authorization headers",
            "junk after the token",
            "with rules configured, a path with an empty or dot segment ('//', '/./', '/../')",
        ),
        "send exactly one 'Authorization: Bearer <token>' header, to a path without empty or dot segments",
    ),
    "token_malformed": Help(
        ("not a JWT at all (an opaque token, a session id)", "a truncated or re-encoded token", "an encrypted JWE"),
        "send the access token itself, unmodified; ask the identity provider for a JWT access token",
    ),
    "algorithm_not_allowed": Help(
        ("the issuer signs with an algorithm not in 'algorithms'", "alg none or HMAC", "alg does not fit the key"),
        "add the issuer's algorithm to 'algorithms' (asymmetric ones only), or fix the issuer's signing settings",
    ),
    "key_not_found": Help(
        (
            "the token comes from another issuer, tenant or environment",
            "the issuer rotated keys moments ago (refreshes are rate limited)",
            "jwks_uri points at the wrong key set",
        ),
        "check 'jwtguard keys' lists the token's kid; point jwks_uri/discovery at the issuer that signed it",
    ),
    "signature_invalid": Help(
        ("the token was altered", "another key was published under the same kid", "a test token signed locally"),
        "get a fresh token from the issuer; never edit tokens",
    ),
    "token_expired": Help(
        ("the token's lifetime is over", "the client did not renew it", "this server's clock runs fast"),
        "renew the token (refresh token or a new sign-in) before exp; sync clocks with NTP",
    ),
    "token_not_yet_valid": Help(
        ("the issuer's clock runs ahead of this server's", "a token minted for later use"),
        "sync both clocks with NTP; a small 'leeway' absorbs the last seconds of drift",
    ),
    "issuer_invalid": Help(
        (
            "'issuer' differs from the token's iss (a trailing slash counts)",
            "a token from another tenant",
            "an issuer template's tenant that is not in 'tenants', or differs from the tenant_claim",
        ),
        "set 'issuer' to the exact iss value, e.g. from the issuer's /.well-known/openid-configuration; for a "
        "template, list the tenant in 'tenants'",
    ),
    "audience_invalid": Help(
        (
            "the token was requested for another API",
            "'audience' does not match what the issuer puts in aud (or in the audience_claim)",
        ),
        "request the token with this API's audience (resource), or set 'audience' to the issuer's value",
    ),
    "claim_missing": Help(
        ("the issuer does not include a required claim", "a claim mapper is missing"),
        "configure the issuer to include the claim, or drop it from required_claims",
    ),
    "claim_invalid": Help(
        (
            "a claim has the wrong type (a role claim that is a number or a list of objects, say)",
            "exp is not after nbf/iat",
            "typ, lifetime or a required value differs",
        ),
        "fix the issuer's claim mapping or token settings, or the matching jwtguard setting",
    ),
    "token_revoked": Help(
        ("the user signed out or was disabled", "the token was revoked", "the revocation store failed"),
        "sign in again for a new token; if the store failed, check it",
    ),
    "insufficient_scope": Help(
        ("the client did not request the scope", "the user or client was not granted it"),
        "request the token with the scope the challenge names, and grant it to the client",
    ),
    "insufficient_role": Help(
        (
            "the user or client lacks a role or permission the route's requirement names",
            "role_claims or permission_claims point elsewhere than where the issuer puts them",
            "a claim value differs (another tenant)",
        ),
        "grant the role or permission in the identity provider, or fix the claim path or the requirement",
    ),
    "insufficient_user_authentication": Help(
        (
            "the route asks for a stronger sign-in (acr) than the user performed",
            "the user signed in longer ago than the route's max_age, or the token has no auth_time",
            "the identity provider does not put acr or auth_time in access tokens",
        ),
        "sign the user in again with the challenge's acr_values and max_age; make the provider issue acr and auth_time",
    ),
    "certificate_binding_mismatch": Help(
        (
            "the token is bound to a client certificate (cnf x5t#S256) and the request came without it",
            "the client used another certificate than the one the token was issued for",
            "a TLS-terminating proxy does not forward the certificate, or is not in trusted_proxies",
        ),
        "send the token over mTLS with its certificate; set client_cert_header and trusted_proxies behind a proxy",
    ),
    "cross_site_request": Help(
        (
            "a page on another site (or another port or scheme) sent an unsafe request with the token cookie",
            "a non-browser client sent the cookie on a POST, PUT, PATCH or DELETE without Origin",
            "a TLS proxy makes the app see http while the browser's Origin says https",
        ),
        "call the API from the site's own pages or send the token in Authorization; list partner origins in the "
        "cookie source's trusted_origins",
    ),
    "untrusted_proxy": Help(
        (
            "a client reached the app around the proxy that sets the header",
            "the proxy's address is not in trusted_proxies",
            "the server rewrites the client address from X-Forwarded-For",
        ),
        "close the direct path to the app, or put the proxy's addresses in trusted_proxies",
    ),
    "dpop_proof_invalid": Help(
        (
            "no DPoP header, or two, next to 'Authorization: DPoP'",
            "typ is not dpop+jwt, alg not in dpop_algorithms, or the jwk is missing, private or does not fit alg",
            "htu names another URL: behind a TLS proxy or a path prefix, public_base_url is unset or wrong",
            "htm is another method, iat is older than dpop_max_age or in the future (clock skew), or ath is missing",
        ),
        "make a fresh proof for each request with the request's exact method and URL, and ath; set "
        "public_base_url to the URL clients call",
    ),
    "dpop_binding_mismatch": Help(
        (
            "the proof was signed with another key than the one the token is bound to (cnf.jkt)",
            "the proof's ath is the hash of another access token (a token refreshed, the proof kept)",
        ),
        "sign proofs with the key the token was issued for, and compute ath from the token sent",
    ),
    "dpop_replayed": Help(
        ("the client sent the same proof twice (a retry reusing it)", "someone replayed a captured request"),
        "make a new proof, with a new jti, for every request, retries included",
    ),
    "dpop_required": Help(
        (
            "a token bound to a key (cnf.jkt) was sent with 'Authorization: Bearer'",
            "the issuer's dpop is 'required' and the client used Bearer, or its token is not DPoP-bound",
        ),
        "send 'Authorization: DPoP <token>' with a DPoP proof; ask the identity provider for a DPoP-bound token",
    ),
    "use_dpop_nonce": Help(
        ("dpop_nonce is on and the proof has no nonce, or an old one",),
        "make a new proof with the nonce from the DPoP-Nonce response header, and retry",
    ),
    "jwks_unavailable": Help(
        ("the key endpoint is down, slow or unreachable", "jwks_uri or the issuer URL is wrong", "a proxy blocks it"),
        "check 'jwtguard keys'; fix the URL or the network; requests recover by themselves once keys load",
    ),
    "revocation_unavailable": Help(
        ("under WSGI or Django, revocation_hook returned an awaitable (a coroutine) that nothing can await",),
        "make revocation_hook a plain function for WSGI and Django, or serve the app with the ASGI middleware",
    ),
}
