"""The public surface: what `jwtguard` exports, and what importing it must not pull in."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

import jwtguard
from jwtguard import errors

PACKAGE = Path(jwtguard.__file__).parent


def test_all_is_sorted_and_complete() -> None:
    assert jwtguard.__all__ == sorted(jwtguard.__all__)
    for name in jwtguard.__all__:
        assert hasattr(jwtguard, name), name
    public = {name for name in vars(jwtguard) if not name.startswith("_") and not _is_module(name)}
    assert public - {"annotations"} <= set(jwtguard.__all__)


def _is_module(name: str) -> bool:
    return type(getattr(jwtguard, name)).__name__ == "module"


def test_every_error_class_is_exported_and_has_a_unique_code() -> None:
    classes = [obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, errors.AuthError)]
    leaves = [cls for cls in classes if cls is not errors.AuthError]
    for cls in leaves:
        assert cls.__name__ in jwtguard.__all__
    # One class per code; a refinement keeps its base's wire contract but for its own description.
    refinements = [cls for cls in leaves if cls.__base__ is not errors.AuthError]
    assert sorted(refinements, key=lambda cls: cls.__name__) == [errors.TokenInQuery, errors.UnsafePath]
    for cls in refinements:
        [base] = [parent for parent in cls.__bases__ if issubclass(parent, errors.AuthError)]
        assert (cls.code, cls.status_code, cls.error) == (base.code, base.status_code, base.error)
        assert cls.description != base.description
    leaves = [cls for cls in leaves if cls not in refinements]
    assert len(leaves) == 26
    codes = [cls.code for cls in leaves]
    assert len(set(codes)) == len(codes)
    assert {cls.code: cls.status_code for cls in leaves if cls.status_code != 401} == {
        "invalid_request": 400,
        "insufficient_scope": 403,
        "insufficient_role": 403,
        "cross_site_request": 403,
        "untrusted_proxy": 403,
        "jwks_unavailable": 503,
        "revocation_unavailable": 503,
    }
    # RFC 6750 §3.1 has no code for a missing role: `insufficient_scope` would send the client after scopes.
    assert {cls.code for cls in leaves if cls.error is None} == {
        "token_missing",
        "insufficient_role",
        "cross_site_request",
        "untrusted_proxy",
        "jwks_unavailable",
        "revocation_unavailable",
    }
    assert issubclass(errors.ConfigurationError, errors.JWTGuardError)
    assert not issubclass(errors.ConfigurationError, errors.AuthError)
    # A key server's failure is infrastructure: never a request's error, never a configuration mistake.
    assert issubclass(errors.FetchError, errors.JWTGuardError)
    assert not issubclass(errors.FetchError, errors.AuthError | errors.ConfigurationError)
    assert jwtguard.FetchError is jwtguard.jwks.FetchError is errors.FetchError


# Loaded when used: the Starlette helpers on first use, httpx (and its stack) with the first fetcher.
NOT_AT_IMPORT = frozenset(
    {"starlette", "httpx", "httpcore", "anyio", "flask", "django", "fastapi", "rest_framework", "mcp", "pydantic"}
)


def test_import_pulls_in_no_framework_integration() -> None:
    # `-X importtime` lists every module the import loads, on stderr: "import time: self | cumulative | name".
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import jwtguard, jwtguard.testing"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {
        line.rpartition("|")[2].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"jwtguard", "jwt", "cachetools"} <= loaded  # the listing was read
    assert loaded.isdisjoint(NOT_AT_IMPORT), sorted(loaded & NOT_AT_IMPORT)


def _imported_modules(path: Path) -> set[str]:
    """The package modules `path` imports (`jwtguard` for the package face), at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "jwtguard":
            found.add(node.module.removeprefix("jwtguard.") if "." in node.module else "jwtguard")
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "jwtguard"}
    return found


# What the key layer may import: the facts, token and request layers below it, and itself.
KEY_LAYER = {"_jwk", "_fetch", "jwks"}
BELOW_KEYS = {"errors", "_version", "_jose", "bearer", "_token", "principal", "_request", "_logging", "hooks"}


def test_imports_point_down_from_the_key_layer() -> None:
    for name in sorted(KEY_LAYER):
        imported = _imported_modules(PACKAGE / f"{name}.py")
        assert imported <= KEY_LAYER | BELOW_KEYS, f"{name} imports {sorted(imported - KEY_LAYER - BELOW_KEYS)}"


def test_no_module_imports_the_package_face() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    for path in PACKAGE.glob("*.py"):
        if path.name != "__init__.py":
            imported = _imported_modules(path)
            assert imported <= modules, f"{path.name} imports {sorted(imported - modules)} from the package face"


def test_the_package_never_relies_on_assert() -> None:
    # `python -O` strips asserts; a check that matters must not vanish with them.
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
        assert asserts == [], f"{path.name} uses assert at lines {asserts}"


# The distribution's name: `jwtguard` on the package index is another project (see tests/test_packaging.py).
DISTRIBUTION = "bearer-jwks-middleware"


def test_the_version_has_one_source() -> None:
    # The build reads jwtguard/_version.py: an installation of this checkout says the same version under the
    # distribution's name (the built wheel's metadata is checked in tests/test_packaging.py).
    try:
        installed = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{DISTRIBUTION} is not installed here (the package is imported from a checkout)")
    assert installed == jwtguard.__version__


def test_the_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_every_setting_is_documented_in_its_docstring_and_in_the_readme() -> None:
    import dataclasses

    from jwtguard import Settings

    source = (PACKAGE / "settings.py").read_text(encoding="utf-8")
    [settings_class] = [
        node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef) and node.name == "Settings"
    ]
    documented = {
        statement.target.id
        for statement, following in zip(settings_class.body, settings_class.body[1:], strict=False)
        if isinstance(statement, ast.AnnAssign)
        and isinstance(statement.target, ast.Name)
        and isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    }
    fields = {field.name for field in dataclasses.fields(Settings)}
    assert fields == documented
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    in_table = {name for row in table.splitlines() if row.startswith("| `") for name in _names(row.split("|")[1])}
    assert fields == in_table


def _names(cell: str) -> set[str]:
    return {part.strip(" `") for part in cell.split(",")}
