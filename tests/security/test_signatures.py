"""Signatures: truncated, empty, padded, altered, zero ECDSA values, wrong lengths, another key's, another token's."""

from __future__ import annotations

import base64

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .conftest import Case, Kit, b64, run_case

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def raw_signature(token: str) -> bytes:
    signature = token.rsplit(".", 1)[1]
    return base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))


def with_signature(token: str, signature: bytes) -> str:
    return token.rsplit(".", 1)[0] + "." + b64(signature)


def flipped(token: str, index: int) -> str:
    signature = bytearray(raw_signature(token))
    signature[index] ^= 0x01
    return with_signature(token, bytes(signature))


def ecdsa(kit: Kit, r: int, s: int) -> str:
    return with_signature(kit.token("ES256"), r.to_bytes(32, "big") + s.to_bytes(32, "big"))


CASES: list[object] = [
    pytest.param(lambda k: k.token().rsplit(".", 1)[0] + ".", "signature_invalid", id="empty"),
    *[
        pytest.param(
            lambda k, alg=alg: with_signature(k.token(alg), raw_signature(k.token(alg))[:-4]),
            "signature_invalid",
            id=f"truncated-{alg}",
        )
        for alg in ("RS256", "PS256", "ES256", "EdDSA")
    ],
    *[
        pytest.param(
            lambda k, alg=alg: with_signature(k.token(alg), raw_signature(k.token(alg)) + b"\x00"),
            "signature_invalid",
            id=f"extended-{alg}",
        )
        for alg in ("RS256", "PS256", "ES256", "EdDSA")
    ],
    *[
        pytest.param(
            lambda k, alg=alg, i=i: flipped(k.token(alg), i), "signature_invalid", id=f"bit-flip-{alg}-{where}"
        )
        for alg in ("RS256", "ES256", "EdDSA")
        for where, i in (("first", 0), ("middle", 20), ("last", -1))
    ],
    pytest.param(lambda k: k.token() + "=", "token_malformed", id="padded-1"),
    pytest.param(lambda k: k.token() + "==", "token_malformed", id="padded-2"),
    pytest.param(lambda k: with_signature(k.token(), bytes(256)), "signature_invalid", id="rsa-zeros"),
    pytest.param(lambda k: with_signature(k.token(), b"\xff" * 256), "signature_invalid", id="rsa-ones"),
    pytest.param(lambda k: with_signature(k.token(), b"\x01"), "signature_invalid", id="rsa-one-byte"),
    pytest.param(lambda k: ecdsa(k, 0, 0), "signature_invalid", id="ecdsa-r0-s0"),
    pytest.param(lambda k: ecdsa(k, 0, 1), "signature_invalid", id="ecdsa-r0"),
    pytest.param(lambda k: ecdsa(k, 1, 0), "signature_invalid", id="ecdsa-s0"),
    pytest.param(lambda k: ecdsa(k, P256_ORDER, P256_ORDER), "signature_invalid", id="ecdsa-r-s-equal-n"),
    pytest.param(lambda k: ecdsa(k, 1, 1), "signature_invalid", id="ecdsa-r1-s1"),
    pytest.param(lambda k: with_signature(k.token("ES256"), bytes(63)), "signature_invalid", id="ecdsa-63-bytes"),
    pytest.param(lambda k: with_signature(k.token("ES256"), bytes(128)), "signature_invalid", id="ecdsa-128-bytes"),
    pytest.param(
        lambda k: with_signature(
            k.token("ES256"),
            encode_dss_signature(
                int.from_bytes(raw_signature(k.token("ES256"))[:32], "big"),
                int.from_bytes(raw_signature(k.token("ES256"))[32:], "big"),
            ),
        ),
        "signature_invalid",
        id="ecdsa-der-instead-of-raw",
    ),
    pytest.param(lambda k: with_signature(k.token("EdDSA"), bytes(64)), "signature_invalid", id="eddsa-zeros"),
    pytest.param(lambda k: with_signature(k.token("EdDSA"), bytes(32)), "signature_invalid", id="eddsa-short"),
    # another key's signature under a published kid
    *[
        pytest.param(
            lambda k, alg=alg: k.forge(k.header(alg), k.claims(), k.others[alg]),
            "signature_invalid",
            id=f"other-key-{alg}",
        )
        for alg in ("RS256", "PS256", "ES256", "EdDSA")
    ],
    # another token's signature
    pytest.param(
        lambda k: with_signature(k.token(sub="attacker", scope="admin"), raw_signature(k.token(sub="victim"))),
        "signature_invalid",
        id="signature-of-another-token",
    ),
    pytest.param(
        lambda k: k.token("ES256").rsplit(".", 1)[0] + "." + k.token("RS256").rsplit(".", 1)[1],
        "signature_invalid",
        id="rsa-signature-on-ec-token",
    ),
    pytest.param(
        lambda k: k.token().split(".")[0] + "." + k.token(sub="other").split(".")[1] + "." + k.token().split(".")[2],
        "signature_invalid",
        id="payload-swapped",
    ),
    pytest.param(
        lambda k: k.forge(k.header("PS256", kid=k.keys["PS256"].kid), k.claims(), k.keys["PS256"], alg="RS256"),
        "signature_invalid",
        id="pkcs1-signature-labelled-pss",
    ),
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_signatures(
    case: Case, expected: str, kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    run_case(case, expected, kit, default_url, http, jwtguard_logs)
