"""`python -m example_app.mcp_server`: an MCP server over streamable HTTP whose tokens jwtguard validates, with a
development issuer that signs them; prints the URL, curl commands and a client snippet to try."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from typing import TypedDict
from urllib.parse import urlsplit

import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from jwtguard import Settings
from jwtguard.mcp import JWTGuardTokenVerifier, auth_settings
from jwtguard.testing import DevIssuer

#: The scope every call to the server needs.
SCOPE = "mcp:tools"
PATH = "/mcp"


class Identity(TypedDict):
    subject: str | None
    client_id: str
    scopes: list[str]


def create_server(settings: Settings, url: str) -> MCPServer:
    """The MCP server at `url` (its resource identifier and the tokens' audience), trusting `settings`' issuer."""
    server: MCPServer = MCPServer(
        "jwtguard-demo",
        token_verifier=JWTGuardTokenVerifier(settings, resource=url),
        auth=auth_settings(settings, resource_server_url=url, required_scopes=[SCOPE]),
    )

    @server.tool()
    def whoami() -> Identity:
        """Who the bearer token says the caller is: its subject, client and scopes."""
        token = get_access_token()
        if token is None:  # the SDK's auth middleware lets no request through without one
            raise RuntimeError("no verified token for this request")
        return Identity(subject=token.subject, client_id=token.client_id, scopes=token.scopes)

    return server


def create_app(settings: Settings, url: str) -> Starlette:
    """The streamable HTTP app serving `create_server` at `url`'s path; its lifespan runs the sessions."""
    parts = urlsplit(url)
    # `host` picks the SDK's DNS rebinding protection: on a loopback name it admits only loopback Host headers.
    return create_server(settings, url).streamable_http_app(
        streamable_http_path=parts.path or "/", host=parts.hostname or "127.0.0.1"
    )


def hints(issuer: DevIssuer, url: str) -> list[tuple[str, str]]:
    """(what it shows, command) for each printed curl command; the tokens last an hour."""
    token = issuer.token(subject="alice", scopes=[SCOPE], expires_in=3600)
    no_scope = issuer.token(subject="bob", scopes=["profile"], expires_in=3600)
    expired = issuer.token(subject="alice", scopes=[SCOPE], expires_in=-3600)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "0"}},
    }
    parts = urlsplit(url)
    well_known = f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{parts.path}"

    def post(bearer: str | None) -> str:
        command = ["curl", "-i", url, "-H", "Content-Type: application/json"]
        command += ["-H", "Accept: application/json, text/event-stream", "-d", json.dumps(initialize)]
        if bearer is not None:
            command += ["-H", f"Authorization: Bearer {bearer}"]
        return shlex.join(command)

    return [
        ("200: initialize with a token granting mcp:tools (alice)", post(token)),
        ("401: no token; the challenge's resource_metadata points to the document below", post(None)),
        ("401: an expired token; the server's log says token_expired", post(expired)),
        ("403 insufficient_scope: a valid token without mcp:tools (bob)", post(no_scope)),
        ("the protected resource metadata: this server's issuer and scopes", shlex.join(["curl", well_known])),
    ]


def client_snippet(url: str, token: str) -> str:
    return f"""\
import asyncio, httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

async def main():
    headers = {{"Authorization": "Bearer {token}"}}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with streamable_http_client("{url}", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                print((await session.call_tool("whoami", {{}})).structured_content)

asyncio.run(main())"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m example_app.mcp_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)-7s %(name)s: %(message)s")
    url = f"http://{args.host}:{args.port}{PATH}"
    # RFC 8707 and the MCP authorization spec: a token is issued for the server's URL, its audience.
    issuer = DevIssuer(audience=url).start()
    app = create_app(issuer.settings(), url)

    print("\njwtguard MCP server (streamable HTTP)")
    print(f"  MCP     {url}  (tool `whoami`, scope {SCOPE})")
    print(f"  issuer  {issuer.issuer}  (development issuer: discovery + JWKS; it signed the tokens below)")
    print("\nPaste these into another terminal:\n")
    for what, command in hints(issuer, url):
        print(f"# {what}")
        print(command)
        print()
    print("# or with the MCP SDK's client (python):")
    print(client_snippet(url, issuer.token(subject="alice", scopes=[SCOPE], expires_in=3600)))
    print("\nThe log lines below say, for every refused token, which check failed and why.\n", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        issuer.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
