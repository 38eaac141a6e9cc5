"""Render an `AuthError` once into (status, headers, body); the adapters only write that triple out."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import AuthError, InsufficientScope, InsufficientUserAuthentication, JWKSUnavailable, UseDPoPNonce
from .hooks import ErrorBodyHook

__all__ = ["RenderedError", "Renderer", "dpop_challenges", "quote_header_value", "www_authenticate"]

logger = logging.getLogger("jwtguard")

_UNSAFE_IN_QUOTED_STRING = re.compile(r'[\x00-\x1f\x7f"\\]')


@dataclass(frozen=True, slots=True)
class RenderedError:
    """An error as it goes on the wire."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def quote_header_value(value: str) -> str:
    """An RFC 9110 quoted-string: backslash-escape `"` and `\\`, drop control characters."""
    return '"' + _UNSAFE_IN_QUOTED_STRING.sub(_escape, value) + '"'


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return "\\" + char if char in '"\\' else ""


def www_authenticate(error: AuthError, realm: str | None, resource_metadata: str | None = None) -> str:
    """The RFC 6750 §3 challenge for `error`; with `resource_metadata`, the URL of the protected resource
    metadata (RFC 9728 §5.1), where a client learns which authorization server to ask for a token."""
    params: list[tuple[str, str]] = []
    if realm is not None:
        params.append(("realm", realm))
    if resource_metadata is not None:
        params.append(("resource_metadata", resource_metadata))
    if error.error is not None:
        params.append(("error", error.error))
        params.append(("error_description", error.description))
    if isinstance(error, InsufficientScope):
        params.append(("scope", " ".join(error.required_scopes)))
    elif isinstance(error, InsufficientUserAuthentication):  # RFC 9470 §3
        if error.acr_values:
            params.append(("acr_values", " ".join(error.acr_values)))
        if error.max_age is not None:
            params.append(("max_age", str(error.max_age)))
    if not params:
        return "Bearer"
    return "Bearer " + ", ".join(f"{name}={quote_header_value(value)}" for name, value in params)


def dpop_challenges(
    error: AuthError,
    realm: str | None,
    algorithms: Sequence[str],
    *,
    bearer: bool,
    resource_metadata: str | None = None,
) -> str:
    """The challenges when DPoP is accepted (RFC 9449 §7.1): a `DPoP` challenge with `algs`, after the Bearer one
    where Bearer is still accepted, both in one header value. The error goes on the challenge of the scheme the
    client used (`error.scheme`), or on the DPoP one when Bearer is not accepted. `resource_metadata` goes on
    each challenge (RFC 9728 §5.1)."""
    on_dpop = error.scheme == "DPoP" or not bearer
    params: list[tuple[str, str]] = [] if realm is None else [("realm", realm)]
    if resource_metadata is not None:
        params.append(("resource_metadata", resource_metadata))
    params.append(("algs", " ".join(algorithms)))
    if on_dpop and error.error is not None:
        params.append(("error", error.error))
        params.append(("error_description", error.description))
    if on_dpop and isinstance(error, InsufficientScope):
        params.append(("scope", " ".join(error.required_scopes)))
    dpop = "DPoP " + ", ".join(f"{name}={quote_header_value(value)}" for name, value in params)
    if not bearer:
        return dpop
    if not on_dpop:
        return f"{www_authenticate(error, realm, resource_metadata)}, {dpop}"
    plain = [] if realm is None else [("realm", realm)]
    if resource_metadata is not None:
        plain.append(("resource_metadata", resource_metadata))
    bearer_challenge = "Bearer " + ", ".join(f"{name}={quote_header_value(value)}" for name, value in plain)
    return (bearer_challenge if plain else "Bearer") + ", " + dpop


def problem_body(error: AuthError, type_base: str) -> dict[str, Any]:
    """The default RFC 9457 problem-details body: fixed text only, never request input."""
    body: dict[str, Any] = {
        "type": type_base + error.code,
        "title": error.title,
        "status": error.status_code,
        "detail": error.description,
        "code": error.code,
    }
    if error.error is not None:
        body["error"] = error.error
    if isinstance(error, InsufficientScope):
        body["required_scopes"] = list(error.required_scopes)
    elif isinstance(error, InsufficientUserAuthentication):  # what the challenge says, for clients that read bodies
        if error.acr_values:
            body["acr_values"] = list(error.acr_values)
        if error.max_age is not None:
            body["max_age"] = error.max_age
    # `InsufficientRole.required` stays out: a client can ask for scopes, but roles, permissions and claim
    # values (tenant ids, group names) are granted by an administrator, and naming them tells every token
    # holder the authorization policy. The log has it; an `error_body_hook` may add it.
    return body


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


class Renderer:
    """Turns an `AuthError` into status, headers and body: the realm, the problem `type` base, the body
    hook, the origins that may read refusals and the metadata URL the challenge names are fixed when the guard
    is built; the adapters only write the result out."""

    def __init__(
        self,
        *,
        realm: str | None,
        problem_type_base: str,
        error_body_hook: ErrorBodyHook | None,
        cors_allow_origins: Sequence[str] = (),
        resource_metadata: str | None = None,
        dpop_algorithms: Sequence[str] = (),
        bearer: bool = True,
    ) -> None:
        """`dpop_algorithms`: the proof algorithms, when some issuer accepts DPoP (then challenges name the DPoP
        scheme too); `bearer`: whether some issuer still accepts the Bearer scheme."""
        self.realm = realm
        self.resource_metadata = resource_metadata
        self._dpop = tuple(dpop_algorithms)
        self._bearer = bearer
        self.problem_type_base = problem_type_base
        self.error_body_hook = error_body_hook
        self._any_origin = "*" in cors_allow_origins
        self._origins = frozenset(cors_allow_origins)

    def render(self, error: AuthError, origin: str | None = None) -> RenderedError:
        """Status, headers and body for `error`; `error_body_hook` may change the body only.

        With `origin`, the `Origin` of the refused request: when `cors_allow_origins` lists it (or is `*`), the
        CORS headers that let a page there read the refusal, its challenge and `Retry-After` included.
        """
        payload = _encode(problem_body(error, self.problem_type_base))
        if self.error_body_hook is not None:
            try:
                payload = _encode(self.error_body_hook(error, problem_body(error, self.problem_type_base)))
            except Exception:  # a broken hook (or a body JSON cannot encode) must not turn a 401 into a 500
                logger.exception("jwtguard: error_body_hook failed; sending the default body")
        headers: list[tuple[str, str]] = [
            ("content-type", "application/problem+json"),
            ("content-length", str(len(payload))),
            ("cache-control", "no-store"),
        ]
        # A 403 `insufficient_role` has no RFC 6750 error code, but is still a Bearer challenge with the realm.
        if error.status_code in (401, 403) or error.error is not None:
            challenge = (
                dpop_challenges(
                    error, self.realm, self._dpop, bearer=self._bearer, resource_metadata=self.resource_metadata
                )
                if self._dpop
                else www_authenticate(error, self.realm, self.resource_metadata)
            )
            headers.append(("www-authenticate", challenge))
        if isinstance(error, UseDPoPNonce):
            headers.append(("dpop-nonce", error.nonce))
        if isinstance(error, JWKSUnavailable):
            headers.append(("retry-after", str(error.retry_after)))
        if origin is not None and (self._any_origin or origin in self._origins):
            headers.extend(self._cors_headers(origin, headers))
        return RenderedError(error.status_code, tuple(headers), payload)

    def _cors_headers(self, origin: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # A page reads a cross-origin response only with Access-Control-Allow-Origin, and of its headers only
        # the CORS-safelisted ones (Content-Type, Content-Length, Cache-Control) unless they are exposed.
        exposed = ", ".join(_EXPOSED[name] for name, _ in headers if name in _EXPOSED)
        cors = [("access-control-allow-origin", "*" if self._any_origin else origin)]
        if exposed:
            cors.append(("access-control-expose-headers", exposed))
        if not self._any_origin:
            cors.append(("vary", "Origin"))  # the answer depends on the request's Origin
        return cors


#: The headers of a refusal a page may read once they are exposed (RFC 9110 names them so).
_EXPOSED = {"www-authenticate": "WWW-Authenticate", "retry-after": "Retry-After", "dpop-nonce": "DPoP-Nonce"}
