"""0.1.0's token parser, kept as it was: the reference the differential test holds today's parser to."""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import threading
from typing import Any, NamedTuple

import cachetools

from jwtguard.errors import TokenMalformed

__all__ = ["ParsedToken", "fingerprint", "parse_token"]

# One C-level pass over the whole token: three segments of the base64url alphabet, without padding.
_COMPACT_JWS = re.compile(rb"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# A segment of length 4k+2 ends in a character with 4 unused bits, 4k+3 in one with 2; in the canonical
# encoding those bits are zero. Lenient decoders ignore them, so two spellings would decode alike.
_CANONICAL_LAST = {
    2: frozenset(c for i, c in enumerate(_ALPHABET) if i % 16 == 0),
    3: frozenset(c for i, c in enumerate(_ALPHABET) if i % 4 == 0),
}
_PADDING = {0: b"", 2: b"==", 3: b"="}
# An issuer's tokens share one header segment: its parse (a pure function of those bytes, checks included)
# is kept, bounded, and only for headers that passed. Shared read-only by every guard in the process.
_HEADERS: cachetools.LRUCache[bytes, tuple[dict[str, Any], str, str | None]] = cachetools.LRUCache(maxsize=256)
_HEADER_LOCK = threading.Lock()
_MAX_CACHED_HEADER = 512
# Header parameters whose meaning jwtguard implements; anything listed in `crit` must be one of these,
# and since none of them is an extension, every `crit` is refused (RFC 7515 §4.1.11).
_UNDERSTOOD_EXTENSIONS: frozenset[str] = frozenset()


class ParsedToken(NamedTuple):
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
    """Decode one segment already known to be of the base64url alphabet; refuse non-canonical forms."""
    remainder = len(segment) % 4
    if remainder == 1:
        raise TokenMalformed(f"{what} has an impossible base64url length")
    if remainder and segment[-1] not in _CANONICAL_LAST[remainder]:
        raise TokenMalformed(f"{what} is not canonical base64url")
    try:
        return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PADDING[remainder])
    except binascii.Error:  # unreachable after the checks above; kept so no input can escape as a 500
        raise TokenMalformed(f"{what} is not base64url") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # RFC 7515 §5.2 lets parsers reject duplicate member names; accepting them lets two
        # parsers read two different tokens out of one.
        raise ValueError("duplicate member name")
    return result


# Built once: json.loads with keyword arguments would build a new decoder for every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_object, parse_constant=_reject_constant)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TokenMalformed(f"{what} is not a UTF-8 JSON document") from None
    if not isinstance(value, dict):
        raise TokenMalformed(f"{what} is not a JSON object")
    return value


def _diagnose(data: bytes) -> TokenMalformed:
    """Why `data` is not a compact JWS (the slow path, for the log's reason)."""
    parts = data.split(b".")
    if len(parts) == 5:
        return TokenMalformed("token is an encrypted JWT (JWE), not a signed one")
    if len(parts) != 3:
        return TokenMalformed("token does not have three dot-separated segments")
    if not parts[0] or not parts[1]:
        return TokenMalformed("token has an empty header or payload segment")
    for part, what in zip(parts, ("header", "payload", "signature"), strict=True):
        if _B64URL.fullmatch(part) is None:
            return TokenMalformed(f"{what} is not base64url (RFC 7515 forbids padding and other alphabets)")
    return TokenMalformed("token is not a compact JWS")  # pragma: no cover  # the regex and this agree


def parse_token(token: str) -> ParsedToken:
    """Split and decode `token`, raising `TokenMalformed` for anything but a compact JWS."""
    try:
        data = token.encode("ascii")
    except UnicodeEncodeError:
        raise TokenMalformed("token contains non-ASCII characters") from None
    match = _COMPACT_JWS.fullmatch(data)
    if match is None:
        raise _diagnose(data)
    header_b64, claims_b64, signature_b64 = match.groups()
    with _HEADER_LOCK:
        known = _HEADERS.get(header_b64)
    if known is None:
        known = _parse_header(header_b64)
        if len(header_b64) <= _MAX_CACHED_HEADER:  # an issuer's header is small; a hostile one need not be
            with _HEADER_LOCK:
                _HEADERS[header_b64] = known
    header, alg, kid = known
    claims = _json_object(_b64decode(claims_b64, "payload"), "payload")
    signature = _b64decode(signature_b64, "signature")
    return ParsedToken(
        header=header,
        claims=claims,
        signing_input=data[: len(header_b64) + 1 + len(claims_b64)],
        signature=signature,
        alg=alg,
        kid=kid,
    )


def _parse_header(header_b64: bytes) -> tuple[dict[str, Any], str, str | None]:
    header = _json_object(_b64decode(header_b64, "header"), "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise TokenMalformed("header has no 'alg' string")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenMalformed("header 'kid' is not a string")
    if len(header) > 2 or "kid" not in header:  # the common {"alg", "kid"} header needs no more checks
        _check_header(header)
    return header, alg, kid


def _check_header(header: dict[str, Any]) -> None:
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
