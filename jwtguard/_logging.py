"""One structured log record per decision, on logger `jwtguard`, with nothing secret in it."""

from __future__ import annotations

import logging
from typing import Any

from ._request import RequestInfo
from .errors import AuthError, TokenContext
from .principal import Principal

__all__ = ["LOG_RECORDS", "LogRecords", "RequestInfo", "log_acceptance", "log_rejection", "sanitize"]

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


def log_rejection(error: AuthError, request: RequestInfo) -> None:
    """Log a refused request: INFO for a client's error, ERROR for a server fault (a 503)."""
    context = error.context
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
    }
    level = logging.ERROR if error.status_code >= 500 else logging.INFO  # a server fault, not the client's
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "jwtguard: rejected %s %s: %s (%d) %s",
            extra["jwtguard_method"],
            extra["jwtguard_path"],
            error.code,
            error.status_code,
            error.reason,
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
