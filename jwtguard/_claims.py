"""One issuer's claim policy, compiled once from settings: named checks in a fixed order.

`ClaimPolicy.check` runs every check and stops at the first failure (the guard's path, one linear call);
`ClaimPolicy.steps` are the same checks by name, each on its own, for `jwtguard verify` to show every failing
one. The order of `check` is part of the contract, since a token with several faults is refused with the
first one's code: `typ`, then the NumericDates' types and `exp` after `nbf`/`iat`, then the time window,
then the lifetime, then `iss`, `aud`, the required claims and the scope claim.

    token type       `typ`: one of `token_types`, or by default no other kind of JWT (RFC 8725 §3.11)
    expiry           `exp` present, a NumericDate, not past (with the leeway)
    not-before       `nbf` and `iat` NumericDates, not in the future (with the leeway)
    lifetime         `exp` after `nbf` and `iat`; `exp - iat` within `max_token_lifetime`
    issuer           `iss` is a string and one of the issuer's names
    audience         `aud` is a string or a list of strings, one of them a configured audience
    required claims  `required_claims` present; `sub`/`jti` strings; `required_claim_values`
    scope claim      `scope` (a string) or `scp` (a string or list of strings) can be read
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from ._claim_path import TENANT, ClaimPath, collect
from ._jose import LAST_NUMERIC_DATE, media_type, numeric_date
from .errors import (
    AudienceInvalid,
    ClaimInvalid,
    ClaimMissing,
    IssuerInvalid,
    TokenExpired,
    TokenNotYetValid,
)
from .principal import scopes_from_claims

__all__ = ["ACCESS_TOKEN_TYPES", "CheckedClaims", "ClaimPolicy", "Step", "tenant_in"]

# With `token_types` unset these `typ` media types are the ones accepted as access tokens; any other "+jwt"
# type names another kind of JWT (a DPoP proof, a security event, a logout token) and is refused.
ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt"})
_EMPTY = frozenset({""})
_NONE: frozenset[str] = frozenset()
_MIN_INT = -(2**53)  # NumericDates below this are not exact as floats: the steps decide them


#: What `ClaimPolicy.check` returns: the granted scopes; `exp`, `nbf` and `iat` (the times the token cache
#: re-checks on every hit); the roles and the permissions. A plain tuple, which unpacks in one step.
CheckedClaims = tuple[frozenset[str], float, float | None, float | None, frozenset[str], frozenset[str]]


class Step(NamedTuple):
    """One named check: `check(header, claims, now)` raises the `AuthError` it refuses with."""

    name: str
    check: Callable[[Mapping[str, Any], Mapping[str, Any], float], object]


class ClaimPolicy:
    """The claim checks of one trusted issuer. Everything derivable from settings is derived here, once."""

    def __init__(
        self,
        *,
        issuers: Iterable[str],
        audiences: Iterable[str],
        leeway: float,
        token_types: Iterable[str] = (),
        max_lifetime: float | None = None,
        required_claims: Iterable[str] = (),
        claim_values: Mapping[str, Iterable[str]] | None = None,
        audience_claim: str = "aud",
        role_claims: Iterable[str] = (),
        permission_claims: Iterable[str] = (),
        tenants: Iterable[str] | None = None,
        tenant_claim: str | None = None,
    ) -> None:
        """`issuers` may hold templates with `{tenant}` (see `Issuer`); `tenants` None accepts any tenant."""
        names = tuple(issuers)
        self.issuers = frozenset(name for name in names if TENANT not in name)
        # A template "https://host/{tenant}/v2.0" as ("https://host/", "/v2.0"): `iss` is prefix + tenant + suffix.
        self.templates = tuple(tuple(name.split(TENANT, 1)) for name in names if TENANT in name)
        self.tenants = None if tenants is None else frozenset(tenants)
        self.tenant_claim = tenant_claim
        self.audience_claim = audience_claim
        self.role_claims = tuple(ClaimPath.parse(path, "role_claims") for path in role_claims)
        self.permission_claims = tuple(ClaimPath.parse(path, "permission_claims") for path in permission_claims)
        self.audiences = frozenset(audiences)
        self.leeway = float(leeway)
        self.token_types = frozenset(media_type(typ) for typ in token_types)
        self.max_lifetime = max_lifetime
        self.required_claims = tuple(required_claims)
        self.claim_values = {name: frozenset(values) for name, values in (claim_values or {}).items()}
        # Whether `check`'s one expression may decide a valid token: only when no check beyond the common
        # ones is configured (computed once, so the expression tests one flag instead of four settings).
        self._plain = (
            not self.token_types
            and max_lifetime is None
            and not self.required_claims
            and not claim_values
            and audience_claim == "aud"
            and not self.templates
            and not self.role_claims
            and not self.permission_claims
        )
        self.steps = (
            Step("token type", lambda header, claims, now: self.check_type(header)),
            Step("expiry", lambda header, claims, now: self.check_time_window(_exp(claims), None, None, now)),
            Step("not-before", self._not_before_step),
            Step("lifetime", lambda header, claims, now: self.check_lifetime(*self.read_times(claims))),
            Step("issuer", lambda header, claims, now: self.check_issuer(claims)),
            Step("audience", lambda header, claims, now: self.check_audience(claims)),
            Step("required claims", lambda header, claims, now: self.check_required(claims)),
            Step("scope claim", lambda header, claims, now: self.check_scope_claim(claims)),
            Step("roles and permissions", lambda header, claims, now: self.read_roles(claims)),
        )

    def check(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> CheckedClaims:
        """Every check in order; raises the first failure's `AuthError`.

        The common shape of a valid token (integer NumericDates, string `iss`/`aud`/`sub`/`jti`, no configured
        claim rules) is accepted in one expression that only admits what every step admits; anything else,
        including every token that fails, goes through the named steps, which decide and say why.
        """
        typ = header.get("typ", "JWT")
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        iss, aud, sub, jti = claims.get("iss"), claims.get("aud"), claims.get("sub"), claims.get("jti")
        leeway = self.leeway
        if (
            self._plain
            and typ == "JWT"
            and type(exp) is int
            and _MIN_INT < exp <= LAST_NUMERIC_DATE
            and now < exp + leeway
            and (
                (nbf is None and "nbf" not in claims)
                or (type(nbf) is int and _MIN_INT < nbf < exp and nbf <= now + leeway)
            )
            and (
                (iat is None and "iat" not in claims)
                or (type(iat) is int and _MIN_INT < iat < exp and iat <= now + leeway)
            )
            and (iss is None or type(iss) is str)
            and (not self.issuers or iss in self.issuers)
            and (
                (aud is None and not self.audiences)
                or (type(aud) is str and (not self.audiences or aud in self.audiences))
            )
            and (type(sub) is str or (sub is None and "sub" not in claims))
            and (type(jti) is str or (jti is None and "jti" not in claims))
        ):
            # The scope claim's common spellings inline (`check_scope_claim` decides the others): this runs
            # for every new token.
            scope = claims.get("scope")
            if type(scope) is str:
                scopes = frozenset(scope.split(" ")) - _EMPTY
            elif scope is None and "scope" not in claims and "scp" not in claims:
                scopes = _NONE
            else:
                scopes = self.check_scope_claim(claims)
            return (
                scopes,
                float(exp),
                None if nbf is None else float(nbf),
                None if iat is None else float(iat),
                _NONE,
                _NONE,
            )
        return self._check_step_by_step(header, claims, now)

    def _check_step_by_step(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> CheckedClaims:
        if self.token_types or "typ" in header:
            self.check_type(header)
        exp, nbf, iat = self.read_times(claims)
        self.check_time_window(exp, nbf, iat, now)
        self.check_lifetime(exp, nbf, iat)
        self.check_issuer(claims)
        self.check_audience(claims)
        self.check_required(claims)
        scopes = self.check_scope_claim(claims)
        roles, permissions = self.read_roles(claims)
        return scopes, exp, nbf, iat, roles, permissions

    def check_type(self, header: Mapping[str, Any]) -> None:
        typ = header.get("typ")
        if self.token_types:
            if typ is None:
                raise ClaimInvalid(
                    "typ header absent, but token_types is configured",
                    claim="typ",
                    details={"expected": sorted(self.token_types)},
                )
            if media_type(typ) not in self.token_types:
                raise ClaimInvalid(
                    "typ header is not one of token_types",
                    claim="typ",
                    details={"typ": typ, "expected": sorted(self.token_types)},
                )
            return
        if typ is not None:
            kind = media_type(typ)
            if kind.endswith("+jwt") and kind not in ACCESS_TOKEN_TYPES:
                raise ClaimInvalid(
                    "typ names another kind of JWT, not an access token", claim="typ", details={"typ": typ}
                )

    @staticmethod
    def read_times(claims: Mapping[str, Any]) -> tuple[float, float | None, float | None]:
        """`exp` (required), `nbf` and `iat` as NumericDates, with `exp` after the other two."""
        exp = _exp(claims)
        nbf = numeric_date(claims, "nbf") if "nbf" in claims else None
        iat = numeric_date(claims, "iat") if "iat" in claims else None
        # A token that ends before it starts was never valid; leeway must not make it so.
        if nbf is not None and exp <= nbf:
            raise ClaimInvalid("exp is not after nbf", claim="exp")
        if iat is not None and exp <= iat:
            raise ClaimInvalid("exp is not after iat", claim="exp")
        return exp, nbf, iat

    def check_lifetime(self, exp: float, nbf: float | None, iat: float | None) -> None:
        if self.max_lifetime is not None:
            if iat is None:
                raise ClaimMissing("required claim 'iat' is absent (max_token_lifetime is configured)", claim="iat")
            if exp - iat > self.max_lifetime:
                raise ClaimInvalid(
                    "exp - iat exceeds max_token_lifetime",
                    claim="iat",
                    details={"lifetime_seconds": exp - iat, "max_token_lifetime": self.max_lifetime},
                )

    def check_time_window(self, exp: float, nbf: float | None, iat: float | None, now: float) -> None:
        """`now` lies within the token's validity, with the leeway; the token cache runs this on every hit."""
        leeway = self.leeway
        if now >= exp + leeway:
            raise TokenExpired(
                "exp is in the past, beyond the leeway",
                claim="exp",
                details={"exp": exp, "expired_seconds_ago": round(now - exp, 1), "leeway": leeway},
            )
        if nbf is not None and nbf > now + leeway:
            raise TokenNotYetValid(
                "nbf is in the future, beyond the leeway",
                claim="nbf",
                details={"nbf": nbf, "valid_in_seconds": round(nbf - now, 1), "leeway": leeway},
            )
        if iat is not None and iat > now + leeway:
            raise TokenNotYetValid(
                "iat is in the future, beyond the leeway",
                claim="iat",
                details={"iat": iat, "issued_in_seconds": round(iat - now, 1), "leeway": leeway},
            )

    def check_issuer(self, claims: Mapping[str, Any]) -> None:
        iss = claims.get("iss")
        if iss is not None and not isinstance(iss, str):
            raise ClaimInvalid("'iss' is not a string", claim="iss")
        if (not self.issuers and not self.templates) or iss in self.issuers:
            return
        expected = self.expected_issuers()
        if iss is None:
            raise IssuerInvalid("iss is absent", claim="iss", details={"expected": expected})
        tenant = self.tenant_of(iss)
        if tenant is None:
            raise IssuerInvalid(
                "iss is not a configured issuer", claim="iss", details={"iss": iss, "expected": expected}
            )
        if self.tenants is not None and tenant not in self.tenants:
            raise IssuerInvalid(
                "iss names a tenant that is not in tenants",
                claim="iss",
                details={"iss": iss, "tenant": tenant, "tenants": sorted(self.tenants)},
            )
        tenant_claim = claims.get(self.tenant_claim or "")
        if tenant_claim != tenant:
            raise IssuerInvalid(
                f"iss names another tenant than the {self.tenant_claim!r} claim",
                claim="iss",
                details={"iss": iss, "tenant": tenant, str(self.tenant_claim): tenant_claim},
            )

    def expected_issuers(self) -> list[str]:
        """The configured issuers and issuer templates, for a refusal's log record."""
        return sorted(self.issuers) + [prefix + TENANT + suffix for prefix, suffix in self.templates]

    def tenant_of(self, iss: object) -> str | None:
        """The tenant `iss` names through the first issuer template it fills (None: an exact issuer, or none)."""
        if not isinstance(iss, str) or iss in self.issuers:
            return None
        for prefix, suffix in self.templates:
            tenant = tenant_in(iss, prefix, suffix)
            if tenant is not None:
                return tenant
        return None

    def read_roles(self, claims: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
        """The roles and permissions at the configured claim paths; `ClaimInvalid` naming a path of the wrong shape."""
        return collect(claims, self.role_claims), collect(claims, self.permission_claims)

    def check_audience(self, claims: Mapping[str, Any]) -> None:
        name = self.audience_claim
        aud = claims.get(name)
        audiences: tuple[str, ...]
        if aud is None:
            audiences = ()
        elif isinstance(aud, str):
            audiences = (aud,)
        elif isinstance(aud, list) and all(isinstance(item, str) for item in aud):
            audiences = tuple(aud)
        else:
            raise ClaimInvalid(f"{name!r} is neither a string nor a list of strings", claim=name, details={name: aud})
        if self.audiences and self.audiences.isdisjoint(audiences):
            raise AudienceInvalid(
                f"{name} is absent" if aud is None else f"no {name} value is a configured audience",
                claim=name,
                details={name: list(audiences), "expected": sorted(self.audiences)},
            )

    def check_required(self, claims: Mapping[str, Any]) -> None:
        for name in self.required_claims:
            if name not in claims:
                raise ClaimMissing(f"required claim {name!r} is absent", claim=name)
        for name in ("sub", "jti"):
            if name in claims and not isinstance(claims[name], str):
                raise ClaimInvalid(f"{name!r} is not a string", claim=name)
        for name, allowed in self.claim_values.items():
            if name not in claims:
                raise ClaimMissing(f"required claim {name!r} is absent", claim=name)
            value = claims[name]
            if not isinstance(value, str) or value not in allowed:  # exact, case-sensitive
                raise ClaimInvalid(
                    f"{name!r} is not one of the values in required_claim_values",
                    claim=name,
                    details={name: value, "expected": sorted(allowed)},
                )

    def _not_before_step(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> None:
        nbf = numeric_date(claims, "nbf") if "nbf" in claims else None
        iat = numeric_date(claims, "iat") if "iat" in claims else None
        self.check_time_window(math.inf, nbf, iat, now)

    @staticmethod
    def check_scope_claim(claims: Mapping[str, Any]) -> frozenset[str]:
        scopes = scopes_from_claims(claims)
        if scopes is None:
            raise ClaimInvalid("'scope' is not a string, or 'scp' not a string or list of strings", claim="scope")
        return scopes


def tenant_in(iss: str, prefix: str, suffix: str) -> str | None:
    """The tenant `iss` names when it is `prefix` + tenant + `suffix` (a non-empty tenant without '/')."""
    if len(iss) <= len(prefix) + len(suffix) or not iss.startswith(prefix) or not iss.endswith(suffix):
        return None
    tenant = iss[len(prefix) : len(iss) - len(suffix)]
    return None if "/" in tenant else tenant


def _exp(claims: Mapping[str, Any]) -> float:
    exp = numeric_date(claims, "exp")
    if exp is None:
        raise ClaimMissing("required claim 'exp' is absent", claim="exp")
    return exp
