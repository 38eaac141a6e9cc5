"""DPoP (RFC 9449): the RFC's own examples as vectors, the proof checks of §4.3 through real HTTP on ASGI and WSGI,
the §7.2 downgrade, nonces, replay, proxies, and the verified-token cache that must never decide a DPoP request."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from jwtguard import (
    AuthError,
    ConfigurationError,
    DPoPProofInvalid,
    DPoPRequired,
    Guard,
    Issuer,
    JWTGuardMiddleware,
    JWTGuardWSGIMiddleware,
    MemoryReplayStore,
    NonceIssuer,
    ReplayStore,
    RequestInfo,
    Settings,
)
from jwtguard.dpop import ProofVerifier, access_token_hash, jwk_thumbprint, normalize_url
from jwtguard.testing import DevIssuer, SigningKey, dpop_proof, generate_key

from .conftest import live_server, live_wsgi_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# RFC 9449 §4.1, Figure 2 (the proof), and §6.1/§4.2: the key's RFC 7638 thumbprint as Figure 9 gives it.
RFC_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0Rs"
    "cEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2"
    "In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2Vu"
    "IiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
RFC_THUMBPRINT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
RFC_IAT = 1562262616
ALGS = "ES256 ES384 PS256 RS256 EdDSA"


def _decode(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _verifier(clock: Callable[[], float], **changes: Any) -> ProofVerifier:
    values: dict[str, Any] = {
        "algorithms": ["ES256"],
        "max_age": 300,
        "leeway": 0,
        "public_base_url": None,
        "replay_store": MemoryReplayStore(clock=clock),
        "nonces": None,
        "clock": clock,
    }
    values.update(changes)
    return ProofVerifier(**values)


# -- the RFC's examples ----------------------------------------------------------------------------


def test_the_rfc_example_key_has_the_rfc_thumbprint() -> None:
    assert jwk_thumbprint(RFC_JWK) == RFC_THUMBPRINT
    # Members outside RFC 7638's list (kid, alg, use) do not change it; their order does not either.
    assert jwk_thumbprint({"kid": "k", "use": "sig", **dict(reversed(list(RFC_JWK.items())))}) == RFC_THUMBPRINT


def test_the_rfc_example_proof_reads_as_the_rfc_shows_it() -> None:
    header, claims, _ = RFC_PROOF.split(".")
    assert _decode(header) == {"typ": "dpop+jwt", "alg": "ES256", "jwk": RFC_JWK}
    assert _decode(claims) == {
        "jti": "-BwC3ESc6acc2lTc",
        "htm": "POST",
        "htu": "https://server.example.com/token",
        "iat": RFC_IAT,
    }


def test_the_rfc_example_proof_passes_every_check_up_to_ath() -> None:
    # Made for a token request, it has no `ath`: at a resource server that is the first check it fails, so
    # typ, alg, jwk, the signature, jti, htm, htu and iat (clock frozen at the example's iat) all passed.
    verifier = _verifier(lambda: RFC_IAT + 10)
    with pytest.raises(DPoPProofInvalid, match="no 'ath'"):
        verifier.verify([RFC_PROOF], "POST", "https://server.example.com/token", "token", None)
    # HTTPS and the host compare case-insensitively, a default port is no port.
    with pytest.raises(DPoPProofInvalid, match="no 'ath'"):
        verifier.verify([RFC_PROOF], "POST", normalize_url("HTTPS://Server.Example.COM:443/token"), "token", None)
    with pytest.raises(DPoPProofInvalid, match="htu"):
        verifier.verify([RFC_PROOF], "POST", "https://server.example.com/other", "token", None)
    with pytest.raises(DPoPProofInvalid, match="htm"):
        verifier.verify([RFC_PROOF], "GET", "https://server.example.com/token", "token", None)
    with pytest.raises(DPoPProofInvalid, match="older than dpop_max_age"):
        _verifier(lambda: RFC_IAT + 301).verify([RFC_PROOF], "POST", "https://server.example.com/token", "t", None)
    with pytest.raises(DPoPProofInvalid, match="future"):
        _verifier(lambda: RFC_IAT - 1).verify([RFC_PROOF], "POST", "https://server.example.com/token", "t", None)
    tampered = RFC_PROOF.replace(".2-Gx", ".3-Gx")  # another signature, still canonical base64url
    with pytest.raises(DPoPProofInvalid, match="signature"):
        verifier.verify([tampered], "POST", "https://server.example.com/token", "token", None)


def test_ath_is_the_base64url_sha256_of_the_token() -> None:
    # RFC 9449 §7.1's example: the token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU" and its ath.
    assert (
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
        == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        pytest.param("https://API.example.com:443/a/b?x=1#f", "https://api.example.com/a/b", id="case-port-query"),
        pytest.param("http://h:80", "http://h/", id="empty-path"),
        pytest.param("http://h:8080/%7Euser", "http://h:8080/~user", id="percent-decoded"),
        pytest.param("http://[::1]:8000/x", "http://[::1]:8000/x", id="ipv6"),
        pytest.param("ftp://h/x", None, id="not-http"),
        pytest.param("https://user:pw@h/x", None, id="userinfo"),
        pytest.param("https://h:99999/x", None, id="bad-port"),
    ],
)
def test_urls_are_normalised_before_comparison(url: str, normalised: str | None) -> None:
    assert normalize_url(url) == normalised


# -- the stores --------------------------------------------------------------------------------------


def test_the_memory_replay_store_remembers_until_expiry_and_stays_bounded() -> None:
    now = [1000.0]
    store = MemoryReplayStore(maxsize=3, clock=lambda: now[0])
    assert isinstance(store, ReplayStore)
    assert store.seen("a", 1010) is False
    assert store.seen("a", 1010) is True
    now[0] = 1011
    assert store.seen("a", 1020) is False  # expired, so new again
    for key in "bcdef":
        store.seen(key, 2000)
    assert len(store) == 3
    with pytest.raises(ValueError, match="maxsize"):
        MemoryReplayStore(maxsize=0)


def test_nonces_last_two_periods_and_are_shared_through_the_secret() -> None:
    now = [1000.0]
    nonces = NonceIssuer(b"s" * 32, lifetime=100, clock=lambda: now[0])
    nonce = nonces.current()
    assert nonces.valid(nonce)
    assert NonceIssuer(b"s" * 32, lifetime=100, clock=lambda: now[0]).valid(nonce)  # another worker, one secret
    assert not NonceIssuer(b"t" * 32, lifetime=100, clock=lambda: now[0]).valid(nonce)
    now[0] += 100
    assert nonces.valid(nonce)
    assert nonces.current() != nonce
    now[0] += 100
    assert not nonces.valid(nonce)
    assert not any(nonces.valid(wrong) for wrong in (None, 7, "x" * 100))


# -- settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"dpop": "on"}, "dpop must be one of off, allowed, required", id="mode"),
        pytest.param({"dpop": "allowed", "dpop_algorithms": ["HS256"]}, "HMAC", id="hmac"),
        pytest.param({"dpop": "allowed", "dpop_algorithms": ["none"]}, "never include 'none'", id="none"),
        pytest.param({"dpop": "allowed", "dpop_algorithms": []}, "at least one", id="empty"),
        pytest.param({"dpop": "allowed", "dpop_max_age": 0}, "dpop_max_age", id="max-age"),
        pytest.param({"dpop": "allowed", "dpop_max_age": 7200}, "dpop_max_age", id="max-age-long"),
        pytest.param({"public_base_url": "api.example.com"}, "public_base_url", id="no-scheme"),
        pytest.param({"public_base_url": "https://api.example.com/v1?x=1"}, "query", id="query"),
        pytest.param({"public_base_url": "https://u:p@api.example.com"}, "credentials", id="userinfo"),
        pytest.param({"dpop_nonce": True}, "dpop_nonce needs dpop", id="nonce-without-dpop"),
    ],
)
def test_dpop_settings_are_validated(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings(issuer="https://id.example", audience="api", jwks={"keys": []}, **changes)


def test_dpop_settings_come_from_the_environment_and_issuers_inherit_them() -> None:
    settings = Settings.from_env(
        {
            "JWTGUARD_ISSUERS": json.dumps(
                [
                    {"issuer": "https://a.example", "jwks": {"keys": []}},
                    {"issuer": "https://b.example", "jwks": {"keys": []}, "dpop": "required"},
                ]
            ),
            "JWTGUARD_AUDIENCE": "api",
            "JWTGUARD_DPOP": "allowed",
            "JWTGUARD_DPOP_ALGORITHMS": "ES256,EdDSA",
            "JWTGUARD_DPOP_MAX_AGE": "120",
            "JWTGUARD_PUBLIC_BASE_URL": "https://api.example.com/v1",
            "JWTGUARD_DPOP_NONCE": "true",
        }
    )
    assert [entry.dpop for entry in settings.trusted_issuers] == ["allowed", "required"]
    assert (settings.dpop_algorithms, settings.dpop_max_age, settings.dpop_nonce) == (("ES256", "EdDSA"), 120.0, True)
    assert settings.public_base_url == "https://api.example.com/v1"
    with pytest.raises(ConfigurationError, match=r"issuers\[\]\.dpop"):
        Issuer(issuer="https://a.example", jwks={"keys": []}, dpop="yes")


# -- through real HTTP, on ASGI and WSGI -----------------------------------------------------------------


async def _who(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.user.subject)


def _asgi(settings: Settings) -> Starlette:
    app = Starlette(routes=[Route("/me", _who, methods=["GET", "POST"]), Route("/orders", _who)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    return app


def _wsgi_who(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["jwtguard.principal"].subject.encode()]


@contextmanager
def serve(stack: str, settings: Settings, *, prefix: str = "") -> Iterator[str]:
    """The app behind the guard on a live server; with `prefix`, mounted there (ASGI: the server's root_path)."""
    if stack == "asgi":
        with live_server(_asgi(settings), **({"root_path": prefix} if prefix else {})) as url:
            yield url
    else:
        app: Any = JWTGuardWSGIMiddleware(_wsgi_who, settings=settings)
        if prefix:
            app = DispatcherMiddleware(_wsgi_who, {prefix: app})
        with live_wsgi_server(app) as url:
            yield url + prefix


@pytest.fixture(scope="module")
def issuer() -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", algorithms=["ES256"]) as dev:
        yield dev


@pytest.fixture(params=["asgi", "wsgi"])
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Client:
    """One client: its DPoP key, its bound token, the URL of /me, and the issuer."""

    issuer: DevIssuer
    key: SigningKey
    token: str
    url: str
    others: dict[str, Any] = field(default_factory=dict)

    def proof(self, method: str = "GET", url: str | None = None, token: str | None = None, **more: Any) -> str:
        return dpop_proof(self.key, method, url or self.url, self.token if token is None else token, **more)


def _sign(key: SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private_key, algorithm=header.pop("alg", key.alg), headers=header)


def _proof_claims(client: Client, **changes: Any) -> dict[str, Any]:
    claims = {
        "jti": "j-" + str(time.time_ns()),
        "htm": "GET",
        "htu": client.url,
        "iat": int(time.time()),
        "ath": access_token_hash(client.token),
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _public(key: SigningKey) -> dict[str, Any]:
    return {name: value for name, value in key.public_jwk().items() if name not in ("kid", "alg", "use")}


def _unsigned(client: Client) -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": _public(client.key)}
    return f"{_encode(header)}.{_encode(_proof_claims(client))}."


def _encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


Headers = list[tuple[str, str]]
Build = Callable[[Client], Headers]


def dpop(proof: Callable[[Client], str]) -> Build:
    return lambda c: [("Authorization", f"DPoP {c.token}"), ("DPoP", proof(c))]


# Every check of RFC 9449 §4.3, each failing alone; then binding, replay and downgrade.
CASES = [
    pytest.param(dpop(lambda c: c.proof()), 200, None, id="valid"),
    pytest.param(dpop(lambda c: c.proof(url=c.url.upper().replace("/ME", "/me"))), 200, None, id="htu-host-case"),
    pytest.param(dpop(lambda c: c.proof(url=c.url + "?page=2")), 200, None, id="htu-query-ignored"),
    pytest.param(lambda c: [("Authorization", f"dpop {c.token}"), ("DPoP", c.proof())], 200, None, id="scheme-case"),
    pytest.param(lambda c: [("Authorization", f"DPoP {c.token}")], 401, "dpop_proof_invalid", id="no-proof"),
    pytest.param(
        lambda c: [("Authorization", f"DPoP {c.token}"), ("DPoP", c.proof()), ("DPoP", c.proof())],
        401,
        "dpop_proof_invalid",
        id="two-proofs",
    ),
    pytest.param(dpop(lambda c: "not-a-jwt"), 401, "dpop_proof_invalid", id="not-a-jws"),
    pytest.param(dpop(lambda c: c.proof() + "=="), 401, "dpop_proof_invalid", id="padded-jws"),
    pytest.param(dpop(lambda c: c.proof(headers={"typ": "JWT"})), 401, "dpop_proof_invalid", id="typ-jwt"),
    pytest.param(dpop(lambda c: c.proof(headers={"typ": None})), 401, "dpop_proof_invalid", id="typ-missing"),
    pytest.param(dpop(_unsigned), 401, "dpop_proof_invalid", id="alg-none"),
    pytest.param(
        dpop(lambda c: _sign(c.others["hmac"], {"typ": "dpop+jwt", "alg": "HS256", "jwk": {}}, _proof_claims(c))),
        401,
        "dpop_proof_invalid",
        id="alg-hmac",
    ),
    pytest.param(
        dpop(lambda c: dpop_proof(c.others["es512"], "GET", c.url, c.token)),
        401,
        "dpop_proof_invalid",
        id="alg-not-allowed",
    ),
    pytest.param(dpop(lambda c: c.proof(headers={"jwk": None})), 401, "dpop_proof_invalid", id="jwk-missing"),
    pytest.param(
        dpop(lambda c: c.proof(headers={"jwk": ECAlgorithm.to_jwk(c.key.private_key, as_dict=True)})),
        401,
        "dpop_proof_invalid",
        id="jwk-private",
    ),
    pytest.param(
        dpop(lambda c: c.proof(headers={"jwk": _public(c.others["rsa"])})),
        401,
        "dpop_proof_invalid",
        id="jwk-does-not-fit-alg",
    ),
    pytest.param(
        dpop(lambda c: c.proof(headers={"jwk": _public(c.others["ec"])})),
        401,
        "dpop_proof_invalid",
        id="signature-by-another-key",
    ),
    pytest.param(
        dpop(lambda c: _sign(c.key, {"typ": "dpop+jwt", "jwk": _public(c.key)}, _proof_claims(c, jti=None))),
        401,
        "dpop_proof_invalid",
        id="jti-missing",
    ),
    pytest.param(dpop(lambda c: c.proof(jti="x" * 300)), 401, "dpop_proof_invalid", id="jti-too-long"),
    pytest.param(dpop(lambda c: c.proof(method="POST")), 401, "dpop_proof_invalid", id="htm-other-method"),
    pytest.param(dpop(lambda c: c.proof(htm=None)), 401, "dpop_proof_invalid", id="htm-missing"),
    pytest.param(
        dpop(lambda c: c.proof(url=c.url.replace("/me", "/orders"))), 401, "dpop_proof_invalid", id="htu-other-path"
    ),
    pytest.param(
        dpop(lambda c: c.proof(url=c.url.replace("127.0.0.1", "localhost"))),
        401,
        "dpop_proof_invalid",
        id="htu-other-host",
    ),
    pytest.param(
        dpop(lambda c: c.proof(url=c.url.replace("http://", "https://"))),
        401,
        "dpop_proof_invalid",
        id="htu-other-scheme",
    ),
    pytest.param(dpop(lambda c: c.proof(iat=time.time() - 400)), 401, "dpop_proof_invalid", id="iat-too-old"),
    pytest.param(dpop(lambda c: c.proof(iat=time.time() + 120)), 401, "dpop_proof_invalid", id="iat-future"),
    pytest.param(dpop(lambda c: c.proof(iat="now")), 401, "dpop_proof_invalid", id="iat-not-a-number"),
    pytest.param(dpop(lambda c: c.proof(ath=None)), 401, "dpop_proof_invalid", id="ath-missing"),
    pytest.param(dpop(lambda c: c.proof(token="another.token.x")), 401, "dpop_binding_mismatch", id="ath-other-token"),
    pytest.param(
        lambda c: [
            ("Authorization", f"DPoP {c.others['bound-elsewhere']}"),
            ("DPoP", c.proof(token=c.others["bound-elsewhere"])),
        ],
        401,
        "dpop_binding_mismatch",
        id="token-bound-to-another-key",
    ),
    pytest.param(lambda c: [("Authorization", f"Bearer {c.token}")], 401, "dpop_required", id="bound-token-as-bearer"),
    pytest.param(
        lambda c: [("Authorization", f"Bearer {c.token}"), ("DPoP", c.proof())],
        401,
        "dpop_required",
        id="bound-token-as-bearer-with-proof",
    ),
    pytest.param(lambda c: [("Authorization", f"Bearer {c.others['plain']}")], 200, None, id="plain-bearer-allowed"),
    pytest.param(
        lambda c: [("Authorization", f"DPoP {c.others['plain']}"), ("DPoP", c.proof(token=c.others["plain"]))],
        200,
        None,
        id="plain-token-with-dpop",
    ),
    pytest.param(
        lambda c: [("Authorization", f"DPoP {c.token}"), ("Authorization", f"Bearer {c.token}"), ("DPoP", c.proof())],
        400,
        "invalid_request",
        id="two-credentials",
    ),
]


def _client(issuer: DevIssuer, url: str) -> Client:
    key = issuer.dpop_key()
    client = Client(issuer, key, issuer.token(subject="ann", dpop_key=key), url)
    client.others = {
        "hmac": SigningKey("h", "HS256", b"a-shared-secret-of-thirty-two-bytes!"),
        "es512": generate_key("ES512"),
        "rsa": generate_key("RS256"),
        "ec": generate_key("ES256"),
        "bound-elsewhere": issuer.token(subject="ann", dpop_key=issuer.dpop_key()),
        "plain": issuer.token(subject="ann"),
    }
    return client


@pytest.fixture(scope="module")
def servers(issuer: DevIssuer) -> Iterator[dict[str, str]]:
    settings = issuer.settings(dpop="allowed")
    with serve("asgi", settings) as asgi, serve("wsgi", settings) as wsgi:
        yield {"asgi": asgi, "wsgi": wsgi}


def _check(response: httpx.Response, status: int, code: str | None) -> None:
    assert response.status_code == status, response.text
    if code is None:
        assert response.text == "ann"
        return
    body = response.json()
    assert body["code"] == code
    challenge = response.headers["www-authenticate"]
    if status == 401:
        assert f'DPoP realm="api", algs="{ALGS}"' in challenge
        assert challenge.startswith('Bearer realm="api"')  # Bearer is still accepted here
        if code in ("dpop_proof_invalid", "dpop_replayed"):
            assert challenge.endswith(f'error="invalid_dpop_proof", error_description="{body["detail"]}"')
        elif code in ("dpop_binding_mismatch", "dpop_required"):
            assert challenge.endswith(f'error="invalid_token", error_description="{body["detail"]}"')


@pytest.mark.parametrize(("build", "status", "code"), CASES)
def test_each_proof_check_through_real_http(
    build: Build, status: int, code: str | None, stack: str, servers: dict[str, str], issuer: DevIssuer
) -> None:
    client = _client(issuer, servers[stack] + "/me")
    _check(httpx.get(client.url, headers=build(client)), status, code)


def test_a_proof_is_used_once(stack: str, servers: dict[str, str], issuer: DevIssuer) -> None:
    client = _client(issuer, servers[stack] + "/me")
    headers = {"Authorization": f"DPoP {client.token}", "DPoP": client.proof()}
    _check(httpx.get(client.url, headers=headers), 200, None)
    _check(httpx.get(client.url, headers=headers), 401, "dpop_replayed")
    # The cached token with a new proof passes; the proof is checked each time, the token is not re-verified.
    _check(httpx.get(client.url, headers={**headers, "DPoP": client.proof()}), 200, None)


def test_the_cache_never_decides_a_dpop_request_nor_a_bound_token_as_bearer(
    stack: str, servers: dict[str, str], issuer: DevIssuer
) -> None:
    client = _client(issuer, servers[stack] + "/me")
    for _ in range(2):  # the first request caches the verified token; the second would be a cache hit
        _check(
            httpx.get(client.url, headers={"Authorization": f"DPoP {client.token}", "DPoP": client.proof()}), 200, None
        )
        _check(httpx.get(client.url, headers={"Authorization": f"Bearer {client.token}"}), 401, "dpop_required")
        _check(httpx.get(client.url, headers={"Authorization": f"DPoP {client.token}"}), 401, "dpop_proof_invalid")
        bad = {"Authorization": f"DPoP {client.token}", "DPoP": client.proof(method="POST")}
        _check(httpx.get(client.url, headers=bad), 401, "dpop_proof_invalid")


def test_the_hot_path_keeps_plain_tokens_and_refuses_bound_ones(issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings(dpop="allowed"))
    key = issuer.dpop_key()
    bound, plain = issuer.token(dpop_key=key), issuer.token()
    scope = {"type": "http", "method": "GET", "path": "/me", "headers": [(b"host", b"api.test")], "scheme": "http"}

    def check(token: str, scheme: str, proof: str | None = None) -> Any:
        headers = [(b"authorization", f"{scheme} {token}".encode()), *scope["headers"]]
        if proof is not None:
            headers.append((b"dpop", proof.encode()))
        return guard.check_request(RequestInfo.from_scope({**scope, "headers": headers}))

    assert check(plain, "Bearer") is not None
    assert guard.accept_cached(f"Bearer {plain}".encode(), None, RequestInfo.from_scope, scope) is not None
    assert check(bound, "DPoP", dpop_proof(key, "GET", "http://api.test/me", bound)) is not None
    assert guard.cache_stats.entries == 2  # the bound token is cached, for DPoP requests to find
    for header in (f"Bearer {bound}", f"Bearer {bound}".encode(), f"DPoP {bound}", f"DPoP {bound}".encode()):
        assert guard.accept_cached(header, None, RequestInfo.from_scope, scope) is None
    with pytest.raises(DPoPRequired):
        check(bound, "Bearer")
    # `authenticate` sees no DPoP header: a bound token and the DPoP scheme are refused there.
    with pytest.raises(DPoPRequired):
        guard.authenticate(f"Bearer {bound}")
    with pytest.raises(DPoPProofInvalid):
        guard.authenticate(f"DPoP {bound}")
    assert guard.authenticate(f"Bearer {plain}").subject == "user-1"


def test_a_token_refusal_goes_on_the_challenge_of_the_scheme_used(
    stack: str, servers: dict[str, str], issuer: DevIssuer
) -> None:
    client = _client(issuer, servers[stack] + "/me")
    expired = issuer.token(subject="ann", dpop_key=client.key, expires_in=-120)
    as_dpop = httpx.get(client.url, headers={"Authorization": f"DPoP {expired}", "DPoP": client.proof(token=expired)})
    assert as_dpop.json()["code"] == "token_expired"
    assert as_dpop.headers["www-authenticate"] == (
        f'Bearer realm="api", DPoP realm="api", algs="{ALGS}", error="invalid_token", '
        'error_description="The access token expired."'
    )
    as_bearer = httpx.get(client.url, headers={"Authorization": f"Bearer {issuer.token(expires_in=-120)}"})
    assert as_bearer.headers["www-authenticate"] == (
        'Bearer realm="api", error="invalid_token", error_description="The access token expired.", '
        f'DPoP realm="api", algs="{ALGS}"'
    )


def test_required_refuses_bearer_and_unbound_tokens(stack: str, issuer: DevIssuer) -> None:
    with serve(stack, issuer.settings(dpop="required")) as base:
        client = _client(issuer, base + "/me")
        plain = client.others["plain"]
        response = httpx.get(client.url, headers={"Authorization": f"Bearer {plain}"})
        _check_required(response, "dpop_required")
        response = httpx.get(client.url, headers={"Authorization": f"DPoP {plain}", "DPoP": client.proof(token=plain)})
        _check_required(response, "dpop_required")
        response = httpx.get(client.url)
        assert response.headers["www-authenticate"] == f'DPoP realm="api", algs="{ALGS}"'
        _check(
            httpx.get(client.url, headers={"Authorization": f"DPoP {client.token}", "DPoP": client.proof()}), 200, None
        )


def _check_required(response: httpx.Response, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (401, code)
    # Bearer is accepted nowhere: only the DPoP challenge, with the error.
    assert response.headers["www-authenticate"].startswith(f'DPoP realm="api", algs="{ALGS}", error="invalid_token"')


def test_the_nonce_flow(stack: str, issuer: DevIssuer) -> None:
    with serve(stack, issuer.settings(dpop="allowed", dpop_nonce=True)) as base:
        client = _client(issuer, base + "/me")
        first = httpx.get(client.url, headers={"Authorization": f"DPoP {client.token}", "DPoP": client.proof()})
        assert (first.status_code, first.json()["code"]) == (401, "use_dpop_nonce")
        assert 'error="use_dpop_nonce"' in first.headers["www-authenticate"]
        nonce = first.headers["dpop-nonce"]
        wrong = httpx.get(
            client.url, headers={"Authorization": f"DPoP {client.token}", "DPoP": client.proof(nonce="stale")}
        )
        assert wrong.json()["code"] == "use_dpop_nonce"
        assert wrong.headers["dpop-nonce"] == nonce
        headers = {"Authorization": f"DPoP {client.token}", "DPoP": client.proof(nonce=nonce)}
        _check(httpx.get(client.url, headers=headers), 200, None)


def test_behind_a_proxy_htu_is_the_public_url(stack: str, issuer: DevIssuer) -> None:
    # The proxy terminates TLS for https://api.example.com and strips /v1; the app sees http://127.0.0.1:PORT/orders
    # under the mount point /v1 (ASGI root_path; WSGI SCRIPT_NAME).
    settings = issuer.settings(dpop="allowed", public_base_url="https://api.example.com/v1")
    with serve(stack, settings, prefix="/v1") as base:
        client = _client(issuer, base + "/orders")
        public, url = "https://api.example.com/v1/orders", client.url
        _check(
            httpx.get(url, headers={"Authorization": f"DPoP {client.token}", "DPoP": client.proof(url=public)}),
            200,
            None,
        )
        # A proof for the URL the app sees is refused: the client never called it.
        seen = httpx.get(url, headers={"Authorization": f"DPoP {client.token}", "DPoP": client.proof(url=url)})
        assert seen.json()["code"] == "dpop_proof_invalid"


def test_off_keeps_the_dpop_scheme_unknown_and_refuses_bound_tokens(stack: str, issuer: DevIssuer) -> None:
    with serve(stack, issuer.settings()) as base:
        client = _client(issuer, base + "/me")
        response = httpx.get(client.url, headers={"Authorization": f"DPoP {client.token}", "DPoP": client.proof()})
        assert (response.status_code, response.json()["code"]) == (401, "token_missing")
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'
        # RFC 9449 §7.2: a server unaware of DPoP would take a bound token as a bearer token. Off here means no proof
        # can be checked, so the bound token is refused: its issuer meant it never to work without one.
        refused = httpx.get(client.url, headers={"Authorization": f"Bearer {client.token}"})
        assert (refused.status_code, refused.json()["code"]) == (401, "dpop_required")
        assert refused.headers["www-authenticate"].startswith('Bearer realm="api", error="invalid_token"')
        _check(httpx.get(client.url, headers={"Authorization": f"Bearer {issuer.token(subject='ann')}"}), 200, None)


def test_per_issuer_modes(issuer: DevIssuer) -> None:
    with DevIssuer(audience=issuer.audience, algorithms=["ES256"]) as other:
        settings = Settings(
            audience=issuer.audience,
            algorithms=["ES256"],
            issuers=[
                Issuer(issuer=issuer.issuer, jwks_uri=issuer.jwks_uri, dpop="required"),
                Issuer(issuer=other.issuer, jwks_uri=other.jwks_uri),
            ],
            dpop="off",
        )
        guard = Guard(settings)
        key = issuer.dpop_key()
        with pytest.raises(DPoPRequired):
            guard.authenticate(f"Bearer {issuer.token()}")
        assert guard.authenticate(f"Bearer {other.token()}").subject == "user-1"
        request = RequestInfo.from_scope(
            {
                "type": "http",
                "method": "GET",
                "path": "/me",
                "scheme": "http",
                "headers": [
                    (b"host", b"api.test"),
                    (b"authorization", f"DPoP {other.token(dpop_key=key)}".encode()),
                    (b"dpop", dpop_proof(key, "GET", "http://api.test/me").encode()),
                ],
            }
        )
        with pytest.raises(Exception, match="dpop='off'") as refused:
            guard.check_request(request)
        assert refused.value.code == "token_missing"  # type: ignore[attr-defined]


# -- the command ----------------------------------------------------------------------------------------


def _verify_cli(issuer: DevIssuer, token: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [
            sys.executable, "-m", "jwtguard", "verify", token, "--issuer", issuer.issuer, "--audience", issuer.audience,
            "--jwks-uri", issuer.jwks_uri, "--algorithm", "ES256", "--json", *extra,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_verify_walks_the_dpop_proof(issuer: DevIssuer) -> None:
    key = issuer.dpop_key()
    token = issuer.token(dpop_key=key)
    url = "https://api.example.com/orders"
    status, report = _verify_cli(
        issuer, token, "--dpop-proof", dpop_proof(key, "POST", url, token), "--method", "POST", "--url", url
    )
    assert status == 0
    [said, checks] = report["dpop"]
    assert said["detail"].startswith(f"typ=dpop+jwt alg=ES256 jkt={key.thumbprint()} htm=POST htu={url}")
    assert checks["status"] == "pass"
    status, report = _verify_cli(
        issuer, token, "--dpop-proof", dpop_proof(key, "GET", url, token), "--method", "POST", "--url", url
    )
    assert status == 1
    assert report["dpop"][-1] == {
        "name": "dpop checks",
        "status": "fail",
        "detail": "DPoP proof 'htm' is not the request's method",
        "code": "dpop_proof_invalid",
    }
    other = issuer.dpop_key()
    status, report = _verify_cli(issuer, token, "--dpop-proof", dpop_proof(other, "GET", url, token), "--url", url)
    assert (status, report["dpop"][-1]["code"]) == (1, "dpop_binding_mismatch")


def test_an_iat_too_large_for_a_float_and_a_non_ascii_nonce_are_refusals_not_errors(issuer: DevIssuer) -> None:
    # Found in review: both once escaped as a 500 (an OverflowError, and compare_digest's TypeError).
    key = issuer.dpop_key()
    token = issuer.token(dpop_key=key)
    url = "https://api.example.com/orders"
    for settings, overrides, code in (
        (issuer.settings(dpop="allowed"), {"iat": 10**400}, "dpop_proof_invalid"),
        (issuer.settings(dpop="allowed", dpop_nonce=True), {"nonce": "é"}, "use_dpop_nonce"),
    ):
        guard = Guard(settings)
        scope = {
            "type": "http", "method": "GET", "scheme": "https", "path": "/orders", "root_path": "",
            "query_string": b"", "client": ("127.0.0.1", 1),
            "headers": [
                (b"host", b"api.example.com"),
                (b"authorization", f"DPoP {token}".encode()),
                (b"dpop", dpop_proof(key, "GET", url, token, **overrides).encode()),
            ],
        }  # fmt: skip
        with pytest.raises(AuthError) as caught:
            guard.check_request(RequestInfo.from_scope(scope))
        assert caught.value.code == code
        guard.close()


@pytest.mark.parametrize(
    ("signed_for", "path", "host", "accepted"),
    [
        pytest.param("/orders", "/orders?/../admin", "api.example.com", False, id="decoded-question-mark"),
        pytest.param("/orders", "/orders#x", "api.example.com", False, id="decoded-hash"),
        pytest.param("/", "/admin", "api.example.com#", False, id="hash-in-host"),
        pytest.param("/", "/admin", "api.example.com?", False, id="question-mark-in-host"),
        pytest.param("/a%FF", "/a\ufffd", "api.example.com", False, id="invalid-utf8-escape"),
        pytest.param("/a%3Fb", "/a?b", "api.example.com", True, id="escaped-question-mark-in-its-place"),
    ],
)
def test_htu_is_compared_without_parsing_the_request_path_again(
    issuer: DevIssuer, signed_for: str, path: str, host: str, accepted: bool
) -> None:
    # Found in review: the URL was rebuilt from the decoded path and the Host header and parsed again, so a decoded
    # '?' or '#' cut the path short and a proof made for one URL passed at another.
    key = issuer.dpop_key()
    token = issuer.token(dpop_key=key)
    guard = Guard(issuer.settings(dpop="allowed"))
    proof = dpop_proof(key, "GET", "https://api.example.com" + signed_for, token)
    scope = {
        "type": "http", "method": "GET", "scheme": "https", "path": path, "root_path": "", "query_string": b"",
        "client": ("127.0.0.1", 1),
        "headers": [(b"host", host.encode()), (b"authorization", f"DPoP {token}".encode()), (b"dpop", proof.encode())],
    }  # fmt: skip
    if accepted:
        assert guard.check_request(RequestInfo.from_scope(scope)) is not None
    else:
        with pytest.raises(AuthError) as caught:
            guard.check_request(RequestInfo.from_scope(scope))
        assert caught.value.code == "dpop_proof_invalid"
    guard.close()
