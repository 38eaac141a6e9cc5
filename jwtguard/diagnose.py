"""Why is this token invalid? Every check of the real `Guard`, step by step, for the CLI and for tests.

`diagnose(guard, token)` runs the guard itself for the verdict, then walks the same checks one by one and
keeps going past the first failure (claims are re-checked with each refused claim set right), so a token that
is both expired and for another audience shows both. The claim checks are the guard's own code.

Given a request (`method` and route `path`), it also finds the per-route rule the guard would apply
(`Guard.rule_for`) and checks the rule's requirement against the token, as the middleware does after the token.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ._claim_path import kind
from ._claims import ClaimPolicy
from ._help import HELP, NOT_A_JWT
from ._jose import verify_signature
from ._request import RequestInfo
from ._token import ParsedToken, parse_claims, parse_token
from .bearer import extract_bearer_token
from .certificates import bound_thumbprint
from .dpop import jwk_thumbprint
from .errors import (
    AuthError,
    CertificateBindingMismatch,
    DPoPRequired,
    InsufficientScope,
    InsufficientUserAuthentication,
    JWKSUnavailable,
    fingerprint,
)
from .guard import Guard, IssuerView
from .principal import Principal, require, scopes_from_claims
from .rules import Rule

__all__ = [
    "SKEW_HINT_SECONDS",
    "Diagnosis",
    "RuleCheck",
    "Step",
    "ago",
    "diagnose",
    "diagnose_dpop",
    "finite_number",
    "printable",
    "utc",
]

#: A time check that fails by less than this (beyond the leeway) may be clock drift: it is called so only when
#: the key server's `Date` or the token's own `iat` says a clock is off.
SKEW_HINT_SECONDS = 300.0
#: A key server clock this far from this machine's (either way) is worth a hint.
_OFFSET_HINT_SECONDS = 5.0

_STEPS = (
    "format",
    "algorithm",
    "key lookup",
    "signature",
    "expiry",
    "not-before",
    "lifetime",
    "issuer",
    "audience",
    "required claims",
    "token type",
    "scopes",
    "roles and permissions",
    "revocation",
    "rule",
)
# The claim policy's steps under the names shown here (each fits the command's 16-character column).
_SHOWN = {"scope claim": "scopes"}
_CLAIM_STEPS = {"exp": "expiry", "nbf": "not-before", "iat": "not-before", "iss": "issuer", "aud": "audience"}
_CLAIM_STEPS |= {"typ": "token type", "scope": "scopes"}


def printable(text: str) -> str:
    """`text` with every non-printable character shown as its escape (`\\x1b`, `\\u202e`, `\\n`).

    Values read from a token are shown to a person on a terminal: an escape sequence, a newline or a bidi
    override in them could clear the screen, forge a verdict line or reorder what is read.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


@dataclass
class Step:
    name: str
    status: str  # "pass", "fail" or "skip"
    detail: str = ""
    code: str | None = None


@dataclass
class RuleCheck:
    """What the per-route rules say about one request (`method`, route `path`) with this token."""

    method: str
    path: str
    #: The text form of the rule that matched (`GET /orders/* role:orders-reader`); None when none did.
    rule: str | None = None
    #: "public", "anonymous", "authenticated" or "requirement"; None for a path refused before any rule.
    access: str | None = None
    #: For a requirement: whether the token meets it (None when its scopes or roles could not be read).
    met: bool | None = None
    #: The refusal the rules give this request: `invalid_request` (unsafe path), `insufficient_scope` or
    #: `insufficient_role`; None when they refuse nothing.
    code: str | None = None


@dataclass
class Diagnosis:
    valid: bool
    code: str | None
    status: int
    description: str
    steps: list[Step]
    fingerprint: str | None = None
    size: int = 0
    hints: list[str] = field(default_factory=list)
    claims_verified: bool = False

    #: The step whose check the guard refused the token at (its first failing check).
    failing_step: str | None = None

    #: The roles and permissions read at the configured claim paths (None: no such paths, or unreadable).
    roles: list[str] | None = None
    permissions: list[str] | None = None

    #: The per-route rule check, when a request path was given.
    rule: RuleCheck | None = None

    #: Why the key source is misconfigured, when the key lookup failed because of it (both values and what
    #: to change): a configuration error, not an outage.
    configuration_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        help_ = HELP.get(self.code or "", None)
        return {
            "valid": self.valid,
            "code": self.code,
            "status": self.status,
            "description": self.description,
            "failing_step": self.failing_step,
            "steps": [step.__dict__ for step in self.steps],
            "hints": self.hints,
            "causes": list(help_.causes) if help_ else [],
            "fix": help_.fix if help_ else None,
            "token": {"fingerprint": self.fingerprint, "size": self.size},
            "claims_verified": self.claims_verified,
            "roles": self.roles,
            "permissions": self.permissions,
            "rule": None if self.rule is None else dict(self.rule.__dict__),
            "configuration_error": self.configuration_error,
        }


def diagnose(guard: Guard, token: str, *, method: str = "GET", path: str | None = None) -> Diagnosis:
    """The verdict of `guard` on `token` and what every check says about it; with a route `path`, on a request
    for `method` and `path` (the per-route rules included)."""
    token = token.strip()
    # A bare token is sent as "Bearer <token>"; text with a space is taken as the whole header value, so
    # "Basic ..." or "Bearer a b" are diagnosed as a server would see them.
    authorization = token if " " in token else f"Bearer {token}"
    steps = {name: Step(name, "skip", "not reached") for name in _STEPS}
    steps["revocation"] = Step("revocation", "skip", "no revocation hook in this check")
    steps["rule"] = Step("rule", "skip", "no request path given (--path)")
    diagnosis = Diagnosis(
        valid=False, code=None, status=0, description="", steps=[], size=len(token.encode("utf-8", "replace"))
    )
    walked = _walk(guard, authorization, steps, diagnosis)
    rule: Rule | None = None
    refusal: AuthError | None = None  # the rules' own refusal of the request, before any token is read
    if path is not None:
        diagnosis.rule = RuleCheck(method, path)
        rule, refusal = _match_rule(guard, diagnosis.rule, steps)
    # The walk went first, so its key lookup saw the key server first-hand; the verdict is the guard's own.
    try:
        principal: Principal | None = guard.authenticate(authorization)
        verdict: AuthError | None = None
    except CertificateBindingMismatch:  # every other check passed; only a request can present the certificate
        principal, verdict = walked, None
        thumbprint = bound_thumbprint(walked.claims) if walked is not None else None
        diagnosis.hints.append(
            f"the token is bound to a client certificate (cnf x5t#S256 {thumbprint}): every request must present it "
            "over mTLS or through client_cert_header, else 401 certificate_binding_mismatch"
        )
    except DPoPRequired as exc:
        cnf = walked.claims.get("cnf") if walked is not None else None
        jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        if not isinstance(jkt, str):  # the issuer requires DPoP of every token: that is the verdict
            principal, verdict = None, exc
        else:  # every other check passed; only a request with a DPoP proof can use the token
            principal, verdict = walked, None
            diagnosis.hints.append(
                f"the token is bound to a DPoP key (cnf jkt {printable(jkt)}): every request must send it as "
                "'Authorization: DPoP <token>' with a proof made by that key (check one with --dpop-proof)"
            )
    except AuthError as exc:
        principal, verdict = None, exc
    if rule is not None and diagnosis.rule is not None:
        # The requirement is checked against the guard's principal when the token is valid (then its refusal is
        # the verdict, as in the middleware), else against the walk's reading of the claims.
        unmet = _check_rule(rule, principal or walked, diagnosis.rule, steps)
        if principal is not None and unmet is not None:
            verdict = unmet
    if refusal is not None:
        verdict = refusal
    diagnosis.valid = verdict is None
    if verdict is not None:
        # The guard's verdict decides which step failed first; the walk must agree with it.
        step = "rule" if verdict is refusal or principal is not None else _verdict_step(verdict, steps)
        if steps[step].status != "fail" or steps[step].code != verdict.code:
            steps[step] = Step(step, "fail", verdict.reason, verdict.code)
        diagnosis.failing_step = step
    diagnosis.steps = list(steps.values())
    diagnosis.code = verdict.code if verdict else None
    diagnosis.status = verdict.status_code if verdict else 200
    diagnosis.description = verdict.description if verdict else "The token is valid for these settings."
    if diagnosis.rule is not None:
        _rule_hints(diagnosis.rule, diagnosis)
    words = authorization.split()
    if diagnosis.code == "token_malformed" and len(words) == 2 and "." not in words[1]:
        diagnosis.hints.append(NOT_A_JWT)
    return diagnosis


def diagnose_dpop(guard: Guard, token: str, proof: str, *, method: str, url: str) -> list[Step]:
    """What a DPoP proof says of itself (unverified), and the guard's own DPoP checks (RFC 9449 §4.3) of `proof`
    sent with `token` as `Authorization: DPoP` in a `method` request to `url`, as `check_request` runs them.

    `guard` needs DPoP on, and no `public_base_url`: `url` is the URL the client called.
    """
    steps: list[Step] = []
    try:
        parsed = parse_token(proof)
        claims = parse_claims(parsed)
        jwk = parsed.header.get("jwk")
        jkt = jwk_thumbprint(jwk) if isinstance(jwk, dict) else "(no jwk)"
        said = " ".join(
            f"{name}={printable(str(value))}"
            for name, value in (
                ("typ", parsed.header.get("typ")),
                ("alg", parsed.alg),
                ("jkt", jkt),
                ("htm", claims.get("htm")),
                ("htu", claims.get("htu")),
                ("iat", claims.get("iat")),
            )
        )
        steps.append(Step("dpop proof", "pass", said + " (unverified)"))
    except (AuthError, ValueError):
        steps.append(
            Step("dpop proof", "fail", "not a compact JWS with a JSON header and claims", "dpop_proof_invalid")
        )
        return steps
    parts = urlsplit(url)
    scope = {
        "type": "http",
        "method": method,
        "path": parts.path or "/",
        "scheme": parts.scheme,
        "query_string": b"",
        "headers": [
            (b"host", parts.netloc.encode("latin-1", "replace")),
            (b"authorization", f"DPoP {token}".encode("latin-1", "replace")),
            (b"dpop", proof.encode("latin-1", "replace")),
        ],
    }
    try:
        guard.check_request(RequestInfo.from_scope(scope))
    except AuthError as exc:
        steps.append(Step("dpop checks", "fail", printable(exc.reason), exc.code))
        return steps
    steps.append(Step("dpop checks", "pass", f"{method} {printable(url)}: every check passes, the binding included"))
    return steps


def _match_rule(guard: Guard, check: RuleCheck, steps: dict[str, Step]) -> tuple[Rule | None, AuthError | None]:
    """The rule the guard applies to the request of `check` (and its step), or the refusal of an unsafe path."""
    request = f"{check.method} {check.path}"
    try:
        rule = guard.rule_for(check.method, check.path)
    except AuthError as exc:  # an empty or dot segment: 400 before any rule or token
        check.code = exc.code
        steps["rule"] = Step("rule", "fail", f"{request}: {exc.reason}", exc.code)
        return None, exc
    if rule is not None:
        check.rule = str(rule)
        check.access = "requirement" if rule.requirement is not None else str(rule.access)
        return rule, None
    if guard.settings.route_rules:
        check.access, detail = "authenticated", "no rule matches: a valid token is needed"
    elif guard.is_excluded(check.path):
        check.access, detail = "public", "in exclude_paths: no token is read"
    else:
        check.access, detail = "authenticated", "no rules are configured: a valid token is needed"
    steps["rule"] = Step("rule", "pass", f"{request}: {detail}")
    return None, None


_ACCESS = {
    "public": "public: no token is read",
    "anonymous": "anonymous: a valid token, or none",
    "authenticated": "authenticated: a valid token",
}


def _check_rule(rule: Rule, principal: Principal | None, check: RuleCheck, steps: dict[str, Step]) -> AuthError | None:
    """The rule's step, and the refusal of its requirement when `principal` does not meet it."""
    matched = f"{check.method} {check.path} matches {check.rule!r}"
    if rule.requirement is None:
        steps["rule"] = Step("rule", "pass", f"{matched} ({_ACCESS[str(rule.access)]})")
        return None
    if principal is None:
        steps["rule"] = Step("rule", "skip", f"{matched}: cannot tell, the token's scopes or roles cannot be read")
        return None
    try:
        require(principal, rule.requirement)
    except AuthError as exc:
        check.met, check.code = False, exc.code
        if isinstance(exc, InsufficientScope):
            why = f"granted, scope {' '.join(exc.required_scopes)} would meet it"
        elif isinstance(exc, InsufficientUserAuthentication):
            asked = [f"acr_values {' '.join(exc.acr_values)}"] if exc.acr_values else []
            asked += [f"max_age {exc.max_age}"] if exc.max_age is not None else []
            acr, auth_time = (printable(str(principal.claims.get(name))) for name in ("acr", "auth_time"))
            why = f"a sign-in with {' and '.join(asked)} would meet it (the token has acr {acr}, auth_time {auth_time})"
        else:
            why = f"the token has roles [{_names(principal.roles)}] and permissions [{_names(principal.permissions)}]"
        steps["rule"] = Step("rule", "fail", f"{matched}: not met; {why}", exc.code)
        return exc
    check.met = True
    steps["rule"] = Step("rule", "pass", f"{matched}: met")
    return None


def _names(names: frozenset[str]) -> str:
    return printable(", ".join(sorted(names)))


def _rule_hints(check: RuleCheck, diagnosis: Diagnosis) -> None:
    request = f"{check.method} {check.path}"
    if check.access == "public" and not diagnosis.valid:
        diagnosis.hints.append(f"no token is read for {request}: the request passes whatever the token")
    elif check.access == "anonymous" and diagnosis.code == "token_missing":
        diagnosis.hints.append(f"the rule for {request} lets a request without a token through, anonymously")


def _walk(guard: Guard, authorization: str, steps: dict[str, Step], diagnosis: Diagnosis) -> Principal | None:
    """Every check on its own; returns the principal the claims describe, if they can be read."""
    try:
        candidate = guard.prepare(authorization)
    except AuthError as exc:
        diagnosis.fingerprint = exc.context.fingerprint
        step = "format" if exc.code in ("token_malformed", "invalid_request", "token_missing") else _step_of(exc)
        steps[step] = Step(step, "fail", exc.reason, exc.code)
        if step != "format":
            steps["format"] = Step("format", "pass", "a compact JWS")
        if exc.code == "algorithm_not_allowed":
            return _walk_past_the_algorithm(guard, authorization, exc, steps, diagnosis)
        return None
    parsed, key_set = candidate.parsed, candidate.key_set
    diagnosis.fingerprint = fingerprint(candidate.token)
    steps["format"] = Step("format", "pass", f"compact JWS, alg {parsed.alg!r}, kid {parsed.kid!r}")
    algorithms = _allow_list(guard, parsed)
    steps["algorithm"] = Step("algorithm", "pass", f"{parsed.alg} is in the algorithms allow-list {algorithms}")

    try:
        key = key_set.get_key(parsed.kid, parsed.alg)
        age = key_set.health().get("age_seconds")
        cached = f", cached {age:.0f} s ago" if isinstance(age, int | float) else ""
        steps["key lookup"] = Step("key lookup", "pass", f"kid {parsed.kid!r} found in {key_set.source}{cached}")
        verified = verify_signature(parsed.alg, key.public_key, parsed.signing_input, parsed.signature)
        steps["signature"] = (
            Step("signature", "pass", "verified")
            if verified
            else Step("signature", "fail", "does not verify with the key named by kid", "signature_invalid")
        )
        diagnosis.claims_verified = verified
    except AuthError as exc:
        source = f" ({key_set.source})"
        steps["key lookup"] = Step("key lookup", "fail", exc.reason + source, exc.code)
        diagnosis.configuration_error = key_set.configuration_error
        steps["signature"] = Step("signature", "skip", "no key to check it with")

    try:
        claims = parse_claims(parsed)  # shown to a person even when the signature failed
    except AuthError as exc:
        steps["format"] = Step("format", "fail", exc.reason, exc.code)
        return None
    offset = key_set.server_clock_offset
    principal = _claim_steps(guard, candidate.policy, parsed.header, claims, steps, diagnosis, offset)
    if offset is not None and abs(offset) >= _OFFSET_HINT_SECONDS:
        diagnosis.hints.append(
            f"the key server's clock is {abs(offset):.0f} s {'ahead of' if offset > 0 else 'behind'} this machine's"
        )
    return principal


def _route(guard: Guard, parsed: ParsedToken) -> IssuerView | None:
    """The guard's issuer for `parsed`, as `Guard.prepare` finds it; None when none is found."""
    try:
        return guard.issuer_for(parsed)
    except AuthError:
        return None


def _allow_list(guard: Guard, parsed: ParsedToken) -> str:
    route = _route(guard, parsed)
    names = sorted(route.algorithms if route is not None else guard.settings.algorithms)
    return "[" + ", ".join(names) + "]"


def _walk_past_the_algorithm(
    guard: Guard, authorization: str, error: AuthError, steps: dict[str, Step], diagnosis: Diagnosis
) -> Principal | None:
    """After an algorithm outside the allow-list: name the alg and the allow-list, and go on with the claims
    (no key is looked up for an algorithm that is not allowed, so nothing is verified)."""
    try:
        parsed = parse_token(extract_bearer_token(authorization, max_bytes=guard.settings.max_token_bytes))
        claims = parse_claims(parsed)
    except AuthError:
        return None
    route = _route(guard, parsed)
    alg = parsed.alg
    why = " (a shared-secret algorithm, never accepted)" if isinstance(alg, str) and alg.startswith("HS") else ""
    why = " (an unsigned token, never accepted)" if isinstance(alg, str) and alg.lower() == "none" else why
    detail = f"alg {alg!r} is not in the algorithms allow-list {_allow_list(guard, parsed)}{why}"
    steps["algorithm"] = Step("algorithm", "fail", detail, error.code)
    steps["format"] = Step("format", "pass", f"compact JWS, alg {alg!r}, kid {parsed.kid!r}")
    steps["key lookup"] = Step("key lookup", "skip", f"no key is looked up for alg {alg!r}")
    steps["signature"] = Step("signature", "skip", "not checked: the algorithm is not allowed")
    if route is None:
        return None
    offset = route.key_set.server_clock_offset
    return _claim_steps(guard, route.policy, parsed.header, claims, steps, diagnosis, offset)


def _claim_steps(
    guard: Guard,
    policy: ClaimPolicy,
    header: dict[str, Any],
    claims: dict[str, Any],
    steps: dict[str, Step],
    diagnosis: Diagnosis,
    offset: float | None = None,
) -> Principal | None:
    """Each of the issuer policy's named checks on its own, so every failing one shows; returns the principal
    the claims describe when its scopes, roles and permissions can be read. `offset` is the key server's clock
    minus this machine's (None: unknown)."""
    now = guard.clock()
    skew = _skew_evidence(claims, now, offset)
    for name, check in policy.steps:
        shown = _SHOWN.get(name, name)
        try:
            check(header, claims, now)
        except AuthError as error:
            steps[shown] = Step(shown, "fail", _describe(policy, error, header, claims, now, skew), error.code)
        else:
            steps[shown] = Step(shown, "pass", _passing_detail(name, policy, header, claims, now))
    if steps["scopes"].status != "fail":
        granted = scopes_from_claims(claims) or frozenset()
        missing = sorted(set(guard.required_scopes) - granted)
        steps["scopes"] = (
            Step(
                "scopes",
                "fail",
                f"missing {' '.join(missing)}; required {' '.join(sorted(guard.required_scopes))}, "
                f"granted {printable(' '.join(sorted(granted))) or '(none)'}",
                "insufficient_scope",
            )
            if missing
            else Step("scopes", "pass", f"granted: {printable(' '.join(sorted(granted))) or '(none)'}")
        )
    for name in ("expiry", "not-before"):
        if steps[name].status == "fail" and steps[name].detail.endswith("(looks like clock drift)"):
            evidence = skew.get("token_expired" if name == "expiry" else "token_not_yet_valid")
            diagnosis.hints.append(
                f"{name} fails by less than {SKEW_HINT_SECONDS / 60:.0f} min and {evidence}: this looks like clock "
                f"drift. This machine's time is {utc(time.time())}; check NTP on it and on the issuer"
            )
    if not policy.role_claims and not policy.permission_claims:
        steps["roles and permissions"] = Step("roles and permissions", "skip", "no role_claims or permission_claims")
    readable = scopes_from_claims(claims)
    if readable is None or steps["roles and permissions"].status == "fail":
        return None
    roles, permissions = policy.read_roles(claims)
    if policy.role_claims:
        diagnosis.roles = sorted(roles)
    if policy.permission_claims:
        diagnosis.permissions = sorted(permissions)
    return Principal(claims, readable, roles=roles, permissions=permissions)


def finite_number(value: object) -> float | None:
    """A finite number, or None (booleans, strings, NaN, infinities and huge integers are not times)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _verdict_step(verdict: AuthError, steps: dict[str, Step]) -> str:
    # The walk ran the same checks in the same order: its first failure with the verdict's code is the step.
    for step in steps.values():
        if step.status == "fail" and step.code == verdict.code:
            return step.name
    if verdict.code in ("token_malformed", "invalid_request", "token_missing"):
        return "format"
    if verdict.code == "signature_invalid":
        return "signature"
    if verdict.code == "claim_invalid" and verdict.claim == "typ":
        return "token type"
    if verdict.code == "token_revoked":
        return "revocation"
    return _step_of(verdict)


def _step_of(error: AuthError) -> str:
    claim = error.claim
    if claim in _CLAIM_STEPS:
        return _CLAIM_STEPS[claim]
    if error.code in ("issuer_invalid",):
        return "issuer"
    if error.code == "algorithm_not_allowed":
        return "algorithm"
    if error.code == "insufficient_scope":
        return "scopes"
    if isinstance(error, JWKSUnavailable) or error.code == "key_not_found":
        return "key lookup"
    return "required claims"


def _skew_evidence(claims: Any, now: float, offset: float | None) -> dict[str, str]:
    """For each time refusal (`token_expired`, `token_not_yet_valid`), what says a clock is off, if anything.

    A key server clock behind this machine's makes tokens expire early here; one ahead, or a token issued
    (`iat`) in the future, makes them not yet valid. A short lifetime alone says nothing about clocks.
    """
    evidence: dict[str, str] = {}
    if offset is not None and offset <= -_OFFSET_HINT_SECONDS:
        evidence["token_expired"] = f"the key server's clock is {-offset:.0f} s behind this machine's"
    if offset is not None and offset >= _OFFSET_HINT_SECONDS:
        evidence["token_not_yet_valid"] = f"the key server's clock is {offset:.0f} s ahead of this machine's"
    iat = finite_number(claims.get("iat"))
    if iat is not None and iat > now and "token_not_yet_valid" not in evidence:
        evidence["token_not_yet_valid"] = f"the token was issued (iat) {ago(iat - now)} in the future"
    return evidence


def _describe(policy: ClaimPolicy, error: AuthError, header: Any, claims: Any, now: float, skew: dict[str, str]) -> str:
    leeway = policy.leeway
    value = claims.get(error.claim) if error.claim else None
    number = finite_number(value)
    looks_skewed = error.code in skew
    if error.code == "token_expired" and number is not None:
        value = number
        by = now - (value + leeway)
        drift = " (looks like clock drift)" if by < SKEW_HINT_SECONDS and looks_skewed else ""
        return f"expired {ago(now - value)} ago (exp {utc(value)}; leeway {leeway:.0f} s){drift}"
    if error.code == "token_not_yet_valid" and number is not None:
        value = number
        by = value - (now + leeway)
        drift = " (looks like clock drift)" if by < SKEW_HINT_SECONDS and looks_skewed else ""
        what = "issued" if error.claim == "iat" else "valid from"
        return f"{what} {ago(value - now)} in the future ({error.claim} {utc(value)}; leeway {leeway:.0f} s){drift}"
    if error.code == "audience_invalid":
        name = error.claim or "aud"
        where = "" if name == "aud" else f" (audience_claim is {name!r})"
        if name not in claims:
            return f"{name} is absent; the audiences are {sorted(policy.audiences)}{where}"
        return f"{name} {value!r} is not one of {sorted(policy.audiences)}{where}"
    if error.code == "issuer_invalid":
        return _issuer_refused(policy, value, claims)
    if error.claim == "typ":
        return f"typ {header.get('typ')!r}: {error.reason}"
    return error.reason


def _passing_detail(step: str, policy: ClaimPolicy, header: Any, claims: Any, now: float) -> str:
    exp = finite_number(claims.get("exp"))
    if step == "expiry" and exp is not None:
        return f"expires in {ago(exp - now)} ({utc(exp)})"
    if step == "issuer":
        iss = claims.get("iss")
        tenant = policy.tenant_of(iss)
        if tenant is None:
            return f"iss {iss!r}"
        allowed = "in tenants" if policy.tenants is not None else "any tenant accepted"
        return f"iss {iss!r}: tenant {tenant!r} ({allowed}) is the {policy.tenant_claim!r} claim"
    if step == "audience":
        name = policy.audience_claim
        return f"{name} {claims.get(name)!r}" + ("" if name == "aud" else " (audience_claim)")
    if step == "roles and permissions":
        return _roles_found(policy, *policy.read_roles(claims))
    if step == "token type":
        accepted = "one of token_types" if policy.token_types else "an access token type (token_types not set)"
        return f"typ {header.get('typ')!r}: {accepted}"
    if step == "lifetime" and policy.max_lifetime is not None:
        return f"within max_token_lifetime ({policy.max_lifetime:.0f} s)"
    return "ok"


def _issuer_refused(policy: ClaimPolicy, iss: object, claims: Any) -> str:
    if iss is None:
        return "iss is absent"
    tenant = policy.tenant_of(iss)
    if tenant is None:
        return f"iss {iss!r} is not a configured issuer"
    if policy.tenants is not None and tenant not in policy.tenants:
        return f"iss {iss!r} names tenant {tenant!r}, which is not in tenants {sorted(policy.tenants)}"
    name = policy.tenant_claim or ""
    if name not in claims:
        return f"iss {iss!r} names tenant {tenant!r}, but the token has no {name!r} claim"
    value = claims[name]
    shown = repr(value) if isinstance(value, str) else kind(value)
    return f"iss {iss!r} names tenant {tenant!r}, but the {name!r} claim is {shown}"


def _roles_found(policy: ClaimPolicy, roles: frozenset[str], permissions: frozenset[str]) -> str:
    found = []
    for what, paths, names in (
        ("roles", policy.role_claims, roles),
        ("permissions", policy.permission_claims, permissions),
    ):
        if paths:
            where = ", ".join(str(path) for path in paths)
            found.append(f"{what} from {where}: {printable(' '.join(sorted(names))) or '(none)'}")
    return "; ".join(found)


def utc(timestamp: float) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
    except (OverflowError, OSError, ValueError):
        return f"{timestamp!r} (out of range)"


def ago(seconds: float) -> str:
    """A duration for people: "3 h 12 min", "40 s"."""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(int(minutes), 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"
