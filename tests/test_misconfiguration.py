"""A misconfigured key source is named as such: a discovery document for another issuer string, a key URL that
answers HTML, 401/403 or a redirect. (`jwks_prefetch="strict"` stopping real servers: test_server_startup.py.)"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jwtguard import ConfigurationError, Guard
from jwtguard._fetch import FetchResponse, fetch_json
from jwtguard.errors import FetchError, JWKSUnavailable
from jwtguard.jwks import KeySet
from jwtguard.testing import DevIssuer

ROOT = Path(__file__).resolve().parent.parent


def _fetch(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> FetchError:
    def fetcher(url: str, *, timeout: float, max_bytes: int) -> FetchResponse:
        return FetchResponse(status, body, headers or {})

    with pytest.raises(FetchError) as caught:
        fetch_json(fetcher, "https://id.example.com/jwks", deadline=time.monotonic() + 5, max_bytes=1 << 20)
    return caught.value


# -- the issuer a discovery document names ------------------------------------------------------------


def test_a_trailing_slash_issuer_with_strict_prefetch_is_a_startup_error_naming_both(issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings(issuer=issuer.issuer + "/", discovery=True, jwks_prefetch="strict"))
    with pytest.raises(ConfigurationError) as caught:
        guard.startup()
    message = str(caught.value)
    assert f"names issuer {issuer.issuer!r}" in message
    assert f"configured issuer is {issuer.issuer + '/'!r}" in message
    assert "differ only in a trailing slash" in message
    assert f"did you mean issuer={issuer.issuer!r}?" in message
    guard.close()


def test_a_host_alias_is_named(issuer: DevIssuer) -> None:
    alias = issuer.issuer.replace("127.0.0.1", "localhost")
    guard = Guard(issuer.settings(issuer=alias, discovery=True, jwks_prefetch="strict"))
    with pytest.raises(ConfigurationError, match=r"another name for the host: '127\.0\.0\.1' against 'localhost'"):
        guard.startup()
    guard.close()


def test_without_strict_the_503_log_record_and_the_readiness_report_name_both(
    issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    configured = issuer.issuer + "/"
    guard = Guard(issuer.settings(issuer=configured, discovery=True, jwks_prefetch="degraded"))
    guard.startup()  # logs, does not raise
    startup = [record for record in jwtguard_logs.records if "starting without usable keys" in record.getMessage()]
    assert startup
    assert startup[0].levelno == logging.ERROR
    assert f"did you mean issuer={issuer.issuer!r}?" in startup[0].getMessage()
    with pytest.raises(JWKSUnavailable) as caught:
        guard.authenticate("Bearer " + issuer.token())
    assert f"configured issuer is {configured!r}" in caught.value.reason
    assert f"did you mean issuer={issuer.issuer!r}?" in caught.value.reason
    [report] = guard.health()["issuers"].values()
    assert f"names issuer {issuer.issuer!r}" in report["configuration_error"]
    guard.close()


def test_a_fetch_that_succeeds_clears_the_configuration_error(issuer: DevIssuer) -> None:
    issuer.server.discovery = {"issuer": issuer.issuer + "/"}
    key_set = KeySet(discovery_issuer=issuer.issuer, min_refresh_interval=0.0)
    assert not key_set.prefetch()
    assert key_set.configuration_error is not None
    assert key_set.health()["configuration_error"] == key_set.configuration_error
    issuer.server.discovery = {}
    assert key_set.prefetch()
    assert key_set.health()["configuration_error"] is None
    key_set.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "jwtguard", *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_verify_reports_the_mismatch_as_a_configuration_error(issuer: DevIssuer) -> None:
    configured = issuer.issuer + "/"
    result = _cli("verify", issuer.token(), "--issuer", configured, "--audience", issuer.audience, "--discovery")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"configured issuer is {configured!r}" in result.stdout
    assert f"did you mean issuer={issuer.issuer!r}?" in result.stdout
    as_json = _cli(
        "verify", issuer.token(), "--issuer", configured, "--audience", issuer.audience, "--discovery", "--json"
    )
    assert as_json.returncode == 2
    assert f"names issuer {issuer.issuer!r}" in json.loads(as_json.stdout)["configuration_error"]


def test_keys_reports_the_mismatch_as_a_configuration_error(issuer: DevIssuer) -> None:
    result = _cli("keys", "--issuer", issuer.issuer + "/", "--audience", issuer.audience, "--discovery")
    assert result.returncode == 2
    assert "misconfigured: configuration error" in result.stdout
    assert f"did you mean issuer={issuer.issuer!r}?" in result.stdout


# -- a key URL that answers HTML, 401/403 or a redirect ---------------------------------------------------


def test_html_is_named() -> None:
    error = _fetch(200, b"<!DOCTYPE html><html><body>Sign in</body></html>", {"content-type": "text/html"})
    assert error.configuration
    assert "answers an HTML page, not JSON" in str(error)
    assert "https://id.example.com/jwks" in str(error)


def test_plain_garbage_is_not_a_configuration_error() -> None:
    error = _fetch(200, b"not json")
    assert not error.configuration
    assert str(error) == "response is not JSON"


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_is_named(status: int) -> None:
    error = _fetch(status)
    assert error.configuration
    assert f"configuration error: HTTP {status} from the key endpoint: it refuses an anonymous request" in str(error)


def test_a_redirect_is_named_with_its_target() -> None:
    error = _fetch(301, headers={"location": "https://id.example.com/jwks/"})
    assert error.configuration
    assert "a redirect to https://id.example.com/jwks/, which jwtguard does not follow" in str(error)
    assert "did you mean 'https://id.example.com/jwks/'?" in str(error)


def test_a_redirect_to_plain_http_is_not_suggested() -> None:
    error = _fetch(302, headers={"location": "http://id.example.com/jwks?token=secret"})
    assert "did you mean" not in str(error)
    assert "secret" not in str(error)


def test_a_server_error_stays_an_outage() -> None:
    error = _fetch(502, b"<html>bad gateway</html>")
    assert not error.configuration
    assert str(error) == "HTTP 502 from the key endpoint"


def test_an_html_jwks_fails_strict_startup_as_a_configuration_error(issuer: DevIssuer) -> None:
    issuer.server.body = b"<!doctype html><title>Login</title>"
    guard = Guard(issuer.settings(jwks_prefetch="strict"))
    with pytest.raises(ConfigurationError, match="answers an HTML page"):
        guard.startup()
    guard.close()
