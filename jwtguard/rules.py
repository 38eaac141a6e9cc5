"""Per-route rules: which requests need what, decided from the method and the route path before any token is read.

A rule is a method set, a path pattern and an access level; the first rule that matches a request decides it,
and a request no rule matches needs a valid token (`authenticated`), as without rules. `exclude_paths` are public
rules placed first.

    public          no token is read at all (an excluded path)
    anonymous       a token is validated when one is sent; without one the request passes anonymously
    authenticated   a valid token
    <requirement>   a valid token that meets it: `scope:orders.read | role:orders-reader` (see
                    `parse_requirement`), else 403 `insufficient_scope` or `insufficient_role`

Patterns match the route path (below the mount point; never the mount prefix a client may choose): exactly
(`/orders`), or as a prefix (`/orders/*` matches `/orders` and everything below it; `/*` matches every path).
A rule for GET also decides HEAD and WebSocket handshakes (which the log names `WEBSOCKET`): frameworks answer
HEAD with the GET view, and a handshake is a GET (RFC 6455 §4.1); a rule that left them out would let a request
it refuses reach the same route all the same.
With rules configured, a route path with an empty or dot segment (`//`, `/./`, `/../`) is refused with 400
`invalid_request` before any rule is matched: routers and proxies disagree on what such a path means, so no
rule can be said to cover it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigurationError, UnsafePath
from .principal import Requirement, to_requirement

__all__ = ["ACCESS_LEVELS", "Rule", "RuleSet", "has_unsafe_segment", "rules_from"]

#: The access levels a rule may name instead of a requirement.
ACCESS_LEVELS = ("public", "anonymous", "authenticated")
#: The methods a rule for GET decides too: HEAD runs the GET view, a WebSocket handshake is a GET.
_GET_ALIKE = ("HEAD", "WEBSOCKET")
_UNSAFE_SEGMENTS = ("//", "/./", "/../")


def has_unsafe_segment(path: str) -> bool:
    """True when `path` has an empty or dot segment (`//`, `/./`, `/../`, or a final `/.` or `/..`)."""
    return any(segment in path for segment in _UNSAFE_SEGMENTS) or path.endswith(("/.", "/.."))


@dataclass(frozen=True)
class Rule:
    """Requests for `path` (exact, or a prefix ending in `/*`) with one of `methods` (`*`: any; GET brings HEAD and
    WebSocket handshakes) get `access`: `"public"`, `"anonymous"`, `"authenticated"`, or a requirement (an object or
    its text form)."""

    path: str
    access: str | Requirement = "authenticated"
    methods: Sequence[str] = ("*",)
    #: The requirement `access` names, or None for an access level.
    requirement: Requirement | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        where = f"rule for {self.path!r}"
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ConfigurationError(f"rules: the path {self.path!r} must start with '/'")
        if "*" in self.path[:-1] or (self.path.endswith("*") and not self.path.endswith("/*")):
            raise ConfigurationError(
                f"rules: {self.path!r}: use an exact path ('/health') or a prefix ending in '/*' ('/orders/*')"
            )
        methods = (self.methods,) if isinstance(self.methods, str) else tuple(self.methods)
        if not methods or not all(isinstance(method, str) and method.strip() for method in methods):
            raise ConfigurationError(f"{where}: methods must be HTTP method names or '*'")
        set_(self, "methods", tuple(method.strip().upper() for method in methods))
        requirement: Requirement | None = None
        if isinstance(self.access, str) and self.access.strip() in ACCESS_LEVELS:
            set_(self, "access", self.access.strip())
        else:  # the text form becomes the requirement it names, so equal rules compare equal
            requirement = to_requirement(self.access, where)
            set_(self, "access", requirement)
        set_(self, "requirement", requirement)

    @classmethod
    def parse(cls, text: str, where: str = "rules") -> Rule:
        """A rule written `METHODS PATH ACCESS`: `GET,POST /orders/* scope:orders.read | role:admin`,
        `* /health public`."""
        parts = text.strip().split(None, 2)
        if len(parts) != 3:
            raise ConfigurationError(
                f"{where}: {text.strip()!r} is not 'METHODS PATH ACCESS' (e.g. 'GET /orders/* scope:orders.read')"
            )
        methods, path, access = parts
        return cls(path, access.strip(), tuple(method for method in methods.split(",") if method))

    @property
    def public(self) -> bool:
        return self.access == "public"

    @property
    def anonymous(self) -> bool:
        return self.access == "anonymous"

    def matches(self, method: str, path: str) -> bool:
        """True when this rule covers a request for `path` (a route path without unsafe segments)."""
        methods = self.methods
        if methods != ("*",) and method not in methods and (method not in _GET_ALIKE or "GET" not in methods):
            return False
        pattern = self.path
        if not pattern.endswith("/*"):
            return path == pattern
        prefix = pattern[:-1]  # "/orders/"
        return path.startswith(prefix) or path == (prefix[:-1] or "/")

    def __str__(self) -> str:
        access = self.access if isinstance(self.access, str) else str(self.access)
        return f"{','.join(self.methods)} {self.path} {access}"


def rules_from(value: object) -> tuple[Rule, ...]:
    """`Settings.rules` in any of its spellings: `Rule` objects, `'METHODS PATH ACCESS'` strings, mappings with
    `path`, `access` and `methods`, or (from an environment variable) one string of rules separated by ';'."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(";") if part.strip()]
    if isinstance(value, Mapping) or not isinstance(value, Sequence):
        raise ConfigurationError("rules must be a list of Rule(...), 'METHODS PATH ACCESS' strings or mappings")
    rules = []
    for position, entry in enumerate(value, 1):
        where = f"rules[{position}]"
        if isinstance(entry, Rule):
            rules.append(entry)
        elif isinstance(entry, str):
            rules.append(Rule.parse(entry, where))
        elif isinstance(entry, Mapping):
            rules.append(_from_mapping(entry, where))
        else:
            raise ConfigurationError(f"{where}: {type(entry).__name__} is not a rule")
    return tuple(rules)


def _from_mapping(entry: Mapping[str, Any], where: str) -> Rule:
    values = {str(key).lower(): item for key, item in entry.items()}
    unknown = sorted(set(values) - {"path", "access", "methods"})
    if unknown or "path" not in values:
        raise ConfigurationError(f"{where}: a rule mapping has 'path', and optionally 'access' and 'methods'")
    return Rule(values["path"], values.get("access", "authenticated"), values.get("methods", ("*",)))


class RuleSet:
    """The rules of one guard, in order: `match` finds the first that covers a request."""

    __slots__ = ("rules",)

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)

    def match(self, method: str, path: str) -> Rule | None:
        """The first rule for `method` (in any case) and the route path `path`, or None; raises `UnsafePath` for
        a path with an empty or dot segment, or one that does not start with '/'."""
        if not path:
            path = "/"  # the root of a mounted app
        elif path[0] != "/":  # a request-target some routers read with a "/" added: no rule can be said to cover it
            raise UnsafePath("route path does not start with '/'; no rule is matched for it")
        if has_unsafe_segment(path):
            raise UnsafePath("route path has an empty or dot segment; no rule is matched for it")
        method = method.upper()  # as the frameworks route it: WSGI servers may pass "get" through unchanged
        for rule in self.rules:
            if rule.matches(method, path):
                return rule
        return None
