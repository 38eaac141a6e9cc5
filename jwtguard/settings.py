"""Settings: one frozen object, validated once at construction, readable from the environment."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._claim_path import TENANT, ClaimPath
from ._fetch import check_key_url, redact_url
from ._jose import HMAC_ALGORITHMS, SUPPORTED_ALGORITHMS
from .certificates import ClientCertificates
from .dpop import DPOP_MODES
from .errors import ConfigurationError
from .hooks import ErrorBodyHook, KeyEventHook, RevocationHook
from .principal import check_scopes
from .resource_metadata import check_extra_members, check_resource
from .rules import Rule, rules_from
from .sources import HeaderSource, TokenSource, source_from

# SUPPORTED_ALGORITHMS (from _jose), the hook types (from hooks) and the URL rules (from _fetch) are
# re-exported: they were first documented here.
__all__ = [
    "PREFETCH_MODES",
    "SUPPORTED_ALGORITHMS",
    "ErrorBodyHook",
    "Issuer",
    "KeyEventHook",
    "Settings",
    "check_key_url",
    "check_scopes",
    "parse_env_value",
    "redact_url",
]

logger = logging.getLogger("jwtguard")

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, list | tuple):
        return type(value)(_redacted(item) for item in value)
    return value


def _repr(instance: Any, url_fields: frozenset[str]) -> str:
    """The dataclass repr, with `url_fields` shown through `redact_url` (reprs end up in logs and tracebacks)."""
    shown = []
    for field in dataclasses.fields(instance):
        if field.repr:
            value = getattr(instance, field.name)
            shown.append(f"{field.name}={(_redacted(value) if field.name in url_fields else value)!r}")
    return f"{type(instance).__name__}({', '.join(shown)})"


_URL_FIELDS = frozenset({"issuer", "jwks_uri"})  # the issuer is a URL too: with discovery, it is fetched


def _as_tuple(value: str | Sequence[str] | None, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, str | Sequence):
        raise ConfigurationError(f"{name} must be a string or a list of strings, got {value!r}")
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{name} must contain non-empty strings, got {item!r}")
    return tuple(items)


def _claim_values(value: object) -> dict[str, tuple[str, ...]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)  # from the environment: a JSON object
        except ValueError as exc:
            raise ConfigurationError(f"required_claim_values: not a JSON object ({exc})") from None
    if not isinstance(value, Mapping):
        raise ConfigurationError('required_claim_values must map claim names to values, e.g. {"azp": "my-client"}')
    result: dict[str, tuple[str, ...]] = {}
    for name, allowed in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"required_claim_values: {name!r} is not a claim name")
        values = _as_tuple(allowed, f"required_claim_values[{name!r}]")
        if not values:
            raise ConfigurationError(f"required_claim_values[{name!r}] lists no value")
        result[name] = values
    return result


def _claim_paths(value: str | Sequence[str] | None, where: str) -> tuple[str, ...]:
    paths = _as_tuple(value, where)
    for path in paths:
        ClaimPath.parse(path, where)  # raises ConfigurationError naming it
    return paths


def _check_claim_name(value: object, where: str) -> None:
    if not isinstance(value, str) or not value or not _PRINTABLE_ASCII.fullmatch(value):
        raise ConfigurationError(f"{where} must be a claim name, got {value!r}")


def _check_lifetime(value: object, where: str) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf
    ):
        raise ConfigurationError(f"{where} must be a positive number of seconds, got {value!r}")


def _issuer_entries(value: object) -> tuple[object, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)  # from the environment: a JSON list of objects
        except ValueError as exc:
            raise ConfigurationError(f"issuers: not a JSON list of issuer objects ({exc})") from None
    if isinstance(value, Mapping) or not isinstance(value, Sequence | tuple | list):
        raise ConfigurationError("issuers must be a list of Issuer(...) or of mappings")
    return tuple(value)


def _as_issuer(entry: object) -> Issuer:
    if isinstance(entry, Issuer):
        return entry
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"issuers: each entry must be an Issuer or a mapping, got {type(entry).__name__}")
    names = {field.name for field in dataclasses.fields(Issuer)}
    values = {str(key).lower(): value for key, value in entry.items()}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigurationError(f"issuers: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(names))}")
    if "issuer" not in values:
        raise ConfigurationError("issuers: each entry needs an 'issuer'")
    return Issuer(**values)


def _load_jwks(value: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        document: Any = value
    else:
        text = str(value)
        if not text.lstrip().startswith("{"):
            try:
                text = Path(text).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(f"jwks: cannot read JWKS file {str(value)!r}: {exc}") from None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"jwks: not valid JSON ({exc})") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ConfigurationError('jwks must be a JWKS document: a JSON object with a "keys" list')
    return document


# A serialised origin (RFC 6454 §6.2) as browsers send it: scheme, host and port if not the default, lowercase.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def _check_origins(origins: Sequence[str]) -> None:
    for origin in origins:
        if origin == "*":
            if len(origins) > 1:
                raise ConfigurationError("cors_allow_origins: '*' allows every origin; list no others with it")
        elif origin == "null":
            # Sandboxed frames, file: pages and redirects all send "null": allowing it allows all of them.
            raise ConfigurationError("cors_allow_origins: 'null' is the origin of every sandboxed or file: page")
        elif not _ORIGIN.fullmatch(origin):
            raise ConfigurationError(
                f"cors_allow_origins: {origin!r} is not an origin as browsers send it: scheme://host[:port], "
                "lowercase, without a path or a trailing slash (e.g. 'https://app.example.com')"
            )


def _check_algorithms(algorithms: Sequence[str], where: str) -> None:
    if not algorithms:
        raise ConfigurationError(f"{where} must list at least one algorithm, e.g. ['RS256']")
    for alg in algorithms:
        if alg.lower() == "none":
            raise ConfigurationError(f"{where} must never include 'none': unsigned tokens are refused")
        if alg in HMAC_ALGORITHMS:
            raise ConfigurationError(
                f"{where}: {alg} is a shared-secret (HMAC) algorithm; jwtguard verifies with public "
                "keys from a JWKS, and mixing the two enables key-confusion attacks"
            )
        if alg not in SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"{where}: {alg!r} is not supported; choose from {', '.join(SUPPORTED_ALGORITHMS)}"
            )


def _check_key_source(
    jwks_uri: str | None, discovery: bool, jwks: object, issuers: tuple[str, ...], where: str
) -> None:
    sources = [
        name
        for name, on in (("jwks_uri", jwks_uri is not None), ("discovery", discovery), ("jwks", jwks is not None))
        if on
    ]
    if not sources:
        raise ConfigurationError(
            f"{where}no key source: set jwks_uri, or discovery=True with an issuer, or a static jwks document"
        )
    if len(sources) > 1:
        raise ConfigurationError(f"{where}choose one key source, not {' and '.join(sources)}")
    if jwks_uri is not None:
        check_key_url(jwks_uri, f"{where}jwks_uri")
    if discovery:
        if len(issuers) != 1:
            raise ConfigurationError(f"{where}discovery=True needs exactly one issuer to discover keys from")
        check_key_url(issuers[0], f"{where}issuer (used for discovery)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Issuer:
    """One trusted issuer with its own key source, for `Settings(issuers=[...])`.

    `issuer` is the exact `iss` (or several that share these keys). The claim policy fields left as None
    (`audience`, `algorithms`, `audience_claim`, `required_claims`, `required_claim_values`, `token_types`,
    `role_claims`, `permission_claims`, `max_token_lifetime`, `dpop`) take the top-level `Settings` values. Each
    issuer gets its own key cache, refresh limits and failure state; issuers with the same key source share one.

    A multi-tenant issuer is a template: `issuer` holds `{tenant}` once
    (`https://login.microsoftonline.com/{tenant}/v2.0`), `tenants` lists the accepted tenants (or is `"any"`),
    and `tenant_claim` names the claim that must equal the tenant in `iss` (`tid`). A template needs `jwks_uri`
    or `jwks`: there is no single discovery document to read.
    """

    issuer: str | Sequence[str]
    audience: str | Sequence[str] | None = None
    algorithms: Sequence[str] | None = None
    jwks_uri: str | None = None
    discovery: bool = False
    jwks: Mapping[str, Any] | str | Path | None = None
    audience_claim: str | None = None
    required_claims: Sequence[str] | None = None
    required_claim_values: Mapping[str, str | Sequence[str]] | None = None
    token_types: Sequence[str] | None = None
    role_claims: Sequence[str] | None = None
    permission_claims: Sequence[str] | None = None
    max_token_lifetime: float | None = None
    tenants: Sequence[str] | str | None = None
    tenant_claim: str | None = None
    dpop: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.dpop is not None:
            _check_dpop_mode(self.dpop, "issuers[].dpop")
        if not isinstance(self.discovery, bool):
            raise ConfigurationError(f"issuers[].discovery must be true or false, got {self.discovery!r}")
        set_(self, "issuer", _as_tuple(self.issuer, "issuers[].issuer"))
        for name in ("audience", "algorithms", "required_claims", "token_types"):
            if getattr(self, name) is not None:
                set_(self, name, _as_tuple(getattr(self, name), f"issuers[].{name}"))
        for name in ("role_claims", "permission_claims"):
            if getattr(self, name) is not None:
                set_(self, name, _claim_paths(getattr(self, name), f"issuers[].{name}"))
        if self.required_claim_values is not None:
            set_(self, "required_claim_values", _claim_values(self.required_claim_values))
        if self.algorithms is not None:
            _check_algorithms(self.algorithms, "issuers[].algorithms")
        if self.audience_claim is not None:
            _check_claim_name(self.audience_claim, "issuers[].audience_claim")
        _check_lifetime(self.max_token_lifetime, "issuers[].max_token_lifetime")
        if self.jwks is not None:
            set_(self, "jwks", _load_jwks(self.jwks))
        if not self.issuer:
            raise ConfigurationError("issuers[].issuer must name at least one exact 'iss' value")
        where = f"issuer {redact_url(self.names[0])!r}: "
        self._check_template(where)
        _check_key_source(self.jwks_uri, self.discovery, self.jwks, self.names, where)

    def _check_template(self, where: str) -> None:
        templates = [name for name in self.names if TENANT in name]
        if not templates:
            if self.tenants is not None or self.tenant_claim is not None:
                raise ConfigurationError(f"{where}tenants and tenant_claim need an issuer with {TENANT} in it")
            return
        for name in templates:
            if name.count(TENANT) != 1 or "{" in name.replace(TENANT, ""):
                raise ConfigurationError(f"{where}an issuer template holds {TENANT} exactly once")
        if self.discovery:
            raise ConfigurationError(f"{where}an issuer template cannot use discovery: set jwks_uri (or jwks)")
        if self.tenant_claim is None:
            raise ConfigurationError(f"{where}an issuer template needs tenant_claim (the claim holding the tenant)")
        _check_claim_name(self.tenant_claim, f"{where}tenant_claim")
        if self.tenants == "any":
            pass  # allowed, and loud: the guard logs it when it starts
        elif isinstance(self.tenants, str) or not _as_tuple(self.tenants, f"{where}tenants"):
            raise ConfigurationError(f"{where}tenants must list the accepted tenants, or be 'any'")
        else:
            tenants = _as_tuple(self.tenants, f"{where}tenants")
            if any("/" in tenant for tenant in tenants):
                raise ConfigurationError(f"{where}a tenant never contains '/'")
            object.__setattr__(self, "tenants", tenants)

    def __repr__(self) -> str:
        return _repr(self, _URL_FIELDS)

    @property
    def names(self) -> tuple[str, ...]:
        """The `iss` values this entry accepts: exact, or templates holding `{tenant}`."""
        return _as_tuple(self.issuer, "issuers[].issuer")  # a tuple already, since __post_init__

    @property
    def static_jwks(self) -> Mapping[str, Any] | None:
        """The static JWKS document, parsed, if this entry has one."""
        return self.jwks if isinstance(self.jwks, Mapping) else None  # parsed in __post_init__


def _check_dpop_mode(value: object, where: str) -> None:
    if value not in DPOP_MODES:
        raise ConfigurationError(f"{where} must be one of {', '.join(DPOP_MODES)}, got {value!r}")


def _check_public_base_url(value: object) -> None:
    if value is None:
        return
    problem = None
    if not isinstance(value, str):
        problem = "not a string"
    else:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  # raises for a port out of range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "not an http(s) URL"
        elif parts.query or parts.fragment or "@" in parts.netloc or value.endswith("?") or "#" in value:
            problem = "has a query, a fragment or credentials"
    if problem is not None:
        raise ConfigurationError(
            f"public_base_url: {value!r} is {problem}; give the application's external root as clients call it, "
            "scheme://host[:port][/prefix] (e.g. 'https://api.example.com/v1')"
        )


#: How a key set is warmed when the app starts: not at all, best effort, or required to succeed.
PREFETCH_MODES = ("off", "degraded", "strict")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything jwtguard needs to know, validated on construction.

    Raises `ConfigurationError` with a message that says what to fix. Each field says what it is below;
    the README's settings table lists them all, with their environment variables (a test keeps both alike).
    """

    issuer: str | Sequence[str] | None = None
    """The accepted `iss` value(s), compared exactly (a trailing slash matters). Required unless `issuers` is set."""
    audience: str | Sequence[str] | None = None
    """The accepted `aud` value(s): a token passes when any of its `aud` values matches one exactly. Required."""
    algorithms: Sequence[str] = ("RS256",)
    """The allow-list of JWS algorithms (asymmetric only; `none` and HMAC are refused)."""
    jwks_uri: str | None = None
    """The JWKS URL: https, or plain http on 127.0.0.1/localhost only."""
    discovery: bool = False
    """Find `jwks_uri` in the configured issuer's `/.well-known/openid-configuration` (never from a token)."""
    jwks: Mapping[str, Any] | str | Path | None = None
    """A static JWKS: a mapping, JSON text or a file path (air-gapped set-ups, tests)."""
    issuers: Sequence[Issuer | Mapping[str, Any]] = ()
    """Several trusted issuers, each an `Issuer` (or mapping) with its own key source, in place of the
    top-level issuer and key source."""
    leeway: float = 60.0
    """Seconds of clock drift tolerated for `exp`, `nbf` and `iat` (0 to 300)."""
    required_claims: Sequence[str] = ()
    """Claims that must be present, on top of `exp` (always required)."""
    required_scopes: Sequence[str] = ()
    """Scopes every request needs: whole words of `scope`, or items of `scp`."""
    exclude_paths: Sequence[str] = ()
    """Paths below the mount point that skip authentication: exact, or a prefix ending in `/*`."""
    allow_anonymous: bool = False
    """Let requests without credentials through, unauthenticated; a bad token is still refused."""
    public_docs: bool = True
    """FastAPI (`jwtguard.fastapi`): GET and HEAD of exactly the app's documentation routes (`/docs`,
    `/docs/oauth2-redirect`, `/redoc`, `/openapi.json`, or the URLs the app sets) need no token."""
    realm: str | None = "api"
    """The `realm` of the `WWW-Authenticate` challenge; None for none."""
    jwks_cache_ttl: float = 600.0
    """Seconds a JWKS is fresh when the key server sends no `Cache-Control: max-age`."""
    jwks_cache_ttl_min: float = 60.0
    """The least freshness taken from the key server's `max-age` (`no-store`/`no-cache` count as this)."""
    jwks_cache_ttl_max: float = 86400.0
    """The most freshness taken from the key server's `max-age`."""
    jwks_min_refresh_interval: float = 10.0
    """At most one refresh per this many seconds for unknown `kid`s, one routine fetch, and one retry while
    the key endpoint fails."""
    jwks_max_stale: float = 3600.0
    """Seconds after expiry the last good keys keep serving while the key endpoint fails (0: never)."""
    jwks_timeout: float = 3.0
    """Total seconds for one key fetch, discovery included, enforced on the socket (at most 60)."""
    jwks_max_bytes: int = 512 * 1024
    """The largest JWKS or discovery document accepted, as decoded."""
    jwks_prefetch: str = "off"
    """`off`, `degraded` (fetch at start-up, start anyway) or `strict` (refuse to start without usable keys)."""
    max_token_bytes: int = 16 * 1024
    """The longest token accepted, checked before any parsing."""
    token_cache_size: int = 4096
    """How many verified tokens are kept (0 turns the cache off)."""
    token_cache_max_bytes: int = 16 * 1024 * 1024
    """The most memory, estimated, the verified-token cache may hold, however large the tokens."""
    problem_type_base: str = "urn:jwtguard:error:"
    """The prefix of each error body's `type`, followed by the error code."""
    token_types: Sequence[str] = ()
    """Accepted JOSE `typ` values (e.g. `at+jwt`), as case-insensitive media types; unset, any `typ` but one
    that names another kind of JWT."""
    max_token_lifetime: float | None = None
    """The longest accepted `exp - iat` in seconds (then `iat` is required); None for no limit."""
    required_claim_values: Mapping[str, str | Sequence[str]] = dataclasses.field(default_factory=dict)
    """Claims that must equal one of the given strings exactly, e.g. `{"azp": "my-client"}`."""
    audience_claim: str = "aud"
    """The claim the audience check reads: `aud`, or another for tokens without one (Cognito's `client_id`)."""
    role_claims: Sequence[str] = ()
    """Claim paths holding the token's roles (`realm_access.roles`, `"https://example.com/roles"`,
    `cognito:groups`): lists, space-separated strings, or objects keyed by role."""
    permission_claims: Sequence[str] = ()
    """Claim paths holding the token's permissions (Auth0's `permissions`), read like `role_claims`."""
    rules: Sequence[Rule | str | Mapping[str, Any]] = ()
    """Per-route rules, first match wins: `METHODS PATH ACCESS` (`GET /orders/* scope:orders.read | role:admin`),
    ACCESS being `public`, `anonymous`, `authenticated` or a requirement; other requests need a valid token."""
    token_sources: Sequence[TokenSource | str] = ("authorization",)
    """Where requests carry their token, all read, exactly one credential allowed: `authorization` (the header,
    RFC 6750 §2.1), `header:NAME` (a proxy's header), `cookie:NAME` (CSRF-checked), `subprotocol[:PREFIX]`
    (browser WebSockets), `query[:NAME]` (WebSocket and event-stream requests only), or `jwtguard.sources` objects."""
    trusted_proxies: Sequence[str] = ()
    """Addresses or networks (`10.0.0.0/8`) of the proxies that set the `header:NAME` sources; from any other peer
    such a header is refused with `untrusted_proxy`. Empty: accepted from any peer (warned about at start-up)."""
    client_cert_header: str | None = None
    """The header a TLS-terminating proxy puts the client certificate in (nginx `$ssl_client_escaped_cert`, AWS ALB
    `X-Amzn-Mtls-Clientcert`, Envoy `X-Forwarded-Client-Cert`, Traefik `X-Forwarded-Tls-Client-Cert`), for
    certificate-bound tokens (RFC 8705 §3); read only from `trusted_proxies`, which it requires. None: only the
    server's own TLS connection presents certificates."""
    cors_preflight: bool = False
    """Let a CORS preflight (an OPTIONS request with `Origin` and `Access-Control-Request-Method`, and no
    `Authorization`) through without a token, for a CORS layer inside jwtguard to answer. Off by default: anyone can
    send a request of that shape, and a view that answers every method would run for it unauthenticated."""
    cors_allow_origins: Sequence[str] = ()
    """Origins (`https://app.example.com`, or `*` for any) whose requests get jwtguard's refusals with CORS headers,
    so that a page there can read them when jwtguard sits outside the app's CORS layer."""
    resource: str | None = None
    """This API's resource identifier (RFC 9728, RFC 8707): its https URL (plain http on 127.0.0.1/localhost only),
    without query or fragment, e.g. `https://api.example.com/mcp`. Set, the middleware serves the protected resource
    metadata at `/.well-known/oauth-protected-resource` inserted before the URL's path, every 401 and 403 challenge
    names that URL in `resource_metadata`, and the audience check also accepts this identifier (which then may stand
    in for `audience`). The document lists `authorization_servers` from the exact issuers (issuer templates with
    `{tenant}` cannot be listed, so they are left out), `scopes_supported` from `required_scopes` and the scopes the
    `rules` name, and `bearer_methods_supported` from `token_sources` (`header`, `query`)."""
    resource_metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """More members for the protected resource metadata document (`resource_name`, `resource_documentation`,
    `resource_policy_uri`, ...): JSON values, the types RFC 9728 gives them; they replace the members jwtguard
    computes, except `resource`, which they may not set."""
    insecure_allow_any_issuer: bool = False
    """Skip the `iss` check (warned about at start-up): any issuer whose keys you trust may mint tokens."""
    insecure_allow_any_audience: bool = False
    """Skip the `aud` check (warned about at start-up): tokens meant for other APIs work on this one."""
    error_body_hook: ErrorBodyHook | None = dataclasses.field(default=None, compare=False)
    """`hook(error, body) -> body`: customise the problem-details body; status and headers stay jwtguard's."""
    key_event_hook: KeyEventHook | None = dataclasses.field(default=None, compare=False)
    """`hook(KeyEvent)`, called for every key-management event (fetches, stale keys served, refreshes suppressed)."""
    revocation_hook: RevocationHook | None = dataclasses.field(default=None, compare=False)
    """`hook(principal) -> bool` (or async, ASGI only): True refuses the token with `token_revoked`."""
    dpop: str = "off"
    """DPoP (RFC 9449): `off` (the `DPoP` scheme is unknown), `allowed` (`Authorization: DPoP` with a proof, next
    to Bearer; a token bound to a key, `cnf.jkt`, is refused as Bearer) or `required` (DPoP-bound tokens only).
    An `Issuer` may set its own."""
    dpop_algorithms: Sequence[str] = ("ES256", "ES384", "PS256", "RS256", "EdDSA")
    """The `alg` values accepted for DPoP proofs (asymmetric only; `none` and HMAC are refused)."""
    dpop_max_age: float = 300.0
    """How old a DPoP proof's `iat` may be, in seconds (plus `leeway`; at most 3600)."""
    public_base_url: str | None = None
    """The application root's external URL as clients call it, `scheme://host[:port][/prefix]`, which a proof's
    `htu` must name (followed by the route path). Unset: the scheme and `Host` the app sees, wrong behind a proxy
    that terminates TLS or rewrites the host."""
    dpop_nonce: bool = False
    """Require a server nonce in DPoP proofs (RFC 9449 §8): a proof without the current one is refused with
    `use_dpop_nonce` and a `DPoP-Nonce` header holding it."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once here, never later
        set_(self, "issuer", _as_tuple(self.issuer, "issuer"))
        set_(self, "audience", _as_tuple(self.audience, "audience"))
        set_(self, "algorithms", _as_tuple(self.algorithms, "algorithms"))
        set_(self, "required_claims", _as_tuple(self.required_claims, "required_claims"))
        set_(self, "required_scopes", _as_tuple(self.required_scopes, "required_scopes"))
        set_(self, "exclude_paths", _as_tuple(self.exclude_paths, "exclude_paths"))
        set_(self, "cors_allow_origins", _as_tuple(self.cors_allow_origins, "cors_allow_origins"))
        set_(self, "token_types", _as_tuple(self.token_types, "token_types"))
        set_(self, "required_claim_values", _claim_values(self.required_claim_values))
        set_(self, "role_claims", _claim_paths(self.role_claims, "role_claims"))
        set_(self, "permission_claims", _claim_paths(self.permission_claims, "permission_claims"))
        set_(self, "rules", rules_from(self.rules))
        set_(self, "trusted_proxies", _as_tuple(self.trusted_proxies, "trusted_proxies"))
        set_(self, "dpop_algorithms", _as_tuple(self.dpop_algorithms, "dpop_algorithms"))
        set_(self, "token_sources", _token_sources(self.token_sources, self.trusted_proxies))
        if self.client_cert_header is not None:
            if not isinstance(self.client_cert_header, str):
                raise ConfigurationError(f"client_cert_header must be a header name, got {self.client_cert_header!r}")
            checked = ClientCertificates(self.client_cert_header, self.trusted_proxies)  # raises what is wrong
            set_(self, "client_cert_header", checked.header)
        if self.jwks is not None:
            set_(self, "jwks", _load_jwks(self.jwks))
        set_(self, "issuers", tuple(_as_issuer(entry) for entry in _issuer_entries(self.issuers)))
        if self.resource is not None:
            check_resource(self.resource)
        set_(self, "resource_metadata", check_extra_members(self.resource_metadata))
        if self.resource_metadata and self.resource is None:
            raise ConfigurationError("resource_metadata needs resource: the document is about that identifier")
        self._validate()

    def __repr__(self) -> str:
        return _repr(self, _URL_FIELDS)

    # -- derived, typed views -------------------------------------------------------------------

    @property
    def audiences(self) -> tuple[str, ...]:
        """The accepted audiences (exact strings) at the top level."""
        return _as_tuple(self.audience, "audience")  # a tuple already, since __post_init__

    @property
    def route_rules(self) -> tuple[Rule, ...]:
        """The per-route `rules`, as `Rule` objects."""
        return rules_from(self.rules)  # Rule objects already, since __post_init__

    @property
    def sources(self) -> tuple[TokenSource, ...]:
        """The `token_sources`, as source objects."""
        return tuple(source for source in self.token_sources if isinstance(source, TokenSource))  # all, by now

    @property
    def static_jwks(self) -> Mapping[str, Any] | None:
        """The static JWKS document, parsed, if one was configured at the top level."""
        return self.jwks if isinstance(self.jwks, Mapping) else None  # parsed in __post_init__

    @property
    def trusted_issuers(self) -> tuple[Issuer, ...]:
        """Every trusted issuer with its resolved audiences and algorithms.

        With `issuers=[...]` these are its entries; otherwise one entry built from the top-level fields
        (whose `issuer` may be empty when `insecure_allow_any_issuer` is set).
        """
        entries = tuple(entry for entry in self.issuers if isinstance(entry, Issuer))  # all, since __post_init__
        if entries:
            return tuple(self._resolved(entry) for entry in entries)
        single = object.__new__(Issuer)  # the top-level fields were validated as a whole already
        for name, value in (
            ("issuer", self.issuer),
            ("audience", self.audience),
            ("algorithms", self.algorithms),
            ("jwks_uri", self.jwks_uri),
            ("discovery", self.discovery),
            ("jwks", self.jwks),
            ("tenants", None),
            ("tenant_claim", None),
            *((name, getattr(self, name)) for name in _INHERITED),
        ):
            object.__setattr__(single, name, value)
        return (single,)

    def _resolved(self, entry: Issuer) -> Issuer:
        """`entry` with the top-level values where it has none. A copy, not `dataclasses.replace`: both were
        validated already, and validating the entry again would repeat its start-up warnings on every read."""
        resolved = copy.copy(entry)
        for name in _INHERITED:
            if getattr(entry, name) is None:
                object.__setattr__(resolved, name, getattr(self, name))
        return resolved

    @property
    def multi_issuer(self) -> bool:
        """True when tokens are routed to one of several `issuers` by their `iss`."""
        return bool(self.issuers)

    # -- validation -------------------------------------------------------------------------------

    def _validate(self) -> None:
        for name in sorted(_BOOL_FIELDS):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(f"{name} must be true or false, got {getattr(self, name)!r}")
        issuer_names = _as_tuple(self.issuer, "issuer")
        if self.issuers:
            top_level = [name for name in ("issuer", "jwks_uri", "jwks") if getattr(self, name)] + (
                ["discovery"] if self.discovery else []
            )
            if top_level:
                raise ConfigurationError(
                    f"with issuers=[...], set {', '.join(top_level)} in each issuer entry, not at the top level"
                )
            if self.insecure_allow_any_issuer:
                raise ConfigurationError("insecure_allow_any_issuer cannot be combined with issuers=[...]")
            seen: set[str] = set()
            for entry in self.trusted_issuers:
                for name in entry.names:
                    if name in seen:
                        raise ConfigurationError(f"issuers: {redact_url(name)!r} is listed twice")
                    seen.add(name)
                if not entry.audience and not self.resource and not self.insecure_allow_any_audience:
                    shown = redact_url(entry.names[0])
                    raise ConfigurationError(
                        f"issuer {shown!r}: audience is required (in the entry or at the top level)"
                    )
        else:
            if any(TENANT in name for name in issuer_names):
                raise ConfigurationError(
                    f"issuer: a template with {TENANT} goes in issuers=[Issuer(issuer=..., tenants=[...], "
                    "tenant_claim=..., jwks_uri=...)]"
                )
            _check_key_source(self.jwks_uri, self.discovery, self.jwks, issuer_names, "")
            if not issuer_names and not self.insecure_allow_any_issuer:
                raise ConfigurationError(
                    "issuer is required (the exact 'iss' of your identity provider); to accept tokens from any "
                    "issuer that holds a trusted key, set insecure_allow_any_issuer=True"
                )
            if not self.audiences and not self.resource and not self.insecure_allow_any_audience:
                raise ConfigurationError(
                    "audience is required (the 'aud' your identity provider puts in tokens for this API); to accept "
                    "tokens meant for any API, set insecure_allow_any_audience=True"
                )
        _check_algorithms(self.algorithms, "algorithms")
        self._validate_dpop()

        seconds = (
            "leeway",
            "jwks_cache_ttl",
            "jwks_cache_ttl_min",
            "jwks_cache_ttl_max",
            "jwks_min_refresh_interval",
            "jwks_max_stale",
            "jwks_timeout",
        )
        for name in seconds:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigurationError(f"{name} must be a finite number of seconds, got {value!r}")
        if not 0 <= self.leeway <= 300:
            raise ConfigurationError(f"leeway must be between 0 and 300 seconds, got {self.leeway!r}")
        for name in seconds[1:]:
            if getattr(self, name) <= 0 and name != "jwks_max_stale":
                raise ConfigurationError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.jwks_max_stale < 0:
            raise ConfigurationError(f"jwks_max_stale must be zero or positive, got {self.jwks_max_stale!r}")
        if not self.jwks_cache_ttl_min <= self.jwks_cache_ttl <= self.jwks_cache_ttl_max:
            raise ConfigurationError("jwks_cache_ttl must lie between jwks_cache_ttl_min and jwks_cache_ttl_max")
        if self.jwks_min_refresh_interval > self.jwks_cache_ttl_min:
            raise ConfigurationError("jwks_min_refresh_interval must not be longer than jwks_cache_ttl_min")
        if self.jwks_timeout > 60:
            raise ConfigurationError("jwks_timeout above 60 seconds would let requests hang on the key server")
        if self.jwks_prefetch not in PREFETCH_MODES:
            raise ConfigurationError(f"jwks_prefetch must be one of {', '.join(PREFETCH_MODES)}")
        for name in ("jwks_max_bytes", "max_token_bytes", "token_cache_max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive whole number of bytes, got {value!r}")
        size = self.token_cache_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigurationError(f"token_cache_size must be a whole number, 0 to turn it off, got {size!r}")

        check_scopes(self.required_scopes, "required_scopes")
        _check_lifetime(self.max_token_lifetime, "max_token_lifetime")
        _check_claim_name(self.audience_claim, "audience_claim")
        for path in self.exclude_paths:
            if not path.startswith("/"):
                raise ConfigurationError(f"exclude_paths: {path!r} must start with '/'")
            if "*" in path[:-1] or (path.endswith("*") and not path.endswith("/*")):
                raise ConfigurationError(
                    f"exclude_paths: {path!r}: use an exact path ('/health') or a prefix ending in '/*' ('/public/*')"
                )
        _check_origins(self.cors_allow_origins)
        for name in ("error_body_hook", "key_event_hook", "revocation_hook"):
            hook = getattr(self, name)
            if hook is not None and not callable(hook):
                raise ConfigurationError(f"{name} must be a callable, got {hook!r}")
        if not isinstance(self.problem_type_base, str) or not _PRINTABLE_ASCII.fullmatch(self.problem_type_base):
            raise ConfigurationError("problem_type_base must be a URI prefix in printable ASCII")
        if self.realm is not None and (not isinstance(self.realm, str) or not _PRINTABLE_ASCII.fullmatch(self.realm)):
            raise ConfigurationError("realm must be non-empty printable ASCII (it goes into a header)")
        if self.insecure_allow_any_issuer:
            logger.warning("jwtguard: insecure_allow_any_issuer is set; the 'iss' claim is not checked")
        if self.insecure_allow_any_audience:
            logger.warning("jwtguard: insecure_allow_any_audience is set; the 'aud' claim is not checked")

    def _validate_dpop(self) -> None:
        _check_dpop_mode(self.dpop, "dpop")
        _check_algorithms(self.dpop_algorithms, "dpop_algorithms")
        age = self.dpop_max_age
        if isinstance(age, bool) or not isinstance(age, int | float) or not 0 < age <= 3600:
            raise ConfigurationError(f"dpop_max_age must be between 0 and 3600 seconds, got {age!r}")
        _check_public_base_url(self.public_base_url)
        if self.dpop_nonce and all(entry.dpop == "off" for entry in self.trusted_issuers):
            raise ConfigurationError("dpop_nonce needs dpop 'allowed' or 'required' (at the top level or an issuer)")

    @property
    def dpop_enabled(self) -> bool:
        """True when some trusted issuer accepts DPoP (`dpop` is not "off" for it)."""
        return any(entry.dpop != "off" for entry in self.trusted_issuers)

    # -- environment ------------------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        prefix: str = "JWTGUARD_",
        **overrides: Any,
    ) -> Settings:
        """Read `<prefix><FIELD>` variables (e.g. `JWTGUARD_ISSUER`); keyword overrides win.

        Lists are comma-separated; booleans accept only true/false/1/0. An unknown variable with the prefix
        is an error, so a typo cannot silently leave a check off.
        """
        return cls.from_mapping(os.environ if environ is None else environ, prefix=prefix, **overrides)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], prefix: str = "", **overrides: Any) -> Settings:
        """Build settings from a framework's configuration (Flask's `app.config`, Django's `JWTGUARD` dict).

        Keys are `<prefix><FIELD>` in any case; other keys are ignored when a prefix is given. String values
        are parsed as environment variables are; other values (lists, booleans, numbers) are used as they are.
        An unknown key with the prefix is an error.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        parsed: dict[str, Any] = {}
        upper_prefix = prefix.upper()
        for key, raw in values.items():
            if not isinstance(key, str) or not key.upper().startswith(upper_prefix):
                continue
            name = key[len(prefix) :].lower()
            if name not in names:
                hint = difflib.get_close_matches(name, names, n=1)
                suggestion = f"; did you mean {prefix}{hint[0].upper() if prefix else hint[0]}?" if hint else ""
                raise ConfigurationError(f"{key} is not a jwtguard setting{suggestion}")
            if isinstance(raw, str):
                if name in ("error_body_hook", "key_event_hook", "revocation_hook"):
                    raise ConfigurationError(f"{key} must be a callable, not a string")
                parsed[name] = parse_env_value(name, key, raw)
            else:
                parsed[name] = raw
        parsed.update(overrides)
        return cls(**parsed)


_BOOL_FIELDS = frozenset(
    {
        "discovery",
        "allow_anonymous",
        "public_docs",
        "cors_preflight",
        "insecure_allow_any_issuer",
        "insecure_allow_any_audience",
        "dpop_nonce",
    }
)
_FLOAT_FIELDS = frozenset(
    {
        "leeway",
        "max_token_lifetime",
        "jwks_cache_ttl",
        "jwks_cache_ttl_min",
        "jwks_cache_ttl_max",
        "jwks_min_refresh_interval",
        "jwks_max_stale",
        "jwks_timeout",
        "dpop_max_age",
    }
)
_INT_FIELDS = frozenset({"jwks_max_bytes", "max_token_bytes", "token_cache_size", "token_cache_max_bytes"})
_LIST_FIELDS = frozenset(
    {
        "issuer",
        "audience",
        "algorithms",
        "required_claims",
        "required_scopes",
        "exclude_paths",
        "cors_allow_origins",
        "token_types",
        "role_claims",
        "permission_claims",
        "token_sources",
        "trusted_proxies",
        "dpop_algorithms",
    }
)
#: The claim policy settings an `Issuer` may set for itself; None there takes the top-level value.
_INHERITED = (
    "audience",
    "algorithms",
    "audience_claim",
    "required_claims",
    "required_claim_values",
    "token_types",
    "role_claims",
    "permission_claims",
    "max_token_lifetime",
    "dpop",
)


def _token_sources(specs: object, trusted_proxies: Sequence[str]) -> tuple[TokenSource, ...]:
    entries = (specs,) if isinstance(specs, str | TokenSource) else tuple(specs) if isinstance(specs, Sequence) else ()
    if not entries:
        raise ConfigurationError("token_sources: name at least one source, e.g. 'authorization'")
    sources = tuple(source_from(spec, trusted_proxies=trusted_proxies) for spec in entries)
    names = [source.name for source in sources]
    for name in names:
        if names.count(name) > 1:
            raise ConfigurationError(f"token_sources: {name!r} is listed twice")
    for source in sources:
        if isinstance(source, HeaderSource) and not source.trusted_proxies:
            logger.warning(
                "jwtguard: token source %s accepts the header from any peer; set trusted_proxies unless every "
                "request reaches the application through the proxy that sets it",
                source.name,
            )
    return sources


def parse_env_value(name: str, var: str, raw: str) -> Any:
    """The value of setting `name` written as text `raw` (an environment variable `var`, or a `JWTGUARD_*` key of
    a settings file), typed as the field needs; `ConfigurationError` naming `var` when it cannot be."""
    text = raw.strip()
    if name in _BOOL_FIELDS:
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ConfigurationError(f"{var} must be true, false, 1 or 0, got {raw!r}")
    if name in _FLOAT_FIELDS or name in _INT_FIELDS:
        if not text and name == "max_token_lifetime":
            return None
        try:
            return int(text) if name in _INT_FIELDS else float(text)
        except ValueError:
            raise ConfigurationError(f"{var} must be a number, got {raw!r}") from None
    if name in _LIST_FIELDS:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    if name == "realm" and not text:
        return None
    if name == "resource_metadata":
        return text or {}
    return text or None
