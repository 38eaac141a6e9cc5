"""The README's quick starts, pasted as a new user would, against a local issuer instead of a real tenant."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from jwtguard import AudienceInvalid, Guard, JWTGuardMiddleware
from jwtguard.testing import DevIssuer, KeyServer, SigningKey

from .providers import all_providers
from .recipes import blocks, local_settings, sign

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
PLACEHOLDER_ISSUER = "https://your-tenant.eu.auth0.com/"
AUDIENCE = "https://orders.example.com"


def quickstart(name: str, issuer: DevIssuer | None = None) -> str:
    match = re.search(rf"<!-- quickstart: {re.escape(name)} -->\n```python\n(.*?)```", README, re.DOTALL)
    assert match is not None, f"README has no quick start {name!r}"
    code = match.group(1)
    if issuer is None:
        return code
    assert PLACEHOLDER_ISSUER in code or name in ("fastapi", "django-views", "django-urls", "drf-views", "drf-urls")
    return code.replace(PLACEHOLDER_ISSUER, issuer.issuer)


@pytest.fixture
def readme_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience=AUDIENCE, keys=[signing_keys["RS256"]]) as issuer:
        yield issuer


def run_block(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "readme_quickstart"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102  # our own README
    return namespace


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_starlette_quickstart(readme_issuer: DevIssuer) -> None:
    app = run_block(quickstart("starlette", readme_issuer))["app"]
    with TestClient(app) as client:
        assert client.get("/me", headers=auth(readme_issuer.token(subject="ann"))).json()["sub"] == "ann"
        assert client.get("/orders", headers=auth(readme_issuer.token(scopes=["orders:read"]))).status_code == 200
        assert client.get("/orders", headers=auth(readme_issuer.token())).json()["code"] == "insufficient_scope"
    assert readme_issuer.server.hits["/.well-known/openid-configuration"] == 1


def test_fastapi_quickstart(readme_issuer: DevIssuer) -> None:
    app = run_block(quickstart("fastapi", readme_issuer))["app"]
    with TestClient(app) as client:
        ok = client.get("/orders", headers=auth(readme_issuer.token(subject="ann", scopes=["orders:read"])))
        assert ok.json() == {"for": "ann"}
        assert client.get("/orders", headers=auth(readme_issuer.token())).json()["code"] == "insufficient_scope"
        assert client.get("/orders").json()["code"] == "token_missing"
        assert client.get("/me", headers=auth(readme_issuer.token(subject="bo"))).json() == {"sub": "bo"}
        admin = auth(readme_issuer.token(subject="cy", roles=["orders-admin"]))
        assert client.delete("/orders/7", headers=admin).json() == {"cancelled": 7, "by": "cy"}
        writer = auth(readme_issuer.token(subject="dee", scopes=["orders:write"]))
        assert client.delete("/orders/7", headers=writer).json() == {"cancelled": 7, "by": "dee"}
        refused = client.delete("/orders/7", headers=auth(readme_issuer.token(scopes=["orders:read"])))
        assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")

        document = client.get("/openapi.json").json()  # no token: the documentation is public
        assert client.get("/docs").status_code == 200
    scheme = document["components"]["securitySchemes"]["OpenIdConnect"]
    assert scheme == {
        "type": "openIdConnect",
        "openIdConnectUrl": readme_issuer.issuer + "/.well-known/openid-configuration",
    }
    paths = document["paths"]
    assert paths["/me"]["get"]["security"] == [{"OpenIdConnect": []}]
    assert paths["/orders"]["get"]["security"] == [{"OpenIdConnect": ["orders:read"]}]
    assert paths["/orders/{order_id}"]["delete"]["security"] == [
        {"OpenIdConnect": []},
        {"OpenIdConnect": ["orders:write"]},
    ]
    assert paths["/orders/{order_id}"]["delete"]["x-jwtguard-requirement"] == "role:orders-admin | scope:orders:write"
    assert app.swagger_ui_init_oauth == {"usePkceWithAuthorizationCodeGrant": True, "clientId": "orders-docs"}


def test_flask_quickstart(readme_issuer: DevIssuer) -> None:
    app = run_block(quickstart("flask", readme_issuer))["app"]
    client = app.test_client()
    assert client.get("/me", headers=auth(readme_issuer.token(subject="ann"))).json == {"sub": "ann"}
    assert client.get("/me").json["code"] == "token_missing"
    granted = client.get("/orders", headers=auth(readme_issuer.token(subject="ann", scopes=["orders:read"])))
    assert granted.json == {"orders": [], "for": "ann"}
    refused = client.get("/orders", headers=auth(readme_issuer.token()))
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"].endswith('scope="orders:read"')


DJANGO_CLIENT = """
import json, sys
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.test import Client
client = Client(enforce_csrf_checks=True)  # as a browser meets Django's CSRF check
answers = []
for request in sys.argv[1:]:
    method, _, token = request.partition(" ")
    headers = {"Authorization": "Bearer " + token} if token else {}
    response = client.generic(method, "/orders", headers=headers)
    answers.append([response.status_code, json.loads(response.content)])
print(json.dumps(answers))
"""


def new_project(name: str, prefix: str, issuer: DevIssuer, directory: Path) -> Path:
    """What a new user does: django-admin startproject, then paste the three snippets. The project's package."""
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", name], cwd=directory, check=True, capture_output=True
    )
    package = directory / name / name
    with (package / "settings.py").open("a", encoding="utf-8") as settings_file:
        settings_file.write("\n" + quickstart(f"{prefix}-settings", issuer))
    (package / "views.py").write_text(quickstart(f"{prefix}-views", issuer), encoding="utf-8")
    (package / "urls.py").write_text(quickstart(f"{prefix}-urls", issuer), encoding="utf-8")
    return package


def ask(package: Path, *requests: str) -> list[list[Any]]:
    """Send each "METHOD token" (or "METHOD" alone) to /orders of the project: [status, body] each."""
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_CLIENT, *requests],
        cwd=package.parent,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": f"{package.name}.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers: list[list[Any]] = json.loads(result.stdout)
    return answers


def test_django_quickstart_in_a_new_project(readme_issuer: DevIssuer, tmp_path: Path) -> None:
    package = new_project("mysite", "django", readme_issuer, tmp_path)
    granted = readme_issuer.token(subject="ann", scopes=["orders:read"])
    answers = ask(
        package,
        f"GET {granted}",
        f"POST {granted}",  # startproject's CsrfViewMiddleware: the bearer token is the credential
        f"GET {readme_issuer.token(subject='bob')}",
        f"GET {readme_issuer.token(expires_in=-600)}",
        "GET",
    )
    assert answers[:2] == [[200, {"orders": [], "for": "ann"}]] * 2
    assert [status for status, _ in answers[2:]] == [403, 401, 401]
    assert [body["code"] for _, body in answers[2:]] == ["insufficient_scope", "token_expired", "token_missing"]


def test_drf_quickstart_in_a_new_project(readme_issuer: DevIssuer, tmp_path: Path) -> None:
    package = new_project("drfsite", "drf", readme_issuer, tmp_path)
    granted = readme_issuer.token(subject="ann", scopes=["orders:read"])
    answers = ask(
        package,
        f"GET {granted}",
        f"POST {granted}",
        f"GET {readme_issuer.token(subject='bob')}",
        f"POST {readme_issuer.token(subject='bob')}",
        f"GET {readme_issuer.token(expires_in=-600)}",
        "GET",
        "POST",
    )
    assert answers[:2] == [[200, {"orders": [], "for": "ann"}], [201, {"created": {}, "by": "ann"}]]
    assert [(status, body["code"]) for status, body in answers[2:]] == [
        (403, "insufficient_scope"),
        (403, "insufficient_scope"),
        (401, "token_expired"),
        (401, "token_missing"),
        (401, "token_missing"),
    ]


# The quick starts whose code is a whole module, and what they are checked as.
TYPED_QUICKSTARTS = ("starlette", "fastapi", "flask", "authorize")
# What `django-admin startproject` defines before the settings snippets, with their types.
STARTPROJECT_SETTINGS = "INSTALLED_APPS: list[str] = []\nMIDDLEWARE: list[str] = []\n"


def test_the_quick_starts_pass_mypy_strict(tmp_path: Path) -> None:
    from mypy import api

    import jwtguard

    sources = {f"{name}_quickstart.py": quickstart(name) for name in TYPED_QUICKSTARTS}
    for prefix in ("django", "drf"):  # a project's package: `from . import views` needs one
        sources[f"{prefix}_project/__init__.py"] = ""
        sources[f"{prefix}_project/settings.py"] = STARTPROJECT_SETTINGS + quickstart(f"{prefix}-settings")
        sources[f"{prefix}_project/views.py"] = quickstart(f"{prefix}-views")
        sources[f"{prefix}_project/urls.py"] = quickstart(f"{prefix}-urls")
    for name, code in sources.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(code, encoding="utf-8")
    files = [str(tmp_path / name) for name in sources if not name.endswith("__init__.py")]
    # The jwtguard under test, ahead of any installed copy.
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {Path(jwtguard.__file__).parent.parent}\n", encoding="utf-8")
    report, errors, status = api.run(["--strict", "--config-file", str(config), "--cache-dir", os.devnull, *files])
    assert status == 0, report + errors


def test_several_issuers_example(signing_keys: dict[str, SigningKey]) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.identity)

    with (
        DevIssuer(audience="orders-api", keys=[signing_keys["RS256"]]) as tenant_a,
        DevIssuer(audience="orders") as tenant_b,
    ):
        match = re.search(r"<!-- quickstart: issuers -->\n```python\n(.*?)```", README, re.DOTALL)
        assert match is not None
        code = match.group(1)
        code = code.replace("https://sso.example.com/realms/tenant-a", tenant_a.issuer)
        code = code.replace("https://sso.example.com/realms/tenant-b", tenant_b.issuer)
        app = Starlette(routes=[Route("/", whoami)])
        exec(compile(code, "README.md", "exec"), {"app": app})  # noqa: S102  # our own README
        with TestClient(app) as client:
            assert client.get("/", headers=auth(tenant_a.token(subject="a-user"))).text == "a-user"
            assert client.get("/", headers=auth(tenant_b.token(subject="b-user"))).text == "b-user"
            # A tenant-b token for tenant-a's audience is refused: each issuer has its own audience.
            wrong = client.get("/", headers=auth(tenant_b.token(audience="orders-api")))
            assert wrong.json()["code"] == "audience_invalid"


def demo_app(settings: Any) -> Any:
    """The app the testing examples call `create_app`: the demo's Starlette app."""
    from example_app.app import create_app

    return create_app(settings)


def test_the_testing_examples_run_as_written() -> None:
    namespace = run_block(quickstart("testing"))
    namespace["create_app"] = demo_app
    namespace["test_orders_needs_a_scope"]()

    namespace = run_block(quickstart("fixture"))
    namespace["create_app"] = demo_app
    namespace["TestClient"] = TestClient
    fixture = namespace["issuer"].__wrapped__()  # the generator under @pytest.fixture
    issuer = next(fixture)
    try:
        namespace["test_expired_tokens_are_refused"](issuer)
    finally:
        fixture.close()


def test_the_per_route_rules_example(readme_issuer: DevIssuer) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.identity if request.user.is_authenticated else "anonymous")

    app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE"])])
    namespace: dict[str, Any] = {"app": app}
    exec(compile(quickstart("rules", readme_issuer), "README.md", "exec"), namespace)  # noqa: S102  # our own README
    roles = "https://orders.example.com/roles"
    reader_roles: dict[str, Any] = {roles: ["orders-reader"]}
    wrong_shape: dict[str, Any] = {roles: 5}
    reader = readme_issuer.token(subject="ann", **reader_roles)
    scoped = readme_issuer.token(subject="bob", scopes=["orders.read"])
    writer = readme_issuer.token(subject="cy", permissions=["write:orders"])
    plain = readme_issuer.token(subject="dee")

    def code(method: str, path: str, token: str | None = None) -> object:
        response = TestClient(app).request(method, path, headers=auth(token) if token else {})
        return response.text if response.status_code == 200 else (response.status_code, response.json()["code"])

    assert code("GET", "/health") == code("GET", "/docs/api") == "anonymous"  # public: no token read
    assert code("GET", "/orders/42", reader) == "ann"
    assert code("GET", "/orders", scoped) == "bob"  # the prefix itself
    assert code("GET", "/orders/42", plain) == (403, "insufficient_scope")  # a scope alone would meet it
    assert code("POST", "/orders/42", reader) == (403, "insufficient_role")
    assert code("DELETE", "/orders/42", writer) == "cy"
    assert code("GET", "/catalog/shoes") == "anonymous"
    assert code("GET", "/catalog/shoes", plain) == "dee"
    assert code("GET", "/catalog/shoes", readme_issuer.token(expires_in=-600)) == (401, "token_expired")
    assert code("POST", "/catalog/shoes") == (401, "token_missing")  # no rule for POST: a valid token
    assert code("GET", "/profile", plain) == "dee"
    assert code("GET", "/orders/%2e%2e/health", reader) == (400, "invalid_request")  # the client would remove ".."
    assert code("GET", "/docs//api") == (400, "invalid_request")
    assert code("GET", "/orders/42", readme_issuer.token(**wrong_shape)) == (401, "claim_invalid")

    # The environment and Django forms of the same rules.
    from jwtguard import Settings

    settings = namespace["settings"]
    match = re.search(r"^JWTGUARD_RULES='(.*)'$", README, re.MULTILINE)
    assert match is not None
    assert Settings.from_env({"JWTGUARD_RULES": match.group(1)}, **_without(settings, "rules")) == settings
    django = run_block(quickstart("django-rules", readme_issuer))["JWTGUARD"]
    assert Settings.from_mapping(django) == settings


def _without(settings: Any, name: str) -> dict[str, Any]:
    import dataclasses

    return {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings) if field.name != name}


def test_a_get_rule_decides_websocket_handshakes_as_the_readme_says(readme_issuer: DevIssuer) -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.testclient import WebSocketDenialResponse
    from starlette.websockets import WebSocket

    async def hello(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    viewer = auth(readme_issuer.token(roles=["viewer"]))
    outcomes = []
    for methods in ("GET,HEAD", "WEBSOCKET", "*"):
        app = Starlette(routes=[WebSocketRoute("/admin/ws", hello)])
        rules = [f"{methods} /admin/* role:admin"]
        app.add_middleware(JWTGuardMiddleware, settings=readme_issuer.settings(role_claims=["roles"], rules=rules))
        try:
            with TestClient(app).websocket_connect("/admin/ws", headers=viewer):
                outcomes.append("accepted")
        except WebSocketDenialResponse:
            outcomes.append("refused")
    assert outcomes == ["refused", "refused", "refused"]


# -- Identity providers: each block as a user pastes it, the keys served locally -----------------------------------

NOW = 1_760_000_000
PROVIDERS = {provider.name: provider for provider in all_providers(NOW)}
PROVIDER_BLOCKS = blocks("README.md")


def test_the_readme_configures_every_provider_but_the_entra_variants() -> None:
    assert sorted(PROVIDER_BLOCKS) == sorted(set(PROVIDERS) - {"entra-v1", "entra-multi-tenant"})


@pytest.mark.parametrize("name", sorted(PROVIDER_BLOCKS))
def test_each_identity_provider_block_accepts_that_providers_tokens(
    name: str, signing_keys: dict[str, SigningKey]
) -> None:
    provider = PROVIDERS[name]
    key = dataclasses.replace(signing_keys["RS256"], kid=provider.kid)
    with KeyServer({"keys": [key.public_jwk()]}) as server:
        settings = local_settings(PROVIDER_BLOCKS[name], f"README.md: {name}", server.jwks_uri)
        # The same issuer settings as the recipe in docs/providers.md, whose tests go further.
        recipe = local_settings(blocks("docs/providers.md")[name], f"docs/providers.md: {name}", server.jwks_uri)
        assert settings.trusted_issuers == recipe.trusted_issuers
        guard = Guard(settings, clock=lambda: NOW)
        try:
            principal = guard.authenticate(f"Bearer {sign(key, provider.valid)}")
            assert principal.subject == provider.valid.claims["sub"]
            assert principal.roles >= ({provider.required_role} if provider.required_role else set())
            assert bool(principal.roles) == bool(provider.required_role)
            assert principal.permissions == frozenset(provider.valid.claims.get("permissions", ()))
            with pytest.raises(AudienceInvalid):
                guard.authenticate(f"Bearer {sign(key, provider.wrong_audience)}")
        finally:
            guard.close()


def test_every_install_line_installs_from_a_checkout_or_a_wheel() -> None:
    # No release on the package index yet, and `jwtguard` there is another project: never `pip install jwtguard`.
    root = Path(__file__).resolve().parent.parent
    documents = [
        "README.md",
        "BENCHMARKS.md",
        "SECURITY.md",
        "CHANGELOG.md",
        "docs/troubleshooting.md",
        "docs/providers.md",
    ]
    lines = [
        (name, line.strip())
        for name in documents
        for line in (root / name).read_text(encoding="utf-8").splitlines()
        if re.search(r"\bpip install\b", line)
    ]
    assert len([name for name, _ in lines if name == "README.md"]) >= 7
    for name, line in lines:
        for command in re.findall(r"pip install ([^`#\n]*)", line):
            targets = [word.strip("'\"") for word in command.split() if not word.startswith("-")]
            assert targets, f"{name}: {line}"
            for target in targets:
                assert target.startswith((".", "dist/")), f"{name} installs {target!r} from the index: {line}"
                assert not target.startswith("jwtguard"), f"{name}: {line}"
