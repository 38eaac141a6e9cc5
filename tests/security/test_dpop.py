"""DPoP under attack (RFC 9449 §11): a bound token stripped of its proof, proofs stolen, replayed, forged or
inflated, and the verified-token cache asked to decide what only a proof can.

Each case runs on a real server on 127.0.0.1 (uvicorn, and werkzeug's server for WSGI, which folds repeated headers)
with `dpop="allowed"`. Neither the token, the proof nor their signatures may show up in a response or a log record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from jwtguard import JWTGuardMiddleware, JWTGuardWSGIMiddleware
from jwtguard.dpop import access_token_hash
from jwtguard.testing import SigningKey, dpop_proof, generate_key

from ..conftest import live_server, live_wsgi_server
from .conftest import Attempt, Kit, run_case, segment

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Build = Callable[[Kit, str], Attempt]


def _secrets(*values: str) -> list[str]:
    return [part for value in values for part in (value, value.rsplit(".", 1)[-1]) if len(part) >= 16]


def dpop_attempt(token: str, *proofs: str, scheme: str = "DPoP") -> Attempt:
    return Attempt(
        authorization=[f"{scheme} {token}"],
        headers=[("DPoP", proof) for proof in proofs],
        secrets=_secrets(token, *proofs),
    )


def _public(key: SigningKey) -> dict[str, Any]:
    return {name: value for name, value in key.public_jwk().items() if name not in ("kid", "alg", "use")}


def _claims(kit: Kit, url: str, token: str, **changes: Any) -> dict[str, Any]:
    claims = {"jti": f"j{kit.now}{id(changes)}", "htm": "GET", "htu": url + "/", "iat": kit.now}
    claims["ath"] = access_token_hash(token)
    claims.update(changes)
    return claims


def _client(kit: Kit) -> tuple[SigningKey, str]:
    key = generate_key("ES256", kid="client")
    return key, kit.issuer.token(scopes=["orders:read"], dpop_key=key)


def downgrade(kit: Kit, url: str) -> Attempt:
    _, token = _client(kit)
    return dpop_attempt(token, scheme="Bearer")


def replayed(kit: Kit, url: str) -> Attempt:
    key, token = _client(kit)
    proof = dpop_proof(key, "GET", url + "/", token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert httpx.get(url + "/", headers=headers).status_code == 200
    return dpop_attempt(token, proof)


def cached_then_bearer(kit: Kit, url: str) -> Attempt:
    key, token = _client(kit)
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, "GET", url + "/", token)}
    assert httpx.get(url + "/", headers=headers).status_code == 200  # now in the verified-token cache
    return dpop_attempt(token, scheme="Bearer")


def cached_then_bad_proof(kit: Kit, url: str) -> Attempt:
    key, token = _client(kit)
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, "GET", url + "/", token)}
    assert httpx.get(url + "/", headers=headers).status_code == 200
    return dpop_attempt(token, dpop_proof(key, "GET", url + "/elsewhere", token))


def attacker_key(kit: Kit, url: str) -> Attempt:
    # A stolen bound token with the thief's own, perfectly valid, proof.
    _, token = _client(kit)
    thief = generate_key("ES256")
    return dpop_attempt(token, dpop_proof(thief, "GET", url + "/", token))


def forged(header: dict[str, Any], sign_with: str | None = None) -> Build:
    def build(kit: Kit, url: str) -> Attempt:
        key, token = _client(kit)
        full = {"typ": "dpop+jwt", "alg": "ES256", "jwk": _public(key), **header}
        full = {name: value for name, value in full.items() if value is not None}
        claims = _claims(kit, url, token)
        if sign_with == "none":
            proof = f"{segment(full)}.{segment(claims)}."
        else:
            signer = kit.keys[sign_with] if sign_with else key
            proof = kit.forge(full, claims, signer, full["alg"] if sign_with else None)
        return dpop_attempt(token, proof)

    return build


def hmac_proof(kit: Kit, url: str) -> Attempt:
    _, token = _client(kit)
    secret = b"0123456789abcdef0123456789abcdef"
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": segment(secret)}}
    hmac_key = SigningKey("oct", "HS256", secret)
    return dpop_attempt(token, kit.forge(header, _claims(kit, url, token), hmac_key))


def private_jwk(kit: Kit, url: str) -> Attempt:
    key, token = _client(kit)
    return dpop_attempt(token, dpop_proof(key, "GET", url + "/", token, headers={"jwk": _private(key)}))


def _private(key: SigningKey) -> dict[str, Any]:
    return dict(ECAlgorithm.to_jwk(key.private_key, as_dict=True))


def weak_rsa(kit: Kit, url: str) -> Attempt:
    _, token = _client(kit)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # deliberately weak
    key = SigningKey("weak", "RS256", weak)
    jwk = dict(RSAAlgorithm.to_jwk(weak.public_key(), as_dict=True))
    return dpop_attempt(
        token, kit.forge({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}, _claims(kit, url, token), key)
    )


def access_token_as_proof(kit: Kit, url: str) -> Attempt:
    _, token = _client(kit)
    return dpop_attempt(token, kit.issuer.token(headers={"typ": "at+jwt"}))


def duplicate_members(kit: Kit, url: str) -> Attempt:
    # Two "htu" members, signed: one parser reads the first, another the last.
    key, token = _client(kit)
    twice = json.dumps(_claims(kit, url, token))[:-1] + f', "htu": "{url}/admin"}}'
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": _public(key)}
    return dpop_attempt(token, kit.forge(header, twice.encode(), key))


def stolen_for_another_url(kit: Kit, url: str) -> Attempt:
    key, token = _client(kit)
    return dpop_attempt(token, dpop_proof(key, "GET", "https://elsewhere.example/", token))


def inflated(kit: Kit, url: str) -> Attempt:
    key, token = _client(kit)
    return dpop_attempt(token, dpop_proof(key, "GET", url + "/", token, padding="x" * 7_000))


def two_proofs(kit: Kit, url: str) -> Attempt:
    key, token = _client(kit)
    return dpop_attempt(token, dpop_proof(key, "GET", url + "/", token), dpop_proof(key, "GET", url + "/", token))


def folded_credentials(kit: Kit, url: str) -> Attempt:
    key, token = _client(kit)
    attempt = dpop_attempt(token, dpop_proof(key, "GET", url + "/", token))
    attempt.authorization = [f"DPoP {token}, Bearer {token}"]
    return attempt


CASES = [
    pytest.param(downgrade, "dpop_required", id="bound-token-as-bearer"),
    pytest.param(cached_then_bearer, "dpop_required", id="cached-bound-token-as-bearer"),
    pytest.param(cached_then_bad_proof, "dpop_proof_invalid", id="cached-token-bad-proof"),
    pytest.param(replayed, "dpop_replayed", id="replayed-proof"),
    pytest.param(attacker_key, "dpop_binding_mismatch", id="thief-signs-own-proof"),
    pytest.param(stolen_for_another_url, "dpop_proof_invalid", id="proof-for-another-url"),
    pytest.param(forged({"alg": "none"}, "none"), "dpop_proof_invalid", id="alg-none"),
    pytest.param(hmac_proof, "dpop_proof_invalid", id="alg-hmac-oct-jwk"),
    pytest.param(private_jwk, "dpop_proof_invalid", id="jwk-with-private-members"),
    pytest.param(weak_rsa, "dpop_proof_invalid", id="jwk-rsa-1024"),
    pytest.param(forged({"jwk": None}), "dpop_proof_invalid", id="no-jwk"),
    pytest.param(forged({"typ": "JWT"}), "dpop_proof_invalid", id="typ-jwt"),
    pytest.param(forged({"crit": ["exp"]}), "dpop_proof_invalid", id="crit"),
    pytest.param(forged({}, "ES256"), "dpop_proof_invalid", id="signed-by-issuer-key-not-jwk"),
    pytest.param(access_token_as_proof, "dpop_proof_invalid", id="access-token-as-proof"),
    pytest.param(duplicate_members, "dpop_proof_invalid", id="duplicate-htu"),
    pytest.param(inflated, "dpop_proof_invalid", id="oversized-proof"),
    pytest.param(two_proofs, "dpop_proof_invalid", id="two-dpop-headers"),
    pytest.param(folded_credentials, "invalid_request", id="dpop-and-bearer-folded"),
]


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _wsgi_ok(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.fixture(scope="module")
def dpop_url(kit: Kit) -> Iterator[str]:
    app = Starlette(routes=[Route("/", _ok, methods=["GET", "POST"])])
    app.add_middleware(JWTGuardMiddleware, settings=kit.issuer.settings(dpop="allowed"))
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def wsgi_dpop_url(kit: Kit) -> Iterator[str]:
    with live_wsgi_server(JWTGuardWSGIMiddleware(_wsgi_ok, settings=kit.issuer.settings(dpop="allowed"))) as url:
        yield url


@pytest.mark.parametrize(("build", "expected"), CASES)
def test_dpop(
    build: Build,
    expected: str,
    kit: Kit,
    dpop_url: str,
    http: httpx.Client,
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    run_case(lambda k: build(k, dpop_url), expected, kit, dpop_url, http, jwtguard_logs)


@pytest.mark.parametrize(("build", "expected"), CASES)
def test_dpop_behind_a_wsgi_server(
    build: Build,
    expected: str,
    kit: Kit,
    wsgi_dpop_url: str,
    http: httpx.Client,
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    run_case(lambda k: build(k, wsgi_dpop_url), expected, kit, wsgi_dpop_url, http, jwtguard_logs)
