"""jwtguard in FastAPI apps: the route decorators on FastAPI routes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request, WebSocket
from starlette.testclient import TestClient, WebSocketDenialResponse

from jwtguard import ConfigurationError, JWTGuardMiddleware, Settings, authorize, require_scopes
from jwtguard.principal import Roles, Scopes
from jwtguard.starlette import route_requirement
from jwtguard.testing import DevIssuer


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the route decorators on FastAPI routes ---------------------------------------------------------------


def decorated_app(settings: Settings) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    @require_scopes("orders:read")
    async def item(item_id: int, q: str = "") -> dict[str, Any]:  # no Request parameter
        return {"id": item_id, "q": q}

    @app.get("/sync")
    @authorize("scope:orders:read | role:admin")
    def sync() -> dict[str, Any]:
        return {"sync": True}

    @app.get("/with-request")
    @require_scopes()
    async def with_request(request: Request) -> dict[str, Any]:
        return {"sub": request.user.identity}

    @app.websocket("/ws")
    @require_scopes("orders:read")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.user.identity)
        await websocket.close()

    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app


def test_the_decorators_work_on_fastapi_routes_without_a_request_parameter(issuer: DevIssuer) -> None:
    client = TestClient(decorated_app(issuer.settings(role_claims=["roles"])))
    reader = auth(issuer.token(subject="ann", scopes=["orders:read"]))
    assert client.get("/items/3?q=x", headers=reader).json() == {"id": 3, "q": "x"}
    assert client.get("/sync", headers=reader).json() == {"sync": True}
    assert client.get("/sync", headers=auth(issuer.token(roles=["admin"]))).json() == {"sync": True}
    assert client.get("/with-request", headers=reader).json() == {"sub": "ann"}

    refused = client.get("/items/3", headers=auth(issuer.token()))
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert client.get("/sync").json()["code"] == "token_missing"
    # The added parameter is no query parameter: FastAPI hands it the connection.
    assert client.get("/items/3", params={"jwtguard_connection": "x"}, headers=reader).json()["id"] == 3

    with client.websocket_connect("/ws", headers=reader) as socket:
        assert socket.receive_text() == "ann"
    with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/ws", headers=auth(issuer.token())):
        pass  # pragma: no cover


def test_the_decorators_keep_the_endpoint_signature_for_the_openapi_document(issuer: DevIssuer) -> None:
    app = decorated_app(issuer.settings())
    [item] = [route for route in app.routes if getattr(route, "path", None) == "/items/{item_id}"]
    parameters = TestClient(app).get("/openapi.json", headers=auth(issuer.token())).json()
    names = [parameter["name"] for parameter in parameters["paths"]["/items/{item_id}"]["get"]["parameters"]]
    assert names == ["item_id", "q"]
    assert route_requirement(item.endpoint) == Scopes("orders:read")  # type: ignore[attr-defined]
    [sync] = [route for route in app.routes if getattr(route, "path", None) == "/sync"]
    assert route_requirement(sync.endpoint) == Scopes("orders:read") | Roles("admin")  # type: ignore[attr-defined]
    assert route_requirement(decorated_app) is None
    assert route_requirement(len) is None


def test_a_decorated_endpoint_called_without_a_connection_says_so() -> None:
    @require_scopes("a")
    def endpoint(value: int) -> int:
        return value  # pragma: no cover

    with pytest.raises(TypeError, match="endpoint was called without a Request or WebSocket argument"):
        endpoint(1)


def test_the_parameter_name_jwtguard_uses_is_refused_at_decoration_time() -> None:
    def endpoint(jwtguard_connection: int) -> int:
        return jwtguard_connection  # pragma: no cover

    with pytest.raises(ConfigurationError, match="the parameter name 'jwtguard_connection' is jwtguard's"):
        require_scopes("a")(endpoint)


def test_a_keyword_catch_all_keeps_its_place() -> None:
    import inspect

    @authorize("scope:a")
    def endpoint(value: int, **extra: Any) -> int:
        return value  # pragma: no cover

    assert list(inspect.signature(endpoint).parameters) == ["value", "jwtguard_connection", "extra"]
