"""Claim paths: the syntax, and reading names from the claim sets identity providers actually issue."""

from __future__ import annotations

from typing import Any

import pytest

from jwtguard._claim_path import ABSENT, ClaimPath, collect
from jwtguard.errors import ClaimInvalid, ConfigurationError

# Claim sets shaped as each identity provider writes them (trimmed to what the paths read).
KEYCLOAK = {
    "realm_access": {"roles": ["offline_access", "admin"]},
    "resource_access": {"api": {"roles": ["orders.read"]}, "my.client": {"roles": ["billing"]}},
}
AUTH0 = {"https://example.com/roles": ["editor"], "permissions": ["read:orders", "write:orders"]}
COGNITO = {"cognito:groups": ["ops", "admins"]}
ZITADEL = {
    "urn:zitadel:iam:org:project:roles": {
        "admin": {"248885524543397934": "example.zitadel.cloud"},
        "viewer": {"248885524543397934": "example.zitadel.cloud"},
    }
}


def paths(*texts: str) -> list[ClaimPath]:
    return [ClaimPath.parse(text, "test") for text in texts]


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        pytest.param("roles", ("roles",), id="top-level"),
        pytest.param("realm_access.roles", ("realm_access", "roles"), id="keycloak-realm"),
        pytest.param('resource_access."my.client".roles', ("resource_access", "my.client", "roles"), id="quoted"),
        pytest.param('"https://example.com/roles"', ("https://example.com/roles",), id="auth0-namespaced"),
        pytest.param("cognito:groups", ("cognito:groups",), id="colon"),
        pytest.param("urn:zitadel:iam:org:project:roles", ("urn:zitadel:iam:org:project:roles",), id="urn"),
        pytest.param('"a"."b"', ("a", "b"), id="every-segment-quoted"),
        pytest.param('"with space".x', ("with space", "x"), id="space-in-quotes"),
    ],
)
def test_paths_parse_into_segments(text: str, segments: tuple[str, ...]) -> None:
    path = ClaimPath.parse(text, "test")
    assert path.segments == segments
    assert path.text == str(path) == text


def test_paths_are_equal_when_their_segments_are() -> None:
    assert ClaimPath.parse('"a".b', "test") == ClaimPath.parse("a.b", "test")
    assert len({ClaimPath.parse('"a".b', "test"), ClaimPath.parse("a.b", "test")}) == 1
    assert ClaimPath.parse('"a.b"', "test") != ClaimPath.parse("a.b", "test")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param("a..b", "empty segment at position 2", id="empty-segment"),
        pytest.param(".a", "empty segment at position 0", id="leading-dot"),
        pytest.param("a.", "ends with a dot", id="trailing-dot"),
        pytest.param('""', "empty segment at position 0", id="empty-quoted"),
        pytest.param('"a.b', "unbalanced quote at position 0", id="unclosed-quote"),
        pytest.param('a."b', "unbalanced quote at position 2", id="unclosed-later"),
        pytest.param('a"b"', "quote inside a segment at position 1", id="quote-inside"),
        pytest.param('"a"b', "quoted segment must be followed by '.'", id="text-after-quote"),
        pytest.param("a b", "whitespace", id="space"),
        pytest.param("roles\n", "control character at position 5", id="newline"),
        pytest.param('"a\x00"', "control character at position 2", id="nul-in-quotes"),
        pytest.param("a\x85b", "control character", id="c1"),
    ],
)
def test_malformed_paths_are_configuration_errors_naming_the_path(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^role_claims: ") as raised:
        ClaimPath.parse(text, "role_claims")
    assert message in str(raised.value)
    if text:
        assert repr(text) in str(raised.value)


def test_a_path_must_be_text() -> None:
    with pytest.raises(ConfigurationError, match="a claim path is a string, not list"):
        ClaimPath.parse(["roles"], "role_claims")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("claims", "texts", "names"),
    [
        pytest.param(KEYCLOAK, ["realm_access.roles"], {"offline_access", "admin"}, id="keycloak-realm-roles"),
        pytest.param(KEYCLOAK, ["resource_access.api.roles"], {"orders.read"}, id="keycloak-client-roles"),
        pytest.param(
            KEYCLOAK,
            ["realm_access.roles", "resource_access.api.roles", 'resource_access."my.client".roles'],
            {"offline_access", "admin", "orders.read", "billing"},
            id="keycloak-union",
        ),
        pytest.param(AUTH0, ['"https://example.com/roles"'], {"editor"}, id="auth0-namespaced-roles"),
        pytest.param(AUTH0, ["permissions"], {"read:orders", "write:orders"}, id="auth0-permissions"),
        pytest.param(COGNITO, ["cognito:groups"], {"ops", "admins"}, id="cognito-groups"),
        pytest.param(ZITADEL, ["urn:zitadel:iam:org:project:roles"], {"admin", "viewer"}, id="zitadel-object"),
        pytest.param({"roles": "a  b c"}, ["roles"], {"a", "b", "c"}, id="space-separated"),
        pytest.param({"roles": "a\u3000b\tc"}, ["roles"], {"a\u3000b\tc"}, id="only-u0020-separates"),
        pytest.param({"roles": ""}, ["roles"], set(), id="empty-string"),
        pytest.param({"roles": []}, ["roles"], set(), id="empty-list"),
        pytest.param({"roles": {}}, ["roles"], set(), id="empty-object"),
        pytest.param({"roles": ["a", "a", ""]}, ["roles"], {"a"}, id="duplicates-and-empty"),
        pytest.param({}, ["realm_access.roles"], set(), id="absent"),
        pytest.param({"realm_access": {}}, ["realm_access.roles"], set(), id="absent-leaf"),
        pytest.param(KEYCLOAK, ["groups", "realm_access.roles"], {"offline_access", "admin"}, id="one-absent"),
    ],
)
def test_collect_reads_every_shape_providers_issue(claims: dict[str, Any], texts: list[str], names: set[str]) -> None:
    assert collect(claims, paths(*texts)) == frozenset(names)


@pytest.mark.parametrize(
    ("claims", "text", "shape"),
    [
        pytest.param({"roles": 7}, "roles", "a number", id="number"),
        pytest.param({"roles": 1.5}, "roles", "a number", id="float"),
        pytest.param({"roles": True}, "roles", "a boolean", id="boolean"),
        pytest.param({"roles": None}, "roles", "null", id="null"),
        pytest.param({"roles": ["a", 1]}, "roles", "holding something other than strings", id="list-of-mixed"),
        pytest.param({"roles": [["a"]]}, "roles", "holding something other than strings", id="nested-list"),
        pytest.param({"realm_access": ["admin"]}, "realm_access.roles", "'realm_access' is not an object", id="list"),
        pytest.param({"realm_access": "admin"}, "realm_access.roles", "'realm_access' is not an object", id="string"),
        pytest.param({"realm_access": None}, "realm_access.roles", "'realm_access' is not an object", id="null-mid"),
        pytest.param(
            {"resource_access": {"api": 3}}, "resource_access.api.roles", "'resource_access.api' is not", id="deep"
        ),
    ],
)
def test_a_value_of_another_shape_is_claim_invalid_naming_the_path(
    claims: dict[str, Any], text: str, shape: str
) -> None:
    with pytest.raises(ClaimInvalid) as raised:
        collect(claims, paths(text))
    assert raised.value.claim == text
    assert raised.value.code == "claim_invalid"
    assert raised.value.status_code == 401
    assert shape in raised.value.reason
    assert repr(text) in raised.value.reason


def test_a_refusal_never_quotes_the_value() -> None:
    # The value may be personal data: the reason says what kind of value it is, not what it is.
    with pytest.raises(ClaimInvalid) as raised:
        collect({"roles": 4711}, paths("roles"))
    assert "4711" not in raised.value.reason


def test_collect_without_paths_returns_one_shared_empty_set() -> None:
    assert collect(KEYCLOAK, []) is collect({}, ()) is collect({"roles": 7}, [])
    assert collect({}, paths("roles")) is collect(KEYCLOAK, [])  # nothing found: the same shared set


def test_read_tells_absent_from_present() -> None:
    [path] = paths("a.b")
    assert path.read({}) is ABSENT
    assert path.read({"a": {}}) is ABSENT
    assert path.read({"a": {"b": None}}) is None
    assert repr(ABSENT) == "ABSENT"
