"""Revocation: a hook that says whether a verified token was revoked, and a bounded in-memory denylist.

    denylist = JtiDenylist(leeway=settings_leeway)    # the same leeway as Settings (default 60 s)
    settings = Settings(..., revocation_hook=denylist)
    denylist.revoke_token(principal)                  # this token, until it would have expired anyway
    denylist.revoke_subject("user-42")                # every token issued to user-42 until now

A hook may be sync or async (`async def is_revoked(principal) -> bool`, ASGI only). It runs only for tokens
whose signature and claims are valid. If it raises, the request is refused (fail closed) and logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import cachetools

from .errors import ConfigurationError, JWTGuardError
from .hooks import RevocationHook
from .principal import Principal

__all__ = ["JtiDenylist", "RevocationHook"]


# Entries outlive the token by the largest leeway jwtguard allows, so no clock drift revives a token.
_MAX_LEEWAY = 300.0


class JtiDenylist:
    """Revoked token ids and subjects, each forgotten when no token it covers can still be valid.

    Bounded by `maxsize` entries per kind; thread-safe. When full of unexpired entries, `revoke_*`
    raises instead of silently evicting a revocation.

    `leeway` is the clock skew tolerated between the issuer and this server, as in `Settings.leeway`:
    a subject revocation also covers tokens whose `iat` lies up to `leeway` seconds after it, because an
    issuer whose clock runs ahead stamps a token minted just before the revocation with a later `iat`.
    """

    def __init__(self, maxsize: int = 100_000, clock: Callable[[], float] = time.time, *, leeway: float = 60.0) -> None:
        if isinstance(leeway, bool) or not isinstance(leeway, int | float) or not 0 <= leeway <= _MAX_LEEWAY:
            raise ConfigurationError(f"JtiDenylist leeway must be between 0 and {_MAX_LEEWAY:g} seconds")
        self._clock = clock
        self._leeway = float(leeway)
        self._lock = threading.Lock()
        # TLRUCache: each entry carries its own expiry time (the value).
        self._tokens: cachetools.TLRUCache[str, float, float] = cachetools.TLRUCache(
            maxsize=maxsize, ttu=_expires_at, timer=clock
        )
        self._subjects: cachetools.TLRUCache[str, tuple[float, float], float] = cachetools.TLRUCache(
            maxsize=maxsize, ttu=_subject_expires_at, timer=clock
        )

    def revoke(self, jti: str, expires_at: float) -> None:
        """Revoke the token with this `jti`, remembered until `expires_at` (its `exp`) plus leeway."""
        with self._lock:
            self._make_room(self._tokens)
            self._tokens[jti] = float(expires_at) + _MAX_LEEWAY

    def revoke_token(self, principal: Principal) -> None:
        """Revoke the token `principal` was built from (it needs a `jti`)."""
        if principal.token_id is None or principal.expires_at is None:
            raise ValueError("only a token with 'jti' and 'exp' can be revoked by id; revoke its subject instead")
        self.revoke(principal.token_id, principal.expires_at)

    def revoke_subject(
        self, subject: str, *, max_token_lifetime: float = 86400.0, issued_before: float | None = None
    ) -> None:
        """Revoke every token issued to `subject` up to now, or up to `issued_before` (by `iat`, with the
        leeway as margin; tokens without `iat` are revoked whatever their age).

        Remembered for `max_token_lifetime`, after which no token it covers can still be valid.
        """
        now = self._clock()
        revoked_at = now if issued_before is None else min(float(issued_before), now)
        with self._lock:
            self._make_room(self._subjects)
            self._subjects[subject] = (revoked_at, now + max_token_lifetime + _MAX_LEEWAY)

    def is_revoked(self, principal: Principal) -> bool:
        """True when `principal`'s `jti` or subject was revoked."""
        with self._lock:
            jti = principal.token_id
            if jti is not None and jti in self._tokens:
                return True
            subject = principal.subject
            if subject is None or subject not in self._subjects:
                return False
            revoked_at, _ = self._subjects[subject]
        issued_at = principal.claims.get("iat")
        if isinstance(issued_at, int | float) and not isinstance(issued_at, bool):
            return issued_at <= revoked_at + self._leeway
        return True

    __call__ = is_revoked

    def __len__(self) -> int:
        with self._lock:
            self._tokens.expire()
            self._subjects.expire()
            return len(self._tokens) + len(self._subjects)

    @staticmethod
    def _make_room(cache: cachetools.TLRUCache[str, Any, float]) -> None:
        cache.expire()
        if len(cache) >= cache.maxsize:
            # Evicting would silently un-revoke a live token: refuse, loudly.
            raise JWTGuardError("the revocation denylist is full; raise its maxsize or use an external store")


def _expires_at(key: str, value: float, now: float) -> float:
    return value


def _subject_expires_at(key: str, value: tuple[float, float], now: float) -> float:
    return value[1]
