"""URLs and views of the Django app used by the cross-stack tests."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from jwtguard.django import require_scopes


def me(request: HttpRequest, rest: str = "") -> JsonResponse:
    principal = getattr(request, "principal", None)
    return JsonResponse({"sub": principal.subject if principal else None})


@require_scopes("orders:read")
def orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"orders": [], "sub": request.principal.subject})  # type: ignore[attr-defined]


urlpatterns = [
    path("me", me),
    path("orders", orders),
    path("health", me),
    # Decided by per-route rules alone.
    *(path(f"{area}/<path:rest>", me) for area in ("public", "orders", "admin")),
]
