"""Settings validation and environment parsing: loud, specific errors for every mistake."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from jwtguard import ConfigurationError, Settings

BASE: dict[str, Any] = {
    "issuer": "https://id.example.test/",
    "audience": "orders-api",
    "jwks_uri": "https://id.example.test/.well-known/jwks.json",
}


def test_defaults_are_secure() -> None:
    settings = Settings(**BASE)
    assert settings.algorithms == ("RS256",)
    assert settings.leeway == 60
    assert settings.issuer == ("https://id.example.test/",)
    assert settings.audiences == ("orders-api",)
    assert settings.allow_anonymous is False
    assert settings.insecure_allow_any_issuer is False
    assert settings.insecure_allow_any_audience is False
    assert 0 < settings.jwks_timeout <= 5


def test_lists_are_normalised_to_tuples() -> None:
    settings = Settings(**{**BASE, "audience": ["a", "b"], "algorithms": ["RS256", "ES256"]})
    assert settings.audiences == ("a", "b")
    assert settings.algorithms == ("RS256", "ES256")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"jwks_uri": None}, "no key source", id="no-key-source"),
        pytest.param({"discovery": True}, "choose one key source", id="two-key-sources"),
        pytest.param({"jwks_uri": "http://id.example.test/jwks"}, "https://", id="plain-http"),
        pytest.param({"jwks_uri": "ftp://127.0.0.1/jwks"}, "https://", id="other-scheme"),
        pytest.param(
            {"jwks_uri": None, "discovery": True, "issuer": "http://id.example.test"}, "https://", id="http-discovery"
        ),
        pytest.param(
            {"jwks_uri": None, "discovery": True, "issuer": ["https://a", "https://b"]},
            "exactly one issuer",
            id="discovery-two-issuers",
        ),
        pytest.param({"algorithms": []}, "at least one algorithm", id="no-algorithms"),
        pytest.param({"algorithms": ["none"]}, "never include 'none'", id="none"),
        pytest.param({"algorithms": ["RS256", "NoNe"]}, "never include 'none'", id="none-casing"),
        pytest.param({"algorithms": ["RS256", "HS256"]}, "HMAC", id="hmac-mixed"),
        pytest.param({"algorithms": ["RS1"]}, "not supported", id="unknown-alg"),
        pytest.param({"issuer": None}, "issuer is required", id="no-issuer"),
        pytest.param({"audience": []}, "audience is required", id="no-audience"),
        pytest.param({"audience": ["ok", ""]}, "non-empty strings", id="empty-audience"),
        pytest.param({"leeway": -1}, "leeway must be between", id="negative-leeway"),
        pytest.param({"leeway": 3600}, "leeway must be between", id="huge-leeway"),
        pytest.param({"leeway": float("nan")}, "finite", id="nan-leeway"),
        pytest.param({"jwks_timeout": 0}, "jwks_timeout must be positive", id="zero-timeout"),
        pytest.param({"jwks_timeout": 120}, "hang", id="long-timeout"),
        pytest.param({"jwks_cache_ttl": -5}, "jwks_cache_ttl must be positive", id="negative-ttl"),
        pytest.param({"jwks_min_refresh_interval": 0}, "must be positive", id="zero-interval"),
        pytest.param(
            {"jwks_min_refresh_interval": 120}, "not be longer than jwks_cache_ttl_min", id="interval-over-ttl"
        ),
        pytest.param({"jwks_cache_ttl": 10}, "must lie between", id="ttl-below-min"),
        pytest.param({"jwks_cache_ttl_max": 100}, "must lie between", id="ttl-above-max"),
        pytest.param({"jwks_max_stale": -1}, "zero or positive", id="negative-stale"),
        pytest.param({"jwks_prefetch": "yes"}, "jwks_prefetch must be one of", id="prefetch-mode"),
        pytest.param({"allow_anonymous": "false"}, "must be true or false", id="bool-as-string"),
        pytest.param({"audience": 42}, "string or a list of strings", id="audience-number"),
        pytest.param(
            {"issuers": [{"issuer": "https://a.test/", "jwks_uri": "https://a.test/jwks"}]},
            "set issuer, jwks_uri in each issuer entry",
            id="issuers-and-top-level-source",
        ),
        pytest.param({"max_token_bytes": 0}, "positive whole number", id="zero-token-size"),
        pytest.param({"jwks_max_bytes": True}, "positive whole number", id="bool-size"),
        pytest.param({"required_scopes": ["a b"]}, "is not a scope", id="scope-with-space"),
        pytest.param({"required_scopes": ["lesen\u2192x"]}, "is not a scope", id="scope-non-ascii"),
        pytest.param({"required_scopes": ['a"b']}, "is not a scope", id="scope-quote"),
        pytest.param({"realm": "API \u2013 prod"}, "printable ASCII", id="realm-non-ascii"),
        pytest.param({"exclude_paths": ["health"]}, "must start with '/'", id="relative-path"),
        pytest.param({"exclude_paths": ["/public*"]}, "prefix ending in '/*'", id="bad-wildcard"),
        pytest.param({"realm": "a\nb"}, "printable ASCII", id="realm-newline"),
        pytest.param({"jwks_uri": None, "jwks": {"nokeys": []}}, '"keys" list', id="jwks-not-a-set"),
        pytest.param({"jwks_uri": None, "jwks": "{not json"}, "not valid JSON", id="jwks-bad-json"),
        pytest.param({"jwks_uri": None, "jwks": "/nonexistent/jwks.json"}, "cannot read", id="jwks-missing-file"),
    ],
)
def test_invalid_settings_are_refused_with_a_message_that_says_what_to_fix(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings(**{**BASE, **changes})


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/jwks"])
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert Settings(**{**BASE, "jwks_uri": url}).jwks_uri == url


def test_insecure_flags_disable_the_checks_loudly(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(jwks_uri=BASE["jwks_uri"], insecure_allow_any_issuer=True, insecure_allow_any_audience=True)
    assert settings.issuer == ()
    assert settings.audiences == ()
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any("insecure_allow_any_issuer" in message for message in warnings)
    assert any("insecure_allow_any_audience" in message for message in warnings)


def test_static_jwks_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": []}))
    settings = Settings(issuer="https://id.example.test/", audience="api", jwks=str(path))
    assert settings.static_jwks == {"keys": []}


def test_settings_are_frozen() -> None:
    settings = Settings(**BASE)
    with pytest.raises(AttributeError):
        settings.leeway = 0  # type: ignore[misc]


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        Settings("https://id.example.test/")  # type: ignore[call-arg]


def test_from_env_reads_every_kind_of_field() -> None:
    environ = {
        "JWTGUARD_ISSUER": "https://id.example.test/",
        "JWTGUARD_AUDIENCE": "orders-api, admin-api",
        "JWTGUARD_ALGORITHMS": "RS256,ES256",
        "JWTGUARD_JWKS_URI": "https://id.example.test/jwks",
        "JWTGUARD_LEEWAY": "30",
        "JWTGUARD_REQUIRED_SCOPES": "orders:read",
        "JWTGUARD_EXCLUDE_PATHS": "/health,/public/*",
        "JWTGUARD_ALLOW_ANONYMOUS": "TRUE",
        "JWTGUARD_MAX_TOKEN_BYTES": "8192",
        "JWTGUARD_REALM": "orders",
        "OTHER_VARIABLE": "ignored",
    }
    settings = Settings.from_env(environ)
    assert settings.issuer == ("https://id.example.test/",)
    assert settings.audiences == ("orders-api", "admin-api")
    assert settings.algorithms == ("RS256", "ES256")
    assert settings.leeway == 30.0
    assert settings.required_scopes == ("orders:read",)
    assert settings.exclude_paths == ("/health", "/public/*")
    assert settings.allow_anonymous is True
    assert settings.max_token_bytes == 8192
    assert settings.realm == "orders"


def test_from_env_with_a_prefix_and_overrides() -> None:
    environ = {"API_ISSUER": "https://id.example.test/", "API_AUDIENCE": "a", "API_JWKS_URI": BASE["jwks_uri"]}
    settings = Settings.from_env(environ, prefix="API_", leeway=5)
    assert settings.leeway == 5
    assert settings.audiences == ("a",)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("JWTGUARD_ALLOW_ANONYMOUS", "yes", "true, false, 1 or 0", id="bool-yes"),
        pytest.param("JWTGUARD_ALLOW_ANONYMOUS", "", "true, false, 1 or 0", id="bool-empty"),
        pytest.param("JWTGUARD_LEEWAY", "a minute", "must be a number", id="number"),
        pytest.param("JWTGUARD_AUDIENCES", "a", "did you mean JWTGUARD_AUDIENCE", id="typo"),
        pytest.param("JWTGUARD_ERROR_BODY_HOOK", "x", "must be a callable", id="not-from-env"),
    ],
)
def test_from_env_refuses_bad_values(variable: str, value: str, message: str) -> None:
    environ = {
        "JWTGUARD_ISSUER": "https://id.example.test/",
        "JWTGUARD_AUDIENCE": "a",
        "JWTGUARD_JWKS_URI": BASE["jwks_uri"],
    }
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**environ, variable: value})


MULTI: dict[str, Any] = {
    "audience": "orders-api",
    "issuers": [
        {"issuer": "https://id.example.test/realms/a", "discovery": True},
        {"issuer": "https://id.example.test/realms/b", "jwks_uri": "https://id.example.test/b/jwks", "audience": "b"},
    ],
}


def test_issuers_inherit_audience_and_algorithms() -> None:
    settings = Settings(**MULTI, algorithms=["RS256", "ES256"])
    a, b = settings.trusted_issuers
    assert a.names == ("https://id.example.test/realms/a",)
    assert a.audience == ("orders-api",)
    assert b.audience == ("b",)
    assert a.algorithms == b.algorithms == ("RS256", "ES256")
    assert settings.multi_issuer


def test_a_single_issuer_is_one_trusted_issuer() -> None:
    [only] = Settings(**BASE).trusted_issuers
    assert only.names == ("https://id.example.test/",)
    assert only.jwks_uri == BASE["jwks_uri"]


@pytest.mark.parametrize(
    ("issuers", "message"),
    [
        pytest.param([{"issuer": "https://a.test/"}], "no key source", id="entry-without-source"),
        pytest.param([{"jwks_uri": "https://a.test/jwks"}], "needs an 'issuer'", id="entry-without-issuer"),
        pytest.param([{"issuer": "https://a.test/", "jwks_url": "x"}], "unknown key(s) jwks_url", id="entry-typo"),
        pytest.param(
            [{"issuer": "https://a.test/", "jwks_uri": "http://a.test/jwks"}], "https://", id="entry-plain-http"
        ),
        pytest.param(
            [
                {"issuer": "https://a.test/", "jwks_uri": "https://a.test/jwks"},
                {"issuer": "https://a.test/", "jwks_uri": "https://b.test/jwks"},
            ],
            "listed twice",
            id="duplicate-issuer",
        ),
        pytest.param(
            [{"issuer": "https://a.test/", "jwks_uri": "https://a.test/jwks", "algorithms": ["HS256"]}],
            "HMAC",
            id="entry-hmac",
        ),
        pytest.param(
            [{"issuer": "https://a.test/", "discovery": "false"}], "must be true or false", id="entry-discovery-string"
        ),
        pytest.param([{"issuer": 5, "jwks_uri": "https://a.test/jwks"}], "string or a list", id="entry-issuer-number"),
        pytest.param([{"issuer": "https://a.test/", "jwks_uri": 123}], "must be a URL string", id="entry-uri-number"),
        pytest.param(
            [{"issuer": "https://a.test/", "jwks_uri": "https://[::1"}], "not a valid URL", id="entry-bad-url"
        ),
        pytest.param("not json", "not a JSON list", id="env-not-json"),
        pytest.param({"issuer": "https://a.test/"}, "must be a list", id="a-mapping-not-a-list"),
    ],
)
def test_invalid_issuers_are_refused(issuers: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings(audience="a", issuers=issuers)


def test_issuers_need_an_audience_somewhere() -> None:
    with pytest.raises(ConfigurationError, match="audience is required"):
        Settings(issuers=[{"issuer": "https://a.test/", "jwks_uri": "https://a.test/jwks"}])


def test_issuers_from_the_environment_as_json() -> None:
    environ = {
        "JWTGUARD_AUDIENCE": "api",
        "JWTGUARD_ISSUERS": json.dumps([{"issuer": "https://a.test/", "jwks_uri": "https://a.test/jwks"}]),
        "JWTGUARD_JWKS_MAX_STALE": "600",
        "JWTGUARD_JWKS_PREFETCH": "strict",
    }
    settings = Settings.from_env(environ)
    [entry] = settings.trusted_issuers
    assert entry.jwks_uri == "https://a.test/jwks"
    assert settings.jwks_max_stale == 600
    assert settings.jwks_prefetch == "strict"


def test_a_template_admitting_any_tenant_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    from jwtguard import Guard, Issuer

    entry = Issuer(
        issuer="https://login.example.test/{tenant}/v2.0",
        jwks_uri="https://login.example.test/common/keys",
        tenants="any",
        tenant_claim="tid",
    )
    settings = Settings(audience="api", role_claims=["roles"], issuers=[entry])
    Guard(settings).close()
    [resolved] = settings.trusted_issuers
    assert (resolved.tenants, resolved.role_claims, resolved.audience) == ("any", ("roles",), ("api",))
    assert entry.role_claims is None  # the entry itself keeps what it was given
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len([message for message in warnings if "accepts tokens of any tenant" in message]) == 1
