"""Policy features: typ (RFC 9068 at+jwt), maximum lifetime, exact claim values, revocation."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from jwtguard import Principal

from .conftest import Case, Kit, run_case


def strict(**changes: object) -> Callable[[Kit], str]:
    """A token that passes the strict app unless `changes` break it; typ, azp and lifetime are right."""

    def build(k: Kit) -> str:
        header = k.header(typ="at+jwt")
        for name in ("typ", "cty"):
            if name in changes:
                header[name] = changes.pop(name)
        header = {name: value for name, value in header.items() if value is not None}
        values = {"azp": "client-1", "exp": k.now + 600, "iat": k.now, "nbf": k.now}
        values.update({name: (value(k) if callable(value) else value) for name, value in changes.items()})
        return k.forge(header, k.claims(**values), k.keys["RS256"])

    return build


def revoked_jti(k: Kit) -> str:
    jti = uuid.uuid4().hex
    k.denylist.revoke(jti, k.now + 600)
    return strict(jti=jti)(k)


def revoked_subject(k: Kit) -> str:
    subject = f"user-{uuid.uuid4().hex[:8]}"
    token = strict(sub=subject, iat=lambda k: k.now - 5)(k)
    k.denylist.revoke_subject(subject)
    return token


def revoked_subject_issuer_clock_ahead(k: Kit) -> str:
    # Minted just before the revocation by an issuer whose clock runs 30 s ahead (within the leeway).
    subject = f"user-{uuid.uuid4().hex[:8]}"
    token = strict(sub=subject, iat=lambda k: k.now + 30)(k)
    k.denylist.revoke_subject(subject)
    return token


def reissued_after_revocation(k: Kit) -> str:
    subject = f"user-{uuid.uuid4().hex[:8]}"
    k.denylist.revoke_subject(subject, issued_before=k.now - 600)
    return strict(sub=subject, iat=lambda k: k.now - 5)(k)


def revoked_then_other_token(k: Kit) -> str:
    first = Principal(k.claims(jti=uuid.uuid4().hex))
    k.denylist.revoke_token(first)
    return strict(jti=uuid.uuid4().hex)(k)


CASES: list[object] = [
    pytest.param(strict(), "ok", id="control"),
    pytest.param(strict(typ="application/at+jwt"), "ok", id="typ-media-type"),
    pytest.param(strict(typ="AT+JWT"), "ok", id="typ-case-insensitive"),
    pytest.param(strict(typ=None), "claim_invalid", id="typ-missing"),
    pytest.param(strict(typ="JWT"), "claim_invalid", id="typ-jwt"),
    pytest.param(strict(typ="id+jwt"), "claim_invalid", id="typ-id-token"),
    pytest.param(strict(typ="at+jwt2"), "claim_invalid", id="typ-near-miss"),
    pytest.param(strict(exp=lambda k: k.now + 7200), "claim_invalid", id="lifetime-too-long"),
    pytest.param(strict(exp=lambda k: k.now + 3600), "ok", id="lifetime-at-the-limit"),
    pytest.param(strict(iat=None), "claim_missing", id="lifetime-without-iat"),
    pytest.param(strict(azp=None), "claim_missing", id="azp-missing"),
    pytest.param(strict(azp="client-2"), "claim_invalid", id="azp-other"),
    pytest.param(strict(azp="CLIENT-1"), "claim_invalid", id="azp-case"),
    pytest.param(strict(azp="client-1 "), "claim_invalid", id="azp-trailing-space"),
    pytest.param(strict(azp=["client-1"]), "claim_invalid", id="azp-list"),
    pytest.param(revoked_jti, "token_revoked", id="revoked-jti"),
    pytest.param(revoked_subject, "token_revoked", id="revoked-subject"),
    pytest.param(revoked_subject_issuer_clock_ahead, "token_revoked", id="revoked-subject-issuer-clock-ahead"),
    pytest.param(reissued_after_revocation, "ok", id="issued-after-subject-revocation"),
    pytest.param(revoked_then_other_token, "ok", id="other-token-of-a-revoked-id"),
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_policy(
    case: Case, expected: str, kit: Kit, strict_url: str, http: httpx.Client, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    run_case(case, expected, kit, strict_url, http, jwtguard_logs)
