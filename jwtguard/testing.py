"""A development issuer for demos and tests: signing keys, a JWKS/discovery server on 127.0.0.1, tokens.

    with DevIssuer(audience="my-api") as issuer:
        settings = issuer.settings()                 # issuer, audience, jwks_uri filled in
        token = issuer.token(subject="alice", scopes=["orders:read"])

The server answers `/.well-known/openid-configuration` and `/.well-known/jwks.json`, counts its hits,
and can be told to hang, fail or serve something else, so outages and rotations can be tested for real.
Never use it in production: it issues whatever token you ask for.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .settings import Settings

__all__ = ["DevIssuer", "KeyServer", "SigningKey", "generate_key"]

JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class SigningKey:
    """A private key with the `kid` and `alg` it signs with."""

    kid: str
    alg: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK with `kid`, `alg` and `use`."""
        public_key = self.private_key.public_key()
        if self.alg.startswith(("RS", "PS")):
            jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        elif self.alg.startswith("ES"):
            jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    def sign(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        """A compact JWS of `claims`. `headers` add to or override `kid`; a value of None removes one."""
        header = {"kid": self.kid, **(headers or {})}
        header = {name: value for name, value in header.items() if value is not None}
        return jwt.encode(dict(claims), self.private_key, algorithm=self.alg, headers=header)


def generate_key(alg: str = "RS256", kid: str | None = None) -> SigningKey:
    """A fresh key for `alg` (RS*/PS* 2048-bit RSA, ES256/384/512, EdDSA Ed25519)."""
    private_key: Any
    if alg.startswith(("RS", "PS")):
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg in ("ES256", "ES384", "ES512"):
        curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
        private_key = ec.generate_private_key(curve)
    elif alg == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"generate_key: unsupported algorithm {alg!r}")
    return SigningKey(kid=kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}", alg=alg, private_key=private_key)


class KeyServer:
    """A JWKS and discovery server on 127.0.0.1, in a background thread.

    Set `jwks` to change what it serves (rotation). `hang = True` makes requests wait until
    `hang = False` or `stop()`; `status` and `body` override the answer for JWKS requests.
    `hits` counts requests by path.
    """

    def __init__(self, jwks: Mapping[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.jwks: Mapping[str, Any] = jwks if jwks is not None else {"keys": []}
        self.status = 200
        self.body: bytes | None = None
        self.cache_control: str | None = "max-age=300"
        self.hits: Counter[str] = Counter()
        self._hits_changed = threading.Condition()
        self._released = threading.Event()
        self._released.set()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        host_, port_ = self._server.server_address[:2]
        self.url = f"http://{host_!s}:{port_}"

    @property
    def jwks_uri(self) -> str:
        return self.url + JWKS_PATH

    @property
    def jwks_hits(self) -> int:
        """How many JWKS requests arrived so far."""
        with self._hits_changed:
            return self.hits[JWKS_PATH]

    def wait_for_jwks_hits(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least `count` JWKS requests have arrived (or `timeout`); True if they did."""
        with self._hits_changed:
            return self._hits_changed.wait_for(lambda: self.hits[JWKS_PATH] >= count, timeout=timeout)

    @property
    def hang(self) -> bool:
        return not self._released.is_set()

    @hang.setter
    def hang(self, value: bool) -> None:
        if value:
            self._released.clear()
        else:
            self._released.set()

    def start(self) -> KeyServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="jwtguard-keyserver",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; the port refuses connections afterwards."""
        self._released.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> KeyServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        with self._hits_changed:
            self.hits[path] += 1
            self._hits_changed.notify_all()
        # Bounded, so a forgotten hang cannot keep a test run alive; stop() releases it at once.
        self._released.wait(timeout=60)
        headers = {"Content-Type": "application/json", "Date": formatdate(usegmt=True)}
        if self.cache_control:
            headers["Cache-Control"] = self.cache_control
        if path == DISCOVERY_PATH:
            document = {
                "issuer": self.url,
                "jwks_uri": self.jwks_uri,
                "id_token_signing_alg_values_supported": sorted(
                    {str(key.get("alg")) for key in self.jwks.get("keys", []) if isinstance(key, dict)}
                ),
            }
            return 200, json.dumps(document).encode(), headers
        if path == JWKS_PATH:
            body = self.body if self.body is not None else json.dumps(self.jwks).encode()
            return self.status, body, headers
        return 404, b'{"error": "not found"}', headers

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = server._answer(self.path.split("?", 1)[0])
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # quiet by design
                pass

        return Handler


class DevIssuer:
    """An identity provider in a box: keys, a `KeyServer`, and tokens signed the way you ask."""

    def __init__(
        self,
        *,
        audience: str = "api",
        algorithms: Sequence[str] = ("RS256",),
        keys: Sequence[SigningKey] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self.clock = clock
        self.keys: list[SigningKey] = list(keys) if keys else [generate_key(alg) for alg in algorithms]
        self.server = KeyServer(host=host, port=port)
        self.issuer = self.server.url
        self.publish()

    @property
    def key(self) -> SigningKey:
        """The key tokens are signed with by default: the first published one."""
        return self.keys[0]

    @property
    def jwks_uri(self) -> str:
        return self.server.jwks_uri

    def publish(self, keys: Iterable[SigningKey] | None = None) -> None:
        """Serve `keys` (default: `self.keys`) in the JWKS from now on."""
        if keys is not None:
            self.keys = list(keys)
        self.server.jwks = {"keys": [key.public_jwk() for key in self.keys]}

    def rotate(self, alg: str | None = None) -> SigningKey:
        """Put a new key first (it signs from now on); the old ones stay published."""
        new_key = generate_key(alg or self.key.alg)
        self.publish([new_key, *self.keys])
        return new_key

    def settings(self, **overrides: Any) -> Settings:
        """Settings that trust this issuer: `issuer`, `audience`, `jwks_uri` and `algorithms` filled in."""
        values: dict[str, Any] = {
            "issuer": self.issuer,
            "audience": self.audience,
            "jwks_uri": self.jwks_uri,
            "algorithms": sorted({key.alg for key in self.keys}),
        }
        values.update(overrides)
        if "jwks" in overrides or "discovery" in overrides:
            values.pop("jwks_uri")
        return Settings(**values)

    def claims(
        self,
        *,
        subject: str = "user-1",
        scopes: Iterable[str] = (),
        expires_in: float = 300,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The claims of a normal access token; `extra` adds or overrides claims (None removes one)."""
        now = int(self.clock())
        # An already-expired token was issued before it expired, as a real one would have been.
        issued_at = min(now, now + int(expires_in) - 300)
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "aud": audience or self.audience,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": now + int(expires_in),
            "jti": uuid.uuid4().hex,
        }
        scope_list = list(scopes)
        if scope_list:
            claims["scope"] = " ".join(scope_list)
        for name, value in extra.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def token(
        self,
        *,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
        **claim_options: Any,
    ) -> str:
        """A signed token; see `claims` for the options."""
        return (key or self.key).sign(self.claims(**claim_options), headers)

    def start(self) -> DevIssuer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> DevIssuer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
