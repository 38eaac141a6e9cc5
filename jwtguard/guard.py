"""The validation core shared by every adapter: one token in, a `Principal` or an `AuthError` out.

Checks run in a fixed order and stop at the first failure, each with its own code:
structure → `alg` allow-list → key by `kid` (and `alg` fits the key) → signature → `exp`/`nbf`/`iat`
→ `iss` → `aud` → required claims → required scopes, and per request the client certificate of a certificate-bound
token (`cnf.x5t#S256`, RFC 8705) and the route's requirement. No claim is read for a decision before the
signature verifies. Key lookup is the only I/O and has a sync and an async face.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from ._claims import ClaimPolicy, tenant_in
from ._jose import verify_signature
from ._logging import LOG_RECORDS
from ._request import RequestInfo, header_values
from ._token import ParsedToken, header_cache_size, issuer_candidates, parse_claims, parse_token
from ._token_cache import KEY_CHARS, TokenCache
from .bearer import (
    AUTHORIZATION_HEADER,
    COMMON_PREFIXES,
    DPOP_PREFIXES,
    TokenSource,
    extract_bearer_token,
    query_has_access_token,
    uses_dpop_scheme,
)
from .certificates import ClientCertificates, bound_thumbprint
from .dpop import MemoryReplayStore, NonceIssuer, ProofVerifier, ReplayStore, request_url
from .errors import (
    AlgorithmNotAllowed,
    AuthError,
    CertificateBindingMismatch,
    ClaimInvalid,
    ConfigurationError,
    DPoPProofInvalid,
    DPoPRequired,
    InvalidRequest,
    IssuerInvalid,
    JWKSUnavailable,
    RevocationUnavailable,
    SignatureInvalid,
    TokenContext,
    TokenInQuery,
    TokenMissing,
    TokenRevoked,
)
from .hooks import DecisionObserver
from .jwks import Fetcher, KeySet, VerificationKey
from .principal import Principal, Requirement, ScopeRequirement, require
from .resource_metadata import ResourceMetadata, metadata_url
from .responses import RenderedError, Renderer
from .rules import Rule, RuleSet, has_unsafe_segment
from .settings import Issuer, Settings, redact_url
from .sources import QuerySource, query_values

__all__ = ["CacheStats", "Candidate", "Guard", "IssuerView", "guard_from", "key_set_for"]

logger = logging.getLogger("jwtguard")
_DEBUG = logging.DEBUG

_REASON_IN_QUERY = "token parameter in the query string (RFC 6750 §2.3); not read, the URL may be logged"


class _Verified(NamedTuple):
    """A token that passed every check but the per-request ones (time, revocation, scopes)."""

    principal: Principal
    route: _Route
    key: VerificationKey
    kid: str | None
    alg: str
    exp: float
    nbf: float | None
    iat: float | None
    valid_from: float  # the token's validity on this server's clock, leeway included: [valid_from, valid_until)
    valid_until: float
    # The key set's snapshot that held `key` when the token was verified (None: unknown), and until when
    # (on the key set's clock) that snapshot needs no refresh: while both hold, `key` is still the key.
    snapshot: object
    snapshot_fresh_until: float
    # The `cnf` `x5t#S256` of a certificate-bound token (RFC 8705 §3), checked against every request; else None.
    binding: str | None


def guard_from(settings: Settings | None, guard: Guard | None) -> Guard:
    """The guard a middleware was given, or one built from its settings: exactly one of the two."""
    if guard is not None and settings is None:
        return guard
    if settings is not None and guard is None:
        return Guard(settings)
    raise ConfigurationError("pass exactly one of settings=... or guard=...")


_Source = TypeVar("_Source")


class CacheStats(NamedTuple):
    """What the verified-token cache holds (entries, and their estimated bytes), and how many parsed JOSE
    headers the process keeps (one per issuer key, shared by every guard)."""

    entries: int
    bytes: int
    headers: int


class _FromSources:
    """The default of `check_request`'s `authorization`: read the credentials from the token sources."""


_FROM_SOURCES = _FromSources()


class _Pending(NamedTuple):
    """A token waiting for its key: parsed and routed, or found in the cache with a key refresh due."""

    token: str
    parsed: ParsedToken | None
    route: _Route
    kid: str | None
    alg: str
    cached: _Verified | None


class _Fresh(NamedTuple):
    """A token verified just now: scopes and the cache come next."""

    token: str
    verified: _Verified


def _principal(step: _Verified | _Fresh) -> Principal:
    return step.principal if isinstance(step, _Verified) else step.verified.principal


def key_set_for(
    settings: Settings, issuer: Issuer, *, fetcher: Fetcher | None = None, clock: Callable[[], float] = time.monotonic
) -> KeySet:
    """The key set of one of `settings.trusted_issuers`, with the `jwks_*` limits and hook of `settings`."""
    return KeySet(
        jwks_uri=issuer.jwks_uri,
        discovery_issuer=issuer.names[0] if issuer.discovery else None,
        jwks=issuer.static_jwks,
        cache_ttl=settings.jwks_cache_ttl,
        cache_ttl_min=settings.jwks_cache_ttl_min,
        cache_ttl_max=settings.jwks_cache_ttl_max,
        min_refresh_interval=settings.jwks_min_refresh_interval,
        max_stale=settings.jwks_max_stale,
        timeout=settings.jwks_timeout,
        max_bytes=settings.jwks_max_bytes,
        fetcher=fetcher,
        clock=clock,
        event_hook=settings.key_event_hook,
    )


class Candidate(NamedTuple):
    """A token as the guard reads it before any I/O and before its claims: the seam `jwtguard verify` uses to
    walk the guard's own checks one by one (`Guard.prepare`)."""

    token: str
    parsed: ParsedToken
    key_set: KeySet
    policy: ClaimPolicy


class IssuerView(NamedTuple):
    """One trusted issuer as the guard uses it: its `alg` allow-list, key set and compiled claim policy."""

    algorithms: frozenset[str]
    key_set: KeySet
    policy: ClaimPolicy


@dataclass(frozen=True, slots=True)
class _Route:
    """One trusted issuer as the guard uses it."""

    names: frozenset[str]
    algorithms: frozenset[str]
    key_set: KeySet
    policy: ClaimPolicy
    dpop: str = "off"  # the issuer's DPoP mode: "off", "allowed" or "required"

    @property
    def label(self) -> str:
        """How logs, errors and `health()` name this issuer: its first `iss`, or its key source, redacted."""
        return redact_url(min(self.names)) if self.names else self.key_set.source


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
        observers: Sequence[DecisionObserver] = (),
        dpop_replay_store: ReplayStore | None = None,
        dpop_nonces: NonceIssuer | None = None,
    ) -> None:
        """`fetcher` and `key_clock` are handed to every issuer's `KeySet` (tests inject them);
        `key_set` replaces the key set of a single-issuer configuration; `clock` is the wall clock
        for `exp`/`nbf`/`iat` and DPoP proofs' `iat`; `observers` are told of every decision, after the log
        record. With DPoP on, `dpop_replay_store` remembers used proofs (default: a `MemoryReplayStore` of this
        process) and `dpop_nonces` issues nonces when `dpop_nonce` is set (default: a `NonceIssuer` with a
        secret of this process; give several workers one)."""
        self.settings = settings
        self._clock = clock
        trusted = settings.trusted_issuers
        if key_set is not None and len(trusted) != 1:
            raise ConfigurationError("key_set= replaces the key set of a single issuer; use fetcher= instead")
        # Everything derivable from settings is derived once, here. Issuers with one key source share its key
        # set (the v1 and v2 issuers of one Entra tenant, say): one cache, one refresh.
        key_sets: dict[tuple[str | None, str | None, str | None], KeySet] = {}
        for entry in trusted:
            source = _key_source(entry)
            if source not in key_sets:
                key_sets[source] = key_set or key_set_for(settings, entry, fetcher=fetcher, clock=key_clock)
        self._routes = tuple(
            _Route(
                names=frozenset(entry.names),
                algorithms=frozenset(entry.algorithms or ()),
                key_set=key_sets[_key_source(entry)],
                policy=ClaimPolicy(
                    issuers=entry.names,
                    audiences=_audiences(entry, settings),
                    leeway=settings.leeway,
                    token_types=entry.token_types or (),
                    max_lifetime=entry.max_token_lifetime,
                    required_claims=entry.required_claims or (),
                    claim_values=entry.required_claim_values,
                    audience_claim=entry.audience_claim or "aud",
                    role_claims=entry.role_claims or (),
                    permission_claims=entry.permission_claims or (),
                    tenants=None if entry.tenants == "any" else entry.tenants,
                    tenant_claim=entry.tenant_claim,
                ),
                dpop=entry.dpop or "off",
            )
            for entry in trusted
        )
        self._by_issuer = (
            {name: route for route in self._routes for name in route.names} if settings.multi_issuer else None
        )
        for route in self._routes:
            if route.policy.templates and route.policy.tenants is None:
                logger.warning("jwtguard: issuer %s accepts tokens of any tenant (tenants='any')", route.label)
        # Issuer templates, as (prefix, suffix, route): `iss` routes to the first whose prefix and suffix it has.
        self._templates = tuple(
            (prefix, suffix, route) for route in self._routes for prefix, suffix in route.policy.templates
        )
        self._revocation_hook = settings.revocation_hook
        self._sources: tuple[TokenSource, ...] = settings.sources
        # The default source, `AUTHORIZATION_HEADER`, reads `request.authorization`: read it without a call.
        self._header_only = self._sources == (AUTHORIZATION_HEADER,)
        # A token in the query is refused, except where a query source reads it (WebSocket, event streams).
        self._query_source = next((source for source in self._sources if isinstance(source, QuerySource)), None)
        self._query_names = tuple(
            dict.fromkeys(("access_token", *(() if self._query_source is None else (self._query_source.parameter,))))
        )
        self._allow_anonymous = settings.allow_anonymous
        self._observers: tuple[DecisionObserver, ...] = (LOG_RECORDS, *observers)
        self._observers_all = bool(observers)  # observers that hear of every acceptance, whatever the log level
        # DPoP (RFC 9449), when some issuer accepts it: the proof verifier, and the bearer parser told of the scheme.
        self._dpop: ProofVerifier | None = None
        if any(route.dpop != "off" for route in self._routes):
            self._dpop = ProofVerifier(
                algorithms=settings.dpop_algorithms,
                max_age=settings.dpop_max_age,
                leeway=settings.leeway,
                public_base_url=settings.public_base_url,
                replay_store=MemoryReplayStore(clock=clock) if dpop_replay_store is None else dpop_replay_store,
                nonces=(
                    NonceIssuer(lifetime=settings.dpop_max_age, clock=clock) if dpop_nonces is None else dpop_nonces
                )
                if settings.dpop_nonce
                else None,
                clock=clock,
            )
        self._debug = False  # the log level allows DEBUG, as `accept_cached` last asked (see there)
        self._debug_until = -math.inf
        self._renderer = Renderer(
            realm=settings.realm,
            problem_type_base=settings.problem_type_base,
            error_body_hook=settings.error_body_hook,
            cors_allow_origins=settings.cors_allow_origins,
            resource_metadata=None if settings.resource is None else metadata_url(settings.resource),
            dpop_algorithms=settings.dpop_algorithms if self._dpop is not None else (),
            bearer=any(route.dpop != "required" for route in self._routes),
        )
        self._metadata = ResourceMetadata.for_settings(settings) if settings.resource is not None else None
        self._cors_preflight = settings.cors_preflight
        self._required_scopes = tuple(settings.required_scopes)
        # What every token must grant beyond the claim checks: today the scopes of `required_scopes`.
        self._requirements: tuple[Requirement, ...] = (
            (ScopeRequirement(self._required_scopes, where="required_scopes"),) if self._required_scopes else ()
        )
        self._certificates = ClientCertificates(settings.client_cert_header, settings.trusted_proxies)
        self._max_token_bytes = settings.max_token_bytes
        # Verified tokens by their exact text: a repeated token skips parsing and the signature, but not
        # the time checks, revocation or scopes, and only while the key that verified it is still trusted.
        self._token_cache: TokenCache[_Verified] | None = (
            TokenCache(settings.token_cache_size, settings.token_cache_max_bytes) if settings.token_cache_size else None
        )
        # Per-route rules, `exclude_paths` first as public ones; without rules, exclusions are checked alone.
        rules = settings.route_rules
        self._rules = RuleSet([*(Rule(path, "public") for path in settings.exclude_paths), *rules]) if rules else None
        exact, prefixes = set(), []
        for path in () if rules else settings.exclude_paths:
            if path.endswith("/*"):
                exact.add(path[:-2] or "/")
                prefixes.append(path[:-1])
            else:
                exact.add(path)
        self._excluded_exact = frozenset(exact)
        self._excluded_prefixes = tuple(prefixes)
        # The adapters' hot path (`accept_cached`) serves cache hits of requests no other policy applies to.
        fast = (
            not exact
            and not rules
            and self._header_only  # other sources: a second credential or a cookie's CSRF check to look at
            and self._revocation_hook is None
            and self._token_cache is not None
        )
        self._fast_entries = self._token_cache.entries if fast and self._token_cache is not None else None

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

    @property
    def cache_stats(self) -> CacheStats:
        """How much the verified-token cache holds now (zeros when it is off)."""
        cache = self._token_cache
        headers = header_cache_size()
        return CacheStats(0, 0, headers) if cache is None else CacheStats(len(cache), cache.size, headers)

    @property
    def clock(self) -> Callable[[], float]:
        """The wall clock `exp`, `nbf` and `iat` are checked against."""
        return self._clock

    # -- protected resource metadata (RFC 9728) ----------------------------------------------------

    @property
    def resource_metadata_path(self) -> str | None:
        """The full request path (mount prefix included, percent-decoded) at which the middleware serves the
        protected resource metadata, or None when `resource` is unset."""
        return None if self._metadata is None else self._metadata.path

    @property
    def resource_metadata_url(self) -> str | None:
        """The absolute URL of the protected resource metadata, as the challenges name it; None without `resource`."""
        return None if self._metadata is None else self._metadata.url

    def resource_metadata(self) -> dict[str, Any]:
        """The protected resource metadata document (a fresh copy); `ConfigurationError` when `resource` is unset."""
        if self._metadata is None:
            raise ConfigurationError("resource is not set: there is no protected resource metadata")
        return json.loads(self._metadata.body)  # type: ignore[no-any-return]

    def answer_resource_metadata(self, method: str) -> RenderedError:
        """The response to a `method` request for the metadata path: the document (GET, HEAD), a CORS preflight
        answer (OPTIONS), or 405 with `Allow`. Only for requests at `resource_metadata_path`."""
        if self._metadata is None:
            raise ConfigurationError("resource is not set: there is no protected resource metadata")
        return self._metadata.answer(method)

    @property
    def required_scopes(self) -> tuple[str, ...]:
        """The scopes every request needs (`Settings.required_scopes`)."""
        return self._required_scopes

    def prepare(self, authorization: str | Sequence[str] | None) -> Candidate:
        """The token in `authorization`, parsed and routed to its issuer with its `alg` allowed; no I/O, and
        nothing read from the claims. Raises the `AuthError` that `authenticate` would raise at that point."""
        token, parsed, route, _, _ = self._begin(authorization, None)
        return Candidate(token, parsed, route.key_set, route.policy)

    def issuer_for(self, parsed: ParsedToken) -> IssuerView:
        """The trusted issuer a parsed token is routed to, as `prepare` routes it (its `alg` unchecked); raises
        the `AuthError` of a token no issuer takes. For `jwtguard verify`, which goes on past a refused `alg`."""
        route = self._routes[0] if self._by_issuer is None else self._route(parsed)
        return IssuerView(route.algorithms, route.key_set, route.policy)

    # -- token validation ---------------------------------------------------------------------------

    def authenticate(self, authorization: str | Sequence[str] | None) -> Principal:
        """Validate the bearer token in `authorization`; may block this thread on a JWKS fetch.

        With DPoP on, a token bound to a key (or any, where DPoP is required) is refused: the proof is in
        another header, which `check_request` reads. A certificate-bound token is refused likewise
        (`certificate_binding_mismatch`): there is no certificate to check it against without the request."""
        verified = self._authenticate_sync(authorization)[0]
        if self._dpop is not None or verified.binding is not None:
            self._check_holder(None, authorization, verified)
        return verified.principal

    async def aauthenticate(self, authorization: str | Sequence[str] | None) -> Principal:
        """Validate the bearer token in `authorization`; never blocks the event loop. DPoP and certificate-bound
        tokens as `authenticate`."""
        verified = (await self._authenticate_async(authorization))[0]
        if self._dpop is not None or verified.binding is not None:
            self._check_holder(None, authorization, verified)
        return verified.principal

    # The pipeline: `_begin_token` (no I/O) → the key lookup (the only I/O, the faces' own) → `_complete`
    # (no I/O) → revocation (sync, or awaited) → `_settle` (scopes, then the cache). The two faces below
    # differ only in how they wait.

    def _authenticate_sync(self, authorization: str | Sequence[str] | None) -> tuple[_Verified, bool]:
        step = self._begin_token(authorization)
        while isinstance(step, _Pending):  # a key to fetch: wait for it on this thread
            try:
                key = step.route.key_set.get_key(step.kid, step.alg)
            except AuthError as exc:
                raise self._key_failed(step, exc) from None
            step = self._complete(step, key, authorization)
        if self._revocation_hook is not None:
            principal = _principal(step)
            self._check_revoked(self._revocation_sync(principal), principal.token_context)
        return self._settle(step)

    async def _authenticate_async(self, authorization: str | Sequence[str] | None) -> tuple[_Verified, bool]:
        return await self._continue_async(self._begin_token(authorization), authorization)

    async def _continue_async(
        self, step: _Verified | _Fresh | _Pending, authorization: str | Sequence[str] | None
    ) -> tuple[_Verified, bool]:
        while isinstance(step, _Pending):  # a key to fetch: wait for it without blocking the loop
            try:
                key = await step.route.key_set.aget_key(step.kid, step.alg)
            except AuthError as exc:
                raise self._key_failed(step, exc) from None
            step = self._complete(step, key, authorization)
        if self._revocation_hook is not None:
            principal = _principal(step)
            self._check_revoked(await self._revocation_async(principal), principal.token_context)
        return self._settle(step)

    def _begin_token(self, authorization: str | Sequence[str] | None) -> _Verified | _Fresh | _Pending:
        """Everything that needs no I/O: a cached token whose key is still the trusted one (final but for
        revocation), a token verified with a key the key set had, or what to look up.

        The cache is probed with the token of a header spelled the common way ("Bearer <token>", once),
        unchecked: only verified tokens are in the cache, so a hit is one, and a miss goes through `_begin`,
        which checks it.
        """
        if (type(authorization) is tuple or type(authorization) is list) and len(authorization) == 1:
            authorization = authorization[0]
        candidate = authorization[7:] if type(authorization) is str and authorization[:7] in COMMON_PREFIXES else None
        if candidate is None and self._dpop is not None and type(authorization) is str:
            candidate = authorization[5:] if authorization[:5] in DPOP_PREFIXES else None  # its proof comes after
        cache = self._token_cache
        entry = cache.get(candidate) if cache is not None and candidate is not None else None
        if entry is not None and candidate is not None:
            trusted = self._key_still_trusted(candidate, entry)
            if trusted is None:  # a refresh is due: look the key up, then compare
                return tuple.__new__(_Pending, (candidate, None, entry.route, entry.kid, entry.alg, entry))
            if trusted:
                if not entry.valid_from <= self._clock() < entry.valid_until:
                    self._recheck(candidate, entry)  # raises the time check's own error
                return entry
            self._cache_drop(candidate)  # its key changed: verify it afresh
        token, parsed, route, kid, alg = self._begin(authorization, candidate)
        # Named tuples built by `tuple.__new__` here and below: their Python-level constructor is a call
        # that every new token would pay for.
        step = tuple.__new__(_Pending, (token, parsed, route, kid, alg, None))
        try:
            key = route.key_set.cached_key(kid, alg)  # usually there: then no I/O at all
        except AuthError as exc:
            raise self._key_failed(step, exc) from None
        return step if key is None else self._complete(step, key, authorization)

    def _complete(
        self, step: _Pending, key: VerificationKey, authorization: str | Sequence[str] | None
    ) -> _Verified | _Fresh | _Pending:
        """After the key lookup, no I/O: a cached token whose key is unchanged, or the signature and claims."""
        # Named tuples are unpacked once here and below: each field lookup on one is a descriptor call.
        token, parsed, route, kid, alg, entry = step
        if entry is not None:
            if self._still_valid(token, entry, key):
                return entry
            return tuple.__new__(_Pending, (*self._begin(authorization, None), None))  # its key changed: afresh
        if parsed is None:  # pragma: no cover  # a pending step has a parsed token or a cache entry
            raise TokenMissing("no token")
        header, _, signing_input, signature, _, _ = parsed
        if not verify_signature(alg, key.public_key, signing_input, signature):
            raise SignatureInvalid(
                "signature does not verify with the key named by kid",
                context=_context(parsed, token),
            )
        try:
            claims = parse_claims(parsed)  # only now: the signature verified
        except AuthError as exc:
            exc.context = _context(parsed, token)
            raise
        try:
            scopes, exp, nbf, iat, roles, permissions = route.policy.check(header, claims, self._clock())
            binding = None
            if "cnf" in claims:
                binding = bound_thumbprint(claims)
                if self._dpop is None and _bound_key(claims) is not None:
                    # RFC 9449 §7.2: a token bound to a key is never a bearer token, DPoP on or off here.
                    raise DPoPRequired("a token bound to a DPoP key (cnf.jkt), and dpop is 'off' for every issuer")
        except AuthError as exc:
            exc.context = _context(parsed, token, claims)
            raise
        leeway = route.policy.leeway
        start = iat if nbf is None or (iat is not None and iat >= nbf) else nbf  # the later of the two, if any
        snapshot = route.key_set.snapshot
        if snapshot is not None and key not in (
            snapshot.by_kid.get(kid, ()) if kid is not None else snapshot.find(kid)
        ):
            snapshot = None  # replaced meanwhile: check it on hits
        verified = tuple.__new__(
            _Verified,
            (
                Principal._verified(claims, scopes, kid, alg, token, roles, permissions, self._clock),
                route,
                key,
                kid,
                alg,
                exp,
                nbf,
                iat,
                -math.inf if start is None else start - leeway,
                exp + leeway,
                snapshot,
                snapshot.refresh_at if snapshot is not None else -math.inf,
                binding,
            ),
        )
        return tuple.__new__(_Fresh, (token, verified))

    def _key_failed(self, step: _Pending, error: AuthError) -> AuthError:
        if step.cached is not None:
            self._cache_drop(step.token)
            error.context = step.cached.principal.token_context
        elif step.parsed is not None:
            error.context = _context(step.parsed, step.token)
        return error

    def _settle(self, step: _Verified | _Fresh) -> tuple[_Verified, bool]:
        """Scopes for a token verified just now (a cached one passed them), then the cache; and whether the
        token came from the cache."""
        if isinstance(step, _Verified):
            return step, True
        token, verified = step
        for requirement in self._requirements:
            requirement.check(verified.principal)
        if self._token_cache is not None:
            self._token_cache.put(token, verified, fast=self._fast_slot(verified))
        return verified, False

    def _revocation_sync(self, principal: Principal) -> object:
        result = self._call_revocation_hook(principal)
        if inspect.isawaitable(result):
            # Nothing can await it here (WSGI, Django, `authenticate`): a server fault, never a 500.
            _close(result)
            logger.error(
                "jwtguard: revocation_hook returned an awaitable, which cannot be awaited without an event "
                "loop (WSGI, Django, Guard.authenticate); refusing the token. Make the hook a plain function "
                "or use the ASGI middleware."
            )
            raise RevocationUnavailable(
                "revocation_hook returned an awaitable where none can be awaited", context=principal.token_context
            )
        return result

    async def _revocation_async(self, principal: Principal) -> object:
        result = self._call_revocation_hook(principal)
        if inspect.isawaitable(result):
            try:
                return await result
            except Exception:  # a broken store must not let tokens through, nor answer 500
                raise _revocation_failed(principal) from None
        return result

    # -- the verified-token cache -----------------------------------------------------------------

    def _cache_drop(self, token: str) -> None:
        if self._token_cache is not None:
            self._token_cache.drop(token)

    def _key_still_trusted(self, token: str, entry: _Verified) -> bool | None:
        """Whether the key that verified a cached token is still the trusted key for its kid, without I/O.

        True while the key set's snapshot is the one that held the key and needs no refresh, or when a
        refreshed snapshot still holds the same key object (then the entry remembers the new snapshot).
        False when the kid now names another key; None when a refresh is due (ask `get_key`/`aget_key`).
        """
        key_set = entry.route.key_set
        if key_set.snapshot is entry.snapshot and key_set.clock() < entry.snapshot_fresh_until:
            return True
        try:
            key = key_set.cached_key(entry.kid, entry.alg)
        except AuthError:
            return None  # the kid's key changed type: the lookup says how
        if key is None:
            return None
        if key is not entry.key:
            return False
        snapshot = key_set.snapshot
        if snapshot is not None and self._token_cache is not None:
            self._token_cache.put(
                token,
                entry._replace(snapshot=snapshot, snapshot_fresh_until=snapshot.refresh_at),
                fast=self._fast_slot(entry),
            )
        return True

    def _still_valid(self, token: str, entry: _Verified, key: VerificationKey) -> bool:
        """True if the key that verified `entry` is still the key for its kid; raises when it expired."""
        if key is not entry.key:
            self._cache_drop(token)
            return False
        self._recheck(token, entry)
        return True

    def _recheck(self, token: str, hit: _Verified) -> None:
        """The time checks, on every hit: a cached token is refused the moment it expires."""
        try:
            hit.route.policy.check_time_window(hit.exp, hit.nbf, hit.iat, self._clock())
        except AuthError as error:
            self._cache_drop(token)
            error.context = hit.principal.token_context
            raise

    def _call_revocation_hook(self, principal: Principal) -> object:
        hook = self._revocation_hook
        if hook is None:  # the callers check first
            return False
        try:
            return hook(principal)
        except Exception:  # a broken store must not let tokens through, nor answer 500
            raise _revocation_failed(principal) from None

    @staticmethod
    def _check_revoked(result: object, context: TokenContext) -> None:
        if result is not False:  # only an explicit False lets a token through
            raise TokenRevoked("revocation_hook reports the token or its subject revoked", context=context)

    def _begin(
        self, authorization: str | Sequence[str] | None, candidate: str | None
    ) -> tuple[str, ParsedToken, _Route, str | None, str]:
        """The token, parsed, its issuer, kid and alg, with the alg allow-list checked (no I/O).

        A header spelled the common way is parsed straight away: the strict parse checks a stricter alphabet
        than RFC 6750's b64token, so the header's own syntax is checked only when the parse fails, to tell a
        malformed header (`invalid_request`) from a malformed token (`token_malformed`).
        """
        if candidate is not None and len(candidate) <= self._max_token_bytes:
            try:
                token, parsed = candidate, parse_token(candidate)
            except AuthError as exc:
                token = extract_bearer_token(
                    authorization, max_bytes=self._max_token_bytes, dpop=self._dpop is not None
                )
                if token == candidate:  # the header is fine: the token is not
                    exc.context = TokenContext(token=token)
                    raise
                parsed = _parse(token)  # "Bearer" followed by more than one space
        else:
            token = extract_bearer_token(authorization, max_bytes=self._max_token_bytes, dpop=self._dpop is not None)
            parsed = _parse(token)
        try:
            route = self._routes[0] if self._by_issuer is None else self._route(parsed)
            alg = parsed.alg
            if alg not in route.algorithms:
                raise AlgorithmNotAllowed(
                    "alg is not in the algorithms allow-list",
                    details={"alg": alg, "allowed": sorted(route.algorithms)},
                )
        except AuthError as exc:
            exc.context = _context(parsed, token)
            raise
        return token, parsed, route, parsed.kid, alg

    def _route(self, parsed: ParsedToken) -> _Route:
        if self._by_issuer is None:  # pragma: no cover  # `_begin` takes the single route itself
            return self._routes[0]
        # With several issuers, the issuer whose fresh key set alone holds the token's kid is the one whose
        # key must verify it: no need to read the payload. Only the signature of that issuer's key, and then
        # the parsed `iss` checked against that issuer, let the token through.
        if parsed.kid is not None:
            owners = [route for route in self._routes if route.key_set.peek(parsed.kid)]
            if len(owners) == 1:
                return owners[0]
        # Otherwise the unverified `iss` chooses whose keys to try (and refresh, for a new kid): it names a
        # configured issuer or the token is refused, and nothing is ever fetched from a URL the token names.
        # It is read without parsing the payload: a forged token must not cost a JSON parse.
        candidates = issuer_candidates(parsed)
        if candidates is None:
            raise IssuerInvalid("more 'iss' members than any issuer writes")
        for value in candidates:
            route = self._by_issuer.get(value) if isinstance(value, str) else None
            if route is None and self._templates and isinstance(value, str):
                route = next((r for prefix, suffix, r in self._templates if tenant_in(value, prefix, suffix)), None)
            if route is not None:
                return route  # the first that names a configured issuer; a nested one cannot win later
        if not candidates:
            raise IssuerInvalid("iss is absent")
        if not any(isinstance(value, str) for value in candidates):
            raise ClaimInvalid("'iss' is not a string", claim="iss")
        raise IssuerInvalid("iss is not a configured issuer")

    # -- request policy, used by the adapters ------------------------------------------------------

    def is_excluded(self, path: str) -> bool:
        """True when `path` is listed in `exclude_paths` (exactly, or under a '/*' prefix).

        `path` is the route path: what the application routes on, below its mount point (ASGI `path`
        minus `root_path`, WSGI `PATH_INFO`). A path with dot segments or empty segments is never
        excluded, so '/public/../admin' cannot borrow the exclusion of '/public/*'.
        """
        if path in self._excluded_exact:
            return True
        if not self._excluded_prefixes or has_unsafe_segment(path):
            return False
        return path.startswith(self._excluded_prefixes)

    def rule_for(self, method: str, path: str) -> Rule | None:
        """The per-route rule that decides a request for `method` and the route path `path` (`exclude_paths`
        are public rules placed first), or None when no rule matches or no `rules` are configured.

        With rules configured, a path with an empty or dot segment raises `UnsafePath` (400 `invalid_request`),
        as `check_request` does before any token is read.
        """
        return None if self._rules is None else self._rules.match(method, path)

    def passes_without_token(self, request: RequestInfo) -> bool:
        """True when the request policy lets `request` through before any token is read, as `check_request` does:
        a CORS preflight without credentials (with `cors_preflight`), a public rule, an excluded path.

        Raises `UnsafePath` (rules configured) or `TokenInQuery` where `check_request` would refuse the request
        before reading a token. For tools that decide requests the guard's way (jwtguard's pytest plugin);
        `check_request` itself stays one linear pass.
        """
        if self._cors_preflight and request.preflight and not request.authorization:
            return True
        if self._rules is not None:
            rule = self._rules.match(request.method, _route_path(request))
            if rule is not None and rule.public:
                return True
        return bool((self._excluded_exact or request.query_string) and self._passes_unchecked(request))

    def accept_cached(
        self,
        authorization: str | bytes,
        query_string: str | bytes | None,
        describe: Callable[[_Source], RequestInfo],
        source: _Source,
    ) -> Principal | None:
        """The principal of a request whose token the cache verified, decided without I/O or awaiting; None
        means "ask `check_request` / `acheck_request`", which decide everything else.

        For the adapters' hot path: `authorization` is the single `Authorization` header (its bytes, from an
        ASGI scope, need no decoding); `describe(source)`
        builds the request record, and only if an observer wants it (the log at DEBUG, or `observers`).
        """
        entries = self._fast_entries
        if entries is None:
            return None
        if query_string:  # rare on API calls; "access_token" in it is refused by check_request
            query = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
            if query_has_access_token(query):
                return None
        key = authorization[-KEY_CHARS:]  # the cache's key, see `TokenCache`
        slot = entries.get(key.decode("latin-1") if isinstance(key, bytes) else key)
        # A hit only when the header is exactly "Bearer " and this token: one comparison, no decoding (under
        # callgrind, each call to `len`, `endswith` or a slice costs about as much as this whole comparison).
        # Other spellings of the scheme are decided, and found in the cache, by check_request.
        if slot is None or (authorization != slot.header and authorization != slot.header_bytes):
            return None
        token = slot.token
        slot.referenced = True
        entry = slot.value
        # One unpacking instead of a field lookup per value: on a named tuple each lookup is a descriptor call.
        principal, route, _, _, _, _, _, _, valid_from, valid_until, snapshot, fresh_until, _ = entry
        now = self._clock()
        if not valid_from <= now < valid_until:
            return None
        key_set = route.key_set
        # The common case inline (this is every repeated request); `_key_still_trusted` decides the rest.
        if (key_set.snapshot is not snapshot or key_set.clock() >= fresh_until) and not self._key_still_trusted(
            token, entry
        ):
            return None
        # Whether the log wants acceptances (DEBUG), asked of `logging` at most once a second of this clock (or
        # when it steps back): the call costs more than the rest of a hit. A level change shows within a second.
        if not self._debug_until - 1.0 <= now < self._debug_until:
            self._debug_until = now + 1.0
            self._debug = logger.isEnabledFor(_DEBUG)
        if self._observers_all or self._debug:  # else the record would go unused
            self._accept(entry, describe(source), cached=True)
        return principal

    def check_request(
        self, request: RequestInfo, authorization: str | Sequence[str] | _FromSources | None = _FROM_SOURCES
    ) -> Principal | None:
        """Apply the request policy: a `Principal`, or None when the request may pass without one.

        The credentials come from the guard's token sources reading `request` (today its `Authorization`
        headers), unless `authorization` gives them.

        Raises `AuthError` (already logged) when the request must be refused: `TokenInQuery` for a token
        in the URL, even next to a valid header or with `allow_anonymous` (excluded paths are not checked).
        With `cors_preflight`, a CORS preflight without credentials passes before anything else is looked at.
        """
        if self._cors_preflight and request.preflight and not request.authorization:
            return None
        rule = None
        try:
            if self._rules is not None:
                rule = self._rules.match(request.method, _route_path(request))
                if rule is not None and rule.public:
                    return None
            if (self._excluded_exact or request.query_string) and self._passes_unchecked(request):
                return None
            if not isinstance(authorization, _FromSources):
                credentials = authorization
            elif self._header_only:
                credentials = request.authorization
            else:
                request, credentials = self._from_sources(request)
            verified, cached = self._authenticate_sync(credentials)
            if self._dpop is not None or verified.binding is not None:
                self._check_holder(request, credentials, verified)
            if rule is not None and rule.requirement is not None:
                require(verified.principal, rule.requirement)
        except AuthError as exc:
            if self._dpop is not None and uses_dpop_scheme(request.authorization):
                exc.scheme = "DPoP"  # the challenge of the scheme the client used carries the error
            self._refuse(exc, request, rule)
            return None
        return self._accept(verified, request, cached=cached)

    async def acheck_request(
        self, request: RequestInfo, authorization: str | Sequence[str] | _FromSources | None = _FROM_SOURCES
    ) -> Principal | None:
        """Like `check_request`, for the event loop; a cached token is decided without awaiting anything."""
        if self._cors_preflight and request.preflight and not request.authorization:
            return None
        rule = None
        try:
            if self._rules is not None:
                rule = self._rules.match(request.method, _route_path(request))
                if rule is not None and rule.public:
                    return None
            if (self._excluded_exact or request.query_string) and self._passes_unchecked(request):
                return None
            if not isinstance(authorization, _FromSources):
                credentials = authorization
            elif self._header_only:
                credentials = request.authorization
            else:
                request, credentials = self._from_sources(request)
            step = self._begin_token(credentials)
            if isinstance(step, _Pending) or self._revocation_hook is not None:
                verified, cached = await self._continue_async(step, credentials)
            else:
                verified, cached = self._settle(step)
            if self._dpop is not None or verified.binding is not None:
                self._check_holder(request, credentials, verified)
            if rule is not None and rule.requirement is not None:
                require(verified.principal, rule.requirement)
        except AuthError as exc:
            if self._dpop is not None and uses_dpop_scheme(request.authorization):
                exc.scheme = "DPoP"
            self._refuse(exc, request, rule)
            return None
        return self._accept(verified, request, cached=cached)

    # -- DPoP (RFC 9449) ----------------------------------------------------------------------------

    def _check_holder(
        self, request: RequestInfo | None, credentials: str | Sequence[str] | None, verified: _Verified
    ) -> None:
        """Proof that the sender holds what the token is bound to: a DPoP proof (RFC 9449) and a client certificate
        (RFC 8705), cached token or not. Without the request (`authenticate`) a certificate-bound token is refused:
        there is no certificate to check it against."""
        if self._dpop is not None:
            self._check_dpop(request, credentials, verified)
        if verified.binding is None:
            return
        if request is None:
            raise CertificateBindingMismatch(
                "certificate-bound token checked without its request (Guard.authenticate)",
                context=verified.principal.token_context,
            )
        self._certificates.check(verified.binding, request, verified.principal.token_context)

    def _check_dpop(
        self, request: RequestInfo | None, credentials: str | Sequence[str] | None, verified: _Verified
    ) -> None:
        """The DPoP rules for a token that passed every other check, cached or not: a proof is never cached.

        Bearer scheme: refused for a token bound to a key (`cnf.jkt`, RFC 9449 §7.2) and where the issuer's `dpop`
        is "required". DPoP scheme: the token's issuer must accept it, a "required" issuer's token must be bound,
        and the one proof must pass every check of §4.3 for this request, this token and its `cnf.jkt`.
        """
        verifier = self._dpop
        if verifier is None:  # pragma: no cover  # the callers check first
            return
        route = verified.route
        try:
            jkt = _bound_key(verified.principal.claims)
            if not uses_dpop_scheme(credentials):
                if jkt is not None:
                    raise DPoPRequired("a token bound to a DPoP key (cnf.jkt) sent as a bearer token")
                if route.dpop == "required":
                    raise DPoPRequired("the token's issuer requires DPoP (dpop='required'); the Bearer scheme was used")
                return
            if route.dpop == "off":
                raise TokenMissing("DPoP scheme for a token whose issuer has dpop='off'")
            if jkt is None and route.dpop == "required":
                raise DPoPRequired("the token's issuer requires DPoP (dpop='required'); the token has no cnf.jkt")
            if request is None:
                raise DPoPProofInvalid("no DPoP header to read: Guard.authenticate sees only Authorization")
            if request.token_source not in (None, AUTHORIZATION_HEADER.name):
                raise DPoPProofInvalid("the DPoP scheme is read from the Authorization header only")
            token = extract_bearer_token(credentials, max_bytes=self._max_token_bytes, dpop=True)
            verifier.verify(
                header_values(request, "dpop"),
                request.method,
                request_url(request, verifier.public_base_url),
                token,
                jkt,
            )
        except AuthError as exc:
            exc.context = verified.principal.token_context
            raise

    def _fast_slot(self, verified: _Verified) -> bool:
        """Whether the adapters' hot path may serve this token from the cache: not a certificate-bound one (its
        request's certificate is checked on every hit), nor, with DPoP on, one `_bearer_may_pass` keeps out."""
        return verified.binding is None and (self._dpop is None or self._bearer_may_pass(verified))

    @staticmethod
    def _bearer_may_pass(verified: _Verified) -> bool:
        """Whether the adapters' hot path may accept this token as "Bearer <token>" from the cache: never a token
        bound to a DPoP key, nor one whose issuer requires DPoP (check_request refuses them, and checks proofs)."""
        if verified.route.dpop == "required":
            return False
        cnf = verified.principal.claims.get("cnf")
        return not (isinstance(cnf, Mapping) and "jkt" in cnf)

    @property
    def token_sources(self) -> tuple[TokenSource, ...]:
        """The places requests may carry their token, as configured (`token_sources`)."""
        return self._sources

    def _from_sources(self, request: RequestInfo) -> tuple[RequestInfo, str | Sequence[str] | None]:
        """The one credential the token sources find in `request`, and the request naming its source.

        Every source is asked: credentials from two (or twice from one) are `InvalidRequest` (RFC 6750 §3.1:
        more than one method). A source's own refusal names that source.
        """
        found: str | Sequence[str] | None = None
        name = None
        for source in self._sources:
            try:
                credentials = source.credentials(request)
            except AuthError as exc:
                exc.token_source = source.name
                raise
            if credentials:
                if name is not None:
                    error = InvalidRequest(
                        f"credentials in both {name} and {source.name}", details={"sources": [name, source.name]}
                    )
                    error.token_source = name
                    raise error
                found, name = credentials, source.name
        return (request if name is None else request._replace(token_source=name)), found

    def _passes_unchecked(self, request: RequestInfo) -> bool:
        """True on an excluded path; raises `TokenInQuery` for a token in the URL."""
        if self._excluded_exact and self.is_excluded(_route_path(request)):
            return True
        if request.query_string and self._token_in_query(request):
            raise TokenInQuery(_REASON_IN_QUERY)
        return False

    def _token_in_query(self, request: RequestInfo) -> bool:
        """A token parameter in the query where no query source reads it (RFC 6750 §5.3)."""
        query = request.query_string
        if self._query_source is None:
            return query_has_access_token(query)
        readable = self._query_source.applies(request)
        return any(
            query_values(query, name) and not (readable and name == self._query_source.parameter)
            for name in self._query_names
        )

    # -- the exits: every decision leaves through one of these ------------------------------------

    def _accept(self, verified: _Verified, request: RequestInfo, *, cached: bool) -> Principal:
        principal = verified.principal
        if self._observers_all or logger.isEnabledFor(_DEBUG):  # the log records acceptances at DEBUG
            for observer in self._observers:
                observer.accepted(principal, principal.token_context, request, cached=cached)
        return principal

    def _refuse(self, error: AuthError, request: RequestInfo, rule: Rule | None = None) -> None:
        """Returns when the request may pass anonymously (no credentials, and its rule says `anonymous`, or no
        rule applies and `allow_anonymous` is set); else raises."""
        anonymous = self._allow_anonymous if rule is None else rule.anonymous
        if anonymous and isinstance(error, TokenMissing):
            return
        for observer in self._observers:
            observer.refused(error, request)
        raise error

    # -- lifecycle and health ---------------------------------------------------------------------

    def startup(self) -> None:
        """Warm the key sets per `jwks_prefetch` (WSGI adapters call this at construction).

        "off": nothing. "degraded": fetch now, log and carry on if an issuer fails. "strict": raise
        `JWKSUnavailable` if any issuer has no usable keys, or `ConfigurationError` when the reason is a
        misconfigured key source (a discovery document for another issuer, a key URL answering HTML,
        401/403 or a redirect), with both values and what to change.
        """
        if self.settings.jwks_prefetch != "off":
            self._after_prefetch([route.key_set.prefetch() for route in self._routes])

    async def astartup(self) -> None:
        """Like `startup`, for the ASGI lifespan; issuers are fetched concurrently."""
        if self.settings.jwks_prefetch != "off":
            results = await asyncio.gather(*(route.key_set.aprefetch() for route in self._routes))
            self._after_prefetch(list(results))

    def _after_prefetch(self, results: list[bool]) -> None:
        failed = [route for route, ok in zip(self._routes, results, strict=True) if not ok]
        if not failed:
            return
        labels = ", ".join(route.label for route in failed)
        reasons = "; ".join(
            f"{route.label}: {route.key_set.last_error()}" for route in failed if route.key_set.last_error()
        )
        misconfigured = [route.key_set.configuration_error for route in failed if route.key_set.configuration_error]
        if self.settings.jwks_prefetch == "strict":
            if misconfigured:  # no retry will fix it: say what to change
                raise ConfigurationError("; ".join(error for error in misconfigured if error))
            raise JWKSUnavailable(f"prefetch found no usable keys for {labels}" + (f" ({reasons})" if reasons else ""))
        log = logger.error if misconfigured else logger.warning
        log(
            "jwtguard: starting without usable keys for %s; requests will retry%s",
            labels,
            f" ({reasons})" if reasons else "",
            extra={"jwtguard_event": "jwks_prefetch_failed", "jwtguard_reason": reasons or None},
        )

    def health(self) -> dict[str, Any]:
        """A readiness report: "ok", "degraded" (stale keys, or some issuers failing) or "unavailable".

        Issuers are named with `redact_url` (a discovery issuer is a URL that may carry credentials):
        the report is meant for a readiness endpoint that anyone may call. Like `KeySet.health`, it may
        start background fetches and never waits for them.
        """
        issuers = {route.label: route.key_set.health() for route in self._routes}
        usable = [report["usable"] for report in issuers.values()]
        healthy = [report["usable"] and not report["failing"] and not report["stale"] for report in issuers.values()]
        status = "ok" if all(healthy) else "unavailable" if not any(usable) else "degraded"
        return {"status": status, "issuers": issuers}

    def close(self) -> None:
        """Release the key sets' HTTP clients."""
        for route in self._routes:
            route.key_set.close()

    def reject(self, error: AuthError, request: RequestInfo) -> RenderedError:
        """Log `error` for `request` and render it: for refusals after `check_request` (route-level checks)."""
        for observer in self._observers:
            observer.refused(error, request)
        return self.render(error, request)

    def render(self, error: AuthError, request: RequestInfo | None = None) -> RenderedError:
        """Status, headers and body for `error`, per these settings; with the refused `request`, the CORS
        headers `cors_allow_origins` gives its origin (never on a WebSocket handshake: CORS does not apply)."""
        origin = None if request is None or request.method == "WEBSOCKET" else request.origin
        return self._renderer.render(error, origin)


def _bound_key(claims: Mapping[str, Any]) -> str | None:
    """The thumbprint a token is bound to (`cnf.jkt`, RFC 9449 §6.1), or None; `ClaimInvalid` when not a string."""
    cnf = claims.get("cnf")
    if not isinstance(cnf, Mapping) or "jkt" not in cnf:
        return None
    jkt = cnf["jkt"]
    if not isinstance(jkt, str) or not jkt:
        raise ClaimInvalid("'cnf.jkt' is not a thumbprint string", claim="cnf")
    return jkt


def _revocation_failed(principal: Principal) -> TokenRevoked:
    """Log the revocation hook's exception (call it in the `except`) and the refusal to raise instead."""
    logger.exception("jwtguard: revocation_hook failed; refusing the token (fail closed)")
    return TokenRevoked("revocation check failed; refused (fail closed)", context=principal.token_context)


def _parse(token: str) -> ParsedToken:
    try:
        return parse_token(token)
    except AuthError as exc:
        exc.context = TokenContext(token=token)
        raise


def _key_source(entry: Issuer) -> tuple[str | None, str | None, str | None]:
    """What identifies an issuer's key source: its JWKS URL, its discovery issuer, or its static JWKS."""
    static = entry.static_jwks
    return (
        entry.jwks_uri,
        entry.names[0] if entry.discovery else None,
        None if static is None else json.dumps(static, sort_keys=True),
    )


def _audiences(entry: Issuer, settings: Settings) -> tuple[str, ...]:
    """The issuer's accepted audiences and the resource identifier (RFC 8707: a client asks for a token for this
    resource by naming it). No audiences with `insecure_allow_any_audience` means the check is off: it stays off."""
    audiences = tuple(entry.audience or ())
    resource = settings.resource
    if resource is None or resource in audiences or (not audiences and settings.insecure_allow_any_audience):
        return audiences
    return (*audiences, resource)


def _route_path(request: RequestInfo) -> str:
    # Never the full path: a client that can set the mount prefix (a forwarded prefix header, for one)
    # would choose which exclusion a protected route falls under.
    return request.path if request.route_path is None else request.route_path


def _close(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def _context(parsed: ParsedToken, token: str, claims: Mapping[str, Any] | None = None) -> TokenContext:
    """What the log may say about the token. Without verified `claims` it names only the header's kid and alg
    (the sender's words, and the log says so); the claims are never parsed before the signature verifies."""
    if claims is None:
        return TokenContext(kid=parsed.kid, alg=parsed.alg, token=token)
    iss, sub, jti = claims.get("iss"), claims.get("sub"), claims.get("jti")
    return TokenContext(
        None,
        parsed.kid,
        parsed.alg,
        iss if type(iss) is str else None,  # a claim check refuses other types; the log must not show them
        sub if type(sub) is str else None,
        jti if type(jti) is str else None,
        True,
        token=token,
    )
