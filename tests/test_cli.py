"""The `jwtguard` command run as a new user would run it: a subprocess against a key server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from jwtguard.testing import DevIssuer, SigningKey

from .conftest import dead_url


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jwtguard", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def verify(issuer: DevIssuer, token: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run(
        "verify", token, "--issuer", issuer.issuer, "--audience", issuer.audience, "--jwks-uri", issuer.jwks_uri,
        "--algorithm", "RS256", "--algorithm", "ES256", "--json", *extra,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


Make = Callable[[DevIssuer, dict[str, SigningKey]], str]
NOW = int(time.time())

CASES = [
    pytest.param(lambda i, o: "Basic dXNlcjpwYXNz", "token_missing", "format", id="token_missing"),
    pytest.param(lambda i, o: "Bearer abc def", "invalid_request", "format", id="invalid_request"),
    pytest.param(lambda i, o: "not-a-jwt", "token_malformed", "format", id="token_malformed"),
    pytest.param(
        lambda i, o: jwt.encode(i.claims(), "a-shared-secret-of-thirty-two-bytes", algorithm="HS256"),
        "algorithm_not_allowed",
        "algorithm",
        id="algorithm_not_allowed",
    ),
    pytest.param(lambda i, o: i.token(key=o["RS256"]), "key_not_found", "key lookup", id="key_not_found"),
    pytest.param(
        lambda i, o: i.token(key=o["RS256"], headers={"kid": i.key.kid}),
        "signature_invalid",
        "signature",
        id="signature_invalid",
    ),
    pytest.param(lambda i, o: i.token(expires_in=-7200), "token_expired", "expiry", id="token_expired"),
    pytest.param(
        lambda i, o: i.token(nbf=NOW + 7200, expires_in=9000),
        "token_not_yet_valid",
        "not-before",
        id="token_not_yet_valid",
    ),
    pytest.param(lambda i, o: i.token(issuer="https://evil.test"), "issuer_invalid", "issuer", id="issuer_invalid"),
    pytest.param(lambda i, o: i.token(audience="other-api"), "audience_invalid", "audience", id="audience_invalid"),
    pytest.param(lambda i, o: i.token(exp=None), "claim_missing", "expiry", id="claim_missing"),
    pytest.param(lambda i, o: i.token(exp="tomorrow"), "claim_invalid", "expiry", id="claim_invalid"),
]


@pytest.mark.parametrize(("make", "code", "step"), CASES)
def test_each_error_code(
    make: Make, code: str, step: str, issuer: DevIssuer, other_keys: dict[str, SigningKey]
) -> None:
    status, report = verify(issuer, make(issuer, other_keys))
    assert status == 1
    assert report["valid"] is False
    assert report["code"] == code
    assert report["failing_step"] == step
    [first_failure] = [entry for entry in report["steps"] if entry["status"] == "fail"][:1]
    assert first_failure["code"] == code  # the step-by-step walk agrees with the guard's verdict
    assert report["causes"]
    assert report["fix"]


def test_insufficient_scope(issuer: DevIssuer) -> None:
    status, report = verify(issuer, issuer.token(scopes=["profile"]), "--required-scope", "orders:read")
    assert (status, report["code"], report["failing_step"]) == (1, "insufficient_scope", "scopes")


def test_a_required_claim(issuer: DevIssuer) -> None:
    status, report = verify(issuer, issuer.token(), "--required-claim", "tenant")
    assert (status, report["code"], report["failing_step"]) == (1, "claim_missing", "required claims")


def test_an_unreachable_key_server_exits_3(issuer: DevIssuer) -> None:
    result = run(
        "verify", issuer.token(), "--issuer", issuer.issuer, "--audience", issuer.audience,
        "--jwks-uri", dead_url(), "--timeout", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert (report["code"], report["failing_step"]) == ("jwks_unavailable", "key lookup")


def test_a_valid_token_exits_0(issuer: DevIssuer) -> None:
    status, report = verify(issuer, issuer.token(scopes=["orders:read"]), "--required-scope", "orders:read")
    assert status == 0
    assert report["valid"] is True
    assert all(step["status"] in ("pass", "skip") for step in report["steps"])


def test_every_failing_check_is_reported_not_only_the_first(issuer: DevIssuer) -> None:
    status, report = verify(issuer, issuer.token(expires_in=-7200, audience="other-api"))
    failing = {step["name"]: step["code"] for step in report["steps"] if step["status"] == "fail"}
    assert status == 1
    assert report["code"] == "token_expired"
    assert failing == {"expiry": "token_expired", "audience": "audience_invalid"}


@pytest.mark.parametrize(
    ("offset", "hint"), [pytest.param(60, True, id="a-minute"), pytest.param(86400, False, id="a-day")]
)
def test_the_clock_skew_hint(issuer: DevIssuer, offset: int, hint: bool) -> None:
    now = int(time.time())
    token = issuer.token(iat=now + offset, nbf=now + offset, exp=now + offset + 600)
    status, report = verify(issuer, token, "--leeway", "10")
    assert (status, report["code"]) == (1, "token_not_yet_valid")
    assert any("clock drift" in text for text in report["hints"]) is hint


def test_the_human_output_names_the_step_code_and_fix(issuer: DevIssuer) -> None:
    result = run(
        "verify", issuer.token(audience="other-api"), "--issuer", issuer.issuer, "--audience", issuer.audience,
        "--jwks-uri", issuer.jwks_uri,
    )  # fmt: skip
    assert result.returncode == 1
    assert "FAIL  audience" in result.stdout
    assert "INVALID: 401 audience_invalid" in result.stdout
    assert "fix: request the token with this API's audience" in result.stdout
    assert "\x1b[" not in result.stdout  # no colours when not on a terminal


def test_a_configuration_error_exits_2(issuer: DevIssuer) -> None:
    result = run("verify", issuer.token(), "--issuer", issuer.issuer, "--jwks-uri", issuer.jwks_uri)
    assert result.returncode == 2
    assert "audience is required" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("verify").returncode == 2
    assert run("frobnicate").returncode == 2


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c",
        "!!!.###.$$$",
        "eyJ.eyJ.",
        "x" * 20000,
        "e30.W10.",
        "/w.AA.",
        "a.b.c.d.e",
        "\u00e9",
    ],
)
def test_inspect_never_tracebacks(garbage: str) -> None:
    result = run("inspect", "-", stdin=garbage)
    assert result.returncode in (0, 1)
    assert "Traceback" not in result.stderr
    assert "NOT VERIFIED" in result.stdout


def test_inspect_shows_times_and_warnings(issuer: DevIssuer) -> None:
    result = run("inspect", f"Bearer {issuer.token(expires_in=-3 * 3600)}", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["verified"] is False
    assert report["claims"]["sub"] == "user-1"
    assert report["times"]["exp"].endswith("3 h 0 min ago)")
    assert any(warning.startswith("expired 3 h") for warning in report["warnings"])


def test_keys_shows_the_key_set_and_skipped_keys(issuer: DevIssuer) -> None:
    issuer.server.jwks = {"keys": [*issuer.server.jwks["keys"], {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}]}
    result = run(
        "keys", "--issuer", issuer.issuer, "--audience", issuer.audience, "--jwks-uri", issuer.jwks_uri, "--json"
    )
    assert result.returncode == 0
    [entry] = json.loads(result.stdout)["issuers"]
    assert [key["kid"] for key in entry["keys"]] == [key.kid for key in issuer.keys]
    assert entry["skipped"] == [
        {"kid": "sym", "reason": "symmetric key (kty oct) cannot be published for verification"}
    ]
    assert entry["ttl_seconds"] == 300


def test_keys_finds_the_key_set_by_discovery(issuer: DevIssuer) -> None:
    result = run("keys", "--issuer", issuer.issuer, "--audience", issuer.audience, "--discovery")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"source {issuer.jwks_uri}  (cache-control 'max-age=300' -> ttl 300 s)" in result.stdout
    assert result.stdout.count("  key  kid ") == len(issuer.keys)


def test_keys_with_an_unreachable_source_exits_3(issuer: DevIssuer) -> None:
    result = run("keys", "--issuer", issuer.issuer, "--audience", issuer.audience, "--jwks-uri", dead_url())
    assert result.returncode == 3
    assert "unreachable" in result.stdout


def test_settings_come_from_the_environment_too(issuer: DevIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWTGUARD_ISSUER", issuer.issuer)
    monkeypatch.setenv("JWTGUARD_AUDIENCE", issuer.audience)
    monkeypatch.setenv("JWTGUARD_JWKS_URI", issuer.jwks_uri)
    result = run("verify", issuer.token(), "--json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_claim_step_is_checked_on_its_own(issuer: DevIssuer, tmp_path: Path) -> None:
    now = int(time.time())
    token = issuer.token(iat=None, nbf=now + 100, exp=now + 600, issuer="https://evil.example", audience="other-api")
    settings = settings_file(tmp_path, {"max_token_lifetime": 3600})
    status, report = verify(issuer, token, "--leeway", "300", "--settings", settings)
    steps = {step["name"]: (step["status"], step["code"]) for step in report["steps"]}
    assert status == 1
    assert report["code"] == "claim_missing"  # iat is required when max_token_lifetime is set
    assert report["failing_step"] == "lifetime"
    assert steps["lifetime"] == ("fail", "claim_missing")
    assert steps["not-before"] == ("pass", None)  # nbf is within the leeway
    assert steps["issuer"] == ("fail", "issuer_invalid")
    assert steps["audience"] == ("fail", "audience_invalid")
    assert steps["expiry"] == ("pass", None)


def settings_file(directory: Path, values: dict[str, Any]) -> str:
    path = directory / "settings.json"
    path.write_text(json.dumps(values))
    return str(path)


@pytest.mark.parametrize(
    "header_or_claims",
    [
        pytest.param(('{"alg":[]}', "{}"), id="alg-list"),
        pytest.param(('{"alg":{}}', "{}"), id="alg-object"),
        pytest.param(('{"alg":"RS256"}', '{"exp":Infinity}'), id="exp-infinity"),
        pytest.param(('{"alg":"RS256"}', '{"exp":-Infinity,"nbf":NaN}'), id="exp-minus-infinity-nbf-nan"),
        pytest.param(('{"alg":"RS256"}', '{"exp":1' + "0" * 400 + "}"), id="exp-huge-integer"),
        pytest.param(('{"alg":"RS256"}', '{"auth_time":1' + "0" * 400 + "}"), id="auth-time-huge"),
    ],
)
def test_inspect_survives_hostile_values(header_or_claims: tuple[str, str]) -> None:
    import base64

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    header, claims = header_or_claims
    token = f"{b64(header)}.{b64(claims)}.c2ln"
    for extra in ((), ("--json",)):
        result = run("inspect", token, *extra)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"issur": "x"}, "'issur' is not a jwtguard setting; did you mean 'issuer'?", id="typo"),
        pytest.param({"revocation_hook": 1}, "is not a jwtguard setting", id="hook-from-a-file"),
    ],
)
def test_a_bad_settings_file_exits_2(issuer: DevIssuer, tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    result = run("verify", issuer.token(), "--settings", settings_file(tmp_path, settings))
    assert result.returncode == 2
    assert message in result.stderr


def test_a_deeply_nested_settings_file_exits_2(issuer: DevIssuer, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    result = run("verify", issuer.token(), "--settings", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        pytest.param({"not": "a jwks"}, "not a JWKS document", id="not-a-jwks"),
        pytest.param({"keys": []}, "no usable verification key", id="no-keys"),
        pytest.param({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "no usable verification key", id="only-unusable"),
    ],
)
def test_keys_agrees_with_the_guard_on_unusable_key_sets(issuer: DevIssuer, jwks: dict[str, Any], message: str) -> None:
    issuer.server.jwks = jwks
    result = run("keys", "--issuer", issuer.issuer, "--audience", issuer.audience, "--jwks-uri", issuer.jwks_uri)
    assert result.returncode == 3
    assert message in result.stdout
    assert "Traceback" not in result.stderr


def test_keys_refuses_a_static_jwks_without_usable_keys_as_the_guard_does(issuer: DevIssuer, tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}]}))
    result = run("keys", "--issuer", issuer.issuer, "--audience", issuer.audience, "--jwks", str(jwks))
    assert result.returncode == 2
    assert "configuration error: the static jwks has no usable verification key" in result.stderr


def test_keys_refuses_a_discovery_document_for_another_issuer(issuer: DevIssuer) -> None:
    result = run("keys", "--issuer", issuer.issuer + "/", "--audience", issuer.audience, "--discovery")
    assert result.returncode == 2  # a configuration error, not an outage
    assert f"the discovery document names issuer {issuer.issuer!r}" in result.stdout


# -- nothing a token says reaches the terminal as a control sequence --------------------------------

ESCAPES = "\x1b[2J\x1b[32m\nVALID: the token passes every check\r\u202e\x07"


def _forged(header: dict[str, Any], claims: dict[str, Any]) -> str:
    import base64

    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(claims)}.c2ln"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_forged({"alg": "HS256" + ESCAPES}, {"exp": 1}), id="hs-alg"),
        pytest.param(_forged({"alg": ESCAPES, "kid": ESCAPES}, {"scope": ESCAPES}), id="alg-and-kid"),
        pytest.param(_forged({"alg": "RS256", "typ": ESCAPES}, {"iss": ESCAPES, "aud": [ESCAPES]}), id="claims"),
        pytest.param(ESCAPES.replace("\n", "") + ".e30.c2ln", id="opaque"),
    ],
)
def test_inspect_and_verify_escape_every_token_value(issuer: DevIssuer, token: str) -> None:
    results = [
        run("inspect", token),
        run("verify", token, "--issuer", issuer.issuer, "--audience", issuer.audience, "--jwks-uri", issuer.jwks_uri),
    ]
    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        for char in "\x1b\r\u202e\x07":
            assert char not in result.stdout
        assert not any(line.startswith("VALID") for line in result.stdout.splitlines()), result.stdout


def test_the_colour_codes_survive_and_only_they(issuer: DevIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from jwtguard import cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys, "stdout", terminal)
    assert cli.main(["inspect", _forged({"alg": "HS256" + ESCAPES}, {"exp": 1})]) == 0
    output = terminal.getvalue()
    assert "\x1b[33mNOT VERIFIED" in output  # jwtguard's own colour
    assert "\x1b[2J" not in output
    assert "\x1b[32m\n" not in output
    assert "\\x1b[2J" in output  # the token's escape, shown as text


# -- roles, permissions, per-route rules and issuer templates ---------------------------------------

RULES = {
    "role_claims": ["realm_access.roles"],
    "permission_claims": ["permissions"],
    "rules": [
        "GET /orders/* scope:orders.read | role:orders-reader",
        "POST /orders/* role:orders-admin",
        "* /health public",
    ],
}


def test_the_roles_and_permissions_found_are_shown(issuer: DevIssuer, tmp_path: Path) -> None:
    token = issuer.token(realm_access={"roles": ["viewer", "orders-reader"]}, permissions="read:orders")
    status, report = verify(issuer, token, "--settings", settings_file(tmp_path, RULES))
    steps = {step["name"]: step for step in report["steps"]}
    assert status == 0
    assert (report["roles"], report["permissions"]) == (["orders-reader", "viewer"], ["read:orders"])
    assert steps["roles and permissions"]["status"] == "pass"
    assert steps["roles and permissions"]["detail"] == (
        "roles from realm_access.roles: orders-reader viewer; permissions from permissions: read:orders"
    )
    assert report["rule"] is None  # no request path given
    assert steps["rule"]["status"] == "skip"


def test_without_role_claims_the_step_is_skipped(issuer: DevIssuer) -> None:
    status, report = verify(issuer, issuer.token(realm_access={"roles": ["viewer"]}))
    steps = {step["name"]: step for step in report["steps"]}
    assert status == 0
    assert (report["roles"], report["permissions"]) == (None, None)
    assert steps["roles and permissions"]["status"] == "skip"


def test_a_rule_that_matches_and_is_met(issuer: DevIssuer, tmp_path: Path) -> None:
    token = issuer.token(realm_access={"roles": ["orders-reader"]})
    status, report = verify(issuer, token, "--settings", settings_file(tmp_path, RULES), "--path", "/orders/42")
    assert status == 0
    assert report["valid"] is True
    assert report["rule"] == {
        "method": "GET",
        "path": "/orders/42",
        "rule": "GET /orders/* scope:orders.read | role:orders-reader",
        "access": "requirement",
        "met": True,
        "code": None,
    }
    [rule] = [step for step in report["steps"] if step["name"] == "rule"]
    assert rule["status"] == "pass"
    assert rule["detail"].endswith(": met")


def test_a_rule_that_is_not_met_is_insufficient_role(issuer: DevIssuer, tmp_path: Path) -> None:
    token = issuer.token(realm_access={"roles": ["orders-reader"]})
    settings = settings_file(tmp_path, RULES)
    status, report = verify(issuer, token, "--settings", settings, "--method", "post", "--path", "/orders/42")
    assert status == 1
    assert (report["code"], report["status"], report["failing_step"]) == ("insufficient_role", 403, "rule")
    assert report["rule"]["rule"] == "POST /orders/* role:orders-admin"
    assert (report["rule"]["met"], report["rule"]["code"]) == (False, "insufficient_role")
    failing = [(step["name"], step["code"]) for step in report["steps"] if step["status"] == "fail"]
    assert failing == [("rule", "insufficient_role")]  # every check of the token itself passes
    assert report["causes"]


def test_a_rule_a_scope_would_meet_is_insufficient_scope(issuer: DevIssuer, tmp_path: Path) -> None:
    settings = settings_file(tmp_path, {"rules": ["GET /orders/* scope:orders.read"]})
    status, report = verify(issuer, issuer.token(scopes=["profile"]), "--settings", settings, "--path", "/orders")
    assert status == 1
    assert (report["code"], report["failing_step"], report["rule"]["met"]) == ("insufficient_scope", "rule", False)
    [rule] = [step for step in report["steps"] if step["name"] == "rule"]
    assert rule["detail"].endswith(": not met; granted, scope orders.read would meet it")


def test_an_invalid_token_is_still_checked_against_the_rule(issuer: DevIssuer, tmp_path: Path) -> None:
    token = issuer.token(expires_in=-7200, realm_access={"roles": ["viewer"]})
    status, report = verify(issuer, token, "--settings", settings_file(tmp_path, RULES), "--path", "/orders/1")
    failing = {step["name"]: step["code"] for step in report["steps"] if step["status"] == "fail"}
    assert status == 1
    assert (report["code"], report["failing_step"]) == ("token_expired", "expiry")  # the guard's first refusal
    # `scope:orders.read | role:orders-reader`: a scope alone would meet it, so insufficient_scope.
    assert failing == {"expiry": "token_expired", "rule": "insufficient_scope"}
    assert report["rule"]["met"] is False


@pytest.mark.parametrize("path", ["/orders//42", "/orders/../admin", "/orders/./42", "/health/.."])
def test_an_unsafe_path_is_invalid_request(issuer: DevIssuer, tmp_path: Path, path: str) -> None:
    token = issuer.token(realm_access={"roles": ["orders-reader"]})
    status, report = verify(issuer, token, "--settings", settings_file(tmp_path, RULES), "--path", path)
    assert status == 1
    assert (report["code"], report["status"], report["failing_step"]) == ("invalid_request", 400, "rule")
    assert report["rule"] == {
        "method": "GET",
        "path": path,
        "rule": None,
        "access": None,
        "met": None,
        "code": "invalid_request",
    }


def test_public_paths_and_paths_no_rule_matches(issuer: DevIssuer, tmp_path: Path) -> None:
    expired = issuer.token(expires_in=-7200)
    settings = settings_file(tmp_path, RULES)
    status, report = verify(issuer, expired, "--settings", settings, "--path", "/health")
    assert (status, report["code"]) == (1, "token_expired")  # the verdict is still the token's
    assert (report["rule"]["rule"], report["rule"]["access"]) == ("* /health public", "public")
    assert any("passes whatever the token" in hint for hint in report["hints"])

    status, report = verify(issuer, issuer.token(), "--settings", settings, "--path", "/profile")
    assert (status, report["rule"]["rule"], report["rule"]["access"]) == (0, None, "authenticated")

    # Without rules, exclude_paths alone decide, and a path with a dot segment is merely not excluded.
    excluded = settings_file(tmp_path, {"exclude_paths": ["/public/*"]})
    status, report = verify(issuer, expired, "--settings", excluded, "--path", "/public/logo.png")
    assert (status, report["code"], report["rule"]["access"]) == (1, "token_expired", "public")
    status, report = verify(issuer, issuer.token(), "--settings", excluded, "--path", "/public/../admin")
    assert (status, report["rule"]["access"], report["rule"]["code"]) == (0, "authenticated", None)


def test_the_human_output_names_the_rule(issuer: DevIssuer, tmp_path: Path) -> None:
    token = issuer.token(realm_access={"roles": ["orders-reader"]})
    result = run(
        "verify", token, "--issuer", issuer.issuer, "--audience", issuer.audience, "--jwks-uri", issuer.jwks_uri,
        "--settings", settings_file(tmp_path, RULES), "--method", "POST", "--path", "/orders/42",
    )  # fmt: skip
    assert result.returncode == 1
    assert "  pass  roles and permissions roles from realm_access.roles: orders-reader;" in result.stdout
    assert (
        "  FAIL  rule                  POST /orders/42 matches 'POST /orders/* role:orders-admin': not met; "
        "the token has roles [orders-reader] and permissions [] [insufficient_role]"
    ) in result.stdout
    assert "INVALID: 403 insufficient_role" in result.stdout
    assert "failing step: rule" in result.stdout
    assert "more: jwtguard explain insufficient_role" in result.stdout


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        pytest.param(5, "is a number", id="number"),
        pytest.param([{"name": "admin"}], "is a list holding something other than strings", id="list-of-objects"),
        pytest.param(True, "is a boolean", id="boolean"),
    ],
)
def test_a_role_claim_of_the_wrong_shape_is_claim_invalid(
    issuer: DevIssuer, tmp_path: Path, value: object, shape: str
) -> None:
    token = issuer.token(realm_access={"roles": value})
    status, report = verify(issuer, token, "--settings", settings_file(tmp_path, RULES), "--path", "/orders/1")
    [step] = [step for step in report["steps"] if step["name"] == "roles and permissions"]
    assert status == 1
    assert (report["code"], report["failing_step"]) == ("claim_invalid", "roles and permissions")
    assert (step["status"], step["code"]) == ("fail", "claim_invalid")
    assert step["detail"].startswith(f"claim 'realm_access.roles' {shape}")
    assert report["roles"] is None
    assert report["rule"]["met"] is None  # the roles cannot be read: the rule cannot be told


def test_the_audience_claim_is_named(issuer: DevIssuer, tmp_path: Path) -> None:
    settings = settings_file(tmp_path, {"audience_claim": "client_id"})
    token = issuer.token(audience="unused", client_id="another-client")
    status, report = verify(issuer, token, "--settings", settings)
    [step] = [step for step in report["steps"] if step["name"] == "audience"]
    assert (status, report["code"], report["failing_step"]) == (1, "audience_invalid", "audience")
    assert step["detail"] == (
        f"client_id 'another-client' is not one of ['{issuer.audience}'] (audience_claim is 'client_id')"
    )
    status, report = verify(issuer, issuer.token(audience="unused", client_id=issuer.audience), "--settings", settings)
    assert status == 0


def _tenant_settings(issuer: DevIssuer, directory: Path) -> str:
    template = {
        "issuer": issuer.issuer + "/{tenant}/v2.0",
        "tenants": ["tenant-a"],
        "tenant_claim": "tid",
        "jwks_uri": issuer.jwks_uri,
    }
    return settings_file(directory, {"audience": issuer.audience, "issuers": [template]})


@pytest.mark.parametrize(
    ("tenant", "tid", "detail"),
    [
        pytest.param(
            "tenant-b", "tenant-b", "names tenant 'tenant-b', which is not in tenants ['tenant-a']", id="not-listed"
        ),
        pytest.param(
            "tenant-a", "tenant-b", "names tenant 'tenant-a', but the 'tid' claim is 'tenant-b'", id="tid-differs"
        ),
        pytest.param("tenant-a", None, "names tenant 'tenant-a', but the token has no 'tid' claim", id="no-tid"),
    ],
)
def test_a_template_issuer_with_the_wrong_tenant_is_issuer_invalid(
    issuer: DevIssuer, tmp_path: Path, tenant: str, tid: str | None, detail: str
) -> None:
    iss = f"{issuer.issuer}/{tenant}/v2.0"
    result = run(
        "verify", issuer.token(issuer=iss, tid=tid), "--settings", _tenant_settings(issuer, tmp_path), "--json"
    )
    report = json.loads(result.stdout)
    [step] = [step for step in report["steps"] if step["name"] == "issuer"]
    assert result.returncode == 1
    assert (report["code"], report["failing_step"]) == ("issuer_invalid", "issuer")
    assert step["detail"] == f"iss {iss!r} {detail}"


def test_a_template_issuer_with_a_listed_tenant_is_valid(issuer: DevIssuer, tmp_path: Path) -> None:
    iss = f"{issuer.issuer}/tenant-a/v2.0"
    result = run("verify", issuer.token(issuer=iss, tid="tenant-a"), "--settings", _tenant_settings(issuer, tmp_path))
    assert result.returncode == 0, result.stdout
    assert f"  pass  issuer                iss {iss!r}: tenant 'tenant-a' (in tenants) is the 'tid' claim" in (
        result.stdout
    )


def test_the_environment_overrides_the_settings_file(
    issuer: DevIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"issuer": issuer.issuer, "audience": "another-api", "jwks_uri": issuer.jwks_uri}
    monkeypatch.setenv("JWTGUARD_AUDIENCE", issuer.audience)
    result = run("verify", issuer.token(), "--settings", settings_file(tmp_path, settings), "--json")
    assert result.returncode == 0, result.stdout
    # and flags override both
    result = run("verify", issuer.token(), "--settings", settings_file(tmp_path, settings), "--audience", "x", "--json")
    assert json.loads(result.stdout)["code"] == "audience_invalid"


def test_guard_rule_for(issuer: DevIssuer) -> None:
    from jwtguard import Guard
    from jwtguard.errors import UnsafePath

    guard = Guard(issuer.settings(rules=RULES["rules"], exclude_paths=["/public/*"]))
    assert str(guard.rule_for("GET", "/public/a")) == "* /public/* public"  # exclude_paths come first
    assert str(guard.rule_for("POST", "/orders")) == "POST /orders/* role:orders-admin"
    assert guard.rule_for("DELETE", "/orders/1") is None
    with pytest.raises(UnsafePath):
        guard.rule_for("GET", "/orders//1")
    # Without rules there is no rule, and no path is refused for its segments.
    assert Guard(issuer.settings(exclude_paths=["/public/*"])).rule_for("GET", "/public/../x") is None


def test_an_anonymous_rule_is_named_when_no_token_is_sent(issuer: DevIssuer) -> None:
    from jwtguard import Guard
    from jwtguard.diagnose import diagnose

    guard = Guard(issuer.settings(rules=["GET /catalog/* anonymous"]))
    diagnosis = diagnose(guard, "Basic dXNlcjpwYXNz", path="/catalog/shoes")
    assert (diagnosis.code, diagnosis.failing_step) == ("token_missing", "format")  # the token's verdict
    assert diagnosis.rule is not None
    assert (diagnosis.rule.rule, diagnosis.rule.access) == ("GET /catalog/* anonymous", "anonymous")
    assert diagnosis.hints == ["the rule for GET /catalog/shoes lets a request without a token through, anonymously"]
    # A malformed header on an unsafe path: the path is refused first, as the middleware refuses it.
    diagnosis = diagnose(guard, "Bearer a b", path="/catalog//shoes")
    assert (diagnosis.code, diagnosis.status, diagnosis.failing_step) == ("invalid_request", 400, "rule")


def test_verify_shows_the_configured_audience_claim_and_the_roles_read(issuer: DevIssuer, tmp_path: Path) -> None:
    # A Cognito-shaped access token: no aud, its client in client_id, its groups as roles.
    settings = settings_file(tmp_path, {"audience_claim": "client_id", "role_claims": ["cognito:groups"]})
    claims: dict[str, Any] = {"aud": None, "client_id": issuer.audience, "cognito:groups": ["orders-readers"]}
    status, report = verify(issuer, issuer.token(**claims), "--settings", settings)
    steps = {step["name"]: step for step in report["steps"]}
    assert status == 0
    assert steps["audience"]["detail"] == f"client_id {issuer.audience!r} (audience_claim)"
    assert steps["roles and permissions"]["detail"] == "roles from cognito:groups: orders-readers"
    assert [step["name"] for step in report["steps"]][-4:] == ["scopes", "roles and permissions", "revocation", "rule"]
    inspected = json.loads(run("inspect", issuer.token(**claims), "--json").stdout)
    assert (
        "no aud: refused unless audience_claim names another claim, or any audience is allowed" in inspected["warnings"]
    )

    status, report = verify(issuer, issuer.token(**{**claims, "client_id": "another-client"}), "--settings", settings)
    steps = {step["name"]: step for step in report["steps"]}
    assert (status, report["failing_step"]) == (1, "audience")
    assert steps["audience"]["detail"] == (
        f"client_id 'another-client' is not one of [{issuer.audience!r}] (audience_claim is 'client_id')"
    )

    status, report = verify(issuer, issuer.token(**{**claims, "cognito:groups": 7}), "--settings", settings)
    steps = {step["name"]: step for step in report["steps"]}
    assert (status, report["failing_step"]) == (1, "roles and permissions")
    assert steps["roles and permissions"]["code"] == "claim_invalid"


def test_verify_fits_every_step_name_in_its_column(issuer: DevIssuer, tmp_path: Path) -> None:
    settings = settings_file(tmp_path, {"role_claims": ["roles"]})
    result = run(
        "verify", issuer.token(roles=["admin"]), "--issuer", issuer.issuer, "--audience", issuer.audience,
        "--jwks-uri", issuer.jwks_uri, "--settings", settings,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "  pass  roles and permissions roles from roles: admin\n" in result.stdout


# -- issue 14: the command's papercuts ----------------------------------------------------------------


def _server_clock(monkeypatch: pytest.MonkeyPatch, offset: float) -> None:
    """The key server's `Date` header runs `offset` seconds from this machine's clock."""
    from email.utils import formatdate
    from http.server import BaseHTTPRequestHandler

    def skewed(*args: Any, **kwargs: Any) -> str:
        return formatdate(time.time() + offset, usegmt=True)

    monkeypatch.setattr("jwtguard.testing.formatdate", skewed)
    monkeypatch.setattr(BaseHTTPRequestHandler, "date_time_string", skewed)


@pytest.mark.parametrize(
    ("offset", "claims", "code", "evidence"),
    [
        pytest.param(0, {"expires_in": -60}, "token_expired", None, id="short-expiry-clocks-agree"),
        pytest.param(-120, {"expires_in": -60}, "token_expired", "s behind this machine's", id="server-behind"),
        pytest.param(120, {"expires_in": -60}, "token_expired", None, id="server-ahead-does-not-explain-expiry"),
        pytest.param(0, {"nbf": 60, "exp": 600}, "token_not_yet_valid", None, id="minted-for-later"),
        pytest.param(120, {"nbf": 60, "exp": 600}, "token_not_yet_valid", "s ahead of this machine's", id="ahead"),
        pytest.param(0, {"iat": 60, "nbf": 60, "exp": 600}, "token_not_yet_valid", "issued (iat) ", id="iat"),
    ],
)
def test_the_clock_skew_hint_needs_evidence_of_skew(
    issuer: DevIssuer,
    monkeypatch: pytest.MonkeyPatch,
    offset: int,
    claims: dict[str, int],
    code: str,
    evidence: str | None,
) -> None:
    _server_clock(monkeypatch, offset)
    now = int(time.time())
    times: dict[str, Any] = {name: now + value for name, value in claims.items() if name != "expires_in"}
    token = issuer.token(**times) if "expires_in" not in claims else issuer.token(expires_in=claims["expires_in"])
    status, report = verify(issuer, token, "--leeway", "0")
    assert (status, report["code"]) == (1, code)
    drift = [hint for hint in report["hints"] if "clock drift" in hint]
    [step] = [step for step in report["steps"] if step["status"] == "fail"]
    if evidence is None:
        assert drift == []
        assert "clock drift" not in step["detail"]
    else:
        [hint] = drift
        assert evidence in hint
        assert step["detail"].endswith("(looks like clock drift)")


def test_an_algorithm_refusal_names_the_alg_and_the_allow_list_and_the_walk_goes_on(issuer: DevIssuer) -> None:
    now = int(time.time())
    claims = {**issuer.claims(), "aud": "other-api", "iat": now - 7500, "nbf": now - 7500, "exp": now - 7200}
    token = jwt.encode(claims, "a-shared-secret-of-thirty-two-bytes", algorithm="HS256")
    status, report = verify(issuer, token)
    steps = {step["name"]: step for step in report["steps"]}
    failing = {name: step["code"] for name, step in steps.items() if step["status"] == "fail"}
    assert status == 1
    assert (report["code"], report["failing_step"]) == ("algorithm_not_allowed", "algorithm")
    assert failing == {"algorithm": "algorithm_not_allowed", "expiry": "token_expired", "audience": "audience_invalid"}
    assert steps["algorithm"]["detail"].startswith("alg 'HS256' is not in the algorithms allow-list [ES256, RS256]")
    assert steps["key lookup"]["status"] == steps["signature"]["status"] == "skip"
    assert steps["issuer"]["status"] == "pass"
    assert report["claims_verified"] is False

    # An asymmetric algorithm the issuer uses but the allow-list leaves out.
    result = run(
        "verify", issuer.token(key=issuer.keys[0]), "--issuer", issuer.issuer, "--audience", issuer.audience,
        "--jwks-uri", issuer.jwks_uri, "--algorithm", "ES256",
    )  # fmt: skip
    assert result.returncode == 1
    assert "FAIL  algorithm             alg 'RS256' is not in the algorithms allow-list [ES256]" in result.stdout
    assert "claims below are NOT verified" in result.stdout


def test_keys_needs_no_issuer_or_audience_with_a_key_source(issuer: DevIssuer, tmp_path: Path) -> None:
    result = run("keys", "--jwks-uri", issuer.jwks_uri)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "issuer (any)" in result.stdout
    assert result.stdout.count("  key  kid ") == len(issuer.keys)
    assert result.stderr == ""  # no warning about insecure settings: keys reads no claims
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuer.server.jwks))
    result = run("keys", "--jwks", str(jwks), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    [entry] = json.loads(result.stdout)["issuers"]
    assert (entry["issuer"], len(entry["keys"])) == ([], len(issuer.keys))
    # An issuer given is still shown; verify still needs both.
    result = run("keys", "--issuer", issuer.issuer, "--jwks-uri", issuer.jwks_uri)
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, f"issuer {issuer.issuer}")
    assert run("verify", issuer.token(), "--jwks-uri", issuer.jwks_uri).returncode == 2


def test_a_settings_file_may_spell_names_as_the_environment_does(issuer: DevIssuer, tmp_path: Path) -> None:
    settings = {
        "JWTGUARD_ISSUER": issuer.issuer,
        "jwtguard_audience": [issuer.audience],
        "jwks_uri": issuer.jwks_uri,
        "JWTGUARD_LEEWAY": "300",  # a string, read as the variable would be
    }
    result = run("verify", issuer.token(expires_in=-200), "--settings", settings_file(tmp_path, settings), "--json")
    assert result.returncode == 0, result.stdout + result.stderr

    for bad, message in [
        ({"ISSUER": "a", "JWTGUARD_ISSUER": "b"}, "'ISSUER' and 'JWTGUARD_ISSUER' name the same setting"),
        ({"JWTGUARD_ISSUR": "a"}, "'JWTGUARD_ISSUR' is not a jwtguard setting; did you mean 'JWTGUARD_ISSUER'?"),
        ({"JWTGUARD_REVOCATION_HOOK": "x"}, "is not a jwtguard setting"),
    ]:
        result = run("verify", issuer.token(), "--settings", settings_file(tmp_path, bad))
        assert result.returncode == 2
        assert message in result.stderr


@pytest.mark.parametrize(
    "pasted",
    [
        "Authorization: Bearer {token}",
        "authorization:Bearer {token}",
        "  AUTHORIZATION :  bearer   {token}  ",
        "'Authorization: Bearer {token}'",
        '"Bearer {token}"',
        "Bearer {token}",
        "bearer '{token}'",
    ],
)
def test_a_pasted_authorization_header_is_taken_apart(issuer: DevIssuer, pasted: str) -> None:
    token = issuer.token()
    status, report = verify(issuer, pasted.format(token=token))
    assert status == 0, report
    assert report["token"]["size"] == len(token)
    inspected = run("inspect", pasted.format(token=token), "--json")
    assert inspected.returncode == 0
    assert json.loads(inspected.stdout)["claims"]["sub"] == "user-1"
    result = run("inspect", "-", stdin=pasted.format(token=token) + "\n")
    assert '"sub": "user-1"' in result.stdout
    # A header value with more than a token is still diagnosed as a server would read it.
    status, report = verify(issuer, "Authorization: Bearer a b")
    assert (status, report["code"]) == (1, "invalid_request")


def test_a_scope_refusal_shows_the_granted_scopes(issuer: DevIssuer) -> None:
    status, report = verify(
        issuer, issuer.token(scopes=["profile", "orders:list"]), "--required-scope", "orders:read",
        "--required-scope", "orders:list",
    )  # fmt: skip
    [step] = [step for step in report["steps"] if step["name"] == "scopes"]
    assert (status, step["code"]) == (1, "insufficient_scope")
    assert step["detail"] == "missing orders:read; required orders:list orders:read, granted orders:list profile"
    status, report = verify(issuer, issuer.token(), "--required-scope", "orders:read")
    [step] = [step for step in report["steps"] if step["name"] == "scopes"]
    assert step["detail"] == "missing orders:read; required orders:read, granted (none)"


@pytest.mark.parametrize("opaque", ["8Kq3mZx0_y2Vb7TqLw9aP4sR1nD6vJ", "Bearer 2YotnFZFEjr1zCsicMWpAA", "ab.cd.ef"])
def test_inspect_says_an_opaque_token_is_not_a_jwt(opaque: str) -> None:
    result = run("inspect", opaque)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not a JWT: an opaque token" in result.stdout
    assert "with Auth0, request the token with your API's 'audience' parameter" in result.stdout
    assert "\ufffd" not in result.stdout  # nothing decoded from its bytes
    assert "header" not in result.stdout
    assert "claims" not in result.stdout
    report = json.loads(run("inspect", opaque, "--json").stdout)
    assert (report["jwt"], report["header"], report["claims"]) == (False, None, None)
    assert report["warnings"][0].startswith("not a JWT: an opaque token")


def test_verify_says_an_opaque_token_is_not_a_jwt(issuer: DevIssuer) -> None:
    status, report = verify(issuer, "Authorization: Bearer 2YotnFZFEjr1zCsicMWpAA")
    assert (status, report["code"], report["failing_step"]) == (1, "token_malformed", "format")
    assert any(hint.startswith("not a JWT: an opaque token") for hint in report["hints"])
    status, report = verify(issuer, "eyJ.eyJ.x")  # a truncated JWT is malformed, not opaque
    assert (status, report["code"], report["hints"]) == (1, "token_malformed", [])
