"""The ASGI adapter in real Starlette and FastAPI apps: pass-through, WebSockets, paths, anonymous, scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from jwtguard import (
    AuthError,
    ConfigurationError,
    Guard,
    JWTGuardMiddleware,
    Principal,
    RequireScopes,
    Settings,
    require_scopes,
)
from jwtguard.testing import DevIssuer

from .conftest import records


@pytest.fixture
def settings(issuer: DevIssuer) -> Settings:
    return issuer.settings(jwks={"keys": [key.public_jwk() for key in issuer.keys]})


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"authenticated": request.user.is_authenticated, "user": request.user.display_name})


@requires("orders:read")
async def starlette_requires(request: Request) -> PlainTextResponse:
    return PlainTextResponse("orders")


@require_scopes("orders:read", "orders:write")
def sync_orders(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"sync {request.user.identity}")


async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.user.identity)
    await websocket.close()


def starlette_app(settings: Settings, **app_options: Any) -> Starlette:
    app = Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/health", whoami),
            Route("/public/{rest:path}", whoami),
            Route("/public", whoami),
            Route("/publicity", whoami),
            Route("/requires", starlette_requires),
            Route("/sync-orders", sync_orders),
            WebSocketRoute("/ws", echo_socket),
        ],
        **app_options,
    )
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(starlette_app(settings)) as test_client:
        yield test_client


# -- pass-through ---------------------------------------------------------------------------------


def test_lifespan_passes_through(settings: Settings) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    with TestClient(starlette_app(settings, lifespan=lifespan)):
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]


def test_other_scope_types_pass_through_untouched(settings: Settings) -> None:
    seen: list[Scope] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    middleware = JWTGuardMiddleware(inner, settings=settings)
    scope: Scope = {"type": "custom.protocol", "headers": []}

    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    anyio.run(middleware, scope, receive, send)
    assert seen == [scope]
    assert "user" not in scope


def test_the_middleware_works_as_a_plain_wrapper(settings: Settings, issuer: DevIssuer) -> None:
    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope["auth"]
        assert isinstance(principal, Principal)
        await PlainTextResponse(principal.subject or "")(scope, receive, send)

    client = TestClient(JWTGuardMiddleware(bare, settings=settings))
    assert client.get("/", headers=auth(issuer.token(subject="plain"))).text == "plain"
    assert client.get("/").status_code == 401


@pytest.mark.parametrize(
    "arguments",
    [pytest.param({}, id="neither"), pytest.param({"both": True}, id="both")],
)
def test_exactly_one_of_settings_or_guard(settings: Settings, arguments: dict[str, bool]) -> None:
    kwargs: dict[str, Any] = {"settings": settings, "guard": Guard(settings)} if arguments else {}
    with pytest.raises(ConfigurationError, match="exactly one"):
        JWTGuardMiddleware(PlainTextResponse("x"), **kwargs)


# -- websockets -----------------------------------------------------------------------------------


def test_websocket_with_a_valid_token_is_accepted(client: TestClient, issuer: DevIssuer) -> None:
    with client.websocket_connect("/ws", headers=auth(issuer.token(subject="socket-user"))) as websocket:
        assert websocket.receive_text() == "socket-user"


def test_websocket_is_refused_before_accept_with_an_http_denial(
    client: TestClient, issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as denial,
        client.websocket_connect("/ws", headers=auth(issuer.token(expires_in=-600))),
    ):
        pass  # pragma: no cover  # the connection is never accepted
    response = denial.value
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    [record] = records(jwtguard_logs, "token_expired")
    assert record["method"] == "WEBSOCKET"
    assert record["path"] == "/ws"


def test_a_rule_for_get_decides_the_websocket_handshake(settings: Settings, issuer: DevIssuer) -> None:
    # A handshake is a GET (RFC 6455 §4.1): the rule that guards the path's GET guards its WebSocket.
    ruled = Settings(**{**_fields(settings), "rules": ["GET /ws scope:orders:read"]})
    with TestClient(starlette_app(ruled)) as client:
        with (
            pytest.raises(WebSocketDenialResponse) as denial,
            client.websocket_connect("/ws", headers=auth(issuer.token(scopes=["profile"]))),
        ):
            pass  # pragma: no cover  # the connection is never accepted
        assert denial.value.status_code == 403
        assert denial.value.json()["code"] == "insufficient_scope"
        reader = issuer.token(subject="reader", scopes=["orders:read"])
        with client.websocket_connect("/ws", headers=auth(reader)) as websocket:
            assert websocket.receive_text() == "reader"


def test_websocket_without_the_denial_extension_is_closed_with_1008(settings: Settings) -> None:
    called: list[Scope] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)  # pragma: no cover  # must not be reached

    middleware = JWTGuardMiddleware(inner, settings=settings)
    scope: Scope = {"type": "websocket", "path": "/ws", "headers": [], "client": ("127.0.0.1", 5000)}
    incoming: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(middleware, scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert called == []


# -- paths and anonymous access -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        pytest.param("/health", True, id="exact"),
        pytest.param("/health/", False, id="exact-is-exact"),
        pytest.param("/public", True, id="prefix-root"),
        pytest.param("/public/", True, id="prefix-slash"),
        pytest.param("/public/a/b", True, id="prefix-deep"),
        pytest.param("/publicity", False, id="prefix-is-a-segment"),
        pytest.param("/public/../whoami", False, id="dot-segments"),
        pytest.param("/public//x", False, id="empty-segment"),
        pytest.param("/whoami", False, id="other"),
    ],
)
def test_exclude_paths(settings: Settings, path: str, excluded: bool) -> None:
    app = starlette_app(Settings(**{**_fields(settings), "exclude_paths": ["/health", "/public/*"]}))
    guard = Guard(Settings(**{**_fields(settings), "exclude_paths": ["/health", "/public/*"]}))
    assert guard.is_excluded(path) is excluded
    with TestClient(app) as client:
        response = client.get(path)
    if excluded:
        assert response.status_code == 200
        assert response.json() == {"authenticated": False, "user": ""}
    else:
        assert response.status_code in (401, 404)
        if response.status_code == 401:
            assert response.json()["code"] == "token_missing"


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def test_anonymous_requests_pass_when_allowed_but_bad_tokens_do_not(settings: Settings, issuer: DevIssuer) -> None:
    anonymous = Settings(**{**_fields(settings), "allow_anonymous": True})
    with TestClient(starlette_app(anonymous)) as client:
        assert client.get("/whoami").json() == {"authenticated": False, "user": ""}
        assert client.get("/whoami", headers=auth(issuer.token(subject="bob"))).json() == {
            "authenticated": True,
            "user": "bob",
        }
        refused = client.get("/whoami", headers=auth(issuer.token(expires_in=-600)))
        assert refused.status_code == 401
        assert refused.json()["code"] == "token_expired"
        # A route that needs a scope still refuses the anonymous caller, in jwtguard's format.
        needs_scope = client.get("/sync-orders")
        assert needs_scope.status_code == 401
        assert needs_scope.json()["code"] == "token_missing"


# -- scopes ---------------------------------------------------------------------------------------


def test_starlette_requires_works_with_the_principal(client: TestClient, issuer: DevIssuer) -> None:
    assert client.get("/requires", headers=auth(issuer.token(scopes=["orders:read"]))).text == "orders"
    assert client.get("/requires", headers=auth(issuer.token(scopes=["orders:reader"]))).status_code == 403


def test_require_scopes_on_a_sync_endpoint(
    client: TestClient, issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    granted = client.get(
        "/sync-orders", headers=auth(issuer.token(subject="s", scopes=["orders:write", "orders:read"]))
    )
    assert granted.text == "sync s"

    refused = client.get("/sync-orders", headers=auth(issuer.token(scopes=["orders:read", "orders"])))
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert refused.json()["required_scopes"] == ["orders:read", "orders:write"]
    assert refused.headers["www-authenticate"].endswith('scope="orders:read orders:write"')
    [record] = records(jwtguard_logs, "insufficient_scope")
    assert record["path"] == "/sync-orders"


def test_required_scopes_in_settings_apply_to_every_route(settings: Settings, issuer: DevIssuer) -> None:
    strict = Settings(**{**_fields(settings), "required_scopes": ["api"]})
    with TestClient(starlette_app(strict)) as client:
        assert client.get("/whoami", headers=auth(issuer.token(scopes=["api"]))).status_code == 200
        refused = client.get("/whoami", headers=auth(issuer.token(scopes=["ap", "i"])))
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert refused.headers["www-authenticate"].endswith('scope="api"')


def fastapi_app(settings: Settings) -> FastAPI:
    app = FastAPI()

    @app.get("/orders")
    def list_orders(principal: Principal = Depends(RequireScopes("orders:read"))) -> dict[str, Any]:  # noqa: B008
        return {"sub": principal.subject, "scopes": sorted(principal.scopes)}

    @app.get("/me")
    def me(principal: Principal = Depends(RequireScopes())) -> dict[str, Any]:  # noqa: B008
        return {"sub": principal.subject}

    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app


def test_fastapi_dependency(settings: Settings, issuer: DevIssuer) -> None:
    with TestClient(fastapi_app(settings)) as client:
        ok = client.get("/orders", headers=auth(issuer.token(subject="f", scopes=["orders:read"])))
        assert ok.json() == {"sub": "f", "scopes": ["orders:read"]}
        assert client.get("/me", headers=auth(issuer.token(subject="g"))).json() == {"sub": "g"}

        refused = client.get("/orders", headers=auth(issuer.token(scopes=["profile"])))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "insufficient_scope"
        assert refused.headers["www-authenticate"].endswith('scope="orders:read"')

        missing = client.get("/me")
        assert missing.status_code == 401
        assert missing.json()["code"] == "token_missing"


# -- response customisation -----------------------------------------------------------------------


def test_error_body_hook_changes_only_the_body(settings: Settings, issuer: DevIssuer) -> None:
    def hook(error: AuthError, body: dict[str, Any]) -> dict[str, Any]:
        return {"message": error.title, "code": body["code"], "docs": "https://docs.example.test/auth"}

    custom = Settings(**{**_fields(settings), "error_body_hook": hook})
    with TestClient(starlette_app(custom)) as client:
        response = client.get("/whoami", headers=auth(issuer.token(expires_in=-600)))
    assert response.status_code == 401
    assert response.json() == {
        "message": "Token expired",
        "code": "token_expired",
        "docs": "https://docs.example.test/auth",
    }
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_failing_error_body_hook_falls_back_to_the_default_body(settings: Settings, issuer: DevIssuer) -> None:
    def hook(error: AuthError, body: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("bug in the app's hook")

    custom = Settings(**{**_fields(settings), "error_body_hook": hook})
    with TestClient(starlette_app(custom)) as client:
        response = client.get("/whoami")
    assert response.status_code == 401
    assert response.json()["code"] == "token_missing"


def test_an_error_body_hook_returning_unencodable_json_falls_back(settings: Settings, issuer: DevIssuer) -> None:
    import datetime

    def hook(error: AuthError, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "at": datetime.datetime.now(tz=datetime.timezone.utc), "nan": float("nan")}

    custom = Settings(**{**_fields(settings), "error_body_hook": hook})
    with TestClient(starlette_app(custom)) as client:
        response = client.get("/whoami")
    assert response.status_code == 401
    assert response.json()["code"] == "token_missing"
    assert "at" not in response.json()


@pytest.mark.parametrize("scope", ["orders read", "lesen\u2192x", 'a"b', ""])
def test_route_scope_helpers_refuse_scopes_that_cannot_be_sent(scope: str) -> None:
    with pytest.raises(ConfigurationError, match="is not a scope"):
        require_scopes(scope)
    with pytest.raises(ConfigurationError, match="is not a scope"):
        RequireScopes("ok", scope)


def test_the_problem_type_can_point_at_your_documentation(settings: Settings, issuer: DevIssuer) -> None:
    base = "https://docs.example.test/auth/troubleshooting#"
    custom = Settings(**{**_fields(settings), "problem_type_base": base})
    with TestClient(starlette_app(custom)) as client:
        response = client.get("/whoami", headers=auth(issuer.token(expires_in=-600)))
    assert response.json()["type"] == base + "token_expired"
