"""Settings: one frozen object, validated once at construction, readable from the environment."""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .errors import AuthError

__all__ = ["SUPPORTED_ALGORITHMS", "ErrorBodyHook", "Settings", "check_key_url", "check_scopes"]

logger = logging.getLogger("jwtguard")

#: Asymmetric JWS algorithms jwtguard verifies, with the key type (and curve) each one needs.
SUPPORTED_ALGORITHMS: Mapping[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "ES256K": ("EC", frozenset({"secp256k1"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

_HMAC = frozenset({"HS256", "HS384", "HS512"})

#: Called with the error and the default problem-details body; returns the body to send instead.
ErrorBodyHook = Callable[["AuthError", dict[str, Any]], Mapping[str, Any]]

_LOOPBACK_NAMES = frozenset({"localhost"})
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); also what a header value can carry.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def check_scopes(scopes: Sequence[str], where: str) -> tuple[str, ...]:
    """The scopes as a tuple, or `ConfigurationError` if one is not an RFC 6749 scope-token."""
    if isinstance(scopes, str):
        scopes = (scopes,)
    for scope in scopes:
        if not isinstance(scope, str) or _SCOPE_TOKEN.fullmatch(scope) is None:
            raise ConfigurationError(
                f"{where}: {scope!r} is not a scope (printable ASCII without spaces, quotes or backslashes); "
                "list scopes one by one"
            )
    return tuple(scopes)


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_url(url: str, what: str) -> None:
    """Refuse key URLs an attacker on the network could answer: https only, plain http on loopback."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ConfigurationError(
        f"{what} must be an https:// URL (plain http:// is allowed only for 127.0.0.1 and localhost), got {url!r}"
    )


def _as_tuple(value: str | Sequence[str] | None, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{name} must contain non-empty strings, got {item!r}")
    return tuple(items)


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything jwtguard needs to know, validated on construction.

    Raises `ConfigurationError` with a message that says what to fix. See the README's settings table.
    """

    issuer: str | Sequence[str] | None = None
    audience: str | Sequence[str] | None = None
    algorithms: Sequence[str] = ("RS256",)
    jwks_uri: str | None = None
    discovery: bool = False
    jwks: Mapping[str, Any] | str | Path | None = None
    leeway: float = 60.0
    required_claims: Sequence[str] = ()
    required_scopes: Sequence[str] = ()
    exclude_paths: Sequence[str] = ()
    allow_anonymous: bool = False
    realm: str | None = "api"
    jwks_cache_ttl: float = 600.0
    jwks_min_refresh_interval: float = 30.0
    jwks_timeout: float = 3.0
    jwks_max_bytes: int = 512 * 1024
    max_token_bytes: int = 16 * 1024
    insecure_allow_any_issuer: bool = False
    insecure_allow_any_audience: bool = False
    error_body_hook: ErrorBodyHook | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once here, never later
        set_(self, "issuer", _as_tuple(self.issuer, "issuer"))
        set_(self, "audience", _as_tuple(self.audience, "audience"))
        set_(self, "algorithms", _as_tuple(self.algorithms, "algorithms"))
        set_(self, "required_claims", _as_tuple(self.required_claims, "required_claims"))
        set_(self, "required_scopes", _as_tuple(self.required_scopes, "required_scopes"))
        set_(self, "exclude_paths", _as_tuple(self.exclude_paths, "exclude_paths"))
        if self.jwks is not None:
            set_(self, "jwks", _load_jwks(self.jwks))
        self._validate()

    # -- derived, typed views -------------------------------------------------------------------

    @property
    def issuers(self) -> tuple[str, ...]:
        """The accepted issuers (exact strings)."""
        return self.issuer  # type: ignore[return-value]  # normalised in __post_init__

    @property
    def audiences(self) -> tuple[str, ...]:
        """The accepted audiences (exact strings)."""
        return self.audience  # type: ignore[return-value]  # normalised in __post_init__

    @property
    def static_jwks(self) -> Mapping[str, Any] | None:
        """The static JWKS document, parsed, if one was configured."""
        return self.jwks  # type: ignore[return-value]  # normalised in __post_init__

    # -- validation -------------------------------------------------------------------------------

    def _validate(self) -> None:
        sources = [
            name
            for name, on in (
                ("jwks_uri", self.jwks_uri is not None),
                ("discovery", self.discovery),
                ("jwks", self.jwks is not None),
            )
            if on
        ]
        if not sources:
            raise ConfigurationError(
                "no key source: set jwks_uri, or discovery=True with an issuer, or a static jwks document"
            )
        if len(sources) > 1:
            raise ConfigurationError(f"choose one key source, not {' and '.join(sources)}")
        if self.jwks_uri is not None:
            check_key_url(self.jwks_uri, "jwks_uri")
        if self.discovery:
            if len(self.issuers) != 1:
                raise ConfigurationError("discovery=True needs exactly one issuer to discover keys from")
            check_key_url(self.issuers[0], "issuer (used for discovery)")

        if not self.algorithms:
            raise ConfigurationError("algorithms must list at least one algorithm, e.g. ['RS256']")
        for alg in self.algorithms:
            if alg.lower() == "none":
                raise ConfigurationError("algorithms must never include 'none': unsigned tokens are refused")
            if alg in _HMAC:
                raise ConfigurationError(
                    f"algorithms: {alg} is a shared-secret (HMAC) algorithm; jwtguard verifies with public "
                    "keys from a JWKS, and mixing the two enables key-confusion attacks"
                )
            if alg not in SUPPORTED_ALGORITHMS:
                raise ConfigurationError(
                    f"algorithms: {alg!r} is not supported; choose from {', '.join(SUPPORTED_ALGORITHMS)}"
                )

        if not self.issuers and not self.insecure_allow_any_issuer:
            raise ConfigurationError(
                "issuer is required (the exact 'iss' of your identity provider); to accept tokens from any "
                "issuer that holds a trusted key, set insecure_allow_any_issuer=True"
            )
        if not self.audiences and not self.insecure_allow_any_audience:
            raise ConfigurationError(
                "audience is required (the 'aud' your identity provider puts in tokens for this API); to accept "
                "tokens meant for any API, set insecure_allow_any_audience=True"
            )

        for name in ("leeway", "jwks_cache_ttl", "jwks_min_refresh_interval", "jwks_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigurationError(f"{name} must be a finite number of seconds, got {value!r}")
        if not 0 <= self.leeway <= 300:
            raise ConfigurationError(f"leeway must be between 0 and 300 seconds, got {self.leeway!r}")
        for name in ("jwks_cache_ttl", "jwks_min_refresh_interval", "jwks_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.jwks_min_refresh_interval > self.jwks_cache_ttl:
            raise ConfigurationError("jwks_min_refresh_interval must not be longer than jwks_cache_ttl")
        if self.jwks_timeout > 60:
            raise ConfigurationError("jwks_timeout above 60 seconds would let requests hang on the key server")
        for name in ("jwks_max_bytes", "max_token_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive whole number of bytes, got {value!r}")

        check_scopes(self.required_scopes, "required_scopes")
        for path in self.exclude_paths:
            if not path.startswith("/"):
                raise ConfigurationError(f"exclude_paths: {path!r} must start with '/'")
            if "*" in path[:-1] or (path.endswith("*") and not path.endswith("/*")):
                raise ConfigurationError(
                    f"exclude_paths: {path!r}: use an exact path ('/health') or a prefix ending in '/*' ('/public/*')"
                )
        if self.realm is not None and (not isinstance(self.realm, str) or not _PRINTABLE_ASCII.fullmatch(self.realm)):
            raise ConfigurationError("realm must be non-empty printable ASCII (it goes into a header)")
        if self.insecure_allow_any_issuer:
            logger.warning("jwtguard: insecure_allow_any_issuer is set; the 'iss' claim is not checked")
        if self.insecure_allow_any_audience:
            logger.warning("jwtguard: insecure_allow_any_audience is set; the 'aud' claim is not checked")

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
                if name == "error_body_hook":
                    raise ConfigurationError(f"{key} must be a callable, not a string")
                parsed[name] = _parse_env(name, key, raw)
            else:
                parsed[name] = raw
        parsed.update(overrides)
        return cls(**parsed)


_BOOL_FIELDS = frozenset({"discovery", "allow_anonymous", "insecure_allow_any_issuer", "insecure_allow_any_audience"})
_FLOAT_FIELDS = frozenset({"leeway", "jwks_cache_ttl", "jwks_min_refresh_interval", "jwks_timeout"})
_INT_FIELDS = frozenset({"jwks_max_bytes", "max_token_bytes"})
_LIST_FIELDS = frozenset({"issuer", "audience", "algorithms", "required_claims", "required_scopes", "exclude_paths"})


def _parse_env(name: str, var: str, raw: str) -> Any:
    text = raw.strip()
    if name in _BOOL_FIELDS:
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ConfigurationError(f"{var} must be true, false, 1 or 0, got {raw!r}")
    if name in _FLOAT_FIELDS or name in _INT_FIELDS:
        try:
            return int(text) if name in _INT_FIELDS else float(text)
        except ValueError:
            raise ConfigurationError(f"{var} must be a number, got {raw!r}") from None
    if name in _LIST_FIELDS:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    if name == "realm" and not text:
        return None
    return text or None
