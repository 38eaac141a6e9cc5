"""Trusted verification keys by `kid`: a cached JWKS with one refresh in flight, and a sync and an async face.

Design notes (the failure modes other validators are known for):
- The fetch runs in its own thread, never on the event loop; sync and async callers wait on the same
  `concurrent.futures.Future`, so threads and coroutines share one fetch, and a cancelled waiter does not
  cancel it.
- An unknown `kid` triggers a refresh at most once per `jwks_min_refresh_interval`; kids a refresh
  confirmed absent are remembered (bounded) for `jwks_cache_ttl_min`, so replaying them costs nothing.
  Routine fetches (first use, prefetch, expiry, refresh-ahead, readiness) do not spend that allowance,
  so a key rotated in just after one is picked up by the first token that names it.
- A fetch ends at `jwks_timeout`, its connection closed (the default fetcher enforces this on the
  socket), and a fetch's late result never replaces keys from a fetch that started after it.
- Steady traffic never waits: a refresh starts in the background before the keys expire.
- A failed fetch is not retried by every request, and does not cost the keys already known: they keep
  serving for `jwks_max_stale`; with no usable key, requests get `jwks_unavailable` at once, with
  `Retry-After`, until `jwks_min_refresh_interval` has passed.
- Nothing a token says is fetched: keys come only from the configured `jwks_uri`, the configured issuer's
  discovery document, or a static JWKS.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cachetools
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ._fetch import Fetcher, FetchResponse, HttpxFetcher, check_key_url, redact_url
from ._jose import SUPPORTED_ALGORITHMS
from ._logging import sanitize
from .errors import AlgorithmNotAllowed, ConfigurationError, FetchError, JWKSUnavailable, KeyNotFound
from .hooks import KeyEvent, KeyEventHook

__all__ = [
    "KEY_EVENTS",
    "FetchError",
    "FetchResponse",
    "Fetcher",
    "HttpxFetcher",
    "KeyEvent",
    "KeySet",
    "VerificationKey",
    "cache_ttl",
    "load_jwks",
]

logger = logging.getLogger("jwtguard")

Clock = Callable[[], float]

_MIN_RSA_BITS = 2048
# Verifying with an RSA key costs time in its size and exponent: a 16384-bit key with a 64-bit exponent
# costs milliseconds per (forged) token. No issuer publishes keys beyond these.
_MAX_RSA_BITS = 8192
_MAX_RSA_EXPONENT = 2**32
_MAX_KEYS = 100
_MAX_KID_LENGTH = 256  # longer kids are refused outright: no issuer uses them, and they bloat caches
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_PUBLIC_MEMBERS = ("kty", "kid", "alg", "use", "key_ops", "crv", "n", "e", "x", "y")
_CURVES = {"EC": frozenset({"P-256", "P-384", "P-521", "secp256k1"}), "OKP": frozenset({"Ed25519", "Ed448"})}
_FROM_JWK: Mapping[str, Callable[[dict[str, Any]], Any]] = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
}


# -- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """One usable public key from a JWKS. Compared by identity: a refresh keeps the object of a key it
    still publishes, so "the same key" is a cheap `is` test (the verified-token cache relies on it)."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    public_key: Any
    material: str = ""  # the JWK's public members, canonically serialised

    def fits(self, alg: str) -> bool:
        """True when `alg` may be used with this key (RFC 7517 §4.4 and the key's type and curve)."""
        if self.alg is not None and self.alg != alg:
            return False
        kty, curves = SUPPORTED_ALGORITHMS[alg]
        return kty == self.kty and (curves is None or self.crv in curves)


def _load_key(jwk: Any) -> VerificationKey:
    """Build a key from one JWK, or raise ValueError with the reason it cannot verify signatures."""
    if not isinstance(jwk, dict):
        raise ValueError("not a JSON object")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("kid is not a string")
    kty = jwk.get("kty")
    if not isinstance(kty, str):
        raise ValueError("kty is not a string")
    if kty == "oct":
        raise ValueError("symmetric key (kty oct) cannot be published for verification")
    if kty not in _FROM_JWK:
        raise ValueError("unsupported kty")
    if jwk.get("use", "sig") != "sig":
        raise ValueError("use is not 'sig'")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise ValueError("key_ops does not include 'verify'")
    alg = jwk.get("alg")
    if alg is not None and (not isinstance(alg, str) or alg not in SUPPORTED_ALGORITHMS):
        raise ValueError("alg is not a supported signature algorithm")
    crv = jwk.get("crv")
    if kty in _CURVES and (not isinstance(crv, str) or crv not in _CURVES[kty]):
        raise ValueError("unsupported curve")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        # A published private key is public: anyone could sign with it.
        raise ValueError("contains private key material")
    try:
        public_key = _FROM_JWK[kty](jwk)
    except Exception:  # PyJWT and cryptography raise many types for bad key material
        raise ValueError("malformed key material") from None
    if isinstance(public_key, RSAPublicKey):
        if public_key.key_size < _MIN_RSA_BITS:
            raise ValueError(f"RSA key shorter than {_MIN_RSA_BITS} bits")
        if public_key.key_size > _MAX_RSA_BITS:
            raise ValueError(f"RSA key longer than {_MAX_RSA_BITS} bits")
        if public_key.public_numbers().e > _MAX_RSA_EXPONENT:
            raise ValueError("RSA public exponent above 2^32")
    material = json.dumps({name: jwk[name] for name in _PUBLIC_MEMBERS if name in jwk}, sort_keys=True)
    key = VerificationKey(
        kid=kid, kty=kty, crv=crv if isinstance(crv, str) else None, alg=alg, public_key=public_key, material=material
    )
    if alg is not None and not key.fits(alg):
        raise ValueError("alg does not fit the key type or curve")
    return key


def load_jwks(document: Any) -> tuple[list[VerificationKey], list[tuple[str, str]]]:
    """Split a JWKS into usable keys and skipped ones, as `(kid, reason)` pairs.

    Raises `FetchError` when the document is not a JWKS at all.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise FetchError('not a JWKS document (no "keys" list)')
    keys: list[VerificationKey] = []
    skipped: list[tuple[str, str]] = []
    entries = document["keys"]
    if len(entries) > _MAX_KEYS:
        # Issuers publish a handful of keys; hundreds would only cost CPU on every refresh.
        skipped.append((f"(keys after the first {_MAX_KEYS})", "too many keys in one JWKS"))
        entries = entries[:_MAX_KEYS]
    for jwk in entries:
        try:
            keys.append(_load_key(jwk))
        except Exception as exc:  # one bad entry must never cost the good keys
            reason = str(exc) if isinstance(exc, ValueError) else "malformed key"
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            skipped.append((sanitize(kid) or "(no kid)", reason))
    return keys, skipped


#: The key-management events passed to `Settings.key_event_hook` (and logged as `jwtguard_event`).
KEY_EVENTS = (
    "jwks_fetch_succeeded",
    "jwks_fetch_failed",
    "jwks_stale_served",
    "jwks_refresh_suppressed",
)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    keys: tuple[VerificationKey, ...]
    by_kid: Mapping[str, tuple[VerificationKey, ...]]
    fetched_at: float
    refresh_at: float  # refresh in the background from here on (refresh-ahead, jittered)
    expires_at: float  # fresh until here
    stale_until: float  # usable, while the endpoint fails, until here

    @classmethod
    def build(
        cls, keys: Iterable[VerificationKey], fetched_at: float, ttl: float, max_stale: float, jitter: float
    ) -> _Snapshot:
        all_keys = tuple(keys)
        by_kid: dict[str, tuple[VerificationKey, ...]] = {}
        for key in all_keys:
            if key.kid is not None:
                by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
        expires_at = fetched_at + ttl
        return cls(all_keys, by_kid, fetched_at, fetched_at + ttl * jitter, expires_at, expires_at + max_stale)

    def find(self, kid: str | None) -> tuple[VerificationKey, ...]:
        if kid is not None:
            return self.by_kid.get(kid, ())
        # A token without `kid` is matched only when the choice is unambiguous.
        if len(self.keys) == 1:
            return self.keys
        return tuple(key for key in self.keys if key.kid is None)


def _choose(candidates: tuple[VerificationKey, ...], alg: str) -> VerificationKey:
    for key in candidates:
        if key.fits(alg):
            return key
    raise AlgorithmNotAllowed("alg does not fit the type or curve of the key named by kid")


_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d{1,10})\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-store|no-cache)(?:$|[,\s=])", re.IGNORECASE)


def cache_ttl(headers: Mapping[str, str], default: float, minimum: float, maximum: float) -> float:
    """The TTL the key server asks for with `Cache-Control`, kept within `[minimum, maximum]`."""
    value = headers.get("cache-control") or headers.get("Cache-Control") or ""
    if _NO_CACHE.search(value):
        return minimum
    match = _MAX_AGE.search(value)
    if match is None:
        return default
    return min(max(float(match.group(1)), minimum), maximum)


# -- the key set ------------------------------------------------------------------------------------

_Plan = VerificationKey | concurrent.futures.Future[bool]


class KeySet:
    """Keys of one issuer, by `kid`. `get_key` and `aget_key` share one cache and one in-flight fetch.

    Freshness: a fetched JWKS is fresh for the key server's `max-age` (within `[cache_ttl_min,
    cache_ttl_max]`, else `cache_ttl`); after 75-90% of that a request starts a background refresh
    without waiting for it. When a refresh fails the last good keys keep serving for `max_stale`
    seconds after they expired; only with no usable key at all does a request get `JWKSUnavailable`.

    Fetches and their limits (at most one fetch in flight; none before a failure's retry time):

    | fetch                            | starts when                                 | at most            |
    |----------------------------------|---------------------------------------------|--------------------|
    | first request                    | no usable keys                              | (the retry time)   |
    | prefetch, expiry, refresh-ahead, | keys missing or expired, or past 75-90% of  | 1 per interval     |
    | `health`                         | their TTL                                   |                    |
    | unknown `kid`                    | a token names a `kid` the fresh keys lack   | its own 1 per      |
    |                                  |                                             | interval           |

    The unknown-`kid` allowance is separate, so routine fetches never spend it: a key rotated in just
    after one is accepted on its first token, while a flood of made-up kids still costs at most one
    fetch per interval (and a kid a refresh confirmed absent costs nothing until `cache_ttl_min` has
    passed). Each fetch gets a generation number when it starts; a result is installed only if no
    fetch that started later has installed one, so a slow, abandoned fetch cannot bring back a key
    that was withdrawn meanwhile.
    """

    def __init__(
        self,
        *,
        jwks_uri: str | None = None,
        discovery_issuer: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        cache_ttl: float = 600.0,
        cache_ttl_min: float = 60.0,
        cache_ttl_max: float = 86400.0,
        min_refresh_interval: float = 10.0,
        max_stale: float = 3600.0,
        timeout: float = 3.0,
        max_bytes: int = 512 * 1024,
        fetcher: Fetcher | None = None,
        clock: Clock = time.monotonic,
        event_hook: KeyEventHook | None = None,
        max_unknown_kids: int = 1024,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        if sum(source is not None for source in (jwks_uri, discovery_issuer, jwks)) != 1:
            raise ConfigurationError("a KeySet needs exactly one of jwks_uri, discovery_issuer or jwks")
        if jwks_uri is not None:
            check_key_url(jwks_uri, "jwks_uri")
        self._jwks_uri = jwks_uri
        self._discovery_issuer = discovery_issuer
        #: Where the keys come from, safe to show: credentials and query of a URL are redacted.
        self.source = (
            redact_url(jwks_uri)
            if jwks_uri is not None
            else f"discovery:{redact_url(discovery_issuer)}"
            if discovery_issuer is not None
            else "static jwks"
        )
        self._cache_ttl = cache_ttl
        self._cache_ttl_min = cache_ttl_min
        self._cache_ttl_max = cache_ttl_max
        self._min_refresh_interval = min_refresh_interval
        self._max_stale = max_stale
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._owns_fetcher = fetcher is None
        self._fetcher: Fetcher = fetcher if fetcher is not None else HttpxFetcher()
        self._clock = clock
        self._event_hook = event_hook
        self._jitter = jitter or (lambda: random.uniform(0.75, 0.9))  # noqa: S311  # spreads refreshes, no secret
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._inflight: concurrent.futures.Future[bool] | None = None
        self._inflight_started = 0.0  # real monotonic time, for the fetch deadline
        self._generation = 0  # of the last fetch started
        self._snapshot_generation = 0  # of the fetch whose keys are installed
        self._last_attempt = -math.inf  # any fetch
        self._last_kid_refresh = -math.inf  # fetches for an unknown kid, which have their own allowance
        self._retry_at = -math.inf
        self._failing = False
        self._last_result: tuple[bool, float, float, str | None] | None = None  # ok, at, duration, error
        self._skipped_logged: frozenset[tuple[str, str]] = frozenset()
        # cachetools caches are not thread-safe: both are only touched under self._lock or by the one
        # fetch thread.
        # Kids a refresh has confirmed absent: they cost no further refresh until they expire here, or
        # until a later fetch publishes them.
        self._unknown_kids: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=max_unknown_kids, ttl=cache_ttl_min, timer=clock
        )
        self._discovered: cachetools.TTLCache[str, str] = cachetools.TTLCache(
            maxsize=1, ttl=max(cache_ttl_max, 3600.0), timer=clock
        )
        #: The key server's clock minus ours, in seconds, from the Date header of the last fetch (None
        #: before one): the diagnostic for "is my clock or theirs off?".
        self.server_clock_offset: float | None = None
        self._static = jwks is not None
        if jwks is not None:
            keys, skipped = load_jwks(dict(jwks))
            self._log_skipped(skipped)
            if not keys:
                reasons = "; ".join(f"{kid}: {why}" for kid, why in skipped) or "the keys list is empty"
                raise ConfigurationError(f"the static jwks has no usable verification key ({reasons})")
            self._snapshot = _Snapshot.build(keys, clock(), math.inf, 0.0, 1.0)

    def __repr__(self) -> str:
        return f"KeySet(source={self.source!r})"

    # -- the two faces ----------------------------------------------------------------------------

    def cached_key(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The key for `kid` that fits `alg` if the cache has it and nothing is due; never does I/O.

        None means "ask `get_key` / `aget_key`" (they may fetch). Raises `AlgorithmNotAllowed`.
        """
        snapshot = self._snapshot  # the hot path: one atomic read, no lock
        if snapshot is not None and self._clock() < snapshot.refresh_at:
            candidates = snapshot.find(kid)
            if candidates:
                return _choose(candidates, alg)
        return None

    def get_key(self, kid: str | None, alg: str) -> VerificationKey:
        """The key for `kid` that fits `alg`, fetching the JWKS if needed (blocks this thread only).

        Raises `KeyNotFound`, `AlgorithmNotAllowed` or `JWKSUnavailable`.
        """
        key = self.cached_key(kid, alg)
        if key is not None:
            return key
        plan = self._plan(kid, alg)
        if isinstance(plan, VerificationKey):
            return plan
        concurrent.futures.wait([plan], timeout=self._timeout + 0.1)
        return self._after_fetch(kid, alg, plan)

    async def aget_key(self, kid: str | None, alg: str) -> VerificationKey:
        """Like `get_key`, but waits for a fetch without blocking the event loop."""
        key = self.cached_key(kid, alg)
        if key is not None:
            return key
        plan = self._plan(kid, alg)
        if isinstance(plan, VerificationKey):
            return plan
        await _wait_async(plan, self._timeout + 0.1)
        return self._after_fetch(kid, alg, plan)

    def prefetch(self) -> bool:
        """Fetch the JWKS now unless keys are fresh, within the refresh limits, and wait for it.

        True when usable keys are loaded afterwards.
        """
        future = self._prefetch_plan()
        if future is not None:
            concurrent.futures.wait([future], timeout=self._timeout + 0.1)
        return self._usable_snapshot() is not None

    async def aprefetch(self) -> bool:
        """Like `prefetch`, without blocking the event loop."""
        future = self._prefetch_plan()
        if future is not None:
            await _wait_async(future, self._timeout + 0.1)
        return self._usable_snapshot() is not None

    def _prefetch_plan(self) -> concurrent.futures.Future[bool] | None:
        now = self._clock()
        with self._lock:
            self._abandon_stuck_fetch(now)
            snapshot = self._snapshot
            if snapshot is not None and now < snapshot.expires_at:
                return None
            if self._inflight is not None:
                return self._inflight
            if not self._fetch_allowed(now):
                return None
            try:
                return self._start_fetch(now)
            except JWKSUnavailable:
                return None

    def health(self) -> dict[str, Any]:
        """The state of this key set, for a readiness endpoint: keys, age, last fetch, stale or not.

        It may start a fetch: when the keys are missing, expired or due for refresh-ahead, it starts a
        background fetch within the usual limits (a readiness probe may be the only caller while no
        traffic is let in, and must not keep the keys away). It never waits for that fetch, so the
        report describes the moment of the call, and the keys may change right after it. To look at
        the cache without any side effect, use `peek`.
        """
        now = self._clock()
        with self._lock:
            self._abandon_stuck_fetch(now)
            self._refresh_in_background(now)
            snapshot, last, failing = self._snapshot, self._last_result, self._failing
        report: dict[str, Any] = {
            "source": self.source,
            "usable": snapshot is not None and now < snapshot.stale_until,
            "fresh": snapshot is not None and now < snapshot.expires_at,
            "stale": snapshot is not None and snapshot.expires_at <= now < snapshot.stale_until,
            "failing": failing,
            "keys": len(snapshot.keys) if snapshot is not None else 0,
            "kids": sorted(key.kid for key in snapshot.keys if key.kid is not None) if snapshot is not None else [],
            "age_seconds": None if snapshot is None or self._static else round(now - snapshot.fetched_at, 3),
            "server_clock_offset_seconds": self.server_clock_offset,
            "last_fetch": None,
        }
        if last is not None:
            ok, at, duration, error = last
            report["last_fetch"] = {
                "ok": ok,
                "seconds_ago": round(now - at, 3),
                "duration_ms": round(duration * 1000, 1),
                "error": error,
            }
        return report

    def peek(self, kid: str | None) -> tuple[VerificationKey, ...]:
        """The cached keys for `kid` while the cache is fresh; never does I/O."""
        snapshot = self._snapshot
        if snapshot is None or self._clock() >= snapshot.expires_at:
            return ()
        return snapshot.find(kid)

    def close(self) -> None:
        """Release the HTTP client if this key set created it."""
        if self._owns_fetcher and isinstance(self._fetcher, HttpxFetcher):
            self._fetcher.close()

    # -- cache logic, shared by both faces --------------------------------------------------------

    def _usable_snapshot(self) -> _Snapshot | None:
        snapshot = self._snapshot
        if snapshot is None or self._clock() >= snapshot.stale_until:
            return None
        return snapshot

    def _plan(self, kid: str | None, alg: str) -> _Plan:
        """Off the hot path: a key to use now, or the fetch to wait for; raises when neither is allowed."""
        events: list[KeyEvent] = []
        try:
            with self._lock:
                return self._plan_locked(kid, alg, self._clock(), events)
        finally:
            self._emit(events)

    def _plan_locked(self, kid: str | None, alg: str, now: float, events: list[KeyEvent]) -> _Plan:
        self._abandon_stuck_fetch(now)
        snapshot = self._snapshot
        if snapshot is not None and now < snapshot.stale_until:
            candidates = snapshot.find(kid)
            if candidates:
                if now < snapshot.expires_at:
                    self._refresh_in_background(now)  # past refresh_at: refresh ahead, serve now
                    return _choose(candidates, alg)
                # Expired. Whenever a fetch is allowed, wait for fresh keys (a key removed meanwhile must
                # stop validating); serve the last good ones only while the endpoint is failing and no
                # retry is due yet, or a retry is already under way.
                if self._inflight is None and self._fetch_allowed(now):
                    return self._start_fetch(now)
                if self._inflight is not None and not self._failing:
                    return self._inflight
                events.append(self._event("jwks_stale_served", age=now - snapshot.fetched_at))
                return _choose(candidates, alg)
            if self._static or kid is None:
                raise KeyNotFound("no key matches the token (no kid, or not in the static jwks)")
            if len(kid) > _MAX_KID_LENGTH:
                raise KeyNotFound("kid too long to be looked up")
            if self._inflight is not None:
                return self._inflight
            if kid in self._unknown_kids:
                raise KeyNotFound("kid not in the JWKS (remembered from a recent refresh)")
            if self._failing and now < self._retry_at:
                # The kid may be a genuine new key the endpoint cannot tell us about right now.
                events.append(self._event("jwks_refresh_suppressed"))
                raise JWKSUnavailable(
                    "kid not in the cached JWKS and the key endpoint is failing",
                    retry_after=math.ceil(self._retry_at - now),
                )
            if now < self._retry_at or now - self._last_kid_refresh < self._min_refresh_interval:
                events.append(self._event("jwks_refresh_suppressed"))
                raise KeyNotFound("kid not in the JWKS; refresh suppressed by jwks_min_refresh_interval")
            future = self._start_fetch(now)
            self._last_kid_refresh = now  # only refreshes for unknown kids spend this allowance
            return future
        if self._inflight is not None:
            return self._inflight
        if now < self._retry_at:
            raise JWKSUnavailable(
                "key endpoint failed recently; next attempt after jwks_min_refresh_interval",
                retry_after=math.ceil(self._retry_at - now),
            )
        return self._start_fetch(now)

    def _fetch_allowed(self, now: float) -> bool:
        # Called with self._lock held: one routine fetch per interval, and none before a failure's retry
        # time. Refreshes for unknown kids are limited apart from these (see _plan_locked).
        return now >= self._retry_at and now - self._last_attempt >= self._min_refresh_interval

    def _abandon_stuck_fetch(self, now: float) -> None:
        # Called with self._lock held. httpx's timeouts are per read, so a key server that drips bytes
        # could keep a fetch alive indefinitely (the default fetcher closes the connection at the deadline;
        # a custom one may not): past the deadline it counts as failed, its waiters wake, and the next
        # allowed attempt starts a new one. A late result from it is still taken if good and if no fetch
        # that started after it has installed keys.
        future = self._inflight
        if future is None or time.monotonic() - self._inflight_started <= self._timeout + 0.1:
            return
        self._inflight = None
        # Counted as failed when its deadline passed, so the retry interval runs from then.
        self._record_failure(min(now, self._last_attempt + self._timeout), "timed out (jwks_timeout), fetch abandoned")
        if not future.done():
            future.set_result(False)

    def _after_fetch(self, kid: str | None, alg: str, future: concurrent.futures.Future[bool]) -> VerificationKey:
        refreshed = future.done() and future.result() is True
        events: list[KeyEvent] = []
        try:
            now = self._clock()
            with self._lock:
                snapshot = self._snapshot
                if snapshot is not None and now < snapshot.stale_until:
                    candidates = snapshot.find(kid)
                    if candidates:
                        if now >= snapshot.expires_at:
                            events.append(self._event("jwks_stale_served", age=now - snapshot.fetched_at))
                        return _choose(candidates, alg)
                    if refreshed:
                        if kid is not None and len(kid) <= _MAX_KID_LENGTH:
                            self._unknown_kids[kid] = True  # confirmed absent by a successful refresh
                        raise KeyNotFound("kid not in the JWKS, even after a refresh")
                retry_after = math.ceil(self._retry_at - now) if now < self._retry_at else 1
            raise JWKSUnavailable("no usable key for this token and the key endpoint failed", retry_after=retry_after)
        finally:
            self._emit(events)

    def _refresh_in_background(self, now: float) -> None:
        # Called with self._lock held. Nobody waits for this fetch.
        snapshot = self._snapshot
        if self._static or self._inflight is not None or not self._fetch_allowed(now):
            return
        if snapshot is None or now >= snapshot.refresh_at:
            with contextlib.suppress(JWKSUnavailable):  # no thread: the next request tries again
                self._start_fetch(now)

    def _start_fetch(self, now: float) -> concurrent.futures.Future[bool]:
        # Called with self._lock held.
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()  # a running future cannot be cancelled by a waiter
        generation = self._generation + 1
        thread = threading.Thread(target=self._fetch_into, args=(future, generation), name="jwtguard-jwks", daemon=True)
        self._last_attempt = now
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (resource limits): a server fault, retried later
            self._retry_at = now + self._min_refresh_interval
            raise JWKSUnavailable(
                "could not start the key fetch thread", retry_after=math.ceil(self._min_refresh_interval)
            ) from None
        self._generation = generation
        self._inflight = future
        self._inflight_started = time.monotonic()
        return future

    def _fetch_into(self, future: concurrent.futures.Future[bool], generation: int) -> None:
        started = time.monotonic()
        try:
            snapshot, clock_offset = self._fetch_snapshot()
        except BaseException as exc:  # any failure of the key endpoint becomes state, never a 500 or a hang
            reason = str(exc) if isinstance(exc, FetchError) else f"unexpected {type(exc).__name__}"
            with self._lock:
                if self._inflight is future:
                    self._inflight = None
                    first_failure = self._record_failure(self._clock(), reason, time.monotonic() - started)
                else:  # abandoned at its deadline: already counted as a failure
                    first_failure = False
                usable = self._snapshot is not None and self._clock() < self._snapshot.stale_until
            log = logger.error if first_failure else logger.debug
            log(
                "jwtguard: JWKS fetch from %s failed: %s (%s)",
                self.source,
                reason,
                "serving the last good keys" if usable else "no usable keys",
                extra={
                    "jwtguard_event": "jwks_fetch_failed",
                    "jwtguard_reason": reason,
                    "jwtguard_source": self.source,
                },
            )
            if not future.done():
                future.set_result(False)  # wake the waiters before the user's hook runs
            self._emit([self._event("jwks_fetch_failed", duration=time.monotonic() - started, error=reason)])
            if not isinstance(exc, Exception):
                raise
            return
        duration = time.monotonic() - started
        with self._lock:
            if self._inflight is future:
                self._inflight = None
            # An abandoned fetch may answer after a fetch that started later has installed keys: its
            # keys are older, and may include one withdrawn since.
            superseded = generation < self._snapshot_generation
            if not superseded:
                self._snapshot, self._snapshot_generation = snapshot, generation
                self.server_clock_offset = clock_offset
                self._retry_at = -math.inf
                for kid in [kid for kid in self._unknown_kids if kid in snapshot.by_kid]:
                    del self._unknown_kids[kid]  # published since: no longer unknown
                recovered, self._failing = self._failing, False
                self._last_result = (True, self._clock(), duration, None)
        if superseded:
            logger.debug(
                "jwtguard: a late JWKS from %s was discarded: newer keys are installed",
                self.source,
                extra={"jwtguard_event": "jwks_fetch_superseded", "jwtguard_source": self.source},
            )
            return  # its waiters were woken when it was abandoned
        if recovered:
            logger.warning(
                "jwtguard: JWKS fetch from %s recovered",
                self.source,
                extra={"jwtguard_event": "jwks_fetch_recovered", "jwtguard_source": self.source},
            )
        if not future.done():
            future.set_result(True)  # wake the waiters before the user's hook runs
        self._emit([self._event("jwks_fetch_succeeded", duration=duration, keys=len(snapshot.keys))])

    def _record_failure(self, now: float, reason: str, duration: float | None = None) -> bool:
        # Called with self._lock held. True for the first failure of an outage.
        self._retry_at = now + self._min_refresh_interval
        self._discovered.clear()
        first_failure, self._failing = not self._failing, True
        self._last_result = (False, now, self._timeout if duration is None else duration, reason)
        return first_failure

    def _event(self, name: str, **fields: Any) -> KeyEvent:
        return KeyEvent(name=name, source=self.source, **fields)

    def _emit(self, events: list[KeyEvent]) -> None:
        if self._event_hook is None:
            return
        for event in events:
            try:
                self._event_hook(event)
            except Exception:  # metrics must never break authentication
                logger.exception("jwtguard: key_event_hook failed on %s", event.name)

    # -- the network --------------------------------------------------------------------------------

    def _get(self, url: str, deadline: float) -> FetchResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("timed out (jwks_timeout)")
        response = self._fetcher(url, timeout=remaining, max_bytes=self._max_bytes)
        if response.status != 200:
            raise FetchError(f"HTTP {response.status} from the key endpoint")
        if len(response.content) > self._max_bytes:
            raise FetchError("response larger than jwks_max_bytes")
        return response

    @staticmethod
    def _json(response: FetchResponse) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError):
            raise FetchError("response is not JSON") from None

    def _resolve_jwks_uri(self, deadline: float) -> str:
        if self._jwks_uri is not None:
            return self._jwks_uri
        issuer = self._discovery_issuer
        if issuer is None:  # unreachable: __init__ requires one source
            raise FetchError("no key source configured")
        cached = self._discovered.get("jwks_uri")
        if cached is not None:
            return cached
        document = self._json(self._get(issuer.rstrip("/") + "/.well-known/openid-configuration", deadline))
        if not isinstance(document, dict):
            raise FetchError("discovery document is not a JSON object")
        # OpenID Connect Discovery §4.3: the document must name exactly the issuer it was fetched for.
        if document.get("issuer") != issuer:
            raise FetchError("discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchError("discovery document has no jwks_uri")
        try:
            check_key_url(jwks_uri, "discovered jwks_uri")
        except ConfigurationError:
            raise FetchError("discovered jwks_uri is not https") from None
        self._discovered["jwks_uri"] = jwks_uri
        return jwks_uri

    def _fetch_snapshot(self) -> tuple[_Snapshot, float | None]:
        deadline = time.monotonic() + self._timeout  # real time: the deadline guards a real socket
        response = self._get(self._resolve_jwks_uri(deadline), deadline)
        keys, skipped = load_jwks(self._json(response))
        self._log_skipped(skipped)
        if not keys:
            raise FetchError("JWKS has no usable verification key")
        previous = self._snapshot
        if previous is not None:
            kept = {key.material: key for key in previous.keys}
            keys = [kept.get(key.material, key) for key in keys]
        ttl = cache_ttl(response.headers, self._cache_ttl, self._cache_ttl_min, self._cache_ttl_max)
        snapshot = _Snapshot.build(keys, self._clock(), ttl, self._max_stale, self._jitter())
        return snapshot, _clock_offset(response.headers)

    def _log_skipped(self, skipped: list[tuple[str, str]]) -> None:
        # Logged once per distinct (kid, reason), not on every refresh.
        current = frozenset(skipped)
        for kid, reason in sorted(current - self._skipped_logged):
            logger.warning(
                "jwtguard: JWKS key %r skipped: %s",
                kid,
                reason,
                extra={"jwtguard_event": "jwks_key_skipped", "jwtguard_kid": kid, "jwtguard_reason": reason},
            )
        self._skipped_logged = current


def _clock_offset(headers: Mapping[str, str]) -> float | None:
    value = headers.get("date") or headers.get("Date")
    if not value:
        return None
    try:
        server_time = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return round(server_time - time.time(), 1)


async def _wait_async(future: concurrent.futures.Future[bool], timeout: float) -> None:
    """Wait for a fetch from the event loop; cancelling the waiter leaves the fetch running."""
    if future.done():
        return
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object) -> None:
        # The loop may have closed while the fetch ran; then nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_set_done, waiter)

    future.add_done_callback(wake)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(waiter, timeout=timeout)


def _set_done(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
