"""One JWK to a verification key, or the reason it cannot be one; a JWKS to its usable keys and the skipped ones.

Only public signature keys are taken, and only those whose verification costs a bounded amount of CPU:
no symmetric (`oct`) or private keys, no encryption keys, no RSA key under 2048 or over 8192 bits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ._jose import SUPPORTED_ALGORITHMS
from ._logging import sanitize
from .errors import FetchError

__all__ = ["VerificationKey", "load_jwks", "load_key"]

_MIN_RSA_BITS = 2048
# Verifying with an RSA key costs time in its size and exponent: a 16384-bit key with a 64-bit exponent
# costs milliseconds per (forged) token. No issuer publishes keys beyond these.
_MAX_RSA_BITS = 8192
_MAX_RSA_EXPONENT = 2**32
_MAX_KEYS = 100
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_PUBLIC_MEMBERS = ("kty", "kid", "alg", "use", "key_ops", "crv", "n", "e", "x", "y")
_CURVES = {"EC": frozenset({"P-256", "P-384", "P-521", "secp256k1"}), "OKP": frozenset({"Ed25519", "Ed448"})}
_FROM_JWK: Mapping[str, Callable[[dict[str, Any]], Any]] = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
}


@dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """One usable public key from a JWKS. Compared by identity: a refresh keeps the object of a key it
    still publishes, so "the same key" is a cheap `is` test (the verified-token cache relies on it)."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    public_key: Any
    material: str = ""  # the JWK's public members, canonically serialised
    #: Every algorithm this key may verify (RFC 7517 §4.4 `alg`, and the key's type and curve), computed once.
    algorithms: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        usable = frozenset(
            name
            for name, (kty, curves) in SUPPORTED_ALGORITHMS.items()
            if kty == self.kty and (curves is None or self.crv in curves) and (self.alg is None or self.alg == name)
        )
        object.__setattr__(self, "algorithms", usable)

    def fits(self, alg: str) -> bool:
        """True when `alg` may be used with this key (RFC 7517 §4.4 and the key's type and curve)."""
        return alg in self.algorithms


def load_key(jwk: Any) -> VerificationKey:
    """Build a key from one JWK, or raise ValueError with the reason it cannot verify signatures."""
    if not isinstance(jwk, dict):
        raise ValueError("not a JSON object")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("kid is not a string")
    kty = jwk.get("kty")
    if not isinstance(kty, str):
        raise ValueError("kty is not a string")
    if kty == "oct":
        raise ValueError("symmetric key (kty oct) cannot be published for verification")
    if kty not in _FROM_JWK:
        raise ValueError("unsupported kty")
    if jwk.get("use", "sig") != "sig":
        raise ValueError("use is not 'sig'")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise ValueError("key_ops does not include 'verify'")
    alg = jwk.get("alg")
    if alg is not None and (not isinstance(alg, str) or alg not in SUPPORTED_ALGORITHMS):
        raise ValueError("alg is not a supported signature algorithm")
    crv = jwk.get("crv")
    if kty in _CURVES and (not isinstance(crv, str) or crv not in _CURVES[kty]):
        raise ValueError("unsupported curve")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        # A published private key is public: anyone could sign with it.
        raise ValueError("contains private key material")
    try:
        public_key = _FROM_JWK[kty](jwk)
    except Exception:  # PyJWT and cryptography raise many types for bad key material
        raise ValueError("malformed key material") from None
    if isinstance(public_key, RSAPublicKey):
        if public_key.key_size < _MIN_RSA_BITS:
            raise ValueError(f"RSA key shorter than {_MIN_RSA_BITS} bits")
        if public_key.key_size > _MAX_RSA_BITS:
            raise ValueError(f"RSA key longer than {_MAX_RSA_BITS} bits")
        if public_key.public_numbers().e > _MAX_RSA_EXPONENT:
            raise ValueError("RSA public exponent above 2^32")
    material = json.dumps({name: jwk[name] for name in _PUBLIC_MEMBERS if name in jwk}, sort_keys=True)
    key = VerificationKey(
        kid=kid, kty=kty, crv=crv if isinstance(crv, str) else None, alg=alg, public_key=public_key, material=material
    )
    if alg is not None and not key.fits(alg):
        raise ValueError("alg does not fit the key type or curve")
    return key


def load_jwks(document: Any) -> tuple[list[VerificationKey], list[tuple[str, str]]]:
    """Split a JWKS into usable keys and skipped ones, as `(kid, reason)` pairs.

    Raises `FetchError` when the document is not a JWKS at all.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise FetchError('not a JWKS document (no "keys" list)')
    keys: list[VerificationKey] = []
    skipped: list[tuple[str, str]] = []
    entries = document["keys"]
    if len(entries) > _MAX_KEYS:
        # Issuers publish a handful of keys; hundreds would only cost CPU on every refresh.
        skipped.append((f"(keys after the first {_MAX_KEYS})", "too many keys in one JWKS"))
        entries = entries[:_MAX_KEYS]
    for jwk in entries:
        try:
            keys.append(load_key(jwk))
        except Exception as exc:  # one bad entry must never cost the good keys
            reason = str(exc) if isinstance(exc, ValueError) else "malformed key"
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            skipped.append((sanitize(kid) or "(no kid)", reason))
    return keys, skipped
