"""Key servers that misbehave on the wire: dripping headers and bodies, gzip bombs, fetches that never end.

Each test runs a real fetch against a raw-socket server on 127.0.0.1 and checks what the fetch leaves
behind: at `jwks_timeout` its connection must be closed and its threads gone.
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from jwtguard import Guard, KeySet
from jwtguard.errors import AuthError, JWKSUnavailable
from jwtguard.jwks import KeyEvent
from jwtguard.testing import DevIssuer

from .conftest import FakeClock
from .scripted import Connection, ScriptedServer, answer

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
EMPTY_DEFLATE_BLOCK = b"\x00\x00\x00\xff\xff"  # a stored block of length 0: valid, and inflates to nothing


def drip_headers(connection: Connection) -> None:
    if connection.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"):
        connection.drip(itertools.repeat(b"X-Drip: 1\r\n"), 0.02)


def drip_body(connection: Connection) -> None:
    # A chunked body whose first chunk header never ends (a chunk extension, one byte at a time): bytes
    # keep coming, but not one byte of body.
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1;"
    if connection.send(head):
        connection.drip(itertools.repeat(b"x"), 0.02)


def drip_empty_gzip_blocks(connection: Connection) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 400000\r\n\r\n"
    )
    if connection.send(head + GZIP_HEADER):
        connection.drip(itertools.repeat(EMPTY_DEFLATE_BLOCK), 0.01)


@pytest.fixture
def fetch_threads() -> set[threading.Thread]:
    """The threads alive before the test: anything jwtguard starts beyond them must end."""
    return set(threading.enumerate())


def assert_released(server: ScriptedServer, before: set[threading.Thread]) -> None:
    """Nothing of the fetches is left: every connection was closed, and no jwtguard thread runs on."""
    assert server.wait_until_closed(timeout=2.0), f"{server.open_connections} connection(s) still open"
    started = [thread for thread in threading.enumerate() if thread not in before and "jwtguard" in thread.name]
    for thread in started:
        thread.join(timeout=2.0)
    assert [thread.name for thread in started if thread.is_alive()] == []


class Recorder:
    def __init__(self) -> None:
        self.events: list[KeyEvent] = []

    def __call__(self, event: KeyEvent) -> None:
        self.events.append(event)

    def errors(self) -> list[str | None]:
        return [event.error for event in self.events if event.name == "jwks_fetch_failed"]


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(drip_headers, id="dripping-headers"),
        pytest.param(drip_body, id="dripping-body"),
        pytest.param(drip_empty_gzip_blocks, id="gzip-of-empty-blocks"),
    ],
)
def test_a_dripping_key_server_is_cut_off_at_the_timeout(
    script: Callable[[Connection], None], clock: FakeClock, fetch_threads: set[threading.Thread]
) -> None:
    recorder = Recorder()
    with ScriptedServer(script) as server:
        key_set = KeySet(jwks_uri=server.url, timeout=0.3, clock=clock, event_hook=recorder)
        started = time.monotonic()
        with pytest.raises(JWKSUnavailable):
            key_set.get_key("any", "RS256")
        assert time.monotonic() - started < 1.0
        assert_released(server, fetch_threads)
        assert recorder.errors() == ["timed out (jwks_timeout)"]
        key_set.close()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """100 MiB of zeros in about 100 kB of gzip: well under jwks_max_bytes until inflated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(100)) + compressor.flush()


def test_a_gzip_bomb_is_refused_before_it_fills_memory(
    gzip_bomb: bytes, clock: FakeClock, fetch_threads: set[threading.Thread]
) -> None:
    assert len(gzip_bomb) < 512 * 1024
    recorder = Recorder()
    with ScriptedServer(answer(gzip_bomb, "Content-Encoding: gzip")) as server:
        key_set = KeySet(jwks_uri=server.url, clock=clock, event_hook=recorder)
        tracemalloc.start()
        try:
            with pytest.raises(JWKSUnavailable):
                key_set.get_key("any", "RS256")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert recorder.errors() == ["response larger than jwks_max_bytes"]
        assert peak < 8 * 1024 * 1024  # the cap is 512 kB; inflated in one go this would be 64 MiB or more
        assert_released(server, fetch_threads)
        key_set.close()


def test_only_gzip_is_asked_for_and_only_gzip_is_decoded(issuer: DevIssuer, clock: FakeClock) -> None:
    document = json.dumps(issuer.server.jwks).encode()
    with ScriptedServer(answer(gzip.compress(document), "Content-Encoding: gzip")) as server:
        key_set = KeySet(jwks_uri=server.url, clock=clock)
        assert key_set.get_key(issuer.key.kid, "RS256").kid == issuer.key.kid
        assert server.header(0, "accept-encoding") == "gzip"
        key_set.close()
        refused = [
            ("deflate", zlib.compress(document), "unsupported content-encoding"),
            ("gzip, gzip", gzip.compress(gzip.compress(document)), "unsupported content-encoding"),
            ("gzip", gzip.compress(document)[:-8], "response ends inside its gzip stream"),
            ("gzip", gzip.compress(document) + b"trailing", "response has data after the end of its gzip stream"),
            ("gzip", b"not gzip at all", "response is not valid gzip"),
        ]
        for encoding, body, error in refused:
            recorder = Recorder()
            server.script = answer(body, f"Content-Encoding: {encoding}")
            key_set = KeySet(jwks_uri=server.url, clock=clock, event_hook=recorder)
            with pytest.raises(JWKSUnavailable):
                key_set.get_key(issuer.key.kid, "RS256")
            assert recorder.errors() == [error], encoding
            key_set.close()


def test_stuck_fetches_let_go_and_a_recovered_endpoint_serves_keys_at_the_next_attempt(
    issuer: DevIssuer, clock: FakeClock, fetch_threads: set[threading.Thread]
) -> None:
    with ScriptedServer(drip_headers) as server:
        guard = Guard(issuer.settings(jwks_uri=server.url, jwks_timeout=0.2), key_clock=clock)
        for _ in range(5):
            with pytest.raises(AuthError) as refused:
                guard.authenticate(f"Bearer {issuer.token()}")
            assert refused.value.code == "jwks_unavailable"
            clock.advance(10)  # the next attempt is allowed after jwks_min_refresh_interval
        assert_released(server, fetch_threads)

        server.script = answer(json.dumps(issuer.server.jwks).encode())  # the endpoint recovers
        assert guard.authenticate(f"Bearer {issuer.token(subject='back')}").subject == "back"
        assert len(server.requests) == 6
        guard.close()
