"""The validation core shared by every adapter: one token in, a `Principal` or an `AuthError` out.

Checks run in a fixed order and stop at the first failure, each with its own code:
structure → `alg` allow-list → key by `kid` (and `alg` fits the key) → signature → `exp`/`nbf`/`iat`
→ `iss` → `aud` → required claims → required scopes. No claim is read for a decision before the
signature verifies. Key lookup is the only I/O and has a sync and an async face.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import cachetools
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
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
    ConfigurationError,
    InsufficientScope,
    IssuerInvalid,
    JWKSUnavailable,
    SignatureInvalid,
    TokenContext,
    TokenExpired,
    TokenMissing,
    TokenNotYetValid,
    TokenRevoked,
)
from .jwks import Fetcher, KeySet, VerificationKey
from .principal import Principal, scopes_from_claims
from .responses import RenderedError, render_error
from .settings import SUPPORTED_ALGORITHMS, Settings, redact_url

__all__ = ["Guard"]

logger = logging.getLogger("jwtguard")

_ALGORITHMS: Mapping[str, Algorithm] = {
    name: algorithm for name, algorithm in get_default_algorithms().items() if name in SUPPORTED_ALGORITHMS
}
_DOT_SEGMENT = ("/./", "/../", "//")
_HASHES: Mapping[int, Any] = {256: hashes.SHA256, 384: hashes.SHA384, 512: hashes.SHA512}


class _Verified(NamedTuple):
    """A token that passed every check but the per-request ones (time, revocation, scopes)."""

    principal: Principal
    context: TokenContext
    route: _Route
    key: VerificationKey
    kid: str | None
    alg: str
    exp: float
    nbf: float | None
    iat: float | None


@dataclass(frozen=True, slots=True)
class _Route:
    """One trusted issuer as the guard uses it."""

    names: frozenset[str]
    audiences: frozenset[str]
    algorithms: frozenset[str]
    key_set: KeySet

    @property
    def label(self) -> str:
        return min(self.names) if self.names else self.key_set.source


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
        fetcher: Fetcher | None = None,
        key_clock: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`fetcher` and `key_clock` are handed to every issuer's `KeySet` (tests inject them);
        `key_set` replaces the key set of a single-issuer configuration; `clock` is the wall clock
        for `exp`/`nbf`/`iat`."""
        self.settings = settings
        self._clock = clock
        trusted = settings.trusted_issuers
        if key_set is not None and len(trusted) != 1:
            raise ConfigurationError("key_set= replaces the key set of a single issuer; use fetcher= instead")
        # Everything derivable from settings is derived once, here.
        self._routes = tuple(
            _Route(
                names=frozenset(entry.names),
                audiences=frozenset(entry.audience or ()),
                algorithms=frozenset(entry.algorithms or ()),
                key_set=key_set or KeySet.from_settings(settings, entry, fetcher=fetcher, clock=key_clock),
            )
            for entry in trusted
        )
        self._by_issuer = (
            {name: route for route in self._routes for name in route.names} if settings.multi_issuer else None
        )
        self._leeway = float(settings.leeway)
        self._token_types = frozenset(_media_type(typ) for typ in settings.token_types)
        self._max_lifetime = settings.max_token_lifetime
        self._claim_values = {name: frozenset(values) for name, values in settings.required_claim_values.items()}
        self._revocation_hook = settings.revocation_hook
        self._required_claims = tuple(settings.required_claims)
        self._required_scopes = tuple(settings.required_scopes)
        self._max_token_bytes = settings.max_token_bytes
        # Verified tokens by their exact text: a repeated token skips parsing and the signature, but not
        # the time checks, revocation or scopes, and only while the key that verified it is still trusted.
        self._token_cache: cachetools.LRUCache[str, _Verified] | None = (
            cachetools.LRUCache(maxsize=settings.token_cache_size) if settings.token_cache_size else None
        )
        self._cache_lock = threading.Lock()
        exact, prefixes = set(), []
        for path in settings.exclude_paths:
            if path.endswith("/*"):
                exact.add(path[:-2] or "/")
                prefixes.append(path[:-1])
            else:
                exact.add(path)
        self._excluded_exact = frozenset(exact)
        self._excluded_prefixes = tuple(prefixes)

    @property
    def key_set(self) -> KeySet:
        """The key set of a single-issuer configuration."""
        if len(self._routes) != 1:
            raise ConfigurationError("several issuers are configured: use key_sets")
        return self._routes[0].key_set

    @property
    def key_sets(self) -> dict[str, KeySet]:
        """Every issuer's key set, by its first `iss` value (or key source when any issuer is accepted)."""
        return {route.label: route.key_set for route in self._routes}

    # -- token validation ---------------------------------------------------------------------------

    def authenticate(self, authorization: str | Sequence[str] | None) -> Principal:
        """Validate the bearer token in `authorization`; may block this thread on a JWKS fetch."""
        return self._authenticate_sync(authorization)[0]

    async def aauthenticate(self, authorization: str | Sequence[str] | None) -> Principal:
        """Validate the bearer token in `authorization`; never blocks the event loop."""
        return (await self._authenticate_async(authorization))[0]

    def _authenticate_sync(self, authorization: str | Sequence[str] | None) -> tuple[Principal, TokenContext]:
        header, entry = self._cache_entry(authorization)
        if entry is not None:
            try:
                key = entry.route.key_set.get_key(entry.kid, entry.alg)
            except AuthError as exc:
                self._cache_drop(header)
                exc.context = entry.context
                raise
            if self._still_valid(header, entry, key):
                self._finish_sync(entry.principal, entry.context, cached=True)
                return entry.principal, entry.context
        token = extract_bearer_token(authorization, max_bytes=self._max_token_bytes)
        parsed, token_fingerprint, route = self._parse(token)
        try:
            key = route.key_set.get_key(parsed.kid, parsed.alg)
        except AuthError as exc:
            exc.context = _context(parsed, token_fingerprint, verified=False)
            raise
        verified = self._verify(parsed, token_fingerprint, key, route)
        self._finish_sync(verified.principal, verified.context)
        self._cache_put(header, token, verified)
        return verified.principal, verified.context

    async def _authenticate_async(self, authorization: str | Sequence[str] | None) -> tuple[Principal, TokenContext]:
        header, entry = self._cache_entry(authorization)
        if entry is not None:
            try:
                key_set = entry.route.key_set
                key = key_set.cached_key(entry.kid, entry.alg) or await key_set.aget_key(entry.kid, entry.alg)
            except AuthError as exc:
                self._cache_drop(header)
                exc.context = entry.context
                raise
            if self._still_valid(header, entry, key):
                await self._finish_async(entry.principal, entry.context, cached=True)
                return entry.principal, entry.context
        token = extract_bearer_token(authorization, max_bytes=self._max_token_bytes)
        parsed, token_fingerprint, route = self._parse(token)
        try:
            key_set = route.key_set
            key = key_set.cached_key(parsed.kid, parsed.alg) or await key_set.aget_key(parsed.kid, parsed.alg)
        except AuthError as exc:
            exc.context = _context(parsed, token_fingerprint, verified=False)
            raise
        verified = self._verify(parsed, token_fingerprint, key, route)
        if self._revocation_hook is None:  # nothing to await: spare the coroutine
            self._finish_sync(verified.principal, verified.context)
        else:
            await self._finish_async(verified.principal, verified.context)
        self._cache_put(header, token, verified)
        return verified.principal, verified.context

    def _fast_hit(self, authorization: str | Sequence[str] | None) -> _Verified | None:
        """The whole check for a cached token whose key needs no lookup: no I/O, no await.

        None means "take the full path" (not cached, a key refresh is due, or a revocation hook must run).
        """
        if self._revocation_hook is not None:
            return None
        header, entry = self._cache_entry(authorization)
        if entry is None:
            return None
        try:
            key = entry.route.key_set.cached_key(entry.kid, entry.alg)
        except AuthError:
            return None  # the kid's key changed type: the full path says how
        if key is None or not self._still_valid(header, entry, key):
            return None
        return entry  # scopes passed when it was cached, and settings do not change

    def _finish_sync(self, principal: Principal, context: TokenContext, *, cached: bool = False) -> None:
        """Revocation (every request), then scopes (a cached token passed them already)."""
        try:
            if self._revocation_hook is not None:
                result = self._call_revocation_hook(principal)
                if inspect.isawaitable(result):
                    _close(result)
                    raise ConfigurationError("an async revocation_hook needs the ASGI middleware (aauthenticate)")
                self._check_revoked(result)
            if not cached:
                self._check_scopes(principal)
        except AuthError as exc:
            exc.context = context
            raise

    async def _finish_async(self, principal: Principal, context: TokenContext, *, cached: bool = False) -> None:
        try:
            if self._revocation_hook is not None:
                result = self._call_revocation_hook(principal)
                if inspect.isawaitable(result):
                    result = await self._await_revocation(result)
                self._check_revoked(result)
            if not cached:
                self._check_scopes(principal)
        except AuthError as exc:
            exc.context = context
            raise

    # -- the verified-token cache -----------------------------------------------------------------

    def _cache_entry(self, authorization: str | Sequence[str] | None) -> tuple[str | None, _Verified | None]:
        """The cache key (the exact header value, when there is exactly one) and its entry, if any."""
        if type(authorization) is str:
            header = authorization
        elif isinstance(authorization, list | tuple) and len(authorization) == 1:
            header = authorization[0]
        else:
            return None, None
        if self._token_cache is None:
            return header, None
        with self._cache_lock:  # cachetools caches are not thread-safe
            return header, self._token_cache.get(header)

    def _cache_put(self, header: str | None, token: str, verified: _Verified) -> None:
        # Only the plain "Bearer <token>" spelling is cached: padding a valid token with whitespace must not
        # mint new, arbitrarily large cache keys (the cache is bounded by entries, so keys must be small).
        if self._token_cache is not None and header is not None and len(header) == len(token) + 7:
            with self._cache_lock:
                self._token_cache[header] = verified

    def _cache_drop(self, header: str | None) -> None:
        if self._token_cache is not None and header is not None:
            with self._cache_lock:
                self._token_cache.pop(header, None)

    def _still_valid(self, header: str | None, entry: _Verified, key: VerificationKey) -> bool:
        """True if the key that verified `entry` is still the key for its kid; raises when it expired."""
        if key is not entry.key:
            self._cache_drop(header)
            return False
        self._recheck(header, entry)
        return True

    def _recheck(self, header: str | None, hit: _Verified) -> None:
        """The time checks, on every hit: a cached token is refused the moment it expires."""
        now = self._clock()
        leeway = self._leeway
        error: AuthError | None = None
        if now >= hit.exp + leeway:
            error = TokenExpired("exp is in the past, beyond the leeway", claim="exp")
        elif hit.nbf is not None and hit.nbf > now + leeway:  # the clock went back
            error = TokenNotYetValid("nbf is in the future, beyond the leeway", claim="nbf")
        elif hit.iat is not None and hit.iat > now + leeway:
            error = TokenNotYetValid("iat is in the future, beyond the leeway", claim="iat")
        if error is not None:
            self._cache_drop(header)
            error.context = hit.context
            raise error

    def _call_revocation_hook(self, principal: Principal) -> object:
        try:
            return self._revocation_hook(principal)  # type: ignore[misc]  # checked by the callers
        except Exception:  # a broken store must not let tokens through, nor answer 500
            logger.exception("jwtguard: revocation_hook failed; refusing the token (fail closed)")
            raise TokenRevoked("revocation check failed; refused (fail closed)") from None

    async def _await_revocation(self, result: Awaitable[object]) -> object:
        try:
            return await result
        except Exception:
            logger.exception("jwtguard: revocation_hook failed; refusing the token (fail closed)")
            raise TokenRevoked("revocation check failed; refused (fail closed)") from None

    @staticmethod
    def _check_revoked(result: object) -> None:
        if result is not False:  # only an explicit False lets a token through
            raise TokenRevoked("revocation_hook reports the token or its subject revoked")

    def _check_scopes(self, principal: Principal) -> None:
        if self._required_scopes and not principal.scopes.issuperset(self._required_scopes):
            raise InsufficientScope(self._required_scopes, "token lacks a scope in required_scopes")

    def _parse(self, token: str) -> tuple[ParsedToken, str, _Route]:
        token_fingerprint = fingerprint(token)
        try:
            parsed = parse_token(token)
        except AuthError as exc:
            exc.context = TokenContext(fingerprint=token_fingerprint)
            raise
        try:
            route = self._route(parsed.claims)
            if parsed.alg not in route.algorithms:
                raise AlgorithmNotAllowed("alg is not in the algorithms allow-list")
        except AuthError as exc:
            exc.context = _context(parsed, token_fingerprint, verified=False)
            raise
        return parsed, token_fingerprint, route

    def _route(self, claims: Mapping[str, Any]) -> _Route:
        if self._by_issuer is None:
            return self._routes[0]
        # With several issuers the unverified `iss` only chooses whose keys to try: it names a configured
        # issuer or the token is refused, and nothing is ever fetched from a URL the token names. The
        # signature and then `iss` itself are verified against that issuer as usual.
        iss = claims.get("iss")
        if iss is None:
            raise IssuerInvalid("iss is absent")
        if not isinstance(iss, str):
            raise ClaimInvalid("'iss' is not a string")
        route = self._by_issuer.get(iss)
        if route is None:
            raise IssuerInvalid("iss is not a configured issuer")
        return route

    def _verify(self, parsed: ParsedToken, token_fingerprint: str, key: VerificationKey, route: _Route) -> _Verified:
        try:
            valid = _verify_signature(parsed.alg, key.public_key, parsed.signing_input, parsed.signature)
        except Exception:  # malformed signatures can raise from cryptography; all of them are invalid
            valid = False
        if not valid:
            raise SignatureInvalid(
                "signature does not verify with the key named by kid",
                context=_context(parsed, token_fingerprint, verified=False),
            )
        context = _context(parsed, token_fingerprint, verified=True)
        claims = parsed.claims
        try:
            if self._token_types:
                typ = parsed.header.get("typ")
                if typ is None:
                    raise ClaimInvalid("typ header absent, but token_types is configured", claim="typ")
                if _media_type(typ) not in self._token_types:
                    raise ClaimInvalid("typ header is not one of token_types", claim="typ")
            scopes, exp, nbf, iat = self._check_claims(claims, route)
        except AuthError as exc:
            exc.context = context
            raise
        return _Verified(
            Principal._verified(claims, scopes, context), context, route, key, parsed.kid, parsed.alg, exp, nbf, iat
        )

    def _check_claims(
        self, claims: dict[str, Any], route: _Route
    ) -> tuple[frozenset[str], float, float | None, float | None]:
        """The claim checks; returns the scopes and the times the cache re-checks on every hit."""
        now = self._clock()
        leeway = self._leeway
        exp = _numeric_date(claims, "exp")
        if exp is None:
            raise ClaimMissing("required claim 'exp' is absent", claim="exp")
        nbf = _numeric_date(claims, "nbf") if "nbf" in claims else None
        iat = _numeric_date(claims, "iat") if "iat" in claims else None
        # A token that ends before it starts was never valid; leeway must not make it so.
        if nbf is not None and exp <= nbf:
            raise ClaimInvalid("exp is not after nbf", claim="exp")
        if iat is not None and exp <= iat:
            raise ClaimInvalid("exp is not after iat", claim="exp")
        if now >= exp + leeway:
            raise TokenExpired("exp is in the past, beyond the leeway", claim="exp")
        if nbf is not None and nbf > now + leeway:
            raise TokenNotYetValid("nbf is in the future, beyond the leeway", claim="nbf")
        if iat is not None and iat > now + leeway:
            raise TokenNotYetValid("iat is in the future, beyond the leeway", claim="iat")
        if self._max_lifetime is not None:
            if iat is None:
                raise ClaimMissing("required claim 'iat' is absent (max_token_lifetime is configured)", claim="iat")
            if exp - iat > self._max_lifetime:
                raise ClaimInvalid("exp - iat exceeds max_token_lifetime", claim="iat")

        iss = claims.get("iss")
        if iss is not None and not isinstance(iss, str):
            raise ClaimInvalid("'iss' is not a string", claim="iss")
        if route.names and iss not in route.names:
            raise IssuerInvalid("iss is absent" if iss is None else "iss is not a configured issuer", claim="iss")

        aud = claims.get("aud")
        audiences: tuple[str, ...]
        if aud is None:
            audiences = ()
        elif isinstance(aud, str):
            audiences = (aud,)
        elif isinstance(aud, list) and all(isinstance(item, str) for item in aud):
            audiences = tuple(aud)
        else:
            raise ClaimInvalid("'aud' is neither a string nor a list of strings", claim="aud")
        if route.audiences and route.audiences.isdisjoint(audiences):
            raise AudienceInvalid(
                "aud is absent" if aud is None else "no aud value is a configured audience", claim="aud"
            )

        for name in self._required_claims:
            if name not in claims:
                raise ClaimMissing(f"required claim {name!r} is absent", claim=name)
        for name in ("sub", "jti"):
            if name in claims and not isinstance(claims[name], str):
                raise ClaimInvalid(f"{name!r} is not a string", claim=name)
        for name, allowed in self._claim_values.items():
            if name not in claims:
                raise ClaimMissing(f"required claim {name!r} is absent", claim=name)
            value = claims[name]
            if not isinstance(value, str) or value not in allowed:  # exact, case-sensitive
                raise ClaimInvalid(f"{name!r} is not one of the values in required_claim_values", claim=name)

        scopes = scopes_from_claims(claims)
        if scopes is None:
            raise ClaimInvalid("'scope' is not a string, or 'scp' not a string or list of strings", claim="scope")
        return scopes, exp, nbf, iat

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
        if self._excluded_exact and self.is_excluded(request.path):
            return None
        try:
            hit = self._fast_hit(authorization)
            if hit is not None:
                log_acceptance(hit.principal, hit.context, request)
                return hit.principal
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
        if self._excluded_exact and self.is_excluded(request.path):
            return None
        try:
            hit = self._fast_hit(authorization)
            if hit is not None:
                log_acceptance(hit.principal, hit.context, request)
                return hit.principal
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

    # -- lifecycle and health ---------------------------------------------------------------------

    def startup(self) -> None:
        """Warm the key sets per `jwks_prefetch` (WSGI adapters call this at construction).

        "off": nothing. "degraded": fetch now, log and carry on if an issuer fails. "strict": raise
        `JWKSUnavailable` if any issuer has no usable keys.
        """
        if self.settings.jwks_prefetch != "off":
            self._after_prefetch([route.key_set.prefetch() for route in self._routes])

    async def astartup(self) -> None:
        """Like `startup`, for the ASGI lifespan; issuers are fetched concurrently."""
        if self.settings.jwks_prefetch != "off":
            results = await asyncio.gather(*(route.key_set.aprefetch() for route in self._routes))
            self._after_prefetch(list(results))

    def _after_prefetch(self, results: list[bool]) -> None:
        failed = [route.label for route, ok in zip(self._routes, results, strict=True) if not ok]
        if not failed:
            return
        if self.settings.jwks_prefetch == "strict":
            raise JWKSUnavailable(f"prefetch found no usable keys for {', '.join(failed)}")
        logger.warning("jwtguard: starting without usable keys for %s; requests will retry", ", ".join(failed))

    def health(self) -> dict[str, Any]:
        """A readiness report: "ok", "degraded" (stale keys, or some issuers failing) or "unavailable".

        Issuers are named with `redact_url` (a discovery issuer is a URL that may carry credentials):
        the report is meant for a readiness endpoint that anyone may call. Like `KeySet.health`, it may
        start background fetches and never waits for them.
        """
        issuers = {redact_url(route.label): route.key_set.health() for route in self._routes}
        usable = [report["usable"] for report in issuers.values()]
        healthy = [report["usable"] and not report["failing"] and not report["stale"] for report in issuers.values()]
        status = "ok" if all(healthy) else "unavailable" if not any(usable) else "degraded"
        return {"status": status, "issuers": issuers}

    def close(self) -> None:
        """Release the key sets' HTTP clients."""
        for route in self._routes:
            route.key_set.close()

    def reject(self, error: AuthError, request: RequestInfo) -> RenderedError:
        """Log `error` for `request` and render it; for errors raised after `check_request`."""
        log_rejection(error, request)
        return self.render(error)

    def render(self, error: AuthError) -> RenderedError:
        """Status, headers and body for `error`, per these settings."""
        return render_error(error, self.settings)


# RSA padding and hash objects are immutable: built once instead of per token. ECDSA and EdDSA go through
# PyJWT's algorithm objects, which also turn JOSE's raw (r, s) signatures into DER.
_RSA_PARAMETERS: Mapping[str, tuple[Any, Any]] = {
    **{f"RS{bits}": (padding.PKCS1v15(), hash_()) for bits, hash_ in _HASHES.items()},
    **{
        f"PS{bits}": (padding.PSS(mgf=padding.MGF1(hash_()), salt_length=hash_.digest_size), hash_())
        for bits, hash_ in _HASHES.items()
    },
}


def _verify_signature(alg: str, public_key: Any, signing_input: bytes, signature: bytes) -> bool:
    parameters = _RSA_PARAMETERS.get(alg)
    if parameters is None:
        return bool(_ALGORITHMS[alg].verify(signing_input, public_key, signature))
    try:
        public_key.verify(signature, signing_input, *parameters)
    except InvalidSignature:
        return False
    return True


def _media_type(value: object) -> str:
    """RFC 7515 §4.1.9: `typ` compares case-insensitively, with "application/" optional."""
    text = value.lower() if isinstance(value, str) else ""
    return text[len("application/") :] if text.startswith("application/") else text


def _close(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def _context(parsed: ParsedToken, token_fingerprint: str, *, verified: bool) -> TokenContext:
    # Before the signature verifies these values are the attacker's; the log says which they are.
    claims = parsed.claims
    return TokenContext(
        token_fingerprint,
        parsed.kid,
        parsed.alg,
        _str_or_none(claims.get("iss")),
        _str_or_none(claims.get("sub")),
        _str_or_none(claims.get("jti")),
        verified,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate: a finite JSON number. Booleans and strings are refused."""
    value = claims.get(name)
    if type(value) is int and -(2**53) < value < 2**53:  # the common case, exact as a float
        return float(value)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimInvalid(f"{name!r} is not a NumericDate", claim=name)
    try:
        number = float(value)
    except OverflowError:
        raise ClaimInvalid(f"{name!r} is out of range", claim=name) from None
    if not math.isfinite(number):
        raise ClaimInvalid(f"{name!r} is not finite", claim=name)
    return number
