"""Protected resource metadata (RFC 9728): the document on every stack, the well-known URL, the challenges'
`resource_metadata`, the resource as an audience (RFC 8707), the `resource-metadata` command and the settings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import flask
import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import jwtguard.flask
from jwtguard import ConfigurationError, Guard, JWTGuardMiddleware, JWTGuardWSGIMiddleware, Settings
from jwtguard.cli import main
from jwtguard.resource_metadata import metadata_url
from jwtguard.responses import www_authenticate
from jwtguard.sources import QuerySource
from jwtguard.testing import DevIssuer

from .conftest import dead_url, live_server, live_wsgi_server
from .stacks import ROUTES_FIRST, STACKS, configure_django

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

RESOURCE = "https://api.example.test/mcp"
WELL_KNOWN = "/.well-known/oauth-protected-resource/mcp"
METADATA_URL = "https://api.example.test" + WELL_KNOWN


def _settings(issuer: DevIssuer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "resource": RESOURCE,
        "required_scopes": ["mcp:tools"],
        "rules": ["GET /orders/* scope:orders.read | role:admin", "POST /admin/* scope:admin & scope:write"],
        "resource_metadata": {"resource_name": "Orders MCP", "resource_documentation": "https://docs.example.test/"},
    }
    values.update(overrides)
    return issuer.settings(**values)


def _document(issuer: DevIssuer) -> dict[str, Any]:
    return {
        "resource": RESOURCE,
        "authorization_servers": [issuer.issuer],
        "scopes_supported": ["mcp:tools", "orders.read", "admin", "write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Orders MCP",
        "resource_documentation": "https://docs.example.test/",
    }


# -- the well-known URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "url"),
    [
        pytest.param(
            "https://api.example.com", "https://api.example.com/.well-known/oauth-protected-resource", id="host"
        ),
        pytest.param(
            "https://api.example.com/", "https://api.example.com/.well-known/oauth-protected-resource", id="host-slash"
        ),
        pytest.param(
            "https://api.example.com/mcp", "https://api.example.com/.well-known/oauth-protected-resource/mcp", id="path"
        ),
        pytest.param(
            "https://api.example.com:8443/v1/mcp/",
            "https://api.example.com:8443/.well-known/oauth-protected-resource/v1/mcp/",
            id="port-and-deep-path",
        ),
        pytest.param(
            "http://127.0.0.1:8000/mcp", "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp", id="loopback"
        ),
    ],
)
def test_the_well_known_suffix_goes_between_the_host_and_the_path(resource: str, url: str) -> None:
    assert metadata_url(resource) == url


def test_the_guard_builds_the_document_once_from_the_settings(issuer: DevIssuer) -> None:
    guard = Guard(_settings(issuer))
    assert guard.resource_metadata() == _document(issuer)
    assert guard.resource_metadata_path == WELL_KNOWN
    assert guard.resource_metadata_url == METADATA_URL
    guard.resource_metadata()["resource"] = "changed"  # a copy
    assert guard.resource_metadata()["resource"] == RESOURCE


def test_without_resource_there_is_no_document(issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings())
    assert guard.resource_metadata_path is None
    assert guard.resource_metadata_url is None
    with pytest.raises(ConfigurationError):
        guard.resource_metadata()


def test_bearer_methods_name_only_rfc_6750_methods(issuer: DevIssuer) -> None:
    both = Guard(_settings(issuer, token_sources=["authorization", QuerySource(), "cookie:at"]))
    assert both.resource_metadata()["bearer_methods_supported"] == ["header", "query"]
    cookies = Guard(_settings(issuer, token_sources=["cookie:at", "header:x-token"], trusted_proxies=["127.0.0.1"]))
    assert cookies.resource_metadata()["bearer_methods_supported"] == []


def test_issuer_templates_are_left_out_of_the_authorization_servers(issuer: DevIssuer) -> None:
    settings = Settings(
        resource=RESOURCE,
        audience="api",
        issuers=[
            {"issuer": issuer.issuer, "jwks_uri": issuer.jwks_uri},
            {"issuer": "https://login.example.test/{tenant}/v2.0", "tenants": ["t1"], "tenant_claim": "tid",
             "jwks_uri": "https://login.example.test/keys"},
        ],
    )  # fmt: skip
    document = Guard(settings).resource_metadata()
    assert document["authorization_servers"] == [issuer.issuer]
    assert "scopes_supported" not in document
    assert "resource_signing_alg_values_supported" not in document  # about the resource's own signed responses


def test_extra_members_replace_computed_ones(issuer: DevIssuer) -> None:
    settings = _settings(issuer, resource_metadata={"authorization_servers": ["https://as.example.test"]})
    assert Guard(settings).resource_metadata()["authorization_servers"] == ["https://as.example.test"]


# -- served on every stack ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_stack_serves_the_document_and_names_it_in_its_challenges(stack: str, issuer: DevIssuer) -> None:
    get = STACKS[stack](_settings(issuer))
    refused = get("/me", [])
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == f'Bearer realm="api", resource_metadata="{METADATA_URL}"'
    lacking = get("/me", [f"Bearer {issuer.token(scopes=['other'])}"])
    assert lacking.status == 403
    assert f'resource_metadata="{METADATA_URL}"' in lacking.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in lacking.headers["www-authenticate"]
    answer = get(WELL_KNOWN, [])
    if stack in ROUTES_FIRST:  # DRF alone has no middleware in front of its router: nothing serves the document
        assert answer.status == 404
        return
    assert answer.status == 200
    assert answer.body == _document(issuer)
    assert get(WELL_KNOWN, [], method="HEAD").status == 200
    assert get(WELL_KNOWN, ["Bearer not-even-a-token"]).status == 200  # never a token check
    refused_method = get(WELL_KNOWN, [], method="POST")
    assert refused_method.status == 405


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_challenges_have_no_resource_metadata_without_resource(stack: str, issuer: DevIssuer) -> None:
    get = STACKS[stack](issuer.settings())
    assert get("/me", []).headers["www-authenticate"] == 'Bearer realm="api"'
    assert get(WELL_KNOWN, []).status in (401, 404)  # an ordinary path


def _check_live(base: str, issuer: DevIssuer, prefix: str = "") -> None:
    with httpx.Client(base_url=base) as client:
        response = client.get(prefix + WELL_KNOWN, headers={"Origin": "https://inspector.example"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "public, max-age=3600"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.json() == _document(issuer)
        head = client.head(prefix + WELL_KNOWN)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == response.headers["content-length"]
        preflight = client.options(
            prefix + WELL_KNOWN,
            headers={"Origin": "https://inspector.example", "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "mcp-protocol-version"},
        )  # fmt: skip
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert preflight.headers["access-control-allow-headers"] == "*"
        put = client.put(prefix + WELL_KNOWN)
        assert put.status_code == 405
        assert put.headers["allow"] == "GET, HEAD, OPTIONS"
        challenge = client.get(prefix + "/me")
        assert challenge.status_code == 401
        assert f'resource_metadata="{METADATA_URL}"' in challenge.headers["www-authenticate"]


async def _me(request: Request) -> JSONResponse:
    user = request.scope.get("user")
    return JSONResponse({"sub": getattr(user, "subject", None)})


def test_served_by_the_asgi_middleware_under_uvicorn(issuer: DevIssuer) -> None:
    app = Starlette(routes=[Route("/me", _me)])
    app.add_middleware(JWTGuardMiddleware, settings=_settings(issuer))
    with live_server(app) as base:
        _check_live(base, issuer)


def _wsgi_me(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


def test_served_by_the_wsgi_middleware_under_werkzeug(issuer: DevIssuer) -> None:
    with live_wsgi_server(JWTGuardWSGIMiddleware(_wsgi_me, settings=_settings(issuer))) as base:
        _check_live(base, issuer)


def test_served_by_flask_under_werkzeug(issuer: DevIssuer) -> None:
    app = flask.Flask("jwtguard-rfc9728")
    jwtguard.flask.JWTGuard(app, settings=_settings(issuer))
    app.add_url_rule("/me", "me", lambda: {"sub": None})
    with live_wsgi_server(app) as base:
        _check_live(base, issuer)


def test_served_by_django_under_werkzeug(issuer: DevIssuer) -> None:
    configure_django()
    settings = _settings(issuer)
    values = {field.name.upper(): getattr(settings, field.name) for field in dataclasses.fields(Settings)}
    values["RULES"] = [str(rule) for rule in settings.route_rules]
    with override_settings(JWTGUARD=values, ALLOWED_HOSTS=["*"]), live_wsgi_server(WSGIHandler()) as base:
        _check_live(base, issuer)


# -- the full path, mount prefix included ------------------------------------------------------------


def _asgi_status(app: Any, path: str, root_path: str = "") -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "root_path": root_path, "headers": [],
             "query_string": b"", "client": ("127.0.0.1", 1), "scheme": "http", "http_version": "1.1"}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


@pytest.mark.parametrize(
    ("path", "root_path", "served"),
    [
        pytest.param(WELL_KNOWN, "", True, id="at-the-root"),
        # An app mounted at the well-known prefix: ASGI's path holds root_path (and older servers left it out).
        pytest.param(WELL_KNOWN, "/.well-known/oauth-protected-resource", True, id="mounted-path-with-root"),
        pytest.param("/mcp", "/.well-known/oauth-protected-resource", True, id="mounted-path-without-root"),
        # The route path alone is not the metadata path: the full path is what the resource's URL names.
        pytest.param("/prefix" + WELL_KNOWN, "/prefix", False, id="below-another-prefix"),
        pytest.param(WELL_KNOWN + "/more", "", False, id="longer"),
        pytest.param("/.well-known/oauth-protected-resource", "", False, id="without-the-resource-path"),
    ],
)
def test_asgi_matches_the_full_path(issuer: DevIssuer, path: str, root_path: str, served: bool) -> None:
    app = JWTGuardMiddleware(Starlette(routes=[Route("/{rest:path}", _me)]), settings=_settings(issuer))
    assert _asgi_status(app, path, root_path) == (200 if served else 401)


@pytest.mark.parametrize(
    ("script_name", "path_info", "served"),
    [
        pytest.param("", WELL_KNOWN, True, id="at-the-root"),
        pytest.param("/.well-known/oauth-protected-resource", "/mcp", True, id="mounted"),
        pytest.param("/prefix", WELL_KNOWN, False, id="below-another-prefix"),
    ],
)
def test_wsgi_matches_script_name_and_path_info(
    issuer: DevIssuer, script_name: str, path_info: str, served: bool
) -> None:
    app = JWTGuardWSGIMiddleware(_wsgi_me, settings=_settings(issuer))
    statuses: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": script_name, "PATH_INFO": path_info, "QUERY_STRING": "",
               "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http"}  # fmt: skip

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda data: None

    app(environ, start_response)
    assert statuses[0].startswith("200" if served else "401")


def test_a_mounted_starlette_app_with_the_resource_below_the_mount(issuer: DevIssuer) -> None:
    inner = Starlette(routes=[Route("/me", _me)])
    app = Starlette(routes=[Mount("/api", app=inner)])
    app.add_middleware(JWTGuardMiddleware, settings=_settings(issuer, resource="https://api.example.test/api"))
    with live_server(app) as base, httpx.Client(base_url=base) as client:
        response = client.get("/.well-known/oauth-protected-resource/api")
        assert response.status_code == 200
        assert response.json()["resource"] == "https://api.example.test/api"
        challenge = client.get("/api/me").headers["www-authenticate"]
        assert 'resource_metadata="https://api.example.test/.well-known/oauth-protected-resource/api"' in challenge


# -- the resource as an audience (RFC 8707) ----------------------------------------------------------


def test_a_token_for_the_resource_is_accepted_as_one_for_the_audience(issuer: DevIssuer) -> None:
    guard = Guard(_settings(issuer))
    assert guard.authenticate(f"Bearer {issuer.token(audience=RESOURCE, scopes=['mcp:tools'])}").subject == "user-1"
    assert guard.authenticate(f"Bearer {issuer.token(scopes=['mcp:tools'])}").subject == "user-1"
    with pytest.raises(Exception, match="aud"):
        guard.authenticate(f"Bearer {issuer.token(audience='https://other.example.test', scopes=['mcp:tools'])}")


def test_the_resource_may_stand_in_for_the_audience(issuer: DevIssuer) -> None:
    guard = Guard(Settings(issuer=issuer.issuer, jwks_uri=issuer.jwks_uri, resource=RESOURCE))
    assert guard.authenticate(f"Bearer {issuer.token(audience=RESOURCE)}").subject == "user-1"
    with pytest.raises(Exception, match="aud"):
        guard.authenticate(f"Bearer {issuer.token()}")


def test_any_audience_stays_any_audience(issuer: DevIssuer) -> None:
    settings = Settings(
        issuer=issuer.issuer, jwks_uri=issuer.jwks_uri, resource=RESOURCE, insecure_allow_any_audience=True
    )
    assert Guard(settings).authenticate(f"Bearer {issuer.token(audience='anything')}").subject == "user-1"


def test_the_challenge_quotes_the_url_in_one_place() -> None:
    from jwtguard.errors import TokenMissing

    assert (
        www_authenticate(TokenMissing(), None, 'https://x.test/a"b')
        == 'Bearer resource_metadata="https://x.test/a\\"b"'
    )


# -- the command -------------------------------------------------------------------------------------


@contextmanager
def _serving(body: bytes, content_type: str = "application/json", status: str = "200 OK") -> Iterator[str]:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    with live_wsgi_server(app) as base:
        yield base


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["resource-metadata", *args])
    return code, capsys.readouterr().out


def test_the_command_checks_a_live_servers_document(issuer: DevIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    # The resource is the live server's own URL: the app behind the server is set once its port is known.
    app = Starlette(routes=[Route("/me", _me)])
    holder: dict[str, Any] = {}

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    with live_server(asgi) as base:
        holder["app"] = JWTGuardMiddleware(app, settings=_settings(issuer, resource=base + "/mcp"))
        code, out = _run(capsys, base + "/mcp")
        assert code == 0, out
        assert "VALID" in out
        assert "authorization_servers" in out
        assert issuer.issuer in out
        code, out = _run(capsys, base + WELL_KNOWN, "--json")
        assert code == 0
        report = json.loads(out)
        assert report["valid"] is True
        assert report["document"]["resource"] == base + "/mcp"
        assert report["document"]["scopes_supported"] == ["mcp:tools", "orders.read", "admin", "write"]


def test_the_command_refuses_a_document_for_another_resource(capsys: pytest.CaptureFixture[str]) -> None:
    body = json.dumps({"resource": "https://elsewhere.example.test/mcp", "authorization_servers": ["http://as.example"],
                       "bearer_methods_supported": ["header", "cookie"], "x-custom": 1}).encode()  # fmt: skip
    with _serving(body) as base:
        code, out = _run(capsys, base + "/mcp", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    problems = " ".join(report["problems"])
    assert "RFC 9728 §3.3" in problems
    assert "'authorization_servers' must list https URLs" in problems
    assert "'bearer_methods_supported' may list only" in problems
    assert "x-custom" not in problems  # unknown members are allowed


def test_the_command_needs_resource(capsys: pytest.CaptureFixture[str]) -> None:
    with _serving(b'{"resource_name": 3}') as base:
        code, out = _run(capsys, base + WELL_KNOWN)
    assert code == 1
    assert "'resource' is missing" in out
    assert "'resource_name' must be a string" in out
    assert "INVALID" in out


def test_the_command_says_when_the_answer_is_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    with _serving(b"not json", content_type="text/plain") as base:
        code, out = _run(capsys, base + "/mcp", "--json")
    assert code == 1
    assert json.loads(out)["reachable"] is True
    with _serving(b"<!doctype html><p>hi", content_type="text/html") as base:
        code, out = _run(capsys, base + "/mcp")
    assert code == 1
    assert "HTML" in out


def test_the_command_exits_3_when_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    url = dead_url().replace("/.well-known/jwks.json", "/mcp")
    code, out = _run(capsys, url, "--timeout", "2")
    assert code == 3
    assert "UNREACHABLE" in out
    code, out = _run(capsys, url, "--json")
    assert code == 3
    assert json.loads(out)["reachable"] is False


@pytest.mark.parametrize(
    "url",
    ["http://api.example.test/mcp", "https://api.example.test/mcp?x=1", "https://api.example.test/mcp#f", "mcp"],
)
def test_the_command_refuses_urls_it_would_not_fetch(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resource-metadata", url]) == 2
    assert main(["resource-metadata"]) == 2


# -- settings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"resource": "http://api.example.test/mcp"}, "must be an https:// URL", id="plain-http"),
        pytest.param({"resource": "https://api.example.test/mcp?tenant=1"}, "no query or fragment", id="query"),
        pytest.param({"resource": "https://api.example.test/mcp#x"}, "no query or fragment", id="fragment"),
        pytest.param({"resource": "https://user:pw@api.example.test/"}, "userinfo", id="userinfo"),
        pytest.param({"resource": ""}, "resource must be the resource's URL", id="empty"),
        pytest.param({"resource_metadata": {"resource": "https://x.test"}}, "cannot set 'resource'", id="resource"),
        pytest.param({"resource_metadata": {"resource_name": object()}}, "must be JSON", id="not-json"),
        pytest.param({"resource_metadata": {"resource_name": float("nan")}}, "must be JSON", id="nan"),
        pytest.param({"resource_metadata": {"resource_name": 3}}, "'resource_name' must be a string", id="type"),
        pytest.param({"resource_metadata": ["resource_name"]}, "must map member names", id="not-a-mapping"),
        pytest.param(
            {"resource": None, "resource_metadata": {"resource_name": "x"}},
            "resource_metadata needs resource",
            id="alone",
        ),
    ],
)
def test_settings_refuse(issuer: DevIssuer, overrides: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"resource": RESOURCE, **overrides}
    with pytest.raises(ConfigurationError, match=message.replace("?", r"\?")):
        issuer.settings(**values)


def test_settings_from_the_environment(issuer: DevIssuer) -> None:
    settings = Settings.from_env(
        {
            "JWTGUARD_ISSUER": issuer.issuer,
            "JWTGUARD_JWKS_URI": issuer.jwks_uri,
            "JWTGUARD_RESOURCE": "http://localhost:8000/mcp",
            "JWTGUARD_RESOURCE_METADATA": '{"resource_name": "Orders", "resource_name#de": "Bestellungen"}',
        }
    )
    assert settings.resource == "http://localhost:8000/mcp"
    assert settings.resource_metadata == {"resource_name": "Orders", "resource_name#de": "Bestellungen"}
    assert Guard(settings).resource_metadata_path == WELL_KNOWN
    with pytest.raises(ConfigurationError, match="not a JSON object"):
        Settings.from_env({"JWTGUARD_ISSUER": issuer.issuer, "JWTGUARD_JWKS_URI": issuer.jwks_uri,
                           "JWTGUARD_RESOURCE": RESOURCE, "JWTGUARD_RESOURCE_METADATA": "{"})  # fmt: skip


def test_with_dpop_the_document_names_proof_algorithms_and_each_challenge_the_metadata() -> None:
    from jwtguard import Guard, Settings
    from jwtguard.errors import TokenMissing

    for mode, required in (("allowed", False), ("required", True)):
        settings = Settings(
            issuer="https://id.example.com",
            jwks_uri="https://id.example.com/jwks",
            resource="https://api.example.com/mcp",
            dpop=mode,
            dpop_algorithms=["ES256"],
        )
        guard = Guard(settings)
        document = guard.resource_metadata()
        assert document["dpop_signing_alg_values_supported"] == ["ES256"]
        assert document["dpop_bound_access_tokens_required"] is required
        challenge = dict(guard.render(TokenMissing()).headers)["www-authenticate"]
        url = "https://api.example.com/.well-known/oauth-protected-resource/mcp"
        expected = 1 if required else 2  # the DPoP challenge alone, or the Bearer one too
        assert challenge.count(f'resource_metadata="{url}"') == expected
        assert challenge.count("DPoP ") == 1
