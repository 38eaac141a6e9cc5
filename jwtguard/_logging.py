"""One structured log record per decision, on logger `jwtguard`, with nothing secret in it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ._request import RequestInfo
from .errors import AuthError, TokenContext
from .principal import Principal

__all__ = [
    "LOG_RECORDS",
    "LogRecords",
    "RequestInfo",
    "describe",
    "log_acceptance",
    "log_rejection",
    "sanitize",
    "show",
]

logger = logging.getLogger("jwtguard")

_MAX_FIELD = 200


def sanitize(value: object) -> str | None:
    """A value fit for a log field: a string of printable characters, at most 200 of them.

    Every character Python does not call printable becomes "?": C0/C1 controls, line and paragraph
    separators, format characters (category Cf: bidi overrides and isolates, U+061C, zero-width and tag
    characters), lone surrogates, private-use and unassigned code points, and separators other than the
    space. Any of them could forge a log line, reorder or hide it on a terminal, or break a UTF-8 handler.
    """
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    text = text[: _MAX_FIELD * 2]
    if not text.isprintable():
        text = "".join(char if char.isprintable() else "?" for char in text)
    return text if len(text) <= _MAX_FIELD else text[: _MAX_FIELD - 3] + "..."


def show(value: object) -> str:
    """A decisive value as the refusal line shows it: strings quoted (a trailing slash or space is visible),
    whole numbers without a fraction, the rest as Python writes it; sanitized either way."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)
    text = sanitize(repr(value) if isinstance(value, str) else value)
    return "None" if text is None else text


def describe(details: Mapping[str, object], verified: bool) -> str:
    """The refusal line's tail: `name=value` for each decisive value, and whether token values were verified."""
    if not details:
        return ""
    shown = " ".join(f"{sanitize(name)}={show(value)}" for name, value in details.items())
    return f" [{shown}; token {'verified' if verified else 'unverified'}]"


def log_rejection(error: AuthError, request: RequestInfo) -> None:
    """Log a refused request: INFO for a client's error, ERROR for a server fault (a 503).

    The message names the decisive values too (what the token presented against what is configured, by how
    much a time missed), so a plain formatter shows them; the `jwtguard_*` attributes carry each field for
    a structured one.
    """
    level = logging.ERROR if error.status_code >= 500 else logging.INFO  # a server fault, not the client's
    if not logger.isEnabledFor(level):
        return
    context = error.context
    source = error.token_source or request.token_source or ("authorization" if request.authorization else None)
    extra: dict[str, Any] = {
        "jwtguard_code": error.code,
        "jwtguard_status": error.status_code,
        "jwtguard_reason": error.reason,
        "jwtguard_method": sanitize(request.method),
        "jwtguard_path": sanitize(request.path),
        "jwtguard_client": sanitize(request.client),
        "jwtguard_kid": sanitize(context.kid),
        "jwtguard_alg": sanitize(context.alg),
        "jwtguard_iss": sanitize(context.iss),
        "jwtguard_sub": sanitize(context.sub),
        "jwtguard_jti": sanitize(context.jti),
        "jwtguard_token_fingerprint": context.fingerprint,
        "jwtguard_claims_verified": context.verified,
        "jwtguard_details": {str(name): show(value) for name, value in error.details.items()},
        "jwtguard_source": source,
    }
    logger.log(
        level,
        "jwtguard: rejected %s %s%s: %s (%d) %s%s",
        extra["jwtguard_method"],
        extra["jwtguard_path"],
        "" if source is None or source == "authorization" else f" (token from {source})",
        error.code,
        error.status_code,
        error.reason,
        describe(error.details, context.verified),
        extra=extra,
    )


def log_acceptance(principal: Principal, context: TokenContext, request: RequestInfo, *, cached: bool) -> None:
    """Log an accepted request at DEBUG; `cached` says whether the token came from the verified-token cache."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    extra: dict[str, Any] = {
        "jwtguard_code": "ok",
        "jwtguard_status": 200,
        "jwtguard_method": sanitize(request.method),
        "jwtguard_path": sanitize(request.path),
        "jwtguard_client": sanitize(request.client),
        "jwtguard_kid": sanitize(context.kid),
        "jwtguard_alg": sanitize(context.alg),
        "jwtguard_iss": sanitize(principal.issuer),
        "jwtguard_sub": sanitize(principal.subject),
        "jwtguard_jti": sanitize(principal.token_id),
        "jwtguard_token_fingerprint": context.fingerprint,
        "jwtguard_claims_verified": True,
        "jwtguard_cached": cached,
        "jwtguard_source": request.token_source or "authorization",
    }
    logger.debug(
        "jwtguard: accepted %s %s for sub=%s",
        extra["jwtguard_method"],
        extra["jwtguard_path"],
        extra["jwtguard_sub"],
        extra=extra,
    )


class LogRecords:
    """The decision observer every guard has first: one record per decision on logger `jwtguard`."""

    __slots__ = ()

    def accepted(self, principal: Principal, context: TokenContext, request: RequestInfo, *, cached: bool) -> None:
        log_acceptance(principal, context, request, cached=cached)

    def refused(self, error: AuthError, request: RequestInfo) -> None:
        log_rejection(error, request)


LOG_RECORDS = LogRecords()
