"""Mount prefixes a client can set: `exclude_paths` match the path the application routes, never the prefix.

Servers and proxy middleware take the mount prefix (ASGI `root_path`, WSGI `SCRIPT_NAME`) from request
headers: daphne from `Daphne-Root-Path`, from anyone; gunicorn from a `SCRIPT_NAME` header, from the
addresses in `forwarded_allow_ips` (127.0.0.1 by default, so from any front proxy on the host that passes the
header through); werkzeug's `ProxyFix(x_prefix=1)` from `X-Forwarded-Prefix`. Routers dispatch on the path
below the prefix, so a forged `/public` prefix must not let `/admin` borrow the exclusion of `/public/*`.
Each set-up runs on a real server on 127.0.0.1: daphne and gunicorn in a subprocess, ProxyFix on werkzeug's
server in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import flask
import httpx
import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from jwtguard.flask import JWTGuard, current_principal

from ..conftest import live_wsgi_server, records
from .conftest import AUDIENCE, Kit, python_module, server_process
from .served import ADMIN, DOCS


@dataclass(frozen=True)
class PrefixServer:
    """A running server, and how a client there puts a prefix in front of the route path."""

    url: str
    prefix_header: str
    prefix_in_path: bool  # the server expects the prefix in the request path too, and strips it
    logs_here: bool  # the server runs in this process, so its log records reach caplog

    def get(self, http: httpx.Client, path: str, prefix: str | None = None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if prefix is not None:
            headers[self.prefix_header] = prefix
            if self.prefix_in_path:
                path = prefix + path
        return http.get(self.url + path, headers=headers)


def served_environ(kit: Kit, stack: str) -> dict[str, str]:
    return {
        "SERVED_STACK": stack,
        "JWTGUARD_ISSUER": kit.issuer.issuer,
        "JWTGUARD_AUDIENCE": AUDIENCE,
        "JWTGUARD_JWKS_URI": kit.issuer.jwks_uri,
        "JWTGUARD_ALGORITHMS": "RS256",
        "JWTGUARD_EXCLUDE_PATHS": "/public/*",
    }


def daphne(fd: int) -> list[str]:
    return python_module("daphne", "--fd", str(fd), "-v", "0", "tests.security.served:app")


def gunicorn(fd: int) -> list[str]:
    # Defaults otherwise: forwarded_allow_ips is 127.0.0.1, forwarder_headers includes SCRIPT_NAME.
    return python_module("gunicorn", "--bind", f"fd://{fd}", "--workers", "1", "tests.security.served:app")


def proxy_fix_app(kit: Kit) -> flask.Flask:
    """Flask behind jwtguard, with ProxyFix wrapped outside it."""
    app = flask.Flask(__name__)
    JWTGuard(app, settings=kit.issuer.settings(algorithms=["RS256"], exclude_paths=["/public/*"]))

    @app.get("/admin")
    def admin() -> str:
        principal = current_principal()
        return f"{ADMIN} for {principal.subject if principal else 'nobody'}"

    @app.get("/public/docs")
    def docs() -> str:
        return DOCS

    app.wsgi_app = ProxyFix(app.wsgi_app, x_prefix=1)  # type: ignore[method-assign]
    return app


@pytest.fixture(scope="module", params=["daphne-starlette", "daphne-django", "gunicorn-flask", "proxyfix-flask"])
def server(request: pytest.FixtureRequest, kit: Kit) -> Iterator[PrefixServer]:
    name, stack = request.param.split("-")
    if name == "proxyfix":
        with live_wsgi_server(proxy_fix_app(kit)) as url:
            yield PrefixServer(url, "X-Forwarded-Prefix", prefix_in_path=False, logs_here=True)
        return
    command, header = (daphne, "Daphne-Root-Path") if name == "daphne" else (gunicorn, "SCRIPT_NAME")
    with server_process(command, served_environ(kit, stack)) as url:
        yield PrefixServer(url, header, prefix_in_path=True, logs_here=False)


def test_a_forged_prefix_does_not_open_a_protected_route(
    server: PrefixServer, kit: Kit, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    # The client asks for /admin below a forged mount point /public: the app routes /admin, which is not
    # excluded, whatever the full path /public/admin looks like.
    forged = server.get(http, "/admin", prefix="/public")
    assert forged.status_code == 401, forged.text
    assert forged.json()["code"] == "token_missing"
    assert ADMIN not in forged.text
    if server.logs_here:
        [record] = records(jwtguard_logs, "token_missing")
        assert record["path"] == "/public/admin"  # the log keeps the full path

    # The excluded route itself stays public, below any prefix; a token still opens /admin.
    assert server.get(http, "/public/docs").text == DOCS
    assert server.get(http, "/public/docs", prefix="/public").text == DOCS
    token = kit.token(subject="ann")
    assert server.get(http, "/admin", token=token).text == f"{ADMIN} for ann"
    assert server.get(http, "/admin", prefix="/public", token=token).text == f"{ADMIN} for ann"
