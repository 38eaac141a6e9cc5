"""Algorithm handling: none, HMAC/RSA and HMAC/EC confusion, alg/kty/crv mismatch, the allow-list."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from .conftest import Case, Kit, b64, run_case, segment


def hmac_token(kit: Kit, alg: str, secret: bytes, kid: str | None = None) -> str:
    header = {"alg": alg, "typ": "JWT", "kid": kid or kit.keys["RS256"].kid}
    signing_input = f"{segment(header)}.{segment(kit.claims())}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"


def public_pem(kit: Kit, alg: str) -> bytes:
    key = kit.keys[alg].private_key.public_key()
    pem: bytes = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem


def public_der(kit: Kit, alg: str) -> bytes:
    key = kit.keys[alg].private_key.public_key()
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


CASES: list[object] = [
    # alg none, in every casing, with and without a signature
    *[
        pytest.param(lambda k, alg=alg: k.forge(k.header(alg=alg), k.claims()), "algorithm_not_allowed", id=f"{alg}")
        for alg in ("none", "None", "NONE", "nOnE", "NoNe")
    ],
    pytest.param(
        lambda k: k.forge(k.header(alg="none"), k.claims()) + "c2lnbmF0dXJl", "algorithm_not_allowed", id="none-signed"
    ),
    pytest.param(
        lambda k: k.forge(k.header(alg="none", kid=None), k.claims()), "algorithm_not_allowed", id="none-no-kid"
    ),
    # HMAC keyed with public key material (key confusion)
    *[
        pytest.param(
            lambda k, alg=alg: hmac_token(k, alg, public_pem(k, "RS256")), "algorithm_not_allowed", id=f"{alg}-rsa-pem"
        )
        for alg in ("HS256", "HS384", "HS512")
    ],
    pytest.param(lambda k: hmac_token(k, "HS256", public_der(k, "RS256")), "algorithm_not_allowed", id="hs256-rsa-der"),
    pytest.param(
        lambda k: hmac_token(k, "HS256", public_pem(k, "ES256"), kid=k.keys["ES256"].kid),
        "algorithm_not_allowed",
        id="hs256-ec-pem",
    ),
    pytest.param(
        lambda k: hmac_token(k, "HS256", json.dumps(k.keys["RS256"].public_jwk()).encode()),
        "algorithm_not_allowed",
        id="hs256-jwk-json",
    ),
    pytest.param(lambda k: hmac_token(k, "HS256", b""), "algorithm_not_allowed", id="hs256-empty-secret"),
    pytest.param(
        lambda k: hmac_token(k, "HS256", b"x", kid="symmetric"), "algorithm_not_allowed", id="hs256-published-oct-kid"
    ),
    # alg that does not fit the key named by kid
    pytest.param(
        lambda k: k.forge(k.header("ES256", kid=k.keys["RS256"].kid), k.claims(), k.keys["ES256"]),
        "algorithm_not_allowed",
        id="es256-on-rsa-kid",
    ),
    pytest.param(
        lambda k: k.forge(k.header("RS256", kid=k.keys["ES256"].kid), k.claims(), k.keys["RS256"]),
        "algorithm_not_allowed",
        id="rs256-on-ec-kid",
    ),
    pytest.param(
        lambda k: k.forge(k.header("EdDSA", kid=k.keys["RS256"].kid), k.claims(), k.keys["EdDSA"]),
        "algorithm_not_allowed",
        id="eddsa-on-rsa-kid",
    ),
    pytest.param(
        lambda k: k.forge(k.header("RS256", kid=k.keys["EdDSA"].kid), k.claims(), k.keys["RS256"]),
        "algorithm_not_allowed",
        id="rs256-on-okp-kid",
    ),
    pytest.param(
        lambda k: k.forge(k.header("ES256", kid=k.keys["ES384"].kid), k.claims(), k.keys["ES256"]),
        "algorithm_not_allowed",
        id="es256-on-p384-kid",
    ),
    pytest.param(
        lambda k: k.forge(k.header("PS256", kid=k.keys["RS256"].kid), k.claims(), k.keys["RS256"], alg="PS256"),
        "algorithm_not_allowed",
        id="ps256-on-key-pinned-to-rs256",
    ),
    pytest.param(
        lambda k: k.forge(k.header("RS256", kid=k.keys["PS256"].kid), k.claims(), k.keys["PS256"], alg="RS256"),
        "algorithm_not_allowed",
        id="rs256-on-key-pinned-to-ps256",
    ),
    pytest.param(
        lambda k: k.forge(k.header("RS256", kid="wrong-alg"), k.claims(), k.keys["RS256"]),
        "key_not_found",
        id="kid-whose-jwk-alg-contradicts-its-type",
    ),
    # algorithms outside the allow-list, even with a key that would fit
    *[
        pytest.param(
            lambda k, alg=alg: k.forge(k.header(alg, kid=k.keys["RS256"].kid), k.claims(), k.keys["RS256"], alg=alg),
            "algorithm_not_allowed",
            id=f"{alg}-not-allowed",
        )
        for alg in ("RS384", "RS512", "PS384", "PS512")
    ],
    pytest.param(
        lambda k: k.forge(k.header("ES384"), k.claims(), k.keys["ES384"]),
        "algorithm_not_allowed",
        id="es384-not-allowed",
    ),
    # names that are not algorithms, or are almost
    *[
        pytest.param(
            lambda k, alg=alg: k.forge(k.header(alg=alg), k.claims(), k.keys["RS256"], alg="RS256"),
            "algorithm_not_allowed",
            id=f"alg-{name}",
        )
        for name, alg in (
            ("lowercase", "rs256"),
            ("trailing-space", "RS256 "),
            ("nul", "RS256\u0000"),
            ("jwe-alg", "RSA-OAEP"),
            ("jwe-dir", "dir"),
            ("enc-alg", "A256GCM"),
            ("es521-alias", "ES521"),
        )
    ],
    pytest.param(
        lambda k: k.forge(k.header(alg=""), k.claims(), k.keys["RS256"], alg="RS256"), "token_malformed", id="alg-empty"
    ),
    pytest.param(
        lambda k: k.forge(k.header(alg=["RS256"]), k.claims(), k.keys["RS256"], alg="RS256"),
        "token_malformed",
        id="alg-list",
    ),
    pytest.param(
        lambda k: k.forge(k.header(alg=None), k.claims(), k.keys["RS256"], alg="RS256"),
        "token_malformed",
        id="alg-absent",
    ),
    # the allowed ones, for contrast
    *[
        pytest.param(lambda k, alg=alg: k.token(alg), "ok", id=f"{alg}-accepted")
        for alg in ("RS256", "PS256", "ES256", "EdDSA")
    ],
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_algorithm_handling(
    case: Case, expected: str, kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    run_case(case, expected, kit, default_url, http, jwtguard_logs)
