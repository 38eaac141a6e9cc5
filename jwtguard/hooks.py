"""Every public plug-in type in one place: the callables settings accept, and what they are given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ._request import RequestInfo
from .errors import AuthError, TokenContext
from .principal import Principal

__all__ = ["DecisionObserver", "ErrorBodyHook", "KeyEvent", "KeyEventHook", "RequestInfo", "RevocationHook"]

#: Called with the error and the default problem-details body; returns the body to send instead.
ErrorBodyHook = Callable[[AuthError, dict[str, Any]], Mapping[str, Any]]

#: Called with the verified principal; True means the token was revoked (async under ASGI only).
RevocationHook = Callable[[Principal], "bool | Awaitable[bool]"]


@runtime_checkable
class DecisionObserver(Protocol):
    """Told of every decision the guard makes on a request (`Guard(..., observers=[...])`), after the log.

    `accepted` runs for every accepted request, cache hits included: keep it cheap. Neither may raise.
    Requests on excluded paths and anonymous requests (`allow_anonymous`) are not decisions about a token.
    """

    def accepted(self, principal: Principal, context: TokenContext, request: RequestInfo, *, cached: bool) -> None:
        """`cached`: the token came from the verified-token cache (no signature was checked for it)."""

    def refused(self, error: AuthError, request: RequestInfo) -> None: ...


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """Something a key set did, for metrics: passed to `Settings.key_event_hook`. `name` is one of:

    - `jwks_fetch_succeeded`: a fetch installed keys; `duration` and `keys` (how many are usable) are set.
    - `jwks_fetch_failed`: a fetch failed; `duration` and `error` (a sentence safe to log) are set. The last
      good keys keep serving until `jwks_max_stale` after they expire.
    - `jwks_stale_served`: a request was served with expired keys while the key endpoint fails; `age` is
      how old they are.
    - `jwks_refresh_suppressed`: a token named a `kid` the keys lack, and no refresh was allowed yet
      (`jwks_min_refresh_interval`, or the endpoint is failing).

    `source` is the key URL with its credentials and query redacted, or `discovery:<issuer>`, or `static jwks`.
    """

    name: str
    source: str
    duration: float | None = None
    error: str | None = None
    keys: int | None = None
    age: float | None = None


#: Called with every key-management event (fetches, stale keys served, refreshes suppressed). It must not
#: block: it runs on the fetch thread or the request's.
KeyEventHook = Callable[[KeyEvent], None]
