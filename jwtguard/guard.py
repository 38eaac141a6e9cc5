"""The validation core shared by every adapter: one token in, a `Principal` or an `AuthError` out.

Checks run in a fixed order and stop at the first failure, each with its own code:
structure → `alg` allow-list → key by `kid` (and `alg` fits the key) → signature → `exp`/`nbf`/`iat`
→ `iss` → `aud` → required claims → required scopes. No claim is read for a decision before the
signature verifies. Key lookup is the only I/O and has a sync and an async face.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jwt.algorithms import Algorithm, get_default_algorithms

from ._logging import RequestInfo, log_acceptance, log_rejection
from ._token import ParsedToken, fingerprint, parse_token
from .bearer import extract_bearer_token
from .errors import (
    AlgorithmNotAllowed,
    AudienceInvalid,
    AuthError,
    ClaimInvalid,
    ClaimMissing,
    InsufficientScope,
    IssuerInvalid,
    SignatureInvalid,
    TokenContext,
    TokenExpired,
    TokenMissing,
    TokenNotYetValid,
)
from .jwks import KeySet, VerificationKey
from .principal import Principal, scopes_from_claims
from .responses import RenderedError, render_error
from .settings import SUPPORTED_ALGORITHMS, Settings

__all__ = ["Guard"]

_ALGORITHMS: Mapping[str, Algorithm] = {
    name: algorithm for name, algorithm in get_default_algorithms().items() if name in SUPPORTED_ALGORITHMS
}
_DOT_SEGMENT = ("/./", "/../", "//")


class Guard:
    """Validates bearer tokens according to `settings`.

    `authenticate` / `aauthenticate` take the `Authorization` header value(s) and return a `Principal`
    or raise an `AuthError`. `check_request` / `acheck_request` add the request policy (excluded paths,
    anonymous access) and the log record; the adapters use those.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        key_set: KeySet | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.key_set = key_set if key_set is not None else KeySet.from_settings(settings)
        self._clock = clock
        # Everything derivable from settings is derived once, here.
        self._allowed_algorithms = frozenset(settings.algorithms)
        self._issuers = frozenset(settings.issuers)
        self._audiences = frozenset(settings.audiences)
        self._leeway = float(settings.leeway)
        self._required_claims = tuple(settings.required_claims)
        self._required_scopes = tuple(settings.required_scopes)
        self._max_token_bytes = settings.max_token_bytes
        exact, prefixes = set(), []
        for path in settings.exclude_paths:
            if path.endswith("/*"):
                exact.add(path[:-2] or "/")
                prefixes.append(path[:-1])
            else:
                exact.add(path)
        self._excluded_exact = frozenset(exact)
        self._excluded_prefixes = tuple(prefixes)

    # -- token validation ---------------------------------------------------------------------------

    def authenticate(self, authorization: str | Sequence[str] | None) -> Principal:
        """Validate the bearer token in `authorization`; may block this thread on a JWKS fetch."""
        return self._authenticate_sync(authorization)[0]

    async def aauthenticate(self, authorization: str | Sequence[str] | None) -> Principal:
        """Validate the bearer token in `authorization`; never blocks the event loop."""
        return (await self._authenticate_async(authorization))[0]

    def _authenticate_sync(self, authorization: str | Sequence[str] | None) -> tuple[Principal, TokenContext]:
        parsed, context = self._parse(authorization)
        try:
            key = self.key_set.get_key(parsed.kid, parsed.alg)
        except AuthError as exc:
            exc.context = context
            raise
        return self._verify(parsed, key, context)

    async def _authenticate_async(self, authorization: str | Sequence[str] | None) -> tuple[Principal, TokenContext]:
        parsed, context = self._parse(authorization)
        try:
            key = await self.key_set.aget_key(parsed.kid, parsed.alg)
        except AuthError as exc:
            exc.context = context
            raise
        return self._verify(parsed, key, context)

    def _parse(self, authorization: str | Sequence[str] | None) -> tuple[ParsedToken, TokenContext]:
        token = extract_bearer_token(authorization, max_bytes=self._max_token_bytes)
        token_fingerprint = fingerprint(token)
        try:
            parsed = parse_token(token)
        except AuthError as exc:
            exc.context = TokenContext(fingerprint=token_fingerprint)
            raise
        claims = parsed.claims
        # Unverified values, kept only so the log can say what the refused token claimed to be.
        context = TokenContext(
            fingerprint=token_fingerprint,
            kid=parsed.kid,
            alg=parsed.alg,
            iss=_str_or_none(claims.get("iss")),
            sub=_str_or_none(claims.get("sub")),
            jti=_str_or_none(claims.get("jti")),
            verified=False,
        )
        if parsed.alg not in self._allowed_algorithms:
            raise AlgorithmNotAllowed("alg is not in the algorithms allow-list", context=context)
        return parsed, context

    def _verify(
        self, parsed: ParsedToken, key: VerificationKey, context: TokenContext
    ) -> tuple[Principal, TokenContext]:
        try:
            valid = _ALGORITHMS[parsed.alg].verify(parsed.signing_input, key.public_key, parsed.signature)
        except Exception:  # malformed signatures can raise from cryptography; all of them are invalid
            valid = False
        if not valid:
            raise SignatureInvalid("signature does not verify with the key named by kid", context=context)
        context = TokenContext(
            fingerprint=context.fingerprint,
            kid=context.kid,
            alg=context.alg,
            iss=context.iss,
            sub=context.sub,
            jti=context.jti,
            verified=True,
        )
        try:
            scopes = self._check_claims(parsed.claims)
        except AuthError as exc:
            exc.context = context
            raise
        return Principal(parsed.claims, scopes, context), context

    def _check_claims(self, claims: dict[str, Any]) -> frozenset[str]:
        now = self._clock()
        leeway = self._leeway
        exp = _numeric_date(claims, "exp")
        if exp is None:
            raise ClaimMissing("required claim 'exp' is absent")
        if now >= exp + leeway:
            raise TokenExpired("exp is in the past, beyond the leeway")
        nbf = _numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise TokenNotYetValid("nbf is in the future, beyond the leeway")
        iat = _numeric_date(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise TokenNotYetValid("iat is in the future, beyond the leeway")

        iss = claims.get("iss")
        if iss is not None and not isinstance(iss, str):
            raise ClaimInvalid("'iss' is not a string")
        if self._issuers and iss not in self._issuers:
            raise IssuerInvalid("iss is absent" if iss is None else "iss is not a configured issuer")

        aud = claims.get("aud")
        audiences: tuple[str, ...]
        if aud is None:
            audiences = ()
        elif isinstance(aud, str):
            audiences = (aud,)
        elif isinstance(aud, list) and all(isinstance(item, str) for item in aud):
            audiences = tuple(aud)
        else:
            raise ClaimInvalid("'aud' is neither a string nor a list of strings")
        if self._audiences and self._audiences.isdisjoint(audiences):
            raise AudienceInvalid("aud is absent" if aud is None else "no aud value is a configured audience")

        for name in self._required_claims:
            if name not in claims:
                raise ClaimMissing(f"required claim {name!r} is absent")
        for name in ("sub", "jti"):
            if name in claims and not isinstance(claims[name], str):
                raise ClaimInvalid(f"{name!r} is not a string")

        scopes = scopes_from_claims(claims)
        if scopes is None:
            raise ClaimInvalid("'scope' is not a string, or 'scp' not a string or list of strings")
        if not scopes.issuperset(self._required_scopes):
            raise InsufficientScope(self._required_scopes, "token lacks a scope in required_scopes")
        return scopes

    # -- request policy, used by the adapters ------------------------------------------------------

    def is_excluded(self, path: str) -> bool:
        """True when `path` is listed in `exclude_paths` (exactly, or under a '/*' prefix).

        A path with dot segments or empty segments is never excluded, so '/public/../admin' cannot
        borrow the exclusion of '/public/*'.
        """
        if path in self._excluded_exact:
            return True
        if not self._excluded_prefixes or any(marker in path for marker in _DOT_SEGMENT) or path.endswith("/.."):
            return False
        return path.startswith(self._excluded_prefixes)

    def check_request(self, request: RequestInfo, authorization: str | Sequence[str] | None) -> Principal | None:
        """Apply the request policy: a `Principal`, or None when the request may pass without one.

        Raises `AuthError` (already logged) when the request must be refused.
        """
        if self.is_excluded(request.path):
            return None
        try:
            principal, context = self._authenticate_sync(authorization)
        except TokenMissing as exc:
            if self.settings.allow_anonymous:
                return None
            log_rejection(exc, request)
            raise
        except AuthError as exc:
            log_rejection(exc, request)
            raise
        log_acceptance(principal, context, request)
        return principal

    async def acheck_request(self, request: RequestInfo, authorization: str | Sequence[str] | None) -> Principal | None:
        """Like `check_request`, for the event loop."""
        if self.is_excluded(request.path):
            return None
        try:
            principal, context = await self._authenticate_async(authorization)
        except TokenMissing as exc:
            if self.settings.allow_anonymous:
                return None
            log_rejection(exc, request)
            raise
        except AuthError as exc:
            log_rejection(exc, request)
            raise
        log_acceptance(principal, context, request)
        return principal

    def reject(self, error: AuthError, request: RequestInfo) -> RenderedError:
        """Log `error` for `request` and render it; for errors raised after `check_request`."""
        log_rejection(error, request)
        return self.render(error)

    def render(self, error: AuthError) -> RenderedError:
        """Status, headers and body for `error`, per these settings."""
        return render_error(error, self.settings)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate: a finite JSON number. Booleans and strings are refused."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimInvalid(f"{name!r} is not a NumericDate")
    try:
        number = float(value)
    except OverflowError:
        raise ClaimInvalid(f"{name!r} is out of range") from None
    if not math.isfinite(number):
        raise ClaimInvalid(f"{name!r} is not finite")
    return number
