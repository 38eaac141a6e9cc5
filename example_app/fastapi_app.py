"""The same demo API in FastAPI, with `RequireScopes` as a dependency."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from jwtguard import JWTGuardMiddleware, Principal, RequireScopes, Settings


def create_app(settings: Settings) -> FastAPI:
    """The demo API guarded by `settings`; `/` and `/health` are public through `exclude_paths`."""
    app = FastAPI(title="orders")

    @app.get("/")
    @app.get("/health")
    def index() -> dict[str, str]:
        return {"service": "orders", "docs": "GET /me with a token, GET /orders with scope orders:read"}

    @app.get("/me")
    def me(principal: Principal = Depends(RequireScopes())) -> dict[str, Any]:  # noqa: B008
        return {"sub": principal.subject, "scopes": sorted(principal.scopes)}

    @app.get("/orders")
    def orders(principal: Principal = Depends(RequireScopes("orders:read"))) -> dict[str, Any]:  # noqa: B008
        return {"orders": [{"id": 1, "item": "coffee"}], "for": principal.subject}

    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app
