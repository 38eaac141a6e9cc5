"""HTTP: the Authorization header's scheme, count and syntax, control characters, sizes, and tokens offered
anywhere but the header: refused in the query string (RFC 6750 §5.3), ignored in the body or a cookie."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Attempt, Case, Kit, run_case


def header(*values: str) -> Case:
    return lambda k: Attempt(authorization=list(values))


def with_token(template: str) -> Case:
    def build(k: Kit) -> Attempt:
        token = k.token()
        return Attempt(authorization=[template.format(token=token)], secrets=[token])

    return build


def query_token(path: str = "/?access_token={token}", *, header: bool = False) -> Case:
    def build(k: Kit) -> Attempt:
        token = k.token()
        return Attempt(
            authorization=[f"Bearer {k.token()}"] if header else [], path=path.format(token=token), secrets=[token]
        )

    return build


CASES: list[object] = [
    # scheme case and spacing (RFC 9110: the scheme is case-insensitive)
    *[
        pytest.param(with_token(f"{scheme} {{token}}"), "ok", id=f"scheme-{scheme}")
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR")
    ],
    pytest.param(with_token("Bearer   {token}"), "ok", id="several-spaces"),
    pytest.param(with_token("Bearer\t{token}"), "invalid_request", id="tab-separator"),
    pytest.param(with_token("Bearer{token}"), "invalid_request", id="no-separator"),
    pytest.param(with_token("Bearer: {token}"), "invalid_request", id="colon-scheme"),
    pytest.param(with_token("Token {token}"), "token_missing", id="token-scheme"),
    pytest.param(with_token("JWT {token}"), "token_missing", id="jwt-scheme"),
    pytest.param(with_token("DPoP {token}"), "token_missing", id="dpop-scheme"),
    pytest.param(header("Basic dXNlcjpwYXNzd29yZA=="), "token_missing", id="basic"),
    pytest.param(header('Digest username="u", realm="r", nonce="n", response="x"'), "token_missing", id="digest"),
    pytest.param(header("Negotiate " + "Y" * 9000), "token_missing", id="large-negotiate"),
    # several credentials
    pytest.param(
        lambda k: Attempt(authorization=[f"Bearer {k.token()}", f"Bearer {k.token()}"]),
        "invalid_request",
        id="two-headers",
    ),
    pytest.param(
        lambda k: Attempt(authorization=[f"Bearer {k.token()}", "Basic dTpw"]),
        "invalid_request",
        id="bearer-and-basic-headers",
    ),
    pytest.param(with_token("Bearer {token}, Bearer {token}"), "invalid_request", id="comma-list"),
    pytest.param(with_token("Basic dTpw, Bearer {token}"), "invalid_request", id="comma-after-basic"),
    pytest.param(with_token("Bearer {token} {token}"), "invalid_request", id="two-tokens"),
    pytest.param(with_token("Bearer {token} junk"), "invalid_request", id="trailing-junk"),
    pytest.param(with_token("Bearer {token};"), "invalid_request", id="trailing-semicolon"),
    pytest.param(with_token('Bearer token="{token}"'), "invalid_request", id="auth-param"),
    pytest.param(with_token('Bearer "{token}"'), "invalid_request", id="quoted-token"),
    # empty and control characters
    pytest.param(header("Bearer"), "invalid_request", id="scheme-only"),
    pytest.param(header(""), "invalid_request", id="empty-header"),
    pytest.param(with_token("Bearer {token}\x01"), "invalid_request", id="control-char"),
    pytest.param(with_token("Bearer {token}\x7f"), "invalid_request", id="del-char"),
    pytest.param(with_token("Bearer \x1f{token}"), "invalid_request", id="unit-separator"),
    pytest.param(
        lambda k: Attempt(authorization=["Bearer " + k.token().replace(".", "\u00b7", 1).encode().decode("latin-1")]),
        "invalid_request",
        id="non-ascii-bytes",
    ),
    # sizes: the token cap (8 KiB here) is checked before any parsing
    pytest.param(header("Bearer " + "a" * 8193), "token_malformed", id="one-byte-over-the-cap"),
    pytest.param(header("Bearer " + "a." * 4000 + "a"), "token_malformed", id="thousands-of-segments"),
    pytest.param(header("Bearer " + "a" * 8192), "token_malformed", id="at-the-cap-but-not-a-jwt"),
    # tokens anywhere but the Authorization header are not read (RFC 6750 §2.2 and §2.3 are not supported);
    # one in the URL is refused outright, since URLs get logged (§5.3)
    pytest.param(query_token(), "invalid_request", id="query-string"),
    pytest.param(query_token(header=True), "invalid_request", id="query-string-and-a-valid-header"),
    pytest.param(query_token("/?page=2&%61ccess%5Ftoken={token}"), "invalid_request", id="query-string-encoded-name"),
    pytest.param(lambda k: Attempt(data={"access_token": k.token()}, secrets=[]), "token_missing", id="form-body"),
    pytest.param(
        lambda k: Attempt(headers=[("Cookie", f"access_token={k.token()}")], secrets=[]), "token_missing", id="cookie"
    ),
    pytest.param(
        lambda k: Attempt(headers=[("X-Access-Token", k.token()), ("X-Authorization", f"Bearer {k.token()}")]),
        "token_missing",
        id="other-headers",
    ),
    pytest.param(
        lambda k: Attempt(authorization=["Bearer garbage.garbage.garbage"], params={"access_token": k.token()}),
        "invalid_request",
        id="query-string-and-a-bad-header",
    ),
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_http_credentials(
    case: Case, expected: str, kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    run_case(case, expected, kit, default_url, http, jwtguard_logs)


@pytest.mark.parametrize("size", [12_000, 200_000])
def test_an_oversized_header_never_reaches_a_500(kit: Kit, default_url: str, http: httpx.Client, size: int) -> None:
    # Past the token cap jwtguard answers 401; far past the server's own header limit the server refuses
    # the request before the app sees it. Never a 500, never a hang.
    try:
        response = http.get(default_url + "/", headers={"Authorization": "Bearer " + "a" * size})
    except (httpx.RemoteProtocolError, httpx.ReadError):
        assert size > 16_384  # the server's limit, not jwtguard's
        return
    assert 400 <= response.status_code < 500
