"""jwtguard's benchmark: `python -m benchmarks.run` (add `--output BENCHMARKS-run.md` to keep the tables).

Every section interleaves its contenders round by round and reports the best round of each, as ratios
against the baseline the section names, so that a noisy shared machine moves all of them alike.

1. per-token cost: the raw `cryptography` verify (the floor), PyJWT `jwt.decode` with a prebuilt key,
   PyJWKClient + `decode`, jwtguard's core with the token cache off (cold) and on (hits); then forged
   tokens of every costly shape up to `max_token_bytes`, against an ordinary forged token;
2. in-process ASGI and WSGI cost per request, calling the app directly;
3. a real server: uvicorn on 127.0.0.1 under a load generator (wrk if installed, else a Python client);
4. memory: peak RSS with 100k distinct tokens through the token cache at its default size;
5. JWKS fetches on the request path in steady state (the key server counts them).

`--instructions` counts instructions per request with callgrind instead (see `benchmarks/instructions.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from jwtguard import AuthError, Guard, Settings
from jwtguard.testing import DevIssuer, SigningKey, generate_key

from .apps import VARIANTS, build, build_wsgi, http_scope

AUDIENCE = "https://api.bench.test"
ROOT = Path(__file__).resolve().parent.parent
Lines = list[str]


def best_per_call(function: Callable[[], Any], number: int, rounds: int) -> float:
    """Microseconds per call: the best of `rounds` batches of `number` calls."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(number):
            function()
        best = min(best, (time.perf_counter() - started) / number)
    return best * 1e6


def interleaved(contenders: dict[str, Callable[[], Any]], number: int, rounds: int) -> dict[str, float]:
    """Best microseconds per call for each contender, measured round by round in turn."""
    results = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, function in contenders.items():
            results[name] = min(results[name], best_per_call(function, number, 1))
    return results


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- 1. per token ---------------------------------------------------------------------------------


def floor_verifier(key: SigningKey, token: str) -> Callable[[], Any]:
    """The least work that verifies this token's signature with `cryptography`."""
    signing_input, _, signature_b64 = token.rpartition(".")
    message, signature = signing_input.encode(), b64decode(signature_b64)
    public = key.private_key.public_key()
    if key.alg == "RS256":
        return lambda: public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    if key.alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return lambda: public.verify(signature, message, pss, hashes.SHA256())
    if key.alg == "ES256":
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        return lambda: public.verify(der, message, ec.ECDSA(hashes.SHA256()))
    return lambda: public.verify(signature, message)


def per_token(issuer: DevIssuer, keys: dict[str, SigningKey], rounds: int) -> tuple[Lines, dict[str, Any]]:
    lines = [
        "| alg | floor (cryptography) | PyJWT decode | PyJWKClient + decode | jwtguard cold | jwtguard cache hit |",
        "|---|---|---|---|---|---|",
    ]
    facts: dict[str, Any] = {}
    jwks_client = jwt.PyJWKClient(issuer.jwks_uri)
    for alg, key in keys.items():
        token = issuer.token(key=key, scopes=["read"])
        public = key.private_key.public_key()
        settings = issuer.settings(algorithms=[alg], jwks={"keys": [key.public_jwk()]})
        cold = Guard(Settings(**{**_fields(settings), "token_cache_size": 0}))
        warm = Guard(settings)
        header = f"Bearer {token}"

        def pyjwt_decode(token: str = token, public: Any = public, alg: str = alg) -> Any:
            return jwt.decode(token, public, algorithms=[alg], audience=AUDIENCE, issuer=issuer.issuer)

        def jwks_idiom(token: str = token, alg: str = alg) -> Any:
            signing_key = jwks_client.get_signing_key_from_jwt(token)
            return jwt.decode(token, signing_key.key, algorithms=[alg], audience=AUDIENCE, issuer=issuer.issuer)

        def cold_guard(cold: Guard = cold, header: str = header) -> Any:
            return cold.authenticate(header)

        def cached_guard(warm: Guard = warm, header: str = header) -> Any:
            return warm.authenticate(header)

        contenders: dict[str, Callable[[], Any]] = {
            "floor": floor_verifier(key, token),
            "pyjwt": pyjwt_decode,
            "pyjwkclient": jwks_idiom,
            "cold": cold_guard,
            "hit": cached_guard,
        }
        for function in contenders.values():
            function()  # warm every path (the PyJWKClient fetch happens here)
        times = interleaved(contenders, number=2000 if alg.startswith(("RS", "PS")) else 1000, rounds=rounds)
        floor = times["floor"]
        lines.append(
            f"| {alg} | {floor:.1f} µs | {times['pyjwt']:.1f} µs ({times['pyjwt'] / floor:.2f}×) "
            f"| {times['pyjwkclient']:.1f} µs ({times['pyjwkclient'] / floor:.2f}×) "
            f"| {times['cold']:.1f} µs ({times['cold'] / floor:.2f}×, floor + {times['cold'] - floor:.1f} µs) "
            f"| {times['hit']:.2f} µs |"
        )
        facts[alg] = times
    rs = facts["RS256"]
    lines.append("")
    lines.append(
        f"RS256: jwtguard cold is {rs['pyjwt'] / rs['cold']:.2f}× faster than `jwt.decode` and "
        f"{rs['pyjwkclient'] / rs['cold']:.2f}× faster than PyJWKClient + `decode`."
    )
    return lines, facts


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


# -- forged tokens ---------------------------------------------------------------------------------


def _segment(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _forged(header: bytes, payload: bytes, signature: str) -> str:
    return f"{_segment(header)}.{_segment(payload)}.{signature}"


def _fill(prefix: bytes, item: bytes, budget: int) -> bytes:
    """A JSON object that starts with `prefix` members and fills the payload up to `budget` bytes with `item`s."""
    count = max(0, (budget - len(prefix) - 2) // (len(item) + 9))
    members = b",".join(b'"m%d":%s' % (n, item) for n in range(count))
    return b"{" + prefix + (b"," + members if members else b"") + b"}"


def forged_tokens(issuer: DevIssuer, keys: dict[str, SigningKey], rounds: int) -> tuple[Lines, float]:
    """What a forged token costs, by shape, against an ordinary forged token (RS256, signature refused)."""
    key = keys["RS256"]
    settings = issuer.settings(algorithms=["RS256"], jwks={"keys": [key.public_jwk()]})
    single = Guard(settings)
    several = Guard(
        Settings(
            audience=AUDIENCE,
            algorithms=["RS256"],
            issuers=[
                {"issuer": issuer.issuer, "jwks": {"keys": [key.public_jwk()]}},
                {"issuer": "https://other.bench.test/", "jwks": {"keys": [keys["ES256"].public_jwk()]}},
            ],
        )
    )
    ordinary = issuer.token(key=key, scopes=["read"])
    signature = issuer.token(key=key, scopes=["other"]).rsplit(".", 1)[1]  # a real signature, of another input
    header = b'{"alg":"RS256","kid":"%s","typ":"JWT"}' % key.kid.encode()
    iss = b'"iss":"%s"' % issuer.issuer.encode()
    # A compact JWS carries 4 characters per 3 bytes: the largest payload that fits max_token_bytes.
    budget = (settings.max_token_bytes - len(_segment(header)) - len(signature) - 2) * 3 // 4 - 16
    shapes = {
        "ordinary forged token": ordinary.rsplit(".", 1)[0] + "." + signature,
        "payload of small objects": _forged(header, _fill(iss, b"{}", budget), signature),
        "payload of nested arrays": _forged(header, b'{"a":' + b"[" * 900 + b"]" * 900 + b"}", signature),
        "payload of one long string": _forged(header, _fill(iss, b'"' + b"x" * 2000 + b'"', budget), signature),
        "payload of escaped strings": _forged(header, _fill(iss, b'"' + b"\\u00e9" * 40 + b'"', budget), signature),
        "payload of many iss members": _forged(header, _fill(iss, b'{"iss":"x"}', budget), signature),
        "header of many objects": _forged(
            header[:-1] + b',"x":[' + b",".join([b"{}"] * 300) + b"]}", b'{"sub":"x"}', signature
        ),
        "header of long strings": _forged(
            header[:-1] + b',"x":"' + b"y" * (budget // 2) + b'"}', b'{"sub":"x"}', signature
        ),
    }
    # With two issuers an unknown kid makes the guard read `iss` from the unverified payload to choose
    # whose keys to refresh: the same shapes, under a kid no issuer publishes (the refusal is remembered).
    unknown = b'{"alg":"RS256","kid":"not-published","typ":"JWT"}'
    shapes["unknown kid, payload of small objects"] = _forged(unknown, _fill(b"", b"{}", budget) + b"", signature)
    shapes["unknown kid, iss at the end"] = _forged(
        unknown, _fill(b"", b'"' + b"x" * 400 + b'"', budget)[:-1] + b"," + iss + b"}", signature
    )
    contenders: dict[str, Callable[[], Any]] = {}
    codes: dict[str, str] = {}
    for label, token in shapes.items():
        for guard_name, guard in (("one issuer", single), ("two issuers", several)):
            authorization = f"Bearer {token}"

            def attempt(guard: Guard = guard, authorization: str = authorization) -> str:
                try:
                    guard.authenticate(authorization)
                except AuthError as exc:
                    return exc.code
                return "ok"

            name = f"{label}, {guard_name}"
            codes[name] = attempt()
            contenders[name] = attempt
    times = interleaved(contenders, number=500, rounds=rounds)
    baseline = times["ordinary forged token, one issuer"]
    lines = [
        "| forged token (at most `max_token_bytes`) | size | refused as | cost | × ordinary forged token |",
        "|---|---|---|---|---|",
    ]
    for name, spent in times.items():
        size = len(shapes[name.rsplit(", ", 1)[0]])
        lines.append(f"| {name} | {size:,} B | `{codes[name]}` | {spent:.1f} µs | {spent / baseline:.2f}× |")
    worst = max(times.values()) / baseline
    lines += ["", f"The costliest forged token costs {worst:.2f}× an ordinary forged token (target: at most 3×)."]
    return lines, worst


# -- 2. in-process ASGI and WSGI ------------------------------------------------------------------


def asgi_per_request(issuer: DevIssuer, token: str, rounds: int) -> tuple[Lines, dict[str, float]]:
    scope_template = http_scope(token)
    loop = asyncio.new_event_loop()
    apps = {variant: build(variant, issuer.jwks_uri, issuer.issuer, AUDIENCE) for variant in VARIANTS}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def runner(app: Any, number: int) -> Callable[[], None]:
        async def many() -> None:
            for _ in range(number):
                await app(dict(scope_template), receive, send)

        return lambda: loop.run_until_complete(many())

    number = 500
    contenders = {variant: runner(app, number) for variant, app in apps.items()}
    for function in contenders.values():
        function()  # warm: keys fetched, caches filled, routes compiled
    assert set(statuses) == {200}, set(statuses)
    times = {name: cost / number for name, cost in interleaved(contenders, number=1, rounds=rounds).items()}
    loop.close()
    bare = times["bare"]
    lines = ["| ASGI app (in-process) | per request | × bare Starlette |", "|---|---|---|"]
    for name, label in (
        ("bare", "bare Starlette"),
        ("peer", "AuthenticationMiddleware + PyJWT + PyJWKClient (peer)"),
        ("jwtguard-cold", "jwtguard, token cache off"),
        ("jwtguard", "jwtguard, token cache hits"),
    ):
        lines.append(f"| {label} | {times[name]:.1f} µs | {times[name] / bare:.2f}× |")
    return lines, times


def wsgi_per_request(issuer: DevIssuer, token: str, rounds: int, floor: float) -> tuple[Lines, dict[str, float]]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SCRIPT_NAME": "",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
    }

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    apps = {
        variant: build_wsgi(variant, issuer.jwks_uri, issuer.issuer, AUDIENCE)
        for variant in ("bare", "jwtguard-cold", "jwtguard")
    }

    def caller(app: Any) -> Callable[[], bytes]:
        return lambda: b"".join(app(dict(environ), start_response))

    contenders = {name: caller(app) for name, app in apps.items()}
    for function in contenders.values():
        function()
    times = interleaved(contenders, number=2000, rounds=rounds)
    bare = times["bare"]
    lines = [
        "| WSGI app (in-process) | per request | over the bare callable |",
        "|---|---|---|",
        f"| bare WSGI callable | {bare:.2f} µs | — |",
        f"| jwtguard, token cache off | {times['jwtguard-cold']:.1f} µs | +{times['jwtguard-cold'] - bare:.1f} µs "
        f"(RS256 floor + {times['jwtguard-cold'] - floor:.1f} µs) |",
        f"| jwtguard, token cache hits | {times['jwtguard']:.2f} µs | +{times['jwtguard'] - bare:.2f} µs |",
    ]
    return lines, times


# -- 3. under uvicorn -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(variant: str, issuer: DevIssuer) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "BENCH_VARIANT": variant,
        "BENCH_JWKS_URI": issuer.jwks_uri,
        "BENCH_ISSUER": issuer.issuer,
        "BENCH_AUDIENCE": AUDIENCE,
    }
    command = [sys.executable, "-m", "uvicorn", "benchmarks.apps:create", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.05)  # waiting for the server to bind
    process.kill()
    raise RuntimeError("uvicorn did not start")


def load_wrk(url: str, token: str, seconds: int, connections: int) -> tuple[float, float, float]:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    percentiles = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", output))
    return rps, _ms(percentiles.get("50", "0ms")), _ms(percentiles.get("99", "0ms"))


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load_python(url: str, token: str, seconds: int, connections: int) -> tuple[float, float, float]:
    """A bounded keep-alive HTTP/1.1 client on raw sockets, for machines without wrk."""
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))
    request = f"GET / HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    latencies: list[float] = []

    async def client(deadline: float) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
        writer.close()

    async def run() -> float:
        started = time.monotonic()
        await asyncio.gather(*(client(started + seconds) for _ in range(connections)))
        return time.monotonic() - started

    elapsed = asyncio.run(run())
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000


def under_uvicorn(issuer: DevIssuer, token: str, seconds: int, rounds: int) -> tuple[Lines, dict[str, float]]:
    generator = load_wrk if shutil.which("wrk") else load_python
    best: dict[str, tuple[float, float, float]] = {}
    for _ in range(rounds):
        for variant in VARIANTS:
            process, url = serve(variant, issuer)
            try:
                generator(url, token, 1, 8)  # warm: keys fetched, caches filled
                result = generator(url, token, seconds, 32)
            finally:
                process.terminate()
                process.wait(timeout=10)
            if variant not in best or result[0] > best[variant][0]:
                best[variant] = result
    bare = best["bare"][0]
    name = "wrk -t1 -c32" if generator is load_wrk else "a Python keep-alive client, 32 connections"
    lines = [
        f"Load: {name}, {seconds} s per run, best of {rounds}; one uvicorn worker (h11), all on this machine.",
        "",
        "| server app | req/s | × bare | p50 | p99 |",
        "|---|---|---|---|---|",
    ]
    for variant, label in (
        ("bare", "bare Starlette"),
        ("peer", "peer (AuthenticationMiddleware + PyJWT + PyJWKClient)"),
        ("jwtguard-cold", "jwtguard, token cache off"),
        ("jwtguard", "jwtguard, token cache hits"),
    ):
        requests, p50, p99 = best[variant]
        lines.append(f"| {label} | {requests:,.0f} | {requests / bare:.2f}× | {p50:.2f} ms | {p99:.2f} ms |")
    rps = {variant: result[0] for variant, result in best.items()}
    lines.append("")
    lines.append(
        f"jwtguard cold serves {rps['jwtguard-cold'] / rps['peer']:.2f}× the peer's req/s; with token-cache hits "
        f"{rps['jwtguard'] / bare:.2f}× bare."
    )
    return lines, rps


# -- 4. memory ------------------------------------------------------------------------------------

MEMORY_PROBE = r"""
import resource, sys, time
from jwtguard import AuthError, Guard, Settings
from jwtguard.testing import generate_key
key = generate_key("EdDSA")
settings = Settings(issuer="https://i.test/", audience="api", algorithms=["EdDSA"], jwks={"keys": [key.public_jwk()]})
guard = Guard(settings)
now = int(time.time())
# Padded to the size of a typical RS256 access token (about 900 bytes) while signing fast.
tokens = [key.sign({"iss": "https://i.test/", "aud": "api", "sub": f"user-{n}", "exp": now + 3600, "iat": now,
                    "scope": "orders:read profile", "groups": "g" * 420}) for n in range(100_000)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for token in tokens:
    guard.authenticate("Bearer " + token)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(tokens[0]), before, after, guard.cache_stats.entries, settings.token_cache_size)
"""


def memory() -> Lines:
    output = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, check=True, cwd=ROOT)
    size, before, after, cached, maximum = (int(part) for part in output.stdout.split())
    return [
        f"100,000 distinct tokens of {size} bytes through one guard with the default token cache "
        f"({maximum:,} entries): peak RSS {after / 1024:.0f} MiB, of which {((after - before) / 1024):.0f} MiB "
        f"came while validating them (the 100k token strings themselves were already in memory: "
        f"{before / 1024:.0f} MiB). The cache held {cached:,} entries at the end: it stays bounded.",
    ]


# -- main -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="jwtguard's benchmark")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="per uvicorn load run")
    parser.add_argument("--skip-server", action="store_true", help="skip the uvicorn section")
    parser.add_argument("--output", type=Path, help="also write the tables to this Markdown file")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request with callgrind instead of timing (deterministic; needs valgrind)",
    )
    args = parser.parse_args()
    if args.instructions:
        from . import instructions

        text = "\n".join(
            ["## Instructions per request (callgrind), RS256", "", *instructions.report(instructions.per_request())]
        )
        print(text)
        if args.output:
            args.output.write_text(text + "\n", encoding="utf-8")
        return 0

    import logging

    logging.getLogger("jwtguard").setLevel(logging.WARNING)
    keys = {alg: generate_key(alg, kid=f"{alg.lower()}-bench") for alg in ("RS256", "PS256", "ES256", "EdDSA")}
    report: Lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"CPython {platform.python_version()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
    ]
    with DevIssuer(audience=AUDIENCE, keys=list(keys.values())) as issuer:
        token = issuer.token(key=keys["RS256"], scopes=["read"], expires_in=3600)
        hits_before = issuer.server.jwks_hits
        section, facts = per_token(issuer, keys, args.rounds)
        report += ["## Per token", "", *section, ""]
        section, _ = forged_tokens(issuer, keys, args.rounds)
        report += ["## Forged tokens", "", *section, ""]
        section, _ = asgi_per_request(issuer, token, args.rounds)
        report += ["## ASGI, in-process, RS256", "", *section, ""]
        section, _ = wsgi_per_request(issuer, token, args.rounds, facts["RS256"]["floor"])
        report += ["## WSGI, in-process, RS256", "", *section, ""]
        steady_hits = issuer.server.jwks_hits
        if not args.skip_server:
            section, _ = under_uvicorn(issuer, token, args.seconds, max(1, args.rounds // 2))
            report += ["## Under uvicorn, RS256", "", *section, ""]
        report += ["## Memory", "", *memory(), ""]
        report += [
            "## JWKS fetches",
            "",
            f"The key server saw {steady_hits - hits_before} fetches while the in-process sections ran "
            f"({len(VARIANTS) + 3} guards and clients, each fetching once when it started, then none in steady state).",
        ]
    text = "\n".join(report)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
