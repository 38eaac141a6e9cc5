"""Claim paths: where in a verified claim set roles, permissions and other names are read, and the reader.

A path is segments separated by `.`. A segment that holds a dot itself, such as an Auth0 namespaced claim, is written
in double quotes:

    realm_access.roles                       Keycloak realm roles
    resource_access."my.client".roles        Keycloak client roles of a client id with a dot
    "https://example.com/roles"              an Auth0 namespaced claim
    cognito:groups                           colons and slashes need no quotes
    urn:zitadel:iam:org:project:roles        Zitadel: an object whose keys are the roles

Identity providers write a list of names three ways, and `collect` reads them all: a JSON list of strings, one
string of names separated by spaces (U+0020 only, as `scope` is), or an object whose keys are the names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ClaimInvalid, ConfigurationError

__all__ = ["ABSENT", "TENANT", "ClaimPath", "collect", "kind"]

#: The placeholder of a multi-tenant issuer template (`Issuer(issuer="https://host/{tenant}/v2.0", ...)`).
TENANT = "{tenant}"

_NOTHING: frozenset[str] = frozenset()


class _Absent:
    """The value of a path that leads nowhere: some segment is missing."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _is_control(char: str) -> bool:
    # C0, DEL and C1: a path comes from settings, environment variables and command lines, where one of these
    # is a paste accident, and it would print badly in every message that names the path.
    return char < " " or "\x7f" <= char <= "\x9f"


@dataclass(frozen=True, slots=True)
class ClaimPath:
    """A parsed claim path: equal to another when their segments are, however each was spelled."""

    text: str = field(compare=False)  # as written, for messages and the text form of requirements
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, where: str) -> ClaimPath:
        """The path written `text`, or `ConfigurationError` naming `where` and the path."""
        if not isinstance(text, str):
            raise ConfigurationError(f"{where}: a claim path is a string, not {type(text).__name__}")
        segments: list[str] = []
        position, length = 0, len(text)
        if length == 0:
            raise ConfigurationError(f"{where}: the claim path is empty")
        for index, char in enumerate(text):
            if _is_control(char):
                raise ConfigurationError(f"{where}: claim path {text!r} has a control character at position {index}")
        while True:
            start = position
            if position < length and text[position] == '"':
                end = text.find('"', position + 1)
                if end < 0:
                    raise ConfigurationError(
                        f"{where}: claim path {text!r} has an unbalanced quote at position {position}"
                    )
                segment = text[position + 1 : end]
                position = end + 1
                if position < length and text[position] != ".":
                    raise ConfigurationError(
                        f"{where}: claim path {text!r}: a quoted segment must be followed by '.' or end the path "
                        f"(position {position})"
                    )
            else:
                end = text.find(".", position)
                end = length if end < 0 else end
                segment = text[position:end]
                quote = segment.find('"')
                if quote >= 0:
                    raise ConfigurationError(
                        f"{where}: claim path {text!r} has a quote inside a segment at position {position + quote}; "
                        'quote whole segments, as in "a.b".c'
                    )
                if any(char.isspace() for char in segment):
                    raise ConfigurationError(
                        f"{where}: claim path {text!r} has whitespace in a segment; quote a claim name that has it"
                    )
                position = end
            if not segment:
                raise ConfigurationError(
                    f"{where}: claim path {text!r} has an empty segment at position {start}; "
                    "segments are separated by single dots"
                )
            segments.append(segment)
            if position == length:
                return cls(text, tuple(segments))
            position += 1  # the dot
            if position == length:
                raise ConfigurationError(f"{where}: claim path {text!r} ends with a dot")

    def read(self, claims: Mapping[str, Any]) -> Any:
        """The value at this path, `ABSENT` when a segment is missing, or `ClaimInvalid` when a segment before
        the last holds something other than an object."""
        value: Any = claims
        for depth, segment in enumerate(self.segments):
            if not isinstance(value, Mapping):
                parent = ".".join(self.segments[:depth])
                raise ClaimInvalid(f"claim {self.text!r}: {parent!r} is not an object", claim=self.text)
            if segment not in value:
                return ABSENT
            value = value[segment]
        return value

    def __str__(self) -> str:
        return self.text


def collect(claims: Mapping[str, Any], paths: Sequence[ClaimPath]) -> frozenset[str]:
    """Every name found at any of `paths` (absent paths add none); `ClaimInvalid` naming the first path whose
    value is not a list of strings, a space-separated string or an object."""
    if not paths:
        return _NOTHING  # the common configuration: no role or permission claims at all
    found: set[str] = set()
    for path in paths:
        value = path.read(claims)
        if value is ABSENT:
            continue
        if isinstance(value, str):
            found.update(value.split(" "))
        elif isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ClaimInvalid(
                    f"claim {path.text!r} is a list holding something other than strings", claim=path.text
                )
            found.update(value)
        elif isinstance(value, Mapping):
            found.update(value)  # JSON object keys are strings
        else:
            raise ClaimInvalid(
                f"claim {path.text!r} is {kind(value)}, not a list of strings, a space-separated string or an object",
                claim=path.text,
            )
    found.discard("")
    return frozenset(found) if found else _NOTHING


def kind(value: object) -> str:
    """What a JSON value is, in words; never the value itself, which may be personal data."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a " + type(value).__name__
