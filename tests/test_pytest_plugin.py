"""jwtguard's pytest plugin: inert until enabled, fixtures that do what they say, and a principal override that
decides requests the way the guard does, but for the token, and cannot run outside a test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from jwtguard import (
    AuthError,
    Guard,
    JWTGuardMiddleware,
    JWTGuardWSGIMiddleware,
    Principal,
    RequestInfo,
    Settings,
    authorize,
)
from jwtguard.pytest_plugin import TokenFactory, authenticate_as, principal_for
from jwtguard.testing import DevIssuer

from .conftest import records
from .test_readme import quickstart

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """pytest in `folder`, a project of its own, with this checkout's jwtguard importable."""
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    for name in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "PYTEST_PLUGINS"):
        environ.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *args],
        cwd=folder,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def passed(result: subprocess.CompletedProcess[str], count: int) -> bool:
    return result.returncode == 0 and f"{count} passed" in result.stdout


# -- enabling ---------------------------------------------------------------------------------------------------


PROBE = """
import sys

import pytest


def test_probe(request):
    print("jwtguard imported:", "jwtguard" in sys.modules)
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue("jwtguard_tokens")
"""

USES_THE_PLUGIN = """
def test_tokens(jwtguard_tokens, jwtguard_settings):
    assert jwtguard_tokens.issuer.issuer == jwtguard_settings.issuer[0]
"""


def test_the_entry_point_is_declared_and_names_an_inert_module() -> None:
    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '\n[project.entry-points.pytest11]\njwtguard = "_jwtguard_pytest"\n' in project
    # A module beside the package, so that loading it imports nothing of jwtguard; and it ships in the wheel.
    assert (ROOT / "_jwtguard_pytest.py").is_file()
    assert '[tool.hatch.build.targets.wheel.force-include]\n"_jwtguard_pytest.py" = "_jwtguard_pytest.py"\n' in project


def _installed() -> bool:
    """Whether this jwtguard is installed with its entry point (pytest then loads it in every run)."""
    import importlib.metadata

    return any(entry.value == "_jwtguard_pytest" for entry in importlib.metadata.entry_points(group="pytest11"))


# Where jwtguard is not installed with its entry point, `-p _jwtguard_pytest` loads the module as pytest loads it.
ENTRY_POINT: tuple[str, ...] = () if _installed() else ("-p", "_jwtguard_pytest")


def test_loaded_as_an_entry_point_the_plugin_imports_nothing_and_adds_no_fixture(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    result = run_pytest(tmp_path, "-s", *ENTRY_POINT)
    assert passed(result, 1), result.stdout + result.stderr
    assert "jwtguard imported: False" in result.stdout


@pytest.mark.parametrize(
    ("args", "conftest"),
    [
        # `-p jwtguard` names the installed entry point.
        pytest.param((*ENTRY_POINT, "-p", "jwtguard"), "", id="-p jwtguard"),
        pytest.param(("-p", "jwtguard.pytest_plugin"), "", id="-p jwtguard.pytest_plugin"),
        pytest.param((), 'pytest_plugins = ["jwtguard.pytest_plugin"]\n', id="conftest"),
    ],
)
def test_the_plugin_is_enabled_by_name(tmp_path: Path, args: tuple[str, ...], conftest: str) -> None:
    (tmp_path / "conftest.py").write_text(conftest, encoding="utf-8")
    (tmp_path / "test_tokens.py").write_text(USES_THE_PLUGIN, encoding="utf-8")
    result = run_pytest(tmp_path, *args)
    assert passed(result, 1), result.stdout + result.stderr


# -- the fixtures -----------------------------------------------------------------------------------------------


async def _whoami(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {"sub": user.identity, "roles": sorted(user.roles), "permissions": sorted(user.permissions)}
        if user.is_authenticated
        else {"sub": None}
    )


@authorize("role:admin")
async def _admin(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


def starlette_app(settings: Settings) -> Starlette:
    app = Starlette(routes=[Route("/me", _whoami), Route("/admin", _admin), Route("/health", _whoami)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app


def test_the_tokens_fixture_mints_what_it_says(jwtguard_settings: Settings, jwtguard_tokens: TokenFactory) -> None:
    client = TestClient(starlette_app(jwtguard_settings))

    def code(token: str) -> Any:
        response = client.get("/me", headers=jwtguard_tokens.headers(token))
        return response.json() if response.status_code == 200 else response.json()["code"]

    token = jwtguard_tokens.valid("ann", scopes=["orders:read"], roles=["admin"], permissions=["write:orders"])
    assert code(token) == {"sub": "ann", "roles": ["admin"], "permissions": ["write:orders"]}
    assert code(jwtguard_tokens.expired("ann")) == "token_expired"
    assert code(jwtguard_tokens.wrong_audience("ann")) == "audience_invalid"
    assert code(jwtguard_tokens.wrong_issuer("ann")) == "issuer_invalid"
    principal = Guard(jwtguard_settings).authenticate(f"Bearer {jwtguard_tokens.valid('ann', tid='acme')}")
    assert (principal.claims["tid"], principal.scopes) == ("acme", frozenset())


def test_the_settings_come_in_every_form(
    jwtguard_settings: Settings, jwtguard_config: dict[str, str], jwtguard_env: dict[str, str]
) -> None:
    assert Settings.from_mapping(jwtguard_config) == jwtguard_settings
    assert Settings.from_env() == jwtguard_settings  # jwtguard_env set the variables
    assert jwtguard_env == {f"JWTGUARD_{name}": value for name, value in jwtguard_config.items()}
    assert os.environ["JWTGUARD_ISSUER"] == jwtguard_config["ISSUER"]


@pytest.fixture
def jwtguard_audience() -> str:
    return "https://orders.example.test"


def test_a_fixture_named_jwtguard_audience_changes_the_audience(jwtguard_issuer: DevIssuer) -> None:
    # This module's own jwtguard_audience overrides the plugin's, as a user's conftest would.
    assert jwtguard_issuer.audience == "https://orders.example.test"


# -- the principal override ---------------------------------------------------------------------------------------


def test_every_stack_sees_the_principal(jwtguard_authenticate_as: Callable[..., Principal]) -> None:
    production = Settings(issuer="https://id.example.com/", audience="https://api.example.com", discovery=True)
    client = TestClient(starlette_app(production))
    assert client.get("/me").json()["code"] == "token_missing"
    ann = jwtguard_authenticate_as("ann", scopes=["orders:read"], roles=["admin"], tid="acme")
    assert (ann.subject, ann.claims["tid"]) == ("ann", "acme")
    assert (ann.scopes, ann.roles) == (frozenset({"orders:read"}), frozenset({"admin"}))
    assert client.get("/me").json() == {"sub": "ann", "roles": ["admin"], "permissions": []}
    assert client.get("/admin", headers={"Authorization": "Bearer whatever"}).json() == {"sub": "ann"}
    jwtguard_authenticate_as("bob")  # switches
    assert client.get("/admin").json()["code"] == "insufficient_role"
    # WSGI, and the core's own faces.
    wsgi = JWTGuardWSGIMiddleware(lambda environ, start: [environ["jwtguard.principal"].subject.encode()], production)
    assert b"".join(wsgi({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, _no_response)) == b"bob"
    guard = Guard(production)
    assert guard.authenticate(None).subject == "bob"
    assert anyio.run(guard.aauthenticate, None).subject == "bob"


def _no_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
    raise AssertionError(f"the app was not called: {status}")


def test_the_override_ends_with_the_test_or_the_block() -> None:
    production = Settings(issuer="https://id.example.com/", audience="https://api.example.com", discovery=True)
    guard = Guard(production)
    with authenticate_as(principal_for("ann")):
        assert guard.check_request(RequestInfo("GET", "/", None)) is not None
    with pytest.raises(AuthError):
        guard.check_request(RequestInfo("GET", "/", None))


def test_the_override_refuses_to_run_outside_a_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    with pytest.raises(RuntimeError, match="only inside a pytest test"), authenticate_as(principal_for("ann")):
        pass  # pragma: no cover  # never entered


def test_the_override_takes_a_principal_or_its_parts() -> None:
    principal = Principal({"sub": "ann", "scope": "a b"}, roles=["admin"])
    assert principal_for(principal) is principal
    assert principal_for("ann", scopes=["a", "b"], roles=["admin"]).scopes == principal.scopes
    with pytest.raises(TypeError, match="either a Principal"):
        principal_for(principal, scopes=["a"])
    with pytest.raises(TypeError, match="takes a Principal"), authenticate_as("ann"):  # type: ignore[arg-type]
        pass  # pragma: no cover  # never entered


# The guard's own decision with a valid token for these claims, and the override's for the same principal, for
# every part of the request policy: they agree, but where no token is read at all.
RULES = ["* /health public", "GET /public/* anonymous", "* /admin/* role:admin", "GET /orders/* scope:orders.read"]
POLICIES: dict[str, dict[str, Any]] = {
    "plain": {},
    "rules": {"rules": RULES, "role_claims": ["roles"]},
    "required-scopes": {"required_scopes": ["api"]},
    "excluded": {"exclude_paths": ["/health", "/docs/*"]},
    "anonymous": {"allow_anonymous": True},
    "preflights": {"cors_preflight": True},
}
REQUESTS: dict[str, RequestInfo] = {
    "me": RequestInfo("GET", "/me", None),
    "health": RequestInfo("GET", "/health", None),
    "docs": RequestInfo("GET", "/docs/api", None),
    "public": RequestInfo("GET", "/public/x", None),
    "admin": RequestInfo("POST", "/admin/x", None),
    "orders": RequestInfo("GET", "/orders/1", None),
    "unsafe": RequestInfo("GET", "/admin//x", None),
    "token-in-url": RequestInfo("GET", "/me", None, query_string="access_token=x"),
    "preflight": RequestInfo("OPTIONS", "/me", None, origin="http://127.0.0.1:5173", preflight=True),
}
PRINCIPALS: dict[str, dict[str, Any]] = {
    "plain": {},
    "admin": {"roles": ["admin"], "scopes": ["api"]},
    "reader": {"scopes": ["orders.read", "api"]},
}


def _outcome(guard: Guard, request: RequestInfo) -> str | None:
    try:
        principal = guard.check_request(request)
    except AuthError as exc:
        return exc.code
    return None if principal is None else principal.subject


async def _aoutcome(guard: Guard, request: RequestInfo) -> str | None:
    try:
        principal = await guard.acheck_request(request)
    except AuthError as exc:
        return exc.code
    return None if principal is None else principal.subject


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("who", PRINCIPALS)
def test_the_override_decides_as_a_valid_token_would(
    jwtguard_issuer: DevIssuer, jwtguard_tokens: TokenFactory, policy: str, who: str
) -> None:
    guard = Guard(jwtguard_issuer.settings(**POLICIES[policy]))
    token = f"Bearer {jwtguard_tokens.valid('ann', **PRINCIPALS[who])}"
    # A browser sends no token with a preflight; with cors_preflight, such a preflight is what passes.
    preflights_pass = POLICIES[policy].get("cors_preflight", False)
    with_token = {
        name: _outcome(
            guard, request if request.preflight and preflights_pass else request._replace(authorization=(token,))
        )
        for name, request in REQUESTS.items()
    }
    with authenticate_as(principal_for("ann", **PRINCIPALS[who])):
        overridden = {name: _outcome(guard, request) for name, request in REQUESTS.items()}
        assert anyio.run(_aoutcome, guard, REQUESTS["me"]) == overridden["me"]
    assert overridden == with_token


def test_the_overrides_refusals_are_logged_as_any(
    jwtguard_logs: pytest.LogCaptureFixture, jwtguard_authenticate_as: Callable[..., Principal]
) -> None:
    guard = Guard(Settings(issuer="https://id.example.com/", audience="a", discovery=True, required_scopes=["api"]))
    jwtguard_authenticate_as("ann")
    with pytest.raises(AuthError):
        guard.check_request(RequestInfo("GET", "/me", None))
    assert [record["code"] for record in records(jwtguard_logs)] == ["insufficient_scope"]


# -- the README's testing section, run as a user's test suite ---------------------------------------------------------


def test_the_readme_examples_pass_as_test_files(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(quickstart("plugin-conftest"), encoding="utf-8")
    for framework in ("fastapi", "starlette", "flask"):
        (tmp_path / f"test_{framework}.py").write_text(quickstart(f"plugin-{framework}"), encoding="utf-8")
    result = run_pytest(tmp_path)
    assert passed(result, 6), result.stdout + result.stderr


def test_the_readme_django_example_passes_in_the_quick_start_project(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite"], cwd=tmp_path, check=True, capture_output=True
    )
    project = tmp_path / "mysite"
    package = project / "mysite"
    with (package / "settings.py").open("a", encoding="utf-8") as settings_file:
        settings_file.write("\n" + quickstart("django-settings"))  # the placeholder issuer: production settings
    (package / "views.py").write_text(quickstart("django-views"), encoding="utf-8")
    (package / "urls.py").write_text(quickstart("django-urls"), encoding="utf-8")
    (project / "conftest.py").write_text(quickstart("plugin-django-conftest"), encoding="utf-8")
    (project / "test_orders.py").write_text(quickstart("plugin-django"), encoding="utf-8")
    result = run_pytest(project, env={"DJANGO_SETTINGS_MODULE": "mysite.settings"})
    assert passed(result, 2), result.stdout + result.stderr
