"""MCP servers: `jwtguard.mcp` as the SDK's token verifier, and the example server as MCP clients reach it over
streamable HTTP (the SDK's own client, and plain HTTP for the refusals)."""

from __future__ import annotations

import shlex
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from jwtguard import ConfigurationError, Guard, Issuer
from jwtguard.testing import DevIssuer

from .conftest import records

pytest.importorskip("mcp")

import httpx2  # the SDK's HTTP client
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from example_app.mcp_server import SCOPE, create_app, hints
from jwtguard.mcp import JWTGuardTokenVerifier, auth_settings

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@dataclass(frozen=True)
class Served:
    url: str  # the MCP endpoint: the resource identifier and the tokens' audience
    metadata_url: str
    issuer: DevIssuer


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """The example MCP server on a free loopback port, its lifespan on (the SDK's session manager runs in it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    url = base + "/mcp"
    with DevIssuer(audience=url) as issuer:
        server = uvicorn.Server(uvicorn.Config(create_app(issuer.settings(), url), log_level="warning", ws="none"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started and thread.is_alive():
                threading.Event().wait(0.01)  # polling for the server to bind, not waiting for time to pass
            if not server.started:
                raise RuntimeError("uvicorn did not start")
            yield Served(url, base + "/.well-known/oauth-protected-resource/mcp", issuer)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


def post(served: Served, token: str | None) -> httpx.Response:
    headers = {**ACCEPT, **({} if token is None else {"Authorization": f"Bearer {token}"})}
    return httpx.post(served.url, json=INITIALIZE, headers=headers, timeout=10)


def challenge(response: httpx.Response) -> str:
    return response.headers["www-authenticate"]


# -- what the SDK answers, with jwtguard deciding -----------------------------------------------------------------


def test_no_token_is_401_with_the_resource_metadata(served: Served, jwtguard_logs: pytest.LogCaptureFixture) -> None:
    response = post(served, None)
    assert response.status_code == 401
    # The SDK's answer: `invalid_token` even without a token (RFC 6750 §3.1 would send no error code).
    assert challenge(response).startswith('Bearer error="invalid_token"')
    assert f'resource_metadata="{served.metadata_url}"' in challenge(response)
    assert records(jwtguard_logs) == []  # the SDK never asks the verifier when there is no token


def test_the_metadata_names_the_issuer_and_the_resource(served: Served) -> None:
    document = httpx.get(served.metadata_url, timeout=10).json()
    assert document["resource"] == served.url
    assert document["authorization_servers"] == [served.issuer.issuer]  # exactly `iss`: no slash added
    assert document["scopes_supported"] == [SCOPE]


def test_the_metadata_validates_against_rfc_9728(served: Served) -> None:
    # jwtguard's own checker: `resource` present and equal to the identifier the URL was built from, members typed.
    from jwtguard.cli import main

    assert main(["resource-metadata", served.url]) == 0


def test_a_token_with_the_scope_lists_and_calls_the_tool(served: Served) -> None:
    token = served.issuer.token(subject="alice", scopes=[SCOPE, "profile"], azp="desktop-client")

    async def session() -> tuple[list[str], Any]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
            streamable_http_client(served.url, http_client=http) as (read, write),
            ClientSession(read, write) as mcp,
        ):
            await mcp.initialize()
            tools = await mcp.list_tools()
            result = await mcp.call_tool("whoami", {})
            return [tool.name for tool in tools.tools], result.structured_content

    names, identity = anyio.run(session)
    assert names == ["whoami"]
    assert identity == {"subject": "alice", "client_id": "desktop-client", "scopes": [SCOPE, "profile"]}


def test_a_token_without_the_scope_is_403_insufficient_scope(
    served: Served, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    response = post(served, served.issuer.token(subject="bob", scopes=["profile"]))
    assert response.status_code == 403
    assert challenge(response).startswith('Bearer error="insufficient_scope"')
    assert f'resource_metadata="{served.metadata_url}"' in challenge(response)
    assert response.json() == {"error": "insufficient_scope", "error_description": f"Required scope: {SCOPE}"}
    assert records(jwtguard_logs, "insufficient_scope") == []  # the SDK checks its required scopes itself


def test_an_expired_token_is_401_and_logged_token_expired(
    served: Served, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    response = post(served, served.issuer.token(subject="alice", scopes=[SCOPE], expires_in=-3600))
    assert response.status_code == 401
    assert challenge(response).startswith('Bearer error="invalid_token"')
    [record] = records(jwtguard_logs)
    assert (record["code"], record["status"], record["method"], record["path"]) == ("token_expired", 401, "MCP", "/mcp")
    assert record["sub"] == "alice"


def test_the_printed_commands_answer_as_they_say(served: Served) -> None:
    for what, command in hints(served.issuer, served.url):
        argv = shlex.split(command)
        url = next(arg for arg in argv if arg.startswith("http"))
        headers = dict(argv[i + 1].split(": ", 1) for i, arg in enumerate(argv) if arg == "-H")
        body = argv[argv.index("-d") + 1] if "-d" in argv else None
        response = httpx.request("POST" if body else "GET", url, headers=headers, content=body, timeout=10)
        expected = int(what.split(":")[0].split()[0]) if what[0].isdigit() else 200
        assert response.status_code == expected, what


# -- the verifier ---------------------------------------------------------------------------------------------------

AUDIENCE = "https://api.example.test"


def verify(verifier: JWTGuardTokenVerifier, token: str) -> Any:
    return anyio.run(verifier.verify_token, token)


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        pytest.param({"audience": "https://other.example.test"}, "audience_invalid", id="wrong-audience"),
        pytest.param({"issuer": "https://elsewhere.example.test"}, "issuer_invalid", id="wrong-issuer"),
        pytest.param({"expires_in": -600}, "token_expired", id="expired"),
    ],
)
def test_the_verifier_refuses_with_none_and_logs_once(
    issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture, claims: dict[str, Any], code: str
) -> None:
    verifier = JWTGuardTokenVerifier(issuer.settings(), resource=AUDIENCE)
    assert verify(verifier, issuer.token(**claims)) is None
    assert [record["code"] for record in records(jwtguard_logs)] == [code]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param("a.b.c", id="three-parts"),
        pytest.param("Bearer x", id="a-scheme-inside"),
    ],
)
def test_the_verifier_never_raises_on_malformed_tokens(issuer: DevIssuer, token: str) -> None:
    assert verify(JWTGuardTokenVerifier(issuer.settings()), token) is None


def test_the_access_token_carries_what_the_sdk_reads(issuer: DevIssuer) -> None:
    verifier = JWTGuardTokenVerifier(Guard(issuer.settings()), resource=AUDIENCE + "/")
    expires = int(time.time()) + 120
    token = issuer.token(subject="ann", scopes=["b", "a"], audience=["https://x.example.test", AUDIENCE], exp=expires)
    access = verify(verifier, token)
    assert access.token == token
    assert access.scopes == ["a", "b"]
    assert access.subject == "ann"
    assert access.client_id == "ann"  # neither azp nor client_id: the subject
    assert access.resource == AUDIENCE  # the audience naming this server, a trailing slash aside
    assert access.claims["iss"] == issuer.issuer  # the SDK binds sessions to (client_id, iss, sub)
    assert access.expires_at == expires


@pytest.mark.parametrize(
    ("extra", "client_id"),
    [
        pytest.param({"azp": "web", "client_id": "cli"}, "web", id="azp-first"),
        pytest.param({"client_id": "cli"}, "cli", id="client_id"),
        pytest.param({"azp": 7}, "user-1", id="not-a-string"),
    ],
)
def test_the_client_is_azp_then_client_id_then_sub(issuer: DevIssuer, extra: dict[str, Any], client_id: str) -> None:
    access = verify(JWTGuardTokenVerifier(issuer.settings()), issuer.token(**extra))
    assert access.client_id == client_id
    assert access.resource is None  # no resource configured


def test_required_scopes_in_the_settings_are_refused(issuer: DevIssuer) -> None:
    # The SDK would answer a token without them 401 invalid_token; AuthSettings.required_scopes answers 403.
    with pytest.raises(ConfigurationError, match=r"AuthSettings\.required_scopes"):
        JWTGuardTokenVerifier(issuer.settings(required_scopes=["mcp:tools"]))


# -- AuthSettings ---------------------------------------------------------------------------------------------------


def test_auth_settings_advertise_the_configured_issuer(issuer: DevIssuer) -> None:
    settings = auth_settings(issuer.settings(), resource_server_url="http://127.0.0.1:1/mcp", required_scopes=["a"])
    assert str(settings.issuer_url) == issuer.issuer
    assert str(settings.resource_server_url) == "http://127.0.0.1:1/mcp"
    assert settings.required_scopes == ["a"]
    assert settings.validate_token_resource is False  # jwtguard checks the audience
    assert auth_settings(issuer.settings(), resource_server_url="http://127.0.0.1:1/mcp").required_scopes is None


def test_auth_settings_need_one_issuer_or_issuer_url(issuer: DevIssuer) -> None:
    settings = issuer.settings(
        issuer=None,
        jwks_uri=None,
        issuers=[
            Issuer(issuer=issuer.issuer, jwks_uri=issuer.jwks_uri),
            Issuer(issuer="https://other.example.test", jwks_uri=issuer.jwks_uri),
        ],
    )
    with pytest.raises(ConfigurationError, match="issuer_url="):
        auth_settings(settings, resource_server_url="http://127.0.0.1:1/mcp")
    chosen = auth_settings(settings, resource_server_url="http://127.0.0.1:1/mcp", issuer_url=issuer.issuer)
    assert str(chosen.issuer_url) == issuer.issuer


# -- the README ----------------------------------------------------------------------------------------------------


def test_the_readme_quick_start(issuer: DevIssuer) -> None:
    from starlette.testclient import TestClient

    from .test_readme import PLACEHOLDER_ISSUER, quickstart, run_block

    namespace = run_block(quickstart("mcp").replace(PLACEHOLDER_ISSUER, issuer.issuer))
    client = TestClient(namespace["app"], base_url="https://mcp.example.com")
    refused = client.post("/mcp", json=INITIALIZE, headers=ACCEPT)
    assert refused.status_code == 401
    metadata_url = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata_url}"' in refused.headers["www-authenticate"]
    document = client.get(metadata_url).json()
    assert (document["resource"], document["authorization_servers"]) == (namespace["URL"], [issuer.issuer])
