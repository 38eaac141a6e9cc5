"""The verified token handed to the application: read-only claims plus Starlette's user protocol."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from .errors import ConfigurationError, InsufficientScope, TokenContext, TokenMissing

__all__ = ["Principal", "Requirement", "ScopeRequirement", "check_scopes", "require", "scopes_from_claims"]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); also what a header value can carry.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


_EMPTY = frozenset({""})


def scopes_from_claims(claims: Mapping[str, Any]) -> frozenset[str] | None:
    """The granted scopes: `scope` (RFC 8693 §4.2, space-separated) or else `scp` (list or string).

    RFC 6749 §3.3 separates scope tokens by the space character (U+0020) alone: a granted
    "photos.x\u3000admin" is one scope, not two, so it never satisfies a requirement for "admin".

    Returns None when the claim has a type no issuer uses, so the caller can refuse the token.
    """
    for name in ("scope", "scp"):
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, str):
            return frozenset(value.split(" ")) - _EMPTY
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return frozenset(value)
        return None
    return frozenset()


class Principal:
    """A verified token. Every value here was checked against a trusted signature.

    It is what `scope["auth"]` and `scope["user"]` hold, so Starlette's `request.user`,
    `request.auth.scopes` and `@requires(...)` work with it unchanged.
    """

    __slots__ = ("_context", "_context_of", "claims", "scopes")

    claims: Mapping[str, Any]
    scopes: frozenset[str]

    def __init__(
        self,
        claims: Mapping[str, Any],
        scopes: frozenset[str] | None = None,
        token_context: TokenContext | None = None,
    ) -> None:
        self.claims = MappingProxyType(dict(claims))
        self._context: TokenContext | None = token_context or TokenContext(verified=True)
        self._context_of: tuple[str | None, str, str] | None = None
        if scopes is None:
            scopes = scopes_from_claims(self.claims) or frozenset()
        self.scopes = scopes

    @classmethod
    def _verified(
        cls, claims: dict[str, Any], scopes: frozenset[str], kid: str | None, alg: str, token: str
    ) -> Principal:
        # For the guard: `claims` is a dict it parsed itself and hands over, so no defensive copy. The token
        # context is built when first read (a log record or a refusal needs it; most accepted requests don't).
        principal = cls.__new__(cls)
        principal.claims = MappingProxyType(claims)
        principal.scopes = scopes
        principal._context = None
        principal._context_of = (kid, alg, token)
        return principal

    @property
    def token_context(self) -> TokenContext:
        """What logs may say about this token (fingerprint, kid, alg, iss, sub, jti), never the token itself."""
        context = self._context
        if context is None:
            kid, alg, token = self._context_of or (None, "", "")
            iss, sub, jti = self.claims.get("iss"), self.claims.get("sub"), self.claims.get("jti")
            context = self._context = TokenContext(
                None,
                kid,
                alg,
                iss if type(iss) is str else None,  # a claim check refuses other types; the log must not show them
                sub if type(sub) is str else None,
                jti if type(jti) is str else None,
                True,
                token=token,
            )
            self._context_of = None
        return context

    def _str_claim(self, name: str) -> str | None:
        value = self.claims.get(name)
        return value if isinstance(value, str) else None

    @property
    def subject(self) -> str | None:
        """The `sub` claim."""
        return self._str_claim("sub")

    @property
    def issuer(self) -> str | None:
        """The `iss` claim."""
        return self._str_claim("iss")

    @property
    def token_id(self) -> str | None:
        """The `jti` claim."""
        return self._str_claim("jti")

    @property
    def audience(self) -> tuple[str, ...]:
        """The `aud` claim as a tuple."""
        value = self.claims.get("aud")
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):
            return tuple(item for item in value if isinstance(item, str))
        return ()

    @property
    def expires_at(self) -> float | None:
        """The `exp` claim (seconds since the epoch)."""
        value = self.claims.get("exp")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def has_scopes(self, *scopes: str) -> bool:
        """True when every one of `scopes` was granted (whole-word comparison)."""
        return all(scope in self.scopes for scope in scopes)

    # Starlette's BaseUser protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.subject or ""

    @property
    def identity(self) -> str:
        return self.subject or ""

    def __repr__(self) -> str:
        # Claims can hold personal data; a repr that lands in a log shows only who and what.
        return f"Principal(subject={self.subject!r}, issuer={self.issuer!r}, scopes={sorted(self.scopes)!r})"


def check_scopes(scopes: Sequence[str], where: str) -> tuple[str, ...]:
    """The scopes as a tuple, or `ConfigurationError` if one is not an RFC 6749 scope-token."""
    if isinstance(scopes, str):
        scopes = (scopes,)
    for scope in scopes:
        if not isinstance(scope, str) or _SCOPE_TOKEN.fullmatch(scope) is None:
            raise ConfigurationError(
                f"{where}: {scope!r} is not a scope (printable ASCII without spaces, quotes or backslashes); "
                "list scopes one by one"
            )
    return tuple(scopes)


@runtime_checkable
class Requirement(Protocol):
    """What a verified token must grant: `check` returns, or raises the `AuthError` it refuses with.

    Settings (`required_scopes`) and the route helpers of every framework build the same objects.
    """

    def check(self, principal: Principal) -> None: ...


class ScopeRequirement:
    """Every one of `scopes` (whole words, compared exactly), or 403 `insufficient_scope` naming them."""

    __slots__ = ("reason", "scopes")

    def __init__(self, scopes: Sequence[str], *, where: str = "required scopes", reason: str | None = None) -> None:
        self.scopes = check_scopes(scopes, where)
        self.reason = reason or f"token lacks a scope in {where}"

    @classmethod
    def for_route(cls, scopes: Sequence[str], where: str) -> ScopeRequirement:
        """The requirement of a route helper (`require_scopes`, `RequireScopes`) named `where`."""
        return cls(scopes, where=where, reason="token lacks a scope the route requires")

    def check(self, principal: Principal) -> None:
        if not principal.scopes.issuperset(self.scopes):
            raise InsufficientScope(self.scopes, self.reason, context=principal.token_context)

    def __repr__(self) -> str:
        return f"ScopeRequirement({list(self.scopes)!r})"


def require(principal: object, requirement: Requirement) -> Principal:
    """The `Principal` if it meets `requirement`: for route helpers, which may run on excluded or anonymous
    requests (then `TokenMissing`)."""
    if not isinstance(principal, Principal):
        raise TokenMissing("route requires a token, the request had none")
    requirement.check(principal)
    return principal
