"""The same demo API as a one-file Django project, configured through `settings.JWTGUARD`."""

from __future__ import annotations

import dataclasses

from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, JsonResponse
from django.urls import path

from jwtguard import Settings
from jwtguard.django import require_principal, require_scopes


def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"service": "orders", "docs": "GET /me with a token, GET /orders with scope orders:read"})


@require_scopes()
def me(request: HttpRequest) -> JsonResponse:
    principal = require_principal(request)
    return JsonResponse({"sub": principal.subject, "scopes": sorted(principal.scopes)})


@require_scopes("orders:read")
def orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"orders": [{"id": 1, "item": "coffee"}], "for": require_principal(request).subject})


urlpatterns = [path("", index), path("health", index), path("me", me), path("orders", orders)]


def create_app(settings: Settings) -> WSGIHandler:
    """Configure Django for the demo (once per process) and return its WSGI application."""
    import django
    from django.conf import settings as django_settings
    from django.core.wsgi import get_wsgi_application

    fields = [field.name for field in dataclasses.fields(Settings) if field.name != "error_body_hook"]
    django_settings.configure(
        DEBUG=False,
        SECRET_KEY="jwtguard-demo-only",  # noqa: S106  # a demo on 127.0.0.1
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["jwtguard.django.JWTGuardMiddleware"],
        JWTGUARD={name.upper(): getattr(settings, name) for name in fields},
    )
    django.setup()
    return get_wsgi_application()
