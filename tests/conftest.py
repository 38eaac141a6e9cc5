"""Shared fixtures: signing keys, a development issuer on 127.0.0.1, an injectable clock, a live server."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from starlette.types import ASGIApp
from werkzeug.serving import make_server

from jwtguard.testing import DevIssuer, SigningKey, generate_key

from .browser import browser as browser  # the headless Chromium fixture, for the few browser tests

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# jwtguard's own pytest plugin, as a user's root conftest.py enables it (tests/test_pytest_plugin.py).
pytest_plugins = ["jwtguard.pytest_plugin"]

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, SigningKey]:
    """One key per algorithm, generated once per run (RSA generation is slow)."""
    return {alg: generate_key(alg, kid=f"{alg.lower()}-main") for alg in ALGORITHMS}


@pytest.fixture(scope="session")
def other_keys() -> dict[str, SigningKey]:
    """Keys the issuer never publishes: for forged and rotated tokens."""
    return {alg: generate_key(alg, kid=f"{alg.lower()}-other") for alg in ALGORITHMS}


@pytest.fixture
def issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    """A running development issuer publishing the four main keys; RS256 signs by default."""
    with DevIssuer(audience="https://api.example.test", keys=list(signing_keys.values())) as dev:
        yield dev


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jwtguard_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="jwtguard")
    return caplog


def records(caplog: pytest.LogCaptureFixture, code: str | None = None) -> list[dict[str, Any]]:
    """The jwtguard decision records (optionally for one code) as dicts: `jwtguard_` fields and `level`."""
    found = []
    for record in caplog.records:
        fields = {
            name[len("jwtguard_") :]: value for name, value in vars(record).items() if name.startswith("jwtguard_")
        }
        if record.name == "jwtguard" and "code" in fields and (code is None or fields["code"] == code):
            found.append({**fields, "level": record.levelname, "message": record.getMessage()})
    return found


def events(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    """The jwtguard key-management records with `jwtguard_event == event`."""
    return [record for record in caplog.records if getattr(record, "jwtguard_event", None) == event]


def dead_url() -> str:
    """An http://127.0.0.1 URL on a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/.well-known/jwks.json"


@contextmanager
def live_server(app: ASGIApp, **config: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a thread; yields the base URL. `config` goes to `uvicorn.Config`
    (`ws="wsproto"` for WebSockets, which are off by default)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, **{"log_level": "warning", "lifespan": "off", "ws": "none", **config}))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        started = threading.Event()

        def wait_started() -> None:
            while not server.started and thread.is_alive():
                started.wait(0.01)

        wait_started()
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def live_wsgi_server(app: WSGIApplication) -> Iterator[str]:
    """Serve the WSGI `app` with werkzeug's threaded server on 127.0.0.1 in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
