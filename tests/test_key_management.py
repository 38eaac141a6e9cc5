"""Key management under outages, rotation, refresh-ahead and several issuers, with time injected."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from jwtguard import Guard, JWTGuardMiddleware, JWTGuardWSGIMiddleware, Settings
from jwtguard.errors import AuthError, JWKSUnavailable, KeyNotFound
from jwtguard.jwks import FetchError, FetchResponse, HttpxFetcher, KeyEvent, cache_ttl
from jwtguard.settings import Issuer
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import FakeClock, dead_url, events

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """A key_event_hook that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[KeyEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: KeyEvent) -> None:
        with self._lock:
            self.events.append(event)

    def names(self) -> list[str]:
        with self._lock:
            return [event.name for event in self.events]


def bearer(token: str) -> str:
    return f"Bearer {token}"


def outcome(guard: Guard, token: str) -> str:
    try:
        guard.authenticate(bearer(token))
    except AuthError as exc:
        return exc.code
    return "ok"


# -- outages --------------------------------------------------------------------------------------


def test_an_outage_with_a_warm_cache_serves_the_last_good_keys_until_max_stale(
    issuer: DevIssuer, clock: FakeClock, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    settings = issuer.settings(jwks_max_stale=1800, key_event_hook=recorder)
    guard = Guard(settings, key_clock=clock)
    assert outcome(guard, issuer.token()) == "ok"  # warm: fetched, max-age=300 from the key server

    issuer.server.status = 503  # the identity provider has a bad half hour
    results = []
    for _ in range(60):  # 60 requests across the whole stale window, 30 s apart
        clock.advance(30)
        results.append(outcome(guard, issuer.token()))
    assert clock.now - 1000 == 1800  # the last one is at 300 s TTL + 1500 s of the 1800 s stale window
    assert results == ["ok"] * 60  # 100% of valid tokens accepted during the outage

    clock.advance(301)  # past TTL + jwks_max_stale
    assert outcome(guard, issuer.token()) == "jwks_unavailable"
    health = guard.health()
    assert health["status"] == "unavailable"

    issuer.server.status = 200  # the endpoint comes back; no restart
    clock.advance(11)
    assert outcome(guard, issuer.token()) == "ok"
    assert guard.health()["status"] == "ok"

    failures = events(jwtguard_logs, "jwks_fetch_failed")
    assert [record.levelname for record in failures].count("ERROR") == 1  # once per episode
    assert len(events(jwtguard_logs, "jwks_fetch_recovered")) == 1
    assert recorder.names().count("jwks_stale_served") == 51  # every request after the 300 s TTL
    assert "jwks_fetch_failed" in recorder.names()
    # While stale, the endpoint was retried in the background at most once per refresh interval.
    assert issuer.server.jwks_hits <= 2 + (1800 + 301) // 10


def test_during_an_outage_only_one_request_per_retry_interval_waits(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = Guard(issuer.settings(jwks_timeout=0.5), key_clock=clock)
    assert outcome(guard, issuer.token()) == "ok"
    issuer.server.hang = True
    clock.advance(301)  # expired: this request waits (0.5 s), then the last good keys serve
    waits = []
    for _ in range(30):
        started = time.monotonic()
        assert outcome(guard, issuer.token()) == "ok"
        waits.append(time.monotonic() - started)
        clock.advance(1)
    issuer.server.hang = False
    slow = [wait for wait in waits if wait > 0.3]
    # The first request, then one retry per 10 s jwks_min_refresh_interval; never longer than the timeout.
    assert len(slow) <= 4
    assert max(waits) < 0.5 + 0.3
    assert waits.count(min(waits)) >= 1
    assert sum(1 for wait in waits if wait < 0.3) >= 26


def test_a_new_kid_during_an_outage_is_503_and_is_accepted_once_the_endpoint_recovers(
    issuer: DevIssuer, clock: FakeClock
) -> None:
    guard = Guard(issuer.settings(), key_clock=clock)
    old_key = issuer.key
    assert outcome(guard, issuer.token()) == "ok"
    issuer.server.status = 500
    new_key = issuer.rotate()  # the issuer rotates while its endpoint is failing
    clock.advance(11)
    # The keys in hand cannot say whether this kid is genuine: retry later, not "your token is bad".
    assert outcome(guard, issuer.token(key=new_key)) == "jwks_unavailable"
    assert outcome(guard, issuer.token(key=new_key)) == "jwks_unavailable"  # inside the retry interval
    assert outcome(guard, issuer.token(key=old_key)) == "ok"  # known keys keep working
    issuer.server.status = 200
    clock.advance(11)
    assert outcome(guard, issuer.token(key=new_key)) == "ok"


def test_a_removed_key_stops_validating_after_an_outage_ends(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = Guard(issuer.settings(), key_clock=clock)
    old_key = issuer.key
    assert outcome(guard, issuer.token()) == "ok"
    issuer.server.status = 500
    clock.advance(280)  # past refresh-ahead: the background refresh fails
    assert outcome(guard, issuer.token(key=old_key)) == "ok"
    wait_for_failed_fetch(guard)
    issuer.server.status = 200
    issuer.publish([key for key in issuer.keys if key is not old_key])  # the old key is withdrawn
    clock.advance(600)  # expired; the endpoint is healthy again
    assert outcome(guard, issuer.token(key=old_key)) == "key_not_found"  # fetched first, not served stale


def wait_for_failed_fetch(guard: Guard) -> None:
    """Block until the background fetch has failed (it runs in its own thread)."""
    for _ in range(500):
        last = guard.key_set.health()["last_fetch"]
        if last is not None and last["ok"] is False:
            return
        threading.Event().wait(0.01)  # polling for the fetch thread, not for time to pass
    raise AssertionError("the background fetch did not fail")


def test_a_fetch_that_never_ends_is_abandoned_at_the_deadline(
    issuer: DevIssuer, clock: FakeClock, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    class Stuck:
        """A fetcher that never returns until released: like a key server dripping one byte at a time."""

        def __init__(self) -> None:
            self.release = threading.Event()
            self.calls = 0

        def __call__(self, url: str, *, timeout: float, max_bytes: int) -> FetchResponse:
            self.calls += 1
            if self.calls == 1:
                self.release.wait(30)
                raise FetchError("released")
            return HttpxFetcher()(url, timeout=timeout, max_bytes=max_bytes)

    stuck = Stuck()
    guard = Guard(issuer.settings(jwks_timeout=0.3), fetcher=stuck, key_clock=clock)
    assert outcome(guard, issuer.token()) == "jwks_unavailable"  # waited 0.3 s, the fetch hangs on
    clock.advance(11)
    started = time.monotonic()
    assert outcome(guard, issuer.token()) == "ok"  # the stuck fetch was abandoned; a new one succeeded
    assert time.monotonic() - started < 1.0
    assert stuck.calls == 2
    stuck.release.set()


# -- refresh-ahead and Cache-Control --------------------------------------------------------------


def test_refresh_ahead_keeps_steady_traffic_from_waiting(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = Guard(issuer.settings(), key_clock=clock)
    assert outcome(guard, issuer.token()) == "ok"
    clock.advance(200)  # 67% of max-age=300: before any refresh-ahead point (75-90%)
    assert outcome(guard, issuer.token()) == "ok"
    assert issuer.server.jwks_hits == 1

    clock.advance(80)  # 93%: past the refresh-ahead point, still fresh
    issuer.server.hang = True  # the refresh will hang, and the request must not wait for it
    started = time.monotonic()
    assert outcome(guard, issuer.token()) == "ok"
    assert time.monotonic() - started < 1.0
    assert issuer.server.wait_for_jwks_hits(2)
    new_key = issuer.rotate()
    issuer.server.hang = False
    # Once the background refresh lands, the new key is known without any request having waited.
    for _ in range(200):
        if guard.key_set.peek(new_key.kid):
            break
        threading.Event().wait(0.01)  # polling for the fetch thread, not for time to pass
    assert guard.key_set.peek(new_key.kid)
    assert outcome(guard, issuer.token(key=new_key)) == "ok"
    assert issuer.server.jwks_hits == 2


@pytest.mark.parametrize(
    ("header", "ttl"),
    [
        pytest.param(None, 600.0, id="no-header"),
        pytest.param("max-age=300", 300.0, id="max-age"),
        pytest.param("public, max-age=7200, must-revalidate", 7200.0, id="max-age-among-others"),
        pytest.param('max-age="120"', 120.0, id="quoted"),
        pytest.param("max-age=5", 60.0, id="below-minimum"),
        pytest.param("max-age=999999999", 86400.0, id="above-maximum"),
        pytest.param("no-store", 60.0, id="no-store"),
        pytest.param("no-cache, max-age=3600", 60.0, id="no-cache"),
        pytest.param("s-maxage=100", 600.0, id="shared-cache-only"),
        pytest.param("max-age=-1", 600.0, id="negative"),
    ],
)
def test_cache_control_sets_the_ttl_within_bounds(header: str | None, ttl: float) -> None:
    headers = {"cache-control": header} if header is not None else {}
    assert cache_ttl(headers, default=600.0, minimum=60.0, maximum=86400.0) == ttl


def test_the_key_servers_max_age_is_honoured(issuer: DevIssuer, clock: FakeClock) -> None:
    issuer.server.cache_control = "max-age=120"
    guard = Guard(issuer.settings(), key_clock=clock)
    assert outcome(guard, issuer.token()) == "ok"
    # `peek` looks without side effects; `health()` could start a refresh-ahead fetch and race the checks.
    clock.advance(119)
    assert guard.key_set.peek(issuer.key.kid) != ()  # still fresh at 119 s
    clock.advance(2)
    assert guard.key_set.peek(issuer.key.kid) == ()  # expired at 121 s: max-age=120, not the 600 s default
    assert issuer.server.jwks_hits == 1
    assert outcome(guard, issuer.token()) == "ok"  # waits for the refresh the expiry calls for
    assert issuer.server.jwks_hits == 2


# -- rotation -------------------------------------------------------------------------------------


def test_a_rotation_shortly_after_a_fetch_is_picked_up_at_once(issuer: DevIssuer, clock: FakeClock) -> None:
    guard = Guard(issuer.settings(), key_clock=clock)
    assert outcome(guard, issuer.token()) == "ok"
    new_key = issuer.rotate()
    clock.advance(5)
    # The first fetch was routine: it did not spend the allowance of one refresh per 10 s for unknown kids.
    assert outcome(guard, issuer.token(key=new_key)) == "ok"
    assert issuer.server.jwks_hits == 2
    newer_key = issuer.rotate()  # a second rotation within the interval waits for the interval
    clock.advance(5)
    assert outcome(guard, issuer.token(key=newer_key)) == "key_not_found"
    assert issuer.server.jwks_hits == 2
    clock.advance(5)
    assert outcome(guard, issuer.token(key=newer_key)) == "ok"
    assert issuer.server.jwks_hits == 3


def wait_for_fetches(recorder: Recorder, count: int) -> None:
    """Block until `count` fetches have succeeded (background fetches run in their own thread)."""
    for _ in range(500):
        if recorder.names().count("jwks_fetch_succeeded") >= count:
            return
        threading.Event().wait(0.01)  # polling for the fetch thread, not for time to pass
    raise AssertionError(f"{count} fetches did not succeed")


def first_request(guard: Guard, issuer: DevIssuer, clock: FakeClock, recorder: Recorder) -> None:
    assert outcome(guard, issuer.token()) == "ok"


def prefetch(guard: Guard, issuer: DevIssuer, clock: FakeClock, recorder: Recorder) -> None:
    assert outcome(guard, issuer.token()) == "ok"
    clock.advance(301)
    assert guard.key_set.prefetch() is True


def expiry(guard: Guard, issuer: DevIssuer, clock: FakeClock, recorder: Recorder) -> None:
    assert outcome(guard, issuer.token()) == "ok"
    clock.advance(301)
    assert outcome(guard, issuer.token()) == "ok"  # waits for the refresh


def refresh_ahead(guard: Guard, issuer: DevIssuer, clock: FakeClock, recorder: Recorder) -> None:
    assert outcome(guard, issuer.token()) == "ok"
    clock.advance(280)
    assert outcome(guard, issuer.token()) == "ok"  # served now, refreshed in the background
    wait_for_fetches(recorder, 2)


def readiness(guard: Guard, issuer: DevIssuer, clock: FakeClock, recorder: Recorder) -> None:
    assert outcome(guard, issuer.token()) == "ok"
    clock.advance(280)
    assert guard.health()["status"] == "ok"  # starts a background refresh
    wait_for_fetches(recorder, 2)


@pytest.mark.parametrize(
    "routine_fetch",
    [
        pytest.param(first_request, id="first-request"),
        pytest.param(prefetch, id="prefetch"),
        pytest.param(expiry, id="expiry"),
        pytest.param(refresh_ahead, id="refresh-ahead"),
        pytest.param(readiness, id="readiness"),
    ],
)
def test_no_routine_fetch_spends_the_unknown_kid_allowance(
    issuer: DevIssuer, clock: FakeClock, routine_fetch: Callable[[Guard, DevIssuer, FakeClock, Recorder], None]
) -> None:
    recorder = Recorder()
    guard = Guard(issuer.settings(key_event_hook=recorder), key_clock=clock)
    routine_fetch(guard, issuer, clock, recorder)
    fetches = issuer.server.jwks_hits
    new_key = issuer.rotate()
    clock.advance(1)
    assert outcome(guard, issuer.token(key=new_key)) == "ok"
    assert issuer.server.jwks_hits == fetches + 1


def test_a_late_answer_from_an_abandoned_fetch_does_not_bring_back_a_withdrawn_key(
    issuer: DevIssuer, clock: FakeClock
) -> None:
    class SlowFirstAnswer:
        """Fetches for real, but holds its first answer back until released: a fetch abandoned at its
        deadline that answers after a later fetch has installed newer keys."""

        def __init__(self) -> None:
            self.fetcher = HttpxFetcher()
            self.fetched = threading.Event()
            self.release = threading.Event()

        def __call__(self, url: str, *, timeout: float, max_bytes: int) -> FetchResponse:
            response = self.fetcher(url, timeout=timeout, max_bytes=max_bytes)
            if not self.fetched.is_set():
                self.fetched.set()
                self.release.wait(10)
            return response

    slow = SlowFirstAnswer()
    guard = Guard(issuer.settings(jwks_timeout=0.3), fetcher=slow, key_clock=clock)
    withdrawn = issuer.key
    assert outcome(guard, issuer.token()) == "jwks_unavailable"  # the first fetch holds its answer
    assert slow.fetched.wait(5)  # ... which still publishes `withdrawn`
    issuer.publish(issuer.keys[1:])  # the key is withdrawn
    clock.advance(11)
    assert outcome(guard, issuer.token(key=issuer.keys[0])) == "ok"  # a second fetch installs the new set
    slow.release.set()  # the first fetch answers now, with the old set
    for thread in threading.enumerate():
        if thread.name == "jwtguard-jwks":
            thread.join(timeout=5)

    assert outcome(guard, issuer.token(key=withdrawn)) == "key_not_found"
    slow.fetcher.close()


# -- several issuers ------------------------------------------------------------------------------


@pytest.fixture
def second_issuer() -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", algorithms=["ES256"]) as dev:
        yield dev


def two_issuer_settings(a: DevIssuer, b: DevIssuer, **overrides: Any) -> Settings:
    return Settings(
        audience="https://api.example.test",
        algorithms=["RS256", "ES256", "PS256", "EdDSA"],
        issuers=[Issuer(issuer=a.issuer, jwks_uri=a.jwks_uri), Issuer(issuer=b.issuer, discovery=True)],
        **overrides,
    )


def test_two_issuers_one_down_the_other_is_unaffected(
    issuer: DevIssuer, second_issuer: DevIssuer, clock: FakeClock
) -> None:
    second_issuer.stop()  # B is down from the start: connection refused
    guard = Guard(two_issuer_settings(issuer, second_issuer), key_clock=clock)

    assert [outcome(guard, issuer.token(subject=f"a{n}")) for n in range(10)] == ["ok"] * 10
    assert outcome(guard, second_issuer.token()) == "jwks_unavailable"
    assert [outcome(guard, issuer.token()) for _ in range(10)] == ["ok"] * 10
    health = guard.health()
    assert health["status"] == "degraded"
    assert health["issuers"][issuer.issuer]["usable"] is True
    assert health["issuers"][second_issuer.issuer]["usable"] is False
    assert health["issuers"][second_issuer.issuer]["last_fetch"]["ok"] is False
    assert issuer.server.jwks_hits == 1


def test_tokens_are_routed_by_iss_to_configured_issuers_only(
    issuer: DevIssuer, second_issuer: DevIssuer, clock: FakeClock
) -> None:
    guard = Guard(two_issuer_settings(issuer, second_issuer), key_clock=clock)

    assert guard.authenticate(bearer(issuer.token(subject="from-a"))).issuer == issuer.issuer
    assert guard.authenticate(bearer(second_issuer.token(subject="from-b"))).issuer == second_issuer.issuer
    # B's key with A's iss: B's key verifies it, and B may not speak for A.
    assert outcome(guard, second_issuer.token(issuer=issuer.issuer)) == "issuer_invalid"
    # A new kid with A's iss: only A's key set is asked for it, never B's.
    b_hits = second_issuer.server.jwks_hits
    assert outcome(guard, second_issuer.token(issuer=issuer.issuer, headers={"kid": "new-kid"})) == "key_not_found"
    assert second_issuer.server.jwks_hits == b_hits
    assert outcome(guard, issuer.token(issuer="https://unknown.example.test")) == "issuer_invalid"
    assert outcome(guard, issuer.token(iss=None)) == "issuer_invalid"
    # B is ES256-only in practice, but the allow-list is per issuer: an entry can narrow it.
    narrow = Settings(
        audience="https://api.example.test",
        issuers=[Issuer(issuer=issuer.issuer, jwks_uri=issuer.jwks_uri, algorithms=["PS256"])],
    )
    assert outcome(Guard(narrow, key_clock=clock), issuer.token()) == "algorithm_not_allowed"


def test_each_issuer_has_its_own_refresh_limit(
    issuer: DevIssuer, second_issuer: DevIssuer, clock: FakeClock, other_keys: dict[str, SigningKey]
) -> None:
    guard = Guard(two_issuer_settings(issuer, second_issuer), key_clock=clock)
    assert outcome(guard, issuer.token()) == "ok"
    assert outcome(guard, second_issuer.token()) == "ok"
    clock.advance(11)
    forged = [issuer.token(key=other_keys["RS256"], headers={"kid": f"forged-{n}"}) for n in range(100)]
    assert {outcome(guard, token) for token in forged} == {"key_not_found"}
    assert issuer.server.jwks_hits == 2  # one refresh for the whole flood
    # B's cool-down was not spent by the flood on A: a rotation at B is picked up at once.
    new_key = second_issuer.rotate()
    assert outcome(guard, second_issuer.token(key=new_key)) == "ok"
    assert second_issuer.server.jwks_hits == 2


# -- startup and health ---------------------------------------------------------------------------


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def asgi_app(settings: Settings) -> Starlette:
    guard = Guard(settings)

    async def health(request: Request) -> JSONResponse:
        report = guard.health()
        return JSONResponse(report, status_code=200 if report["status"] != "unavailable" else 503)

    app = Starlette(routes=[Route("/", ok), Route("/ready", health)])
    app.add_middleware(JWTGuardMiddleware, guard=guard)
    return app


def test_strict_prefetch_warms_the_keys_before_the_first_request(issuer: DevIssuer) -> None:
    app = asgi_app(issuer.settings(jwks_prefetch="strict", exclude_paths=["/ready"]))
    with TestClient(app) as client:
        assert issuer.server.jwks_hits == 1  # fetched during lifespan startup
        ready = client.get("/ready").json()
        assert ready["status"] == "ok"
        [report] = ready["issuers"].values()
        assert report["keys"] == 4
        assert report["kids"] == sorted(key.kid for key in issuer.keys)
        assert report["last_fetch"]["ok"] is True
        assert client.get("/", headers={"Authorization": bearer(issuer.token())}).text == "ok"
    assert issuer.server.jwks_hits == 1


def test_strict_prefetch_fails_the_startup_when_the_key_server_is_down(issuer: DevIssuer) -> None:
    app = asgi_app(issuer.settings(jwks_uri=dead_url(), jwks_prefetch="strict"))
    with pytest.raises(JWKSUnavailable, match="prefetch found no usable keys"), TestClient(app):
        pass  # pragma: no cover  # startup fails


def test_degraded_prefetch_starts_anyway(issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture) -> None:
    app = asgi_app(issuer.settings(jwks_uri=dead_url(), jwks_prefetch="degraded", exclude_paths=["/ready"]))
    with TestClient(app) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert client.get("/", headers={"Authorization": bearer(issuer.token())}).status_code == 503
    assert any("starting without usable keys" in record.getMessage() for record in jwtguard_logs.records)


def test_no_prefetch_by_default(issuer: DevIssuer) -> None:
    with TestClient(asgi_app(issuer.settings())):
        assert issuer.server.jwks_hits == 0


def test_wsgi_prefetches_at_construction(issuer: DevIssuer) -> None:
    JWTGuardWSGIMiddleware(lambda environ, start_response: [], settings=issuer.settings(jwks_prefetch="strict"))
    assert issuer.server.jwks_hits == 1
    with pytest.raises(JWKSUnavailable):
        JWTGuardWSGIMiddleware(
            lambda environ, start_response: [],
            settings=issuer.settings(jwks_uri=dead_url(), jwks_prefetch="strict"),
        )


# -- events ---------------------------------------------------------------------------------------


def test_key_events_for_metrics(issuer: DevIssuer, clock: FakeClock, other_keys: dict[str, SigningKey]) -> None:
    recorder = Recorder()
    guard = Guard(issuer.settings(key_event_hook=recorder), key_clock=clock)
    assert outcome(guard, issuer.token()) == "ok"
    assert outcome(guard, issuer.token(key=other_keys["RS256"])) == "key_not_found"  # refreshed for it
    forged = issuer.token(key=other_keys["RS256"], headers={"kid": "another"})
    assert outcome(guard, forged) == "key_not_found"  # suppressed: too soon
    issuer.server.status = 500
    clock.advance(301)
    assert outcome(guard, issuer.token()) == "ok"  # fetch fails, stale keys served

    names = recorder.names()
    assert names == [
        "jwks_fetch_succeeded",
        "jwks_fetch_succeeded",  # the first unknown kid refreshes at once
        "jwks_refresh_suppressed",  # the next one inside the interval does not
        "jwks_fetch_failed",
        "jwks_stale_served",
    ]
    succeeded, _, _, failed, stale = recorder.events
    assert succeeded.keys == 4
    assert succeeded.duration is not None
    assert succeeded.duration >= 0
    assert failed.error == "HTTP 500 from the key endpoint"
    assert stale.age == 301
    assert {event.source for event in recorder.events} == {issuer.jwks_uri}


def test_a_failing_event_hook_does_not_break_authentication(issuer: DevIssuer, clock: FakeClock) -> None:
    def broken(event: KeyEvent) -> None:
        raise RuntimeError("metrics backend down")

    guard = Guard(issuer.settings(key_event_hook=broken), key_clock=clock)
    assert outcome(guard, issuer.token()) == "ok"


# -- concurrency at scale -------------------------------------------------------------------------


async def test_hundreds_of_concurrent_requests_on_a_cold_cache_cause_one_fetch(issuer: DevIssuer) -> None:
    app = Starlette(routes=[Route("/", ok)])
    app.add_middleware(JWTGuardMiddleware, settings=issuer.settings())
    statuses: list[int] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:

        async def one(n: int) -> None:
            response = await client.get("/", headers={"Authorization": bearer(issuer.token(subject=str(n)))})
            statuses.append(response.status_code)

        async with anyio.create_task_group() as group:
            for n in range(500):
                group.start_soon(one, n)
    assert statuses == [200] * 500
    assert issuer.server.jwks_hits == 1


def test_a_static_key_set_is_always_healthy(issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings(jwks={"keys": [issuer.key.public_jwk()]}))
    report = guard.health()
    assert report["status"] == "ok"
    [entry] = report["issuers"].values()
    assert entry["source"] == "static jwks"
    assert entry["age_seconds"] is None
    with pytest.raises(KeyNotFound):
        guard.key_set.get_key("nope", "RS256")
