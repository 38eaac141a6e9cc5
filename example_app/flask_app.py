"""The same demo API in Flask, configured through `app.config`."""

from __future__ import annotations

from typing import Any

from flask import Flask

from jwtguard import Settings
from jwtguard.flask import JWTGuard, current_principal, require_scopes


def create_app(settings: Settings) -> Flask:
    """The demo API guarded by `settings`; `/` and `/health` are public through `exclude_paths`."""
    app = Flask("orders")
    JWTGuard(app, settings=settings)

    @app.get("/")
    @app.get("/health", endpoint="health")
    def index() -> dict[str, str]:
        return {"service": "orders", "docs": "GET /me with a token, GET /orders with scope orders:read"}

    @app.get("/me")
    @require_scopes()
    def me() -> dict[str, Any]:
        principal = current_principal()
        assert principal is not None  # require_scopes() refused anonymous requests
        return {"sub": principal.subject, "scopes": sorted(principal.scopes)}

    @app.get("/orders")
    @require_scopes("orders:read")
    def orders() -> dict[str, Any]:
        principal = current_principal()
        assert principal is not None
        return {"orders": [{"id": 1, "item": "coffee"}], "for": principal.subject}

    return app
