"""Trusted verification keys by `kid`: a cached JWKS with one refresh in flight, and a sync and an async face.

`KeySet`'s docstring tables the refresh state machine: its states, and what each request and fetch does.

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
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cachetools

from ._fetch import (
    Fetcher,
    FetchResponse,
    HttpxFetcher,
    cache_ttl,
    check_key_url,
    discover_jwks_uri,
    fetch_json,
    redact_url,
    server_clock_offset,
)
from ._jwk import VerificationKey, load_jwks
from .errors import AlgorithmNotAllowed, ConfigurationError, FetchError, JWKSUnavailable, KeyNotFound
from .hooks import KeyEvent, KeyEventHook

__all__ = [
    "FetchError",
    "FetchResponse",
    "FetchedKeys",
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

_MAX_KID_LENGTH = 256  # longer kids are refused outright: no issuer uses them, and they bloat caches


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
        if alg in key.algorithms:
            return key
    raise AlgorithmNotAllowed(
        "alg does not fit the type or curve of the key named by kid",
        details={"alg": alg, "key_algorithms": sorted({name for key in candidates for name in key.algorithms})},
    )


def _known_kids(kid: str | None, snapshot: _Snapshot) -> dict[str, object]:
    """What a `KeyNotFound` log record names: the token's kid and the kids the cached key set holds (20 at most)."""
    kids = sorted(key.kid if key.kid is not None else "(no kid)" for key in snapshot.keys)
    return {"kid": kid, "known_kids": [*kids[:20], "..."] if len(kids) > 20 else kids}


@dataclass(frozen=True, slots=True)
class FetchedKeys:
    """What a key source publishes now, read as a refresh reads it: returned by `KeySet.fetch`."""

    #: Where the keys came from, safe to show: the JWKS URL (with discovery, the discovered one) with its
    #: credentials and query redacted, or `static jwks`.
    source: str
    keys: tuple[VerificationKey, ...]
    #: `(kid, reason)` for each entry that is not a usable verification key.
    skipped: tuple[tuple[str, str], ...]
    #: How long the keys would stay fresh: the response's `Cache-Control` within the key set's bounds.
    ttl: float
    #: The headers of the JWKS response, names in lower case (none for a static JWKS).
    headers: Mapping[str, str]
    #: The key server's clock minus ours, in seconds, from its `Date` header.
    server_clock_offset: float | None


def _usable(fetched: FetchedKeys) -> FetchedKeys:
    if not fetched.keys:
        raise FetchError("JWKS has no usable verification key")
    return fetched


# -- the key set ------------------------------------------------------------------------------------

_Plan = VerificationKey | concurrent.futures.Future[bool]


class KeySet:
    """Keys of one issuer, by `kid`. `get_key` and `aget_key` share one cache and one in-flight fetch.

    Installed keys are fresh for the key server's `max-age` (kept within `[cache_ttl_min, cache_ttl_max]`;
    `cache_ttl` without one), then pass through these states by the key clock. In any of them a fetch may
    be in flight, and the endpoint may be *failing*: its last fetch failed and its retry time,
    `min_refresh_interval` later, has not come. A static JWKS is fresh for ever and never fetched.

    | state   | lasts until                   | token, cached `kid`  | other `kid`   | `prefetch`   | `health` |
    |---------|-------------------------------|----------------------|---------------|--------------|----------|
    | empty   | a fetch installs keys         | -                    | first fetch   | routine-wait | routine  |
    | fresh   | `refresh_at`: 75-90% of TTL   | served, without lock | kid refresh   | -            | -        |
    | due     | `expires_at`: the TTL         | served; routine      | kid refresh   | -            | routine  |
    | expired | `stale_until`: + `max_stale`; | routine-wait (1)     | kid refresh   | routine-wait | routine  |
    |         | then empty again              |                      |               |              |          |

    - *first fetch*: wait for the fetch in flight, or start one and wait, unless the retry time has not
      come: then `JWKSUnavailable` at once, with `Retry-After`.
    - *routine*: start a fetch if none is in flight, the retry time has come and `min_refresh_interval`
      has passed since the last fetch of any kind; nobody waits for it. *routine-wait*: the same, and
      wait for it, or for the fetch in flight.
    - (1) but wait for the fetch in flight only while the endpoint is not failing; with no fetch to wait
      for, serve the expired keys (`jwks_stale_served`).
    - *kid refresh*: `KeyNotFound` for a token without `kid`, a static JWKS or a `kid` over 256
      characters; else wait for the fetch in flight; else `KeyNotFound` for a `kid` a refresh confirmed
      absent (remembered for `cache_ttl_min`); `JWKSUnavailable` while failing, and `KeyNotFound` within
      `min_refresh_interval` of the last kid refresh (both `jwks_refresh_suppressed`); else start a fetch
      and wait. Routine fetches do not spend this allowance, so a key rotated in just after one is
      accepted on its first token, while a flood of made-up kids costs at most one fetch per interval.

    | fetch event       | what it does                                                                      |
    |-------------------|-----------------------------------------------------------------------------------|
    | starts            | takes the next generation number; at most one is in flight, and waiters share it |
    | succeeds          | installs its keys (fresh) unless a fetch that started later installed first;     |
    |                   | clears failing; forgets unknown kids it publishes (`jwks_fetch_succeeded`)        |
    | fails             | keeps the keys, whose state runs on; failing until the retry time; forgets the   |
    |                   | discovered `jwks_uri` (`jwks_fetch_failed`)                                       |
    | reaches `timeout` | counts as failed then, and its waiters wake; a late success is still installed   |
    |                   | if no newer keys were, so a slow fetch cannot bring back a withdrawn key          |
    | a waiter wakes    | the key if the keys now have it; `KeyNotFound` if the fetch succeeded without it  |
    |                   | (the kid is remembered absent); `JWKSUnavailable` if it failed                    |
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
        start_thread: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """Exactly one key source: `jwks_uri`, `discovery_issuer` (whose discovery document names the JWKS)
        or a static `jwks` document. The limits are the `jwks_*` settings of the same names.

        The rest is injected by tests and embedders: `fetcher` (default: an `HttpxFetcher` this key set
        owns and closes); `clock`, the monotonic seconds the cache runs on; `event_hook`, told every
        `KeyEvent`; `max_unknown_kids`, how many absent kids are remembered; `jitter`, the fraction of the
        TTL after which a refresh-ahead starts (default: at random in 0.75-0.9); and `start_thread`, which
        runs a fetch on a new daemon thread and raises `RuntimeError` when no thread can be had, as
        `threading.Thread.start` does: that request gets `JWKSUnavailable`, and no fetch is tried again
        for `min_refresh_interval`.
        """
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
        self.clock = clock  #: the monotonic clock the snapshot's times are on
        self._event_hook = event_hook
        self._jitter = jitter or (lambda: random.uniform(0.75, 0.9))  # noqa: S311  # spreads refreshes, no secret
        self._start_thread = start_thread or _start_daemon_thread
        self._lock = threading.Lock()
        #: The keys in use now, replaced whole by each successful fetch (never changed in place): the same
        #: object means the same keys. Read without a lock; the guard's cache hits compare it by identity.
        self.snapshot: _Snapshot | None = None
        self._inflight: concurrent.futures.Future[bool] | None = None
        self._inflight_started = 0.0  # real monotonic time, for the fetch deadline
        self._generation = 0  # of the last fetch started
        self.snapshot_generation = 0  # of the fetch whose keys are installed
        self._last_attempt = -math.inf  # any fetch
        self._last_kid_refresh = -math.inf  # fetches for an unknown kid, which have their own allowance
        self._retry_at = -math.inf
        self._failing = False
        self._last_result: tuple[bool, float, float, str | None] | None = None  # ok, at, duration, error
        self._configuration_error: str | None = None  # the last failure's, when it was a misconfiguration
        self._skipped_logged: frozenset[tuple[str, str]] = frozenset()
        # cachetools caches are not thread-safe: both are only touched under self._lock (fetches may overlap:
        # one abandoned at its deadline still runs).
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
        self._static_jwks = dict(jwks) if jwks is not None else None
        self._static = jwks is not None
        if jwks is not None:
            static = self._download()
            self._log_skipped(static.skipped)
            if not static.keys:
                reasons = "; ".join(f"{kid}: {why}" for kid, why in static.skipped) or "the keys list is empty"
                raise ConfigurationError(f"the static jwks has no usable verification key ({reasons})")
            self.snapshot = _Snapshot.build(static.keys, clock(), math.inf, 0.0, 1.0)

    def __repr__(self) -> str:
        return f"KeySet(source={self.source!r})"

    # -- the two faces ----------------------------------------------------------------------------

    def cached_key(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The key for `kid` that fits `alg` if the cache has it and nothing is due; never does I/O.

        None means "ask `get_key` / `aget_key`" (they may fetch). Raises `AlgorithmNotAllowed`.
        """
        snapshot = self.snapshot  # the hot path: one atomic read, no lock
        if snapshot is not None and self._clock() < snapshot.refresh_at:
            candidates = snapshot.by_kid.get(kid, ()) if kid is not None else snapshot.find(kid)
            if len(candidates) == 1 and alg in candidates[0].algorithms:  # `_choose`'s common case, inline
                return candidates[0]
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
            snapshot = self.snapshot
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
            snapshot, last, failing = self.snapshot, self._last_result, self._failing
            configuration_error = self._configuration_error
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
            "configuration_error": configuration_error,
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

    @property
    def configuration_error(self) -> str | None:
        """Why the last fetch failed, when it failed because the key source is misconfigured (a discovery
        document for another issuer, a key URL answering HTML, 401/403 or a redirect); None otherwise, and
        once a fetch succeeds. The message names both values and what to change."""
        return self._configuration_error

    def last_error(self) -> str | None:
        """Why the last fetch failed while the endpoint is failing; None when it succeeded."""
        last = self._last_result
        return last[3] if last is not None and self._failing else None

    def _failure_detail(self) -> str:
        last = self._last_result
        return f": {last[3]}" if last is not None and not last[0] and last[3] else ""

    def peek(self, kid: str | None) -> tuple[VerificationKey, ...]:
        """The cached keys for `kid` while the cache is fresh; never does I/O."""
        snapshot = self.snapshot
        if snapshot is None or self._clock() >= snapshot.expires_at:
            return ()
        return snapshot.find(kid)

    def fetch(self) -> FetchedKeys:
        """Fetch the keys now, as a refresh would (discovery, `timeout`, `max_bytes`, every check), and
        return them without installing them.

        For tools that show a key source (`jwtguard keys`): it leaves the cached keys alone and is not held
        to the refresh limits, so it does not belong on the request path. Raises `FetchError`, with the
        message a refresh would log, also when the JWKS has no usable key. A static JWKS is returned as
        loaded.
        """
        return _usable(self._download())

    def close(self) -> None:
        """Release the HTTP client if this key set created it."""
        if self._owns_fetcher and isinstance(self._fetcher, HttpxFetcher):
            self._fetcher.close()

    # -- cache logic, shared by both faces --------------------------------------------------------

    def _usable_snapshot(self) -> _Snapshot | None:
        snapshot = self.snapshot
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
        snapshot = self.snapshot
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
                raise KeyNotFound(
                    "no key matches the token (no kid, or not in the static jwks)", details=_known_kids(kid, snapshot)
                )
            if len(kid) > _MAX_KID_LENGTH:
                raise KeyNotFound("kid too long to be looked up", details=_known_kids(kid, snapshot))
            if self._inflight is not None:
                return self._inflight
            if kid in self._unknown_kids:
                raise KeyNotFound(
                    "kid not in the JWKS (remembered from a recent refresh)", details=_known_kids(kid, snapshot)
                )
            if self._failing and now < self._retry_at:
                # The kid may be a genuine new key the endpoint cannot tell us about right now.
                events.append(self._event("jwks_refresh_suppressed"))
                raise JWKSUnavailable(
                    "kid not in the cached JWKS and the key endpoint is failing",
                    retry_after=math.ceil(self._retry_at - now),
                )
            if now < self._retry_at or now - self._last_kid_refresh < self._min_refresh_interval:
                events.append(self._event("jwks_refresh_suppressed"))
                raise KeyNotFound(
                    "kid not in the JWKS; refresh suppressed by jwks_min_refresh_interval",
                    details=_known_kids(kid, snapshot),
                )
            future = self._start_fetch(now)
            self._last_kid_refresh = now  # only refreshes for unknown kids spend this allowance
            return future
        if self._inflight is not None:
            return self._inflight
        if now < self._retry_at:
            raise JWKSUnavailable(
                "key endpoint failed recently; next attempt after jwks_min_refresh_interval" + self._failure_detail(),
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
                snapshot = self.snapshot
                if snapshot is not None and now < snapshot.stale_until:
                    candidates = snapshot.find(kid)
                    if candidates:
                        if now >= snapshot.expires_at:
                            events.append(self._event("jwks_stale_served", age=now - snapshot.fetched_at))
                        return _choose(candidates, alg)
                    if refreshed:
                        if kid is not None and len(kid) <= _MAX_KID_LENGTH:
                            self._unknown_kids[kid] = True  # confirmed absent by a successful refresh
                        raise KeyNotFound(
                            "kid not in the JWKS, even after a refresh", details=_known_kids(kid, snapshot)
                        )
                retry_after = math.ceil(self._retry_at - now) if now < self._retry_at else 1
            raise JWKSUnavailable(
                "no usable key for this token and the key endpoint failed" + self._failure_detail(),
                retry_after=retry_after,
            )
        finally:
            self._emit(events)

    def _refresh_in_background(self, now: float) -> None:
        # Called with self._lock held. Nobody waits for this fetch.
        snapshot = self.snapshot
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
        self._last_attempt = now
        try:
            self._start_thread(functools.partial(self._fetch_into, future, generation))
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
            configuration = isinstance(exc, FetchError) and exc.configuration
            with self._lock:
                if self._inflight is future:
                    self._inflight = None
                    first_failure = self._record_failure(
                        self._clock(), reason, time.monotonic() - started, configuration=configuration
                    )
                else:  # abandoned at its deadline: already counted as a failure
                    first_failure = False
                usable = self.snapshot is not None and self._clock() < self.snapshot.stale_until
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
            superseded = generation < self.snapshot_generation
            if not superseded:
                self.snapshot, self.snapshot_generation = snapshot, generation
                self.server_clock_offset = clock_offset
                self._retry_at = -math.inf
                for kid in [kid for kid in self._unknown_kids if kid in snapshot.by_kid]:
                    del self._unknown_kids[kid]  # published since: no longer unknown
                recovered, self._failing = self._failing, False
                self._configuration_error = None
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

    def _record_failure(
        self, now: float, reason: str, duration: float | None = None, *, configuration: bool = False
    ) -> bool:
        # Called with self._lock held. True for the first failure of an outage.
        self._retry_at = now + self._min_refresh_interval
        self._configuration_error = reason if configuration else None
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

    def _resolve_jwks_uri(self, deadline: float) -> str:
        if self._jwks_uri is not None:
            return self._jwks_uri
        issuer = self._discovery_issuer
        if issuer is None:  # unreachable: __init__ requires one source
            raise FetchError("no key source configured")
        with self._lock:
            cached = self._discovered.get("jwks_uri")
        if cached is not None:
            return cached
        jwks_uri = discover_jwks_uri(self._fetcher, issuer, deadline=deadline, max_bytes=self._max_bytes)
        with self._lock:
            self._discovered["jwks_uri"] = jwks_uri
        return jwks_uri

    def _download(self) -> FetchedKeys:
        document: Any = self._static_jwks
        headers: Mapping[str, str] = {}
        source = "static jwks"
        if document is None:
            deadline = time.monotonic() + self._timeout  # real time: the deadline guards a real socket
            url = self._resolve_jwks_uri(deadline)
            document, headers = fetch_json(self._fetcher, url, deadline=deadline, max_bytes=self._max_bytes)
            source = redact_url(url)
        keys, skipped = load_jwks(document)
        return FetchedKeys(
            source=source,
            keys=tuple(keys),
            skipped=tuple(skipped),
            ttl=cache_ttl(headers, self._cache_ttl, self._cache_ttl_min, self._cache_ttl_max),
            headers={name.lower(): value for name, value in headers.items()},
            server_clock_offset=server_clock_offset(headers),
        )

    def _fetch_snapshot(self) -> tuple[_Snapshot, float | None]:
        fetched = self._download()
        self._log_skipped(fetched.skipped)
        keys = _usable(fetched).keys
        previous = self.snapshot
        if previous is not None:
            kept = {key.material: key for key in previous.keys}
            keys = tuple(kept.get(key.material, key) for key in keys)
        snapshot = _Snapshot.build(keys, self._clock(), fetched.ttl, self._max_stale, self._jitter())
        return snapshot, fetched.server_clock_offset

    def _log_skipped(self, skipped: Iterable[tuple[str, str]]) -> None:
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


def _start_daemon_thread(run: Callable[[], None]) -> None:
    threading.Thread(target=run, name="jwtguard-jwks", daemon=True).start()


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
