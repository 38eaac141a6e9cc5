"""Strict, single-pass parsing of a compact JWS (RFC 7515 §7.1) into header, claims and signature."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import TokenMalformed

__all__ = ["ParsedToken", "fingerprint", "parse_token"]

_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
# Header parameters whose meaning jwtguard implements; anything listed in `crit` must be one of these,
# and since none of them is an extension, every `crit` is refused (RFC 7515 §4.1.11).
_UNDERSTOOD_EXTENSIONS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A token split and decoded once. `claims` are NOT verified until the signature is."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes
    alg: str
    kid: str | None


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a token in logs: 12 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()[:12]


def _b64decode(segment: bytes, what: str) -> bytes:
    if _B64URL.fullmatch(segment) is None:
        raise TokenMalformed(f"{what} is not base64url (RFC 7515 forbids padding and other alphabets)")
    if len(segment) % 4 == 1:
        raise TokenMalformed(f"{what} has an impossible base64url length")
    try:
        raw = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenMalformed(f"{what} is not base64url") from None
    # Non-canonical encodings (stray bits in the last character) are refused, so one token has one form.
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment:
        raise TokenMalformed(f"{what} is not canonical base64url")
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # RFC 7515 §5.2 lets parsers reject duplicate member names; accepting them lets two
            # parsers read two different tokens out of one.
            raise ValueError("duplicate member name")
        result[key] = value
    return result


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_unique_object, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TokenMalformed(f"{what} is not a UTF-8 JSON document") from None
    if not isinstance(value, dict):
        raise TokenMalformed(f"{what} is not a JSON object")
    return value


def parse_token(token: str) -> ParsedToken:
    """Split and decode `token`, raising `TokenMalformed` for anything but a compact JWS."""
    try:
        data = token.encode("ascii")
    except UnicodeEncodeError:
        raise TokenMalformed("token contains non-ASCII characters") from None
    parts = data.split(b".")
    if len(parts) == 5:
        raise TokenMalformed("token is an encrypted JWT (JWE), not a signed one")
    if len(parts) != 3:
        raise TokenMalformed("token does not have three dot-separated segments")
    header_b64, claims_b64, signature_b64 = parts
    if not header_b64 or not claims_b64:
        raise TokenMalformed("token has an empty header or payload segment")
    header = _json_object(_b64decode(header_b64, "header"), "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise TokenMalformed("header has no 'alg' string")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenMalformed("header 'kid' is not a string")
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or not all(isinstance(name, str) for name in crit):
            raise TokenMalformed("header 'crit' is not a non-empty list of names")
        if not set(crit) <= _UNDERSTOOD_EXTENSIONS:
            raise TokenMalformed("header 'crit' names an extension jwtguard does not implement")
    if "b64" in header or "zip" in header:
        # RFC 7797 unencoded payloads and JWE compression have no place in a JWT access token.
        raise TokenMalformed("header uses 'b64' or 'zip', which signed JWTs do not use")
    cty = header.get("cty")
    if cty is not None and (not isinstance(cty, str) or cty.upper() in ("JWT", "APPLICATION/JWT")):
        # RFC 7519 §5.2: a nested JWT. An access token is never one; unwrapping invites confusion.
        raise TokenMalformed("header 'cty' marks a nested JWT, or is not a string")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        raise TokenMalformed("header 'typ' is not a string")
    claims = _json_object(_b64decode(claims_b64, "payload"), "payload")
    signature = _b64decode(signature_b64, "signature")
    return ParsedToken(
        header=header,
        claims=claims,
        signing_input=header_b64 + b"." + claims_b64,
        signature=signature,
        alg=alg,
        kid=kid,
    )
