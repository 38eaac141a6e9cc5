"""Swagger UI in headless Chromium: Authorize signs in at the development issuer (authorization code with PKCE), and
"Try it out" then calls a protected operation with the token.

The app runs under uvicorn and the issuer on its own port, both on 127.0.0.1; the browser reaches nothing else
(Swagger UI's files come from a local copy of the npm package, see `swagger_ui.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI, Security

from jwtguard import Principal
from jwtguard.fastapi import JWTGuardScheme
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import live_server
from .swagger_ui import serve_locally
from .swagger_ui import swagger_ui_dist as swagger_ui_dist  # the fixture
from .test_readme import AUDIENCE, quickstart, run_block

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser, Page

# The page's favicon comes from FastAPI's website: refused, and not needed.
ALLOWED_OFFSITE = {"fastapi.tiangolo.com"}


@pytest.fixture
def dev_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(
        audience=AUDIENCE,
        keys=[signing_keys["RS256"]],
        scopes_supported=["orders:read", "orders:write"],
        login_subject="ann",
    ) as issuer:
        yield issuer


def sign_in_and_try(page: Page, base_url: str, scheme_name: str, operation_id: str) -> tuple[str, Any]:
    """What a person does on /docs: Authorize, tick orders:read, Authorize at the issuer (which asks nothing),
    close the dialog, open the operation, Try it out, Execute. Returns the status and body Swagger UI shows."""
    page.goto(base_url + "/docs")
    page.click("button.authorize")
    dialog = page.locator(".modal-ux-content")
    dialog.locator("h4", has_text=scheme_name).wait_for()
    assert dialog.locator("input[data-value='orders:read']").count() == 1
    dialog.locator("label[for^='orders:read-']").click()  # the checkbox itself is hidden behind its label
    with page.expect_popup() as popup:
        dialog.locator("button:has-text('Authorize')").click()
    popup.value.wait_for_event("close")  # the issuer redirected to /docs/oauth2-redirect, which hands back the code
    dialog.locator("button:has-text('Logout')").wait_for()  # the code was exchanged for a token
    dialog.locator("button:has-text('Close')").click()

    operation = page.locator(f"#operations-default-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    row = operation.locator(".live-responses-table tbody tr.response")
    status = row.locator(".response-col_status").inner_text().strip()
    body = row.locator(".response-col_description .microlight").first.inner_text()
    return status, json.loads(body)


def test_swagger_ui_signs_in_and_calls_the_readme_app(
    browser: Browser, swagger_ui_dist: Path, dev_issuer: DevIssuer
) -> None:
    # The FastAPI quick start as written: openIdConnect scheme, the middleware, public docs.
    app = run_block(quickstart("fastapi", dev_issuer))["app"]
    context = browser.new_context()
    refused = serve_locally(context, swagger_ui_dist)
    try:
        with live_server(app) as base_url:
            status, body = sign_in_and_try(context.new_page(), base_url, "OpenIdConnect", "orders_orders_get")
    finally:
        context.close()
    assert (status, body) == ("200", {"for": "ann"})
    assert {urlsplit(url).hostname for url in refused} <= ALLOWED_OFFSITE


def test_swagger_ui_signs_in_with_an_oauth2_scheme_and_no_middleware(
    browser: Browser, swagger_ui_dist: Path, dev_issuer: DevIssuer
) -> None:
    # The oauth2 scheme (endpoints from the issuer's discovery document, read by the server), and no middleware:
    # the scheme validates the token itself.
    auth = JWTGuardScheme(
        dev_issuer.settings(discovery=True),
        scheme_type="oauth2",
        client_id="orders-docs",
        scopes={"orders:read": "Read orders"},
    )
    app = FastAPI()
    auth.install(app, middleware=False)

    @app.get("/orders")
    def orders(principal: Principal = Security(auth, scopes=["orders:read"])) -> dict[str, Any]:  # noqa: B008
        return {"for": principal.subject, "scopes": sorted(principal.scopes)}

    context = browser.new_context()
    refused = serve_locally(context, swagger_ui_dist)
    try:
        with live_server(app) as base_url:
            status, body = sign_in_and_try(context.new_page(), base_url, "OAuth2", "orders_orders_get")
    finally:
        context.close()
    assert (status, body) == ("200", {"for": "ann", "scopes": ["orders:read"]})
    assert {urlsplit(url).hostname for url in refused} <= ALLOWED_OFFSITE
