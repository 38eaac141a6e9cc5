"""Settings for identity-aware proxies: a proxy in front of the application signs in the user and puts a signed
JWT in a header of its own, which the application verifies before it trusts anything else the proxy says.

    from jwtguard.presets import GOOGLE_IAP_RANGES, google_iap

    settings = google_iap(
        "/projects/123456789012/global/backendServices/4567890123456789012",
        trusted_proxies=GOOGLE_IAP_RANGES,
    )

Each constructor returns a `Settings`: issuer, keys, algorithm and token source filled in, the audience checked for
the shape the proxy writes. Keyword overrides are passed on to `Settings` and win (`rules=`, `required_claim_values=`,
or `jwks_uri=` to serve the keys from somewhere else in tests); `jwks=` or `discovery=` replace the preset's
`jwks_uri`. The token is read only from the proxy's header: a token in `Authorization` is 401 `token_missing`.

`trusted_proxies` is required: the addresses the proxy connects from. The header from any other peer is 403
`untrusted_proxy`. An empty list accepts the header from every peer (and `Settings` warns at start-up): do that only
where the application cannot be reached except through the proxy, and know that the signature check is then the
only thing that tells the proxy's requests from anyone else's.

Not provided: AWS Application Load Balancer's `x-amzn-oidc-data`. It is not a JWS as RFC 7515 defines one (its
segments carry base64 padding, which jwtguard's parser refuses for every token), and its keys are single PEM keys
fetched per `kid` rather than a JWKS. Verify the IdP access token the load balancer forwards in
`x-amzn-oidc-accesstoken` instead: `Settings(issuer=<the IdP>, discovery=True, audience=...,
token_sources=["header:x-amzn-oidc-accesstoken"], trusted_proxies=[<the load balancer's subnets>])`, when the IdP's
access tokens are JWTs. docs/providers.md says more.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .errors import ConfigurationError
from .settings import Settings

__all__ = [
    "CLOUDFLARE_ACCESS_HEADER",
    "GOOGLE_IAP_HEADER",
    "GOOGLE_IAP_ISSUER",
    "GOOGLE_IAP_JWKS_URI",
    "GOOGLE_IAP_RANGES",
    "OAUTH2_PROXY_HEADER",
    "cloudflare_access",
    "google_iap",
    "oauth2_proxy",
]

GOOGLE_IAP_ISSUER = "https://cloud.google.com/iap"
#: IAP's public keys as a JWKS (ES256, P-256); `.../public_key` serves the same keys as PEM, by kid.
GOOGLE_IAP_JWKS_URI = "https://www.gstatic.com/iap/verify/public_key-jwk"
GOOGLE_IAP_HEADER = "x-goog-iap-jwt-assertion"
#: The addresses Google's front ends connect from to the backends of a global external or classic Application Load
#: Balancer whose backends are instance groups or zonal NEGs (they are also its health check ranges). Not the
#: addresses for internet NEG backends, regional load balancers (their proxy-only subnet), Cloud Run or App Engine.
GOOGLE_IAP_RANGES = ("35.191.0.0/16", "130.211.0.0/22", "2600:2d00:1:b029::/64", "2600:2d00:1:1::/64")

CLOUDFLARE_ACCESS_HEADER = "cf-access-jwt-assertion"
OAUTH2_PROXY_HEADER = "x-forwarded-access-token"

# What IAP writes in `aud`: the project *number*, then the backend service's numeric id, the App Engine app's
# project id, or the Cloud Run service's region and name.
_IAP_AUDIENCES = (
    re.compile(r"/projects/[0-9]+/global/backendServices/[0-9]+"),
    re.compile(r"/projects/[0-9]+/apps/(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"),
    re.compile(r"/projects/[0-9]+/locations/[a-z0-9-]+/services/[a-z][a-z0-9-]{0,62}"),
)
_IAP_SHAPES = (
    "/projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID (a load balancer's backend service), "
    "/projects/PROJECT_NUMBER/apps/PROJECT_ID (App Engine) or "
    "/projects/PROJECT_NUMBER/locations/REGION/services/SERVICE_NAME (Cloud Run)"
)
_PROJECT_ID_FOR_NUMBER = re.compile(r"/projects/[^/0-9][^/]*/")
_BACKEND_SERVICE_NAME = re.compile(r"/projects/[0-9]+/global/backendServices/[^/]*[^0-9/][^/]*")

_AUD_TAG = re.compile(r"[0-9a-f]{64}")
_TEAM = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def _audiences(audience: str | Sequence[str], preset: str) -> tuple[str, ...]:
    values = (audience,) if isinstance(audience, str) else tuple(audience)
    if not values or not all(isinstance(value, str) and value.strip() for value in values):
        raise ConfigurationError(f"{preset}: audience must be a non-empty string or a list of them")
    return tuple(value.strip() for value in values)


def _proxies(trusted_proxies: str | Sequence[str], preset: str) -> tuple[str, ...]:
    if trusted_proxies is None:
        raise ConfigurationError(f"{preset}: trusted_proxies must list the proxy's addresses (or be [] on purpose)")
    return (trusted_proxies,) if isinstance(trusted_proxies, str) else tuple(trusted_proxies)


def _settings(defaults: dict[str, Any], overrides: dict[str, Any]) -> Settings:
    values = {**defaults, **overrides}
    if ("jwks" in overrides or "discovery" in overrides) and "jwks_uri" not in overrides:
        values.pop("jwks_uri", None)
    if "jwks_uri" in overrides and "discovery" not in overrides:
        values.pop("discovery", None)
    return Settings(**values)


def google_iap(audience: str | Sequence[str], *, trusted_proxies: str | Sequence[str], **overrides: Any) -> Settings:
    """Settings for Google Cloud Identity-Aware Proxy's signed header, `x-goog-iap-jwt-assertion`.

    `audience` is what IAP writes in `aud`, one or a list of:
    `/projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID` behind a load balancer (the backend service's
    numeric id), `/projects/PROJECT_NUMBER/apps/PROJECT_ID` for App Engine, or
    `/projects/PROJECT_NUMBER/locations/REGION/services/SERVICE_NAME` for IAP enabled on a Cloud Run service.
    Any other shape is a `ConfigurationError`: a project id where the number goes, or a backend service's name
    where its id goes, would refuse every request.

    `trusted_proxies`: `GOOGLE_IAP_RANGES` behind a global external or classic Application Load Balancer with
    instance group or zonal NEG backends; a regional load balancer's proxy-only subnet; `[]` on Cloud Run and App
    Engine, where the peer address says nothing and the signature is the check.

    Tokens are ES256 only; `iss` is `https://cloud.google.com/iap`; the keys come from `GOOGLE_IAP_JWKS_URI`.
    Health checks carry no assertion: exclude their path (`exclude_paths=["/healthz"]`).
    """
    audiences = _audiences(audience, "google_iap")
    for value in audiences:
        if any(shape.fullmatch(value) for shape in _IAP_AUDIENCES):
            continue
        hint = ""
        if _PROJECT_ID_FOR_NUMBER.match(value):
            hint = " PROJECT_NUMBER is the project's number (digits), not its id."
        elif _BACKEND_SERVICE_NAME.fullmatch(value):
            hint = " SERVICE_ID is the backend service's numeric id, not its name."
        raise ConfigurationError(f"google_iap: audience {value!r} is not {_IAP_SHAPES}.{hint}")
    defaults: dict[str, Any] = {
        "issuer": GOOGLE_IAP_ISSUER,
        "audience": audiences,
        "algorithms": ("ES256",),
        "jwks_uri": GOOGLE_IAP_JWKS_URI,
        "token_sources": (f"header:{GOOGLE_IAP_HEADER}",),
        "trusted_proxies": _proxies(trusted_proxies, "google_iap"),
    }
    return _settings(defaults, overrides)


def _team_domain(team_domain: str) -> str:
    if not isinstance(team_domain, str):
        raise ConfigurationError(f"cloudflare_access: team_domain must be a string, got {team_domain!r}")
    name = team_domain.strip().lower().removeprefix("https://").rstrip("/").removesuffix(".cloudflareaccess.com")
    if not _TEAM.fullmatch(name):
        raise ConfigurationError(
            f"cloudflare_access: team_domain {team_domain!r} is not a Zero Trust team name or "
            "'<team>.cloudflareaccess.com'"
        )
    return f"https://{name}.cloudflareaccess.com"


def cloudflare_access(
    team_domain: str, audience: str | Sequence[str], *, trusted_proxies: str | Sequence[str], **overrides: Any
) -> Settings:
    """Settings for Cloudflare Access's application token, `Cf-Access-Jwt-Assertion`.

    `team_domain` is the Zero Trust team name (`acme`) or its domain (`acme.cloudflareaccess.com`): the issuer is
    `https://<team>.cloudflareaccess.com`, the keys are at `.../cdn-cgi/access/certs` (RS256; the document's
    `public_cert` and `public_certs` members, PEM copies of the keys, are ignored). `audience` is the Access
    application's Application Audience (AUD) tag, 64 hexadecimal digits; tokens carry it in a list.

    Cloudflare also sets a `CF_Authorization` cookie on browser requests; only the header is read, as Cloudflare
    recommends (the cookie is not always sent).

    `trusted_proxies`: behind Cloudflare Tunnel, the address `cloudflared` connects from (`127.0.0.1` when it runs
    beside the application). An origin that Cloudflare reaches over the internet would list Cloudflare's published
    ranges, which change: keep them current yourself, or better, make the origin reachable only through a tunnel.
    """
    issuer = _team_domain(team_domain)
    audiences = _audiences(audience, "cloudflare_access")
    for value in audiences:
        if not _AUD_TAG.fullmatch(value.lower()):
            raise ConfigurationError(
                f"cloudflare_access: audience {value!r} is not an Access application's AUD tag (64 hexadecimal "
                "digits, on the application's Overview page)"
            )
    defaults: dict[str, Any] = {
        "issuer": issuer,
        "audience": tuple(value.lower() for value in audiences),
        "algorithms": ("RS256",),
        "jwks_uri": f"{issuer}/cdn-cgi/access/certs",
        "token_sources": (f"header:{CLOUDFLARE_ACCESS_HEADER}",),
        "trusted_proxies": _proxies(trusted_proxies, "cloudflare_access"),
    }
    return _settings(defaults, overrides)


def oauth2_proxy(
    issuer: str | Sequence[str],
    audience: str | Sequence[str],
    *,
    trusted_proxies: str | Sequence[str],
    **overrides: Any,
) -> Settings:
    """Settings for the access token oauth2-proxy forwards in `X-Forwarded-Access-Token` (`--pass-access-token`).

    The token is the identity provider's own: `issuer` and `audience` are the IdP's, as in docs/providers.md, and
    its keys are found by discovery (`jwks_uri=` instead skips discovery; `algorithms=` when it does not sign
    RS256). The access token must be a JWT: some IdPs issue opaque ones unless asked for an API's audience.
    `trusted_proxies` lists the addresses oauth2-proxy connects from.

    With `--pass-authorization-header` oauth2-proxy sends the ID token in `Authorization` instead: that is plain
    `Settings` with the client id as audience, not this preset.
    """
    defaults: dict[str, Any] = {
        "issuer": issuer,
        "audience": _audiences(audience, "oauth2_proxy"),
        "discovery": True,
        "token_sources": (f"header:{OAUTH2_PROXY_HEADER}",),
        "trusted_proxies": _proxies(trusted_proxies, "oauth2_proxy"),
    }
    return _settings(defaults, overrides)
