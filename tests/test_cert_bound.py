"""Certificate-bound access tokens (RFC 8705 §3): a token with `cnf.x5t#S256` needs the client certificate it names,
from the server's TLS connection or from a trusted proxy's header, on ASGI and WSGI, cached or not."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import subprocess
import sys
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.types import Receive, Scope, Send

from jwtguard import (
    CertificateBindingMismatch,
    ClaimInvalid,
    ConfigurationError,
    Guard,
    JWTGuardMiddleware,
    JWTGuardWSGIMiddleware,
    RequestInfo,
    Settings,
)
from jwtguard.certificates import bound_thumbprint, der_thumbprint, pem_thumbprint
from jwtguard.testing import DevIssuer

from .conftest import live_server, live_wsgi_server


def make_certificate(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


CLIENT = make_certificate("client")
OTHER = make_certificate("someone else")


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def thumbprint(cert: x509.Certificate) -> str:
    return base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode("ascii")


# The header each proxy sends, as it writes it.
def nginx(cert: x509.Certificate) -> str:  # $ssl_client_escaped_cert
    return quote(pem(cert), safe="")


def alb(cert: x509.Certificate) -> str:  # X-Amzn-Mtls-Clientcert: URL-encoded PEM, '+', '=', '/' left as they are
    return quote(pem(cert), safe="+=/")


def traefik(cert: x509.Certificate) -> str:  # X-Forwarded-Tls-Client-Cert: base64 DER, no armour
    return base64.b64encode(der(cert)).decode("ascii")


def envoy_hash(cert: x509.Certificate) -> str:
    return (
        f'By=spiffe://cluster.local/ns/default/sa/api;Hash={hashlib.sha256(der(cert)).hexdigest()};Subject="CN=a,O=b"'
    )


def envoy_cert(cert: x509.Certificate) -> str:
    return f'Cert="{quote(pem(cert), safe="")}";Subject="CN=client"'


# -- reading certificates and thumbprints -------------------------------------------------------------------------


def test_thumbprints_of_every_spelling_agree() -> None:
    expected = thumbprint(CLIENT)
    assert der_thumbprint(der(CLIENT)) == expected
    assert pem_thumbprint(pem(CLIENT)) == expected
    assert pem_thumbprint(pem(CLIENT).replace("\n", " ")) == expected  # folded onto one line by a proxy
    assert pem_thumbprint(traefik(CLIENT)) == expected
    assert pem_thumbprint(traefik(CLIENT) + "," + traefik(OTHER)) == expected  # a chain: the client's is first
    for garbage in ("", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"):
        assert pem_thumbprint(garbage) is None


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param({}, None, id="no-cnf"),
        pytest.param({"cnf": {"jkt": "x" * 43}}, None, id="dpop-only"),
        pytest.param({"cnf": {"x5t#S256": thumbprint(CLIENT)}}, thumbprint(CLIENT), id="bound"),
    ],
)
def test_bound_thumbprint(claims: dict[str, Any], expected: str | None) -> None:
    assert bound_thumbprint(claims) == expected


@pytest.mark.parametrize(
    "cnf",
    [
        pytest.param("x5t", id="not-an-object"),
        pytest.param({"x5t#S256": 5}, id="number"),
        pytest.param({"x5t#S256": "tooshort"}, id="short"),
        pytest.param({"x5t#S256": hashlib.sha256(b"x").hexdigest()}, id="hex-not-base64url"),
    ],
)
def test_a_malformed_binding_is_claim_invalid(cnf: object) -> None:
    with pytest.raises(ClaimInvalid):
        bound_thumbprint({"cnf": cnf})


def test_the_header_needs_trusted_proxies(issuer: DevIssuer) -> None:
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        issuer.settings(client_cert_header="x-client-cert")
    with pytest.raises(ConfigurationError, match="header name"):
        issuer.settings(client_cert_header="x client", trusted_proxies=["10.0.0.1"])
    settings = Settings.from_env(
        {
            "JWTGUARD_ISSUER": issuer.issuer,
            "JWTGUARD_AUDIENCE": "api",
            "JWTGUARD_JWKS_URI": issuer.jwks_uri,
            "JWTGUARD_CLIENT_CERT_HEADER": "X-Forwarded-Client-Cert",
            "JWTGUARD_TRUSTED_PROXIES": "10.0.0.0/8",
        }
    )
    assert settings.client_cert_header == "x-forwarded-client-cert"


def test_authenticate_without_a_request_refuses_a_bound_token(issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings())
    assert guard.authenticate("Bearer " + issuer.token()).subject == "user-1"
    with pytest.raises(CertificateBindingMismatch):
        guard.authenticate("Bearer " + issuer.token(cnf={"x5t#S256": thumbprint(CLIENT)}))


# -- the server's own TLS connection ------------------------------------------------------------------------------


async def ok_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def asgi_call(app: Any, token: str, chain: list[str] | None) -> tuple[int, dict[str, str]]:
    """One raw ASGI request, with the TLS extension a server with mTLS fills in (uvicorn and hypercorn do not)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"api.example"), (b"authorization", b"Bearer " + token.encode())],
        "client": ("192.0.2.7", 50000),
        "server": ("127.0.0.1", 443),
    }
    if chain is not None:
        scope["extensions"] = {"tls": {"server_cert": None, "client_cert_chain": chain, "tls_version": 0x0304}}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], {name.decode(): value.decode() for name, value in start["headers"]}


def test_asgi_tls_extension(issuer: DevIssuer) -> None:
    app = JWTGuardMiddleware(ok_asgi, guard=Guard(issuer.settings()))
    bound = issuer.token(cnf={"x5t#S256": thumbprint(CLIENT)})
    # Twice each: the second from the verified-token cache, which must not skip the certificate.
    for _ in range(2):
        assert asgi_call(app, bound, [pem(CLIENT), pem(OTHER)])[0] == 200
        for chain in ([pem(OTHER)], [], None):
            status, headers = asgi_call(app, bound, chain)
            assert status == 401
            assert 'error="invalid_token"' in headers["www-authenticate"]
    unbound = issuer.token()
    assert asgi_call(app, unbound, None)[0] == 200
    assert asgi_call(app, unbound, [pem(OTHER)])[0] == 200


def test_wsgi_ssl_client_cert(issuer: DevIssuer) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"ok"]

    middleware = JWTGuardWSGIMiddleware(app, guard=Guard(issuer.settings()))
    bound = issuer.token(cnf={"x5t#S256": thumbprint(CLIENT)})

    def call(cert: str | None) -> str:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/",
            "REMOTE_ADDR": "192.0.2.7",
            "HTTP_AUTHORIZATION": "Bearer " + bound,
            "wsgi.url_scheme": "https",
            "wsgi.version": (1, 0),
        }
        if cert is not None:
            environ["SSL_CLIENT_CERT"] = cert
        status: list[str] = []

        def start_response(line: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
            status.append(line)

        b"".join(middleware(environ, start_response))
        return status[0]

    for _ in range(2):
        assert call(pem(CLIENT)).startswith("200")
        assert call(pem(OTHER)).startswith("401")
        assert call(None).startswith("401")


# -- a TLS-terminating proxy's header, over HTTP, on ASGI and WSGI ------------------------------------------------


def serve(kind: str, guard: Guard) -> AbstractContextManager[str]:
    if kind == "asgi":
        return live_server(JWTGuardMiddleware(ok_asgi, guard=guard))

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"ok"]

    return live_wsgi_server(JWTGuardWSGIMiddleware(app, guard=guard))


def get(url: str, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}", **(headers or {})})


PROXIES = [
    pytest.param("x-ssl-client-cert", nginx, id="nginx"),
    pytest.param("x-amzn-mtls-clientcert", alb, id="aws-alb"),
    pytest.param("x-forwarded-tls-client-cert", traefik, id="traefik"),
    pytest.param("x-forwarded-client-cert", envoy_hash, id="envoy-hash"),
    pytest.param("x-forwarded-client-cert", envoy_cert, id="envoy-cert"),
]


@pytest.fixture(params=["asgi", "wsgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(("header", "spell"), PROXIES)
def test_header_from_a_trusted_proxy(kind: str, issuer: DevIssuer, header: str, spell: Any) -> None:
    guard = Guard(issuer.settings(client_cert_header=header, trusted_proxies=["127.0.0.1"]))
    bound = issuer.token(cnf={"x5t#S256": thumbprint(CLIENT)})
    with serve(kind, guard) as url:
        for _ in range(2):  # the second time from the cache, and on the adapters' fast path if it took it
            assert get(url, bound, {header: spell(CLIENT)}).status_code == 200
            for headers in ({header: spell(OTHER)}, {}, {header: "garbage"}):
                response = get(url, bound, headers)
                assert response.status_code == 401
                body = response.json()
                assert (body["code"], body["error"]) == ("certificate_binding_mismatch", "invalid_token")
                assert 'error="invalid_token"' in response.headers["www-authenticate"]
        # A token without `cnf` does not look at the header at all.
        assert get(url, issuer.token()).status_code == 200
        assert get(url, issuer.token(), {header: "garbage"}).status_code == 200


def test_header_from_an_untrusted_peer_is_ignored(kind: str, issuer: DevIssuer) -> None:
    guard = Guard(issuer.settings(client_cert_header="x-ssl-client-cert", trusted_proxies=["10.0.0.0/8"]))
    bound = issuer.token(cnf={"x5t#S256": thumbprint(CLIENT)})
    with serve(kind, guard) as url:
        response = get(url, bound, {"x-ssl-client-cert": nginx(CLIENT)})
        assert response.status_code == 401
        assert response.json()["code"] == "certificate_binding_mismatch"
        assert get(url, issuer.token(), {"x-ssl-client-cert": nginx(CLIENT)}).status_code == 200


def test_envoy_header_with_several_elements_names_no_certificate(kind: str, issuer: DevIssuer) -> None:
    # A client's own XFCC forwarded ahead of the proxy's: which element is the client's cannot be told.
    guard = Guard(issuer.settings(client_cert_header="x-forwarded-client-cert", trusted_proxies=["127.0.0.1"]))
    bound = issuer.token(cnf={"x5t#S256": thumbprint(CLIENT)})
    with serve(kind, guard) as url:
        value = envoy_hash(CLIENT) + "," + envoy_hash(OTHER)
        assert get(url, bound, {"x-forwarded-client-cert": value}).status_code == 401


def test_a_malformed_binding_is_refused(kind: str, issuer: DevIssuer) -> None:
    with serve(kind, Guard(issuer.settings())) as url:
        response = get(url, issuer.token(cnf={"x5t#S256": 12}))
        assert (response.status_code, response.json()["code"]) == (401, "claim_invalid")


@pytest.fixture
def cached_guard(issuer: DevIssuer) -> Guard:
    return Guard(issuer.settings(client_cert_header="x-ssl-client-cert", trusted_proxies=["127.0.0.1"]))


def test_bound_tokens_never_take_the_fast_path(issuer: DevIssuer, cached_guard: Guard) -> None:
    bound, unbound = issuer.token(cnf={"x5t#S256": thumbprint(CLIENT)}), issuer.token()
    request = RequestInfo("GET", "/", "127.0.0.1", raw={"HTTP_X_SSL_CLIENT_CERT": nginx(CLIENT)})
    for token in (bound, unbound):
        assert cached_guard.check_request(request, "Bearer " + token) is not None  # verified, and now cached
    assert cached_guard.cache_stats.entries == 2

    def describe(source: object) -> RequestInfo:
        return request

    assert cached_guard.accept_cached("Bearer " + unbound, None, describe, None) is not None
    assert cached_guard.accept_cached("Bearer " + bound, None, describe, None) is None
    assert cached_guard.accept_cached(b"Bearer " + bound.encode(), None, describe, None) is None


def test_verify_says_a_bound_token_needs_its_certificate(issuer: DevIssuer) -> None:
    token = issuer.token(cnf={"x5t#S256": thumbprint(CLIENT)})
    result = subprocess.run(
        [sys.executable, "-m", "jwtguard", "verify", token, "--issuer", issuer.issuer, "--audience", issuer.audience,
         "--jwks-uri", issuer.jwks_uri, "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["valid"] is True
    assert any(thumbprint(CLIENT) in hint and "certificate_binding_mismatch" in hint for hint in report["hints"])
