"""The key set against a real JWKS server on 127.0.0.1: caching, rotation, floods, concurrency, outages."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jwtguard import Guard, JWTGuardMiddleware, KeySet, Settings
from jwtguard.errors import ConfigurationError, FetchError, JWKSUnavailable, KeyNotFound
from jwtguard.testing import DevIssuer, KeyServer, SigningKey, generate_key

from .conftest import FakeClock, events, records

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.user.identity)


def make_guard(issuer: DevIssuer, clock: FakeClock, **overrides: Any) -> Guard:
    settings = issuer.settings(**overrides)
    return Guard(settings, key_clock=clock)


def make_client(guard: Guard) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/", hello)])
    app.add_middleware(JWTGuardMiddleware, guard=guard)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client_and_guard(issuer: DevIssuer, clock: FakeClock) -> AsyncIterator[tuple[httpx.AsyncClient, Guard]]:
    guard = make_guard(issuer, clock)
    async with make_client(guard) as client:
        yield client, guard
    guard.key_set.close()


async def get(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/", headers={"Authorization": f"Bearer {token}"})


async def test_concurrent_requests_on_a_cold_cache_cause_one_fetch(
    client_and_guard: tuple[httpx.AsyncClient, Guard], issuer: DevIssuer
) -> None:
    client, _ = client_and_guard
    responses: list[httpx.Response] = []

    async def one(n: int) -> None:
        responses.append(await get(client, issuer.token(subject=f"user-{n}")))

    async with anyio.create_task_group() as group:
        for n in range(200):
            group.start_soon(one, n)

    assert sorted(r.status_code for r in responses) == [200] * 200
    assert issuer.server.jwks_hits == 1


def test_threads_on_a_cold_cache_cause_one_fetch(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = make_guard(issuer, clock)
    token = issuer.token(subject="threaded")
    results: list[str | None] = []
    barrier = threading.Barrier(32)

    def worker() -> None:
        barrier.wait()
        results.append(guard.authenticate(f"Bearer {token}").subject)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == ["threaded"] * 32
    assert issuer.server.jwks_hits == 1


async def test_a_rotated_key_is_accepted_on_its_first_request(
    client_and_guard: tuple[httpx.AsyncClient, Guard], issuer: DevIssuer, clock: FakeClock
) -> None:
    client, _ = client_and_guard
    assert (await get(client, issuer.token())).status_code == 200
    new_key = issuer.rotate()
    clock.advance(31)  # past jwks_min_refresh_interval (10 s by default)

    response = await get(client, issuer.token(key=new_key, subject="rotated"))

    assert response.status_code == 200
    assert response.text == "rotated"
    assert issuer.server.jwks_hits == 2


async def test_unknown_kids_refresh_once_per_interval_and_absent_ones_are_remembered(
    client_and_guard: tuple[httpx.AsyncClient, Guard], issuer: DevIssuer, clock: FakeClock
) -> None:
    client, _ = client_and_guard
    assert (await get(client, issuer.token())).status_code == 200
    new_key = issuer.rotate()
    clock.advance(5)
    assert (await get(client, issuer.token(key=new_key))).status_code == 200  # a routine fetch spent nothing
    assert issuer.server.jwks_hits == 2

    ghost = issuer.token(key=new_key, headers={"kid": "ghost"})
    clock.advance(1)
    response = await get(client, ghost)  # inside the interval of the refresh for new_key: no fetch
    assert response.status_code == 401
    assert response.json()["code"] == "key_not_found"
    assert issuer.server.jwks_hits == 2
    clock.advance(10)
    assert (await get(client, ghost)).json()["code"] == "key_not_found"  # refreshed: confirmed absent
    assert issuer.server.jwks_hits == 3
    clock.advance(10)
    assert (await get(client, ghost)).json()["code"] == "key_not_found"  # remembered: no fetch
    assert issuer.server.jwks_hits == 3


async def test_a_removed_key_stops_validating_once_the_cache_is_refreshed(
    client_and_guard: tuple[httpx.AsyncClient, Guard], issuer: DevIssuer, clock: FakeClock
) -> None:
    client, _ = client_and_guard
    old_token = issuer.token()
    assert (await get(client, old_token)).status_code == 200
    issuer.publish([generate_key("RS256")])
    clock.advance(200)
    assert (await get(client, old_token)).status_code == 200  # cache still fresh (max-age=300)
    clock.advance(101)  # past the key server's max-age

    response = await get(client, old_token)

    assert response.status_code == 401
    assert response.json()["code"] == "key_not_found"
    assert issuer.server.jwks_hits == 2


async def test_a_flood_of_forged_kids_costs_at_most_one_fetch_per_interval(
    client_and_guard: tuple[httpx.AsyncClient, Guard],
    issuer: DevIssuer,
    clock: FakeClock,
    other_keys: dict[str, SigningKey],
) -> None:
    client, _ = client_and_guard
    assert (await get(client, issuer.token())).status_code == 200
    forger = other_keys["RS256"]
    codes: list[str] = []

    async def forged() -> None:
        response = await get(client, issuer.token(key=forger, headers={"kid": uuid.uuid4().hex}))
        codes.append(response.json()["code"])

    async def flood() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(300):
                group.start_soon(forged)

    await flood()  # the first fetch was routine: one refresh for unknown kids, shared by all
    assert issuer.server.jwks_hits == 2
    await flood()  # inside the interval: no fetch at all
    assert issuer.server.jwks_hits == 2
    clock.advance(31)
    await flood()  # one refresh allowed, shared by all
    assert issuer.server.jwks_hits == 3
    await flood()
    assert issuer.server.jwks_hits == 3

    assert set(codes) == {"key_not_found"}
    assert len(codes) == 1200


async def test_a_slow_key_server_does_not_block_requests_with_cached_keys(
    client_and_guard: tuple[httpx.AsyncClient, Guard], issuer: DevIssuer, clock: FakeClock
) -> None:
    client, _ = client_and_guard
    assert (await get(client, issuer.token())).status_code == 200
    new_key = issuer.rotate()
    clock.advance(31)
    issuer.server.hang = True
    slow: list[httpx.Response] = []

    async def slow_request() -> None:
        slow.append(await get(client, issuer.token(key=new_key, subject="slow")))

    async with anyio.create_task_group() as group:
        group.start_soon(slow_request)
        assert await anyio.to_thread.run_sync(issuer.server.wait_for_jwks_hits, 2)
        # The refresh is hanging on the key server; a request whose key is cached is not held up.
        fast = await get(client, issuer.token(key=issuer.keys[1], subject="fast"))
        assert fast.status_code == 200
        assert fast.text == "fast"
        assert slow == []
        issuer.server.hang = False

    assert slow[0].status_code == 200
    assert slow[0].text == "slow"


async def test_a_hanging_key_server_on_a_cold_cache_gives_503_within_the_timeout(
    issuer: DevIssuer, clock: FakeClock
) -> None:
    guard = make_guard(issuer, clock, jwks_timeout=0.5)
    issuer.server.hang = True
    async with make_client(guard) as client:
        with anyio.fail_after(3):
            response = await get(client, issuer.token())
    issuer.server.hang = False

    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(500, b'{"keys": []}', id="http-500"),
        pytest.param(200, b"<html>maintenance</html>", id="not-json"),
        pytest.param(200, b'{"keys": "none"}', id="not-a-jwks"),
        pytest.param(200, b'{"keys": []}', id="empty"),
        pytest.param(200, b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', id="only-unusable-keys"),
        pytest.param(200, b'{"keys": [], "pad": "' + b"x" * 600_000 + b'"}', id="oversized"),
    ],
)
async def test_a_broken_key_endpoint_on_a_cold_cache_gives_503(
    issuer: DevIssuer, clock: FakeClock, jwtguard_logs: pytest.LogCaptureFixture, status: int, body: bytes
) -> None:
    issuer.server.status = status
    issuer.server.body = body
    guard = make_guard(issuer, clock)
    async with make_client(guard) as client:
        response = await get(client, issuer.token())

    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    [failure] = events(jwtguard_logs, "jwks_fetch_failed")
    assert failure.levelname == "ERROR"


async def test_recovery_after_the_retry_interval(issuer: DevIssuer, clock: FakeClock) -> None:
    issuer.server.status = 503
    guard = make_guard(issuer, clock)
    async with make_client(guard) as client:
        assert (await get(client, issuer.token())).status_code == 503
        issuer.server.status = 200
        assert (await get(client, issuer.token())).status_code == 503  # still inside the retry interval
        assert issuer.server.jwks_hits == 1
        clock.advance(31)
        assert (await get(client, issuer.token())).status_code == 200
    assert issuer.server.jwks_hits == 2


async def test_the_cache_is_used_until_its_ttl(
    client_and_guard: tuple[httpx.AsyncClient, Guard], issuer: DevIssuer, clock: FakeClock
) -> None:
    client, _ = client_and_guard
    for _ in range(5):
        assert (await get(client, issuer.token())).status_code == 200
    assert issuer.server.jwks_hits == 1
    clock.advance(601)
    assert (await get(client, issuer.token())).status_code == 200
    assert issuer.server.jwks_hits == 2


async def test_a_cancelled_request_does_not_cancel_the_shared_fetch(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = make_guard(issuer, clock)
    issuer.server.hang = True
    with anyio.move_on_after(0.2):  # the request gives up; the fetch must go on for everyone else
        await guard.aauthenticate(f"Bearer {issuer.token()}")
    issuer.server.hang = False

    principal = await guard.aauthenticate(f"Bearer {issuer.token(subject='after')}")

    assert principal.subject == "after"
    assert issuer.server.jwks_hits == 1


def test_unusable_keys_are_skipped_and_logged_once(
    issuer: DevIssuer, clock: FakeClock, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    good = issuer.key.public_jwk()
    short = generate_short_rsa_jwk()
    private = issuer.keys[1].public_jwk() | {"d": "AQAB", "kid": "published-private"}
    bad_keys: list[Any] = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric"},
        good | {"kid": "encryption", "use": "enc"},
        good | {"kid": "sign-only", "key_ops": ["sign"]},
        good | {"kid": "wrong-alg", "alg": "ES256"},
        {"kty": "XYZ", "kid": "unknown-kty"},
        {"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA", "kid": "bad-curve"},
        {"kty": "RSA", "n": "!!!", "e": "AQAB", "kid": "malformed"},
        short,
        private,
        "not an object",
        {"kty": "EC", "crv": ["P-256"], "x": "AA", "y": "AA", "kid": "curve-list"},
        {"kty": "RSA", "n": 12345, "e": "AQAB", "kid": "n-number"},
        {"kty": "OKP", "crv": "Ed25519", "x": {"a": 1}, "kid": "x-object"},
        {"kty": ["RSA"], "kid": "kty-list"},
        good | {"kid": "forged\nINFO jwtguard: accepted\x1b[2J", "use": "enc"},
    ]
    issuer.server.jwks = {"keys": [*bad_keys, good]}
    guard = make_guard(issuer, clock)

    assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"
    clock.advance(601)
    assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"
    for kid in ("symmetric", "encryption", "sign-only", "wrong-alg", "short-rsa", "published-private"):
        with pytest.raises(KeyNotFound):
            guard.authenticate(f"Bearer {issuer.token(headers={'kid': kid})}")

    skipped = events(jwtguard_logs, "jwks_key_skipped")
    assert len(skipped) == len(bad_keys)  # once each, though the JWKS was fetched three times
    assert issuer.server.jwks_hits == 3  # the first unknown kid after a routine fetch refreshed
    reasons = {getattr(record, "jwtguard_kid", None): getattr(record, "jwtguard_reason", None) for record in skipped}
    assert reasons["short-rsa"] == "RSA key shorter than 2048 bits"
    assert reasons["published-private"] == "contains private key material"
    assert reasons["encryption"] == "use is not 'sig'"
    assert reasons["curve-list"] == "unsupported curve"
    assert "forged?INFO jwtguard: accepted?[2J" in reasons
    assert all("\n" not in str(kid) for kid in reasons)


def generate_short_rsa_jwk() -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # deliberately weak
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return jwk | {"kid": "short-rsa", "alg": "RS256"}


def rsa_public_jwk(kid: str, bits: int, exponent: int = 65537) -> dict[str, Any]:
    """An RSA public JWK of exactly `bits` bits: a random odd modulus is enough to publish (and to cost)."""
    modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1

    def b64(number: int) -> str:
        return base64.urlsafe_b64encode(number.to_bytes((number.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(modulus), "e": b64(exponent)}


def test_oversized_rsa_keys_are_skipped_and_logged(
    issuer: DevIssuer, clock: FakeClock, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    issuer.server.jwks = {
        "keys": [
            rsa_public_jwk("16384-bits-64-bit-exponent", 16384, 2**64 - 59),
            rsa_public_jwk("8200-bits", 8200),
            rsa_public_jwk("exponent-2^32+1", 2048, 2**32 + 1),
            rsa_public_jwk("8192-bits", 8192),
            rsa_public_jwk("exponent-2^32-1", 2048, 2**32 - 1),
            issuer.key.public_jwk(),
        ]
    }
    guard = make_guard(issuer, clock)
    assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"

    for kid in ("16384-bits-64-bit-exponent", "8200-bits", "exponent-2^32+1"):
        with pytest.raises(KeyNotFound):
            guard.authenticate(f"Bearer {issuer.token(headers={'kid': kid})}")
    reasons = {
        getattr(record, "jwtguard_kid", None): getattr(record, "jwtguard_reason", None)
        for record in events(jwtguard_logs, "jwks_key_skipped")
    }
    assert reasons == {
        "16384-bits-64-bit-exponent": "RSA key longer than 8192 bits",
        "8200-bits": "RSA key longer than 8192 bits",
        "exponent-2^32+1": "RSA public exponent above 2^32",
    }
    assert guard.health()["issuers"][issuer.issuer]["kids"] == sorted(["8192-bits", "exponent-2^32-1", issuer.key.kid])


def test_a_malformed_key_in_a_static_jwks_does_not_cost_the_good_ones(issuer: DevIssuer) -> None:
    bad = issuer.key.public_jwk() | {"kid": "bad", "crv": ["P-256"], "kty": "EC"}
    guard = Guard(issuer.settings(jwks={"keys": [bad, issuer.key.public_jwk()]}))
    assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"


def test_a_key_fetch_that_cannot_start_a_thread_is_a_503_and_is_retried(issuer: DevIssuer, clock: FakeClock) -> None:
    threads_left = 0

    def start_thread(run: Callable[[], None]) -> None:
        if threads_left == 0:
            raise RuntimeError("can't start new thread")  # what threading.Thread.start raises
        threading.Thread(target=run, daemon=True).start()

    key_set = KeySet(jwks_uri=issuer.jwks_uri, clock=clock, start_thread=start_thread)
    guard = Guard(issuer.settings(), key_set=key_set)
    with pytest.raises(JWKSUnavailable):
        guard.authenticate(f"Bearer {issuer.token()}")
    threads_left = 1
    with pytest.raises(JWKSUnavailable):  # inside the retry interval: refused at once, no waiting
        guard.authenticate(f"Bearer {issuer.token()}")
    assert issuer.server.jwks_hits == 0
    clock.advance(11)  # past min_refresh_interval
    assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"
    key_set.close()


def test_a_static_jwks_needs_no_network(issuer: DevIssuer, other_keys: dict[str, SigningKey]) -> None:
    settings = issuer.settings(jwks={"keys": [issuer.key.public_jwk()]})
    guard = Guard(settings)

    assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"
    with pytest.raises(KeyNotFound):
        guard.authenticate(f"Bearer {issuer.token(key=other_keys['RS256'])}")
    assert issuer.server.jwks_hits == 0


def test_a_static_jwks_without_usable_keys_is_a_configuration_error(issuer: DevIssuer) -> None:
    settings = issuer.settings(jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]})
    with pytest.raises(ConfigurationError, match="no usable verification key"):
        Guard(settings)


def test_discovery_finds_the_jwks_uri_from_the_configured_issuer(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = make_guard(issuer, clock, discovery=True)

    assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"
    clock.advance(601)
    assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"

    assert issuer.server.hits["/.well-known/openid-configuration"] == 1
    assert issuer.server.jwks_hits == 2


def test_discovery_refuses_a_document_for_another_issuer(
    issuer: DevIssuer, clock: FakeClock, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    with KeyServer() as impostor:
        # Its discovery document, at the configured issuer's well-known URL, names the issuer without
        # the trailing slash: not the configured one (OpenID Connect Discovery §4.3 wants it exact).
        settings = Settings(issuer=impostor.url + "/", audience=issuer.audience, discovery=True)
        guard = Guard(settings, key_clock=clock)
        token = issuer.token(issuer=impostor.url + "/")
        with pytest.raises(JWKSUnavailable):
            guard.authenticate(f"Bearer {token}")
        assert impostor.jwks_hits == 0
        assert impostor.hits["/.well-known/openid-configuration"] == 1
    # The operator is told which issuer the document named, against the configured one: a configuration error.
    [failed] = events(jwtguard_logs, "jwks_fetch_failed")
    reason = getattr(failed, "jwtguard_reason", "")
    assert reason.startswith(f"configuration error: the discovery document names issuer {impostor.url!r}, ")
    assert f"the configured issuer is {impostor.url + '/'!r}" in reason
    assert reason.endswith(f"did you mean issuer={impostor.url!r}?")


def test_keys_named_by_the_token_are_never_fetched(
    issuer: DevIssuer, clock: FakeClock, other_keys: dict[str, SigningKey], jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    guard = make_guard(issuer, clock)
    attacker_key = other_keys["RS256"]
    with KeyServer({"keys": [attacker_key.public_jwk()]}) as attacker:
        headers = {
            "jku": attacker.jwks_uri,
            "x5u": attacker.jwks_uri,
            "jwk": attacker_key.public_jwk(),
        }
        token = issuer.token(key=attacker_key, headers=headers)
        with pytest.raises(KeyNotFound):
            guard.authenticate(f"Bearer {token}")
        assert sum(attacker.hits.values()) == 0
    assert issuer.server.jwks_hits == 1


def test_a_token_without_kid_uses_the_only_key(clock: FakeClock, signing_keys: dict[str, SigningKey]) -> None:
    with DevIssuer(keys=[signing_keys["ES256"]]) as single:
        guard = make_guard(single, clock)
        claims = single.claims(subject="no-kid")
        token = single.key.sign(claims, headers={"kid": None})
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert "kid" not in header
        assert guard.authenticate(f"Bearer {token}").subject == "no-kid"


async def test_rejections_are_logged_with_the_request(
    client_and_guard: tuple[httpx.AsyncClient, Guard], issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    client, _ = client_and_guard
    await get(client, issuer.token(expires_in=-600))
    [record] = records(jwtguard_logs, "token_expired")
    assert record["claims_verified"] is True
    assert record["kid"] == issuer.key.kid
    assert record["iss"] == issuer.issuer


def test_a_jwks_with_hundreds_of_keys_is_cut_to_a_bounded_number(issuer: DevIssuer) -> None:
    from jwtguard.jwks import load_jwks

    jwk = issuer.key.public_jwk()
    keys, skipped = load_jwks({"keys": [jwk | {"kid": f"k{n}"} for n in range(150)]})
    assert len(keys) == 100
    assert skipped == [("(keys after the first 100)", "too many keys in one JWKS")]


# -- fetch: the key source as a refresh reads it, for tools ------------------------------------------


def test_fetch_reads_the_key_source_without_installing_the_keys(issuer: DevIssuer, clock: FakeClock) -> None:
    issuer.server.jwks = {"keys": [*issuer.server.jwks["keys"], {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}]}
    key_set = KeySet(discovery_issuer=issuer.issuer, clock=clock)
    try:
        fetched = key_set.fetch()
    finally:
        key_set.close()

    assert fetched.source == issuer.jwks_uri  # the discovered URL, not "discovery:<issuer>"
    assert [key.kid for key in fetched.keys] == [key.kid for key in issuer.keys]
    assert fetched.skipped == (("sym", "symmetric key (kty oct) cannot be published for verification"),)
    assert fetched.ttl == 300  # the key server's max-age
    assert fetched.headers["cache-control"] == "max-age=300"
    assert fetched.server_clock_offset is not None
    assert abs(fetched.server_clock_offset) < 5
    assert key_set.peek(issuer.key.kid) == ()  # nothing installed
    assert key_set.health()["last_fetch"] is None  # and no refresh recorded


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        pytest.param({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "JWKS has no usable verification key", id="unusable"),
        pytest.param({"not": "a jwks"}, 'not a JWKS document (no "keys" list)', id="not-a-jwks"),
    ],
)
def test_fetch_refuses_what_a_refresh_refuses(
    issuer: DevIssuer, clock: FakeClock, jwks: dict[str, Any], message: str
) -> None:
    issuer.server.jwks = jwks
    key_set = KeySet(jwks_uri=issuer.jwks_uri, clock=clock)
    with pytest.raises(FetchError) as refused:
        key_set.fetch()
    key_set.close()
    assert str(refused.value) == message


def test_fetch_of_a_static_jwks_returns_it_as_loaded(issuer: DevIssuer) -> None:
    key_set = KeySet(jwks={"keys": [issuer.key.public_jwk(), {"kty": "RSA", "kid": "broken"}]}, cache_ttl=120)
    fetched = key_set.fetch()
    assert (fetched.source, fetched.headers, fetched.ttl) == ("static jwks", {}, 120)
    assert [key.kid for key in fetched.keys] == [issuer.key.kid]
    assert fetched.skipped == (("broken", "malformed key material"),)
    assert issuer.server.jwks_hits == 0
