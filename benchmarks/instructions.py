"""Instructions per request, counted by callgrind: deterministic, unlike times on a shared machine.

`python -m benchmarks.run --instructions` (or `python -m benchmarks.instructions`) runs every scenario below
twice under `valgrind --tool=callgrind`, with a small and a large number of requests, and reports the
difference divided by the difference in requests: start-up, imports and warm-up cancel out. Each scenario
runs in its own process (`python -m benchmarks.instructions --run SCENARIO N`), with keys and a token made once by
the driver, a static JWKS (no network on the measured path) and logging at WARNING.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AUDIENCE = "https://api.bench.test"
ISSUER = "https://issuer.bench.test/"
Runner = Callable[[int], None]


# -- the scenarios (run inside callgrind) ----------------------------------------------------------


def _material() -> tuple[Any, str, dict[str, Any]]:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    folder = Path(os.environ["BENCH_MATERIAL"])
    key = load_pem_private_key((folder / "key.pem").read_bytes(), password=None)
    token = (folder / "token").read_text()
    jwks = json.loads((folder / "jwks.json").read_text())
    return key, token, jwks


def _settings(jwks: dict[str, Any], **overrides: Any) -> Any:
    from jwtguard import Settings

    return Settings(issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"], jwks=jwks, **overrides)


def _repeat(one: Callable[[], Any]) -> Runner:
    def run(number: int) -> None:
        for _ in range(number):
            one()

    return run


def floor() -> Runner:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key, token, _ = _material()
    signing_input, _, signature = token.rpartition(".")
    message = signing_input.encode()
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    public = key.public_key()
    return _repeat(lambda: public.verify(raw, message, padding.PKCS1v15(), hashes.SHA256()))


def _core(cache: int) -> Runner:
    from jwtguard import Guard

    _, token, jwks = _material()
    guard = Guard(_settings(jwks, token_cache_size=cache))
    header = f"Bearer {token}"
    return _repeat(lambda: guard.authenticate(header))


def core_cold() -> Runner:
    return _core(0)


def core_hit() -> Runner:
    return _core(4096)


def _asgi(variant: str) -> Runner:
    from starlette.applications import Starlette
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from jwtguard import JWTGuardMiddleware
    from jwtguard.testing import KeyServer

    from .apps import PyJWTBackend, http_scope

    _, token, jwks = _material()

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])
    if variant == "peer":
        server = KeyServer(jwks=jwks)
        server.start()  # PyJWKClient fetches once, during warm-up, and caches the key
        app.add_middleware(AuthenticationMiddleware, backend=PyJWTBackend(server.jwks_uri, ISSUER, AUDIENCE))
    elif variant != "bare":
        cache = 0 if variant == "cold" else 4096
        app.add_middleware(JWTGuardMiddleware, settings=_settings(jwks, token_cache_size=cache))
    scope = http_scope(token)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    loop = asyncio.new_event_loop()

    async def many(number: int) -> None:
        for _ in range(number):
            await app(dict(scope), receive, send)

    def run(number: int) -> None:
        loop.run_until_complete(many(number))
        if set(statuses) != {200}:
            raise SystemExit(f"{variant}: statuses {sorted(set(statuses))}")
        statuses.clear()

    return run


def asgi_bare() -> Runner:
    return _asgi("bare")


def asgi_peer() -> Runner:
    return _asgi("peer")


def asgi_cold() -> Runner:
    return _asgi("cold")


def asgi_hit() -> Runner:
    return _asgi("hit")


def _wsgi(variant: str, framework: str) -> Runner:
    from jwtguard import JWTGuardWSGIMiddleware

    _, token, jwks = _material()
    app: Any
    if framework == "flask":
        import flask

        import jwtguard.flask

        flask_app = flask.Flask("bench")
        flask_app.get("/")(lambda: "hello")
        if variant != "bare":
            cache = 0 if variant == "cold" else 4096
            jwtguard.flask.JWTGuard(flask_app, settings=_settings(jwks, token_cache_size=cache))
        app = flask_app
    else:

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
            return [b"hello"]

        if variant != "bare":
            cache = 0 if variant == "cold" else 4096
            app = JWTGuardWSGIMiddleware(app, settings=_settings(jwks, token_cache_size=cache))
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "bench",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    def one() -> None:
        import io

        request = dict(environ)
        request["wsgi.input"] = io.BytesIO(b"")
        body = app(request, start_response)
        b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()

    def run(number: int) -> None:
        for _ in range(number):
            one()
        if {status[:3] for status in statuses} != {"200"}:
            raise SystemExit(f"{framework} {variant}: statuses {sorted(set(statuses))}")
        statuses.clear()

    return run


def wsgi_bare() -> Runner:
    return _wsgi("bare", "wsgi")


def wsgi_cold() -> Runner:
    return _wsgi("cold", "wsgi")


def wsgi_hit() -> Runner:
    return _wsgi("hit", "wsgi")


def flask_bare() -> Runner:
    return _wsgi("bare", "flask")


def flask_hit() -> Runner:
    return _wsgi("hit", "flask")


SCENARIOS: dict[str, tuple[str, Callable[[], Runner], int]] = {
    # name: (what it is, builder, requests in the large run; the small run is a fifth of it)
    "floor": ("RS256 verify with `cryptography` (the floor)", floor, 1000),
    "core-cold": ("jwtguard core, token cache off", core_cold, 500),
    "core-hit": ("jwtguard core, token cache hit", core_hit, 2000),
    "asgi-bare": ("bare Starlette", asgi_bare, 1000),
    "asgi-peer": ("Starlette + AuthenticationMiddleware + PyJWT + PyJWKClient", asgi_peer, 250),
    "asgi-cold": ("Starlette + JWTGuardMiddleware, token cache off", asgi_cold, 500),
    "asgi-hit": ("Starlette + JWTGuardMiddleware, token cache hit", asgi_hit, 1000),
    "wsgi-bare": ("bare WSGI callable", wsgi_bare, 2000),
    "wsgi-cold": ("JWTGuardWSGIMiddleware, token cache off", wsgi_cold, 500),
    "wsgi-hit": ("JWTGuardWSGIMiddleware, token cache hit", wsgi_hit, 2000),
    "flask-bare": ("bare Flask", flask_bare, 1000),
    "flask-hit": ("Flask + jwtguard, token cache hit", flask_hit, 1000),
}


def run_scenario(name: str, number: int) -> None:
    import logging

    logging.getLogger("jwtguard").setLevel(logging.WARNING)
    runner = SCENARIOS[name][1]()
    runner(20)  # warm every cache (and the peer's key fetch) before counting
    runner(number)


# -- the driver ------------------------------------------------------------------------------------


def _make_material(folder: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from jwtguard.testing import generate_key

    key = generate_key("RS256", kid="bench-rs256")
    (folder / "key.pem").write_bytes(
        key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "scope": "read", "iat": now, "exp": now + 7200}
    claims["jti"] = "bench-token-0001"
    (folder / "token").write_text(key.sign(claims))
    (folder / "jwks.json").write_text(json.dumps({"keys": [key.public_jwk()]}))


def _count(name: str, number: int, folder: Path) -> int:
    out = folder / f"callgrind.{name}.{number}"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--run",
        name,
        str(number),
    ]
    env = {**os.environ, "BENCH_MATERIAL": str(folder), "PYTHONHASHSEED": "0"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{name} {number} failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    for line in out.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"{name}: no instruction total in {out}")


def per_request(names: list[str] | None = None) -> dict[str, float]:
    """Instructions per request for each scenario (start-up subtracted)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jwtguard-bench-") as temporary:
        folder = Path(temporary)
        _make_material(folder)
        for name in names or list(SCENARIOS):
            large = SCENARIOS[name][2]
            small = large // 5
            results[name] = (_count(name, large, folder) - _count(name, small, folder)) / (large - small)
    return results


def report(results: dict[str, float]) -> list[str]:
    """The table and the ratios the targets are stated in."""
    k = 1000.0
    lines = ["| scenario | instructions per request |", "|---|---|"]
    lines += [f"| {SCENARIOS[name][0]} | {value / k:,.1f}k |" for name, value in results.items()]
    r = results
    derived: list[tuple[str, float | None, str]] = []
    if {"floor", "core-cold"} <= r.keys():
        derived.append(("core cold − floor", (r["core-cold"] - r["floor"]) / k, "k (target ≤ 100k)"))
    if {"core-hit"} <= r.keys():
        derived.append(("core hit", r["core-hit"] / k, "k"))
    if {"floor", "asgi-cold", "asgi-bare"} <= r.keys():
        derived.append(("ASGI cold − bare − floor", (r["asgi-cold"] - r["asgi-bare"] - r["floor"]) / k, "k (≤ 120k)"))
    if {"asgi-hit", "asgi-bare"} <= r.keys():
        derived.append(("ASGI hit ÷ bare Starlette", r["asgi-hit"] / r["asgi-bare"], "× (target ≤ 1.15×)"))
    if {"asgi-peer", "asgi-cold"} <= r.keys():
        derived.append(("peer ÷ ASGI cold", r["asgi-peer"] / r["asgi-cold"], "× (target ≥ 2.5×)"))
    if {"wsgi-hit", "wsgi-bare"} <= r.keys():
        derived.append(("WSGI hit − bare callable", (r["wsgi-hit"] - r["wsgi-bare"]) / k, "k (target ≤ 15k)"))
    if {"flask-hit", "flask-bare"} <= r.keys():
        derived.append(("Flask hit − bare Flask", (r["flask-hit"] - r["flask-bare"]) / k, "k"))
    if derived:
        lines += ["", "| derived | value |", "|---|---|"]
        lines += [f"| {label} | {value:,.2f}{unit} |" for label, value, unit in derived if value is not None]
    return lines


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--run":  # one scenario, inside callgrind
        run_scenario(sys.argv[2], int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description="instructions per request, counted by callgrind")
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], help="default: all")
    args = parser.parse_args()
    print("\n".join(report(per_request(args.scenarios or None))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
