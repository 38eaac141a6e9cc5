"""Every public plug-in type in one place: the callables settings accept, and what they are given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ._request import RequestInfo
from .errors import AuthError, TokenContext
from .principal import Principal

__all__ = ["DecisionObserver", "ErrorBodyHook", "RequestInfo", "RevocationHook"]

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
