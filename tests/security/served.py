"""The app the mount-prefix cases run in a server subprocess (daphne, gunicorn): `tests.security.served:app`.

`SERVED_STACK` picks the stack (starlette, django or flask) and `JWTGUARD_*` variables configure jwtguard.
Every stack routes `/admin`, which needs a token, and `/public/docs`, public through `exclude_paths=/public/*`.
The app is built when the server looks up `app`, from the environment of the server's process.
"""

from __future__ import annotations

import os
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from jwtguard import Principal, Settings

ADMIN = "the admin page"
DOCS = "the public docs"


def _admin_text(principal: object) -> str:
    return f"{ADMIN} for {principal.subject if isinstance(principal, Principal) else 'nobody'}"


async def _starlette_admin(request: Request) -> PlainTextResponse:
    return PlainTextResponse(_admin_text(request.scope.get("auth")))


async def _starlette_docs(request: Request) -> PlainTextResponse:
    return PlainTextResponse(DOCS)


def _django_admin(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_admin_text(getattr(request, "principal", None)), content_type="text/plain")


def _django_docs(request: HttpRequest) -> HttpResponse:
    return HttpResponse(DOCS, content_type="text/plain")


urlpatterns = [path("admin", _django_admin), path("public/docs", _django_docs)]


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Route

    from jwtguard import JWTGuardMiddleware

    app = Starlette(routes=[Route("/admin", _starlette_admin), Route("/public/docs", _starlette_docs)])
    app.add_middleware(JWTGuardMiddleware, settings=Settings.from_env())
    return app


def _django() -> Any:
    import django
    from django.conf import settings
    from django.core.asgi import get_asgi_application

    prefix = "JWTGUARD_"
    settings.configure(
        SECRET_KEY="jwtguard-tests-only",
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["jwtguard.django.JWTGuardMiddleware"],
        ALLOWED_HOSTS=["127.0.0.1"],
        INSTALLED_APPS=[],
        JWTGUARD={name[len(prefix) :]: value for name, value in os.environ.items() if name.startswith(prefix)},
    )
    django.setup()
    return get_asgi_application()


def _flask() -> Any:
    import flask

    from jwtguard.flask import JWTGuard, current_principal

    app = flask.Flask(__name__)
    JWTGuard(app, settings=Settings.from_env())

    @app.get("/admin")
    def admin() -> str:
        return _admin_text(current_principal())

    @app.get("/public/docs")
    def docs() -> str:
        return DOCS

    return app


def __getattr__(name: str) -> Any:
    # PEP 562: `app` is built when the server looks it up, so the tests can import the constants above.
    if name == "app":
        return {"starlette": _starlette, "django": _django, "flask": _flask}[os.environ["SERVED_STACK"]]()
    raise AttributeError(name)
