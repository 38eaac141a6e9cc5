"""Strict parsing of a compact JWS (RFC 7515 §7.1): header and signature first, the claims only once the
signature verified.

Before the signature is checked a token is the sender's word, and decoding and parsing it costs CPU: so the
payload is only checked to be canonical base64url until then (its decoding and JSON parse come after the
signature), and the header (whose `alg` and `kid` are needed to choose the key) may hold only a few JSON
objects.
"""

from __future__ import annotations

import binascii
import json
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import TokenMalformed, fingerprint

__all__ = ["ParsedToken", "fingerprint", "header_cache_size", "issuer_candidates", "parse_claims", "parse_token"]

_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# The same, and the standard alphabet's own "+", "/" and "=" turned into a byte no decoder accepts.
_TO_STANDARD_STRICT = bytes.maketrans(b"-_+/=", b"+/!!!")
# A segment of length 4k+2 ends in a character with 4 unused bits, 4k+3 in one with 2; in the canonical
# encoding those bits are zero. Lenient decoders ignore them, so two spellings would decode alike.
_CANONICAL_LAST = {
    2: frozenset(c for i, c in enumerate(_ALPHABET) if i % 16 == 0),
    3: frozenset(c for i, c in enumerate(_ALPHABET) if i % 4 == 0),
}
_PADDING = {0: b"", 2: b"==", 3: b"="}
# An issuer's tokens share one header segment: its parse (a pure function of those bytes, checks included)
# is kept, bounded, and only for headers that passed. Shared read-only by every guard in the process.
# A plain dict, not a cachetools cache: this is read on every new token, and an LRU read reorders (a write,
# under a lock). Reads take no lock; writes do, and evict the oldest entry (an issuer has a handful of
# headers, one per key and type: anything beyond 256 is churn, and the oldest is as good a victim as any).
_HEADERS: dict[bytes, tuple[dict[str, Any], str, str | None]] = {}
_HEADER_LOCK = threading.Lock()
_MAX_HEADERS = 256
_MAX_CACHED_HEADER = 512
# Header parameters whose meaning jwtguard implements; anything listed in `crit` must be one of these,
# and since none of them is an extension, every `crit` is refused (RFC 7515 §4.1.11).
_UNDERSTOOD_EXTENSIONS: frozenset[str] = frozenset()
# A JOSE header is one object (a `jwk` member makes two); parsing many small objects costs a Python call
# each, and the header is parsed before the signature is checked.
_MAX_HEADER_OBJECTS = 4
# Routing by `iss` reads at most this many "iss" members before the signature verifies.
_MAX_ISS_MEMBERS = 8
_ISS_MEMBER = re.compile(r'"iss"[ \t\n\r]*:[ \t\n\r]*')
_NOT_A_STRING = object()
_VALUE = json.JSONDecoder()  # raw_decode at a quote decodes that one string, in C


class ParsedToken(NamedTuple):
    """A token split once, its header and signature decoded. `payload_b64` is the unverified claim set,
    still encoded: `parse_claims` decodes and parses it once the signature verified."""

    header: dict[str, Any]
    payload_b64: bytes
    signing_input: bytes
    signature: bytes
    alg: str
    kid: str | None


def _check_canonical(segment: bytes, what: str) -> int:
    """Refuse a segment (already known to be of the base64url alphabet) that no canonical encoder writes;
    returns its length modulo 4."""
    remainder = len(segment) % 4
    if remainder == 1:
        raise TokenMalformed(f"{what} has an impossible base64url length")
    if remainder and segment[-1] not in _CANONICAL_LAST[remainder]:
        raise TokenMalformed(f"{what} is not canonical base64url")
    return remainder


def _b64decode(segment: bytes, what: str) -> bytes:
    """Decode one segment already known to be of the base64url alphabet; refuse non-canonical forms."""
    remainder = _check_canonical(segment, what)
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
# (text, index) -> (value, end), the C scanner `decode` runs; raises StopIteration where no value starts.
# (The decoder keeps it as `scan_once`, which typeshed does not declare.)
_SCAN: Callable[[str, int], tuple[Any, int]] = vars(_DECODER)["scan_once"]


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
    return TokenMalformed("token is not a compact JWS")  # pragma: no cover  # parse_token and this agree


def header_cache_size() -> int:
    """How many parsed headers the process keeps."""
    with _HEADER_LOCK:
        return len(_HEADERS)


def parse_token(token: str) -> ParsedToken:
    """Split and decode `token`, raising `TokenMalformed` for anything but a compact JWS.

    The payload is checked but neither decoded nor parsed: call `parse_claims` after the signature verified.
    """
    try:
        data = token.encode("ascii")
    except UnicodeEncodeError:
        raise TokenMalformed("token contains non-ASCII characters") from None
    # Three non-empty-headed segments of the base64url alphabet, without padding. The dots are found in C;
    # the payload's alphabet is checked by a C-level delete of every allowed byte (which also finds any
    # further dot), a new header's by `_parse_header`, and the signature's by its strict decode below.
    first, last = data.find(b"."), data.rfind(b".")
    if first <= 0 or last - first <= 1:
        raise _diagnose(data)
    header_b64, payload_b64, signature_b64 = data[:first], data[first + 1 : last], data[last + 1 :]
    if payload_b64.translate(None, _ALPHABET):
        raise _diagnose(data)
    known = _HEADERS.get(header_b64)
    if known is None:
        if header_b64.translate(None, _ALPHABET):
            raise _diagnose(data)
        known = _parse_header(header_b64)
        if len(header_b64) <= _MAX_CACHED_HEADER:  # an issuer's header is small; a hostile one need not be
            with _HEADER_LOCK:
                if len(_HEADERS) >= _MAX_HEADERS:
                    del _HEADERS[next(iter(_HEADERS))]
                _HEADERS[header_b64] = known
    header, alg, kid = known
    # The canonical-form checks of `_check_canonical`, inline for the payload and the signature: this runs
    # for every new token, and a call costs more than the check.
    remainder = len(payload_b64) % 4
    if remainder and (remainder == 1 or payload_b64[-1] not in _CANONICAL_LAST[remainder]):
        _check_canonical(payload_b64, "payload")  # raises, and says which
    remainder = len(signature_b64) % 4
    if remainder and (remainder == 1 or signature_b64[-1] not in _CANONICAL_LAST[remainder]):
        _check_canonical(signature_b64, "signature")
    if sys.version_info >= (3, 11):
        try:  # strict: a byte outside the alphabet (after the table, "+", "/" and "=" are among them) refuses
            signature = binascii.a2b_base64(
                signature_b64.translate(_TO_STANDARD_STRICT) + _PADDING[remainder], strict_mode=True
            )
        except binascii.Error:
            raise _diagnose(data) from None
    else:  # pragma: no cover  # Python 3.10 has no strict mode: check the alphabet first, as for the payload
        if signature_b64.translate(None, _ALPHABET):
            raise _diagnose(data)
        signature = binascii.a2b_base64(signature_b64.translate(_TO_STANDARD) + _PADDING[remainder])
    return tuple.__new__(  # not `ParsedToken(...)`: its Python-level constructor is a call every token pays
        ParsedToken,
        (header, payload_b64, data[:last], signature, alg, kid),
    )


def parse_claims(parsed: ParsedToken) -> dict[str, Any]:
    """The claim set: a UTF-8 JSON object without duplicate member names, else `TokenMalformed`.

    Call it only after the signature verified (or to show an unverified token to a person).
    """
    payload = parsed.payload_b64  # checked canonical by parse_token: decode it as it is
    raw = binascii.a2b_base64(payload.translate(_TO_STANDARD) + _PADDING[len(payload) % 4])
    # An issuer's claim set is one object with nothing around it: scanned straight by the decoder's C
    # scanner (duplicate members still refused by its hook). Anything else takes `_json_object`'s way.
    if raw[0] == 0x7B and raw[-1] == 0x7D:  # "{" and "}"; a canonical payload decodes to at least one byte
        try:
            value, end = _SCAN(raw.decode("utf-8"), 0)
        except (UnicodeDecodeError, ValueError, RecursionError, StopIteration):
            raise TokenMalformed("payload is not a UTF-8 JSON document") from None
        if end == len(raw) and type(value) is dict:  # the text is ASCII when its length is the bytes'
            return value
    return _json_object(raw, "payload")


def issuer_candidates(parsed: ParsedToken) -> list[object] | None:
    """The values of the first few members named "iss" in the unverified payload, for routing only.

    Cheap and bounded (a decode and a search in C, never a JSON parse of the whole payload),
    so a forged token costs no more with several issuers than with one. Members of nested objects are found
    too: the caller routes only on a value that names a configured issuer, and checks the parsed `iss`
    once the signature verified. A value that is not a JSON string comes back as a non-string placeholder.
    Returns None when more "iss" members appear than any issuer writes.
    """
    try:
        text = _b64decode(parsed.payload_b64, "payload").decode("utf-8")
    except UnicodeDecodeError:
        return []  # the strict parse will refuse it
    values: list[object] = []
    # `"iss"` followed by `:` is a member name: inside a JSON string a quote is always escaped.
    for match in _ISS_MEMBER.finditer(text):
        if len(values) == _MAX_ISS_MEMBERS:
            return None
        value: object = _NOT_A_STRING
        start = match.end()
        if text.startswith('"', start):
            try:
                value, _ = _VALUE.raw_decode(text, start)
            except ValueError:
                value = _NOT_A_STRING
        values.append(value)
    return values


def _parse_header(header_b64: bytes) -> tuple[dict[str, Any], str, str | None]:
    raw = _b64decode(header_b64, "header")
    if raw.count(b"{") > _MAX_HEADER_OBJECTS:
        raise TokenMalformed("header holds more JSON objects than a JOSE header has")
    header = _json_object(raw, "header")
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
