"""Credentials in key URLs: fetched for real, shown nowhere (logs, key events, health, CLI, errors, reprs)."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

from jwtguard import Guard, Issuer, KeySet, Settings
from jwtguard.cli import main
from jwtguard.errors import AuthError, ConfigurationError
from jwtguard.jwks import KeyEvent
from jwtguard.settings import redact_url
from jwtguard.testing import DISCOVERY_PATH, JWKS_PATH, DevIssuer

from .conftest import FakeClock
from .scripted import Connection, Script, ScriptedServer, answer

SECRET = "s3cr3t-Pa55"


def with_secrets(base_url: str, path: str = JWKS_PATH) -> str:
    """`base_url` + `path` with a password and an API key in the query."""
    return base_url.replace("http://", f"http://keys-user:{SECRET}@") + f"{path}?api_key={SECRET}"


def redacted(base_url: str, path: str = JWKS_PATH) -> str:
    return base_url.replace("http://", "http://***@") + f"{path}?***"


def leaked(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every log record (any logger, httpx included) that carries the secret anywhere."""
    return [
        record.getMessage() for record in caplog.records if SECRET in record.getMessage() or SECRET in str(vars(record))
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("https://idp.example/keys", "https://idp.example/keys", id="nothing-to-hide"),
        pytest.param("https://user:pw@idp.example/keys?k=v#f", "https://***@idp.example/keys?***#***", id="all"),
        pytest.param("https://a@b@idp.example/", "https://***@idp.example/", id="two-at-signs"),
        pytest.param("https://idp.example/a@b", "https://idp.example/a@b", id="at-sign-in-path"),
        pytest.param("user:pw@idp.example/keys", "***@idp.example/keys", id="no-scheme"),
        pytest.param("https://user:pw@[::1/keys", "https://***@[::1/keys", id="unparseable"),
        pytest.param("https://idp.example/keys?", "https://idp.example/keys?", id="empty-query"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown


def test_the_real_url_is_fetched_and_shown_redacted_in_logs_events_health_and_reprs(
    issuer: DevIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: httpx logs the URLs it fetches at INFO
    events: list[KeyEvent] = []
    with ScriptedServer(answer(b"{}", status="500 Internal Server Error")) as server:
        url, shown = with_secrets(server.base_url), redacted(server.base_url)
        guard = Guard(issuer.settings(jwks_uri=url, key_event_hook=events.append), key_clock=clock)
        with pytest.raises(AuthError):
            guard.authenticate(f"Bearer {issuer.token()}")  # the endpoint fails: an ERROR record
        server.script = answer(json.dumps(issuer.server.jwks).encode())
        clock.advance(11)
        assert guard.authenticate(f"Bearer {issuer.token()}").subject == "user-1"  # recovered: a WARNING

        # The real URL was fetched: query and credentials (as Basic auth) reached the key server.
        assert server.requests[1].startswith(f"GET {JWKS_PATH}?api_key={SECRET} HTTP/1.1\r\n".encode())
        assert server.header(1, "authorization") == "Basic " + base64.b64encode(f"keys-user:{SECRET}".encode()).decode()

    assert leaked(caplog) == []
    [failure] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert shown in failure.getMessage()
    assert {event.source for event in events} == {shown}
    health = guard.health()
    assert SECRET not in json.dumps(health)
    assert health["issuers"][issuer.issuer]["source"] == shown
    assert repr(guard.key_set) == f"KeySet(source={shown!r})"
    assert SECRET not in repr(guard.settings)
    assert repr(guard.settings).count("***") == 2  # userinfo and query of jwks_uri
    guard.close()


def test_a_proxy_from_the_environment_is_used_and_the_key_url_stays_out_of_the_logs(
    issuer: DevIssuer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(answer(json.dumps(issuer.server.jwks).encode())) as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.base_url)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        key_set = KeySet(jwks_uri=f"http://keys-user:{SECRET}@localhost:9/keys?api_key={SECRET}", clock=clock)
        assert key_set.get_key(issuer.key.kid, "RS256").kid == issuer.key.kid
        key_set.close()
        # The proxy was asked for the real URL, credentials as Basic auth.
        assert proxy.requests[0].startswith(f"GET http://localhost:9/keys?api_key={SECRET} HTTP/1.1\r\n".encode())
        assert proxy.header(0, "authorization") == "Basic " + base64.b64encode(f"keys-user:{SECRET}".encode()).decode()
    assert leaked(caplog) == []


def discovery_script(issuer: DevIssuer, issuer_url: str, jwks_uri: str) -> Script:
    document = json.dumps({"issuer": issuer_url, "jwks_uri": jwks_uri}).encode()
    jwks = json.dumps(issuer.server.jwks).encode()

    def script(connection: Connection) -> None:
        path = connection.request.split(b" ")[1].decode()
        answer(document if path.startswith("/realm" + DISCOVERY_PATH) else jwks)(connection)

    return script


def test_a_discovery_issuer_with_credentials_is_redacted_in_health_and_the_cli(
    issuer: DevIssuer, clock: FakeClock, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(answer(b"")) as server:
        issuer_url = server.base_url.replace("http://", f"http://idp-user:{SECRET}@") + "/realm"
        server.script = discovery_script(issuer, issuer_url, with_secrets(server.base_url))
        guard = Guard(Settings(issuer=issuer_url, audience=issuer.audience, discovery=True), key_clock=clock)
        assert guard.authenticate(f"Bearer {issuer.token(issuer=issuer_url)}").issuer == issuer_url
        shown_issuer = server.base_url.replace("http://", "http://***@") + "/realm"
        assert guard.key_set.source == f"discovery:{shown_issuer}"
        assert list(guard.health()["issuers"]) == [shown_issuer]
        assert SECRET not in json.dumps(guard.health())
        guard.close()

        exit_code = main(["keys", "--issuer", issuer_url, "--audience", issuer.audience, "--discovery", "--json"])
        out, err = capsys.readouterr()
        assert exit_code == 0, out
        [entry] = json.loads(out)["issuers"]
        assert entry["issuer"] == [shown_issuer]
        assert entry["source"] == redacted(server.base_url)
        assert SECRET not in out + err
    assert leaked(caplog) == []


@pytest.mark.parametrize("as_json", [pytest.param(False, id="text"), pytest.param(True, id="json")])
def test_the_cli_shows_key_urls_redacted(
    issuer: DevIssuer, as_json: bool, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    json_flag = ["--json"] if as_json else []
    with ScriptedServer(answer(json.dumps(issuer.server.jwks).encode())) as server:
        url, shown = with_secrets(server.base_url), redacted(server.base_url)
        flags = ["--issuer", issuer.issuer, "--audience", issuer.audience, "--jwks-uri", url, *json_flag]

        assert main(["keys", *flags]) == 0
        assert main(["verify", issuer.token(), *flags]) == 0
        assert main(["verify", issuer.token(headers={"kid": "unknown"}), *flags]) == 1
        server.script = answer(b"{}", status="500 Internal Server Error")
        assert main(["keys", *flags]) == 3

    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert out.count(shown) == 4  # keys: source; verify: found in; verify: not in; keys: unreachable source
    assert leaked(caplog) == []


SECRET_ISSUER = f"https://idp-user:{SECRET}@idp.example/realm?tenant={SECRET}"
SECRET_KEYS = f"https://keys-user:{SECRET}@idp.example/keys?api_key={SECRET}"
PLAIN_HTTP_KEYS = SECRET_KEYS.replace("https://", "http://")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: Settings(issuer="https://idp.example/", audience="a", jwks_uri=PLAIN_HTTP_KEYS),
            "must be an https:// URL",
            id="jwks_uri-plain-http",
        ),
        pytest.param(
            lambda: Settings(
                issuer="https://idp.example/", audience="a", jwks_uri=SECRET_KEYS.replace("idp.example", "[::1")
            ),
            "is not a valid URL",
            id="jwks_uri-invalid",
        ),
        pytest.param(
            lambda: Settings(issuer="https://idp.example/", audience="a", jwks_uri=[SECRET_KEYS]),  # type: ignore[arg-type]
            "must be a URL string",
            id="jwks_uri-not-a-string",
        ),
        pytest.param(
            lambda: Settings(issuer=SECRET_ISSUER.replace("https://", "http://"), audience="a", discovery=True),
            "issuer (used for discovery) must be an https:// URL",
            id="discovery-issuer-plain-http",
        ),
        pytest.param(
            lambda: Issuer(issuer=SECRET_ISSUER, jwks_uri=PLAIN_HTTP_KEYS),
            "must be an https:// URL",
            id="issuer-entry",
        ),
        pytest.param(
            lambda: Settings(
                audience="a",
                issuers=[Issuer(issuer=SECRET_ISSUER, discovery=True), Issuer(issuer=SECRET_ISSUER, discovery=True)],
            ),
            "is listed twice",
            id="issuer-listed-twice",
        ),
        pytest.param(
            lambda: Settings(issuers=[Issuer(issuer=SECRET_ISSUER, discovery=True)]),
            "audience is required",
            id="issuer-without-audience",
        ),
        pytest.param(lambda: KeySet(jwks_uri=PLAIN_HTTP_KEYS), "must be an https:// URL", id="key-set"),
    ],
)
def test_configuration_errors_show_key_urls_redacted(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as refused:
        build()
    assert SECRET not in str(refused.value)


def test_reprs_show_key_urls_redacted() -> None:
    entry = Issuer(issuer=SECRET_ISSUER, jwks_uri=SECRET_KEYS, audience="a")
    settings = Settings(issuer=SECRET_ISSUER, audience="a", jwks_uri=SECRET_KEYS)
    several = Settings(audience="a", issuers=[entry])
    key_set = KeySet(jwks_uri=SECRET_KEYS)
    for shown in (repr(entry), repr(settings), str(settings), repr(several), f"{several!r}"):
        assert SECRET not in shown
        assert "https://***@idp.example/realm?***" in shown
        assert "https://***@idp.example/keys?***" in shown
    assert repr(key_set) == "KeySet(source='https://***@idp.example/keys?***')"
    key_set.close()
