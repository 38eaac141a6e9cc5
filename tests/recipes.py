"""Provider configuration blocks from the documentation, run as a user pastes them, with the keys served locally.

A block is a fenced Python block right after a `<!-- provider: NAME -->` line; it imports what it uses and binds
`settings`. Only the key source is replaced: `discovery=True` and every `jwks_uri="https://..."` become the local
`KeyServer`'s JWKS URL (a provider's real URL cannot point to 127.0.0.1). `with_local_discovery` instead keeps
`discovery=True` and puts the local server's URL in place of the issuer, so that discovery runs for real.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jwtguard import Settings
from jwtguard.testing import SigningKey

from .providers import Token

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"<!-- provider: ([\w-]+) -->\n```python\n(.*?)```", re.DOTALL)
_KEY_SOURCE = re.compile(r'discovery=True|jwks_uri="https://[^"]*"')


def blocks(relative_path: str) -> dict[str, str]:
    """The provider blocks of a Markdown file of this repository, by name."""
    text = (ROOT / relative_path).read_text(encoding="utf-8")
    found = dict(_BLOCK.findall(text))
    assert len(found) == text.count("<!-- provider: "), f"{relative_path}: a provider marker without a block"
    return found


def with_local_keys(code: str, jwks_uri: str) -> str:
    """`code` with its key sources replaced by `jwks_uri`."""
    replaced, count = _KEY_SOURCE.subn(f'jwks_uri="{jwks_uri}"', code)
    assert count, "the block names no key source"
    return replaced


def with_local_discovery(code: str, issuer: str, url: str) -> str:
    """`code` with `issuer` (a quoted string in it, once) replaced by the local server's `url`."""
    assert "discovery=True" in code
    assert code.count(f'"{issuer}"') == 1, f"the block does not name {issuer!r} once"
    return code.replace(f'"{issuer}"', f'"{url}"')


def run(code: str, source: str) -> Settings:
    """Execute a block and return the `settings` it binds."""
    namespace: dict[str, Any] = {"__name__": "provider_recipe"}
    exec(compile(code, source, "exec"), namespace)  # noqa: S102  # our own documentation
    settings = namespace["settings"]
    assert isinstance(settings, Settings)
    return settings


def local_settings(code: str, source: str, jwks_uri: str) -> Settings:
    """The block's settings with the keys from `jwks_uri`, checked to trust no other key source."""
    settings = run(with_local_keys(code, jwks_uri), source)
    for entry in settings.trusted_issuers:
        assert (entry.jwks_uri, entry.discovery, entry.jwks) == (jwks_uri, False, None)
    assert not settings.insecure_allow_any_audience
    assert not settings.insecure_allow_any_issuer
    return settings


def sign(key: SigningKey, token: Token, **claims: Any) -> str:
    """The token as its provider writes it: its own JOSE header members (none but `alg` and `kid` when it has no
    `typ`), `claims` added or replaced (None removes one)."""
    payload = {**token.claims, **claims}
    # PyJWT writes typ "JWT" unless given an empty one: a provider that writes no typ gets none.
    return key.sign({name: value for name, value in payload.items() if value is not None}, {"typ": "", **token.header})
