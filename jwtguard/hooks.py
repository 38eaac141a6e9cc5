"""Every public plug-in type in one place: the callables settings accept, and what they are given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .errors import AuthError
from .principal import Principal

__all__ = ["ErrorBodyHook", "RevocationHook"]

#: Called with the error and the default problem-details body; returns the body to send instead.
ErrorBodyHook = Callable[[AuthError, dict[str, Any]], Mapping[str, Any]]

#: Called with the verified principal; True means the token was revoked (async under ASGI only).
RevocationHook = Callable[[Principal], "bool | Awaitable[bool]"]
