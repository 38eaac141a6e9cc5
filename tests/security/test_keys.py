"""Key selection and JWKS contents: unknown and hostile kids, keys embedded in or named by the token,
unusable JWKS entries (the good keys keep working), and proof that nothing a token names is fetched."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Case, Kit, run_case


def embedded(kit: Kit, **header: object) -> str:
    """A token signed with the attacker's key that offers that key in every way JOSE allows."""
    attacker_key = kit.others["RS256"]
    return kit.forge(kit.header("RS256", **header), kit.claims(), attacker_key)


CASES: list[object] = [
    # kids that name nothing
    pytest.param(
        lambda k: k.forge(k.header(kid="no-such-key"), k.claims(), k.keys["RS256"]), "key_not_found", id="unknown-kid"
    ),
    pytest.param(lambda k: k.forge(k.header(kid=""), k.claims(), k.keys["RS256"]), "key_not_found", id="empty-kid"),
    pytest.param(
        lambda k: k.forge(k.header(kid=None), k.claims(), k.keys["RS256"]), "key_not_found", id="no-kid-several-keys"
    ),
    pytest.param(
        lambda k: k.forge(k.header(kid="RS256-MAIN"), k.claims(), k.keys["RS256"]), "key_not_found", id="kid-case"
    ),
    pytest.param(
        lambda k: k.forge(k.header(kid="rs256-main "), k.claims(), k.keys["RS256"]),
        "key_not_found",
        id="kid-trailing-space",
    ),
    pytest.param(
        lambda k: k.forge(k.header(kid="rs256-mai"), k.claims(), k.keys["RS256"]), "key_not_found", id="kid-prefix"
    ),
    *[
        pytest.param(
            lambda k, kid=kid: k.forge(k.header(kid=kid), k.claims(), k.keys["RS256"]),
            "key_not_found",
            id=f"kid-{name}",
        )
        for name, kid in (
            ("path-traversal", "../../../../etc/passwd"),
            ("absolute-path", "/dev/null"),
            ("file-url", "file:///etc/passwd"),
            ("http-url", "http://127.0.0.1:1/keys"),
            ("sql", "' OR '1'='1"),
            ("nul", "rs256-main\u0000"),
            ("unicode", "r\u0455256-main"),
            ("newline", "rs256-main\nINFO forged log line"),
            ("long", "k" * 300),
            ("huge", "k" * 5000),
        )
    ],
    *[
        pytest.param(
            lambda k, kid=kid: k.forge(k.header(kid=kid), k.claims(), k.keys["RS256"]),
            "token_malformed",
            id=f"kid-{name}",
        )
        for name, kid in (("int", 7), ("list", ["rs256-main"]), ("object", {"kid": "rs256-main"}), ("bool", True))
    ],
    # keys embedded in or named by the token are never used, never fetched
    pytest.param(
        lambda k: embedded(k, kid="attacker", jwk=k.others["RS256"].public_jwk()), "key_not_found", id="embedded-jwk"
    ),
    pytest.param(
        lambda k: embedded(k, jwk=k.others["RS256"].public_jwk()), "signature_invalid", id="embedded-jwk-real-kid"
    ),
    pytest.param(lambda k: embedded(k, kid="attacker", jku=k.attacker.jwks_uri), "key_not_found", id="jku"),
    pytest.param(lambda k: embedded(k, jku=k.attacker.jwks_uri), "signature_invalid", id="jku-real-kid"),
    pytest.param(lambda k: embedded(k, kid="attacker", x5u=k.attacker.jwks_uri), "key_not_found", id="x5u"),
    pytest.param(
        lambda k: embedded(k, kid="attacker", x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOC"]), "key_not_found", id="x5c"
    ),
    pytest.param(
        lambda k: embedded(k, x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOC"], x5t="abc"), "signature_invalid", id="x5c-real-kid"
    ),
    pytest.param(
        lambda k: embedded(
            k, kid="attacker", jku=k.attacker.jwks_uri, x5u=k.attacker.jwks_uri, jwk=k.others["RS256"].public_jwk()
        ),
        "key_not_found",
        id="every-key-header-at-once",
    ),
    # JWKS entries that cannot verify are skipped; a token naming them finds no key
    *[
        pytest.param(
            lambda k, kid=kid: k.forge(k.header(kid=kid), k.claims(), k.keys["RS256"]),
            "key_not_found",
            id=f"jwks-{kid}",
        )
        for kid in ("symmetric", "encryption", "sign-only", "private", "malformed", "bad-curve", "x25519", "short")
    ],
    pytest.param(
        lambda k: k.forge(k.header("ES256", kid="bad-curve"), k.claims(), k.keys["ES256"]),
        "key_not_found",
        id="jwks-bad-curve-es256",
    ),
    # a duplicated kid: the key that fits the alg is chosen
    pytest.param(
        lambda k: k.forge(k.header("RS256", kid="duplicate"), k.claims(), k.keys["RS256"]), "ok", id="duplicate-kid-rsa"
    ),
    pytest.param(
        lambda k: k.forge(k.header("ES256", kid="duplicate"), k.claims(), k.keys["ES256"]), "ok", id="duplicate-kid-ec"
    ),
    pytest.param(
        lambda k: k.forge(k.header("EdDSA", kid="duplicate"), k.claims(), k.keys["EdDSA"]),
        "algorithm_not_allowed",
        id="duplicate-kid-no-fit",
    ),
    # ...while the good keys in the same JWKS keep working
    *[
        pytest.param(lambda k, alg=alg: k.token(alg), "ok", id=f"good-{alg}-still-works")
        for alg in ("RS256", "PS256", "ES256", "EdDSA")
    ],
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_key_selection_and_jwks_contents(
    case: Case, expected: str, kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    run_case(case, expected, kit, default_url, http, jwtguard_logs)
    assert sum(kit.attacker.hits.values()) == 0  # nothing a token names is ever fetched


def test_forged_kids_cost_no_fetch_of_their_own(
    kit: Kit, default_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    before = kit.issuer.server.jwks_hits
    for n in range(50):
        case = lambda k, n=n: k.forge(k.header(kid=f"forged-{n}"), k.claims(), k.keys["RS256"])  # noqa: E731
        run_case(case, "key_not_found", kit, default_url, http, jwtguard_logs)
    assert kit.issuer.server.jwks_hits - before <= 1
