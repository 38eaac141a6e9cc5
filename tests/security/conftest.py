"""The adversarial suite's kit: a live server on 127.0.0.1, a hostile JWKS, an attacker's key server, forgery tools.

Every case goes through real HTTP (uvicorn on 127.0.0.1) and asserts the exact status and code, and that
neither the token nor its signature shows up in the response or in any log record.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm, get_default_algorithms
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jwtguard import JtiDenylist, JWTGuardMiddleware, Settings, require_scopes
from jwtguard.testing import DevIssuer, KeyServer, SigningKey, generate_key

from ..conftest import live_server

AUDIENCE = "https://api.example.test"
ROOT = Path(__file__).resolve().parent.parent.parent
ALGORITHMS = get_default_algorithms()
STATUS = {
    "ok": 200,
    "invalid_request": 400,
    "insufficient_scope": 403,
    "cross_site_request": 403,
    "untrusted_proxy": 403,
    "jwks_unavailable": 503,
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(value if isinstance(value, bytes) else json.dumps(value).encode())


@dataclass
class Attempt:
    """One request: the Authorization header value(s) and where else things go."""

    authorization: list[str] = field(default_factory=list)
    path: str = "/"
    params: dict[str, str] | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, str] | None = None
    secrets: list[str] = field(default_factory=list)  # must never appear in a response or a log


@dataclass
class Kit:
    issuer: DevIssuer
    keys: dict[str, SigningKey]  # published
    others: dict[str, SigningKey]  # never published
    attacker: KeyServer
    denylist: JtiDenylist

    @property
    def now(self) -> int:
        return int(time.time())

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Valid claims (scope orders:read); a change of None removes the claim."""
        return self.issuer.claims(scopes=["orders:read"], **changes)

    def header(self, alg: Any = "RS256", **changes: Any) -> dict[str, Any]:
        key = self.keys.get(alg) if isinstance(alg, str) else None
        base = {"alg": alg, "typ": "JWT", "kid": (key or self.keys["RS256"]).kid}
        base.update(changes)
        return {name: value for name, value in base.items() if value is not None}

    def forge(self, header: Any, payload: Any, key: SigningKey | None = None, alg: str | None = None) -> str:
        """Exactly this header and payload, signed by `key` with `alg` (default: the key's own)."""
        signing_input = f"{segment(header)}.{segment(payload)}"
        if key is None:
            return signing_input + "."
        signature = ALGORITHMS[alg or key.alg].sign(signing_input.encode(), key.private_key)
        return f"{signing_input}.{b64(signature)}"

    def token(self, alg: str = "RS256", **changes: Any) -> str:
        """A valid token for `alg` with claim changes."""
        return self.forge(self.header(alg), self.claims(**changes), self.keys[alg])


Case = Callable[[Kit], "str | Attempt"]


def short_rsa_jwk() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # deliberately weak
    return RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "short", "alg": "RS256"}


@pytest.fixture(scope="session")
def kit(signing_keys: dict[str, SigningKey], other_keys: dict[str, SigningKey]) -> Iterator[Kit]:
    keys = dict(signing_keys)
    keys["ES384"] = generate_key("ES384", kid="es384-main")
    with DevIssuer(audience=AUDIENCE, keys=list(keys.values())) as issuer, KeyServer() as attacker:
        rsa_jwk = keys["RS256"].public_jwk()
        ec_jwk = keys["ES256"].public_jwk()
        hostile_entries: list[Any] = [
            {"kty": "oct", "k": b64(b"shared-secret"), "kid": "symmetric", "alg": "HS256"},
            rsa_jwk | {"kid": "encryption", "use": "enc"},
            rsa_jwk | {"kid": "sign-only", "key_ops": ["sign"]},
            rsa_jwk | {"kid": "wrong-alg", "alg": "ES256"},
            rsa_jwk | {"kid": "private", "d": "AQAB"},
            {"kty": "RSA", "n": "!!", "e": "AQAB", "kid": "malformed"},
            {"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA", "kid": "bad-curve"},
            {"kty": "OKP", "crv": "X25519", "x": b64(bytes(32)), "kid": "x25519"},
            short_rsa_jwk(),
            # Two keys under one kid: the RSA one first, the EC one second.
            rsa_jwk | {"kid": "duplicate"},
            ec_jwk | {"kid": "duplicate"},
            "not an object",
        ]
        issuer.server.jwks = {"keys": [*issuer.server.jwks["keys"], *hostile_entries]}
        yield Kit(issuer=issuer, keys=keys, others=other_keys, attacker=attacker, denylist=JtiDenylist())


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@require_scopes("orders:read")
async def _scoped(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _app(settings: Settings) -> Starlette:
    app = Starlette(routes=[Route("/", _ok, methods=["GET", "POST"]), Route("/scoped", _scoped)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app


@pytest.fixture(scope="session")
def default_url(kit: Kit) -> Iterator[str]:
    settings = kit.issuer.settings(algorithms=["RS256", "PS256", "ES256", "EdDSA"], max_token_bytes=8192)
    with live_server(_app(settings)) as url:
        yield url


@pytest.fixture(scope="session")
def strict_url(kit: Kit) -> Iterator[str]:
    settings = kit.issuer.settings(
        algorithms=["RS256"],
        token_types=["at+jwt"],
        max_token_lifetime=3600,
        required_claim_values={"azp": "client-1"},
        revocation_hook=kit.denylist,
    )
    with live_server(_app(settings)) as url:
        yield url


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def run_case(
    case: Case, expected: str, kit: Kit, url: str, http: httpx.Client, logs: pytest.LogCaptureFixture
) -> httpx.Response:
    """Send the case and check status, code and that nothing secret leaked."""
    built = case(kit)
    if isinstance(built, Attempt):
        attempt = built
    else:
        attempt = Attempt(authorization=[f"Bearer {built}"])
        # Long enough not to occur by chance in a log line: the token and its signature.
        attempt.secrets = [part for part in (built, built.rsplit(".", 1)[-1]) if len(part) >= 16]
    started = time.monotonic()
    response = http.request(
        "POST" if attempt.data is not None else "GET",
        url + attempt.path,
        # Latin-1, as HTTP/1.1 carries header bytes: lets a case send non-ASCII bytes.
        headers=[(b"Authorization", value.encode("latin-1")) for value in attempt.authorization]
        + [(name.encode(), value.encode("latin-1")) for name, value in attempt.headers],
        params=attempt.params,
        data=attempt.data,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == STATUS.get(expected, 401), response.text
    if expected == "ok":
        assert response.text == "ok"
    else:
        assert response.json()["code"] == expected
        assert response.headers["content-type"] == "application/problem+json"
    assert elapsed < 2.0  # bounded work per request, whatever the input
    for secret in attempt.secrets:
        assert secret not in response.text
        assert all(secret not in value for value in response.headers.values())
        assert secret not in logs.text
        for record in logs.records:
            assert all(secret not in str(value) for value in vars(record).values())
    return response


@contextmanager
def server_process(command: Callable[[int], list[str]], environ: Mapping[str, str]) -> Iterator[str]:
    """Run a server command in a subprocess on a listening 127.0.0.1 socket it inherits as file descriptor.

    `command` gets the descriptor's number. Yields the base URL once the server answers; stops the server
    (SIGTERM, then SIGKILL) on the way out. The variables in `environ` replace any JWTGUARD_* of this process.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue here until the server accepts: no race, no retry
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("JWTGUARD_")}
    env.update(environ)
    with sock, tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command(sock.fileno()), pass_fds=[sock.fileno()], env=env, cwd=ROOT, stdout=output, stderr=output
        )
        try:
            try:
                httpx.get(url + "/", timeout=30)
            except httpx.HTTPError as exc:
                output.seek(0)
                raise RuntimeError(f"{command(sock.fileno())} did not answer: {output.read().decode()}") from exc
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def python_module(module: str, *arguments: str) -> list[str]:
    return [sys.executable, "-m", module, *arguments]
