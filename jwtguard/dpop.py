"""DPoP (RFC 9449): the proof a client sends with a sender-constrained token, checked per §4.3, and its stores.

A DPoP request carries `Authorization: DPoP <access token>` and one `DPoP: <proof>` header: a JWT the client
signs with its own key (given in the proof's `jwk` header) for this method and URL, moments ago, naming the
access token by its hash (`ath`). A token bound to that key names its RFC 7638 thumbprint in `cnf.jkt`.
`ProofVerifier.verify` checks a proof in a fixed order and stops at the first failure:

    one DPoP header → compact JWS (the strict parser) → typ dpop+jwt → alg allowed → jwk a public key fitting alg
    → signature → jti → htm → htu → iat window → nonce (when on) → ath → cnf.jkt → jti not seen before

Everything but the last step is pure; the replay store (`ReplayStore`) is the only state. The guard decides the
rest (§7.2): which issuers allow DPoP, and that a bound token never passes as a bearer token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from cachetools import TLRUCache

from ._jose import media_type, verify_signature
from ._jwk import load_key
from ._request import RequestInfo, header_values
from ._token import parse_claims, parse_token
from .errors import AuthError, DPoPBindingMismatch, DPoPProofInvalid, DPoPReplayed, UseDPoPNonce

__all__ = [
    "DPOP_MODES",
    "MemoryReplayStore",
    "NonceIssuer",
    "ProofVerifier",
    "ReplayStore",
    "VerifiedProof",
    "access_token_hash",
    "jwk_thumbprint",
    "normalize_url",
    "request_url",
]

#: The values of the `dpop` setting: DPoP refused (the scheme is unknown), accepted next to Bearer, or the only way.
DPOP_MODES = ("off", "allowed", "required")

# A proof is a header and a few claims: an RSA-4096 `jwk` makes the largest one about 1.5 KiB.
_MAX_PROOF_BYTES = 8 * 1024
# RFC 9449 §4.2 asks for 96 bits of randomness in `jti`; nobody needs more than this.
_MAX_JTI_CHARS = 256
# RFC 7638 §3.2: the members of each key type that its thumbprint hashes, in lexicographic order.
_THUMBPRINT_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}  # RFC 3986 §6.2.3: a default port is no port


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: what `cnf.jkt` names (RFC 9449 §6.1).

    Raises ValueError for a key type without thumbprint members here, or a member that is not a string.
    """
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None:
        raise ValueError("unsupported kty")
    values = {name: jwk.get(name) for name in members}
    if not all(isinstance(value, str) for value in values.values()):
        raise ValueError("a thumbprint member is missing or not a string")
    canonical = json.dumps(values, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """`ath` (RFC 9449 §4.2): base64url of the SHA-256 of the access token's ASCII text."""
    return _b64url(hashlib.sha256(token.encode("ascii", "replace")).digest())


def normalize_url(url: str) -> str | None:
    """`url` as `htu` is compared (RFC 9449 §4.3, RFC 3986 §6.2.2-3): scheme and host in lower case, no default
    port, the path percent-decoded ("/" when empty), no query or fragment. None when it is not an http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if ":" in host:  # an IPv6 literal, which `hostname` gives without its brackets
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    try:  # strictly: two invalid escapes must not both decode to U+FFFD and so compare equal
        path = unquote(parts.path, errors="strict")
    except UnicodeDecodeError:
        return None
    return f"{scheme}://{host}{path or '/'}"


def _origin_and_path(origin: str, path: str) -> str | None:
    """An origin (`scheme://host[:port]`, normalised here) followed by a request path the server already decoded.

    The path is appended, never parsed again: a decoded `?` or `#` in it (sent as `%3F`, `%23`) would otherwise
    cut it short, and a proof for `/orders` would pass at `/orders%3F/../admin`.
    """
    base = normalize_url(origin + "/")
    if base is None or not base.endswith("/") or base.count("/") != 3:
        return None
    return base[:-1] + (path if path.startswith("/") else "/" + path)


# RFC 9110 §7.2 `Host = uri-host [ ":" port ]`: a registered name or an IPv4 address, or an IPv6 literal in brackets.
_HOST = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def request_url(request: RequestInfo, public_base_url: str | None) -> str | None:
    """The URL `request` was sent to, normalised as `normalize_url` does, for comparison with `htu`.

    With `public_base_url` (the application root's external URL, as clients call it), that URL followed by the
    route path: what a client sees behind a TLS proxy or a path prefix. Without it, the scheme and `Host` the
    application sees, and the full path: wrong behind a proxy that terminates TLS or rewrites the host.
    WebSocket handshakes are HTTP requests: `ws` counts as `http`, `wss` as `https`.
    """
    if public_base_url is not None:
        path = request.path if request.route_path is None else request.route_path
        parts = urlsplit(public_base_url)
        prefix = unquote(parts.path.rstrip("/"))
        return _origin_and_path(
            f"{parts.scheme}://{parts.netloc}", prefix + (path if path.startswith("/") else "/" + path)
        )
    raw = request.raw
    if raw is None:
        return None
    hosts = header_values(request, "host")
    if "headers" in raw and "type" in raw:  # an ASGI scope
        scheme = {"ws": "http", "wss": "https"}.get(raw.get("scheme", "http"), raw.get("scheme", "http"))
        if not hosts and raw.get("server"):
            host, port = raw["server"][0], raw["server"][1]
            hosts = [f"{host}:{port}" if port is not None else str(host)]
    else:
        scheme = raw.get("wsgi.url_scheme", "http")
        if not hosts and raw.get("SERVER_NAME"):
            hosts = [f"{raw['SERVER_NAME']}:{raw.get('SERVER_PORT', '')}".rstrip(":")]
    if len(hosts) != 1 or _HOST.fullmatch(hosts[0]) is None:  # `host[:port]` only: no `#`, `?`, `/` or `@`
        return None
    return _origin_and_path(f"{scheme}://{hosts[0]}", request.path or "/")


@runtime_checkable
class ReplayStore(Protocol):
    """Remembers the proofs already used (RFC 9449 §11.1), until they would be refused as too old anyway."""

    def seen(self, key: str, expires_at: float) -> bool:
        """Record `key` until `expires_at` (seconds on the wall clock), and say whether it was already there."""
        ...


class MemoryReplayStore:
    """A `ReplayStore` in this process's memory: bounded, entries expire on their own.

    Only proofs that passed every other check are recorded, so filling it takes a valid access token and
    many fresh proofs. When it is full of live entries, the oldest go first: a proof older than that could
    then be replayed within its `dpop_max_age`. `maxsize` (100 000, about 20 MiB) covers 300 proofs a
    second with the default window. Several processes each have their own: share a store (Redis) across
    workers, or a proof refused by one worker is accepted by another.
    """

    def __init__(self, maxsize: int = 100_000, *, clock: Callable[[], float] = time.time) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self._clock = clock
        # Each entry lives until its own deadline: the value is that deadline.
        self._entries: TLRUCache[str, float] = TLRUCache(maxsize, ttu=_until, timer=clock)
        self._lock = threading.Lock()

    def seen(self, key: str, expires_at: float) -> bool:
        with self._lock:
            if key in self._entries:
                return True
            self._entries[key] = expires_at
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _until(key: str, expires_at: float, now: float) -> float:
    return expires_at


class NonceIssuer:
    """Server-provided nonces (RFC 9449 §8): each valid for `lifetime` seconds, then for as long again.

    A nonce is a time step and its HMAC under `secret`: nothing to store, and any process with the same
    secret accepts it. Without a `secret`, each process draws its own: with several workers, give them one
    (`NonceIssuer(secret=...)` passed to each `Guard`), or a nonce from one worker is refused by the next.
    """

    def __init__(
        self, secret: bytes | None = None, *, lifetime: float = 300.0, clock: Callable[[], float] = time.time
    ) -> None:
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self._secret = secret or os.urandom(32)
        self._lifetime = lifetime
        self._clock = clock

    def _nonce(self, step: int) -> str:
        packed = struct.pack(">Q", step)
        return _b64url(packed + hmac.new(self._secret, packed, hashlib.sha256).digest()[:16])

    def current(self) -> str:
        """The nonce to hand out now (`DPoP-Nonce`)."""
        return self._nonce(int(self._clock() // self._lifetime))

    def valid(self, nonce: object) -> bool:
        """True for the current nonce and the one before it."""
        if not isinstance(nonce, str) or len(nonce) > 64 or not nonce.isascii():  # compare_digest takes ASCII str
            return False
        step = int(self._clock() // self._lifetime)
        return any(hmac.compare_digest(nonce, self._nonce(at)) for at in (step, step - 1))


class VerifiedProof(NamedTuple):
    """A proof that passed: its key's thumbprint (`jkt`) and `jti`."""

    jkt: str
    jti: str


class ProofVerifier:
    """Checks DPoP proofs (RFC 9449 §4.3) with the settings compiled once: algorithms, the `iat` window,
    the public base URL, the nonce issuer and the replay store."""

    def __init__(
        self,
        *,
        algorithms: Sequence[str],
        max_age: float,
        leeway: float,
        public_base_url: str | None,
        replay_store: ReplayStore,
        nonces: NonceIssuer | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.algorithms = tuple(algorithms)
        self._allowed = frozenset(algorithms)
        self.max_age = max_age
        self.leeway = leeway
        self.public_base_url = public_base_url
        self.replay_store = replay_store
        self.nonces = nonces
        self._clock = clock

    def verify(
        self,
        proofs: Sequence[str],
        method: str,
        url: str | None,
        token: str,
        jkt: str | None,
    ) -> VerifiedProof:
        """Check the DPoP header values `proofs` for a request of `method` to `url` (normalised, see
        `request_url`) presenting `token`, bound to `jkt` when not None; raise the refusal or record the proof."""
        if not proofs:
            raise DPoPProofInvalid("no DPoP header")
        if len(proofs) > 1 or "," in proofs[0]:  # WSGI servers fold repeated headers with commas
            raise DPoPProofInvalid("several DPoP headers")
        proof = proofs[0].strip(" \t")
        if len(proof) > _MAX_PROOF_BYTES:
            raise DPoPProofInvalid("DPoP proof larger than any proof needs")
        try:
            parsed = parse_token(proof)
        except AuthError:
            raise DPoPProofInvalid("DPoP proof is not a compact JWS") from None
        header, alg = parsed.header, parsed.alg
        if "typ" not in header or media_type(header["typ"]) != "dpop+jwt":
            raise DPoPProofInvalid("DPoP proof 'typ' is not dpop+jwt")
        if alg not in self._allowed:
            raise DPoPProofInvalid("DPoP proof 'alg' is not in dpop_algorithms", details={"alg": alg})
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise DPoPProofInvalid("DPoP proof has no 'jwk' header")
        try:
            key = load_key(jwk)  # refuses private and symmetric keys, weak RSA keys and unknown curves
            thumbprint = jwk_thumbprint(jwk)
        except ValueError as exc:
            raise DPoPProofInvalid(f"DPoP proof 'jwk' is not a usable public key: {exc}") from None
        if not key.fits(alg):
            raise DPoPProofInvalid("DPoP proof 'alg' does not fit its 'jwk'", details={"alg": alg})
        if not verify_signature(alg, key.public_key, parsed.signing_input, parsed.signature):
            raise DPoPProofInvalid("DPoP proof signature does not verify with its 'jwk'")
        try:
            claims = parse_claims(parsed)
        except AuthError:
            raise DPoPProofInvalid("DPoP proof claims are not a JSON object") from None
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI_CHARS:
            raise DPoPProofInvalid("DPoP proof 'jti' is missing, not a string, or too long")
        if claims.get("htm") != ("GET" if method == "WEBSOCKET" else method):
            raise DPoPProofInvalid("DPoP proof 'htm' is not the request's method")
        htu = claims.get("htu")
        if url is None or not isinstance(htu, str) or normalize_url(htu) != url:
            raise DPoPProofInvalid("DPoP proof 'htu' is not the request's URL")
        now = self._clock()
        iat = claims.get("iat")
        # NaN never equals itself; a huge integer would overflow the float arithmetic below (a 500, not a 401).
        if isinstance(iat, bool) or not isinstance(iat, int | float) or iat != iat or not -(2**53) <= iat <= 2**53:
            raise DPoPProofInvalid("DPoP proof 'iat' is missing or not a number")
        if iat > now + self.leeway:
            raise DPoPProofInvalid("DPoP proof 'iat' is in the future", details={"by": round(iat - now, 3)})
        if iat < now - self.max_age - self.leeway:
            raise DPoPProofInvalid("DPoP proof is older than dpop_max_age", details={"age": round(now - iat, 3)})
        if self.nonces is not None and not self.nonces.valid(claims.get("nonce")):
            raise UseDPoPNonce("DPoP proof without the current nonce", nonce=self.nonces.current())
        ath = claims.get("ath")
        if not isinstance(ath, str):
            raise DPoPProofInvalid("DPoP proof has no 'ath' for the access token")
        if not hmac.compare_digest(ath.encode("ascii", "replace"), access_token_hash(token).encode("ascii")):
            raise DPoPBindingMismatch("DPoP proof 'ath' is not the hash of this access token")
        if jkt is not None and not hmac.compare_digest(jkt.encode("utf-8"), thumbprint.encode("ascii")):
            raise DPoPBindingMismatch("DPoP proof key is not the key the token is bound to (cnf.jkt)")
        # Last, so that only proofs that passed take room in the store. One key's jti, for this URL.
        replay_key = hashlib.sha256(f"{thumbprint} {url} {jti}".encode()).hexdigest()
        if self.replay_store.seen(replay_key, float(iat) + self.max_age + 2 * self.leeway):
            raise DPoPReplayed("DPoP proof already used (its jti was seen)")
        return VerifiedProof(thumbprint, jti)
