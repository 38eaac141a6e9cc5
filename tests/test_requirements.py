"""Authorization requirements: roles and permissions on the principal, the requirement kinds and their text form,
and `authorize` answering alike on Starlette, FastAPI, Flask and Django."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
from django.test import Client as DjangoClient
from django.test.utils import override_settings
from django.urls import path as django_path
from fastapi import Depends, FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import jwtguard
import jwtguard.django
import jwtguard.drf
import jwtguard.flask
import jwtguard.starlette
from jwtguard import (
    AllOf,
    AnyOf,
    Authorize,
    ClaimEquals,
    ConfigurationError,
    InsufficientRole,
    InsufficientScope,
    JWTGuardMiddleware,
    Permissions,
    Principal,
    Roles,
    Scopes,
    Settings,
    TokenContext,
    parse_requirement,
)
from jwtguard.errors import AuthError, ClaimInvalid, TokenMissing
from jwtguard.principal import BaseRequirement, Requirement, ScopeRequirement, require, to_requirement
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import records
from .stacks import configure_django
from .test_readme import PLACEHOLDER_ISSUER, quickstart


def principal(
    scopes: tuple[str, ...] = (),
    roles: tuple[str, ...] = (),
    permissions: tuple[str, ...] = (),
    **claims: Any,
) -> Principal:
    """A principal with these facts, as an application (or a test of one) builds it."""
    return Principal(
        {"sub": "ann", **claims},
        frozenset(scopes),
        TokenContext(kid="k1", sub="ann", verified=True),
        roles=roles,
        permissions=permissions,
    )


def refusal(requirement: Requirement, who: Principal) -> AuthError | None:
    try:
        requirement.check(who)
    except AuthError as exc:
        return exc
    return None


# -- the principal ---------------------------------------------------------------------------------------


def test_roles_and_permissions_are_empty_unless_given() -> None:
    plain = Principal({"sub": "ann"})
    assert plain.roles == plain.permissions == frozenset()
    made = Principal({"sub": "ann"}, roles=["admin", "ops"], permissions=("read:orders",))
    assert made.roles == {"admin", "ops"}
    assert made.permissions == {"read:orders"}
    with pytest.raises(TypeError, match="not one string"):
        Principal({"sub": "ann"}, roles="admin")


def test_has_roles_and_has_permissions_need_every_one() -> None:
    who = principal(roles=("admin", "ops"), permissions=("read:orders",))
    assert who.has_roles()
    assert who.has_roles("admin", "ops")
    assert not who.has_roles("admin", "root")
    assert not who.has_roles("Admin")  # exact, case-sensitive
    assert who.has_permissions("read:orders")
    assert not who.has_permissions("write:orders")


def test_the_repr_shows_roles_sorted_and_no_other_claims() -> None:
    who = principal(scopes=("b", "a"), roles=("ops", "admin"), email="ann@example.com")
    assert repr(who) == "Principal(subject='ann', issuer=None, scopes=['a', 'b'], roles=['admin', 'ops'])"


# -- building requirements -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: Scopes(), "Scopes: name at least one scope", id="no-scopes"),
        pytest.param(lambda: Scopes("a b"), "'a b' is not a scope", id="scope-with-space"),
        pytest.param(lambda: Scopes('a"b'), "is not a scope", id="scope-with-quote"),
        pytest.param(lambda: Roles(), "Roles: name at least one role", id="no-roles"),
        pytest.param(lambda: Roles(""), "'' is not a role name", id="empty-role"),
        pytest.param(lambda: Roles("orders admin"), "'orders admin' is not a role name", id="role-with-space"),
        pytest.param(lambda: Roles("a\u3000b"), "is not a role name", id="role-with-ideographic-space"),
        pytest.param(lambda: Roles("a\x00"), "is not a role name", id="role-with-control"),
        pytest.param(lambda: Roles(["admin"]), "['admin'] is not a role name", id="role-list"),  # type: ignore[arg-type]
        pytest.param(lambda: Permissions(), "Permissions: name at least one permission", id="no-permissions"),
        pytest.param(lambda: Permissions("read orders"), "is not a permission name", id="permission-with-space"),
        pytest.param(lambda: ClaimEquals("tid"), "name at least one value claim 'tid' may have", id="no-values"),
        pytest.param(lambda: ClaimEquals("tid", ""), "'' is not a claim value", id="empty-value"),
        pytest.param(lambda: ClaimEquals("tid", 1234), "1234 is not a claim value", id="number-value"),  # type: ignore[arg-type]
        pytest.param(lambda: ClaimEquals("a..b", "x"), "claim path 'a..b' has an empty segment", id="bad-path"),
        pytest.param(lambda: AllOf(), "AllOf: combine at least one requirement", id="empty-all"),
        pytest.param(lambda: AnyOf(), "AnyOf: combine at least one requirement", id="empty-any"),
        pytest.param(lambda: AnyOf(Roles("a"), "role:b"), "AnyOf combines Scopes, Roles", id="text-in-any"),  # type: ignore[arg-type]
        pytest.param(
            lambda: AllOf(Roles("a"), ScopeRequirement([])), "is met by every token; leave it out", id="no-op-scopes"
        ),
    ],
)
def test_requirements_are_checked_when_built(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build()
    assert message in str(raised.value)


def test_where_names_the_setting_in_messages() -> None:
    with pytest.raises(ConfigurationError, match=r"^JWTGUARD_ROUTE: 'a b' is not a role name"):
        Roles("a b", where="JWTGUARD_ROUTE")


def test_operators_build_combinations_and_flatten_their_own_kind() -> None:
    a, b, c, d = Scopes("a"), Roles("b"), Permissions("c"), ClaimEquals("d", "1")
    both = a & b
    assert isinstance(both, AllOf)
    assert both.requirements == (a, b)
    either = a | b
    assert isinstance(either, AnyOf)
    assert either.requirements == (a, b)
    assert (a & b & c & d).requirements == (a, b, c, d)
    assert (a | b | c | d).requirements == (a, b, c, d)
    assert AllOf(a & b, c).requirements == (a, b, c)
    mixed = (a | b) & (c | d)
    assert [type(part) for part in mixed.requirements] == [AnyOf, AnyOf]
    assert (a & b) | c == AnyOf(AllOf(a, b), c)


def test_operators_refuse_other_objects() -> None:
    with pytest.raises(TypeError):
        Scopes("a") & "role:b"  # type: ignore[operator]
    with pytest.raises(TypeError):
        Scopes("a") | object()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(Roles("a", "b"), Roles("b", "a"), id="order-of-names"),
        pytest.param(Roles("a", "b"), Roles("a") & Roles("b"), id="names-or-and"),
        pytest.param(Roles("a", "a"), Roles("a"), id="duplicates"),
        pytest.param(Scopes("x"), ScopeRequirement(["x"]), id="scope-requirement"),
        pytest.param(ClaimEquals("tid", "1", "2"), ClaimEquals("tid", "1") | ClaimEquals("tid", "2"), id="values"),
        pytest.param(ClaimEquals('"a".b', "1"), ClaimEquals("a.b", "1"), id="path-spelling"),
        pytest.param(Scopes("a") & Roles("b"), Roles("b") & Scopes("a"), id="commutative"),
        pytest.param((Scopes("a") & Roles("b")) & Roles("c"), Scopes("a") & (Roles("b") & Roles("c")), id="grouping"),
        pytest.param(AllOf(Roles("a", "b"), Roles("c")), Roles("a", "b", "c"), id="names-merge"),
        pytest.param(
            ClaimEquals("tid", "1", "2") | ClaimEquals("tid", "3"), ClaimEquals("tid", "3", "2", "1"), id="values-merge"
        ),
        pytest.param(AnyOf(Roles("a")), Roles("a"), id="single"),
        pytest.param(Roles("a") | Roles("a"), Roles("a"), id="idempotent"),
    ],
)
def test_requirements_that_mean_the_same_are_equal(left: BaseRequirement, right: BaseRequirement) -> None:
    assert left == right
    assert hash(left) == hash(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(Roles("a"), Permissions("a"), id="role-is-not-permission"),
        pytest.param(Roles("a"), Scopes("a"), id="role-is-not-scope"),
        pytest.param(Roles("a", "b"), Roles("a") | Roles("b"), id="all-is-not-any"),
        pytest.param(ClaimEquals("a.b", "1"), ClaimEquals('"a.b"', "1"), id="nested-is-not-dotted-name"),
        pytest.param(ClaimEquals("tid", "1"), ClaimEquals("tid", "1", "2"), id="more-values"),
    ],
)
def test_requirements_that_differ_are_not_equal(left: BaseRequirement, right: BaseRequirement) -> None:
    assert left != right


def test_a_requirement_is_never_equal_to_another_type() -> None:
    assert Scopes("a") != "scope:a"
    assert Roles("a") != ("role", "a")


def test_reprs_show_the_construction() -> None:
    assert repr(Scopes("a", "b")) == "Scopes('a', 'b')"
    assert repr(Roles("admin")) == "Roles('admin')"
    assert repr(Permissions("read:orders")) == "Permissions('read:orders')"
    assert repr(ClaimEquals('"https://example.com/tenant"', "acme")) == (
        "ClaimEquals('\"https://example.com/tenant\"', 'acme')"
    )
    assert repr(Scopes("a") | (Roles("b") & ClaimEquals("tid", "1"))) == (
        "AnyOf(Scopes('a'), AllOf(Roles('b'), ClaimEquals('tid', '1')))"
    )
    assert repr(ScopeRequirement(["a", "b"])) == "ScopeRequirement(['a', 'b'])"


# -- checking them -----------------------------------------------------------------------------------------

EITHER = Scopes("orders:read") | Roles("admin")
NAMESPACED: dict[str, Any] = {"https://example.com/tenant": "acme"}  # an Auth0 claim, named by a URL

CHECKS = [
    # (requirement, principal, refusal: None, or (code, challenge scopes or None))
    pytest.param(Scopes("a", "b"), principal(scopes=("a", "b", "c")), None, id="scopes-met"),
    pytest.param(Scopes("a", "b"), principal(scopes=("a",)), ("insufficient_scope", ("a", "b")), id="scopes-lacking"),
    pytest.param(Roles("admin"), principal(roles=("admin",)), None, id="role-met"),
    pytest.param(Roles("admin"), principal(roles=("Admin",)), ("insufficient_role", None), id="role-case"),
    pytest.param(Roles("admin"), principal(scopes=("admin",)), ("insufficient_role", None), id="scope-is-no-role"),
    pytest.param(Permissions("read:orders"), principal(permissions=("read:orders",)), None, id="permission-met"),
    pytest.param(
        Permissions("read:orders"), principal(roles=("read:orders",)), ("insufficient_role", None), id="no-perm"
    ),
    pytest.param(ClaimEquals("tid", "1234"), principal(tid="1234"), None, id="claim-string"),
    pytest.param(ClaimEquals("tid", "1", "1234"), principal(tid="1234"), None, id="claim-second-value"),
    pytest.param(ClaimEquals("groups", "ops"), principal(groups=["dev", "ops"]), None, id="claim-list"),
    pytest.param(ClaimEquals("tid", "1234"), principal(tid="12345"), ("insufficient_role", None), id="claim-other"),
    pytest.param(ClaimEquals("tid", "1234"), principal(), ("insufficient_role", None), id="claim-absent"),
    pytest.param(
        ClaimEquals("groups", "ops"), principal(groups=[]), ("insufficient_role", None), id="claim-empty-list"
    ),
    pytest.param(ClaimEquals("org.id", "7"), principal(org={"id": "7"}), None, id="claim-path"),
    pytest.param(ClaimEquals("org.id", "7"), principal(org={}), ("insufficient_role", None), id="claim-path-absent"),
    pytest.param(
        ClaimEquals('"https://example.com/tenant"', "acme"),
        principal(**NAMESPACED),
        None,
        id="claim-namespaced",
    ),
    pytest.param(EITHER, principal(scopes=("orders:read",)), None, id="any-first"),
    pytest.param(EITHER, principal(roles=("admin",)), None, id="any-second"),
    pytest.param(EITHER, principal(), ("insufficient_scope", ("orders:read",)), id="any-scope-branch-named"),
    pytest.param(
        Roles("admin") | Roles("ops"), principal(scopes=("x",)), ("insufficient_role", None), id="any-no-scope-branch"
    ),
    pytest.param(
        Roles("admin") | (Scopes("a") & Scopes("b")) | Scopes("c"),
        principal(scopes=("b",)),
        ("insufficient_scope", ("a", "b")),
        id="any-first-scope-only-branch",
    ),
    pytest.param(
        Roles("admin") | (Scopes("a") & Roles("ops")),
        principal(roles=("ops",)),
        ("insufficient_scope", ("a",)),
        id="any-branch-whose-role-is-held",
    ),
    pytest.param(Scopes("a") & Roles("r"), principal(scopes=("a",), roles=("r",)), None, id="all-met"),
    pytest.param(
        Scopes("a") & Roles("r"), principal(roles=("r",)), ("insufficient_scope", ("a",)), id="all-only-scope-lacking"
    ),
    pytest.param(Scopes("a") & Roles("r"), principal(), ("insufficient_role", None), id="all-role-lacking-too"),
    pytest.param(
        Scopes("a") & Roles("r"), principal(scopes=("a",)), ("insufficient_role", None), id="all-role-lacking"
    ),
    pytest.param(
        (ClaimEquals("tid", "1") | Scopes("w")) & Scopes("r"),
        principal(tid="1"),
        ("insufficient_scope", ("r",)),
        id="nested-claim-met",
    ),
    pytest.param(
        (ClaimEquals("tid", "1") | Scopes("w")) & Scopes("r"),
        principal(scopes=("r",), tid="2"),
        ("insufficient_scope", ("w", "r")),
        id="nested-every-scope-named",
    ),
    pytest.param(
        (Scopes("w") | Roles("admin")) & Scopes("r"),
        principal(scopes=("w",)),
        ("insufficient_scope", ("w", "r")),  # a token with only "r" would lose "w": name both
        id="nested-keeps-the-scopes-held",
    ),
]


@pytest.mark.parametrize(("requirement", "who", "expected"), CHECKS)
def test_checks_meet_or_refuse_with_the_right_error(
    requirement: BaseRequirement, who: Principal, expected: tuple[str, tuple[str, ...] | None] | None
) -> None:
    error = refusal(requirement, who)
    if expected is None:
        assert error is None
        return
    code, scopes = expected
    assert error is not None
    assert error.code == code
    assert error.status_code == 403
    assert error.context is who.token_context
    if scopes is None:
        assert isinstance(error, InsufficientRole)
        assert error.error is None
        assert error.required == str(requirement)
        assert str(requirement) in error.reason
    else:
        assert isinstance(error, InsufficientScope)
        assert error.required_scopes == scopes


@pytest.mark.parametrize(
    ("claims", "shape"),
    [
        pytest.param({"tid": 1234}, "a number", id="number"),
        pytest.param({"tid": None}, "null", id="null"),
        pytest.param({"tid": {"id": "1234"}}, "a dict", id="object"),
        pytest.param({"tid": ["1234", 5]}, "a list", id="list-holding-a-number"),
    ],
)
def test_a_claim_of_another_type_is_claim_invalid_naming_it(claims: dict[str, Any], shape: str) -> None:
    error = refusal(ClaimEquals("tid", "1234"), principal(**claims))
    assert isinstance(error, ClaimInvalid)
    assert error.claim == "tid"
    assert shape in error.reason
    assert "1234" not in error.reason.replace("'tid'", "")  # never the value


def test_a_path_through_a_non_object_is_claim_invalid() -> None:
    error = refusal(ClaimEquals("org.id", "7"), principal(org=["7"]))
    assert isinstance(error, ClaimInvalid)
    assert error.claim == "org.id"


def test_any_of_stops_at_the_first_branch_met() -> None:
    # A later branch is not read, so its claim's type does not matter once an earlier one is met.
    assert refusal(Roles("admin") | ClaimEquals("tid", "1"), principal(roles=("admin",), tid=1)) is None
    assert isinstance(
        refusal(ClaimEquals("tid", "1") | Roles("admin"), principal(roles=("admin",), tid=1)), ClaimInvalid
    )


def test_the_log_reason_lists_the_tokens_roles_sorted_printable_and_short() -> None:
    who = principal(roles=("ops", "admin\u202e", *(f"role-{n:03}" for n in range(100))), permissions=("read:x",))
    error = refusal(Roles("root") | ClaimEquals("tid", "1"), who)
    assert isinstance(error, InsufficientRole)
    assert error.required == "role:root | claim:tid=1"
    assert error.reason.startswith("token does not meet role:root | claim:tid=1; it has roles [admin?, ops, role-000")
    assert "more]" in error.reason
    assert error.reason.endswith("and permissions [read:x]")
    assert len(error.reason) < 400
    assert error.reason.isprintable()


def test_insufficient_role_defaults() -> None:
    error = InsufficientRole("role:admin")
    assert (error.code, error.status_code, error.error) == ("insufficient_role", 403, None)
    assert error.title == "Insufficient role"
    assert error.description == "The access token lacks a role, permission or claim value this resource requires."
    assert error.reason == "token does not meet role:admin"


def test_scope_requirement_keeps_its_contract() -> None:
    requirement = ScopeRequirement(["a", "b"], where="required_scopes")
    assert isinstance(requirement, Scopes)
    assert requirement.scopes == ("a", "b")
    error = refusal(requirement, principal(scopes=("a",)))
    assert isinstance(error, InsufficientScope)
    assert error.reason == "token lacks a scope in required_scopes"
    route = ScopeRequirement.for_route(["a"], "require_scopes")
    assert route.reason == "token lacks a scope the route requires"
    assert refusal(ScopeRequirement([]), principal()) is None  # RequireScopes(): any valid token
    plain = refusal(Scopes("a", "b"), principal())
    assert plain is not None
    assert plain.reason == "token does not meet scope:a & scope:b"
    with pytest.raises(ConfigurationError, match=r"^require_scopes: 'a b' is not a scope"):
        ScopeRequirement.for_route(["a b"], "require_scopes")


def test_require_refuses_a_request_without_a_principal() -> None:
    with pytest.raises(TokenMissing):
        require(None, Roles("admin"))
    who = principal(roles=("admin",))
    assert require(who, Roles("admin")) is who


# -- the text form ---------------------------------------------------------------------------------------

ROUND_TRIPS = [
    pytest.param("scope:orders.read", Scopes("orders.read"), id="scope"),
    pytest.param("role:admin", Roles("admin"), id="role"),
    pytest.param("permission:read:orders", Permissions("read:orders"), id="permission-with-colon"),
    pytest.param("claim:tid=1234", ClaimEquals("tid", "1234"), id="claim"),
    pytest.param("claim:realm_access.type=a=b", ClaimEquals("realm_access.type", "a=b"), id="claim-value-with-equals"),
    pytest.param(
        "scope:orders.read | role:Orders.Reader", Scopes("orders.read") | Roles("Orders.Reader"), id="scope-or-role"
    ),
    pytest.param(
        "(role:admin | role:ops) & claim:tid=1234",
        (Roles("admin") | Roles("ops")) & ClaimEquals("tid", "1234"),
        id="grouped",
    ),
    pytest.param(
        "(role:a & role:b) | permission:c", AnyOf(Roles("a", "b"), Permissions("c")), id="and-inside-or-bracketed"
    ),
    pytest.param("scope:a & scope:b", Scopes("a", "b"), id="several-scopes"),
    pytest.param(
        'claim:"https://example.com/tenant"="Example Inc."',
        ClaimEquals('"https://example.com/tenant"', "Example Inc."),
        id="quoted-path-and-value",
    ),
    pytest.param(
        'claim:resource_access."my.client".type=x',
        ClaimEquals('resource_access."my.client".type', "x"),
        id="quoted-segment",
    ),
    pytest.param('role:"a|b&(c)"', Roles("a|b&(c)"), id="quoted-delimiters"),
    pytest.param('claim:note="say \\"hi\\" \\\\o/"', ClaimEquals("note", 'say "hi" \\o/'), id="escapes"),
    pytest.param('scope:"a|b"', Scopes("a|b"), id="scope-with-bar"),
    pytest.param("role:back\\slash", Roles("back\\slash"), id="bare-backslash"),
    pytest.param("claim:tid=1 | claim:tid=2", ClaimEquals("tid", "1", "2"), id="claim-values"),
    pytest.param(
        "(claim:tid=1 | claim:tid=2) & role:x", ClaimEquals("tid", "1", "2") & Roles("x"), id="claim-values-grouped"
    ),
    pytest.param(
        "(claim:tid=1 | claim:tid=2) & role:x",
        AllOf(AnyOf(ClaimEquals("tid", "1", "2")), Roles("x")),
        id="one-branch-any-keeps-its-parentheses",
    ),
    pytest.param(
        "role:a | (scope:b & (role:c | claim:d=e))",
        Roles("a") | (Scopes("b") & (Roles("c") | ClaimEquals("d", "e"))),
        id="deep",
    ),
]


@pytest.mark.parametrize(("text", "requirement"), ROUND_TRIPS)
def test_the_text_form_reads_and_prints_the_same_requirement(text: str, requirement: BaseRequirement) -> None:
    assert parse_requirement(text, "test") == requirement
    assert str(requirement) == text
    assert parse_requirement(str(requirement), "test") == requirement


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("  scope:a|role:b  ", "scope:a | role:b", id="spaces"),
        pytest.param("scope:a\t&\nrole:b", "scope:a & role:b", id="whitespace"),
        pytest.param("role:a & role:b | role:c", "(role:a & role:b) | role:c", id="and-binds-tighter"),
        pytest.param("role:a | role:b & role:c", "role:a | (role:b & role:c)", id="and-binds-tighter-right"),
        pytest.param("((role:a))", "role:a", id="redundant-parentheses"),
        pytest.param("(role:a | role:b) | role:c", "role:a | role:b | role:c", id="flattened"),
        pytest.param('role:"admin"', "role:admin", id="needless-quotes"),
        pytest.param('claim:"tid"=1', 'claim:"tid"=1', id="path-kept-as-written"),
    ],
)
def test_the_text_form_is_printed_canonically(text: str, canonical: str) -> None:
    requirement = parse_requirement(text, "test")
    assert str(requirement) == canonical
    assert parse_requirement(canonical, "test") == requirement


@pytest.mark.parametrize(
    ("path", "text"),
    [
        pytest.param("a=b", 'claim:"a=b"=1', id="equals"),
        pytest.param("x&y.z", 'claim:"x&y".z=1', id="ampersand"),
        pytest.param('"a b".c', 'claim:"a b".c=1', id="space-kept-quoted"),
        pytest.param('"a.b".c(d)', 'claim:"a.b"."c(d)"=1', id="dot-and-parentheses"),
    ],
)
def test_a_claim_path_is_quoted_where_the_text_form_needs_it(path: str, text: str) -> None:
    requirement = ClaimEquals(path, "1")
    assert str(requirement) == text
    assert parse_requirement(text, "test") == requirement


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "position 0 of '': no requirement", id="empty"),
        pytest.param("   ", "no requirement", id="blank"),
        pytest.param(
            "admin",
            "position 0 of 'admin': expected scope:, role:, permission:, claim:, acr:, max_age: or '('",
            id="bare",
        ),
        pytest.param("group:admin", "position 0 of 'group:admin': expected scope:", id="unknown-kind"),
        pytest.param("role:", "position 5 of 'role:': expected a role name", id="no-name"),
        pytest.param(
            "role:a &",
            "position 8 of 'role:a &': expected scope:, role:, permission:, claim:, acr:, max_age: or '('",
            id="dangling",
        ),
        pytest.param("role:a | | role:b", "position 9 of", id="double-operator"),
        pytest.param("(role:a", "position 7 of '(role:a': expected ')' to close the '(' at position 0", id="unclosed"),
        pytest.param("role:a)", "position 6 of 'role:a)': expected '&', '|' or the end, found ')'", id="extra-close"),
        pytest.param(
            "role:a b", "position 7 of 'role:a b': expected '&', '|' or the end, found 'b'", id="space-in-name"
        ),
        pytest.param("role:a && role:b", "position 8 of", id="double-ampersand"),
        pytest.param('role:"admin', "position 5 of 'role:\"admin': an unbalanced quote", id="unclosed-quote"),
        pytest.param('role:"a\\nb"', 'only \\" and \\\\ are escapes', id="unknown-escape"),
        pytest.param("claim:tid", "position 9 of 'claim:tid': expected '=' and a value", id="claim-without-value"),
        pytest.param("claim:tid=", "position 10 of 'claim:tid=': expected a claim value", id="claim-empty-value"),
        pytest.param("claim:=1", "position 6 of 'claim:=1': expected a claim path", id="claim-without-path"),
        pytest.param("claim:(tid)=1", "position 6 of 'claim:(tid)=1': expected a claim path", id="claim-bracket"),
        pytest.param("claim:tid = 1", "position 9 of 'claim:tid = 1': expected '=' and a value", id="claim-spaced"),
        pytest.param('claim:"tid=1', "an unbalanced quote in the claim path", id="claim-unclosed-path"),
        pytest.param("claim:a..b=1", "position 0 of 'claim:a..b=1': claim path 'a..b' has an empty segment", id="path"),
        pytest.param("scope:a\\b", "position 0 of 'scope:a\\\\b': 'a\\\\b' is not a scope", id="bad-scope"),
        pytest.param('role:""', "'' is not a role name", id="empty-quoted-name"),
        pytest.param("role:a\x07", "position 6 of 'role:a\\x07': a control character", id="control"),
    ],
)
def test_text_errors_name_the_setting_and_the_position(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_requirement(text, "JWTGUARD_ROUTE")
    assert str(raised.value).startswith("JWTGUARD_ROUTE, position ")
    assert message in str(raised.value)


def test_the_text_form_must_be_text() -> None:
    with pytest.raises(ConfigurationError, match=r"^route: a requirement is text, not Roles"):
        parse_requirement(Roles("a"), "route")  # type: ignore[arg-type]


def test_route_helpers_take_an_object_or_its_text() -> None:
    assert to_requirement("role:a | scope:b", "authorize") == Roles("a") | Scopes("b")
    custom = OnCall()
    assert to_requirement(custom, "authorize") is custom
    with pytest.raises(ConfigurationError, match=r"^authorize: int is not a requirement"):
        to_requirement(7, "authorize")  # type: ignore[arg-type]


# -- properties, over generated requirements --------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None)
# Names full of the characters the text form treats specially, so that quoting is exercised.
NAME = st.text(alphabet='ab.:/&|()="\\-', min_size=1, max_size=5)
SCOPE = st.text(alphabet="ab.:/&|()=-", min_size=1, max_size=5)  # RFC 6749: no quote, backslash or space
SEGMENT = st.text(alphabet="ab.:/&|()= -", min_size=1, max_size=4)
VALUE = st.text(alphabet='ab.:/&|()=" \\-', min_size=1, max_size=5)
TERMS = st.one_of(
    st.lists(SCOPE, min_size=1, max_size=2).map(lambda names: Scopes(*names)),
    st.lists(NAME, min_size=1, max_size=2).map(lambda names: Roles(*names)),
    NAME.map(Permissions),
    st.builds(
        lambda segments, values: ClaimEquals(".".join(f'"{segment}"' for segment in segments), *values),
        st.lists(SEGMENT, min_size=1, max_size=2),
        st.lists(VALUE, min_size=1, max_size=2),
    ),
)
REQUIREMENTS = st.recursive(
    TERMS,
    lambda parts: st.one_of(
        st.lists(parts, min_size=1, max_size=3).map(lambda items: AllOf(*items)),
        st.lists(parts, min_size=1, max_size=3).map(lambda items: AnyOf(*items)),
    ),
    max_leaves=8,
)


@PROPERTY
@given(requirement=REQUIREMENTS)
def test_every_requirement_reads_back_from_its_text(requirement: BaseRequirement) -> None:
    text = str(requirement)
    again = parse_requirement(text, "test")
    assert again == requirement
    assert str(again) == text


FEW = st.sampled_from(["a", "b", "c"])
SMALL_REQUIREMENTS = st.recursive(
    st.one_of(
        st.lists(FEW, min_size=1, max_size=2).map(lambda names: Scopes(*names)),
        st.lists(FEW, min_size=1, max_size=2).map(lambda names: Roles(*names)),
        FEW.map(Permissions),
        st.lists(FEW, min_size=1, max_size=2).map(lambda values: ClaimEquals("t", *values)),
    ),
    lambda parts: st.one_of(
        st.lists(parts, min_size=1, max_size=3).map(lambda items: AllOf(*items)),
        st.lists(parts, min_size=1, max_size=3).map(lambda items: AnyOf(*items)),
    ),
    max_leaves=8,
)


def scopes_named(requirement: BaseRequirement) -> set[str]:
    if isinstance(requirement, Scopes):
        return set(requirement.scopes)
    if isinstance(requirement, AllOf | AnyOf):
        return set().union(*(scopes_named(part) for part in requirement.requirements))
    return set()


@PROPERTY
@given(
    requirement=SMALL_REQUIREMENTS,
    scopes=st.sets(FEW),
    roles=st.sets(FEW),
    permissions=st.sets(FEW),
    tid=st.none() | FEW,
)
def test_insufficient_scope_names_scopes_that_suffice_and_insufficient_role_none_would(
    requirement: BaseRequirement, scopes: set[str], roles: set[str], permissions: set[str], tid: str | None
) -> None:
    def who(granted: set[str]) -> Principal:
        claims = {} if tid is None else {"t": tid}
        return principal(tuple(granted), tuple(roles), tuple(permissions), **claims)

    error = refusal(requirement, who(scopes))
    if isinstance(error, InsufficientScope):
        assert refusal(requirement, who(scopes | set(error.required_scopes))) is None
    elif error is not None:
        assert isinstance(error, InsufficientRole)
        # Requirements only ever want more scopes: if every scope they name cannot help, none can.
        assert isinstance(refusal(requirement, who(scopes | scopes_named(requirement))), InsufficientRole)


# -- authorize on every framework --------------------------------------------------------------------------


class OnCall:
    """A requirement of the application's own: any object with `check` works with `authorize`."""

    def check(self, principal: Principal) -> None:
        if principal.subject != "ann":
            raise InsufficientRole("the on-call rota", "subject is not on call")


ROUTES: dict[str, Requirement | str] = {
    "/either": "scope:orders:read | role:admin",
    "/tenant": ClaimEquals("tid", "1234"),
    "/admin": Roles("admin"),
    "/nested": "(claim:tid=1234 | scope:orders:write) & scope:orders:read",
    "/on-call": OnCall(),
}


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    challenge: str | None
    body: Any


Get = Callable[[str, str], Answer]  # (path, token) -> answer


def starlette_stack(settings: Settings) -> Get:
    routes = []
    for route in ROUTES:

        @jwtguard.starlette.authorize(ROUTES[route])
        async def endpoint(request: Request) -> JSONResponse:
            return JSONResponse({"sub": request.user.identity})

        routes.append(Route(route, endpoint))
    app = Starlette(routes=routes)
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    client = TestClient(app)

    def get(path: str, token: str) -> Answer:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        return Answer(response.status_code, response.headers.get("www-authenticate"), response.json())

    return get


def fastapi_stack(settings: Settings) -> Get:
    app = FastAPI()
    for route in ROUTES:
        dependency = Authorize(ROUTES[route])

        def endpoint(principal: Principal = Depends(dependency)) -> dict[str, Any]:  # noqa: B008
            return {"sub": principal.subject}

        app.get(route)(endpoint)
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    client = TestClient(app)

    def get(path: str, token: str) -> Answer:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        return Answer(response.status_code, response.headers.get("www-authenticate"), response.json())

    return get


def flask_stack(settings: Settings) -> Get:
    app = flask.Flask("jwtguard-requirements")
    jwtguard.flask.JWTGuard(app, settings=settings)
    for route in ROUTES:

        @jwtguard.flask.authorize(ROUTES[route])
        def view() -> dict[str, Any]:
            principal = jwtguard.flask.current_principal()
            return {"sub": principal.subject if principal else None}

        app.add_url_rule(route, endpoint=route, view_func=view)
    client = app.test_client()

    def get(path: str, token: str) -> Answer:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        return Answer(response.status_code, response.headers.get("WWW-Authenticate"), response.json)

    return get


def django_stack(settings: Settings) -> Get:
    from django.http import HttpRequest, JsonResponse

    configure_django()
    values = {field.name.upper(): getattr(settings, field.name) for field in dataclasses.fields(Settings)}
    values.pop("ERROR_BODY_HOOK")
    # A URL conf of this test's own: Django accepts any module object as ROOT_URLCONF.
    urls = types.ModuleType("requirement_urls")
    urls.urlpatterns = []  # type: ignore[attr-defined]
    for route in ROUTES:

        @jwtguard.django.authorize(ROUTES[route])
        def view(request: HttpRequest) -> JsonResponse:
            return JsonResponse({"sub": request.principal.subject})  # type: ignore[attr-defined]

        urls.urlpatterns.append(django_path(route[1:], view))
    client = DjangoClient()

    def get(path: str, token: str) -> Answer:
        with override_settings(JWTGUARD=values, ROOT_URLCONF=urls):
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        return Answer(response.status_code, response.headers.get("WWW-Authenticate"), json.loads(response.content))

    return get


def drf_stack(settings: Settings) -> Get:
    from rest_framework.request import Request as DRFRequest
    from rest_framework.response import Response
    from rest_framework.views import APIView

    configure_django()
    values = {field.name.upper(): getattr(settings, field.name) for field in dataclasses.fields(Settings)}
    values.pop("ERROR_BODY_HOOK")
    urls = types.ModuleType("requirement_drf_urls")
    urls.urlpatterns = []  # type: ignore[attr-defined]
    for route in ROUTES:

        class View(APIView):
            permission_classes = (jwtguard.drf.authorize(ROUTES[route]),)

            def get(self, request: DRFRequest) -> Response:
                return Response({"sub": jwtguard.drf.require_principal(request).subject})

        urls.urlpatterns.append(django_path(route[1:], View.as_view()))
    client = DjangoClient()

    def get(path: str, token: str) -> Answer:
        with override_settings(JWTGUARD=values, ROOT_URLCONF=urls, MIDDLEWARE=[]):
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        return Answer(response.status_code, response.headers.get("WWW-Authenticate"), json.loads(response.content))

    return get


STACKS: dict[str, Callable[[Settings], Get]] = {
    "starlette": starlette_stack,
    "fastapi": fastapi_stack,
    "flask": flask_stack,
    "django": django_stack,
    "drf": drf_stack,
}


@pytest.fixture(scope="module")
def module_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", keys=[signing_keys["RS256"]]) as dev:
        yield dev


@pytest.fixture(scope="module")
def stacks(module_issuer: DevIssuer) -> dict[str, Get]:
    return {name: build(module_issuer.settings()) for name, build in STACKS.items()}


ROLE_CHALLENGE = 'Bearer realm="api"'


def scope_challenge(scopes: str) -> str:
    return (
        f'Bearer realm="api", error="insufficient_scope", error_description="{InsufficientScope.description}", '
        f'scope="{scopes}"'
    )


HTTP_CASES = [
    # (path, token claims, status, code, challenge)
    pytest.param("/either", {"scopes": ["orders:read"]}, 200, None, None, id="either-by-scope"),
    pytest.param(
        "/either",
        {"scopes": ["profile"]},
        403,
        "insufficient_scope",
        scope_challenge("orders:read"),
        id="either-lacking",
    ),
    pytest.param("/tenant", {"tid": "1234"}, 200, None, None, id="tenant"),
    pytest.param("/tenant", {"tid": ["9", "1234"]}, 200, None, None, id="tenant-in-list"),
    pytest.param("/tenant", {"tid": "999"}, 403, "insufficient_role", ROLE_CHALLENGE, id="other-tenant"),
    pytest.param("/tenant", {}, 403, "insufficient_role", ROLE_CHALLENGE, id="no-tenant"),
    pytest.param(
        "/tenant",
        {"tid": 1234},
        401,
        "claim_invalid",
        f'Bearer realm="api", error="invalid_token", error_description="{ClaimInvalid.description}"',
        id="tenant-a-number",
    ),
    pytest.param("/admin", {"scopes": ["admin"]}, 403, "insufficient_role", ROLE_CHALLENGE, id="a-scope-is-no-role"),
    pytest.param(
        "/nested", {"tid": "1234"}, 403, "insufficient_scope", scope_challenge("orders:read"), id="nested-tenant"
    ),
    pytest.param(
        "/nested",
        {"tid": "999", "scopes": ["orders:read"]},
        403,
        "insufficient_scope",
        scope_challenge("orders:write orders:read"),
        id="nested-other-tenant",
    ),
    pytest.param("/nested", {"tid": "999", "scopes": ["orders:read", "orders:write"]}, 200, None, None, id="nested"),
    pytest.param("/on-call", {}, 200, None, None, id="custom"),
    pytest.param("/on-call", {"subject": "bob"}, 403, "insufficient_role", ROLE_CHALLENGE, id="custom-refused"),
]


@pytest.mark.parametrize(("path", "claims", "status", "code", "challenge"), HTTP_CASES)
def test_authorize_answers_alike_on_every_framework(
    path: str,
    claims: dict[str, Any],
    status: int,
    code: str | None,
    challenge: str | None,
    stacks: dict[str, Get],
    module_issuer: DevIssuer,
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    token = module_issuer.token(**{"subject": "ann", **claims})
    answers: dict[str, Answer] = {}
    logs: dict[str, list[tuple[object, ...]]] = {}
    for name, get in stacks.items():
        jwtguard_logs.clear()
        answers[name] = get(path, token)
        logs[name] = [
            (record["code"], record["status"], record["reason"], record["path"], record["sub"])
            for record in records(jwtguard_logs)
            if record["code"] != "ok"
        ]
    reference = answers["starlette"]
    assert reference.status == status
    if code is None:
        assert reference.body == {"sub": "ann"}
        assert logs["starlette"] == []
    else:
        assert reference.body["code"] == code
        assert reference.challenge == challenge
        [record] = logs["starlette"]
        assert record[:2] == (code, status)
        assert record[3:] == (path, claims.get("subject", "ann"))  # whose token, for every refusal
    if code == "insufficient_role":
        # No RFC 6750 error code, and the requirement stays in the log: never in the body.
        assert reference.body == {
            "type": "urn:jwtguard:error:insufficient_role",
            "title": "Insufficient role",
            "status": 403,
            "detail": InsufficientRole.description,
            "code": "insufficient_role",
        }
    if code == "insufficient_scope":
        assert reference.body["required_scopes"] == challenge.split('scope="')[1][:-1].split(" ")  # type: ignore[union-attr]
    for name in stacks:
        assert answers[name] == reference, name
        assert logs[name] == logs["starlette"], name


def test_the_log_says_what_was_required_and_what_the_token_had(
    stacks: dict[str, Get], module_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    token = module_issuer.token(subject="ann", tid="999")
    for name, get in stacks.items():
        jwtguard_logs.clear()
        assert get("/tenant", token).status == 403
        [record] = records(jwtguard_logs, "insufficient_role")
        assert record["reason"] == "token does not meet claim:tid=1234; it has roles [] and permissions []", name
        assert "999" not in record["message"], name


def test_the_guard_gives_no_roles_or_permissions_until_their_claims_are_configured(module_issuer: DevIssuer) -> None:
    token = module_issuer.token(roles=["admin"], permissions=["read:orders"], groups="ops")
    guard = jwtguard.Guard(module_issuer.settings())
    try:
        verified = guard.authenticate(f"Bearer {token}")
    finally:
        guard.close()
    assert verified.roles == verified.permissions == frozenset()
    assert verified.claims["roles"] == ["admin"]


@pytest.mark.parametrize(
    "helper",
    [
        jwtguard.starlette.authorize,
        jwtguard.starlette.Authorize,
        jwtguard.flask.authorize,
        jwtguard.django.authorize,
        jwtguard.drf.authorize,
    ],
    ids=["starlette", "fastapi", "flask", "django", "drf"],
)
def test_every_helper_checks_its_requirement_when_the_app_is_built(helper: Callable[[Any], object]) -> None:
    with pytest.raises(ConfigurationError, match=r"^(authorize|Authorize), position 8 of 'role:a \|': expected"):
        helper("role:a |")
    with pytest.raises(ConfigurationError, match=r"^(authorize|Authorize): list is not a requirement"):
        helper(["role:a"])


def test_the_scope_helpers_are_authorize_with_scopes() -> None:
    dependency = jwtguard.starlette.RequireScopes("a", "b")
    assert isinstance(dependency, Authorize)
    assert dependency.scopes == ("a", "b")
    assert dependency.requirement == Scopes("a", "b")
    assert jwtguard.Authorize is Authorize
    assert jwtguard.authorize is jwtguard.starlette.authorize
    assert jwtguard.RequireScopes is jwtguard.starlette.RequireScopes


def test_the_readme_example_runs_as_written(module_issuer: DevIssuer) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_authorize"}
    code = quickstart("authorize").replace(PLACEHOLDER_ISSUER, module_issuer.issuer)
    code = code.replace("https://orders.example.com", module_issuer.audience)
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102  # our own README
    with TestClient(namespace["app"]) as client:

        def get(path: str, **claims: Any) -> tuple[int, str | None, str | None]:
            response = client.get(path, headers={"Authorization": f"Bearer {module_issuer.token(**claims)}"})
            return response.status_code, response.json().get("code"), response.headers.get("www-authenticate")

        assert get("/orders", scopes=["orders.admin"]) == (200, None, None)
        assert get("/refunds", scopes=["refunds.write"], tid="4f1c-acme") == (200, None, None)
        assert get("/refunds", scopes=["refunds.write"], tid="other") == (403, "insufficient_role", ROLE_CHALLENGE)
        status, error_code, challenge = get("/refunds", tid="4f1c-acme")
        assert (status, error_code) == (403, "insufficient_scope")
        assert challenge is not None
        assert challenge.endswith('scope="refunds.write"')
