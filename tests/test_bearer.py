"""Bearer extraction per RFC 6750 §2.1: one credential, strict syntax, a size cap before parsing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from jwtguard.bearer import extract_bearer_token
from jwtguard.errors import AuthError, InvalidRequest, TokenMalformed, TokenMissing


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        pytest.param("Bearer abc.def.ghi", "abc.def.ghi", id="plain"),
        pytest.param("bearer abc.def.ghi", "abc.def.ghi", id="lower-case-scheme"),
        pytest.param("BEARER abc.def.ghi", "abc.def.ghi", id="upper-case-scheme"),
        pytest.param("Bearer   abc", "abc", id="several-spaces"),
        pytest.param("  Bearer abc  ", "abc", id="surrounding-whitespace"),
        pytest.param("Bearer a-b_c~d+e/f==", "a-b_c~d+e/f==", id="b64token-alphabet"),
        pytest.param(["Bearer abc"], "abc", id="one-header-in-a-list"),
    ],
)
def test_valid_credentials(authorization: str | Sequence[str], token: str) -> None:
    assert extract_bearer_token(authorization, max_bytes=100) == token


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        pytest.param(None, TokenMissing, id="no-header"),
        pytest.param([], TokenMissing, id="no-header-list"),
        pytest.param("Basic dXNlcjpwYXNz", TokenMissing, id="basic"),
        pytest.param("Bearerabc", TokenMissing, id="no-space-is-another-scheme"),
        pytest.param("DPoP abc", TokenMissing, id="dpop"),
        pytest.param('Digest username="a", realm="b", nonce="c"', TokenMissing, id="digest-with-params"),
        pytest.param("Basic x, Bearer abc", InvalidRequest, id="folded-basic-and-bearer"),
        pytest.param("Bearer abc,Bearer def", InvalidRequest, id="folded-without-space"),
        pytest.param("", InvalidRequest, id="empty-header"),
        pytest.param("Bearer", InvalidRequest, id="scheme-only"),
        pytest.param("Bearer ", InvalidRequest, id="scheme-and-space"),
        pytest.param("Bearer abc def", InvalidRequest, id="two-tokens"),
        pytest.param("Bearer abc, Bearer def", InvalidRequest, id="comma-list"),
        pytest.param("Bearer abc\x00", InvalidRequest, id="nul"),
        pytest.param("Bearer abc\r\nX-Injected: 1", InvalidRequest, id="crlf"),
        pytest.param("Bearer abc\tdef", InvalidRequest, id="tab"),
        pytest.param("Bearer ab=c", InvalidRequest, id="padding-inside"),
        pytest.param("Bearer =abc", InvalidRequest, id="padding-first"),
        pytest.param("Bearer abc\u00e9", InvalidRequest, id="non-ascii"),
        pytest.param("Bearer token=abc", InvalidRequest, id="auth-param"),
        pytest.param(["Bearer abc", "Bearer abc"], InvalidRequest, id="two-headers"),
        pytest.param(["Basic x", "Bearer abc"], InvalidRequest, id="two-schemes"),
        pytest.param("Bearer " + "a" * 101, TokenMalformed, id="over-the-cap"),
        pytest.param("Bearer " + "a" * 100_000, TokenMalformed, id="far-over-the-cap"),
        pytest.param("Negotiate " + "Y" * 100_000, TokenMissing, id="large-credential-of-another-scheme"),
        pytest.param("B\u00e9arer abc", InvalidRequest, id="non-token-scheme"),
        pytest.param("x" * 100_000, InvalidRequest, id="huge-scheme"),
    ],
)
def test_invalid_credentials(authorization: str | Sequence[str] | None, error: type[AuthError]) -> None:
    with pytest.raises(error) as caught:
        extract_bearer_token(authorization, max_bytes=100)
    assert type(caught.value) is error
