"""JOSE facts: the algorithms jwtguard verifies, signature verification, `typ` media types and NumericDates."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jwt.algorithms import Algorithm, get_default_algorithms

from .errors import ClaimInvalid

__all__ = [
    "HMAC_ALGORITHMS",
    "LAST_NUMERIC_DATE",
    "SUPPORTED_ALGORITHMS",
    "media_type",
    "numeric_date",
    "verify_signature",
]

#: Asymmetric JWS algorithms jwtguard verifies, with the key type (and curve) each one needs.
SUPPORTED_ALGORITHMS: Mapping[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "ES256K": ("EC", frozenset({"secp256k1"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

#: Shared-secret algorithms: never configurable, since keys come from a published JWKS.
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})

#: 9999-12-31T23:59:59Z: later NumericDates are refused (no issuer means them; `datetime` cannot hold them).
LAST_NUMERIC_DATE = 253402300799

_ALGORITHMS: Mapping[str, Algorithm] = {
    name: algorithm for name, algorithm in get_default_algorithms().items() if name in SUPPORTED_ALGORITHMS
}
_HASHES: Mapping[int, Any] = {256: hashes.SHA256, 384: hashes.SHA384, 512: hashes.SHA512}
# RSA padding and hash objects are immutable: built once instead of per token. ECDSA and EdDSA go through
# PyJWT's algorithm objects, which also turn JOSE's raw (r, s) signatures into DER.
_RSA_PARAMETERS: Mapping[str, tuple[Any, Any]] = {
    **{f"RS{bits}": (padding.PKCS1v15(), hash_()) for bits, hash_ in _HASHES.items()},
    **{
        f"PS{bits}": (padding.PSS(mgf=padding.MGF1(hash_()), salt_length=hash_.digest_size), hash_())
        for bits, hash_ in _HASHES.items()
    },
}


def verify_signature(alg: str, public_key: Any, signing_input: bytes, signature: bytes) -> bool:
    """True when `signature` is `alg`'s signature of `signing_input` under `public_key`; never raises."""
    try:
        parameters = _RSA_PARAMETERS.get(alg)
        if parameters is None:
            return bool(_ALGORITHMS[alg].verify(signing_input, public_key, signature))
        public_key.verify(signature, signing_input, *parameters)
    except InvalidSignature:
        return False
    except Exception:  # malformed signatures can raise other errors from cryptography: all are invalid
        return False
    return True


def media_type(value: object) -> str:
    """RFC 7515 §4.1.9: `typ` compares case-insensitively, with "application/" optional."""
    text = value.lower() if isinstance(value, str) else ""
    return text[len("application/") :] if text.startswith("application/") else text


def numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate: a finite JSON number up to the end of year 9999, or None when absent.

    Booleans, strings, infinities and later dates are `ClaimInvalid`: an app that turns `exp` into a
    `datetime` would fail on a date after 9999.
    """
    value = claims.get(name)
    if type(value) is int and -(2**53) < value <= LAST_NUMERIC_DATE:  # the common case, exact as a float
        return float(value)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimInvalid(f"{name!r} is not a NumericDate", claim=name)
    try:
        number = float(value)
    except OverflowError:
        raise ClaimInvalid(f"{name!r} is out of range", claim=name) from None
    if not math.isfinite(number):
        raise ClaimInvalid(f"{name!r} is not finite", claim=name)
    if number > LAST_NUMERIC_DATE:
        raise ClaimInvalid(f"{name!r} is after the year 9999", claim=name)
    return number
