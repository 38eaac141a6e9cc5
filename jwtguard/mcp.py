"""Model Context Protocol servers: jwtguard as the MCP SDK's token verifier, and the SDK's `AuthSettings` from
jwtguard's settings.

    from mcp.server.mcpserver import MCPServer
    from jwtguard.mcp import JWTGuardTokenVerifier, auth_settings

    settings = Settings(issuer=..., audience="https://mcp.example.com/mcp", discovery=True)
    server = MCPServer(
        "orders",
        token_verifier=JWTGuardTokenVerifier(settings, resource="https://mcp.example.com/mcp"),
        auth=auth_settings(settings, resource_server_url="https://mcp.example.com/mcp", required_scopes=["mcp:tools"]),
    )

jwtguard decides whether a token is valid, and logs every refusal with its code as the middleware does. The SDK
decides the HTTP answer: its bearer middleware answers 401 `invalid_token` ("Authentication required") for a
missing token as well as for a refused one, 403 `insufficient_scope` for a scope of `AuthSettings.required_scopes`
that the token lacks, each with `resource_metadata=` in the challenge, and serves
`/.well-known/oauth-protected-resource`. The reason a token was refused is in jwtguard's log, not in the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from ._request import RequestInfo
from .errors import AuthError, ConfigurationError
from .guard import Guard
from .principal import Principal
from .settings import Settings

__all__ = ["JWTGuardTokenVerifier", "auth_settings"]

# The log records' method for decisions made here: the SDK hands the verifier a token, never the request.
_METHOD = "MCP"


class JWTGuardTokenVerifier:
    """The MCP SDK's `TokenVerifier`, validating with a jwtguard `Guard` (or one built from `Settings`).

    `verify_token` returns the SDK's `AccessToken` for a valid token, and None for any `AuthError`, which is
    logged on logger `jwtguard` (and told to the guard's observers) as the middleware logs refusals. Other
    exceptions propagate: an answer the SDK turns into a 500 is safer than a guess.

    `resource` is this MCP server's URL (`AuthSettings.resource_server_url`): `AccessToken.resource` is the
    token's audience that names it, if any, for the SDK's `validate_token_resource`. jwtguard's own audience
    check (`Settings.audience`) applies either way.

    Raises `ConfigurationError` if the settings require scopes: the SDK would answer a token without them
    with 401, as if it were invalid. Put them in `AuthSettings.required_scopes`, which answers 403.
    """

    __slots__ = ("_request", "_resource", "guard")

    def __init__(self, guard_or_settings: Guard | Settings, *, resource: str | None = None) -> None:
        self.guard = guard_or_settings if isinstance(guard_or_settings, Guard) else Guard(guard_or_settings)
        if self.guard.required_scopes:
            raise ConfigurationError(
                "required_scopes: the MCP SDK answers a token the verifier refuses with 401 invalid_token; "
                "put the scopes in AuthSettings.required_scopes (see jwtguard.mcp.auth_settings), "
                "where a token without them is answered with 403 insufficient_scope"
            )
        self._resource = None if resource is None else _canonical(resource)
        # What the log records name as the request: the MCP endpoint's path, the one request the SDK verifies for.
        path = urlsplit(resource).path if resource is not None else ""
        self._request = RequestInfo(_METHOD, path or "/", None)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The `AccessToken` of a valid `token`, or None (the refusal logged). Never raises `AuthError`."""
        try:
            principal = await self.guard.aauthenticate("Bearer " + token)
        except AuthError as exc:
            self.guard.reject(exc, self._request)  # logs and tells the observers, once
            return None
        return self.access_token(token, principal)

    def access_token(self, token: str, principal: Principal) -> AccessToken:
        """The SDK's view of `principal`: client, sorted scopes, expiry, subject, claims and matching resource."""
        claims = principal.claims
        client_id = next(
            (value for name in ("azp", "client_id", "sub") if isinstance(value := claims.get(name), str)), ""
        )
        expires_at = principal.expires_at
        return AccessToken(
            token=token,
            client_id=client_id,
            scopes=sorted(principal.scopes),
            expires_at=None if expires_at is None else int(expires_at),
            resource=self._matching_resource(claims.get("aud")),
            subject=principal.subject,
            # The SDK binds a session to (client_id, claims["iss"], subject): the issuer must be here.
            claims=dict(claims),
        )

    def _matching_resource(self, audience: Any) -> str | None:
        if self._resource is None:
            return None
        values = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        return next((value for value in values if isinstance(value, str) and _canonical(value) == self._resource), None)


def auth_settings(
    settings: Settings,
    *,
    resource_server_url: str,
    required_scopes: Sequence[str] = (),
    issuer_url: str | None = None,
    **options: Any,
) -> AuthSettings:
    """The SDK's `AuthSettings` for a resource server that trusts `settings`' issuer.

    `issuer_url` defaults to the one configured issuer; with several (or an issuer template), name the one
    to advertise in `/.well-known/oauth-protected-resource`. `validate_token_resource` defaults to False, as
    the SDK advises when the verifier checks the audience itself (jwtguard does, per `Settings.audience`);
    `options` go to `AuthSettings` as they are.
    """
    if issuer_url is None:
        names = [name for entry in settings.trusted_issuers for name in entry.names]
        if len(names) != 1 or not names[0] or "{" in names[0]:
            raise ConfigurationError(
                "auth_settings: the settings trust "
                + (f"{len(names)} issuers" if len(names) != 1 else "no single issuer")
                + "; pass issuer_url= to name the one MCP clients should sign in at"
            )
        issuer_url = names[0]
    options.setdefault("validate_token_resource", False)
    # Validated from strings, so the model's own URL rules apply: an issuer without a path keeps no trailing
    # slash (RFC 8414 §3.3 compares issuers exactly).
    return AuthSettings.model_validate(
        {
            "issuer_url": issuer_url,
            "resource_server_url": resource_server_url,
            "required_scopes": list(required_scopes) or None,
            **options,
        }
    )


def _canonical(url: str) -> str:
    """A URL compared as the SDK compares resources: a trailing slash aside."""
    return url.removesuffix("/")
