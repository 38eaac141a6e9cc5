"""Structure and encoding: segments, base64url alphabet and canonical form, UTF-8, JSON shape and
ambiguity, JWE and nested tokens, b64/zip/crit."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Case, Kit, b64, run_case, segment


def raw(kit: Kit, header: bytes, payload: bytes) -> str:
    """Raw JSON bytes for header and payload, signed with the RS256 key."""
    return kit.forge(header, payload, kit.keys["RS256"])


def good_header(kit: Kit) -> bytes:
    return f'{{"alg":"RS256","kid":"{kit.keys["RS256"].kid}"}}'.encode()


def non_canonical(token: str, part: int) -> str:
    """Set an unused low bit in the last character of one segment (a lenient decoder would not notice)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts = token.split(".")
    last = parts[part][-1]
    index = alphabet.index(last)
    if len(parts[part]) % 4 == 0:  # no unused bits: make it one character longer instead
        parts[part] += "A"
    else:
        parts[part] = parts[part][:-1] + alphabet[index | 1 if index % 2 == 0 else index & ~1]
    return ".".join(parts)


CASES: list[object] = [
    # segments
    *[
        pytest.param(lambda k, t=t: t, "token_malformed", id=f"shape-{name}")
        for name, t in (
            ("one-segment", "abcdefghijklmnopqrstuvwxyz"),
            ("dots-only", ".."),
            ("four-dots", "...."),
            ("six-segments", "a.b.c.d.e.f"),
        )
    ],
    pytest.param(lambda k: k.token() + ".extra", "token_malformed", id="trailing-segment"),
    pytest.param(lambda k: k.token() + ".", "token_malformed", id="trailing-dot"),
    pytest.param(lambda k: "." + k.token(), "token_malformed", id="leading-dot"),
    pytest.param(lambda k: k.token().split(".", 1)[1], "token_malformed", id="header-missing"),
    pytest.param(lambda k: k.token().rsplit(".", 1)[0], "token_malformed", id="signature-segment-missing"),
    pytest.param(
        lambda k: k.token().split(".")[0] + ".." + k.token().split(".")[2], "token_malformed", id="empty-payload"
    ),
    pytest.param(lambda k: "." + ".".join(k.token().split(".")[1:]), "token_malformed", id="empty-header"),
    pytest.param(lambda k: "a.b.c.d.e", "token_malformed", id="jwe-shape"),
    pytest.param(
        lambda k: ".".join(
            [segment({"alg": "RSA-OAEP", "enc": "A256GCM"}), b64(b"k" * 32), b64(b"iv"), b64(b"ct"), b64(b"tag")]
        ),
        "token_malformed",
        id="jwe",
    ),
    # base64url: alphabet, padding, canonical form
    pytest.param(lambda k: k.token().replace("-", "+").replace("_", "/"), "token_malformed", id="standard-alphabet"),
    # "=" may only end a b64token (RFC 6750 §2.1): inside it the header itself is malformed
    pytest.param(
        lambda k: segment({"alg": "RS256"}) + "=." + k.token().split(".", 1)[1], "invalid_request", id="padded-header"
    ),
    pytest.param(lambda k: k.token().replace(".", "~.", 1), "token_malformed", id="tilde-in-header"),
    *[
        pytest.param(lambda k, p=p: non_canonical(k.token(), p), "token_malformed", id=f"non-canonical-{name}")
        for name, p in (("header", 0), ("payload", 1), ("signature", 2))
    ],
    pytest.param(lambda k: "A" + k.token(), "token_malformed", id="shifted-header"),
    # UTF-8 and JSON shape
    pytest.param(lambda k: raw(k, b"\xff\xfe" + good_header(k), b"{}"), "token_malformed", id="header-not-utf8"),
    pytest.param(lambda k: raw(k, good_header(k), b'{"sub":"\xc3"}'), "token_malformed", id="payload-not-utf8"),
    pytest.param(lambda k: raw(k, b"\xef\xbb\xbf" + good_header(k), b"{}"), "token_malformed", id="header-bom"),
    *[
        pytest.param(lambda k, h=h: raw(k, h, b"{}"), "token_malformed", id=f"header-{name}")
        for name, h in (
            ("array", b'["RS256"]'),
            ("string", b'"RS256"'),
            ("number", b"256"),
            ("null", b"null"),
            ("empty", b""),
            ("trailing-garbage", b'{"alg":"RS256"} x'),
            ("comment", b'{"alg":"RS256" /* c */}'),
            ("single-quotes", b"{'alg':'RS256'}"),
        )
    ],
    *[
        pytest.param(lambda k, p=p: raw(k, good_header(k), p), "token_malformed", id=f"payload-{name}")
        for name, p in (
            ("array", b"[1,2]"),
            ("string", b'"claims"'),
            ("number", b"1"),
            ("null", b"null"),
            ("true", b"true"),
            ("nan", b'{"exp":NaN}'),
            ("infinity", b'{"exp":Infinity}'),
            ("minus-infinity", b'{"exp":-Infinity}'),
            ("deep-nesting", b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}"),
            ("huge-integer", b'{"exp":1' + b"0" * 5000 + b"}"),
            ("trailing-garbage", b'{"sub":"a"} {"sub":"b"}'),
        )
    ],
    pytest.param(lambda k: raw(k, b'{"alg":"none","alg":"RS256"}', b"{}"), "token_malformed", id="duplicate-alg"),
    pytest.param(
        lambda k: raw(k, good_header(k)[:-1] + b',"kid":"other"}', b"{}"), "token_malformed", id="duplicate-kid"
    ),
    pytest.param(
        lambda k: raw(k, good_header(k), b'{"sub":"a","sub":"admin","exp":9999999999}'),
        "token_malformed",
        id="duplicate-sub",
    ),
    pytest.param(lambda k: raw(k, good_header(k), b'{"aud":"x","aud":"y"}'), "token_malformed", id="duplicate-aud"),
    # extensions and wrappers
    pytest.param(
        lambda k: k.forge(k.header(cty="JWT"), k.claims(), k.keys["RS256"]), "token_malformed", id="nested-cty-jwt"
    ),
    pytest.param(
        lambda k: k.forge(k.header(cty="application/jwt"), k.claims(), k.keys["RS256"]),
        "token_malformed",
        id="nested-cty-media-type",
    ),
    pytest.param(lambda k: k.forge(k.header(cty=1), k.claims(), k.keys["RS256"]), "token_malformed", id="cty-number"),
    pytest.param(lambda k: k.forge(k.header(), k.token(), k.keys["RS256"]), "token_malformed", id="payload-is-a-token"),
    pytest.param(
        lambda k: k.forge(k.header(b64=False, crit=["b64"]), k.claims(), k.keys["RS256"]),
        "token_malformed",
        id="b64-false",
    ),
    pytest.param(
        lambda k: k.forge(k.header(b64=True), k.claims(), k.keys["RS256"]), "token_malformed", id="b64-without-crit"
    ),
    pytest.param(lambda k: k.forge(k.header(zip="DEF"), k.claims(), k.keys["RS256"]), "token_malformed", id="zip"),
    pytest.param(
        lambda k: k.forge(k.header(crit=["exp"], exp=1), k.claims(), k.keys["RS256"]),
        "token_malformed",
        id="crit-unknown",
    ),
    pytest.param(lambda k: k.forge(k.header(crit=[]), k.claims(), k.keys["RS256"]), "token_malformed", id="crit-empty"),
    pytest.param(
        lambda k: k.forge(k.header(crit="exp"), k.claims(), k.keys["RS256"]), "token_malformed", id="crit-string"
    ),
    pytest.param(
        lambda k: k.forge(k.header(crit=["alg"]), k.claims(), k.keys["RS256"]), "token_malformed", id="crit-registered"
    ),
    pytest.param(lambda k: k.forge(k.header(typ=7), k.claims(), k.keys["RS256"]), "token_malformed", id="typ-number"),
    # Nothing in the payload is parsed before the signature verifies: forged, it is only a bad signature.
    pytest.param(
        lambda k: k.forge(k.header(), b'{"sub":"a","sub":"admin","exp":9999999999}', k.others["RS256"]),
        "signature_invalid",
        id="duplicate-sub-forged",
    ),
    pytest.param(
        lambda k: k.forge(k.header(), b"{" + b",".join(b'"m%d":{}' % n for n in range(400)) + b"}", k.others["RS256"]),
        "signature_invalid",
        id="payload-of-small-objects-forged",
    ),
    pytest.param(
        lambda k: k.forge(k.header(), b"not json", k.others["RS256"]), "signature_invalid", id="not-json-forged"
    ),
    # A JOSE header is one object (two with a `jwk` member): many are refused before they cost a parse each.
    pytest.param(
        lambda k: k.forge(k.header(x=[{}] * 300), k.claims(), k.keys["RS256"]),
        "token_malformed",
        id="header-of-objects",
    ),
    pytest.param(
        lambda k: k.forge(k.header(x={"a": {"b": {}}}), k.claims(), k.keys["RS256"]), "ok", id="header-nested-object"
    ),
    # unknown, harmless header members are ignored
    pytest.param(
        lambda k: k.forge(k.header(x_custom="v", jku_like="x"), k.claims(), k.keys["RS256"]),
        "ok",
        id="unknown-members-ok",
    ),
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_structure_and_encoding(
    case: Case, expected: str, kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    run_case(case, expected, kit, default_url, http, jwtguard_logs)
