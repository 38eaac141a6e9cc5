"""Hostile and malformed tokens through the middleware: each gets its exact code, none a 500."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from jwtguard import JWTGuardMiddleware
from jwtguard.testing import DevIssuer, SigningKey

ALGORITHMS = get_default_algorithms()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(value if isinstance(value, bytes) else json.dumps(value).encode())


def forge(header: Any, payload: Any, key: SigningKey | None = None, alg: str | None = None) -> str:
    """A token with exactly this header and payload, signed by `key` (with `alg`, default the key's)."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    if key is None:
        return signing_input + "."
    signature = ALGORITHMS[alg or key.alg].sign(signing_input.encode(), key.private_key)
    return f"{signing_input}.{b64(signature)}"


DUPLICATE_ALG = b'{"alg":"none","kid":"rs256-main","alg":"RS256"}'


def non_canonical_signature(i: DevIssuer, k: dict[str, SigningKey], o: dict[str, SigningKey]) -> str:
    # An RS256 signature is 342 base64url characters whose last one carries 4 unused bits; setting one
    # of them decodes to the same bytes in a lenient decoder. One token must have exactly one form.
    token = i.token(scopes=["orders:read"])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = token[-1]
    assert alphabet.index(last) % 16 == 0
    return token[:-1] + alphabet[alphabet.index(last) + 1]


Maker = Callable[[DevIssuer, dict[str, SigningKey], dict[str, SigningKey]], str]


def claims(issuer: DevIssuer, **changes: Any) -> dict[str, Any]:
    return issuer.claims(scopes=["orders:read"], **changes)


def rs_header(keys: dict[str, SigningKey], **changes: Any) -> dict[str, Any]:
    return {"alg": "RS256", "typ": "JWT", "kid": keys["RS256"].kid, **changes}


def rsa_public_pem(keys: dict[str, SigningKey]) -> bytes:
    public_key = keys["RS256"].private_key.public_key()
    pem: bytes = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem


def hmac_with_public_key(i: DevIssuer, k: dict[str, SigningKey], o: dict[str, SigningKey]) -> str:
    signing_input = f"{segment(rs_header(k, alg='HS256'))}.{segment(claims(i))}"
    import hashlib
    import hmac

    mac = hmac.new(rsa_public_pem(k), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def zero_ecdsa(i: DevIssuer, k: dict[str, SigningKey], o: dict[str, SigningKey]) -> str:
    header = {"alg": "ES256", "kid": k["ES256"].kid}
    return f"{segment(header)}.{segment(claims(i))}.{b64(bytes(64))}"


def swapped_signature(i: DevIssuer, k: dict[str, SigningKey], o: dict[str, SigningKey]) -> str:
    first = i.token(subject="victim").split(".")
    second = i.token(subject="attacker", scopes=["admin"]).split(".")
    return f"{second[0]}.{second[1]}.{first[2]}"


def truncated_signature(i: DevIssuer, k: dict[str, SigningKey], o: dict[str, SigningKey]) -> str:
    head, _, signature = i.token().rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    return f"{head}.{b64(raw[:-6])}"


CASES: list[Any] = [
    # algorithm handling
    *[
        pytest.param(
            lambda i, k, o, alg=alg: forge(rs_header(k, alg=alg), claims(i)), "algorithm_not_allowed", id=f"alg-{alg}"
        )
        for alg in ("none", "None", "NONE", "nOnE")
    ],
    pytest.param(hmac_with_public_key, "algorithm_not_allowed", id="hs256-with-rsa-public-key"),
    pytest.param(
        lambda i, k, o: forge({"alg": "ES256", "kid": k["RS256"].kid}, claims(i), k["ES256"]),
        "algorithm_not_allowed",
        id="es256-naming-an-rsa-key",
    ),
    pytest.param(
        lambda i, k, o: forge({"alg": "RS256", "kid": k["ES256"].kid}, claims(i), k["RS256"]),
        "algorithm_not_allowed",
        id="rs256-naming-an-ec-key",
    ),
    pytest.param(
        lambda i, k, o: forge({"alg": "PS256", "kid": k["RS256"].kid}, claims(i), k["RS256"], alg="PS256"),
        "algorithm_not_allowed",
        id="ps256-on-a-key-published-for-rs256",
    ),
    pytest.param(lambda i, k, o: forge({"alg": 256}, claims(i)), "token_malformed", id="alg-not-a-string"),
    pytest.param(lambda i, k, o: forge({"kid": "x"}, claims(i)), "token_malformed", id="alg-absent"),
    # key selection
    pytest.param(lambda i, k, o: forge(rs_header(k, kid=7), claims(i), k["RS256"]), "token_malformed", id="kid-int"),
    pytest.param(
        lambda i, k, o: forge(rs_header(k, kid="../../etc/passwd"), claims(i), k["RS256"]),
        "key_not_found",
        id="kid-path",
    ),
    pytest.param(
        lambda i, k, o: forge(rs_header(k, kid="k" * 5000), claims(i), k["RS256"]), "key_not_found", id="kid-huge"
    ),
    pytest.param(lambda i, k, o: forge(rs_header(k, kid=""), claims(i), k["RS256"]), "key_not_found", id="kid-empty"),
    pytest.param(
        lambda i, k, o: forge(rs_header(k, kid=None), claims(i), k["RS256"]),
        "key_not_found",
        id="kid-null-with-several-keys",
    ),
    # signatures
    pytest.param(lambda i, k, o: i.token().rsplit(".", 1)[0] + ".", "signature_invalid", id="empty-signature"),
    pytest.param(truncated_signature, "signature_invalid", id="truncated-signature"),
    pytest.param(swapped_signature, "signature_invalid", id="signature-of-another-token"),
    pytest.param(zero_ecdsa, "signature_invalid", id="ecdsa-zeros"),
    pytest.param(
        lambda i, k, o: i.token(key=o["ES256"], headers={"kid": k["ES256"].kid}), "signature_invalid", id="other-ec"
    ),
    pytest.param(
        lambda i, k, o: i.token(key=o["EdDSA"], headers={"kid": k["EdDSA"].kid}), "signature_invalid", id="other-ed"
    ),
    # structure and encoding
    pytest.param(lambda i, k, o: i.token() + ".extra", "token_malformed", id="four-segments"),
    pytest.param(lambda i, k, o: i.token() + "==", "token_malformed", id="padded-signature"),
    pytest.param(lambda i, k, o: "a.b.c.d.e", "token_malformed", id="jwe-shape"),
    pytest.param(lambda i, k, o: "..", "token_malformed", id="empty-segments"),
    pytest.param(lambda i, k, o: f"{b64(b'not json')}.{segment(claims(i))}.", "token_malformed", id="header-not-json"),
    pytest.param(lambda i, k, o: f"{segment([1, 2])}.{segment(claims(i))}.", "token_malformed", id="header-array"),
    pytest.param(
        lambda i, k, o: forge(DUPLICATE_ALG, claims(i), k["RS256"]), "token_malformed", id="duplicate-header-member"
    ),
    pytest.param(lambda i, k, o: forge(rs_header(k), b'{"exp": NaN}', k["RS256"]), "token_malformed", id="nan-literal"),
    pytest.param(lambda i, k, o: forge(rs_header(k), [1], k["RS256"]), "token_malformed", id="payload-array"),
    pytest.param(
        lambda i, k, o: forge(rs_header(k), b"\xff\xfe{}", k["RS256"]), "token_malformed", id="payload-not-utf8"
    ),
    pytest.param(
        lambda i, k, o: forge(rs_header(k), b"[" * 3000 + b"]" * 3000, k["RS256"]),
        "token_malformed",
        id="deep-nesting",
    ),
    pytest.param(
        lambda i, k, o: forge(rs_header(k), b'{"exp": 1' + b"0" * 5000 + b"}", k["RS256"]),
        "token_malformed",
        id="huge-integer",
    ),
    pytest.param(
        lambda i, k, o: forge(rs_header(k, crit=["exp"], exp=1), claims(i), k["RS256"]),
        "token_malformed",
        id="unknown-crit",
    ),
    pytest.param(
        lambda i, k, o: forge(rs_header(k, b64=False, crit=["b64"]), claims(i), k["RS256"]),
        "token_malformed",
        id="b64-false",
    ),
    pytest.param(non_canonical_signature, "token_malformed", id="non-canonical-base64"),
    pytest.param(lambda i, k, o: i.token().replace("-", "+").replace("_", "/"), "token_malformed", id="std-base64"),
    # claims
    pytest.param(lambda i, k, o: i.token(exp=True), "claim_invalid", id="exp-bool"),
    pytest.param(lambda i, k, o: forge(rs_header(k), b'{"exp": 1e400}', k["RS256"]), "claim_invalid", id="exp-inf"),
    pytest.param(lambda i, k, o: i.token(exp=[int(time.time()) + 60]), "claim_invalid", id="exp-list"),
    pytest.param(lambda i, k, o: i.token(nbf="0"), "claim_invalid", id="nbf-string"),
    pytest.param(
        lambda i, k, o: i.token(iat=int(time.time()) + 86400, expires_in=90000), "token_not_yet_valid", id="iat-future"
    ),
    pytest.param(lambda i, k, o: i.token(issuer=i.issuer + "/evil"), "issuer_invalid", id="iss-prefix"),
    pytest.param(lambda i, k, o: i.token(issuer=i.issuer.upper()), "issuer_invalid", id="iss-case"),
    pytest.param(
        lambda i, k, o: forge(rs_header(k), claims(i, iss=[i.issuer]), k["RS256"]), "claim_invalid", id="iss-list"
    ),
    pytest.param(lambda i, k, o: i.token(aud=["other", i.audience + "x"]), "audience_invalid", id="aud-near"),
    pytest.param(lambda i, k, o: i.token(aud=[]), "audience_invalid", id="aud-empty"),
    pytest.param(lambda i, k, o: i.token(aud=None), "audience_invalid", id="aud-absent"),
    pytest.param(lambda i, k, o: i.token(aud=42), "claim_invalid", id="aud-number"),
    pytest.param(lambda i, k, o: i.token(sub=12345), "claim_invalid", id="sub-number"),
    pytest.param(lambda i, k, o: i.token(scope=7), "claim_invalid", id="scope-number"),
    pytest.param(lambda i, k, o: i.token(scopes=["orders:readwrite"]), "insufficient_scope", id="scope-substring"),
    pytest.param(lambda i, k, o: i.token(scopes=["ORDERS:READ"]), "insufficient_scope", id="scope-case"),
]


@pytest.fixture
def client(issuer: DevIssuer) -> Iterator[TestClient]:
    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    settings = issuer.settings(required_scopes=["orders:read"])
    app = Starlette(routes=[Route("/", ok)])
    app.add_middleware(JWTGuardMiddleware, settings=settings)
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.mark.parametrize(("make", "code"), CASES)
def test_hostile_token(
    make: Maker,
    code: str,
    client: TestClient,
    issuer: DevIssuer,
    signing_keys: dict[str, SigningKey],
    other_keys: dict[str, SigningKey],
) -> None:
    token = make(issuer, signing_keys, other_keys)
    response = client.get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["code"] == code
    assert response.status_code == (403 if code == "insufficient_scope" else 401)
    assert token not in response.text


def test_a_valid_token_passes_the_same_app(client: TestClient, issuer: DevIssuer) -> None:
    # The control for the table above: the same app accepts a well-formed token.
    response = client.get("/", headers={"Authorization": f"Bearer {issuer.token(scopes=['orders:read'])}"})
    assert response.status_code == 200


def test_scp_list_is_accepted_as_scopes(client: TestClient, issuer: DevIssuer) -> None:
    response = client.get("/", headers={"Authorization": f"Bearer {issuer.token(scp=['orders:read'])}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"expires_in": -30}, id="expired-within-leeway"),
        pytest.param({"nbf": int(time.time()) + 30}, id="nbf-within-leeway"),
        pytest.param({"iat": int(time.time()) + 30}, id="iat-within-leeway"),
        pytest.param({"scope": ["orders:read"]}, id="scope-as-a-list"),
        pytest.param({"scp": "orders:read profile"}, id="scp-as-a-string"),
    ],
)
def test_tolerated_variations_are_accepted(client: TestClient, issuer: DevIssuer, changes: dict[str, Any]) -> None:
    token = issuer.token(**{"scopes": ["orders:read"], **changes})
    response = client.get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
