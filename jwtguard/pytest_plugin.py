"""jwtguard's pytest plugin: a development issuer, settings and tokens for the app under test, and a loudly named,
test-only way to authenticate requests as a given principal.

Enable it in the root `conftest.py` with `pytest_plugins = ["jwtguard.pytest_plugin"]`, or run `pytest -p jwtguard`.
No fixture does anything until a test asks for it:

    jwtguard_signing_key      one RS256 key for the whole run (RSA keys are slow to make)
    jwtguard_audience         the audience tokens are minted for; define your own fixture of that name to change it
    jwtguard_issuer           a running `DevIssuer` with that key and audience, on 127.0.0.1
    jwtguard_settings         `Settings` that trust it, with roles read from `roles` and permissions from `permissions`
    jwtguard_config           the same as a mapping by setting name (`ISSUER`, ...): Django's `JWTGUARD` dict
    jwtguard_env              the same as `JWTGUARD_*` environment variables, set for the test (`Settings.from_env()`,
                              and Flask's `app.config.update(jwtguard_env)`)
    jwtguard_tokens           a `TokenFactory`: valid, expired, wrong-audience and wrong-issuer tokens with the scopes,
                              roles, permissions and claims you give
    jwtguard_authenticate_as  `jwtguard_authenticate_as("ann", scopes=[...], roles=[...])`: until the test ends, every
                              jwtguard guard in the process takes each request that needs a token as made by that
                              principal, without a token (see `authenticate_as`)

Nothing here reads settings or the environment to turn itself on: the principal override exists only as a fixture
and a context manager that refuse to run outside a pytest test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from ._request import RequestInfo
from .errors import AuthError
from .guard import Guard
from .principal import Principal, ScopeRequirement
from .settings import Settings
from .testing import DevIssuer, SigningKey, generate_key

__all__ = [
    "PERMISSION_CLAIM",
    "ROLE_CLAIM",
    "TokenFactory",
    "authenticate_as",
    "jwtguard_audience",
    "jwtguard_authenticate_as",
    "jwtguard_config",
    "jwtguard_env",
    "jwtguard_issuer",
    "jwtguard_settings",
    "jwtguard_signing_key",
    "jwtguard_tokens",
    "principal_for",
]

#: The claim `TokenFactory` puts roles in, and `jwtguard_settings` reads them from.
ROLE_CLAIM = "roles"
#: The claim `TokenFactory` puts permissions in, and `jwtguard_settings` reads them from.
PERMISSION_CLAIM = "permissions"
#: Beyond any leeway (at most 300 s): what `TokenFactory.expired` and `.not_yet_valid` offset a token by.
_OUT_OF_LEEWAY = 600


class TokenFactory:
    """Tokens signed by `issuer` for the app under test; each method returns the compact token.

    `scopes` go in `scope`, `roles` in `roles`, `permissions` in `permissions`; any other keyword adds or replaces a
    claim (None removes one), as `DevIssuer.claims` does.
    """

    def __init__(self, issuer: DevIssuer) -> None:
        self.issuer = issuer

    def valid(
        self,
        subject: str = "user-1",
        *,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        **claims: Any,
    ) -> str:
        """A token the app accepts (for five minutes)."""
        return self.issuer.token(subject=subject, scopes=scopes, **_names(roles, permissions), **claims)

    def expired(self, subject: str = "user-1", **options: Any) -> str:
        """A token that expired ten minutes ago, beyond any leeway: `token_expired`."""
        return self.valid(subject, expires_in=-_OUT_OF_LEEWAY, **options)

    def wrong_audience(
        self, subject: str = "user-1", *, audience: str = "https://another-api.example.test", **options: Any
    ) -> str:
        """A token for another API of the same issuer: `audience_invalid`."""
        return self.valid(subject, audience=audience, **options)

    def wrong_issuer(
        self, subject: str = "user-1", *, issuer: str = "https://elsewhere.example.test/", **options: Any
    ) -> str:
        """A token signed with the issuer's key but naming another issuer: `issuer_invalid`."""
        return self.valid(subject, issuer=issuer, **options)

    @staticmethod
    def headers(token: str) -> dict[str, str]:
        """The request headers that send `token`: `{"Authorization": "Bearer <token>"}`."""
        return {"Authorization": f"Bearer {token}"}


def _names(roles: Iterable[str], permissions: Iterable[str]) -> dict[str, Any]:
    names = {ROLE_CLAIM: list(roles), PERMISSION_CLAIM: list(permissions)}
    return {claim: values for claim, values in names.items() if values}


def principal_for(
    subject: str | Principal,
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    **claims: Any,
) -> Principal:
    """`subject` if it is a `Principal` already, else a `Principal` with `sub`, the `scope` claim and the given roles,
    permissions and claims."""
    if isinstance(subject, Principal):
        if scopes or roles or permissions or claims:
            raise TypeError("pass either a Principal or a subject with scopes, roles, permissions and claims")
        return subject
    granted = list(scopes)
    values = {"sub": subject, **({"scope": " ".join(granted)} if granted else {}), **claims}
    return Principal(values, roles=roles, permissions=permissions)


# -- the override -------------------------------------------------------------------------------------------------


@contextmanager
def authenticate_as(principal: Principal) -> Iterator[Principal]:
    """Test-only: while the block runs, every jwtguard `Guard` in the process, whatever its settings, takes each
    request that needs a token as made by `principal`, and reads no token at all.

    The rest of the request policy stays: preflights (with `cors_preflight`), public rules and excluded paths pass
    unauthenticated; a token in the URL and unsafe paths with rules are refused; `required_scopes`, the matched rule's
    requirement and the route helpers (`require_scopes`, `authorize`, `RequireScopes`, `Authorize`) are checked
    against `principal`, and refusals are logged and answered as usual. Requests that `allow_anonymous` or an
    `anonymous` rule would let through without a token are made by `principal` too: it is as if every request sent
    a valid token for it. `Guard.authenticate` / `aauthenticate` return it (after `required_scopes`).

    It is a context manager in `jwtguard.pytest_plugin` and the `jwtguard_authenticate_as` fixture, nothing else: no
    setting or variable turns it on, and it raises `RuntimeError` outside a running pytest test.
    """
    if "PYTEST_CURRENT_TEST" not in os.environ:
        raise RuntimeError("jwtguard's authenticate_as is for tests: it runs only inside a pytest test")
    if not isinstance(principal, Principal):
        raise TypeError(f"authenticate_as takes a Principal, got {type(principal).__name__}")

    def decide(guard: Guard, request: RequestInfo) -> Principal | None:
        try:
            if guard.passes_without_token(request):
                return None
            rule = guard.rule_for(request.method, request.path if request.route_path is None else request.route_path)
            _check(guard, principal)
            if rule is not None and rule.requirement is not None:
                rule.requirement.check(principal)
        except AuthError as exc:
            guard.reject(exc, request)  # logged as any refusal is; the adapter renders it again
            raise
        return principal

    def check_request(guard: Guard, request: RequestInfo, authorization: object = None) -> Principal | None:
        return decide(guard, request)

    async def acheck_request(guard: Guard, request: RequestInfo, authorization: object = None) -> Principal | None:
        return decide(guard, request)

    def accept_cached(guard: Guard, *args: object) -> None:
        return None  # every request goes through `check_request`, and so through `decide`

    def authenticate(guard: Guard, authorization: object = None) -> Principal:
        return _check(guard, principal)

    async def aauthenticate(guard: Guard, authorization: object = None) -> Principal:
        return _check(guard, principal)

    with pytest.MonkeyPatch.context() as patch:
        for name, replacement in (
            ("check_request", check_request),
            ("acheck_request", acheck_request),
            ("accept_cached", accept_cached),
            ("authenticate", authenticate),
            ("aauthenticate", aauthenticate),
        ):
            patch.setattr(Guard, name, replacement)
        yield principal


def _check(guard: Guard, principal: Principal) -> Principal:
    if guard.required_scopes:
        ScopeRequirement(guard.required_scopes, where="required_scopes").check(principal)
    return principal


# -- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def jwtguard_signing_key() -> SigningKey:
    """The RS256 key `jwtguard_issuer` signs with: one for the run, as RSA keys are slow to make."""
    return generate_key("RS256", kid="jwtguard-pytest")


@pytest.fixture
def jwtguard_audience() -> str:
    """The audience `jwtguard_issuer` mints tokens for and `jwtguard_settings` accepts."""
    return "https://api.example.test"


@pytest.fixture
def jwtguard_issuer(jwtguard_signing_key: SigningKey, jwtguard_audience: str) -> Iterator[DevIssuer]:
    """A `DevIssuer` serving its JWKS and discovery document on 127.0.0.1 for the test."""
    with DevIssuer(audience=jwtguard_audience, keys=[jwtguard_signing_key]) as issuer:
        yield issuer


@pytest.fixture
def jwtguard_settings(jwtguard_issuer: DevIssuer) -> Settings:
    """`Settings` that trust `jwtguard_issuer`: issuer, audience, `jwks_uri`, algorithms, role and permission
    claims."""
    return jwtguard_issuer.settings(role_claims=[ROLE_CLAIM], permission_claims=[PERMISSION_CLAIM])


@pytest.fixture
def jwtguard_config(jwtguard_issuer: DevIssuer) -> dict[str, str]:
    """`jwtguard_settings` by setting name, as text: Django's `JWTGUARD` dict (`Settings.from_mapping` reads it)."""
    return {
        "ISSUER": jwtguard_issuer.issuer,
        "AUDIENCE": jwtguard_issuer.audience,
        "JWKS_URI": jwtguard_issuer.jwks_uri,
        "ALGORITHMS": ",".join(sorted({key.alg for key in jwtguard_issuer.keys})),
        "ROLE_CLAIMS": ROLE_CLAIM,
        "PERMISSION_CLAIMS": PERMISSION_CLAIM,
    }


@pytest.fixture
def jwtguard_env(jwtguard_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`jwtguard_config` as `JWTGUARD_*` environment variables, set until the test ends; returns them (they are
    also Flask's `app.config` keys)."""
    variables = {f"JWTGUARD_{name}": value for name, value in jwtguard_config.items()}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


@pytest.fixture
def jwtguard_tokens(jwtguard_issuer: DevIssuer) -> TokenFactory:
    """Tokens for the app under test: `valid`, `expired`, `wrong_audience`, `wrong_issuer`; `headers(token)`."""
    return TokenFactory(jwtguard_issuer)


@pytest.fixture
def jwtguard_authenticate_as() -> Iterator[Callable[..., Principal]]:
    """`jwtguard_authenticate_as(subject_or_principal, *, scopes=(), roles=(), permissions=(), **claims)`: from then
    until the test ends, every request that needs a token is made by that principal (see `authenticate_as`).
    Calling it again switches the principal. Returns the `Principal`."""
    with ExitStack() as active:

        def switch(
            subject: str | Principal,
            *,
            scopes: Iterable[str] = (),
            roles: Iterable[str] = (),
            permissions: Iterable[str] = (),
            **claims: Any,
        ) -> Principal:
            principal = principal_for(subject, scopes=scopes, roles=roles, permissions=permissions, **claims)
            active.close()  # the previous principal, if any
            return active.enter_context(authenticate_as(principal))

        yield switch
