"""jwtguard: ASGI and WSGI middleware that validates bearer JWTs against an issuer's JWKS."""

from __future__ import annotations

import typing

from ._request import RequestInfo
from ._version import __version__
from .asgi import JWTGuardMiddleware
from .dpop import MemoryReplayStore, NonceIssuer, ReplayStore
from .errors import (
    AlgorithmNotAllowed,
    AudienceInvalid,
    AuthError,
    CertificateBindingMismatch,
    ClaimInvalid,
    ClaimMissing,
    ConfigurationError,
    CrossSiteRequest,
    DPoPBindingMismatch,
    DPoPProofInvalid,
    DPoPReplayed,
    DPoPRequired,
    FetchError,
    InsufficientRole,
    InsufficientScope,
    InsufficientUserAuthentication,
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
    UnsafePath,
    UntrustedProxy,
    UseDPoPNonce,
)
from .guard import Guard
from .jwks import FetchedKeys, Fetcher, FetchResponse, HttpxFetcher, KeyEvent, KeySet, VerificationKey
from .principal import (
    Acr,
    AllOf,
    AnyOf,
    ClaimEquals,
    MaxAge,
    Permissions,
    Principal,
    Roles,
    Scopes,
    parse_requirement,
)
from .responses import RenderedError
from .revocation import JtiDenylist
from .rules import Rule
from .settings import Issuer, Settings
from .sources import CookieSource, HeaderSource, QuerySource, SubprotocolSource
from .wsgi import JWTGuardWSGIMiddleware

if typing.TYPE_CHECKING:
    from .starlette import Authorize, RequireScopes, authorize, require_scopes

__all__ = [
    "Acr",
    "AlgorithmNotAllowed",
    "AllOf",
    "AnyOf",
    "AudienceInvalid",
    "AuthError",
    "Authorize",
    "CertificateBindingMismatch",
    "ClaimEquals",
    "ClaimInvalid",
    "ClaimMissing",
    "ConfigurationError",
    "CookieSource",
    "CrossSiteRequest",
    "DPoPBindingMismatch",
    "DPoPProofInvalid",
    "DPoPReplayed",
    "DPoPRequired",
    "FetchError",
    "FetchResponse",
    "FetchedKeys",
    "Fetcher",
    "Guard",
    "HeaderSource",
    "HttpxFetcher",
    "InsufficientRole",
    "InsufficientScope",
    "InsufficientUserAuthentication",
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
    "MaxAge",
    "MemoryReplayStore",
    "NonceIssuer",
    "Permissions",
    "Principal",
    "QuerySource",
    "RenderedError",
    "ReplayStore",
    "RequestInfo",
    "RequireScopes",
    "RevocationUnavailable",
    "Roles",
    "Rule",
    "Scopes",
    "Settings",
    "SignatureInvalid",
    "SubprotocolSource",
    "TokenContext",
    "TokenExpired",
    "TokenInQuery",
    "TokenMalformed",
    "TokenMissing",
    "TokenNotYetValid",
    "TokenRevoked",
    "UnsafePath",
    "UntrustedProxy",
    "UseDPoPNonce",
    "VerificationKey",
    "__version__",
    "authorize",
    "parse_requirement",
    "require_scopes",
]


def __getattr__(name: str) -> object:
    # The Starlette route helpers import Starlette: loaded on first use, so `import jwtguard` imports no
    # web framework (Flask and Django apps never load it).
    if name in ("Authorize", "RequireScopes", "authorize", "require_scopes"):
        from . import starlette

        return getattr(starlette, name)
    raise AttributeError(f"module 'jwtguard' has no attribute {name!r}")
