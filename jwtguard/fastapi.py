"""FastAPI: a security scheme that documents itself in the OpenAPI document and hands routes the `Principal`.

    auth = JWTGuardScheme(Settings.from_env(), client_id="orders-docs")
    app = FastAPI()
    auth.install(app)  # JWTGuardMiddleware, the document's responses and Swagger UI's login; the docs stay public

    @app.get("/orders")
    def orders(principal: Annotated[Principal, Security(auth, scopes=["orders.read"])]): ...

The scheme is an `openIdConnect` scheme when the settings discover their issuer, an `oauth2` scheme with the
authorization code flow (PKCE) when asked for one, and HTTP bearer otherwise. As a dependency it returns the
`Principal` that `JWTGuardMiddleware` attached, checking only the route's scopes and requirement; installed
without the middleware it validates the token itself, with the same guard, once per request.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from fastapi import Depends, FastAPI
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlows
from fastapi.openapi.models import OpenIdConnect as OpenIdConnectModel
from fastapi.openapi.models import SecurityBase as SecurityBaseModel
from fastapi.routing import APIRoute
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from ._fetch import check_key_url, fetch_json, issuer_mismatch, redact_url
from ._openapi import PROBLEM_SCHEMA, Access, access, document_operation, example_body, problem_schema
from ._request import RequestInfo, route_path
from .asgi import JWTGuardMiddleware, expect_route_refusals, record_refusal
from .errors import AuthError, ConfigurationError, FetchError, TokenMissing, UnsafePath
from .guard import Guard
from .jwks import Fetcher, HttpxFetcher
from .principal import Principal, Requirement, ScopeRequirement, Scopes, check_scopes, require, to_requirement
from .responses import RenderedError
from .settings import Settings
from .starlette import Authorize, principal_of, route_requirement

if TYPE_CHECKING:
    from fastapi.dependencies.models import Dependant
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "PROBLEM_SCHEMA",
    "CurrentPrincipal",
    "JWTGuardRequirement",
    "JWTGuardScheme",
    "SchemeType",
    "current_principal",
    "documentation_paths",
]

logger = logging.getLogger("jwtguard")

expect_route_refusals()  # the scheme's dependencies record their refusals for the middleware

#: The OpenAPI security scheme types the scheme can document itself as.
SchemeType = Literal["openIdConnect", "oauth2", "http"]
_DEFAULT_NAMES: dict[str, str] = {"openIdConnect": "OpenIdConnect", "oauth2": "OAuth2", "http": "HTTPBearer"}
_DISCOVERY_PATH = "/.well-known/openid-configuration"
# Where a scheme that validates tokens itself keeps the request's principal, so that every dependency of the
# request reads the one validation.
_PRINCIPAL_KEY = "jwtguard.fastapi.principal"


class _Refusal(Exception):
    """A refusal a scheme decided and logged itself (no middleware); the app's handler writes it out."""

    def __init__(self, rendered: RenderedError) -> None:
        super().__init__(rendered.status)
        self.rendered = rendered


class JWTGuardScheme(SecurityBase):
    """The bearer-token security scheme of a FastAPI app, and the dependency that returns the `Principal`.

    `Security(auth)` requires a valid token; `Security(auth, scopes=[...])` also those scopes;
    `Security(auth.authorize("scope:orders.read | role:admin"))` a requirement of any kind. Each appears on the
    operation in the OpenAPI document. A refusal is jwtguard's own 401/403/503.

    `scheme_type` picks how the document describes it: `"openIdConnect"` (the default when the settings discover
    their single issuer; the UI reads the issuer's discovery document), `"oauth2"` (the authorization code flow,
    with `authorization_url` and `token_url`, or the endpoints of the issuer's discovery document, read once when
    the document is first built) or `"http"` (a bearer token pasted in; the default otherwise).
    `openid_configuration_url` names another discovery document. `client_id` is the documentation's own OAuth
    client (public, with PKCE), and `scopes` describes scopes for the `oauth2` flow.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        guard: Guard | None = None,
        scheme_type: SchemeType | None = None,
        client_id: str | None = None,
        scopes: Mapping[str, str] | None = None,
        authorization_url: str | None = None,
        token_url: str | None = None,
        openid_configuration_url: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        fetcher: Fetcher | None = None,
    ) -> None:
        if guard is not None and settings is None:
            self.settings = guard.settings
        elif settings is not None and guard is None:
            self.settings = settings
        else:
            raise ConfigurationError("JWTGuardScheme: pass exactly one of settings=... or guard=...")
        self._guard = guard
        self._fetcher = fetcher
        self.client_id = _optional_text(client_id, "client_id")
        self.description = _optional_text(description, "description")
        self.scopes: dict[str, str] = _scope_descriptions(scopes)
        if (authorization_url is None) != (token_url is None):
            raise ConfigurationError("JWTGuardScheme: give authorization_url and token_url together")
        for url, what in ((authorization_url, "authorization_url"), (token_url, "token_url")):
            if url is not None:
                check_key_url(url, f"JWTGuardScheme: {what}")
        self._endpoints = (authorization_url, token_url) if authorization_url and token_url else None
        # The issuer whose discovery document this is, when the settings discover it: the document must name it.
        self._discovery_issuer = None if openid_configuration_url else _discovered_issuer(self.settings)
        if openid_configuration_url is not None:
            check_key_url(openid_configuration_url, "JWTGuardScheme: openid_configuration_url")
        self.openid_configuration_url = openid_configuration_url or (
            self._discovery_issuer.rstrip("/") + _DISCOVERY_PATH if self._discovery_issuer else None
        )
        self.scheme_type: SchemeType = scheme_type or (
            "oauth2" if self._endpoints else "openIdConnect" if self.openid_configuration_url else "http"
        )
        if self.scheme_type not in _DEFAULT_NAMES:
            raise ConfigurationError(f"JWTGuardScheme: scheme_type must be one of {', '.join(_DEFAULT_NAMES)}")
        if self.scheme_type != "http" and not (self._endpoints or self.openid_configuration_url):
            raise ConfigurationError(
                f"JWTGuardScheme: a {self.scheme_type} scheme needs the issuer's discovery (discovery=True with one "
                "issuer, or openid_configuration_url)"
                + (", or authorization_url and token_url" if self.scheme_type == "oauth2" else "")
            )
        self.scheme_name = scheme_name or _DEFAULT_NAMES[self.scheme_type]
        self._model: SecurityBaseModel | None = None
        self._installed: weakref.WeakSet[FastAPI] = weakref.WeakSet()
        self._scope_requirements: dict[tuple[str, ...], ScopeRequirement] = {}

    @property
    def guard(self) -> Guard:
        """The guard that validates tokens: the one given, or one built from the settings when first needed."""
        if self._guard is None:
            self._guard = Guard(self.settings)
        return self._guard

    # -- the OpenAPI security scheme -------------------------------------------------------------------

    @property
    def model(self) -> SecurityBaseModel:  # type: ignore[override]
        """The security scheme object of the OpenAPI document (FastAPI reads it when it builds the document)."""
        if self._model is None:
            self._model = self._build_model()
        return self._model

    def _build_model(self) -> SecurityBaseModel:
        if self.scheme_type == "http":
            return HTTPBearerModel(bearerFormat="JWT", description=self.description)
        if self.scheme_type == "openIdConnect":
            return OpenIdConnectModel(
                openIdConnectUrl=self.openid_configuration_url or "", description=self.description
            )
        authorization_url, token_url = self._endpoints or self._discover()
        flow = OAuthFlowAuthorizationCode(authorizationUrl=authorization_url, tokenUrl=token_url, scopes=self.scopes)
        return OAuth2Model(flows=OAuthFlows(authorizationCode=flow), description=self.description)

    def _discover(self) -> tuple[str, str]:
        """The authorization and token endpoints of the issuer's discovery document (OpenID Connect Discovery
        §3), fetched within `jwks_timeout`. Raises `FetchError`; the document is then built again next time."""
        url = self.openid_configuration_url or ""
        fetcher = self._fetcher or HttpxFetcher()
        try:
            document, _ = fetch_json(
                fetcher,
                url,
                deadline=time.monotonic() + self.settings.jwks_timeout,
                max_bytes=self.settings.jwks_max_bytes,
                what="discovery endpoint",
            )
            if not isinstance(document, dict):
                raise FetchError("discovery document is not a JSON object")
            # OpenID Connect Discovery §4.3: the document names exactly the issuer it was fetched for.
            named = document.get("issuer")
            if self._discovery_issuer is not None and named != self._discovery_issuer:
                raise FetchError(
                    issuer_mismatch(self._discovery_issuer, named)
                    if isinstance(named, str)
                    else "discovery document names no issuer",
                    configuration=True,
                )
            endpoints = []
            for name in ("authorization_endpoint", "token_endpoint"):
                value = document.get(name)
                if not isinstance(value, str):
                    raise FetchError(f"discovery document has no {name}")
                try:
                    check_key_url(value, name)
                except ConfigurationError:
                    raise FetchError(f"the discovered {name} is not https") from None
                endpoints.append(value)
        except FetchError as exc:
            logger.error("jwtguard: the OpenAPI document needs the OAuth endpoints of %s: %s", redact_url(url), exc)
            raise
        finally:
            if self._fetcher is None and isinstance(fetcher, HttpxFetcher):
                fetcher.close()
        return endpoints[0], endpoints[1]

    @property
    def swagger_ui_init_oauth(self) -> dict[str, Any] | None:
        """Swagger UI's OAuth settings for this scheme (FastAPI's `swagger_ui_init_oauth`): the authorization code
        flow with PKCE, for `client_id`. None for an HTTP bearer scheme, which has no login."""
        if self.scheme_type == "http":
            return None
        values: dict[str, Any] = {"usePkceWithAuthorizationCodeGrant": True}
        if self.client_id is not None:
            values["clientId"] = self.client_id
        return values

    # -- the dependency --------------------------------------------------------------------------------

    async def __call__(self, connection: HTTPConnection, security_scopes: SecurityScopes) -> Principal:
        return await self.principal(connection, security_scopes.scopes)

    def authorize(self, requirement: Requirement | str) -> JWTGuardRequirement:
        """A dependency that requires a token meeting `requirement` (an object, or its text form
        `"scope:orders.read | role:admin"`): `Security(auth.authorize(...))`. The document lists its scopes."""
        return JWTGuardRequirement(self, to_requirement(requirement, "authorize"))

    async def principal(
        self, connection: HTTPConnection, scopes: Sequence[str] = (), requirement: Requirement | None = None
    ) -> Principal:
        """The request's `Principal`, if it grants `scopes` and meets `requirement`; else the refusal is raised.

        Under `JWTGuardMiddleware` (anything that put `auth` in the scope) the principal is read from the scope
        and only the route's own requirements are checked; a refusal is an `AuthError` for the middleware to
        answer. Otherwise the token is validated here, once per request, by `guard` with its whole request
        policy, and every refusal is answered through the handler `install` adds.
        """
        requirements = self._requirements(scopes, requirement)
        scope = connection.scope
        if _PRINCIPAL_KEY not in scope and "auth" in scope:
            try:
                principal = require(scope["auth"], requirements[0])
                for other in requirements[1:]:
                    require(principal, other)
            except AuthError as exc:
                record_refusal(scope, exc)  # answered by the middleware, in place of the app's 500
                raise
            return principal
        guard = self.guard
        request = RequestInfo.from_scope(scope)
        found = scope.get(_PRINCIPAL_KEY)
        if found is None:
            if not _handles_refusals(scope):
                raise RuntimeError(
                    "JWTGuardScheme validates tokens itself only in an app it is installed on: call "
                    "auth.install(app), or add JWTGuardMiddleware"
                )
            try:
                found = await guard.acheck_request(request)  # logs its own refusal
            except AuthError as exc:
                raise _Refusal(guard.render(exc, request)) from None
            if found is None:  # the guard's policy lets this request pass without a token; the route needs one
                raise _Refusal(guard.reject(TokenMissing("route requires a token, the request had none"), request))
            scope[_PRINCIPAL_KEY] = scope["auth"] = scope["user"] = found
        try:
            for each in requirements:
                require(found, each)
        except AuthError as exc:
            raise _Refusal(guard.reject(exc, request)) from None
        return cast(Principal, found)

    def _requirements(self, scopes: Sequence[str], requirement: Requirement | None) -> list[Requirement]:
        """What the route asks of a token: `Security(scopes=...)` first (a client can ask for scopes), then the
        requirement; at least one, so that the principal itself is checked."""
        key = tuple(scopes)
        scope_requirement = self._scope_requirements.get(key)
        if scope_requirement is None:
            scope_requirement = ScopeRequirement.for_route(key, "Security(scopes=...)")
            if len(self._scope_requirements) < 1024:  # one per route at most, in any real app
                self._scope_requirements[key] = scope_requirement
        return [scope_requirement] if requirement is None else [scope_requirement, requirement]

    # -- installing on an app --------------------------------------------------------------------------

    def install(self, app: FastAPI, *, middleware: bool = True) -> None:
        """Make `app` use this scheme: add `JWTGuardMiddleware` (with this scheme's guard; unless
        `middleware=False`, for apps that guard only the routes that depend on the scheme), document it in the
        OpenAPI document (each operation's scopes and requirement, and its 401, 403 and 503 problem+json
        responses), and give Swagger UI its PKCE login unless the app set `swagger_ui_init_oauth` itself.

        With `public_docs` (the default), GET and HEAD requests for exactly the app's documentation routes pass
        the middleware without a token.
        """
        if app in self._installed:
            raise ConfigurationError("JWTGuardScheme.install: already installed on this app")
        if middleware:
            if any(_is_guard(entry.cls) for entry in app.user_middleware):
                raise ConfigurationError(
                    "JWTGuardScheme.install adds JWTGuardMiddleware, and the app has one already: remove the "
                    "app.add_middleware(JWTGuardMiddleware, ...) line, or pass middleware=False"
                )
            paths = documentation_paths(app) if self.settings.public_docs else ()
            if paths:
                app.add_middleware(_PublicDocs, guard=self.guard, paths=paths)
            else:
                app.add_middleware(JWTGuardMiddleware, guard=self.guard)
        # One handler for both kinds of connection: Starlette's types name one per kind.
        app.add_exception_handler(_Refusal, cast(Any, _answer_refusal))
        if app.swagger_ui_init_oauth is None:
            app.swagger_ui_init_oauth = self.swagger_ui_init_oauth
        build = app.openapi

        def openapi() -> dict[str, Any]:
            if app.openapi_schema:
                return app.openapi_schema
            try:
                document = build()
                _Documenter(self, app, middleware).document(document)
            except BaseException:
                app.openapi_schema = None  # built again next time, not left half documented
                raise
            app.openapi_schema = document
            return document

        app.openapi = openapi  # type: ignore[method-assign]
        self._installed.add(app)
        _INSTALLED[app] = self

    def __repr__(self) -> str:
        return f"JWTGuardScheme(scheme_type={self.scheme_type!r}, scheme_name={self.scheme_name!r})"


class JWTGuardRequirement(SecurityBase):
    """`JWTGuardScheme.authorize(requirement)`: the scheme as a dependency that also requires `requirement`.

    The OpenAPI document shows the scheme under its own name, with the scopes that can meet the requirement.
    """

    def __init__(self, scheme: JWTGuardScheme, requirement: Requirement) -> None:
        self.scheme = scheme
        self.requirement = requirement
        self.scheme_name = scheme.scheme_name

    @property
    def model(self) -> SecurityBaseModel:  # type: ignore[override]
        return self.scheme.model

    async def __call__(self, connection: HTTPConnection, security_scopes: SecurityScopes) -> Principal:
        return await self.scheme.principal(connection, security_scopes.scopes, self.requirement)

    def __repr__(self) -> str:
        return f"JWTGuardRequirement({self.scheme.scheme_name!r}, {self.requirement!r})"


# The scheme installed on each app, for `current_principal` in apps without the middleware.
_INSTALLED: weakref.WeakKeyDictionary[Any, JWTGuardScheme] = weakref.WeakKeyDictionary()


async def current_principal(connection: HTTPConnection) -> Principal:
    """A FastAPI dependency: the request's `Principal`, for any valid token.

    The one `JWTGuardMiddleware` attached, or, in an app whose `JWTGuardScheme` is installed without the
    middleware, the one that scheme validates. `install` documents the routes that use it.
    """
    scheme = _INSTALLED.get(connection.scope.get("app"))
    if scheme is not None:
        return await scheme.principal(connection)
    return principal_of(connection, _ANY_TOKEN)


#: The request's `Principal`, typed: `def me(principal: CurrentPrincipal): ...`.
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

# Met by every token: what a route that names no scope asks of the principal.
_ANY_TOKEN = ScopeRequirement((), where="current_principal")


def _discovered_issuer(settings: Settings) -> str | None:
    """The settings' single issuer, when they find its keys through its discovery document."""
    issuers = settings.trusted_issuers
    if len(issuers) == 1 and issuers[0].discovery and issuers[0].names:
        return issuers[0].names[0]
    return None


def _is_guard(factory: object) -> bool:
    return isinstance(factory, type) and issubclass(factory, JWTGuardMiddleware | _PublicDocs)


def _handles_refusals(scope: Mapping[str, Any]) -> bool:
    handlers = getattr(scope.get("app"), "exception_handlers", None)
    return isinstance(handlers, Mapping) and _Refusal in handlers


async def _answer_refusal(connection: HTTPConnection, exc: Exception) -> Response | None:
    """The app's handler for a scheme's own refusals: the rendered error, or, for a WebSocket on a server without
    the denial extension, close code 1008 (RFC 6455 §7.4.1, "policy violation") before accept."""
    if not isinstance(exc, _Refusal):  # pragma: no cover  # registered for _Refusal only
        raise exc
    rendered = exc.rendered
    response = Response(rendered.body, status_code=rendered.status)
    # jwtguard's headers as rendered, repeated names included (content-length and content-type among them).
    response.raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in rendered.headers]
    if isinstance(connection, WebSocket) and "websocket.http.response" not in (
        connection.scope.get("extensions") or {}
    ):
        await connection.close(code=1008)
        return None
    return response


# -- the documentation routes --------------------------------------------------------------------------


def documentation_paths(app: FastAPI) -> tuple[str, ...]:
    """The paths of `app`'s own documentation routes, as FastAPI adds them: the OpenAPI document, Swagger UI and
    its OAuth redirect page, and ReDoc (each only when configured)."""
    if not app.openapi_url:
        return ()
    paths = [app.openapi_url]
    if app.docs_url:
        paths.append(app.docs_url)
        if app.swagger_ui_oauth2_redirect_url:
            paths.append(app.swagger_ui_oauth2_redirect_url)
    if app.redoc_url:
        paths.append(app.redoc_url)
    return tuple(paths)


class _PublicDocs:
    """`JWTGuardMiddleware` with the app's documentation routes in front: a GET or HEAD request for exactly one of
    `paths` (the route path, below the mount point) goes to the app without the guard, anonymous, as an excluded
    path would; every other request goes through the guard. Exact paths only: `/docs/../orders` is not `/docs`."""

    def __init__(self, app: ASGIApp, *, guard: Guard, paths: Iterable[str]) -> None:
        from starlette.authentication import AuthCredentials, UnauthenticatedUser

        self.app = app
        self.guarded = JWTGuardMiddleware(app, guard=guard)
        self.paths = frozenset(paths)
        self._no_credentials = AuthCredentials
        self._anonymous = UnauthenticatedUser

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function that returns the awaitable of the app it chose: no coroutine of its own per request.
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            root_path = scope.get("root_path", "")
            path = route_path(scope["path"], root_path) if root_path else scope["path"]
            if path in self.paths:
                scope["auth"], scope["user"] = self._no_credentials(), self._anonymous()
                return self.app(scope, receive, send)
        return self.guarded(scope, receive, send)


# -- the OpenAPI document ------------------------------------------------------------------------------


class _Documenter:
    """Writes a scheme into an app's OpenAPI document: how each operation is guarded (see `_openapi`), and the
    scheme and the problem schema among the components."""

    def __init__(self, scheme: JWTGuardScheme, app: FastAPI, middleware: bool) -> None:
        self.scheme = scheme
        self.app = app
        self.middleware = middleware
        self.guard = scheme.guard

    def document(self, document: dict[str, Any]) -> None:
        name = self.scheme.scheme_name
        example = example_body(lambda error: self.guard.render(error).body)
        paths: dict[str, Any] = document.get("paths") or {}
        used_scopes: dict[str, None] = {}
        documented = False
        for route in self.app.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            item = paths.get(route.path_format) or {}
            for method in sorted(route.methods or ()):
                operation = item.get(method.lower())
                guarded = self.access(route, method, operation) if isinstance(operation, dict) else None
                if operation is None or guarded is None:
                    continue
                document_operation(operation, name, guarded, example)
                documented = True
                for way in guarded.ways:
                    used_scopes.update(dict.fromkeys(way))
        components = document.setdefault("components", {})
        schemes = components.get("securitySchemes") or {}
        if documented or name in schemes:
            model = self.scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
            flow = model.get("flows", {}).get("authorizationCode")
            if flow is not None:  # the scopes the operations ask for, so that the login can request them
                flow["scopes"] = {**dict.fromkeys(used_scopes, ""), **flow.get("scopes", {})}
            components.setdefault("securitySchemes", {})[name] = model
            components.setdefault("schemas", {}).setdefault(PROBLEM_SCHEMA, problem_schema())

    def access(self, route: APIRoute, method: str, operation: Mapping[str, Any]) -> Access | None:
        """How an operation is guarded, or None when it needs no token."""
        depends, requirements = self.dependencies(route)
        guard = self.guard
        try:
            rule = guard.rule_for(method, route.path_format)
        except UnsafePath:  # refused with 400 whatever it needs; never public
            rule = None
        # The middleware decides every request by the guard's policy; a scheme without it, the routes that
        # depend on it (by the same policy, as it validates them).
        guarded = self.middleware and not (rule.public if rule is not None else guard.is_excluded(route.path_format))
        if not (depends or guarded):
            return None
        anonymous = rule.anonymous if rule is not None else guard.settings.allow_anonymous
        parts: list[Requirement] = []
        if rule is not None and rule.requirement is not None:
            parts.append(rule.requirement)
        if guard.required_scopes:
            parts.append(Scopes(*guard.required_scopes))
        parts.extend(requirements)
        # FastAPI lists the scopes of `Security(auth, scopes=[...])` under the scheme's name: every way needs them.
        listed = [
            scope
            for entry in operation.get("security") or ()
            if isinstance(entry, dict)
            for scope in entry.get(self.scheme.scheme_name, ())
        ]
        return access(parts, listed, optional=guarded and not depends and anonymous)

    def dependencies(self, route: APIRoute) -> tuple[bool, list[Requirement]]:
        """Whether a route depends on the scheme (or reads the principal), and the requirements it names."""
        depends = False
        found: list[Requirement] = []
        endpoint_requirement = route_requirement(route.endpoint)
        if endpoint_requirement is not None:
            depends = True
            found.append(endpoint_requirement)
        for call in _calls(route.dependant):
            if call is self.scheme or call is current_principal:
                depends = True
            elif isinstance(call, Authorize) or (isinstance(call, JWTGuardRequirement) and call.scheme is self.scheme):
                depends = True
                found.append(call.requirement)
        return depends, found


def _calls(dependant: Dependant) -> Iterator[Any]:
    """Every dependency in a route's tree (its own, its router's, and theirs), depth first."""
    pending = list(dependant.dependencies)
    while pending:
        current = pending.pop()
        yield current.call
        pending.extend(current.dependencies)


def _optional_text(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"JWTGuardScheme: {what} must be a non-empty string")
    return value


def _scope_descriptions(scopes: Mapping[str, str] | None) -> dict[str, str]:
    if scopes is None:
        return {}
    if not isinstance(scopes, Mapping) or not all(isinstance(text, str) for text in scopes.values()):
        raise ConfigurationError("JWTGuardScheme: scopes map each scope to its description")
    check_scopes(list(scopes), "JWTGuardScheme scopes")
    return dict(scopes)
