"""jwtguard: ASGI and WSGI middleware that validates bearer JWTs against an issuer's JWKS."""

from __future__ import annotations

import typing

from ._request import RequestInfo
from ._version import __version__
from .asgi import JWTGuardMiddleware
from .errors import (
    AlgorithmNotAllowed,
    AudienceInvalid,
    AuthError,
    ClaimInvalid,
    ClaimMissing,
    ConfigurationError,
    FetchError,
    InsufficientScope,
    InvalidRequest,
    IssuerInvalid,
    JWKSUnavailable,
    JWTGuardError,
    KeyNotFound,
    RevocationUnavailable,
    SignatureInvalid,
    TokenContext,
    TokenExpired,
    TokenInQuery,
    TokenMalformed,
    TokenMissing,
    TokenNotYetValid,
    TokenRevoked,
)
from .guard import Guard
from .jwks import FetchedKeys, Fetcher, FetchResponse, HttpxFetcher, KeyEvent, KeySet, VerificationKey
from .principal import Principal
from .responses import RenderedError
from .revocation import JtiDenylist
from .settings import Issuer, Settings
from .wsgi import JWTGuardWSGIMiddleware

if typing.TYPE_CHECKING:
    from .starlette import RequireScopes, require_scopes

__all__ = [
    "AlgorithmNotAllowed",
    "AudienceInvalid",
    "AuthError",
    "ClaimInvalid",
    "ClaimMissing",
    "ConfigurationError",
    "FetchError",
    "FetchResponse",
    "FetchedKeys",
    "Fetcher",
    "Guard",
    "HttpxFetcher",
    "InsufficientScope",
    "InvalidRequest",
    "Issuer",
    "IssuerInvalid",
    "JWKSUnavailable",
    "JWTGuardError",
    "JWTGuardMiddleware",
    "JWTGuardWSGIMiddleware",
    "JtiDenylist",
    "KeyEvent",
    "KeyNotFound",
    "KeySet",
    "Principal",
    "RenderedError",
    "RequestInfo",
    "RequireScopes",
    "RevocationUnavailable",
    "Settings",
    "SignatureInvalid",
    "TokenContext",
    "TokenExpired",
    "TokenInQuery",
    "TokenMalformed",
    "TokenMissing",
    "TokenNotYetValid",
    "TokenRevoked",
    "VerificationKey",
    "__version__",
    "require_scopes",
]


def __getattr__(name: str) -> object:
    # The Starlette route helpers import Starlette: loaded on first use, so `import jwtguard` imports no
    # web framework (Flask and Django apps never load it).
    if name in ("RequireScopes", "require_scopes"):
        from . import starlette

        return getattr(starlette, name)
    raise AttributeError(f"module 'jwtguard' has no attribute {name!r}")
