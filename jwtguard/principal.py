"""The verified token handed to the application, and what a route or the settings require of it.

`Principal` is the verified token: read-only claims, scopes, roles and permissions, and Starlette's user
protocol. The requirements are small objects that check a `Principal` and raise the refusal:

    Scopes, Roles, Permissions, ClaimEquals     one kind of fact each
    Acr, MaxAge                                 how, and how recently, the user signed in (RFC 9470 step-up)
    AllOf (a & b), AnyOf (a | b)                their combinations
    parse_requirement("scope:a | role:b", ...)  the same, written as text (settings, environment, command line)

A requirement that scopes alone can meet is refused with 403 `insufficient_scope` and names those scopes in the
challenge (RFC 6750 §3.1); one that a new sign-in alone can meet (`Acr`, `MaxAge`, and what the token already
meets) with 401 `insufficient_user_authentication` naming `acr_values` and `max_age` (RFC 9470 §3); any other with
403 `insufficient_role`, whose challenge has no `error` attribute.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, runtime_checkable

from ._claim_path import ABSENT, ClaimPath, kind
from .errors import (
    AuthError,
    ClaimInvalid,
    ConfigurationError,
    InsufficientRole,
    InsufficientScope,
    InsufficientUserAuthentication,
    TokenContext,
    TokenMissing,
)

__all__ = [
    "UNAUTHENTICATED_REASON",
    "Acr",
    "AllOf",
    "AnyOf",
    "BaseRequirement",
    "ClaimEquals",
    "MaxAge",
    "Permissions",
    "Principal",
    "Requirement",
    "Roles",
    "ScopeRequirement",
    "Scopes",
    "check_scopes",
    "parse_requirement",
    "require",
    "scopes_from_claims",
    "to_requirement",
]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); also what a header value can carry.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# A role, permission or claim value: no control characters (C0, DEL, C1) anywhere.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The text form may also span lines and use tabs between terms (a settings file, a Django dict).
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


_EMPTY = frozenset({""})
_NO_NAMES: frozenset[str] = frozenset()
_NO_CONTEXT = TokenContext()

#: The reason logged when a route needs a token and the request had none.
UNAUTHENTICATED_REASON = "route requires a token, the request had none"


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

    __slots__ = ("_context", "_context_of", "claims", "clock", "permissions", "roles", "scopes")

    claims: Mapping[str, Any]
    scopes: frozenset[str]
    roles: frozenset[str]
    permissions: frozenset[str]
    #: The wall clock the token's times were checked against (the guard's `clock`), for requirements that
    #: compare a time claim with now (`MaxAge`).
    clock: Callable[[], float]

    def __init__(
        self,
        claims: Mapping[str, Any],
        scopes: frozenset[str] | None = None,
        token_context: TokenContext | None = None,
        *,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.claims = MappingProxyType(dict(claims))
        self.clock = clock
        self._context: TokenContext | None = token_context or TokenContext(verified=True)
        self._context_of: tuple[str | None, str, str] | None = None
        if scopes is None:
            scopes = scopes_from_claims(self.claims) or frozenset()
        self.scopes = scopes
        if isinstance(roles, str) or isinstance(permissions, str):
            raise TypeError("roles and permissions are collections of names, not one string")
        self.roles = frozenset(roles)
        self.permissions = frozenset(permissions)

    @classmethod
    def _verified(
        cls,
        claims: dict[str, Any],
        scopes: frozenset[str],
        kid: str | None,
        alg: str,
        token: str,
        roles: frozenset[str] = _NO_NAMES,
        permissions: frozenset[str] = _NO_NAMES,
        clock: Callable[[], float] = time.time,
    ) -> Principal:
        # For the guard, on every newly verified token: `claims` is a dict it parsed itself and hands over, so
        # no defensive copy, and the sets are its own frozensets (shared empty ones when none are configured).
        # The token context is built when first read (a log record or a refusal needs it; most accepted
        # requests don't).
        principal = cls.__new__(cls)
        principal.claims = MappingProxyType(claims)
        principal.scopes = scopes
        principal.roles = roles
        principal.permissions = permissions
        principal.clock = clock
        principal._context = None
        principal._context_of = (kid, alg, token)
        return principal

    @property
    def token_context(self) -> TokenContext:
        """What logs may say about this token (fingerprint, kid, alg, iss, sub, jti), never the token itself."""
        context = self._context
        if context is None:  # two threads may both build it: alike, and either is kept
            kid, alg, token = self._context_of or (None, None, None)
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

    def has_roles(self, *roles: str) -> bool:
        """True when the token has every one of `roles` (exact, case-sensitive comparison)."""
        return self.roles.issuperset(roles)

    def has_permissions(self, *permissions: str) -> bool:
        """True when the token has every one of `permissions` (exact, case-sensitive comparison)."""
        return self.permissions.issuperset(permissions)

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
        return (
            f"Principal(subject={self.subject!r}, issuer={self.issuer!r}, scopes={sorted(self.scopes)!r}, "
            f"roles={sorted(self.roles)!r})"
        )


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


def _check_names(names: Sequence[str], what: str, where: str) -> tuple[str, ...]:
    """Role or permission names: at least one, each a non-empty string without whitespace or control characters;
    duplicates dropped, order kept."""
    if not names:
        raise ConfigurationError(f"{where}: name at least one {what}")
    for name in names:
        if not isinstance(name, str) or not name or _CONTROL.search(name) or any(char.isspace() for char in name):
            raise ConfigurationError(
                f"{where}: {name!r} is not a {what} name (a non-empty string without spaces or control characters); "
                f"list {what}s one by one"
            )
    return tuple(dict.fromkeys(names))


@runtime_checkable
class Requirement(Protocol):
    """What a verified token must grant: `check` returns, or raises the `AuthError` it refuses with.

    Settings (`required_scopes`) and the route helpers of every framework build the same objects. Any object
    with this method can be given to a route helper; `BaseRequirement`'s kinds also combine with `&` and `|`
    and have a text form.
    """

    def check(self, principal: Principal) -> None: ...


# The precedence of a requirement's text form, for placing parentheses: a single term binds tightest.
_TERM, _AND, _OR = 2, 1, 0
# A requirement reduced to what it means, for `==` and `hash`: a term ("scope", name), ("role", name),
# ("permission", name), ("claim", segments, value), ("acr", value), ("max_age", seconds), or ("all" | "any",
# frozenset of those), flattened.
_Meaning = tuple[Any, ...]
# What a new sign-in must bring to meet a requirement: `acr` values (one of them, in order of preference) and a
# `max_age` in seconds; ((), None) when the token already meets it.
_StepUp = tuple[tuple[str, ...], int | None]
_NO_STEP_UP: _StepUp = ((), None)


def _combined(operator: str, meanings: Iterable[_Meaning]) -> _Meaning:
    parts: set[_Meaning] = set()
    for meaning in meanings:
        if meaning[0] == operator:
            parts.update(meaning[1])
        else:
            parts.add(meaning)
    return next(iter(parts)) if len(parts) == 1 else (operator, frozenset(parts))


class BaseRequirement:
    """The requirement kinds of this module: they combine with `&` (`AllOf`) and `|` (`AnyOf`), compare equal
    when they mean the same (whatever the order or grouping), and `str()` gives the text form that
    `parse_requirement` reads back.

    A failed check raises `InsufficientScope` naming the scopes when scopes alone can meet the requirement (it
    is `Scopes`, or every unmet part is, or an `AnyOf` has such a branch); otherwise `InsufficientRole`.
    """

    __slots__ = ("_meaning",)

    _meaning: _Meaning

    def check(self, principal: Principal) -> None:
        """Return when `principal` meets this requirement; raise the refusal otherwise."""
        if not self._met(principal):
            raise self._refusal(principal)

    def _met(self, principal: Principal) -> bool:
        raise NotImplementedError

    def _scope_fix(self, principal: Principal) -> tuple[str, ...] | None:
        """The scopes that, granted, would meet this requirement given the token's other facts; None when no
        scopes would. Lists every scope the requirement names on the path taken, as RFC 6750's `scope` does."""
        return () if self._met(principal) else None

    def _step_up(self, principal: Principal) -> _StepUp | None:
        """What a new sign-in must bring (`acr` values, `max_age`) to meet this requirement given the token's other
        facts; None when no sign-in would."""
        return _NO_STEP_UP if self._met(principal) else None

    def _refusal(self, principal: Principal) -> AuthError:
        text = str(self)
        scopes = self._scope_fix(principal)
        if scopes:
            return InsufficientScope(
                scopes,
                f"token does not meet {text}",
                context=principal.token_context,
                details={"required": text, "granted_scopes": sorted(principal.scopes)},
            )
        step_up = self._step_up(principal)
        if step_up is not None and step_up != _NO_STEP_UP:
            acr_values, max_age = step_up
            return InsufficientUserAuthentication(
                acr_values,
                max_age,
                f"token does not meet {text}",
                context=principal.token_context,
                details={"required": text, "acr": principal.claims.get("acr"), "auth_time": _auth_time(principal)},
            )
        return InsufficientRole(
            text,
            f"token does not meet {text}; it has roles {_names_for_log(principal.roles)} and permissions "
            f"{_names_for_log(principal.permissions)}",
            context=principal.token_context,
        )

    def _text(self) -> tuple[str, int]:
        """The text form and its precedence."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self._text()[0]

    def __and__(self, other: BaseRequirement) -> AllOf:
        if not isinstance(other, BaseRequirement):
            return NotImplemented
        return AllOf(self, other)

    def __or__(self, other: BaseRequirement) -> AnyOf:
        if not isinstance(other, BaseRequirement):
            return NotImplemented
        return AnyOf(self, other)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseRequirement):
            return NotImplemented
        return self._meaning == other._meaning

    def __hash__(self) -> int:
        return hash(self._meaning)


def _names_for_log(names: frozenset[str]) -> str:
    # Names from a verified token, for the operator's log (the `reason`): sorted, printable, and short.
    shown: list[str] = []
    length = 0
    for name in sorted(names):
        name = "".join(char if char.isprintable() else "?" for char in name[:40])
        if length + len(name) > 120:
            shown.append(f"... {len(names) - len(shown)} more")
            break
        shown.append(name)
        length += len(name) + 2
    return "[" + ", ".join(shown) + "]"


class _Names(BaseRequirement):
    """Every one of some names held in one of the principal's sets."""

    __slots__ = ("names",)

    _kind: ClassVar[str]  # the term's keyword in the text form

    names: tuple[str, ...]

    def __init__(self, *names: str, where: str | None = None) -> None:
        self.names = _check_names(names, self._kind, where or type(self).__name__)
        self._meaning = _combined("all", ((self._kind, name) for name in self.names))

    def _held(self, principal: Principal) -> frozenset[str]:
        raise NotImplementedError

    def _met(self, principal: Principal) -> bool:
        return self._held(principal).issuperset(self.names)

    def _text(self) -> tuple[str, int]:
        return _all_text(self._kind, self.names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.names))})"


def _all_text(keyword: str, names: Sequence[str]) -> tuple[str, int]:
    return " & ".join(f"{keyword}:{_quoted(name)}" for name in names), _TERM if len(names) == 1 else _AND


class Scopes(BaseRequirement):
    """Every one of `scopes` (RFC 6749 scope-tokens, whole words, compared exactly), or 403 `insufficient_scope`
    naming them all."""

    __slots__ = ("reason", "scopes")

    scopes: tuple[str, ...]
    reason: str

    def __init__(self, *scopes: str, where: str | None = None) -> None:
        where = where or "Scopes"
        if not scopes:
            raise ConfigurationError(f"{where}: name at least one scope")
        self._setup(scopes, where, None)

    def _setup(self, scopes: Sequence[str], where: str, reason: str | None) -> None:
        self.scopes = tuple(dict.fromkeys(check_scopes(scopes, where)))
        self.reason = reason or f"token does not meet {self}"
        self._meaning = _combined("all", (("scope", scope) for scope in self.scopes))

    def check(self, principal: Principal) -> None:
        # On the guard's path for `required_scopes`: one set operation.
        if not principal.scopes.issuperset(self.scopes):
            raise InsufficientScope(
                self.scopes,
                self.reason,
                context=principal.token_context,
                details={"required": list(self.scopes), "granted_scopes": sorted(principal.scopes)},
            )

    def _met(self, principal: Principal) -> bool:
        return principal.scopes.issuperset(self.scopes)

    def _scope_fix(self, principal: Principal) -> tuple[str, ...] | None:
        return self.scopes

    def _text(self) -> tuple[str, int]:
        return _all_text("scope", self.scopes)

    def __repr__(self) -> str:
        return f"Scopes({', '.join(map(repr, self.scopes))})"


class ScopeRequirement(Scopes):
    """`Scopes` as settings and the scope helpers build it: from a sequence, with the refusal's log reason.

    With no scopes it is met by every token (`RequireScopes()` only requires a valid token).
    """

    __slots__ = ()

    def __init__(self, scopes: Sequence[str], *, where: str = "required scopes", reason: str | None = None) -> None:
        self._setup(scopes, where, reason or f"token lacks a scope in {where}")

    @classmethod
    def for_route(cls, scopes: Sequence[str], where: str) -> ScopeRequirement:
        """The requirement of a route helper (`require_scopes`, `RequireScopes`) named `where`."""
        return cls(scopes, where=where, reason="token lacks a scope the route requires")

    def __repr__(self) -> str:
        return f"ScopeRequirement({list(self.scopes)!r})"


class Roles(_Names):
    """Every one of `roles` in `Principal.roles` (exact, case-sensitive), or 403 `insufficient_role`."""

    __slots__ = ()

    _kind = "role"

    def _held(self, principal: Principal) -> frozenset[str]:
        return principal.roles


class Permissions(_Names):
    """Every one of `permissions` in `Principal.permissions` (exact, case-sensitive), or 403 `insufficient_role`."""

    __slots__ = ()

    _kind = "permission"

    def _held(self, principal: Principal) -> frozenset[str]:
        return principal.permissions


class ClaimEquals(BaseRequirement):
    """The verified claim at `name` is a string equal to one of `allowed_values`, or a list holding one.

    `name` is a claim path: a top-level claim (`tid`), or segments separated by dots with a dotted name in quotes
    (`org.id`, `"https://example.com/tenant"`). An absent claim does not match (403 `insufficient_role`); a value
    of another type (a number, an object, a list holding a non-string, a path through a non-object) is the
    token's fault: 401 `claim_invalid` naming the path. Values are compared exactly.
    """

    __slots__ = ("_allowed", "path", "values")

    path: ClaimPath
    values: tuple[str, ...]
    _allowed: frozenset[str]

    def __init__(self, name: str, *allowed_values: str, where: str | None = None) -> None:
        where = where or "ClaimEquals"
        self.path = ClaimPath.parse(name, where)
        if not allowed_values:
            raise ConfigurationError(f"{where}: name at least one value claim {name!r} may have")
        for value in allowed_values:
            if not isinstance(value, str) or not value or _CONTROL.search(value):
                raise ConfigurationError(
                    f"{where}: {value!r} is not a claim value (a non-empty string without control characters)"
                )
        self.values = tuple(dict.fromkeys(allowed_values))
        self._allowed = frozenset(self.values)
        self._meaning = _combined("any", (("claim", self.path.segments, value) for value in self.values))

    def _met(self, principal: Principal) -> bool:
        try:
            value = self.path.read(principal.claims)
        except ClaimInvalid as exc:
            exc.context = principal.token_context
            raise
        if value is ABSENT:
            return False
        if isinstance(value, str):
            return value in self._allowed
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return not self._allowed.isdisjoint(value)
        text = self.path.text
        raise ClaimInvalid(
            f"claim {text!r} is {kind(value)}, not a string or a list of strings",
            context=principal.token_context,
            claim=text,
        )

    def _text(self) -> tuple[str, int]:
        path = _path_in_text(self.path)
        text = " | ".join(f"claim:{path}={_quoted(value)}" for value in self.values)
        return text, _TERM if len(self.values) == 1 else _OR

    def __repr__(self) -> str:
        return f"ClaimEquals({', '.join(map(repr, (self.path.text, *self.values)))})"


def _auth_time(principal: Principal) -> float | None:
    """The `auth_time` claim (RFC 9068 §2.2.1, OIDC Core §2) as a number, None when absent; 401 `claim_invalid`
    when it is not a NumericDate."""
    value = principal.claims.get("auth_time")
    if value is None:
        return None
    if type(value) is int or type(value) is float:
        return float(value)
    raise ClaimInvalid(
        f"claim 'auth_time' is {kind(value)}, not a NumericDate", context=principal.token_context, claim="auth_time"
    )


class Acr(BaseRequirement):
    """The `acr` claim (the authentication context class of the user's sign-in) is one of `values`, compared
    exactly; else 401 `insufficient_user_authentication` with `acr_values` in the challenge (RFC 9470), in the
    order given here (the first is the one the client should ask for). An `acr` that is not a string is 401
    `claim_invalid`.

        Acr("urn:mace:incommon:iap:silver", "urn:mace:incommon:iap:gold")    text: acr:VALUE | acr:VALUE
    """

    __slots__ = ("_allowed", "values")

    values: tuple[str, ...]
    _allowed: frozenset[str]

    def __init__(self, *values: str, where: str | None = None) -> None:
        where = where or "Acr"
        if not values:
            raise ConfigurationError(f"{where}: name at least one acr value")
        for value in values:
            # RFC 9470 §3: acr_values is a space-separated list, so a value holds no whitespace.
            if not isinstance(value, str) or not value or _CONTROL.search(value) or any(c.isspace() for c in value):
                raise ConfigurationError(
                    f"{where}: {value!r} is not an acr value (a non-empty string without spaces or control characters)"
                )
        self.values = tuple(dict.fromkeys(values))
        self._allowed = frozenset(self.values)
        self._meaning = _combined("any", (("acr", value) for value in self.values))

    def _met(self, principal: Principal) -> bool:
        value = principal.claims.get("acr")
        if value is None:
            return False
        if isinstance(value, str):
            return value in self._allowed
        raise ClaimInvalid(f"claim 'acr' is {kind(value)}, not a string", context=principal.token_context, claim="acr")

    def _step_up(self, principal: Principal) -> _StepUp | None:
        return _NO_STEP_UP if self._met(principal) else (self.values, None)

    def _text(self) -> tuple[str, int]:
        text = " | ".join(f"acr:{_quoted(value)}" for value in self.values)
        return text, _TERM if len(self.values) == 1 else _OR

    def __repr__(self) -> str:
        return f"Acr({', '.join(map(repr, self.values))})"


class MaxAge(BaseRequirement):
    """The user signed in at most `seconds` ago: the `auth_time` claim is present and the guard's clock, less
    `auth_time`, is at most `seconds`; else 401 `insufficient_user_authentication` with `max_age` in the challenge
    (RFC 9470). An `auth_time` that is not a number is 401 `claim_invalid`.

        MaxAge(300)    text: max_age:300
    """

    __slots__ = ("seconds",)

    seconds: int

    def __init__(self, seconds: int, *, where: str | None = None) -> None:
        where = where or "MaxAge"
        if type(seconds) is not int or seconds < 0:
            raise ConfigurationError(f"{where}: {seconds!r} is not a number of seconds (an integer, 0 or more)")
        self.seconds = seconds
        self._meaning = ("max_age", seconds)

    def _met(self, principal: Principal) -> bool:
        auth_time = _auth_time(principal)
        return auth_time is not None and principal.clock() - auth_time <= self.seconds

    def _step_up(self, principal: Principal) -> _StepUp | None:
        return _NO_STEP_UP if self._met(principal) else ((), self.seconds)

    def _text(self) -> tuple[str, int]:
        return f"max_age:{self.seconds}", _TERM

    def __repr__(self) -> str:
        return f"MaxAge({self.seconds!r})"


class _Combination(BaseRequirement):
    __slots__ = ("requirements",)

    _operator: ClassVar[str]  # "all" or "any"
    _symbol: ClassVar[str]  # "&" or "|"
    _precedence: ClassVar[int]

    requirements: tuple[BaseRequirement, ...]

    def __init__(self, *requirements: BaseRequirement) -> None:
        name = type(self).__name__
        if not requirements:
            raise ConfigurationError(f"{name}: combine at least one requirement")
        flat: list[BaseRequirement] = []
        for requirement in requirements:
            if not isinstance(requirement, BaseRequirement):
                raise ConfigurationError(
                    f"{name} combines Scopes, Roles, Permissions, ClaimEquals, Acr, MaxAge, AllOf and AnyOf, "
                    f"not {type(requirement).__name__}"
                )
            if isinstance(requirement, Scopes) and not requirement.scopes:
                raise ConfigurationError(f"{name}: a requirement of no scopes is met by every token; leave it out")
            if type(requirement) is type(self):  # (a & b) & c is a & b & c
                flat.extend(requirement.requirements)
            else:
                flat.append(requirement)
        self.requirements = tuple(flat)
        self._meaning = _combined(self._operator, (requirement._meaning for requirement in flat))

    def _text(self) -> tuple[str, int]:
        if len(self.requirements) == 1:
            return self.requirements[0]._text()
        parts = []
        for requirement in self.requirements:
            text, precedence = requirement._text()
            # Parentheses where the grammar needs them, and around an AND inside an OR, for the reader.
            parts.append(f"({text})" if precedence != _TERM and precedence != self._precedence else text)
        return f" {self._symbol} ".join(parts), self._precedence

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.requirements))})"


class AllOf(_Combination):
    """Every one of `requirements` (also `a & b`)."""

    __slots__ = ()

    _operator = "all"
    _symbol = "&"
    _precedence = _AND

    def _met(self, principal: Principal) -> bool:
        return all(requirement._met(principal) for requirement in self.requirements)

    def _scope_fix(self, principal: Principal) -> tuple[str, ...] | None:
        scopes: list[str] = []
        for requirement in self.requirements:
            fix = requirement._scope_fix(principal)
            if fix is None:
                return None
            scopes.extend(fix)
        return tuple(dict.fromkeys(scopes))

    def _step_up(self, principal: Principal) -> _StepUp | None:
        # Every part at once: the acr values all the parts accept (in the first part's order), the shortest age.
        acr_values: tuple[str, ...] | None = None
        max_age: int | None = None
        for requirement in self.requirements:
            fix = requirement._step_up(principal)
            if fix is None:
                return None
            values, age = fix
            if values:
                acr_values = values if acr_values is None else tuple(v for v in acr_values if v in values)
                if not acr_values:
                    return None  # no one sign-in has two acr values
            if age is not None:
                max_age = age if max_age is None else min(max_age, age)
        return acr_values or (), max_age


class AnyOf(_Combination):
    """At least one of `requirements` (also `a | b`), tried in order until one is met."""

    __slots__ = ()

    _operator = "any"
    _symbol = "|"
    _precedence = _OR

    def _met(self, principal: Principal) -> bool:
        return any(requirement._met(principal) for requirement in self.requirements)

    def _scope_fix(self, principal: Principal) -> tuple[str, ...] | None:
        for requirement in self.requirements:
            if requirement._met(principal):  # met: the scopes of the branch that meets it, if any
                return requirement._scope_fix(principal)
        for requirement in self.requirements:
            fix = requirement._scope_fix(principal)
            if fix is not None:  # the first branch that scopes can meet
                return fix
        return None

    def _step_up(self, principal: Principal) -> _StepUp | None:
        if self._met(principal):
            return _NO_STEP_UP
        fixes = [fix for requirement in self.requirements if (fix := requirement._step_up(principal)) is not None]
        if not fixes:
            return None
        if all(age is None for _, age in fixes):  # `acr:a | acr:b`: any of them, in the order written
            return tuple(dict.fromkeys(value for values, _ in fixes for value in values)), None
        return fixes[0]  # the first branch that a sign-in can meet


# -- the text form -----------------------------------------------------------------------------------------

_KINDS = ("scope", "role", "permission", "claim", "acr", "max_age")
# What ends a bare name in the text form; a name holding one of these (or nothing) is written in quotes.
_DELIMITERS = frozenset('&|()"')
_PATH_ENDS = frozenset("&|()=")


def _path_in_text(path: ClaimPath) -> str:
    """The claim path as the text form reads it back: as written, unless it holds a character the text form
    takes for an operator or the '=' (then each segment holding one, or a dot, is quoted)."""
    if not any(char in _PATH_ENDS or char.isspace() for char in path.text):
        return path.text
    return ".".join(
        f'"{segment}"' if any(char in _PATH_ENDS or char == "." or char.isspace() for char in segment) else segment
        for segment in path.segments
    )


def _quoted(name: str) -> str:
    if name and not any(char in _DELIMITERS or char.isspace() for char in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_requirement(text: str, where: str) -> BaseRequirement:
    """The requirement written `text`, or `ConfigurationError` naming `where` and the position.

    Terms are `scope:NAME`, `role:NAME`, `permission:NAME`, `claim:PATH=VALUE` (PATH as in `ClaimEquals`),
    `acr:VALUE` (`Acr`) and `max_age:SECONDS` (`MaxAge`); `&` binds tighter than `|`; parentheses group; spaces
    around operators are ignored. A name or value with spaces or one of `&|()"` is written in double quotes, with
    `\\"` and `\\\\` inside:

        scope:orders.read | role:Orders.Reader
        (role:admin | role:ops) & claim:tid=1234
        claim:"https://example.com/tenant"="Example Inc."
        scope:payments.write & (acr:urn:example:mfa | acr:phrh) & max_age:300
    """
    if not isinstance(text, str):
        raise ConfigurationError(f"{where}: a requirement is text, not {type(text).__name__}")
    return _Parser(text, where).parse()


def to_requirement(requirement: Requirement | str, where: str) -> Requirement:
    """What a route helper is given, as a requirement: an object with `check`, or the text form."""
    if isinstance(requirement, str):
        return parse_requirement(requirement, where)
    if not isinstance(requirement, Requirement):
        raise ConfigurationError(
            f"{where}: {type(requirement).__name__} is not a requirement (Scopes(...), Roles(...), ..., or text)"
        )
    return requirement


class _Parser:
    """Recursive descent over the text form: any := all ('|' all)*; all := atom ('&' atom)*; atom := '(' any ')'
    | term."""

    __slots__ = ("position", "text", "where")

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self.position = 0

    def fail(self, message: str, position: int | None = None) -> ConfigurationError:
        at = self.position if position is None else position
        return ConfigurationError(f"{self.here(at)}: {message}")

    def here(self, position: int) -> str:
        return f"{self.where}, position {position} of {self.text!r}"

    def parse(self) -> BaseRequirement:
        control = _CONTROL_IN_TEXT.search(self.text)
        if control is not None:
            raise self.fail("a control character", control.start())
        if not self.text.strip():
            raise self.fail("no requirement")
        requirement = self.any_of()
        self.skip_spaces()
        if self.position < len(self.text):
            raise self.fail(
                f"expected '&', '|' or the end, found {self.text[self.position]!r} (a name with spaces or one of "
                '&|()" is written in double quotes)'
            )
        return requirement

    def skip_spaces(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def take(self, symbol: str) -> bool:
        self.skip_spaces()
        if self.text.startswith(symbol, self.position):
            self.position += len(symbol)
            return True
        return False

    def any_of(self) -> BaseRequirement:
        branches = [self.all_of()]
        while self.take("|"):
            branches.append(self.all_of())
        return branches[0] if len(branches) == 1 else AnyOf(*branches)

    def all_of(self) -> BaseRequirement:
        parts = [self.atom()]
        while self.take("&"):
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else AllOf(*parts)

    def atom(self) -> BaseRequirement:
        self.skip_spaces()
        start = self.position
        if self.take("("):
            inner = self.any_of()
            if not self.take(")"):
                raise self.fail(f"expected ')' to close the '(' at position {start}")
            return inner
        colon = self.text.find(":", start)
        keyword = self.text[start:colon] if colon >= 0 else ""
        if keyword not in _KINDS:
            found = repr(self.text[start]) if start < len(self.text) else "the end"
            raise self.fail(f"expected scope:, role:, permission:, claim:, acr:, max_age: or '(', found {found}")
        self.position = colon + 1
        where = self.here(start)
        if keyword == "claim":
            path = self.claim_path()
            if not self.text.startswith("=", self.position):
                raise self.fail("expected '=' and a value after the claim path")
            self.position += 1
            return ClaimEquals(path, self.name("a claim value"), where=where)
        if keyword == "max_age":
            seconds = self.name("a number of seconds")
            if not seconds.isdigit() or not seconds.isascii():
                raise self.fail(f"max_age takes a number of seconds, not {seconds!r}", colon + 1)
            return MaxAge(int(seconds), where=where)
        if keyword == "acr":
            return Acr(self.name("an acr value"), where=where)
        name = self.name(f"a {keyword} name")
        if keyword == "scope":
            return Scopes(name, where=where)
        return Roles(name, where=where) if keyword == "role" else Permissions(name, where=where)

    def claim_path(self) -> str:
        # Up to the first '=' outside quotes; the path's own syntax is checked by ClaimPath.parse.
        start, text = self.position, self.text
        while self.position < len(text) and text[self.position] != "=":
            char = text[self.position]
            if char == '"':
                end = text.find('"', self.position + 1)
                if end < 0:
                    raise self.fail("an unbalanced quote in the claim path")
                self.position = end + 1
            elif char in _DELIMITERS or char.isspace():
                break
            else:
                self.position += 1
        if self.position == start:
            raise self.fail("expected a claim path after 'claim:'")
        return text[start : self.position]

    def name(self, what: str) -> str:
        text = self.text
        if self.text.startswith('"', self.position):
            start = self.position
            self.position += 1
            chars: list[str] = []
            while self.position < len(text):
                char = text[self.position]
                if char == '"':
                    self.position += 1
                    return "".join(chars)
                if char == "\\":
                    escaped = text[self.position + 1 : self.position + 2]
                    if escaped not in ('"', "\\"):
                        raise self.fail('only \\" and \\\\ are escapes inside quotes')
                    chars.append(escaped)
                    self.position += 2
                else:
                    chars.append(char)
                    self.position += 1
            raise self.fail("an unbalanced quote", start)
        start = self.position
        while self.position < len(text) and not (text[self.position] in _DELIMITERS or text[self.position].isspace()):
            self.position += 1
        if self.position == start:
            raise self.fail(f"expected {what}")
        return text[start : self.position]


def require(principal: object, requirement: Requirement) -> Principal:
    """The `Principal` if it meets `requirement`: for route helpers, which may run on excluded or anonymous
    requests (then `TokenMissing`)."""
    if not isinstance(principal, Principal):
        raise TokenMissing(UNAUTHENTICATED_REASON)
    try:
        requirement.check(principal)
    except AuthError as exc:
        if exc.context == _NO_CONTEXT:  # an application's own requirement: the log still says whose token
            exc.context = principal.token_context
        raise
    return principal
