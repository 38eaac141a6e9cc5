"""URLs and views of the Django REST framework app used by the cross-stack tests.

Authentication comes from `REST_FRAMEWORK` (`jwtguard.drf.JWTAuthentication`); `/me` and the routes decided by
per-route rules leave every check to it, `/orders` adds DRF's `IsAuthenticated` and a scope permission.
"""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jwtguard import Principal
from jwtguard.drf import require_principal, require_scopes


class EventStream(JSONRenderer):
    """What an event-stream view renders with (here the same JSON): without a renderer for
    `Accept: text/event-stream`, DRF answers 406 before authentication runs."""

    media_type = "text/event-stream"


class Me(APIView):
    permission_classes = (AllowAny,)
    renderer_classes = (JSONRenderer, EventStream)

    def get(self, request: Request, rest: str = "") -> Response:
        principal = request.auth
        return Response({"sub": principal.subject if isinstance(principal, Principal) else None})

    post = get


class Orders(APIView):
    permission_classes = (IsAuthenticated, require_scopes("orders:read"))

    def get(self, request: Request) -> Response:
        return Response({"orders": [], "sub": require_principal(request).subject})


urlpatterns = [
    path("me", Me.as_view()),
    path("orders", Orders.as_view()),
    path("health", Me.as_view()),
    # Decided by per-route rules alone.
    *(path(f"{area}/<path:rest>", Me.as_view()) for area in ("public", "orders", "admin")),
]
