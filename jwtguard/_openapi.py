"""The OpenAPI side of a bearer-token scheme, framework-free: an operation's security list (one scope list per way to
meet its requirement), its refusals as problem+json responses, and the problem-details schema they refer to."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from .errors import AuthError, InsufficientRole, InsufficientScope, JWKSUnavailable, TokenMissing
from .principal import AllOf, AnyOf, BaseRequirement, Requirement, Scopes

__all__ = ["MAX_WAYS", "PROBLEM_SCHEMA", "Access", "access", "document_operation", "example_body", "problem_schema"]

#: The name of the problem-details schema the 401, 403 and 503 responses refer to.
PROBLEM_SCHEMA = "AuthProblem"
#: Beyond this many ways to meet a requirement, an operation lists only the scopes they all need.
MAX_WAYS = 16
_NO_SCOPES: tuple[str, ...] = ()
_Ways = list[tuple[str, ...]]


class Access(NamedTuple):
    """How an operation is guarded by a scheme."""

    #: The scopes of each way to meet the operation's requirement (OpenAPI's security list is an OR of these).
    ways: _Ways
    #: True when a request without a token passes too (an `anonymous` rule, `allow_anonymous`).
    optional: bool
    #: The text form of what the scope lists leave out (roles, permissions, claim values), or None.
    requirement: str | None


def access(parts: Sequence[Requirement], listed: Sequence[str] = (), *, optional: bool = False) -> Access:
    """The access of an operation that needs every one of `parts`, and the scopes `listed` in every way."""
    ways, exact = _all_of(parts)
    unexpressed = list(parts) if not exact else [part for part in parts if not _scopes_only(part)]
    text = None
    if unexpressed:
        text = " & ".join(
            f"({_text(part)})" if len(unexpressed) > 1 and isinstance(part, AnyOf) else _text(part)
            for part in unexpressed
        )
    base = tuple(dict.fromkeys(listed))
    return Access([tuple(dict.fromkeys((*base, *way))) for way in ways], optional, text)


def document_operation(
    operation: dict[str, Any], scheme_name: str, guarded: Access, example: Callable[[AuthError], Any]
) -> None:
    """Write `guarded` into an OpenAPI operation: its security list (other schemes' entries kept in place, this
    scheme's replaced by one per way, `{}` when no token is needed), the requirement's text where scopes do not say
    it (`x-jwtguard-requirement`, and a line of the description), and the 401, 403 and 503 responses, each with
    `example(error)` as its example body."""
    ours = [{scheme_name: list(way)} for way in guarded.ways]
    security: list[Any] = []
    for entry in operation.get("security") or ():
        if isinstance(entry, dict) and scheme_name in entry:
            security.extend(ours)
            ours = []
        else:
            security.append(entry)
    security.extend(ours)
    if guarded.optional and {} not in security:
        security.append({})
    operation["security"] = security
    if guarded.requirement is not None:
        operation["x-jwtguard-requirement"] = guarded.requirement
        note = f"Requires a token that meets `{guarded.requirement}`."
        described = operation.get("description")
        operation["description"] = f"{described}\n\n{note}" if described else note

    responses = operation.setdefault("responses", {})
    challenge = {
        "WWW-Authenticate": {
            "description": "The RFC 6750 Bearer challenge: realm, error and error_description",
            "schema": {"type": "string"},
        }
    }

    def response(description: str, error: AuthError, headers: dict[str, Any]) -> dict[str, Any]:
        content = {"schema": {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}, "example": example(error)}
        return {"description": description, "headers": headers, "content": {"application/problem+json": content}}

    responses.setdefault(
        "401",
        response(
            "No valid access token: `code` says why (`token_missing`, `token_expired`, `audience_invalid`, ...).",
            TokenMissing(),
            challenge,
        ),
    )
    scopes = next((way for way in guarded.ways if way), None)
    if scopes or guarded.requirement is not None:
        responses.setdefault(
            "403",
            response(
                "A valid token that lacks a scope (`insufficient_scope`, naming the scopes) or a role, permission or "
                "claim value (`insufficient_role`) this operation requires.",
                InsufficientScope(scopes) if scopes else InsufficientRole(guarded.requirement or ""),
                challenge,
            ),
        )
    responses.setdefault(
        "503",
        response(
            "The API cannot verify tokens right now (`jwks_unavailable`): retry after `Retry-After` seconds.",
            JWKSUnavailable(),
            {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}},
        ),
    )


def example_body(render: Callable[[AuthError], bytes]) -> Callable[[AuthError], Any]:
    """`example` for `document_operation`: the body `render` gives an error, parsed, once per code and scopes."""
    cache: dict[tuple[str, tuple[str, ...]], Any] = {}

    def example(error: AuthError) -> Any:
        key = (error.code, error.required_scopes if isinstance(error, InsufficientScope) else _NO_SCOPES)
        if key not in cache:
            cache[key] = json.loads(render(error))
        return cache[key]

    return example


def problem_schema() -> dict[str, Any]:
    """JSON Schema of the RFC 9457 problem-details body of every refusal."""
    classes = list(_error_classes())
    return {
        "title": PROBLEM_SCHEMA,
        "description": "RFC 9457 problem details: a refusal of the request's bearer token, with its stable `code`.",
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "description": "Identifies the problem: a URI ending in the code"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "A fixed sentence; never an echo of the request"},
            "code": {"type": "string", "enum": sorted({cls.code for cls in classes})},
            "error": {
                "type": "string",
                "enum": sorted({cls.error for cls in classes if cls.error is not None}),
                "description": "The RFC 6750 error code, when there is one",
            },
            "required_scopes": {"type": "array", "items": {"type": "string"}},
        },
    }


def _error_classes() -> Iterator[type[AuthError]]:
    pending = list(AuthError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        yield cls


# -- a requirement as scope lists ------------------------------------------------------------------------------


def _all_of(parts: Sequence[Requirement]) -> tuple[_Ways, bool]:
    """The scopes of each way to meet every one of `parts`, and whether they say all there is about scopes. A part
    that is not about scopes (a role, a permission, a claim value) adds no scope to its way."""
    ways, exact = [_NO_SCOPES], True
    for part in parts:
        more, part_exact = _ways(part)
        product = (tuple(dict.fromkeys((*way, *other))) for way in ways for other in more)
        ways, exact = _bounded(list(dict.fromkeys(product)), exact and part_exact)
    return ways, exact


def _ways(requirement: Requirement) -> tuple[_Ways, bool]:
    if isinstance(requirement, Scopes):
        return [requirement.scopes], True
    if isinstance(requirement, AllOf):
        return _all_of(requirement.requirements)
    if isinstance(requirement, AnyOf):
        ways: _Ways = []
        exact = True
        for branch in requirement.requirements:
            more, branch_exact = _ways(branch)
            ways.extend(more)
            exact = exact and branch_exact
        return _bounded(list(dict.fromkeys(ways)), exact)
    return [_NO_SCOPES], True


def _bounded(ways: _Ways, exact: bool) -> tuple[_Ways, bool]:
    if len(ways) <= MAX_WAYS:
        return ways, exact
    common = set.intersection(*(set(way) for way in ways))
    return [tuple(scope for scope in ways[0] if scope in common)], False


def _scopes_only(requirement: Requirement) -> bool:
    if isinstance(requirement, Scopes):
        return True
    if isinstance(requirement, AllOf | AnyOf):
        return all(_scopes_only(part) for part in requirement.requirements)
    return False


def _text(requirement: Requirement) -> str:
    return str(requirement) if isinstance(requirement, BaseRequirement) else type(requirement).__name__
