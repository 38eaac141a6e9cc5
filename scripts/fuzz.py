"""A long fuzz run of jwtguard (not part of CI): `python scripts/fuzz.py --inputs 1000000`.

Throws random headers, mutated valid tokens, validly signed tokens with random claim changes and random
JSON segments at the guard, and a share of them at the ASGI and WSGI middleware too. Checks that no
exception escapes, that nothing answers 5xx, that the two middlewares agree, and that every accepted
token was signed by a trusted key and satisfies an independent oracle for the policy. Exits 1 on the
first kind of violation found (after the run) and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from jwt.algorithms import get_default_algorithms

from jwtguard import Guard, JWTGuardMiddleware, JWTGuardWSGIMiddleware, Principal, RequestInfo, Settings
from jwtguard.errors import AuthError
from jwtguard.testing import SigningKey, generate_key

ISSUER = "https://issuer.fuzz.test/"
AUDIENCE = "https://api.fuzz.test"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ~\t,\x00\x7f\u00e9\u2028"
ALGORITHMS = get_default_algorithms()
CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "sub", "scope", "scp", "jti", "x"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


class Fuzzer:
    def __init__(self, seed: int, token_cache_size: int = 4096) -> None:
        self.random = random.Random(seed)  # noqa: S311  # reproducible fuzzing, no secret
        self.keys = [generate_key(alg) for alg in ("RS256", "PS256", "ES256", "EdDSA")]
        self.signer = next(key for key in self.keys if key.alg == "EdDSA")  # fast to sign with
        settings = Settings(
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=[key.alg for key in self.keys],
            jwks={"keys": [key.public_jwk() for key in self.keys]},
            token_cache_size=token_cache_size,
        )
        self.guard = Guard(settings)
        self.valid = [self.sign(key, self.base_claims()) for key in self.keys]
        self.loop = asyncio.new_event_loop()
        self.asgi = JWTGuardMiddleware(_asgi_ok, guard=self.guard)
        self.wsgi = JWTGuardWSGIMiddleware(_wsgi_ok, guard=self.guard)

    # -- inputs ----------------------------------------------------------------------------------

    def base_claims(self) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": ISSUER, "aud": AUDIENCE, "sub": "fuzz", "iat": now, "nbf": now, "exp": now + 3600}

    def sign(self, key: SigningKey, claims: Any, header: Any = None) -> str:
        signing_input = f"{segment(header or {'alg': key.alg, 'kid': key.kid})}.{segment(claims)}"
        return f"{signing_input}.{b64(ALGORITHMS[key.alg].sign(signing_input.encode(), key.private_key))}"

    def json_value(self, depth: int = 0) -> Any:
        r = self.random
        choice = r.randrange(9 if depth < 3 else 6)
        if choice == 0:
            return None
        if choice == 1:
            return r.choice([True, False])
        if choice == 2:
            return r.choice([0, -1, 1, 2**31, 2**63, -(2**63), int(time.time()) + r.randrange(-10_000, 10_000)])
        if choice == 3:
            return r.choice([0.5, -1e300, 1e300, time.time(), float(r.randrange(10**10))])
        if choice in (4, 5):
            return r.choice([ISSUER, AUDIENCE, ISSUER.upper(), AUDIENCE + "/", "", "a", "\u0000", "orders:read"])
        if choice in (6, 7):
            return [self.json_value(depth + 1) for _ in range(r.randrange(4))]
        return {r.choice(CLAIMS): self.json_value(depth + 1) for _ in range(r.randrange(3))}

    def random_header(self) -> str:
        r = self.random
        text = "".join(r.choice(ALPHABET) for _ in range(r.randrange(300)))
        return r.choice(["", "Bearer ", "bearer ", "Basic ", "Bearer  "]) + text

    def mutated(self) -> tuple[str, str]:
        r = self.random
        original = r.choice(self.valid)
        token = original
        for _ in range(r.randint(1, 4)):
            op = r.randrange(7)
            i = r.randrange(max(len(token), 1))
            if op == 0 and token:
                token = token[:i] + r.choice(ALPHABET) + token[i + 1 :]
            elif op == 1:
                token = token[:i] + r.choice(ALPHABET) + token[i:]
            elif op == 2 and token:
                token = token[:i] + token[i + 1 :]
            elif op == 3:
                token = token[:i]
            elif op == 4:
                parts = token.split(".")
                j, k = r.randrange(len(parts)), r.randrange(len(parts))
                parts[j], parts[k] = parts[k], parts[j]
                token = ".".join(parts)
            elif op == 5:
                token += r.choice([".", "=", ".x", "==", " x", r.choice(self.valid)])
            else:
                parts = token.split(".")
                token = ".".join([*parts, r.choice(parts)])
        return original, token

    def signed_claims(self) -> str:
        claims = self.base_claims()
        for _ in range(self.random.randrange(4)):
            name = self.random.choice(CLAIMS)
            if self.random.random() < 0.3:
                claims.pop(name, None)
            else:
                claims[name] = self.json_value()
        return self.sign(self.signer, claims)

    def random_segments(self) -> str:
        header, payload = self.json_value(), self.json_value()
        if self.random.random() < 0.5:
            header = {
                "alg": self.random.choice(["RS256", "none", "HS256", "EdDSA"]),
                "kid": self.random.choice(self.keys).kid,
            }
        return f"{segment(header)}.{segment(payload)}.{b64(self.random.randbytes(self.random.randrange(80)))}"

    # -- checks ----------------------------------------------------------------------------------

    def decide(self, authorization: str) -> tuple[int, Principal | None]:
        try:
            principal = self.guard.check_request(RequestInfo("GET", "/", None), authorization)
        except AuthError as exc:
            return exc.status_code, None
        return 200, principal

    def asgi_status(self, authorization: bytes) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"authorization", authorization)]}
        self.loop.run_until_complete(self.asgi(scope, receive, send))
        return int(sent[0]["status"])

    def wsgi_status(self, authorization: str) -> int:
        statuses: list[str] = []
        body = self.wsgi(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_AUTHORIZATION": authorization},
            lambda status, headers, exc_info=None: statuses.append(status),  # type: ignore[arg-type]
        )
        b"".join(body)
        return int(statuses[0].split()[0])

    @staticmethod
    def within_policy(principal: Principal) -> bool:
        claims = principal.claims
        exp = claims.get("exp")
        aud = claims.get("aud")
        return (
            isinstance(exp, int | float)
            and not isinstance(exp, bool)
            and exp + 60 > time.time()
            and claims.get("iss") == ISSUER
            and (aud == AUDIENCE or (isinstance(aud, list) and AUDIENCE in aud))
        )


async def _asgi_ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _wsgi_ok(environ: Any, start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--middleware-every", type=int, default=50, help="also send every Nth input through both")
    parser.add_argument("--token-cache-size", type=int, default=4096, help="0 fuzzes the uncached path only")
    args = parser.parse_args()

    import logging

    logging.getLogger("jwtguard").setLevel(logging.CRITICAL)  # a million refusals would flood the console
    fuzzer = Fuzzer(args.seed, args.token_cache_size)
    kinds: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    violations: Counter[str] = Counter()
    examples: dict[str, str] = {}
    started = time.monotonic()
    for n in range(args.inputs):
        roll = fuzzer.random.random()
        if roll < 0.15:
            kind, header = "random-header", fuzzer.random_header()
        elif roll < 0.65:
            kind = "mutated-token"
            _, token = fuzzer.mutated()
            header = f"Bearer {token}"
        elif roll < 0.85:
            kind, header = "signed-random-claims", f"Bearer {fuzzer.signed_claims()}"
        else:
            kind, header = "random-segments", f"Bearer {fuzzer.random_segments()}"
        kinds[kind] += 1
        try:
            status, principal = fuzzer.decide(header)
        except Exception as exc:  # the property under test: nothing escapes
            violations["exception"] += 1
            examples.setdefault("exception", f"{kind}: {type(exc).__name__}: {exc}")
            continue
        statuses[status] += 1
        if status >= 500:
            violations["5xx"] += 1
            examples.setdefault("5xx", kind)
        if status == 200:
            assert principal is not None
            if kind == "random-header" or kind == "random-segments":
                violations["accepted-unsigned"] += 1
                examples.setdefault("accepted-unsigned", header[:200])
            elif kind == "mutated-token" and header[len("Bearer ") :].strip(" \t") not in fuzzer.valid:
                # Accepting is right only for a token a trusted key signed: one of the valid tokens, give or
                # take the whitespace HTTP strips around a header value (a mutation can rebuild one exactly).
                violations["accepted-mutation"] += 1
                examples.setdefault("accepted-mutation", header[:200])
            if not fuzzer.within_policy(principal):
                violations["accepted-outside-policy"] += 1
                examples.setdefault("accepted-outside-policy", json.dumps(dict(principal.claims))[:300])
        if n % args.middleware_every == 0:
            try:
                raw = header.encode("utf-8")
                asgi, wsgi = fuzzer.asgi_status(raw), fuzzer.wsgi_status(raw.decode("latin-1"))
            except Exception as exc:
                violations["middleware-exception"] += 1
                examples.setdefault("middleware-exception", f"{kind}: {type(exc).__name__}: {exc}")
                continue
            kinds["through-middleware"] += 1
            if asgi != wsgi or asgi >= 500:
                violations["middleware-disagreement"] += 1
                examples.setdefault("middleware-disagreement", f"asgi {asgi} wsgi {wsgi}: {header[:200]}")
    elapsed = time.monotonic() - started

    print(
        f"inputs: {args.inputs:,} in {elapsed:.1f} s ({args.inputs / elapsed:,.0f}/s), seed {args.seed}, "
        f"token cache {args.token_cache_size}"
    )
    print("kinds:  " + ", ".join(f"{name} {count:,}" for name, count in sorted(kinds.items())))
    print("status: " + ", ".join(f"{status} {count:,}" for status, count in sorted(statuses.items())))
    if violations:
        print("VIOLATIONS: " + ", ".join(f"{name} {count:,}" for name, count in violations.items()))
        for name, example in examples.items():
            print(f"  {name}: {example}")
        return 1
    print("violations: none (no exception escaped, no 5xx, no wrong accept, middlewares agreed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
