"""Step-up authentication (RFC 9470): `Acr` and `MaxAge` requirements, their text form, and the 401
`insufficient_user_authentication` challenge with `acr_values` and `max_age`, over real HTTP on ASGI and WSGI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jwtguard import (
    Acr,
    AllOf,
    AnyOf,
    ClaimInvalid,
    ConfigurationError,
    Guard,
    InsufficientRole,
    InsufficientScope,
    InsufficientUserAuthentication,
    JWTGuardError,
    JWTGuardMiddleware,
    JWTGuardWSGIMiddleware,
    MaxAge,
    Principal,
    Roles,
    Scopes,
    authorize,
    parse_requirement,
)
from jwtguard.principal import require
from jwtguard.responses import www_authenticate
from jwtguard.testing import DevIssuer

from .conftest import FakeClock, live_server, live_wsgi_server

SILVER = "urn:mace:incommon:iap:silver"
GOLD = "urn:mace:incommon:iap:gold"


def principal(clock: Callable[[], float] = lambda: 10_000.0, **claims: Any) -> Principal:
    return Principal({"sub": "u", **claims}, clock=clock)


def refusal(requirement: Any, who: Principal) -> Exception:
    with pytest.raises(JWTGuardError) as caught:
        require(who, requirement)
    return caught.value


# -- the requirement kinds -------------------------------------------------------------------------------------


def test_acr_is_met_by_one_of_its_values_exactly() -> None:
    requirement = Acr(SILVER, GOLD)
    require(principal(acr=GOLD), requirement)
    error = refusal(requirement, principal(acr="urn:mace:incommon:iap:bronze"))
    assert isinstance(error, InsufficientUserAuthentication)
    assert (error.code, error.status_code, error.error) == (
        "insufficient_user_authentication",
        401,
        "insufficient_user_authentication",
    )
    assert error.acr_values == (SILVER, GOLD)
    assert error.max_age is None
    assert isinstance(refusal(requirement, principal()), InsufficientUserAuthentication)  # no acr at all
    assert isinstance(refusal(requirement, principal(acr=GOLD.upper())), InsufficientUserAuthentication)


def test_max_age_reads_auth_time_against_the_principals_clock() -> None:
    requirement = MaxAge(300)
    require(principal(auth_time=10_000 - 300), requirement)  # exactly at the limit
    require(principal(auth_time=9_999.5), requirement)
    for who in (principal(auth_time=10_000 - 301), principal()):  # too old, or never said
        error = refusal(requirement, who)
        assert isinstance(error, InsufficientUserAuthentication)
        assert error.acr_values == ()
        assert error.max_age == 300


@pytest.mark.parametrize(
    ("requirement", "claims", "claim"),
    [
        pytest.param(Acr(SILVER), {"acr": 2}, "acr", id="acr-number"),
        pytest.param(Acr(SILVER), {"acr": [SILVER]}, "acr", id="acr-list"),
        pytest.param(MaxAge(60), {"auth_time": "9999"}, "auth_time", id="auth-time-string"),
        pytest.param(MaxAge(60), {"auth_time": True}, "auth_time", id="auth-time-bool"),
    ],
)
def test_a_claim_of_the_wrong_type_is_the_tokens_fault(requirement: Any, claims: dict[str, Any], claim: str) -> None:
    error = refusal(requirement, principal(**claims))
    assert isinstance(error, ClaimInvalid)
    assert error.claim == claim


def test_combinations_name_everything_one_sign_in_must_bring() -> None:
    who = principal(acr=SILVER, auth_time=1_000, scope="pay")
    error = refusal(Scopes("pay") & Acr(GOLD) & MaxAge(600), who)
    assert isinstance(error, InsufficientUserAuthentication)
    assert (error.acr_values, error.max_age) == ((GOLD,), 600)
    # Two ages: the shorter; two acr lists: the values both accept, in the first's order.
    error = refusal(AllOf(MaxAge(600), MaxAge(60), Acr(SILVER, GOLD), Acr(GOLD, SILVER)), principal(acr="x"))
    assert isinstance(error, InsufficientUserAuthentication)
    assert (error.acr_values, error.max_age) == ((SILVER, GOLD), 60)
    # `acr:a | acr:b` asks for either, in the order written.
    error = refusal(parse_requirement(f"acr:{SILVER} | acr:{GOLD}", "test"), principal())
    assert isinstance(error, InsufficientUserAuthentication)
    assert error.acr_values == (SILVER, GOLD)
    # An AnyOf with a branch a sign-in can meet.
    error = refusal(AnyOf(Roles("admin"), MaxAge(60)), principal())
    assert isinstance(error, InsufficientUserAuthentication)
    assert error.max_age == 60


def test_what_a_sign_in_cannot_fix_keeps_its_own_refusal() -> None:
    # A missing scope: a new sign-in would not grant it.
    error = refusal(Scopes("pay") & Acr(GOLD), principal(acr=GOLD))
    assert isinstance(error, InsufficientScope)
    # A missing role next to an unmet acr: neither alone helps.
    assert isinstance(refusal(Roles("admin") & Acr(GOLD), principal()), InsufficientRole)
    # Two acr values no one sign-in can have at once.
    assert isinstance(refusal(Acr(SILVER) & Acr(GOLD), principal()), InsufficientRole)
    # Scopes come first when either would do.
    assert isinstance(refusal(Scopes("pay") | Acr(GOLD), principal()), InsufficientScope)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"acr:{SILVER}", Acr(SILVER), id="acr"),
        pytest.param(f"acr:{SILVER} | acr:{GOLD}", Acr(SILVER, GOLD), id="acr-any"),
        pytest.param("max_age:300", MaxAge(300), id="max-age"),
        pytest.param(
            "scope:pay & (acr:phr | acr:phrh) & max_age:0",
            AllOf(Scopes("pay"), Acr("phr", "phrh"), MaxAge(0)),
            id="combined",
        ),
        pytest.param('acr:"a&b"', Acr("a&b"), id="quoted"),
    ],
)
def test_text_form_reads_and_writes_back(text: str, expected: Any) -> None:
    parsed = parse_requirement(text, "test")
    assert parsed == expected
    assert parse_requirement(str(expected), "test") == expected


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: parse_requirement("max_age:abc", "rules"), "number of seconds", id="max-age-text"),
        pytest.param(lambda: parse_requirement("max_age:-5", "rules"), "number of seconds", id="max-age-negative"),
        pytest.param(lambda: parse_requirement("acr:", "rules"), "an acr value", id="acr-empty"),
        pytest.param(lambda: Acr(), "at least one", id="acr-none"),
        pytest.param(lambda: Acr("two words"), "not an acr value", id="acr-space"),
        pytest.param(lambda: MaxAge(-1), "seconds", id="negative"),
        pytest.param(lambda: MaxAge(True), "seconds", id="bool"),
        pytest.param(lambda: MaxAge(1.5), "seconds", id="float"),  # type: ignore[arg-type]
    ],
)
def test_mistakes_are_configuration_errors(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_the_challenge_carries_acr_values_and_max_age() -> None:
    header = www_authenticate(InsufficientUserAuthentication((SILVER, GOLD), 300), "api")
    assert header == (
        'Bearer realm="api", error="insufficient_user_authentication", '
        'error_description="A stronger or more recent user authentication is required.", '
        f'acr_values="{SILVER} {GOLD}", max_age="300"'
    )
    assert "acr_values" not in www_authenticate(InsufficientUserAuthentication((), 60), None)


# -- over HTTP: ASGI and WSGI answer alike -----------------------------------------------------------------------

RULES = [
    f"GET /gold acr:{GOLD} | acr:phrh",
    "GET /recent max_age:300",
    "GET /both scope:pay & acr:phrh & max_age:300",
]


def asgi_server(guard: Guard) -> AbstractContextManager[str]:
    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @authorize("acr:phrh")
    async def helper(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [Route(path, ok) for path in ("/gold", "/recent", "/both", "/open")] + [Route("/helper", helper)]
    app = Starlette(routes=routes)
    return live_server(JWTGuardMiddleware(app, guard=guard))


def wsgi_server(guard: Guard) -> AbstractContextManager[str]:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"ok"]

    return live_wsgi_server(JWTGuardWSGIMiddleware(app, guard=guard))


@pytest.fixture(params=["asgi", "wsgi"])
def served(request: pytest.FixtureRequest, issuer: DevIssuer, clock: FakeClock) -> Iterator[str]:
    # The guard runs on the injected clock, far from the real one: `max_age` must be read against it.
    issuer.clock = clock
    guard = Guard(issuer.settings(rules=RULES), clock=clock)
    with (asgi_server if request.param == "asgi" else wsgi_server)(guard) as url:
        yield url


def get(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"})


def challenge(response: httpx.Response) -> str:
    return response.headers["www-authenticate"]


def test_acr_met_and_unmet(served: str, issuer: DevIssuer) -> None:
    assert get(served + "/gold", issuer.token(acr="phrh")).status_code == 200
    token = issuer.token(acr=SILVER)
    for _ in range(2):  # the second time from the verified-token cache
        response = get(served + "/gold", token)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["code"], body["error"]) == ("insufficient_user_authentication",) * 2
        assert body["acr_values"] == [GOLD, "phrh"]
        assert "max_age" not in body
        assert 'error="insufficient_user_authentication"' in challenge(response)
        assert f'acr_values="{GOLD} phrh"' in challenge(response)
        assert "max_age" not in challenge(response)
    assert get(served + "/open", token).status_code == 200


def test_max_age_met_too_old_and_missing(served: str, issuer: DevIssuer, clock: FakeClock) -> None:
    now = int(clock())
    assert get(served + "/recent", issuer.token(auth_time=now - 200)).status_code == 200
    for token in (issuer.token(auth_time=now - 301), issuer.token()):
        response = get(served + "/recent", token)
        assert response.status_code == 401
        assert response.json()["code"] == "insufficient_user_authentication"
        assert response.json()["max_age"] == 300
        assert 'max_age="300"' in challenge(response)
        assert "acr_values" not in challenge(response)
    # A cached token ages with the clock: accepted now, refused once its sign-in is older than max_age.
    token = issuer.token(auth_time=now - 250)
    assert get(served + "/recent", token).status_code == 200
    clock.advance(60)
    assert get(served + "/recent", token).status_code == 401


def test_several_needs_in_one_challenge(served: str, issuer: DevIssuer, clock: FakeClock) -> None:
    response = get(served + "/both", issuer.token(scopes=["pay"], acr="phr", auth_time=int(clock()) - 900))
    assert response.status_code == 401
    assert 'acr_values="phrh", max_age="300"' in challenge(response)
    # Without the scope a sign-in cannot help: 403 insufficient_scope, as before.
    response = get(served + "/both", issuer.token(acr="phrh", auth_time=int(clock())))
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")
    assert get(served + "/both", issuer.token(scopes=["pay"], acr="phrh", auth_time=int(clock()))).status_code == 200


def test_route_helper_answers_the_same(issuer: DevIssuer) -> None:
    with asgi_server(Guard(issuer.settings())) as url:
        response = get(url + "/helper", issuer.token(acr="phr"))
        assert response.status_code == 401
        assert 'acr_values="phrh"' in challenge(response)
        assert get(url + "/helper", issuer.token(acr="phrh")).status_code == 200


# -- `jwtguard verify` ---------------------------------------------------------------------------------------------


def test_verify_shows_the_step_up_a_rule_asks_for(issuer: DevIssuer, tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"rules": ["GET /payments/* acr:phrh & max_age:300"]}))
    token = issuer.token(acr="phr", auth_time=int(time.time()) - 900)
    result = subprocess.run(
        [sys.executable, "-m", "jwtguard", "verify", token, "--issuer", issuer.issuer, "--audience", issuer.audience,
         "--jwks-uri", issuer.jwks_uri, "--settings", str(settings), "--path", "/payments/1", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert (report["code"], report["status"], report["failing_step"]) == (
        "insufficient_user_authentication",
        401,
        "rule",
    )
    assert (report["rule"]["met"], report["rule"]["code"]) == (False, "insufficient_user_authentication")
    [rule] = [step for step in report["steps"] if step["name"] == "rule"]
    assert "a sign-in with acr_values phrh and max_age 300 would meet it" in rule["detail"]
