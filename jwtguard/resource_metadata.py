"""OAuth 2.0 Protected Resource Metadata (RFC 9728): the resource identifier, its well-known URL, the document
jwtguard serves for it, and the checks a document must pass.

A client that meets a 401 from this API reads `resource_metadata="<url>"` in the challenge (RFC 9728 §5.1),
fetches the document there, and learns which authorization servers issue tokens for it, which scopes to ask
for and how to send the token. The URL is the resource identifier with `/.well-known/oauth-protected-resource`
inserted between the host and the path (§3.1): resource `https://api.example.com/mcp` has its document at
`https://api.example.com/.well-known/oauth-protected-resource/mcp`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ._claim_path import TENANT
from ._fetch import check_key_url, redact_url
from .bearer import AuthorizationHeader
from .errors import ConfigurationError
from .principal import AllOf, AnyOf, Requirement, Scopes
from .responses import RenderedError
from .sources import QuerySource

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "BEARER_METHODS",
    "KNOWN_MEMBERS",
    "WELL_KNOWN_PATH",
    "ResourceMetadata",
    "asgi_full_path",
    "check_document",
    "check_extra_members",
    "check_resource",
    "metadata_path",
    "metadata_url",
    "resource_candidates",
    "scope_names",
]

#: The well-known URI suffix registered by RFC 9728 §3.
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"
#: The RFC 6750 methods a `bearer_methods_supported` may name (RFC 9728 §2).
BEARER_METHODS = ("header", "body", "query")

_URL, _URLS, _STRING, _STRINGS, _BOOLEAN = "URL", "array of URLs", "string", "array of strings", "boolean"
#: The members RFC 9728 §2 defines, with the JSON type each must have. Other members are allowed (§2: "Additional
#: protected resource metadata parameters MAY also be used"), and a client ignores those it does not know.
KNOWN_MEMBERS: Mapping[str, str] = {
    "resource": _URL,
    "authorization_servers": _URLS,
    "jwks_uri": _URL,
    "scopes_supported": _STRINGS,
    "bearer_methods_supported": _STRINGS,
    "resource_signing_alg_values_supported": _STRINGS,
    "resource_name": _STRING,
    "resource_documentation": _URL,
    "resource_policy_uri": _URL,
    "resource_tos_uri": _URL,
    "tls_client_certificate_bound_access_tokens": _BOOLEAN,
    "authorization_details_types_supported": _STRINGS,
    "dpop_signing_alg_values_supported": _STRINGS,
    "dpop_bound_access_tokens_required": _BOOLEAN,
    "signed_metadata": _STRING,
}
# Human-readable members may come in language-tagged variants, `resource_name#de` (RFC 9728 §2.1).
_HUMAN_READABLE = frozenset({"resource_name", "resource_documentation", "resource_policy_uri", "resource_tos_uri"})


def check_resource(value: object, where: str = "resource") -> str:
    """`value` if it is a resource identifier (RFC 9728 §1.2): an https URL (plain http on 127.0.0.1 and
    localhost only, as for key URLs) without userinfo, query or fragment; else `ConfigurationError`."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where} must be the resource's URL, e.g. 'https://api.example.com/mcp'")
    check_key_url(value, where)
    parts = urlsplit(value)
    if parts.username is not None or "@" in parts.netloc:
        raise ConfigurationError(f"{where} must not carry userinfo: {redact_url(value)!r}")
    if "?" in value or "#" in value:
        raise ConfigurationError(
            f"{where} must have no query or fragment (RFC 9728 §1.2): {redact_url(value)!r}; the well-known URL "
            "is built from its host and path"
        )
    if any(char.isspace() or ord(char) < 0x21 or ord(char) > 0x7E for char in value):
        raise ConfigurationError(f"{where} must be a URL in printable ASCII without spaces (percent-encode the rest)")
    return value


def metadata_url(resource: str) -> str:
    """The URL of `resource`'s metadata document (RFC 9728 §3.1): the well-known suffix goes between the host and
    the path; a path of just "/" is dropped first."""
    parts = urlsplit(resource)
    path = "" if parts.path == "/" else parts.path
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN_PATH}{path}"


def metadata_path(resource: str) -> str:
    """The path of `resource`'s metadata URL as servers hand it to applications: percent-decoded."""
    return unquote(urlsplit(metadata_url(resource)).path)


def resource_candidates(url: str) -> tuple[str, tuple[str, ...]]:
    """For a URL given on the command line, the metadata URL to fetch and the resource identifiers the document
    may name (§3.3: the identifier the URL was built from). A resource identifier gives itself; a metadata URL
    gives the identifiers it can be built from (`https://host` and `https://host/` both give the same URL)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.path == WELL_KNOWN_PATH or parts.path.startswith(WELL_KNOWN_PATH + "/"):
        rest = parts.path[len(WELL_KNOWN_PATH) :]
        return url, ((origin + rest,) if rest else (origin, origin + "/"))
    return metadata_url(url), (url,)


def asgi_full_path(scope: Mapping[str, Any]) -> str:
    """The path the client asked for, mount prefix included: ASGI's `path` holds `root_path` (servers that
    predate that rule pass it without, and then it is put in front)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path if not root or path.startswith(root) else root + path


def scope_names(requirements: Iterable[Requirement | None]) -> tuple[str, ...]:
    """Every scope the `requirements` name (`Scopes`, and inside `AllOf` and `AnyOf`), in order, once each.
    Roles, permissions and claim values are granted by an administrator, not asked for: they are left out."""
    names: dict[str, None] = {}
    pending = [requirement for requirement in requirements if requirement is not None]
    while pending:
        requirement = pending.pop(0)
        if isinstance(requirement, Scopes):
            names.update(dict.fromkeys(requirement.scopes))
        elif isinstance(requirement, AllOf | AnyOf):
            pending[:0] = requirement.requirements
    return tuple(names)


def check_extra_members(value: object, where: str = "resource_metadata") -> dict[str, Any]:
    """Extra metadata members (`resource_name`, `resource_documentation`, ...) as a plain JSON object: a mapping
    (or, from the environment, JSON text) of member names to JSON values that does not set `resource` and gives
    each member RFC 9728 defines its type; else `ConfigurationError`."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigurationError(f"{where}: not a JSON object ({exc})") from None
    if not isinstance(value, Mapping):
        raise ConfigurationError(f'{where} must map member names to values, e.g. {{"resource_name": "Orders API"}}')
    for name in value:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where}: {name!r} is not a member name")
        if name.partition("#")[0] == "resource":
            raise ConfigurationError(f"{where} cannot set 'resource': it is the 'resource' setting")
    try:
        members: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{where}: every value must be JSON (strings, numbers, lists, objects): {exc}"
        ) from None
    problems = _member_problems(members)
    if problems:
        raise ConfigurationError(f"{where}: {problems[0]}")
    return members


def check_document(document: object, resources: Sequence[str]) -> list[str]:
    """What is wrong with `document` as the metadata of one of `resources` (RFC 9728 §2, §3.3); empty when
    nothing is. Unknown members are allowed; the known ones must have their types."""
    if not isinstance(document, Mapping):
        return ["the document is not a JSON object"]
    problems = []
    resource = document.get("resource")
    if "resource" not in document:
        problems.append("'resource' is missing (RFC 9728 §2: REQUIRED)")
    elif isinstance(resource, str) and resource not in resources:
        shown = " or ".join(repr(candidate) for candidate in resources)
        problems.append(
            f"'resource' is {resource!r}, not {shown}, the identifier the metadata URL was built from "
            "(RFC 9728 §3.3: a client must not use this document)"
        )
    problems.extend(_member_problems(document))
    return problems


def _member_problems(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, value in document.items():
        base, tagged, _ = name.partition("#")
        if tagged and base not in _HUMAN_READABLE:
            continue  # not a language-tagged variant of a member RFC 9728 defines
        kind = KNOWN_MEMBERS.get(base)
        if kind is not None:
            problem = _type_problem(base, value, kind)
            if problem is not None:
                problems.append(f"{name!r} {problem}")
    return problems


def _type_problem(name: str, value: object, kind: str) -> str | None:
    if kind == _BOOLEAN:
        return None if isinstance(value, bool) else "must be true or false"
    if kind == _STRING:
        return None if isinstance(value, str) else "must be a string"
    if kind == _URL:
        secure = name in ("resource", "jwks_uri")
        return None if _is_url(value, secure=secure) else "must be an https URL" if secure else "must be a URL"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return f"must be an {kind}"
    if kind == _URLS:
        return None if all(_is_url(item, secure=True) for item in value) else "must list https URLs"
    if name == "bearer_methods_supported" and not set(value) <= set(BEARER_METHODS):
        return f"may list only {', '.join(map(repr, BEARER_METHODS))}"
    if name.endswith("_alg_values_supported") and "none" in value:
        return "must not list 'none'"
    return None


def _is_url(value: object, *, secure: bool) -> bool:
    """An absolute http(s) URL; with `secure`, https (plain http on loopback, as jwtguard fetches)."""
    if not isinstance(value, str):
        return False
    if secure:
        try:
            check_key_url(value, "url")
        except ConfigurationError:
            return False
        return True
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.netloc)


#: How long clients and caches may keep the document: it changes only when the settings do.
_MAX_AGE = 3600
_ALLOW = "GET, HEAD, OPTIONS"


class ResourceMetadata:
    """The document of one `resource`, encoded once, and the answers to requests for its well-known path.

    The answers carry `Access-Control-Allow-Origin: *`: browser-based clients (MCP's among them) fetch the
    document from another origin, it is public, and no credential is involved.
    """

    __slots__ = ("_answers", "body", "path", "url")

    def __init__(self, document: Mapping[str, Any]) -> None:
        resource = check_resource(document.get("resource"))
        self.url = metadata_url(resource)
        self.path = metadata_path(resource)
        self.body = json.dumps(document, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")
        cors = (("access-control-allow-origin", "*"),)
        ok = (
            ("content-type", "application/json"),
            ("content-length", str(len(self.body))),
            ("cache-control", f"public, max-age={_MAX_AGE}"),
            *cors,
        )
        refused = json.dumps({"type": "about:blank", "title": "Method Not Allowed", "status": 405}).encode("ascii")
        self._answers = {
            "GET": RenderedError(200, ok, self.body),
            "HEAD": RenderedError(200, ok, b""),  # the GET's headers, no body (RFC 9110 §9.3.2)
            # A cross-origin fetch with a header of its own (`MCP-Protocol-Version`) is preflighted first.
            "OPTIONS": RenderedError(
                204,
                (
                    ("allow", _ALLOW),
                    *cors,
                    ("access-control-allow-methods", "GET, HEAD"),
                    ("access-control-allow-headers", "*"),
                    ("access-control-max-age", "86400"),
                ),
                b"",
            ),
            "": RenderedError(
                405,
                (
                    ("content-type", "application/problem+json"),
                    ("content-length", str(len(refused))),
                    ("allow", _ALLOW),
                    *cors,
                ),
                refused,
            ),
        }

    @classmethod
    def for_settings(cls, settings: Settings) -> ResourceMetadata:
        """The document `settings` describe: `resource`, then the members read from the other settings, then
        `resource_metadata`'s, which win."""
        resource = check_resource(settings.resource)
        document: dict[str, Any] = {"resource": resource}
        # Issuer templates (`{tenant}`) are no issuer identifier a client could use: left out.
        servers = [name for entry in settings.trusted_issuers for name in entry.names if TENANT not in name]
        if servers:
            document["authorization_servers"] = list(dict.fromkeys(servers))
        scopes = scope_names(
            [Scopes(*settings.required_scopes) if settings.required_scopes else None]
            + [rule.requirement for rule in settings.route_rules]
        )
        if scopes:
            document["scopes_supported"] = list(scopes)
        # RFC 6750's methods only: cookies and a proxy's header are not ways a client sends a bearer token.
        methods = {
            "header" if isinstance(source, AuthorizationHeader) else "query" if isinstance(source, QuerySource) else ""
            for source in settings.sources
        }
        document["bearer_methods_supported"] = [method for method in BEARER_METHODS if method in methods]
        modes = {entry.dpop or "off" for entry in settings.trusted_issuers}
        if modes != {"off"}:  # DPoP (RFC 9449 §5.1): the proof algorithms, and whether bound tokens are required
            document["dpop_signing_alg_values_supported"] = list(settings.dpop_algorithms)
            document["dpop_bound_access_tokens_required"] = modes == {"required"}
        document.update(settings.resource_metadata)
        return cls(document)

    def answer(self, method: str) -> RenderedError:
        """The response to a `method` request for the metadata path."""
        return self._answers.get(method.upper()) or self._answers[""]
