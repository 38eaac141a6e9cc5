"""One table of cases run against Starlette, FastAPI, plain WSGI, Flask, Django and Django REST framework (with and
without the Django middleware): identical status, headers, body and log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import jwt
import pytest

from jwtguard import InsufficientScope, InsufficientUserAuthentication, InvalidRequest, TokenInQuery
from jwtguard.testing import DevIssuer, SigningKey

from .conftest import dead_url, records
from .stacks import OWN_ORIGIN, PEER, ROUTES_FIRST, STACKS, Answer, Get
from .test_cert_bound import CLIENT, OTHER, nginx, thumbprint

LOG_FIELDS = (
    "code",
    "status",
    "reason",
    "method",
    "path",
    "client",
    "kid",
    "alg",
    "iss",
    "sub",
    "jti",
    "token_fingerprint",
    "claims_verified",
    "source",
    "level",
)


Authorization = Callable[[DevIssuer, dict[str, SigningKey]], list[str]]  # (issuer, other keys) -> header values
Extra = Callable[[DevIssuer], list[tuple[str, str]]]  # issuer -> further headers (Cookie, Origin, ...)


@dataclass(frozen=True)
class Case:
    variant: str
    path: str
    authorization: Authorization
    status: int
    code: str | None  # None: the request reaches the app
    query: str = ""  # "{token}" stands for a valid token, which must then show up in no answer or log
    method: str = "GET"
    body: Any = None  # when given: what the app answers (the request reached it)
    challenge: str | None = None  # when given: the refusal's whole WWW-Authenticate value
    routed: bool = True  # False: no view serves the path, and the stacks in ROUTES_FIRST answer 404 unchecked
    headers: Extra = lambda i: []
    peer: str = PEER  # the client address the request comes from
    in_query_refused: bool = True  # with a query and a code: refused as TokenInQuery (not as two credentials)


def bearer(token: str) -> list[str]:
    return [f"Bearer {token}"]


# The "rules" variant: every stack configured by settings alone, the routes below `RULED` carry no helper.
RULES = [
    "* /health public",
    "GET /public/drafts/* authenticated",  # first match wins: before the rule for everything under /public
    "GET /public/* anonymous",
    "GET /orders/* scope:orders.read | role:orders-reader",
    "POST /orders/* role:orders-writer",
    "* /admin/café/* role:chef",  # a path as the app routes it, decoded (sent as /admin/caf%C3%A9/...)
    "* /admin/* role:admin & claim:tid=acme",
]
ROLE_CLAIMS = ["realm_access.roles"]
EXCLUDED = ["/admin/status"]  # public rules placed before the others
ROLE_CHALLENGE = 'Bearer realm="api"'  # RFC 6750 has no error code for a missing role: no `error=`
SCOPE_CHALLENGE = (
    f'Bearer realm="api", error="insufficient_scope", error_description="{InsufficientScope.description}", '
    'scope="orders.read"'
)


def holding(*roles: str, scopes: tuple[str, ...] = (), **claims: Any) -> Authorization:
    """The authorization of ann's token with `roles` where `role_claims` finds them."""
    return lambda i, o: bearer(i.token(subject="ann", scopes=scopes, realm_access={"roles": list(roles)}, **claims))


def rules_case(name: str, path: str, authorization: Authorization, status: int, code: str | None, **more: Any) -> Any:
    return pytest.param(Case("rules", path, authorization, status, code, **more), id=f"rules-{name}")


RULES_CASES = [
    rules_case("public", "/health", lambda i, o: [], 200, None, body={"sub": None}),
    rules_case("public-ignores-token", "/health", lambda i, o: bearer("garbage"), 200, None, body={"sub": None}),
    rules_case("public-any-method", "/health", lambda i, o: [], 200, None, method="POST", body={"sub": None}),
    rules_case("anonymous", "/public/info", lambda i, o: [], 200, None, body={"sub": None}),
    rules_case("anonymous-with-token", "/public/info", holding(), 200, None, body={"sub": "ann"}),
    rules_case(
        "anonymous-bad-token", "/public/info", lambda i, o: bearer(i.token(expires_in=-600)), 401, "token_expired"
    ),
    rules_case("first-match-wins", "/public/drafts/1", lambda i, o: [], 401, "token_missing"),
    # `GET /public/*` only: a POST there is unmatched, and needs a token.
    rules_case("anonymous-other-method", "/public/info", lambda i, o: [], 401, "token_missing", method="POST"),
    rules_case("scope", "/orders/42", holding(scopes=("orders.read",)), 200, None, body={"sub": "ann"}),
    rules_case("role-instead-of-scope", "/orders/42", holding("orders-reader"), 200, None, body={"sub": "ann"}),
    rules_case(
        "neither-scope-nor-role",
        "/orders/42",
        holding("orders-writer", scopes=("orders.write",)),
        403,
        "insufficient_scope",
        challenge=SCOPE_CHALLENGE,
    ),
    rules_case("requirement-without-token", "/orders/42", lambda i, o: [], 401, "token_missing"),
    rules_case("post-role", "/orders/42", holding("orders-writer"), 200, None, method="POST", body={"sub": "ann"}),
    rules_case(
        "post-reader",
        "/orders/42",
        holding("orders-reader", scopes=("orders.read",)),
        403,
        "insufficient_role",
        method="POST",
        challenge=ROLE_CHALLENGE,
    ),
    # Starlette, Flask and Django answer HEAD with the GET view: a rule for GET decides HEAD too.
    rules_case(
        "head-is-get",
        "/orders/42",
        holding(scopes=("profile",)),
        403,
        "insufficient_scope",
        method="HEAD",
        challenge=SCOPE_CHALLENGE,
    ),
    rules_case("role-and-tenant", "/admin/x", holding("admin", tid="acme"), 200, None, body={"sub": "ann"}),
    # A rule with a non-ASCII path matches the decoded path on every stack (Django's included).
    rules_case(
        "non-ascii-path",
        "/admin/caf%C3%A9/menu",
        holding("admin", tid="acme"),
        403,
        "insufficient_role",
        challenge=ROLE_CHALLENGE,
    ),
    rules_case("non-ascii-path-met", "/admin/caf%C3%A9/menu", holding("chef"), 200, None, body={"sub": "ann"}),
    rules_case(
        "role-other-tenant",
        "/admin/x",
        holding("admin", tid="globex"),
        403,
        "insufficient_role",
        challenge=ROLE_CHALLENGE,
    ),
    rules_case(
        "tenant-without-role", "/admin/x", holding(tid="acme"), 403, "insufficient_role", challenge=ROLE_CHALLENGE
    ),
    rules_case("excluded-path-first", "/admin/status", lambda i, o: [], 200, None, body={"sub": None}),
    rules_case("unmatched", "/me", lambda i, o: [], 401, "token_missing"),
    rules_case("unmatched-with-token", "/me", holding(), 200, None, body={"sub": "ann"}),
    # Clients remove a literal '..' before sending (RFC 3986 §5.2.4); percent-encoded dots reach the app as '..'.
    rules_case("dot-dot-segment", "/orders/%2E%2E/admin/x", holding("admin", tid="acme"), 400, "invalid_request"),
    rules_case("dot-dot-under-anonymous", "/public/%2E%2E/admin/x", lambda i, o: [], 400, "invalid_request"),
    rules_case("dot-segment", "/public/%2E/info", lambda i, o: [], 400, "invalid_request"),
    rules_case("empty-segment", "//admin", holding("admin", tid="acme"), 400, "invalid_request", routed=False),
    rules_case("empty-segment-under-anonymous", "/public//info", lambda i, o: [], 400, "invalid_request"),
    rules_case(
        "role-claim-wrong-shape",
        "/orders/42",
        lambda i, o: bearer(i.token(subject="ann", scopes=["orders.read"], realm_access={"roles": 7})),
        401,
        "claim_invalid",
    ),
]


# The "sources" variant: a token may come in the Authorization header, cookie `at`, a proxy's header (from
# 127.0.0.1, the stacks' own client address, only) or the `access_token` query parameter of an event stream.
SOURCES = ["authorization", "cookie:at", "header:x-forwarded-access-token", "query"]
TRUSTED_PROXIES = [PEER]
UNTRUSTED_PEER = "203.0.113.7"
EVENT_STREAM = ("Accept", "text/event-stream")
PLAIN_CHALLENGE = 'Bearer realm="api"'  # RFC 6750 has no error code for these refusals: no `error=`
STEP_UP_CHALLENGE = (
    'Bearer realm="api", error="insufficient_user_authentication", '
    f'error_description="{InsufficientUserAuthentication.description}"'
)
INVALID_REQUEST_CHALLENGE = (
    f'Bearer realm="api", error="invalid_request", error_description="{InvalidRequest.description}"'
)


def cookie(*more: tuple[str, str], name: str = "at", value: str | None = None) -> Extra:
    """ann's token in cookie `name` (or `value` there), with further headers."""
    return lambda i: [("Cookie", f"{name}={i.token(subject='ann') if value is None else value}"), *more]


def sources_case(name: str, path: str, status: int, code: str | None, **more: Any) -> Any:
    authorization: Authorization = more.pop("authorization", lambda i, o: [])
    if status == 200:
        more.setdefault("body", {"sub": "ann"})
    return pytest.param(Case("sources", path, authorization, status, code, **more), id=f"sources-{name}")


SOURCES_CASES = [
    sources_case("header-still", "/me", 200, None, authorization=lambda i, o: bearer(i.token(subject="ann"))),
    sources_case("cookie-get", "/me", 200, None, headers=cookie()),
    # Cookies on unsafe methods: from this site only (cross-site request forgery).
    sources_case(
        "cookie-post-without-origin",
        "/health",
        403,
        "cross_site_request",
        method="POST",
        headers=cookie(),
        challenge=PLAIN_CHALLENGE,
    ),
    sources_case(
        "cookie-post-same-origin", "/health", 200, None, method="POST", headers=cookie(("Origin", OWN_ORIGIN))
    ),
    sources_case(
        "cookie-post-sec-fetch-site",
        "/health",
        200,
        None,
        method="POST",
        headers=cookie(("Sec-Fetch-Site", "same-origin")),
    ),
    sources_case(
        "cookie-post-foreign-origin",
        "/health",
        403,
        "cross_site_request",
        method="POST",
        headers=cookie(("Origin", "https://evil.test")),
        challenge=PLAIN_CHALLENGE,
    ),
    # Two Origin headers (no browser sends them): apart on ASGI, folded by WSGI servers; refused on both.
    sources_case(
        "cookie-post-two-origins",
        "/health",
        403,
        "cross_site_request",
        method="POST",
        headers=cookie(("Origin", OWN_ORIGIN), ("Origin", "https://evil.test")),
    ),
    sources_case(
        "cookie-post-same-site-not-same-origin",
        "/health",
        403,
        "cross_site_request",
        method="POST",
        headers=cookie(("Sec-Fetch-Site", "same-site")),
        challenge=PLAIN_CHALLENGE,
    ),
    # Exactly one credential (RFC 6750 §3.1).
    sources_case(
        "cookie-and-authorization",
        "/me",
        400,
        "invalid_request",
        authorization=lambda i, o: bearer(i.token(subject="ann")),
        headers=cookie(),
        challenge=INVALID_REQUEST_CHALLENGE,
    ),
    sources_case(
        "two-cookies",
        "/me",
        400,
        "invalid_request",
        headers=lambda i: [("Cookie", f"at={i.token(subject='ann')}; theme=dark; at={i.token(subject='bob')}")],
        challenge=INVALID_REQUEST_CHALLENGE,
    ),
    # Two Cookie headers: apart on ASGI, folded with "," by WSGI servers: the same answer.
    sources_case(
        "two-cookie-headers",
        "/me",
        400,
        "invalid_request",
        headers=lambda i: [("Cookie", f"at={i.token(subject='ann')}"), ("Cookie", f"at={i.token(subject='bob')}")],
    ),
    sources_case(
        "cookie-in-a-second-cookie-header",
        "/me",
        200,
        None,
        headers=lambda i: [("Cookie", "theme=dark"), ("Cookie", f"at={i.token(subject='ann')}")],
    ),
    sources_case("empty-cookie", "/me", 401, "token_missing", headers=cookie(value="")),
    sources_case("other-cookie", "/me", 401, "token_missing", headers=cookie(name="xat")),
    # A proxy's header: from trusted_proxies only.
    sources_case(
        "proxy-header-trusted-peer",
        "/me",
        200,
        None,
        headers=lambda i: [("X-Forwarded-Access-Token", i.token(subject="ann"))],
    ),
    sources_case(
        "proxy-header-untrusted-peer",
        "/me",
        403,
        "untrusted_proxy",
        headers=lambda i: [("X-Forwarded-Access-Token", i.token(subject="ann"))],
        peer=UNTRUSTED_PEER,
        challenge=PLAIN_CHALLENGE,
    ),
    sources_case(
        "proxy-header-and-cookie",
        "/me",
        400,
        "invalid_request",
        headers=cookie(("X-Forwarded-Access-Token", "Bearer x.y.z")),
    ),
    # The query: read on event streams only; on anything else refused as without a query source.
    sources_case("query-plain-get", "/me", 400, "invalid_request", query="access_token={token}"),
    sources_case(
        "query-event-stream",
        "/me",
        200,
        None,
        query="access_token={token}",
        headers=lambda i: [EVENT_STREAM],
        body={"sub": "in-the-url"},
    ),
    sources_case(
        "query-event-stream-post",
        "/health",
        400,
        "invalid_request",
        method="POST",
        query="access_token={token}",
        headers=lambda i: [EVENT_STREAM],
    ),
    sources_case(
        "header-and-query-event-stream",
        "/me",
        400,
        "invalid_request",
        authorization=lambda i, o: bearer(i.token(subject="ann")),
        query="access_token={token}",
        headers=lambda i: [EVENT_STREAM],
        in_query_refused=False,
        challenge=INVALID_REQUEST_CHALLENGE,
    ),
    sources_case(
        "cookie-and-query-event-stream",
        "/me",
        400,
        "invalid_request",
        query="access_token={token}",
        headers=cookie(EVENT_STREAM),
        in_query_refused=False,
    ),
]


# The "modern" variant: a step-up rule (RFC 9470) and certificate-bound tokens (RFC 8705) with the certificate in a
# TLS-terminating proxy's header, trusted from the stacks' own client address only.
MODERN_RULES = ["GET /orders/* acr:phrh & max_age:300"]
CERT_HEADER = "x-ssl-client-cert"


def bound(i: DevIssuer, o: object) -> list[str]:
    return bearer(i.token(subject="ann", cnf={"x5t#S256": thumbprint(CLIENT)}))


def presenting(certificate: str) -> Extra:
    return lambda i: [(CERT_HEADER, certificate)]


def modern_case(name: str, path: str, authorization: Authorization, status: int, code: str | None, **more: Any) -> Any:
    if status == 200:
        more.setdefault("body", {"sub": "ann"})
    return pytest.param(Case("modern", path, authorization, status, code, **more), id=f"modern-{name}")


def step_up(**claims: Any) -> Authorization:
    return lambda i, o: bearer(i.token(subject="ann", scopes=("orders:read",), **claims))


MODERN_CASES = [
    modern_case("bound-right-certificate", "/me", bound, 200, None, headers=presenting(nginx(CLIENT))),
    modern_case(
        "bound-other-certificate", "/me", bound, 401, "certificate_binding_mismatch", headers=presenting(nginx(OTHER))
    ),
    modern_case("bound-no-certificate", "/me", bound, 401, "certificate_binding_mismatch"),
    modern_case(
        "bound-untrusted-peer",
        "/me",
        bound,
        401,
        "certificate_binding_mismatch",
        headers=presenting(nginx(CLIENT)),
        peer=UNTRUSTED_PEER,
    ),
    modern_case(
        "unbound-ignores-header", "/me", lambda i, o: bearer(i.token(subject="ann")), 200, None, headers=presenting("x")
    ),
    modern_case("step-up-met", "/orders/1", step_up(acr="phrh", auth_time=int(time.time())), 200, None, body=None),
    modern_case(
        "step-up-acr",
        "/orders/1",
        step_up(acr="phr", auth_time=int(time.time())),
        401,
        "insufficient_user_authentication",
        challenge=STEP_UP_CHALLENGE + ', acr_values="phrh"',
    ),
    modern_case(
        "step-up-max-age",
        "/orders/1",
        step_up(acr="phrh"),
        401,
        "insufficient_user_authentication",
        challenge=STEP_UP_CHALLENGE + ', max_age="300"',
    ),
]

CASES = [
    pytest.param(Case("default", "/me", lambda i, o: bearer(i.token(subject="ann")), 200, None), id="ok"),
    pytest.param(Case("default", "/me", lambda i, o: [], 401, "token_missing"), id="token_missing"),
    pytest.param(Case("default", "/me", lambda i, o: ["Basic dTpw"], 401, "token_missing"), id="other-scheme"),
    pytest.param(Case("default", "/me", lambda i, o: ["Bearer a b"], 400, "invalid_request"), id="invalid_request"),
    pytest.param(
        Case("default", "/me", lambda i, o: [*bearer(i.token()), *bearer(i.token())], 400, "invalid_request"),
        id="two-headers",
    ),
    pytest.param(Case("default", "/me", lambda i, o: bearer("a.b"), 401, "token_malformed"), id="token_malformed"),
    pytest.param(
        Case(
            "default",
            "/me",
            lambda i, o: bearer(jwt.encode(i.claims(), "secret-secret-secret-secret-32b!", algorithm="HS256")),
            401,
            "algorithm_not_allowed",
        ),
        id="algorithm_not_allowed",
    ),
    pytest.param(
        Case("default", "/me", lambda i, o: bearer(i.token(key=o["RS256"])), 401, "key_not_found"), id="key_not_found"
    ),
    pytest.param(
        Case(
            "default",
            "/me",
            lambda i, o: bearer(i.token(key=o["RS256"], headers={"kid": i.key.kid})),
            401,
            "signature_invalid",
        ),
        id="signature_invalid",
    ),
    pytest.param(
        Case("default", "/me", lambda i, o: bearer(i.token(expires_in=-600)), 401, "token_expired"), id="token_expired"
    ),
    pytest.param(
        Case(
            "default",
            "/me",
            lambda i, o: bearer(i.token(nbf=int(time.time()) + 600, expires_in=1200)),
            401,
            "token_not_yet_valid",
        ),
        id="token_not_yet_valid",
    ),
    pytest.param(
        Case("default", "/me", lambda i, o: bearer(i.token(issuer="https://evil.test")), 401, "issuer_invalid"),
        id="issuer_invalid",
    ),
    pytest.param(
        Case("default", "/me", lambda i, o: bearer(i.token(audience="other")), 401, "audience_invalid"),
        id="audience_invalid",
    ),
    pytest.param(
        Case("default", "/me", lambda i, o: bearer(i.token(exp=None)), 401, "claim_missing"), id="claim_missing"
    ),
    pytest.param(
        Case("default", "/me", lambda i, o: bearer(i.token(exp="soon")), 401, "claim_invalid"), id="claim_invalid"
    ),
    pytest.param(
        Case("default", "/orders", lambda i, o: bearer(i.token(scopes=["orders:write"])), 403, "insufficient_scope"),
        id="insufficient_scope",
    ),
    pytest.param(
        Case("default", "/orders", lambda i, o: bearer(i.token(subject="ann", scopes=["orders:read"])), 200, None),
        id="scope-granted",
    ),
    pytest.param(
        Case("strict", "/me", lambda i, o: bearer(i.token(scopes=["profile"])), 403, "insufficient_scope"),
        id="required_scopes-setting",
    ),
    pytest.param(Case("down", "/me", lambda i, o: bearer(i.token()), 503, "jwks_unavailable"), id="jwks_unavailable"),
    pytest.param(Case("default", "/health", lambda i, o: [], 200, None), id="excluded-path"),
    pytest.param(
        Case("default", "/health", lambda i, o: bearer("garbage"), 200, None), id="excluded-path-ignores-token"
    ),
    pytest.param(Case("anonymous", "/me", lambda i, o: [], 200, None), id="anonymous"),
    pytest.param(
        Case("anonymous", "/me", lambda i, o: bearer(i.token(expires_in=-600)), 401, "token_expired"),
        id="anonymous-bad-token",
    ),
    pytest.param(Case("anonymous", "/orders", lambda i, o: [], 401, "token_missing"), id="anonymous-scoped-route"),
    # RFC 6750 §5.3: a token in the URL is refused, never read, whatever else the request carries.
    pytest.param(
        Case("default", "/me", lambda i, o: [], 400, "invalid_request", query="access_token={token}"),
        id="token-in-query",
    ),
    pytest.param(
        Case("default", "/me", lambda i, o: bearer(i.token()), 400, "invalid_request", query="access_token={token}"),
        id="token-in-query-and-header",
    ),
    pytest.param(
        Case("default", "/me", lambda i, o: [], 400, "invalid_request", query="page=2&%61ccess%5Ftoken={token}"),
        id="token-in-query-encoded-name",
    ),
    pytest.param(
        Case("anonymous", "/me", lambda i, o: [], 400, "invalid_request", query="access_token={token}"),
        id="token-in-query-anonymous",
    ),
    *RULES_CASES,
    *SOURCES_CASES,
    *MODERN_CASES,
]


@pytest.fixture(scope="module")
def module_issuer(signing_keys: dict[str, SigningKey]) -> Iterator[DevIssuer]:
    with DevIssuer(audience="https://api.example.test", keys=[signing_keys["RS256"], signing_keys["ES256"]]) as dev:
        yield dev


@pytest.fixture(scope="module")
def stacks(module_issuer: DevIssuer) -> dict[tuple[str, str], Get]:
    variants = {
        "default": module_issuer.settings(exclude_paths=["/health"]),
        "strict": module_issuer.settings(required_scopes=["orders:read"]),
        "anonymous": module_issuer.settings(allow_anonymous=True),
        "down": module_issuer.settings(jwks_uri=dead_url()),
        "rules": module_issuer.settings(rules=RULES, role_claims=ROLE_CLAIMS, exclude_paths=EXCLUDED),
        "sources": module_issuer.settings(token_sources=SOURCES, trusted_proxies=TRUSTED_PROXIES),
        "modern": module_issuer.settings(
            rules=MODERN_RULES, client_cert_header=CERT_HEADER, trusted_proxies=TRUSTED_PROXIES
        ),
    }
    return {
        (variant, name): build(settings) for variant, settings in variants.items() for name, build in STACKS.items()
    }


@pytest.mark.parametrize("case", CASES)
def test_every_stack_answers_identically(
    case: Case,
    stacks: dict[tuple[str, str], Get],
    module_issuer: DevIssuer,
    other_keys: dict[str, SigningKey],
    jwtguard_logs: pytest.LogCaptureFixture,
) -> None:
    authorization = case.authorization(module_issuer, other_keys)
    headers = case.headers(module_issuer)
    secret = module_issuer.token(subject="in-the-url")
    path = case.path + "?" + case.query.format(token=secret) if case.query else case.path
    answers: dict[str, Answer] = {}
    logs: dict[str, list[tuple[object, ...]]] = {}
    for name in STACKS:
        jwtguard_logs.clear()
        answers[name] = stacks[(case.variant, name)](path, authorization, case.method, headers, case.peer)
        logs[name] = [
            tuple(record.get(field) for field in LOG_FIELDS)
            for record in records(jwtguard_logs)
            if record["code"] != "ok"
        ]
        if case.query:
            assert secret not in json.dumps(answers[name].body) + json.dumps(answers[name].headers), name
            assert secret not in jwtguard_logs.text, name
            # jwtguard's own records (Django's request logger keeps the request object, URL and all).
            mine = [record for record in jwtguard_logs.records if record.name.startswith("jwtguard")]
            assert all(secret not in str(value) for record in mine for value in vars(record).values()), name

    reference = answers["starlette"]
    assert reference.status == case.status
    if case.code is None:
        assert "code" not in reference.body
        assert logs["starlette"] == []
        if case.body is not None:
            assert reference.body == case.body
    else:
        if case.method == "HEAD":
            assert reference.body is None
        else:
            assert reference.body["code"] == case.code
        assert reference.headers["content-type"] == "application/problem+json"
        if case.challenge is not None:
            assert reference.headers["www-authenticate"] == case.challenge
        [record] = logs["starlette"]
        assert record[0] == case.code
        assert record[4] == unquote(case.path)  # the path as the app routes on it, never the query
        assert record[5] == case.peer
    if case.query and case.code is not None and case.in_query_refused:
        assert reference.body["detail"] == TokenInQuery.description
        assert "Authorization header" in reference.headers["www-authenticate"]
    for name in STACKS:
        if name in ROUTES_FIRST and not case.routed:
            assert (answers[name].status, logs[name]) == (404, []), name
            continue
        assert answers[name] == reference, name
        assert logs[name] == logs["starlette"], name


@pytest.mark.parametrize("name", STACKS)
def test_only_an_access_token_parameter_name_is_refused(
    name: str, stacks: dict[tuple[str, str], Get], module_issuer: DevIssuer
) -> None:
    authorization = bearer(module_issuer.token(subject="ann"))
    get = stacks[("default", name)]
    for query in ("access_token", "access_token=", "a=1&access%5ftoken=x", "access%5Ftoken=x&b=2", "%61ccess_token"):
        refused = get(f"/me?{query}", authorization)
        assert (refused.status, refused.body["code"]) == (400, "invalid_request"), query
    # A value, a longer name, a doubly encoded name, another case: not the parameter RFC 6750 §2.3 names.
    for query in ("q=access_token", "access_tokens=1", "%2561ccess_token=x", "Access_Token=x", "x=%20&y=%61"):
        assert get(f"/me?{query}", authorization) == Answer(200, {}, {"sub": "ann"}), query
    # Excluded paths are not checked at all.
    assert get("/health?access_token=x", []) == Answer(200, {}, {"sub": None})


@pytest.mark.parametrize("name", STACKS)
def test_a_token_verified_from_one_source_is_a_cache_hit_from_another(
    name: str, stacks: dict[tuple[str, str], Get], module_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    get = stacks[("sources", name)]
    token = module_issuer.token(subject="ann")
    assert get("/me", [], headers=[("Cookie", f"at={token}")]) == Answer(200, {}, {"sub": "ann"})
    assert get("/me", [], headers=[("X-Forwarded-Access-Token", token)]) == Answer(200, {}, {"sub": "ann"})
    first, second = records(jwtguard_logs, "ok")[-2:]
    assert (first["source"], first["cached"]) == ("cookie:at", False)
    assert (second["source"], second["cached"]) == ("header:x-forwarded-access-token", True)


@pytest.mark.parametrize("name", STACKS)
def test_a_cached_header_token_does_not_skip_the_other_sources(
    name: str, stacks: dict[tuple[str, str], Get], module_issuer: DevIssuer, jwtguard_logs: pytest.LogCaptureFixture
) -> None:
    # The adapters' fast path (`accept_cached`) serves cache hits of the Authorization header alone: with other
    # sources configured it is off, and a second credential is refused even when the header's token is cached.
    get = stacks[("sources", name)]
    authorization = bearer(module_issuer.token(subject="ann"))
    assert get("/me", authorization) == Answer(200, {}, {"sub": "ann"})
    assert get("/me", authorization).status == 200
    assert records(jwtguard_logs, "ok")[-1]["cached"] is True
    for headers in (
        [("Cookie", f"at={module_issuer.token(subject='bob')}")],
        [("X-Forwarded-Access-Token", module_issuer.token(subject="bob"))],
    ):
        refused = get("/me", authorization, headers=headers)
        assert (refused.status, refused.body["code"]) == (400, "invalid_request"), headers
    # A cookie from another site on an unsafe request, next to the cached header: the cookie source refuses it.
    refused = get("/health", authorization, "POST", [("Cookie", "at=x.y.z"), ("Origin", "https://evil.test")])
    assert (refused.status, refused.body["code"]) == (403, "cross_site_request")
