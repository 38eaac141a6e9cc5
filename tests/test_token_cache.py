"""The verified-token cache: repeated tokens skip the signature, never the checks that change over time."""

from __future__ import annotations

from typing import Any

import pytest

from jwtguard import ConfigurationError, Guard, JtiDenylist, Principal, RequestInfo, Settings, TokenContext
from jwtguard.errors import AuthError
from jwtguard.testing import DevIssuer, SigningKey, generate_key

from .conftest import FakeClock


class WallClock(FakeClock):
    """A wall clock for exp/nbf that moves only when told."""


def outcome(guard: Guard, token: str) -> str:
    return decide(guard, f"Bearer {token}")


def decide(guard: Guard, authorization: str) -> str:
    """The guard's decision on a request with this `Authorization` value, as a code."""
    try:
        guard.check_request(RequestInfo("GET", "/", None, authorization=(authorization,)))
    except AuthError as exc:
        return exc.code
    return "ok"


class Verifications(list[str]):
    """A decision observer that notes each token accepted after a full verification (not from the cache)."""

    def accepted(self, principal: Principal, context: TokenContext, request: RequestInfo, *, cached: bool) -> None:
        if not cached:
            self.append("verify")

    def refused(self, error: AuthError, request: RequestInfo) -> None:
        pass


def watched(settings: Settings, **options: Any) -> tuple[Guard, Verifications]:
    calls = Verifications()
    return Guard(settings, observers=[calls], **options), calls


def test_a_repeated_token_is_verified_once(issuer: DevIssuer) -> None:
    guard, calls = watched(issuer.settings())
    token = issuer.token()
    assert [outcome(guard, token) for _ in range(5)] == ["ok"] * 5
    assert calls == ["verify"]
    assert guard.authenticate(f"Bearer {token}") is guard.authenticate(f"Bearer {token}")


def test_exp_is_checked_on_every_hit(issuer: DevIssuer, clock: FakeClock) -> None:
    wall = WallClock(start=2_000_000_000)
    issuer.clock = wall
    guard = Guard(issuer.settings(leeway=30), clock=wall, key_clock=clock)
    token = issuer.token(expires_in=600)
    assert outcome(guard, token) == "ok"
    wall.advance(600 + 29)
    assert outcome(guard, token) == "ok"  # within the leeway
    wall.advance(2)
    assert outcome(guard, token) == "token_expired"
    assert outcome(guard, token) == "token_expired"  # and it was dropped, not kept


def test_revocation_is_consulted_on_every_hit(issuer: DevIssuer) -> None:
    denylist = JtiDenylist()
    guard = Guard(issuer.settings(revocation_hook=denylist))
    token = issuer.token()
    principal = guard.authenticate(f"Bearer {token}")
    denylist.revoke_token(principal)
    assert outcome(guard, token) == "token_revoked"


def test_a_key_removed_from_the_jwks_ends_its_cached_tokens(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = Guard(issuer.settings(), key_clock=clock)
    token = issuer.token()
    assert outcome(guard, token) == "ok"
    issuer.publish([key for key in issuer.keys if key is not issuer.key] or [generate_key("RS256")])
    clock.advance(301)  # past the key server's max-age: the next lookup refreshes
    assert outcome(guard, token) == "key_not_found"


def test_a_refresh_that_keeps_the_key_keeps_the_cached_tokens(issuer: DevIssuer, clock: FakeClock) -> None:
    guard, calls = watched(issuer.settings(), key_clock=clock)
    token = issuer.token()
    assert outcome(guard, token) == "ok"
    clock.advance(301)
    assert outcome(guard, token) == "ok"  # refreshed; the same key object is kept
    assert issuer.server.jwks_hits == 2
    assert calls == ["verify"]


def test_a_kid_reused_for_another_key_forces_a_full_check(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = Guard(issuer.settings(), key_clock=clock)
    token = issuer.token()
    assert outcome(guard, token) == "ok"
    impostor = generate_key("RS256", kid=issuer.key.kid)  # same kid, other key material
    issuer.publish([impostor])
    clock.advance(301)
    assert outcome(guard, token) == "signature_invalid"


def test_the_cache_can_be_turned_off(issuer: DevIssuer) -> None:
    guard, calls = watched(issuer.settings(token_cache_size=0))
    token = issuer.token()
    assert [outcome(guard, token) for _ in range(3)] == ["ok"] * 3
    assert calls == ["verify"] * 3


def test_the_cache_is_bounded(issuer: DevIssuer) -> None:
    guard, calls = watched(issuer.settings(token_cache_size=2))
    first, second, third = (issuer.token(subject=name) for name in ("a", "b", "c"))
    for token in (first, second, third, first):  # the third pushed the first out
        assert outcome(guard, token) == "ok"
    assert len(calls) == 4


def test_refused_tokens_are_not_cached(issuer: DevIssuer) -> None:
    guard, calls = watched(issuer.settings(required_scopes=["admin"]))
    token = issuer.token(scopes=["user"])
    assert [outcome(guard, token) for _ in range(2)] == ["insufficient_scope"] * 2
    assert guard.cache_stats.entries == 0
    assert calls == []


def test_token_cache_size_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="token_cache_size"):
        Settings(issuer="https://i.test/", audience="a", jwks_uri="https://i.test/jwks", token_cache_size=-1)


def test_one_token_is_one_entry_however_it_is_spelled(issuer: DevIssuer) -> None:
    guard, calls = watched(issuer.settings())
    token = issuer.token()
    spellings = [f"{scheme}{' ' * spaces}{token}{tail}" for scheme in ("Bearer", "bearer", "BEARER", "BeArEr")
                 for spaces in (1, 2, 5) for tail in ("", " ", "\t")]  # fmt: skip
    for spelling in spellings:  # whitespace and case that HTTP allows must not mint new cache entries
        assert decide(guard, spelling) == "ok"
    assert guard.cache_stats.entries == 1
    assert decide(guard, f"Bearer {token}") == "ok"
    assert guard.cache_stats.entries == 1
    assert len(calls) < len(spellings)  # the common spelling is served from the cache once it is there


def test_the_cache_is_bounded_in_bytes(issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings(token_cache_size=10_000, token_cache_max_bytes=256 * 1024))
    small = [issuer.token(subject=f"small-{n}") for n in range(20)]
    for token in small:
        assert outcome(guard, token) == "ok"
    assert guard.cache_stats.entries == 20
    # One client with large (valid) tokens: each is about 12 KB; the cache stays within its byte bound.
    for n in range(60):
        assert outcome(guard, issuer.token(subject=f"large-{n}", padding="x" * 9_000)) == "ok"
        assert guard.cache_stats.bytes <= 256 * 1024
    assert guard.cache_stats.entries < 60 + 20


def test_the_entry_bound_still_holds(issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings(token_cache_size=5))
    for n in range(12):
        assert outcome(guard, issuer.token(subject=f"user-{n}")) == "ok"
    assert guard.cache_stats.entries == 5


def test_token_cache_max_bytes_is_validated() -> None:
    values: list[Any] = [0, -1, 1.5, True, "1"]
    for value in values:
        with pytest.raises(ConfigurationError, match="token_cache_max_bytes"):
            Settings(
                issuer="https://i.test/", audience="a", jwks_uri="https://i.test/jwks", token_cache_max_bytes=value
            )
    env = {"JWTGUARD_ISSUER": "https://i.test/", "JWTGUARD_AUDIENCE": "a", "JWTGUARD_JWKS_URI": "https://i.test/j"}
    assert Settings.from_env({**env, "JWTGUARD_TOKEN_CACHE_MAX_BYTES": "1048576"}).token_cache_max_bytes == 1048576


def test_large_hostile_headers_are_not_kept(issuer: DevIssuer, signing_keys: dict[str, SigningKey]) -> None:
    guard = Guard(issuer.settings())
    before = guard.cache_stats.headers
    for n in range(20):
        token = signing_keys["RS256"].sign(issuer.claims(), headers={"kid": f"k{n}", "x": ["padding"] * 300})
        assert outcome(guard, token) == "key_not_found"
    assert guard.cache_stats.headers == before


def test_hooks_must_be_callable(issuer: DevIssuer) -> None:
    for name in ("error_body_hook", "key_event_hook", "revocation_hook"):
        with pytest.raises(ConfigurationError, match=f"{name} must be a callable"):
            issuer.settings(**{name: 1})


def test_a_token_in_use_survives_a_burst_of_new_ones(issuer: DevIssuer) -> None:
    guard, calls = watched(issuer.settings(token_cache_size=50))
    hot = issuer.token(subject="hot")
    assert outcome(guard, hot) == "ok"
    for n in range(200):  # four times the cache's size in new tokens, while the hot one keeps being used
        assert outcome(guard, issuer.token(subject=f"burst-{n}")) == "ok"
        assert outcome(guard, hot) == "ok"
    assert calls.count("verify") == 201  # the hot token was verified once, each new token once
    assert guard.cache_stats.entries == 50


def test_cache_hits_in_the_middleware_follow_key_changes(issuer: DevIssuer, clock: FakeClock) -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from jwtguard import JWTGuardMiddleware

    from .conftest import live_server

    async def me(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.identity)

    guard, calls = watched(issuer.settings(), key_clock=clock)
    app = Starlette(routes=[Route("/", me)])
    app.add_middleware(JWTGuardMiddleware, guard=guard)
    token = issuer.token(subject="alice")
    headers = {"Authorization": f"Bearer {token}"}
    with live_server(app) as url:
        assert [httpx.get(url, headers=headers).status_code for _ in range(3)] == [200] * 3
        assert calls == ["verify"]
        clock.advance(601)  # the keys expired: the next hit refreshes them, and the key is still published
        assert httpx.get(url, headers=headers).status_code == 200
        assert issuer.server.jwks_hits == 2
        assert [httpx.get(url, headers=headers).status_code for _ in range(3)] == [200] * 3
        assert calls == ["verify"]  # still answered from the cache
        issuer.publish([generate_key("RS256", kid="replacement")])
        clock.advance(601)  # the key is withdrawn: a cached token signed with it is refused at the refresh
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "key_not_found"


def test_a_token_sharing_a_cached_tokens_signature_is_not_served_from_the_cache(issuer: DevIssuer) -> None:
    # The cache finds entries by a token's last characters (its signature's) and then compares the whole
    # token: another payload under the same signature is a forgery, whatever the cache holds.
    guard, calls = watched(issuer.settings())
    token = issuer.token(sub="alice")
    header, _, signature = token.split(".")
    forged = ".".join((header, issuer.token(sub="mallory").split(".")[1], signature))
    assert outcome(guard, token) == "ok"
    assert outcome(guard, forged) == "signature_invalid"
    for authorization in (f"Bearer {forged}", f"bearer {forged}", f"Bearer  {token}", f"Basic {token}"):
        assert guard.accept_cached(authorization, None, lambda request: request, RequestInfo("GET", "/", None)) is None
    assert outcome(guard, token) == "ok"
    assert calls == ["verify"]
    assert guard.cache_stats.entries == 1
