"""The in-memory denylist: subject revocations hold against an issuer whose clock runs ahead."""

from __future__ import annotations

import pytest

from jwtguard import ConfigurationError, JtiDenylist, Principal

from .conftest import FakeClock

NOW = 1_800_000_000.0


def principal(iat: float | None, sub: str = "user-42") -> Principal:
    claims: dict[str, object] = {"sub": sub, "exp": NOW + 600}
    if iat is not None:
        claims["iat"] = iat
    return Principal(claims)


@pytest.mark.parametrize(
    ("iat", "revoked"),
    [
        pytest.param(NOW - 3600, True, id="issued-an-hour-before"),
        pytest.param(NOW, True, id="issued-at-the-moment"),
        # Minted 5 s before the revocation by an issuer whose clock runs 30 s ahead: iat is 25 s after it.
        pytest.param(NOW + 25, True, id="issuer-clock-ahead-within-leeway"),
        pytest.param(NOW + 60, True, id="at-the-leeway"),
        pytest.param(NOW + 61, False, id="issued-after-the-leeway"),
        pytest.param(None, True, id="no-iat"),
    ],
)
def test_revoke_subject_takes_the_leeway_as_margin(iat: float | None, revoked: bool) -> None:
    denylist = JtiDenylist(clock=FakeClock(NOW), leeway=60)
    denylist.revoke_subject("user-42")
    assert denylist.is_revoked(principal(iat)) is revoked
    assert denylist.is_revoked(principal(iat, sub="someone-else")) is False


def test_the_margin_follows_the_configured_leeway() -> None:
    denylist = JtiDenylist(clock=FakeClock(NOW), leeway=5)
    denylist.revoke_subject("user-42")
    assert denylist.is_revoked(principal(NOW + 5)) is True
    assert denylist.is_revoked(principal(NOW + 6)) is False


def test_revoke_subject_for_tokens_issued_before_a_time() -> None:
    denylist = JtiDenylist(clock=FakeClock(NOW), leeway=60)
    denylist.revoke_subject("user-42", issued_before=NOW - 600)
    assert denylist.is_revoked(principal(NOW - 900)) is True
    assert denylist.is_revoked(principal(NOW - 560)) is True  # within the margin
    assert denylist.is_revoked(principal(NOW - 30)) is False
    # A time in the future cannot revoke tokens not issued yet: it is taken as now.
    denylist.revoke_subject("user-7", issued_before=NOW + 3600)
    assert denylist.is_revoked(principal(NOW + 600, sub="user-7")) is False


@pytest.mark.parametrize("leeway", [-1, 301, True, "60"])
def test_a_leeway_outside_what_settings_allow_is_refused(leeway: object) -> None:
    with pytest.raises(ConfigurationError, match="leeway"):
        JtiDenylist(leeway=leeway)  # type: ignore[arg-type]
