"""The demo API in Starlette: a public route, an authenticated one and a scope-protected one."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtguard import JWTGuardMiddleware, Settings, require_scopes


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"service": "orders", "docs": "GET /me with a token, GET /orders with scope orders:read"})


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity, "scopes": sorted(request.auth.scopes)})


@require_scopes("orders:read")
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"orders": [{"id": 1, "item": "coffee"}], "for": request.user.identity})


def create_app(settings: Settings) -> Starlette:
    """The demo API guarded by `settings`; `/` and `/health` are public through `exclude_paths`."""
    app = Starlette(routes=[Route("/", index), Route("/health", index), Route("/me", me), Route("/orders", orders)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app
