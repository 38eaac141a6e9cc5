"""The exception tree: configuration mistakes, key-server failures and refused requests, each on its own branch.

    JWTGuardError
    ├── ConfigurationError          settings are wrong; raised at construction, never per request
    ├── FetchError                  a key or discovery document could not be fetched or used; never raised per request
    └── AuthError                   a request is refused; carries its wire contract as class attributes
        ├── TokenMissing            401  no bearer credentials at all (no `error` attribute, RFC 6750 §3.1)
        ├── InvalidRequest          400  malformed `Authorization` header, or several credentials
        │   └── TokenInQuery        400  an `access_token` parameter in the query string (RFC 6750 §5.3)
        ├── TokenMalformed          401  not a compact JWS: segments, base64url, JSON, member types
        ├── AlgorithmNotAllowed     401  `alg` outside the allow-list, or it does not fit the key
        ├── KeyNotFound             401  no key for the `kid`, even after a permitted refresh
        ├── SignatureInvalid        401  the signature does not verify
        ├── TokenExpired            401  `exp` has passed, beyond the leeway
        ├── TokenNotYetValid        401  `nbf` or `iat` lies in the future, beyond the leeway
        ├── IssuerInvalid           401  `iss` missing or not an exact match
        ├── AudienceInvalid         401  no `aud` value matches
        ├── ClaimMissing            401  a required claim is absent
        ├── ClaimInvalid            401  a claim has the wrong type or fails a configured check
        ├── TokenRevoked            401  the token or its subject was revoked
        ├── DPoPProofInvalid        401  the DPoP proof is missing, malformed or fails a check (`invalid_dpop_proof`)
        ├── DPoPBindingMismatch     401  the proof's key is not the token's `cnf.jkt`, or its `ath` another token's
        ├── DPoPReplayed            401  the DPoP proof was used before (`invalid_dpop_proof`)
        ├── DPoPRequired            401  a DPoP-bound token sent as Bearer, or Bearer where DPoP is required
        ├── UseDPoPNonce            401  the proof lacks the server's current nonce (`use_dpop_nonce`, `DPoP-Nonce`)
        ├── CertificateBindingMismatch  401  a certificate-bound token without its client certificate (RFC 8705 §3)
        ├── InsufficientUserAuthentication  401  the user's sign-in is too weak or too old (RFC 9470 step-up)
        ├── InsufficientScope       403  valid token, scopes lacking
        ├── InsufficientRole        403  valid token, a role, permission or claim value lacking (no `error` attribute)
        ├── CrossSiteRequest        403  a cookie-carried token on an unsafe request from another site (CSRF)
        ├── UntrustedProxy          403  a proxy's credential header from a peer that is not a trusted proxy
        ├── JWKSUnavailable         503  no usable keys and the key endpoint failed (a server fault)
        └── RevocationUnavailable   503  the revocation hook cannot run here (a server fault)

Every `AuthError` subclass fixes `code`, `status_code`, `error` (the RFC 6750 error attribute or None),
`title` and `description`. The description is a fixed sentence that is safe to send to anyone: it never
contains attacker input or a library's exception text. `reason` is a fixed, more specific sentence for the
operator's log, `details` the decisive values behind it (what the token presented against what is
configured, by how much a time missed), and `context` what was read from the token, for that log record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import ClassVar

__all__ = [
    "AlgorithmNotAllowed",
    "AudienceInvalid",
    "AuthError",
    "CertificateBindingMismatch",
    "ClaimInvalid",
    "ClaimMissing",
    "ConfigurationError",
    "CrossSiteRequest",
    "DPoPBindingMismatch",
    "DPoPProofInvalid",
    "DPoPReplayed",
    "DPoPRequired",
    "FetchError",
    "InsufficientRole",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidRequest",
    "IssuerInvalid",
    "JWKSUnavailable",
    "JWTGuardError",
    "KeyNotFound",
    "RevocationUnavailable",
    "SignatureInvalid",
    "TokenContext",
    "TokenExpired",
    "TokenInQuery",
    "TokenMalformed",
    "TokenMissing",
    "TokenNotYetValid",
    "TokenRevoked",
    "UnsafePath",
    "UntrustedProxy",
    "UseDPoPNonce",
    "fingerprint",
]


class JWTGuardError(Exception):
    """Base class of every exception jwtguard raises."""


class ConfigurationError(JWTGuardError):
    """Raised when settings are invalid: at construction time, with a message that says what to fix."""


class FetchError(JWTGuardError):
    """Raised by a fetcher and by `KeySet.fetch` when a key or discovery document cannot be fetched or used.

    The message is a fixed or sanitised sentence, safe to log. A request never sees it: the key set records
    the failure, keeps serving the last good keys, and refuses a request with no usable key with
    `JWKSUnavailable`.

    `configuration` is true when the answer shows the key source itself is misconfigured (a discovery
    document for another issuer, a key URL that answers HTML, asks for credentials or redirects): no retry
    will fix it, and the message names what to change.
    """

    def __init__(self, message: str = "", *, configuration: bool = False) -> None:
        self.configuration = configuration
        super().__init__(message)


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a token in logs: 12 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()[:12]


class TokenContext:
    """What the log record may say about a token: its fingerprint, and what was read from it.

    Values read from a token before its signature was verified are attacker-controlled: `verified` says
    whether they were, and the log sanitizes all of them either way. Given the `token` instead of a
    `fingerprint`, the context hashes it only when the fingerprint is first read (most refused tokens are
    never logged: a hash of every one would cost more than parsing it) and then forgets the token.
    """

    __slots__ = ("_fingerprint", "_token", "alg", "iss", "jti", "kid", "sub", "verified")

    def __init__(
        self,
        fingerprint: str | None = None,
        kid: str | None = None,
        alg: str | None = None,
        iss: str | None = None,
        sub: str | None = None,
        jti: str | None = None,
        verified: bool = False,
        *,
        token: str | None = None,
    ) -> None:
        self._fingerprint = fingerprint
        self._token = token if fingerprint is None else None
        self.kid = kid
        self.alg = alg
        self.iss = iss
        self.sub = sub
        self.jti = jti
        self.verified = verified

    @property
    def fingerprint(self) -> str | None:
        """12 hex digits of the token's SHA-256, or None when there was no token."""
        if self._fingerprint is None and self._token is not None:
            self._fingerprint, self._token = fingerprint(self._token), None
        return self._fingerprint

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenContext):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def _fields(self) -> tuple[object, ...]:
        return (self.fingerprint, self.kid, self.alg, self.iss, self.sub, self.jti, self.verified)

    def __repr__(self) -> str:  # never the token
        return (
            f"TokenContext(fingerprint={self.fingerprint!r}, kid={self.kid!r}, alg={self.alg!r}, "
            f"iss={self.iss!r}, sub={self.sub!r}, jti={self.jti!r}, verified={self.verified!r})"
        )


class AuthError(JWTGuardError):
    """Raised when a request cannot be authenticated. Subclasses carry the wire contract."""

    code: ClassVar[str] = "unauthorized"
    status_code: ClassVar[int] = 401
    error: ClassVar[str | None] = "invalid_token"
    title: ClassVar[str] = "Unauthorized"
    description: ClassVar[str] = "The request could not be authenticated."
    #: The authentication scheme whose challenge carries this error: "DPoP" for DPoP failures and for any
    #: refusal of a request that used the DPoP scheme (the guard sets it), else "Bearer".
    scheme: str = "Bearer"

    def __init__(
        self,
        reason: str | None = None,
        *,
        context: TokenContext | None = None,
        claim: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        self.reason = reason or self.description
        self.context = context or TokenContext()
        self.claim = claim  # the claim a claim check refused, for diagnostics
        # For the operator's log only, never a response: the values that decided, e.g. {"aud": [...],
        # "expected": [...]}. Token values in it are as verified as `context.verified` says.
        self.details: Mapping[str, object] = details or {}
        #: The token source the credentials came from (or that refused them), once the guard has read them.
        self.token_source: str | None = None
        super().__init__(self.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class TokenMissing(AuthError):
    """Raised when the request carries no bearer credentials (no header, or another scheme)."""

    code = "token_missing"
    error = None  # RFC 6750 §3.1: no error code when the request lacks authentication information
    title = "Authentication required"
    description = "This resource requires a bearer token in the Authorization header."


class InvalidRequest(AuthError):
    """Raised when the `Authorization` header is malformed or carries several credentials."""

    code = "invalid_request"
    status_code = 400
    error = "invalid_request"
    title = "Malformed Authorization header"
    description = "The Authorization header must be exactly 'Bearer <token>', sent once."


class UnsafePath(InvalidRequest):
    """Raised, when per-route rules are configured, for a route path with an empty or dot segment (`//`,
    `/./`, `/../`): routers and proxies disagree on what such a path names, so no rule can be said to cover it."""

    title = "Malformed request path"
    description = "The request path must not contain empty or dot segments ('//', '/./', '/../')."


class TokenInQuery(InvalidRequest):
    """Raised when the query string has an `access_token` parameter (RFC 6750 §2.3), with or without a header.

    URLs are kept in server, proxy and browser logs and sent on in `Referer` (RFC 6750 §5.3): the token is
    never read from there, and the client is told where to send it instead. The code stays `invalid_request`.
    """

    title = "Access token in the URL"
    description = "Send the access token in the Authorization header ('Bearer <token>'), never in the URL."


class TokenMalformed(AuthError):
    """Raised when the token is not a well-formed compact JWS with JSON header and claims."""

    code = "token_malformed"
    title = "Malformed token"
    description = "The bearer token is not a well-formed signed JWT."


class AlgorithmNotAllowed(AuthError):
    """Raised when the token's `alg` is not allowed, or does not fit the key named by `kid`."""

    code = "algorithm_not_allowed"
    title = "Signing algorithm not allowed"
    description = "The token is signed with an algorithm this API does not accept for its key."


class KeyNotFound(AuthError):
    """Raised when no trusted key matches the token's `kid`, even after a permitted refresh."""

    code = "key_not_found"
    title = "Signing key not found"
    description = "The token was signed with a key this API does not know."


class SignatureInvalid(AuthError):
    """Raised when the signature does not verify with the trusted key."""

    code = "signature_invalid"
    title = "Invalid signature"
    description = "The token signature is invalid."


class TokenExpired(AuthError):
    """Raised when `exp` has passed, beyond the configured leeway."""

    code = "token_expired"
    title = "Token expired"
    description = "The access token expired."


class TokenNotYetValid(AuthError):
    """Raised when `nbf` or `iat` lies in the future, beyond the configured leeway."""

    code = "token_not_yet_valid"
    title = "Token not yet valid"
    description = "The access token is not valid yet."


class IssuerInvalid(AuthError):
    """Raised when `iss` is missing or is not exactly one of the configured issuers."""

    code = "issuer_invalid"
    title = "Untrusted issuer"
    description = "The token was not issued by a trusted issuer."


class AudienceInvalid(AuthError):
    """Raised when no value of `aud` is exactly one of the configured audiences."""

    code = "audience_invalid"
    title = "Wrong audience"
    description = "The token was not issued for this API."


class ClaimMissing(AuthError):
    """Raised when a required claim is absent."""

    code = "claim_missing"
    title = "Required claim missing"
    description = "The token lacks a claim this API requires."


class ClaimInvalid(AuthError):
    """Raised when a claim has the wrong type or fails a configured check."""

    code = "claim_invalid"
    title = "Invalid claim"
    description = "A claim in the token has an invalid value or type."


class TokenRevoked(AuthError):
    """Raised when the token (`jti`) or its subject has been revoked."""

    code = "token_revoked"
    title = "Token revoked"
    description = "The access token has been revoked."


class DPoPProofInvalid(AuthError):
    """Raised when a DPoP request's proof (RFC 9449 §4.3) is missing or repeated, is not a well-formed DPoP JWT
    (`typ`, an allowed asymmetric `alg`, a public `jwk` that fits it, a signature by that key), or its `jti`,
    `htm`, `htu`, `iat` or `ath` is absent or wrong for this request."""

    code = "dpop_proof_invalid"
    error = "invalid_dpop_proof"
    scheme = "DPoP"
    title = "Invalid DPoP proof"
    description = "The DPoP proof is missing, malformed, or not made for this request."


class DPoPBindingMismatch(AuthError):
    """Raised when a DPoP proof is valid but does not go with the token: its key is not the one the token is bound
    to (`cnf.jkt`, RFC 9449 §6.1), or its `ath` is the hash of another access token."""

    code = "dpop_binding_mismatch"
    scheme = "DPoP"
    title = "DPoP proof for another key or token"
    description = "The DPoP proof was not made with the key this access token is bound to, or for this token."


class DPoPReplayed(AuthError):
    """Raised when a DPoP proof's `jti` was seen before for its key and URL (RFC 9449 §11.1): a proof is used once."""

    code = "dpop_replayed"
    error = "invalid_dpop_proof"
    scheme = "DPoP"
    title = "DPoP proof replayed"
    description = "The DPoP proof has been used before; make a new proof for every request."


class DPoPRequired(AuthError):
    """Raised when a token bound to a key (`cnf.jkt`) comes as a bearer token, with no proof (RFC 9449 §7.2), or
    when the issuer's `dpop` is "required" and the request uses the Bearer scheme or the token is not bound."""

    code = "dpop_required"
    scheme = "DPoP"
    title = "DPoP required"
    description = "This access token must be sent with the DPoP scheme and a DPoP proof."


class UseDPoPNonce(AuthError):
    """Raised when `dpop_nonce` is on and the proof lacks the server's current nonce (RFC 9449 §8): the response
    carries the nonce in `DPoP-Nonce`, for the client to make a new proof with."""

    code = "use_dpop_nonce"
    error = "use_dpop_nonce"
    scheme = "DPoP"
    title = "DPoP nonce required"
    description = "Make a new DPoP proof with the nonce in the DPoP-Nonce header."

    def __init__(self, reason: str | None = None, *, nonce: str, context: TokenContext | None = None) -> None:
        self.nonce = nonce
        super().__init__(reason, context=context)


class CertificateBindingMismatch(AuthError):
    """Raised when a verified token is bound to a client certificate (`cnf` with `x5t#S256`, RFC 8705 §3) and the
    request presented no certificate, or another one: the TLS connection's own, or one a trusted proxy forwarded.

    A bound token is only as good as the key that comes with it: whoever copied the token alone must not use it.
    """

    code = "certificate_binding_mismatch"
    title = "Certificate-bound token without its certificate"
    description = "The access token is bound to a client certificate that this request did not present."


class InsufficientUserAuthentication(AuthError):
    """Raised when the token is valid but the user's authentication does not meet a step-up requirement
    (`Acr`, `MaxAge`): the `acr` claim is not one of the required values, or `auth_time` is absent or too old.

    RFC 9470 §3: the challenge carries `acr_values` (space-separated, in order of preference) and/or `max_age`
    (seconds), for the client to send the user back to the authorization server with them.
    """

    code = "insufficient_user_authentication"
    error = "insufficient_user_authentication"
    title = "Insufficient user authentication"
    description = "A stronger or more recent user authentication is required."

    def __init__(
        self,
        acr_values: Sequence[str] = (),
        max_age: int | None = None,
        reason: str | None = None,
        *,
        context: TokenContext | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        self.acr_values = tuple(acr_values)
        self.max_age = max_age
        super().__init__(reason, context=context, details=details)


class InsufficientScope(AuthError):
    """Raised when the token is valid but lacks a required scope, or a requirement scopes alone can meet."""

    code = "insufficient_scope"
    status_code = 403
    error = "insufficient_scope"
    title = "Insufficient scope"
    description = "The access token does not grant the scope this resource requires."

    def __init__(
        self,
        required_scopes: Sequence[str],
        reason: str | None = None,
        *,
        context: TokenContext | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        self.required_scopes = tuple(required_scopes)
        super().__init__(reason, context=context, details=details)


class InsufficientRole(AuthError):
    """Raised when the token is valid but lacks a role, a permission or a claim value that a requirement names,
    and no scope would make up for it (a requirement that scopes alone can meet raises `InsufficientScope`).

    RFC 6750 §3.1 defines no error code for it: `insufficient_scope` would send the client to ask for scopes
    that cannot help, so the challenge carries no `error` attribute. `required` is the requirement's text form
    (configuration, never token input), for the log and for an `error_body_hook`; the default body leaves it
    out, since roles and claim values are granted by an administrator, not requested by the client.
    """

    code = "insufficient_role"
    status_code = 403
    error = None
    title = "Insufficient role"
    description = "The access token lacks a role, permission or claim value this resource requires."

    def __init__(
        self,
        required: str,
        reason: str | None = None,
        *,
        context: TokenContext | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        self.required = required
        super().__init__(reason or f"token does not meet {required}", context=context, details=details)


class CrossSiteRequest(AuthError):
    """Raised when a token carried in a cookie comes with an unsafe request (any method but GET, HEAD and OPTIONS,
    and every WebSocket handshake) that a browser did not send from this site: `Sec-Fetch-Site` is not
    `same-origin` and `Origin` is neither this site's origin nor a trusted one.

    Browsers attach cookies to requests any other site makes them send: without this check a page elsewhere
    could act with the user's token (cross-site request forgery, and cross-site WebSocket hijacking).
    """

    code = "cross_site_request"
    status_code = 403
    error = None
    title = "Cross-site request"
    description = (
        "A token carried in a cookie is accepted on this request only from this site's own pages; "
        "other clients send it in the Authorization header."
    )


class UntrustedProxy(AuthError):
    """Raised when a header that only a trusted proxy may set (an identity-aware proxy's assertion, a forwarded
    access token) arrives from a peer address outside that source's `trusted_proxies`: a client that reached the
    application around its proxy."""

    code = "untrusted_proxy"
    status_code = 403
    error = None
    title = "Credentials from an untrusted peer"
    description = "This credential header is accepted only from the API's own proxy."


class JWKSUnavailable(AuthError):
    """Raised when no usable key is available and the key endpoint failed: a server fault, not the client's."""

    code = "jwks_unavailable"
    status_code = 503
    error = None
    title = "Signing keys unavailable"
    description = "The API cannot verify tokens right now because its signing keys are unavailable."

    def __init__(
        self,
        reason: str | None = None,
        *,
        retry_after: int = 30,
        context: TokenContext | None = None,
    ) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(reason, context=context)


class RevocationUnavailable(AuthError):
    """Raised when the revocation hook cannot be run here: a server fault, not the client's.

    Today one case: under WSGI or Django (no event loop) a `revocation_hook` returned an awaitable. Such
    a hook is refused at start-up when it is an `async def`; a plain function that returns a coroutine
    only shows itself at the first request.
    """

    code = "revocation_unavailable"
    status_code = 503
    error = None
    title = "Revocation check unavailable"
    description = "The API cannot check tokens for revocation right now because of a server configuration fault."
