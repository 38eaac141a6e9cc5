"""Bearer credentials from the Authorization header, strictly per RFC 6750 §2.1, and nowhere else; and, where
DPoP is on, `Authorization: DPoP <token>` (RFC 9449 §7.1), whose token has the same syntax.

Tokens sent in the query string (RFC 6750 §2.3) are only detected, so that they can be refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable
from urllib.parse import unquote_plus

from ._request import RequestInfo
from .errors import InvalidRequest, TokenMalformed, TokenMissing

__all__ = [
    "AUTHORIZATION_HEADER",
    "COMMON_PREFIXES",
    "DPOP_PREFIXES",
    "AuthorizationHeader",
    "TokenSource",
    "extract_bearer_token",
    "query_has_access_token",
    "uses_dpop_scheme",
]

# RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]; auth-scheme = token
_SCHEME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: The two usual spellings of the scheme and its one space, which the hot paths test before anything else.
COMMON_PREFIXES = frozenset({"Bearer ", "bearer "})
#: The same for the DPoP scheme (RFC 9449 §7.1), tested only where DPoP is on.
DPOP_PREFIXES = frozenset({"DPoP ", "dpop ", "DPOP "})
_SEVERAL = "several credentials (a repeated Authorization header or a comma-separated list)"


def extract_bearer_token(authorization: str | Sequence[str] | None, *, max_bytes: int, dpop: bool = False) -> str:
    """Return the single bearer token in the `Authorization` header value(s); with `dpop`, the token of the
    `DPoP` scheme too (`uses_dpop_scheme` tells which scheme it came with).

    Raises `TokenMissing` when there are no bearer credentials (no header, or another scheme),
    `InvalidRequest` when the header is malformed or repeated, and `TokenMalformed` when the token is
    longer than `max_bytes` (checked before any parsing of the token).
    """
    if (type(authorization) is tuple or type(authorization) is list) and len(authorization) == 1:
        authorization = authorization[0]
    if type(authorization) is str and authorization[:7] in COMMON_PREFIXES:
        # The common case, decided in one pass: "Bearer " and a b64token within the size cap.
        credentials = authorization[7:]
        if len(credentials) <= max_bytes and _B64TOKEN.fullmatch(credentials) is not None:
            return credentials
    if authorization is None:
        raise TokenMissing("no Authorization header")
    if not isinstance(authorization, str):
        if len(authorization) == 0:
            raise TokenMissing("no Authorization header")
        if len(authorization) > 1:
            raise InvalidRequest(_SEVERAL)
        authorization = authorization[0]
    if "," in authorization and any(
        part.lstrip(" \t")[:7].lower() in ("bearer", "bearer ")
        or (dpop and part.lstrip(" \t")[:5].lower() in ("dpop", "dpop "))
        for part in authorization.split(",")
    ):
        # A WSGI server folds repeated headers into one value joined by commas; ASGI passes them apart.
        # Both mean several credentials, and both get the same answer. (Another scheme's auth-params,
        # as in Digest, also contain commas: those are just "no bearer token".)
        raise InvalidRequest(_SEVERAL)
    value = authorization.strip(" \t")
    scheme, _, credentials = value.partition(" ")
    # The scheme is decided first, so a large credential of another scheme (Negotiate, for one)
    # is "no bearer token", not an oversized one.
    if len(scheme) > 64 or _SCHEME.fullmatch(scheme) is None:
        raise InvalidRequest("Authorization header is not 'scheme credentials'")
    if scheme.lower() != "bearer" and not (dpop and scheme.lower() == "dpop"):
        raise TokenMissing("Authorization header uses another scheme")
    credentials = credentials.lstrip(" ")
    if not credentials:
        raise InvalidRequest(f"{'DPoP' if scheme.lower() == 'dpop' else 'Bearer'} scheme without a token")
    if len(credentials) > max_bytes:
        raise TokenMalformed("token larger than max_token_bytes")
    if _B64TOKEN.fullmatch(credentials) is None:
        # Spaces, commas, control or non-ASCII characters: several tokens, auth-params or junk.
        raise InvalidRequest("Bearer credentials are not a single b64token")
    return credentials


def uses_dpop_scheme(authorization: str | Sequence[str] | None) -> bool:
    """True when the (single) `Authorization` value uses the DPoP scheme, in any case (RFC 9110 §11.1)."""
    if authorization is not None and not isinstance(authorization, str):
        authorization = authorization[0] if len(authorization) == 1 else None
    return authorization is not None and authorization.lstrip(" \t")[:5].lower() == "dpop "


def query_has_access_token(query_string: str) -> bool:
    """True when the raw (percent-encoded) query string has a parameter named `access_token`.

    Names are compared once percent-decoded, as the application's own query parser decodes them; values
    are never looked at.
    """
    # Most query strings contain neither the name nor a percent escape that could spell it: no parse.
    if "access_token" not in query_string and "%" not in query_string:
        return False
    for parameter in query_string.split("&"):
        name = parameter.partition("=")[0]
        if name == "access_token" or ("%" in name and unquote_plus(name) == "access_token"):
            return True
    return False


@runtime_checkable
class TokenSource(Protocol):
    """A place a request may carry its token (`jwtguard.sources` has the others). The guard asks every source;
    more than one finding credentials is 400 `invalid_request`. A source may refuse the request itself by raising
    an `AuthError` (a cookie on a cross-site request, a proxy's header from another peer)."""

    name: str

    def credentials(self, request: RequestInfo) -> str | Sequence[str] | None:
        """The credentials this source finds in `request`, as the guard's bearer parser takes them."""
        ...


class AuthorizationHeader:
    """RFC 6750 §2.1: `Authorization: Bearer <token>`, exactly once."""

    name = "authorization"

    def credentials(self, request: RequestInfo) -> Sequence[str]:
        return request.authorization

    def __repr__(self) -> str:
        return "AUTHORIZATION_HEADER"


AUTHORIZATION_HEADER = AuthorizationHeader()
