"""`python -m example_app`: start a development issuer and the demo API, and print curl commands to try."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import shlex
import sys
import time
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import uvicorn

from jwtguard.testing import DevIssuer

AUDIENCE = "https://orders.example.test"
FRAMEWORKS = ("starlette", "fastapi", "flask", "django")


def demo_requests(issuer: DevIssuer, base_url: str) -> list[tuple[str, str, str | None]]:
    """(what it shows, URL, token) for each printed command."""
    now = int(time.time())
    return [
        (
            "200: a valid token with scope orders:read",
            f"{base_url}/orders",
            issuer.token(subject="alice", scopes=["orders:read"], expires_in=3600),
        ),
        (
            "401 token_expired: the token expired an hour ago",
            f"{base_url}/orders",
            issuer.token(subject="alice", scopes=["orders:read"], iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        ),
        (
            "401 audience_invalid: a token issued for another API",
            f"{base_url}/orders",
            issuer.token(
                subject="alice", scopes=["orders:read"], audience="https://billing.example.test", expires_in=3600
            ),
        ),
        (
            "403 insufficient_scope: a valid token without orders:read",
            f"{base_url}/orders",
            issuer.token(subject="bob", scopes=["profile"], expires_in=3600),
        ),
        ("401 token_missing: no token at all", f"{base_url}/orders", None),
        ("200: a public route, no token needed", f"{base_url}/health", None),
    ]


def curl_command(url: str, token: str | None) -> str:
    command = ["curl", "-i", url]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    return shlex.join(command)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m example_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--framework", choices=FRAMEWORKS, default="starlette")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)-7s %(name)s: %(message)s")
    issuer = DevIssuer(audience=AUDIENCE).start()
    settings = issuer.settings(discovery=True, exclude_paths=["/", "/health"])
    module = importlib.import_module(f"example_app.{_MODULES[args.framework]}")
    app = module.create_app(settings)

    base_url = f"http://{args.host}:{args.port}"
    print(f"\njwtguard demo ({args.framework})")
    print(f"  API     {base_url}")
    print(f"  issuer  {issuer.issuer}  (development issuer: discovery + JWKS; it signed the tokens below)")
    print("\nPaste these into another terminal; each shows the status, the WWW-Authenticate challenge and the body.\n")
    for what, url, token in demo_requests(issuer, base_url):
        print(f"# {what}")
        print(curl_command(url, token))
        print()
    print("The log lines below say, for every refused request, which check failed and why.\n", flush=True)
    try:
        if args.framework in ("flask", "django"):
            serve_wsgi(app, args.host, args.port)
        else:
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        issuer.stop()


_MODULES = {"starlette": "app", "fastapi": "fastapi_app", "flask": "flask_app", "django": "django_app"}


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve_wsgi(app: Any, host: str, port: int) -> None:
    """Serve a WSGI app with the standard library's server, one thread per request."""
    with (
        make_server(host, port, app, server_class=_ThreadingWSGIServer) as server,
        contextlib.suppress(KeyboardInterrupt),
    ):
        server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
