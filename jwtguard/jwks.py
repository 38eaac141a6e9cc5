"""Trusted verification keys by `kid`: a cached JWKS with one refresh in flight, and a sync and an async face.

Design notes (the failure modes other validators are known for):
- The fetch runs in its own thread, never on the event loop; sync and async callers wait on the same
  `concurrent.futures.Future`, so threads and coroutines share one fetch, and a cancelled waiter does not
  cancel it.
- An unknown `kid` triggers a refresh at most once per `jwks_min_refresh_interval`; unknown kids are
  remembered (bounded) so a flood of forged kids costs no fetches at all.
- A failed fetch is not retried by every request: for `jwks_min_refresh_interval` requests that need the
  network get `jwks_unavailable` at once, with `Retry-After`.
- Nothing a token says is fetched: keys come only from the configured `jwks_uri`, the configured issuer's
  discovery document, or a static JWKS.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import cachetools
import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ._logging import sanitize
from .errors import AlgorithmNotAllowed, ConfigurationError, JWKSUnavailable, KeyNotFound
from .settings import SUPPORTED_ALGORITHMS, Settings, check_key_url

__all__ = ["FetchError", "FetchResponse", "Fetcher", "HttpxFetcher", "KeySet", "VerificationKey", "load_jwks"]

logger = logging.getLogger("jwtguard")

Clock = Callable[[], float]

_MIN_RSA_BITS = 2048
_MAX_KID_LENGTH = 256  # longer kids are refused outright: no issuer uses them, and they bloat caches
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_CURVES = {"EC": frozenset({"P-256", "P-384", "P-521", "secp256k1"}), "OKP": frozenset({"Ed25519", "Ed448"})}
_FROM_JWK: Mapping[str, Callable[[dict[str, Any]], Any]] = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
}


# -- fetching ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """What a fetcher returns: the status, the headers (lower-case names) and the body."""

    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class FetchError(Exception):
    """A key or discovery document could not be fetched or used. The message is safe to log."""


class Fetcher(Protocol):
    """Fetches one URL within `timeout` seconds and at most `max_bytes`; raises `FetchError` on failure."""

    def __call__(self, url: str, *, timeout: float, max_bytes: int) -> FetchResponse: ...


class HttpxFetcher:
    """The default fetcher: one pooled `httpx.Client`, no redirects, a size cap and a total deadline."""

    def __init__(self) -> None:
        from . import __version__

        self._client = httpx.Client(
            follow_redirects=False,  # a redirect could lead off https; the configured URL is the URL
            headers={"Accept": "application/json", "User-Agent": f"jwtguard/{__version__}"},
        )

    def __call__(self, url: str, *, timeout: float, max_bytes: int) -> FetchResponse:
        deadline = time.monotonic() + timeout
        try:
            with self._client.stream("GET", url, timeout=timeout) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError("response larger than jwks_max_bytes")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError("response larger than jwks_max_bytes")
                    if time.monotonic() > deadline:
                        raise FetchError("timed out (jwks_timeout)")
                    chunks.append(chunk)
                return FetchResponse(response.status_code, b"".join(chunks), dict(response.headers))
        except httpx.TimeoutException:
            raise FetchError("timed out (jwks_timeout)") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"request failed ({type(exc).__name__})") from None

    def close(self) -> None:
        self._client.close()


# -- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One usable public key from a JWKS."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    public_key: Any

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
    if isinstance(public_key, RSAPublicKey) and public_key.key_size < _MIN_RSA_BITS:
        raise ValueError(f"RSA key shorter than {_MIN_RSA_BITS} bits")
    key = VerificationKey(kid=kid, kty=kty, crv=crv if isinstance(crv, str) else None, alg=alg, public_key=public_key)
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
    for jwk in document["keys"]:
        try:
            keys.append(_load_key(jwk))
        except Exception as exc:  # one bad entry must never cost the good keys
            reason = str(exc) if isinstance(exc, ValueError) else "malformed key"
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            skipped.append((sanitize(kid) or "(no kid)", reason))
    return keys, skipped


@dataclass(frozen=True, slots=True)
class _Snapshot:
    keys: tuple[VerificationKey, ...]
    by_kid: Mapping[str, tuple[VerificationKey, ...]]
    fetched_at: float
    expires_at: float

    @classmethod
    def build(cls, keys: Iterable[VerificationKey], fetched_at: float, expires_at: float) -> _Snapshot:
        all_keys = tuple(keys)
        by_kid: dict[str, tuple[VerificationKey, ...]] = {}
        for key in all_keys:
            if key.kid is not None:
                by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
        return cls(all_keys, by_kid, fetched_at, expires_at)

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


# -- the key set ------------------------------------------------------------------------------------


class KeySet:
    """Keys of one issuer, by `kid`. `get_key` and `aget_key` share one cache and one in-flight fetch."""

    def __init__(
        self,
        *,
        jwks_uri: str | None = None,
        discovery_issuer: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        cache_ttl: float = 600.0,
        min_refresh_interval: float = 30.0,
        timeout: float = 3.0,
        max_bytes: int = 512 * 1024,
        fetcher: Fetcher | None = None,
        clock: Clock = time.monotonic,
        max_unknown_kids: int = 1024,
    ) -> None:
        if sum(source is not None for source in (jwks_uri, discovery_issuer, jwks)) != 1:
            raise ConfigurationError("a KeySet needs exactly one of jwks_uri, discovery_issuer or jwks")
        if jwks_uri is not None:
            check_key_url(jwks_uri, "jwks_uri")
        self._jwks_uri = jwks_uri
        self._discovery_issuer = discovery_issuer
        self._cache_ttl = cache_ttl
        self._min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._owns_fetcher = fetcher is None
        self._fetcher: Fetcher = fetcher if fetcher is not None else HttpxFetcher()
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._inflight: concurrent.futures.Future[bool] | None = None
        self._last_attempt = -math.inf
        self._retry_at = -math.inf
        self._failing = False
        self._skipped_logged: frozenset[tuple[str, str]] = frozenset()
        # cachetools caches are not thread-safe: both are only touched under self._lock or by the one
        # fetch thread.
        self._unknown_kids: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=max_unknown_kids, ttl=min_refresh_interval, timer=clock
        )
        self._discovered: cachetools.TTLCache[str, str] = cachetools.TTLCache(
            maxsize=1, ttl=max(cache_ttl, 3600.0), timer=clock
        )
        self._static = jwks is not None
        if jwks is not None:
            keys, skipped = load_jwks(dict(jwks))
            self._log_skipped(skipped)
            if not keys:
                reasons = "; ".join(f"{kid}: {why}" for kid, why in skipped) or "the keys list is empty"
                raise ConfigurationError(f"the static jwks has no usable verification key ({reasons})")
            self._snapshot = _Snapshot.build(keys, fetched_at=clock(), expires_at=math.inf)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, fetcher: Fetcher | None = None, clock: Clock = time.monotonic
    ) -> KeySet:
        """The key set that `settings` describe."""
        return cls(
            jwks_uri=settings.jwks_uri,
            discovery_issuer=settings.issuers[0] if settings.discovery else None,
            jwks=settings.static_jwks,
            cache_ttl=settings.jwks_cache_ttl,
            min_refresh_interval=settings.jwks_min_refresh_interval,
            timeout=settings.jwks_timeout,
            max_bytes=settings.jwks_max_bytes,
            fetcher=fetcher,
            clock=clock,
        )

    # -- the two faces ----------------------------------------------------------------------------

    def get_key(self, kid: str | None, alg: str) -> VerificationKey:
        """The key for `kid` that fits `alg`, fetching the JWKS if needed (blocks this thread only).

        Raises `KeyNotFound`, `AlgorithmNotAllowed` or `JWKSUnavailable`.
        """
        candidates = self._cached(kid)
        if candidates:
            return _choose(candidates, alg)
        future = self._plan_refresh(kid)
        if future is not None:
            concurrent.futures.wait([future], timeout=self._timeout + 0.1)
        return self._after_refresh(kid, alg)

    async def aget_key(self, kid: str | None, alg: str) -> VerificationKey:
        """Like `get_key`, but waits for a fetch without blocking the event loop."""
        candidates = self._cached(kid)
        if candidates:
            return _choose(candidates, alg)
        future = self._plan_refresh(kid)
        if future is not None and not future.done():
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_: object) -> None:
                # The loop may have closed while the fetch ran; then nobody is waiting.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_set_done, waiter)

            future.add_done_callback(wake)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(waiter, timeout=self._timeout + 0.1)
        return self._after_refresh(kid, alg)

    def peek(self, kid: str | None) -> tuple[VerificationKey, ...]:
        """The cached keys for `kid` while the cache is fresh; never does I/O."""
        return self._cached(kid)

    def close(self) -> None:
        """Release the HTTP client if this key set created it."""
        if self._owns_fetcher and isinstance(self._fetcher, HttpxFetcher):
            self._fetcher.close()

    # -- cache logic, shared by both faces --------------------------------------------------------

    def _cached(self, kid: str | None) -> tuple[VerificationKey, ...]:
        snapshot = self._snapshot  # one atomic read: no lock on the hot path
        if snapshot is None or self._clock() >= snapshot.expires_at:
            return ()
        return snapshot.find(kid)

    def _plan_refresh(self, kid: str | None) -> concurrent.futures.Future[bool] | None:
        """On a miss: the fetch to wait for, None to look again, or an exception when no fetch is allowed."""
        now = self._clock()
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and now < snapshot.expires_at:
                if snapshot.find(kid):
                    return None  # another thread refreshed meanwhile
                if self._static or kid is None:
                    raise KeyNotFound("no key matches the token (no kid, or not in the static jwks)")
                if len(kid) > _MAX_KID_LENGTH:
                    raise KeyNotFound("kid too long to be looked up")
                if self._inflight is not None:
                    return self._inflight
                if kid in self._unknown_kids:
                    raise KeyNotFound("kid not in the JWKS (remembered from a recent refresh)")
                if now - self._last_attempt < self._min_refresh_interval:
                    self._unknown_kids[kid] = True
                    raise KeyNotFound("kid not in the JWKS; refresh suppressed by jwks_min_refresh_interval")
                return self._start_fetch(now)
            if self._inflight is not None:
                return self._inflight
            if now < self._retry_at:
                raise JWKSUnavailable(
                    "key endpoint failed recently; next attempt after jwks_min_refresh_interval",
                    retry_after=math.ceil(self._retry_at - now),
                )
            return self._start_fetch(now)

    def _after_refresh(self, kid: str | None, alg: str) -> VerificationKey:
        candidates = self._cached(kid)
        if candidates:
            return _choose(candidates, alg)
        now = self._clock()
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and now < snapshot.expires_at:
                candidates = snapshot.find(kid)  # a fetch may have landed since the look above
                if candidates:
                    return _choose(candidates, alg)
                if kid is not None and len(kid) <= _MAX_KID_LENGTH:
                    self._unknown_kids[kid] = True
                raise KeyNotFound("kid not in the JWKS, even after a refresh")
            retry_after = math.ceil(self._retry_at - now) if now < self._retry_at else 1
        raise JWKSUnavailable("no usable keys and the key endpoint failed", retry_after=retry_after)

    def _start_fetch(self, now: float) -> concurrent.futures.Future[bool]:
        # Called with self._lock held.
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()  # a running future cannot be cancelled by a waiter
        thread = threading.Thread(target=self._fetch_into, args=(future,), name="jwtguard-jwks", daemon=True)
        self._last_attempt = now
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (resource limits): a server fault, retried later
            self._retry_at = now + self._min_refresh_interval
            raise JWKSUnavailable(
                "could not start the key fetch thread", retry_after=math.ceil(self._min_refresh_interval)
            ) from None
        self._inflight = future
        return future

    def _fetch_into(self, future: concurrent.futures.Future[bool]) -> None:
        try:
            snapshot = self._fetch_snapshot()
        except Exception as exc:  # any failure of the key endpoint becomes a FetchError-like log line
            reason = str(exc) if isinstance(exc, FetchError) else f"unexpected {type(exc).__name__}"
            with self._lock:
                self._inflight = None
                self._retry_at = self._clock() + self._min_refresh_interval
                self._discovered.clear()
                first_failure, self._failing = not self._failing, True
            log = logger.error if first_failure else logger.debug
            log(
                "jwtguard: JWKS fetch failed: %s",
                reason,
                extra={"jwtguard_event": "jwks_fetch_failed", "jwtguard_reason": reason},
            )
            future.set_result(False)
            return
        with self._lock:
            self._snapshot = snapshot
            self._inflight = None
            self._retry_at = -math.inf
            self._unknown_kids.clear()
            recovered, self._failing = self._failing, False
        if recovered:
            logger.warning("jwtguard: JWKS fetch recovered", extra={"jwtguard_event": "jwks_fetch_recovered"})
        future.set_result(True)

    # -- the network --------------------------------------------------------------------------------

    def _get_json(self, url: str, deadline: float) -> Any:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("timed out (jwks_timeout)")
        response = self._fetcher(url, timeout=remaining, max_bytes=self._max_bytes)
        if response.status != 200:
            raise FetchError(f"HTTP {response.status} from the key endpoint")
        if len(response.content) > self._max_bytes:
            raise FetchError("response larger than jwks_max_bytes")
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
        document = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", deadline)
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

    def _fetch_snapshot(self) -> _Snapshot:
        deadline = time.monotonic() + self._timeout  # real time: the deadline guards a real socket
        document = self._get_json(self._resolve_jwks_uri(deadline), deadline)
        keys, skipped = load_jwks(document)
        self._log_skipped(skipped)
        if not keys:
            raise FetchError("JWKS has no usable verification key")
        now = self._clock()
        return _Snapshot.build(keys, fetched_at=now, expires_at=now + self._cache_ttl)

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


def _set_done(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
