"""Decision observers: told of every decision, through the same exit as the log record."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jwtguard import Guard, JWTGuardMiddleware, Principal, require_scopes
from jwtguard.errors import AuthError, TokenContext
from jwtguard.hooks import DecisionObserver, RequestInfo
from jwtguard.testing import DevIssuer

from .conftest import live_server


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def accepted(self, principal: Principal, context: TokenContext, request: RequestInfo, *, cached: bool) -> None:
        self.seen.append(("accepted" + (" from the cache" if cached else ""), principal.subject or "", request.path))

    def refused(self, error: AuthError, request: RequestInfo) -> None:
        self.seen.append(("refused", error.code, request.path))


@require_scopes("orders:read")
async def orders(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_every_decision_reaches_the_observers(issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    assert isinstance(recorder, DecisionObserver)
    guard = Guard(issuer.settings(exclude_paths=["/health"]), observers=[recorder])
    app = Starlette(routes=[Route("/orders", orders), Route("/health", health)])
    app.add_middleware(JWTGuardMiddleware, guard=guard)
    token = issuer.token(subject="alice", scopes=["orders:read"])
    with live_server(app) as url:
        for headers in (
            {"Authorization": f"Bearer {token}"},
            {"Authorization": f"Bearer {token}"},  # a cache hit is a decision too
            {"Authorization": f"Bearer {issuer.token(subject='bob')}"},  # refused by the route: no scope
            {},
        ):
            httpx.get(url + "/orders", headers=headers)
        httpx.get(url + "/health")  # excluded: no decision about a token
    assert recorder.seen == [
        ("accepted", "alice", "/orders"),
        ("accepted from the cache", "alice", "/orders"),
        ("accepted", "bob", "/orders"),
        ("refused", "insufficient_scope", "/orders"),
        ("refused", "token_missing", "/orders"),
    ]
    codes = [getattr(record, "jwtguard_code", None) for record in jwtguard_logs.records]
    assert codes == ["ok", "ok", "ok", "insufficient_scope", "token_missing"]
