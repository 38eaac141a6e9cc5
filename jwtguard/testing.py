"""A development issuer for demos and tests: signing keys, a JWKS/discovery server on 127.0.0.1, tokens.

    with DevIssuer(audience="my-api") as issuer:
        settings = issuer.settings()                 # issuer, audience, jwks_uri filled in
        token = issuer.token(subject="alice", scopes=["orders:read"])

The server answers `/.well-known/openid-configuration` and `/.well-known/jwks.json`, counts its hits,
and can be told to hang, fail or serve something else, so outages and rotations can be tested for real.
It also runs the OAuth 2.0 authorization code flow with PKCE (RFC 7636), as Swagger UI's Authorize button
drives it: `/authorize` signs nobody in and redirects back with a code at once, and `/token` exchanges the
code for an access token once the `code_verifier`, client id and redirect URI match the authorization request.
Never use it in production: it issues whatever token you ask for.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .dpop import access_token_hash, jwk_thumbprint
from .settings import Settings

__all__ = ["DevIssuer", "KeyServer", "SigningKey", "dpop_proof", "generate_key"]

JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"  # noqa: S105  # a path, not a password

#: What a route of the key server answers: status, body and headers.
Answer = tuple[int, bytes, dict[str, str]]
#: An extra route: `(method, path, query, form) -> Answer`, or None for a 404.
Route = Callable[[str, str, Mapping[str, str], Mapping[str, str]], Answer | None]

# Browsers call the discovery document and the token endpoint from the API's documentation page, another
# origin: the answers allow any origin (no cookies are involved), and preflights are answered.
_CORS = {"Access-Control-Allow-Origin": "*"}
_PREFLIGHT = {
    **_CORS,
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type, X-Requested-With",
    "Access-Control-Max-Age": "600",
}
_MAX_FORM_BYTES = 64 * 1024
# RFC 7636 §4.1: a code verifier is 43 to 128 unreserved characters; an S256 challenge is 43 of base64url.
_CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# RFC 6749 §3.3: a scope-token.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


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

    def thumbprint(self) -> str:
        """The RFC 7638 thumbprint of the public key: what a token bound to this key holds in `cnf.jkt`."""
        return jwk_thumbprint(self.public_jwk())

    def sign(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        """A compact JWS of `claims`. `headers` add to or override `kid`; a value of None removes one."""
        header = {"kid": self.kid, **(headers or {})}
        header = {name: value for name, value in header.items() if value is not None}
        return jwt.encode(dict(claims), self.private_key, algorithm=self.alg, headers=header)


def dpop_proof(
    key: SigningKey,
    method: str,
    url: str,
    token: str | None = None,
    *,
    nonce: str | None = None,
    jti: str | None = None,
    iat: float | None = None,
    headers: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> str:
    """A DPoP proof (RFC 9449 §4.2) signed with `key` for a request of `method` to `url`: `typ` dpop+jwt, the
    public key in `jwk`, a fresh `jti`, `iat` now, and with `token` its hash in `ath`. `headers` add to or replace
    header parameters and `overrides` claims (None removes one), to make the proofs a server must refuse."""
    public = key.public_jwk()
    jwk = {name: public[name] for name in ("kty", "crv", "x", "y", "n", "e") if name in public}
    claims: dict[str, Any] = {
        "jti": jti or uuid.uuid4().hex,
        "htm": method,
        "htu": url,
        "iat": int(time.time()) if iat is None else iat,
    }
    if token is not None:
        claims["ath"] = access_token_hash(token)
    if nonce is not None:
        claims["nonce"] = nonce
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    header: dict[str, Any] = {"typ": "dpop+jwt", "jwk": jwk, "kid": None, **(headers or {})}
    header_alg = header.pop("alg", None)
    if header_alg is not None and header_alg != key.alg:  # a proof that claims another alg than it is signed with
        return _resigned_header(key.sign(claims, header), {"alg": header_alg})
    return key.sign(claims, header)


def _resigned_header(token: str, changes: Mapping[str, Any]) -> str:
    """`token` with its header changed and the signature kept: invalid, on purpose."""
    head, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{payload}.{signature}"


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
    `hits` counts requests by path. `discovery` adds members to the discovery document; `route`
    answers other paths (the development issuer's authorization and token endpoints).
    """

    def __init__(self, jwks: Mapping[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.jwks: Mapping[str, Any] = jwks if jwks is not None else {"keys": []}
        self.status = 200
        self.body: bytes | None = None
        self.cache_control: str | None = "max-age=300"
        self.discovery: dict[str, Any] = {}
        self.route: Route | None = None
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

    def _answer(
        self, method: str, path: str, query: Mapping[str, str] | None = None, form: Mapping[str, str] | None = None
    ) -> Answer:
        with self._hits_changed:
            self.hits[path] += 1
            self._hits_changed.notify_all()
        # Bounded, so a forgotten hang cannot keep a test run alive; stop() releases it at once.
        self._released.wait(timeout=60)
        if method == "OPTIONS":
            return 204, b"", dict(_PREFLIGHT)
        headers = {"Content-Type": "application/json", "Date": formatdate(usegmt=True), **_CORS}
        if self.cache_control:
            headers["Cache-Control"] = self.cache_control
        if path == DISCOVERY_PATH and method == "GET":
            document = {
                "issuer": self.url,
                "jwks_uri": self.jwks_uri,
                "id_token_signing_alg_values_supported": sorted(
                    {str(key.get("alg")) for key in self.jwks.get("keys", []) if isinstance(key, dict)}
                ),
                **self.discovery,
            }
            return 200, json.dumps(document).encode(), headers
        if path == JWKS_PATH and method == "GET":
            body = self.body if self.body is not None else json.dumps(self.jwks).encode()
            return self.status, body, headers
        if self.route is not None:
            answer = self.route(method, path, query or {}, form or {})
            if answer is not None:
                return answer
        return 404, b'{"error": "not found"}', headers

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                self._reply(server._answer("GET", path, dict(parse_qsl(query))))

            def do_POST(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 <= length <= _MAX_FORM_BYTES:
                    self._reply((413, b"", {}))
                    return
                form = self.rfile.read(length).decode("utf-8", "replace")
                self._reply(server._answer("POST", path, dict(parse_qsl(query)), dict(parse_qsl(form))))

            def do_OPTIONS(self) -> None:
                self._reply(server._answer("OPTIONS", self.path.partition("?")[0]))

            def _reply(self, answer: Answer) -> None:
                status, body, headers = answer
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


@dataclass(frozen=True)
class _Grant:
    """An authorization code's request, kept until the code is exchanged or expires."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    expires_at: float


class DevIssuer:
    """An identity provider in a box: keys, a `KeyServer`, and tokens signed the way you ask.

    Its authorization endpoint approves every request at once (nobody signs in) for any client id and any
    redirect URI on a loopback address, and requires PKCE with S256; the token endpoint issues an access token
    for `login_subject` with the requested scopes and `login_claims`.
    """

    #: Seconds an authorization code may wait for its exchange (RFC 6749 §4.1.2 recommends at most 10 minutes).
    CODE_LIFETIME = 60.0

    def __init__(
        self,
        *,
        audience: str = "api",
        algorithms: Sequence[str] = ("RS256",),
        keys: Sequence[SigningKey] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        scopes_supported: Sequence[str] = (),
        login_subject: str = "user-1",
        login_claims: Mapping[str, Any] | None = None,
    ) -> None:
        self.audience = audience
        self.clock = clock
        self.keys: list[SigningKey] = list(keys) if keys else [generate_key(alg) for alg in algorithms]
        self.server = KeyServer(host=host, port=port)
        self.issuer = self.server.url
        self.login_subject = login_subject
        self.login_claims: dict[str, Any] = dict(login_claims or {})
        self._grants: dict[str, _Grant] = {}
        self._grants_lock = threading.Lock()
        self.server.discovery = {
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "subject_types_supported": ["public"],
            **({"scopes_supported": list(scopes_supported)} if scopes_supported else {}),
        }
        self.server.route = self._oauth
        self.publish()

    @property
    def discovery_url(self) -> str:
        return self.issuer + DISCOVERY_PATH

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + AUTHORIZE_PATH

    @property
    def token_endpoint(self) -> str:
        return self.issuer + TOKEN_PATH

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

    def dpop_key(self, alg: str = "ES256") -> SigningKey:
        """A new client key for DPoP proofs (never published: the client keeps it); `token(dpop_key=...)` binds
        a token to it."""
        return generate_key(alg, kid=f"dpop-{uuid.uuid4().hex[:8]}")

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
        dpop_key: SigningKey | None = None,
        **claim_options: Any,
    ) -> str:
        """A signed token; see `claims` for the options. With `dpop_key`, bound to it (`cnf.jkt`, RFC 9449 §6.1)."""
        if dpop_key is not None:
            claim_options.setdefault("cnf", {"jkt": dpop_key.thumbprint()})
        return (key or self.key).sign(self.claims(**claim_options), headers)

    # -- the authorization code flow with PKCE --------------------------------------------------------

    def _oauth(self, method: str, path: str, query: Mapping[str, str], form: Mapping[str, str]) -> Answer | None:
        if path == AUTHORIZE_PATH and method == "GET":
            return self._authorize(query)
        if path == TOKEN_PATH and method == "POST":
            return self._exchange(form)
        return None

    def _authorize(self, query: Mapping[str, str]) -> Answer:
        """RFC 6749 §4.1.1 with RFC 7636 §4.3: approve at once and redirect back with a code."""
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        # §4.1.2.1: with no trustworthy redirect URI, the error is shown here, never sent anywhere.
        if not client_id:
            return _oauth_error(400, "invalid_request", "client_id is required")
        if not _loopback_redirect(redirect_uri):
            return _oauth_error(400, "invalid_request", "redirect_uri must be an http(s) URL on a loopback address")
        state = query.get("state")

        def back(**params: str) -> Answer:
            if state is not None:
                params["state"] = state
            separator = "&" if "?" in redirect_uri else "?"
            return 302, b"", {"Location": redirect_uri + separator + urlencode(params), "Cache-Control": "no-store"}

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="only response_type=code")
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or not _S256_CHALLENGE.fullmatch(challenge):
            return back(error="invalid_request", error_description="PKCE with code_challenge_method=S256 is required")
        scopes = tuple(scope for scope in query.get("scope", "").split(" ") if scope)
        if not all(_SCOPE.fullmatch(scope) for scope in scopes):
            return back(error="invalid_scope", error_description="a scope is not an RFC 6749 scope-token")
        code = secrets.token_urlsafe(32)
        grant = _Grant(client_id, redirect_uri, challenge, scopes, self.clock() + self.CODE_LIFETIME)
        with self._grants_lock:
            now = self.clock()
            for expired in [key for key, value in self._grants.items() if value.expires_at <= now]:
                del self._grants[expired]
            self._grants[code] = grant
        return back(code=code)

    def _exchange(self, form: Mapping[str, str]) -> Answer:
        """RFC 6749 §4.1.3 with RFC 7636 §4.6: one exchange per code, for the client and redirect URI it was
        issued to, with the verifier whose S256 hash is the challenge."""
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "only grant_type=authorization_code")
        with self._grants_lock:
            grant = self._grants.pop(form.get("code", ""), None)  # used once, whatever comes next
        if grant is None or grant.expires_at <= self.clock():
            return _oauth_error(400, "invalid_grant", "unknown, used or expired code")
        if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant", "client_id or redirect_uri is not the authorization request's")
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not _CODE_VERIFIER.fullmatch(verifier) or not secrets.compare_digest(
            digest.rstrip(b"=").decode("ascii"), grant.code_challenge
        ):
            return _oauth_error(400, "invalid_grant", "code_verifier does not match the code_challenge")
        expires_in = 300
        token = self.token(
            subject=self.login_subject,
            scopes=grant.scopes,
            expires_in=expires_in,
            client_id=grant.client_id,
            **self.login_claims,
        )
        body = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
        if grant.scopes:
            body["scope"] = " ".join(grant.scopes)
        return 200, json.dumps(body).encode(), {**_TOKEN_HEADERS}

    def start(self) -> DevIssuer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> DevIssuer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_TOKEN_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache", **_CORS}


def _oauth_error(status: int, error: str, description: str) -> Answer:
    """RFC 6749 §5.2: an error as the token endpoint writes it."""
    return status, json.dumps({"error": error, "error_description": description}).encode(), {**_TOKEN_HEADERS}


def _loopback_redirect(uri: str) -> bool:
    """True for an absolute http(s) URI without a fragment on a loopback host: the development issuer redirects
    nowhere else, so it cannot be used to send a code (or a user) to another machine."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host or parts.fragment or "#" in uri:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
