"""jwtguard in FastAPI apps: the security scheme, the OpenAPI document it writes, its dependency with and without
the middleware, the public documentation routes, and the route decorators on FastAPI routes."""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Request, Security, WebSocket
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.testclient import TestClient, WebSocketDenialResponse

from jwtguard import (
    AuthError,
    ConfigurationError,
    FetchError,
    FetchResponse,
    Guard,
    Issuer,
    JWTGuardMiddleware,
    Principal,
    RequestInfo,
    RequireScopes,
    Settings,
    TokenContext,
    authorize,
    require_scopes,
)
from jwtguard.fastapi import CurrentPrincipal, JWTGuardRequirement, JWTGuardScheme
from jwtguard.principal import Roles, Scopes
from jwtguard.starlette import route_requirement
from jwtguard.testing import DISCOVERY_PATH, DevIssuer

from .conftest import dead_url, records


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


# -- the security scheme ------------------------------------------------------------------------------------


class Recorder:
    """A decision observer: every acceptance and refusal the guard makes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def accepted(self, principal: Principal, context: TokenContext, request: RequestInfo, *, cached: bool) -> None:
        self.seen.append(("accepted", request.path))

    def refused(self, error: AuthError, request: RequestInfo) -> None:
        self.seen.append((error.code, request.path))


def model_of(scheme: JWTGuardScheme) -> dict[str, Any]:
    return scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)


def test_the_scheme_type_follows_the_key_source(issuer: DevIssuer) -> None:
    discovering = JWTGuardScheme(issuer.settings(discovery=True), client_id="docs")
    assert (discovering.scheme_type, discovering.scheme_name) == ("openIdConnect", "OpenIdConnect")
    assert model_of(discovering) == {"type": "openIdConnect", "openIdConnectUrl": issuer.discovery_url}
    assert discovering.swagger_ui_init_oauth == {"usePkceWithAuthorizationCodeGrant": True, "clientId": "docs"}

    bearer = JWTGuardScheme(issuer.settings(), description="A token from the orders issuer")
    assert (bearer.scheme_type, bearer.scheme_name) == ("http", "HTTPBearer")
    assert model_of(bearer) == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token from the orders issuer",
    }
    assert bearer.swagger_ui_init_oauth is None

    explicit = JWTGuardScheme(
        issuer.settings(),
        authorization_url="https://login.example.com/authorize",
        token_url="https://login.example.com/token",
        scopes={"orders:read": "Read orders"},
        scheme_name="orders",
    )
    assert (explicit.scheme_type, explicit.scheme_name) == ("oauth2", "orders")
    assert model_of(explicit)["flows"] == {
        "authorizationCode": {
            "authorizationUrl": "https://login.example.com/authorize",
            "tokenUrl": "https://login.example.com/token",
            "scopes": {"orders:read": "Read orders"},
        }
    }
    assert explicit.swagger_ui_init_oauth == {"usePkceWithAuthorizationCodeGrant": True}

    elsewhere = JWTGuardScheme(issuer.settings(), openid_configuration_url="https://login.example.com/.well-known/x")
    assert model_of(elsewhere)["openIdConnectUrl"] == "https://login.example.com/.well-known/x"

    guard = Guard(issuer.settings(discovery=True))
    shared = JWTGuardScheme(guard=guard, scheme_type="http")
    assert (shared.guard, shared.scheme_type, repr(shared)) == (
        guard,
        "http",
        "JWTGuardScheme(scheme_type='http', scheme_name='HTTPBearer')",
    )


def test_two_issuers_document_a_bearer_scheme(issuer: DevIssuer) -> None:
    settings = Settings(
        audience="orders",
        issuers=[
            Issuer(issuer=issuer.issuer, discovery=True),
            Issuer(issuer="https://login.example.com/", jwks_uri="https://login.example.com/keys"),
        ],
    )
    assert JWTGuardScheme(settings).scheme_type == "http"


def test_an_oauth2_scheme_reads_its_endpoints_from_the_issuers_discovery_once(issuer: DevIssuer) -> None:
    scheme = JWTGuardScheme(issuer.settings(discovery=True), scheme_type="oauth2")
    assert issuer.server.hits[DISCOVERY_PATH] == 0  # nothing is fetched before the document is built
    flow = model_of(scheme)["flows"]["authorizationCode"]
    assert (flow["authorizationUrl"], flow["tokenUrl"]) == (issuer.authorization_endpoint, issuer.token_endpoint)
    model_of(scheme)
    assert issuer.server.hits[DISCOVERY_PATH] == 1


@pytest.mark.parametrize(
    ("discovery", "message"),
    [
        pytest.param(
            {"issuer": "https://another.example.com"},
            r"names issuer 'https://another\.example\.com', but the configured issuer is",
            id="another-issuer",
        ),
        pytest.param({"token_endpoint": None}, "has no token_endpoint", id="no-token-endpoint"),
        pytest.param(
            {"authorization_endpoint": "http://login.example.com/authorize"},
            "authorization_endpoint is not https",
            id="plain-http",
        ),
    ],
)
def test_a_discovery_document_without_usable_endpoints_fails_the_document(
    issuer: DevIssuer, discovery: dict[str, Any], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    issuer.server.discovery.update(discovery)
    scheme = JWTGuardScheme(issuer.settings(discovery=True), scheme_type="oauth2")
    app = FastAPI()
    scheme.install(app, middleware=False)
    app.get("/me")(me_endpoint(scheme))
    with pytest.raises(FetchError, match=message):
        app.openapi()
    assert app.openapi_schema is None  # built again on the next request for it
    assert f"the OpenAPI document needs the OAuth endpoints of {issuer.discovery_url}" in caplog.text


def test_a_discovery_document_that_is_no_object_fails_the_document(issuer: DevIssuer) -> None:
    def fetcher(url: str, *, timeout: float, max_bytes: int) -> FetchResponse:
        assert url == issuer.discovery_url
        return FetchResponse(200, b"[]")

    scheme = JWTGuardScheme(issuer.settings(discovery=True), scheme_type="oauth2", fetcher=fetcher)
    with pytest.raises(FetchError, match="not a JSON object"):
        model_of(scheme)


def test_an_unreachable_discovery_document_fails_the_document_until_it_answers() -> None:
    url = dead_url().replace("/.well-known/jwks.json", DISCOVERY_PATH)
    scheme = JWTGuardScheme(
        Settings(issuer="https://login.example.com/", audience="orders", jwks_uri="https://login.example.com/keys"),
        scheme_type="oauth2",
        openid_configuration_url=url,
    )
    with pytest.raises(FetchError):
        model_of(scheme)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"guard": "both"}, "pass exactly one of settings=... or guard=...", id="settings-and-guard"),
        pytest.param({"settings": None}, "pass exactly one of settings=... or guard=...", id="neither"),
        pytest.param(
            {"authorization_url": "https://login.example.com/authorize"},
            "give authorization_url and token_url together",
            id="one-endpoint",
        ),
        pytest.param(
            {"authorization_url": "http://login.example.com/a", "token_url": "https://login.example.com/t"},
            "authorization_url must be an https:// URL",
            id="plain-http-endpoint",
        ),
        pytest.param({"scheme_type": "openIdConnect"}, "needs the issuer's discovery", id="oidc-without-discovery"),
        pytest.param({"scheme_type": "oauth2"}, "or authorization_url and token_url", id="oauth2-without-endpoints"),
        pytest.param({"scheme_type": "apiKey"}, "scheme_type must be one of", id="another-type"),
        pytest.param({"scopes": {"orders read": "x"}}, "'orders read' is not a scope", id="bad-scope"),
        pytest.param({"scopes": ["orders:read"]}, "scopes map each scope to its description", id="scope-list"),
        pytest.param({"client_id": " "}, "client_id must be a non-empty string", id="blank-client-id"),
    ],
)
def test_configuration_mistakes_are_refused_at_construction(
    issuer: DevIssuer, arguments: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {"settings": issuer.settings(), **arguments}
    if values.get("guard") == "both":
        values["guard"] = Guard(issuer.settings())
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        JWTGuardScheme(**values)


# -- the OpenAPI document ------------------------------------------------------------------------------------


def me_endpoint(scheme: JWTGuardScheme | JWTGuardRequirement) -> Callable[..., dict[str, Any]]:
    def me(principal: Principal = Security(scheme)) -> dict[str, Any]:  # noqa: B008
        return {"sub": principal.subject}

    return me


def documented_app(settings: Settings, **install: bool) -> tuple[FastAPI, JWTGuardScheme]:
    """Every way a route can ask for a token, with the settings' rules and exclusions around them."""
    auth = JWTGuardScheme(settings, client_id="docs", scopes={"orders:read": "Read orders"})
    app = FastAPI()
    auth.install(app, **install)
    app.get("/me")(me_endpoint(auth))

    @app.get("/current")
    def current(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"sub": principal.subject}

    @app.get("/orders")
    def orders(principal: Principal = Security(auth, scopes=["orders:read"])) -> dict[str, Any]:  # noqa: B008
        return {"sub": principal.subject}

    admin = auth.authorize("role:admin | scope:orders:admin")

    @app.delete("/orders/{order_id}", description="Cancels an order.")
    def cancel(order_id: int, principal: Principal = Security(admin, scopes=["orders:write"])) -> dict[str, Any]:  # noqa: B008
        return {"cancelled": order_id}

    @app.get("/either")
    def either(
        credentials: HTTPBasicCredentials | None = Depends(HTTPBasic(auto_error=False)),  # noqa: B008
        principal: Principal = Security(auth),  # noqa: B008
    ) -> dict[str, Any]:
        return {}  # pragma: no cover

    @app.get("/legacy")
    def legacy(principal: Principal = Depends(RequireScopes("legacy:read"))) -> dict[str, Any]:  # noqa: B008
        return {"sub": principal.subject}

    @app.get("/decorated")
    @authorize("permission:read:reports")
    def decorated() -> dict[str, Any]:
        return {}  # pragma: no cover

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {}

    @app.get("/catalog")
    def catalog() -> dict[str, Any]:
        return {}

    @app.get("/reports")
    def reports() -> dict[str, Any]:
        return {}

    @app.get("/odd//path")
    def odd() -> dict[str, Any]:
        return {}  # pragma: no cover

    @app.get("/hidden", include_in_schema=False)
    def hidden(principal: Principal = Security(auth)) -> dict[str, Any]:  # noqa: B008
        return {}  # pragma: no cover

    return app, auth


RULES = ["GET /catalog anonymous", "GET /reports scope:reports:read | role:auditor"]


def test_the_document_lists_each_operations_scopes_and_requirement(issuer: DevIssuer) -> None:
    settings = issuer.settings(discovery=True, exclude_paths=["/health"], rules=RULES, role_claims=["roles"])
    app, _ = documented_app(settings)
    document = TestClient(app).get("/openapi.json").json()
    paths = document["paths"]

    def security(path: str, method: str = "get") -> Any:
        return paths[path][method].get("security")

    assert security("/me") == [{"OpenIdConnect": []}]
    assert security("/current") == [{"OpenIdConnect": []}]
    assert security("/orders") == [{"OpenIdConnect": ["orders:read"]}]
    assert security("/orders/{order_id}", "delete") == [
        {"OpenIdConnect": ["orders:write"]},
        {"OpenIdConnect": ["orders:write", "orders:admin"]},
    ]
    cancel = paths["/orders/{order_id}"]["delete"]
    assert cancel["x-jwtguard-requirement"] == "role:admin | scope:orders:admin"
    assert (
        cancel["description"] == "Cancels an order.\n\nRequires a token that meets `role:admin | scope:orders:admin`."
    )
    # Another scheme's entry stays where FastAPI put it: either one will do, as FastAPI documents it.
    assert security("/either") == [{"HTTPBasic": []}, {"OpenIdConnect": []}]
    assert security("/legacy") == [{"OpenIdConnect": ["legacy:read"]}]
    assert security("/decorated") == [{"OpenIdConnect": []}]
    assert paths["/decorated"]["get"]["x-jwtguard-requirement"] == "permission:read:reports"
    # The middleware's policy, for routes that name no requirement of their own.
    assert security("/health") is None
    assert security("/catalog") == [{"OpenIdConnect": []}, {}]
    assert security("/reports") == [{"OpenIdConnect": ["reports:read"]}, {"OpenIdConnect": []}]
    assert paths["/reports"]["get"]["x-jwtguard-requirement"] == "scope:reports:read | role:auditor"
    assert "/hidden" not in paths
    assert security("/odd//path") == [{"OpenIdConnect": []}]  # refused with 400 by the rules, but never public

    assert document["components"]["securitySchemes"]["OpenIdConnect"] == {
        "type": "openIdConnect",
        "openIdConnectUrl": issuer.discovery_url,
    }


def test_refusals_are_documented_as_problem_details(issuer: DevIssuer) -> None:
    settings = issuer.settings(problem_type_base="https://api.example.test/problems#", exclude_paths=["/health"])
    app, _ = documented_app(settings)
    document = TestClient(app).get("/openapi.json").json()
    me = document["paths"]["/me"]["get"]["responses"]
    assert sorted(me) == ["200", "401", "503"]  # no scope, no requirement: no 403
    unauthorized = me["401"]["content"]["application/problem+json"]
    assert unauthorized["schema"] == {"$ref": "#/components/schemas/AuthProblem"}
    assert unauthorized["example"]["type"] == "https://api.example.test/problems#token_missing"
    assert "WWW-Authenticate" in me["401"]["headers"]
    assert me["503"]["content"]["application/problem+json"]["example"]["code"] == "jwks_unavailable"
    assert "Retry-After" in me["503"]["headers"]

    orders = document["paths"]["/orders"]["get"]["responses"]["403"]["content"]["application/problem+json"]
    assert orders["example"]["required_scopes"] == ["orders:read"]
    decorated = document["paths"]["/decorated"]["get"]["responses"]["403"]["content"]["application/problem+json"]
    assert decorated["example"]["code"] == "insufficient_role"
    assert "401" not in document["paths"]["/health"]["get"]["responses"]

    problem = document["components"]["schemas"]["AuthProblem"]
    assert problem["required"] == ["type", "title", "status", "detail", "code"]
    assert {"token_missing", "token_expired", "insufficient_role", "jwks_unavailable"} <= set(
        problem["properties"]["code"]["enum"]
    )
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_an_oauth2_flow_offers_every_scope_the_operations_ask_for(issuer: DevIssuer) -> None:
    settings = issuer.settings(discovery=True, rules=RULES, required_scopes=["api"])
    auth = JWTGuardScheme(settings, scheme_type="oauth2", scopes={"orders:read": "Read orders"})
    app = FastAPI()
    auth.install(app)
    app.get("/me")(me_endpoint(auth))

    @app.get("/reports")
    def reports() -> dict[str, Any]:
        return {}

    document = TestClient(app).get("/openapi.json").json()
    flow = document["components"]["securitySchemes"]["OAuth2"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == issuer.authorization_endpoint
    assert flow["scopes"] == {"orders:read": "Read orders", "api": "", "reports:read": ""}
    # `required_scopes` are in every way to meet an operation's requirement.
    assert document["paths"]["/me"]["get"]["security"] == [{"OAuth2": ["api"]}]
    assert document["paths"]["/reports"]["get"]["security"] == [
        {"OAuth2": ["reports:read", "api"]},
        {"OAuth2": ["api"]},
    ]


def test_without_the_middleware_only_routes_that_depend_on_the_scheme_are_documented(issuer: DevIssuer) -> None:
    app, _ = documented_app(issuer.settings(rules=RULES), middleware=False)
    paths = TestClient(app).get("/openapi.json").json()["paths"]
    assert paths["/me"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/catalog"]["get"]
    assert "401" not in paths["/catalog"]["get"]["responses"]
    assert "security" not in paths["/health"]["get"]


def test_many_ways_to_meet_a_requirement_document_what_they_all_need(issuer: DevIssuer) -> None:
    auth = JWTGuardScheme(issuer.settings())
    app = FastAPI()
    auth.install(app)
    every = " & ".join(f"(scope:a{n} | scope:b{n})" for n in range(5))  # 32 ways
    app.get("/many")(me_endpoint(auth.authorize(every + " & scope:common")))
    operation = TestClient(app).get("/openapi.json").json()["paths"]["/many"]["get"]
    assert operation["security"] == [{"HTTPBearer": ["common"]}]
    assert operation["x-jwtguard-requirement"].endswith("& scope:common")


# -- the public documentation routes ---------------------------------------------------------------------------


def installed(settings: Settings, app: FastAPI | None = None, **install: bool) -> tuple[FastAPI, JWTGuardScheme]:
    app = app or FastAPI()
    auth = JWTGuardScheme(settings, client_id="docs")
    auth.install(app, **install)
    app.get("/me")(me_endpoint(auth))
    return app, auth


def test_the_documentation_routes_need_no_token(issuer: DevIssuer) -> None:
    app, _ = installed(issuer.settings(discovery=True))
    client = TestClient(app)
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 200, path
        assert client.head(path).status_code == 200, path
    page = client.get("/docs").text
    assert '"usePkceWithAuthorizationCodeGrant": true' in page
    assert '"clientId": "docs"' in page
    # Exactly those paths, for GET and HEAD alone.
    for method, path in [
        ("POST", "/openapi.json"),
        ("GET", "/docs/"),
        ("GET", "/docs/x"),
        ("GET", "/docs/%2e%2e/me"),
        ("GET", "/openapi.json/"),
        ("GET", "/me"),
    ]:
        answer = client.request(method, path)
        assert (answer.status_code, answer.json()["code"]) == (401, "token_missing"), (method, path)
    with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/docs"):
        pass  # pragma: no cover


def test_the_documentation_routes_follow_the_apps_urls(issuer: DevIssuer) -> None:
    app = FastAPI(docs_url="/api-docs", openapi_url="/spec.json", redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    installed(issuer.settings(), app)
    client = TestClient(app)
    assert client.get("/spec.json").status_code == client.get("/api-docs").status_code == 200
    assert client.get("/redoc").json()["code"] == client.get("/docs").json()["code"] == "token_missing"


def test_public_docs_off_guards_the_documentation_too(issuer: DevIssuer) -> None:
    settings = Settings.from_env({"JWTGUARD_PUBLIC_DOCS": "false"}, **without(issuer.settings(), "public_docs"))
    assert settings.public_docs is False
    app, _ = installed(settings)
    client = TestClient(app)
    assert client.get("/openapi.json").json()["code"] == "token_missing"
    assert client.get("/openapi.json", headers=auth(issuer.token())).status_code == 200


def test_the_documentation_routes_of_a_mounted_app_are_public_below_its_mount(issuer: DevIssuer) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    api, _ = installed(issuer.settings())
    client = TestClient(Starlette(routes=[Mount("/api", api)]))
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/me").json()["code"] == "token_missing"
    assert client.get("/api/me", headers=auth(issuer.token(subject="m"))).json() == {"sub": "m"}


def without(settings: Settings, name: str) -> dict[str, Any]:
    import dataclasses

    return {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings) if field.name != name}


# -- the dependency ------------------------------------------------------------------------------------------


def counted_app(issuer: DevIssuer, recorder: Recorder, **install: bool) -> FastAPI:
    """A route that asks for the principal three ways: each request must be validated once."""
    auth = JWTGuardScheme(guard=Guard(issuer.settings(role_claims=["roles"]), observers=[recorder]))
    app = FastAPI()
    auth.install(app, **install)
    reader = auth.authorize(Scopes("orders:read") | Roles("admin"))

    @app.get("/orders")
    def orders(
        current: CurrentPrincipal,
        principal: Principal = Security(auth, scopes=["orders:read"]),  # noqa: B008
        same: Principal = Security(reader),  # noqa: B008
    ) -> dict[str, Any]:
        assert current is principal is same
        return {"sub": principal.subject}

    @app.get("/me")
    def me(request: Request, principal: Principal = Security(auth)) -> dict[str, Any]:  # noqa: B008
        return {"sub": principal.subject, "user": request.user.identity}

    @app.websocket("/ws")
    async def socket(websocket: WebSocket, principal: Principal = Security(auth, scopes=["chat"])) -> None:  # noqa: B008
        await websocket.accept()
        await websocket.send_text(principal.subject or "")
        await websocket.close()

    return app


@pytest.mark.parametrize("middleware", [True, False], ids=["middleware", "no-middleware"])
def test_a_request_is_validated_once_however_many_dependencies_ask(
    issuer: DevIssuer, middleware: bool, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    client = TestClient(counted_app(issuer, recorder, middleware=middleware))
    assert client.get("/orders", headers=auth(issuer.token(subject="o", scopes=["orders:read"]))).json() == {"sub": "o"}
    assert recorder.seen == [("accepted", "/orders")]
    assert client.get("/me", headers=auth(issuer.token(subject="u"))).json() == {"sub": "u", "user": "u"}

    recorder.seen.clear()
    jwtguard_logs.clear()
    refused = client.get("/orders", headers=auth(issuer.token(roles=["admin"])))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == 'Bearer realm="api", error="insufficient_scope", ' + (
        'error_description="The access token does not grant the scope this resource requires.", scope="orders:read"'
    )
    assert recorder.seen == [("accepted", "/orders"), ("insufficient_scope", "/orders")]
    assert [record["code"] for record in records(jwtguard_logs)] == ["ok", "insufficient_scope"]

    missing = client.get("/me")
    assert (missing.status_code, missing.json()["code"]) == (401, "token_missing")
    expired = client.get("/me", headers=auth(issuer.token(expires_in=-600)))
    assert (expired.status_code, expired.json()["code"]) == (401, "token_expired")
    in_query = client.get("/me?access_token=x", headers=auth(issuer.token()))
    assert (in_query.status_code, in_query.json()["code"]) == (400, "invalid_request")


@pytest.mark.parametrize("middleware", [True, False], ids=["middleware", "no-middleware"])
def test_websockets_are_refused_before_accept(issuer: DevIssuer, middleware: bool) -> None:
    client = TestClient(counted_app(issuer, Recorder(), middleware=middleware))
    with client.websocket_connect("/ws", headers=auth(issuer.token(subject="w", scopes=["chat"]))) as socket:
        assert socket.receive_text() == "w"
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws", headers=auth_header(issuer)):
        pass  # pragma: no cover
    assert denied.value.status_code == 403
    assert denied.value.json()["code"] == "insufficient_scope"


def test_without_the_denial_extension_a_refused_websocket_is_closed_with_1008(issuer: DevIssuer) -> None:
    import asyncio

    app = counted_app(issuer, Recorder(), middleware=False)
    sent: list[dict[str, Any]] = []
    incoming: list[MutableMapping[str, Any]] = [{"type": "websocket.connect"}]

    async def receive() -> MutableMapping[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {issuer.token()}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "scheme": "ws",
        "subprotocols": [],
    }
    asyncio.run(app(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


def test_the_scheme_refuses_to_validate_in_an_app_it_is_not_installed_on(issuer: DevIssuer) -> None:
    scheme = JWTGuardScheme(issuer.settings())
    app = FastAPI()
    app.get("/me")(me_endpoint(scheme))
    with pytest.raises(RuntimeError, match=r"call auth.install\(app\), or add JWTGuardMiddleware"):
        TestClient(app).get("/me", headers=auth_header(issuer))

    plain = FastAPI()

    @plain.get("/current")
    def current(principal: CurrentPrincipal) -> dict[str, Any]:
        return {}  # pragma: no cover

    with pytest.raises(RuntimeError, match="JWTGuardMiddleware must wrap the app"):
        TestClient(plain).get("/current", headers=auth_header(issuer))


def auth_header(issuer: DevIssuer) -> dict[str, str]:
    return auth(issuer.token())


def test_the_dependencies_read_what_a_middleware_added_by_hand_attached(issuer: DevIssuer) -> None:
    scheme = JWTGuardScheme(issuer.settings())
    app = FastAPI(swagger_ui_init_oauth={"clientId": "mine"})
    app.add_middleware(JWTGuardMiddleware, settings=issuer.settings(exclude_paths=["/open"]))
    scheme.install(app, middleware=False)
    assert app.swagger_ui_init_oauth == {"clientId": "mine"}  # the app's own is kept
    app.get("/me")(me_endpoint(scheme))
    app.get("/open")(me_endpoint(scheme))

    @app.get("/current")
    def current(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"sub": principal.subject}

    client = TestClient(app)
    assert client.get("/me", headers=auth(issuer.token(subject="h"))).json() == {"sub": "h"}
    assert client.get("/current", headers=auth(issuer.token(subject="c"))).json() == {"sub": "c"}
    # An excluded path reads no token: a route that needs one refuses.
    assert client.get("/open", headers=auth(issuer.token())).json()["code"] == "token_missing"


@pytest.mark.parametrize("middleware", [True, False], ids=["middleware", "no-middleware"])
def test_a_refusal_carries_the_cors_headers_for_an_allowed_origin(issuer: DevIssuer, middleware: bool) -> None:
    origin = "https://app.example.com"
    app, _ = installed(issuer.settings(cors_allow_origins=[origin]), middleware=middleware)
    for headers in ({"Origin": origin}, {"Origin": origin, **auth(issuer.token(expires_in=-600))}):
        refused = TestClient(app).get("/me", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == origin
        assert refused.headers["content-type"] == "application/problem+json"


def test_current_principal_needs_only_the_middleware(issuer: DevIssuer) -> None:
    app = FastAPI()
    app.add_middleware(JWTGuardMiddleware, settings=issuer.settings(exclude_paths=["/open"]))

    @app.get("/me")
    @app.get("/open")
    def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"sub": principal.subject}

    client = TestClient(app)
    assert client.get("/me", headers=auth(issuer.token(subject="p"))).json() == {"sub": "p"}
    refused = client.get("/open")
    assert (refused.status_code, refused.json()["code"]) == (401, "token_missing")


def test_install_refuses_a_second_middleware_or_a_second_install(issuer: DevIssuer) -> None:
    app = FastAPI()
    app.add_middleware(JWTGuardMiddleware, settings=issuer.settings())
    with pytest.raises(ConfigurationError, match="the app has one already"):
        JWTGuardScheme(issuer.settings()).install(app)
    again = FastAPI()
    scheme = JWTGuardScheme(issuer.settings())
    scheme.install(again)
    with pytest.raises(ConfigurationError, match="already installed on this app"):
        scheme.install(again)
    with pytest.raises(ConfigurationError, match="the app has one already"):
        JWTGuardScheme(issuer.settings()).install(again)


def test_an_app_without_documentation_gets_the_middleware_alone(issuer: DevIssuer) -> None:
    app, scheme = installed(issuer.settings(), FastAPI(openapi_url=None))
    assert [getattr(entry.cls, "__name__", None) for entry in app.user_middleware] == ["JWTGuardMiddleware"]
    client = TestClient(app)
    assert client.get("/openapi.json").json()["code"] == "token_missing"
    assert client.get("/me", headers=auth(issuer.token(subject="n"))).json() == {"sub": "n"}
    assert repr(scheme.authorize("role:a")) == "JWTGuardRequirement('HTTPBearer', Roles('a'))"


def test_without_the_middleware_a_request_the_policy_lets_pass_still_needs_a_token(
    issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    app, _ = installed(issuer.settings(allow_anonymous=True), middleware=False)
    refused = TestClient(app).get("/me")
    assert (refused.status_code, refused.json()["code"]) == (401, "token_missing")
    assert [record.levelname for record in jwtguard_logs.records] == ["INFO"]


def test_a_scope_that_is_no_scope_token_is_a_configuration_error(issuer: DevIssuer) -> None:
    scheme = JWTGuardScheme(issuer.settings())
    app = FastAPI()
    scheme.install(app)

    @app.get("/bad")
    def bad(principal: Principal = Security(scheme, scopes=["orders read"])) -> dict[str, Any]:  # noqa: B008
        return {}  # pragma: no cover

    with pytest.raises(ConfigurationError, match=r"Security\(scopes=...\): 'orders read' is not a scope"):
        TestClient(app).get("/bad", headers=auth_header(issuer))


def test_the_modules_public_names() -> None:
    import jwtguard.fastapi

    public = {
        name
        for name, value in vars(jwtguard.fastapi).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == "jwtguard.fastapi"
    }
    assert public <= set(jwtguard.fastapi.__all__)
    assert all(hasattr(jwtguard.fastapi, name) for name in jwtguard.fastapi.__all__)
