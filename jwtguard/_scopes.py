"""The route-level scope check shared by every framework's decorator and dependency."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InsufficientScope, TokenMissing
from .principal import Principal
from .settings import check_scopes

__all__ = ["check_scopes", "require_principal"]


def require_principal(principal: object, scopes: Sequence[str]) -> Principal:
    """The `Principal` if it grants every one of `scopes`.

    Raises `TokenMissing` for an anonymous request (excluded path or `allow_anonymous`) and
    `InsufficientScope` for a token without a required scope.
    """
    if not isinstance(principal, Principal):
        raise TokenMissing("route requires a token, the request had none")
    if not principal.has_scopes(*scopes):
        raise InsufficientScope(scopes, "token lacks a scope the route requires", context=principal.token_context)
    return principal
