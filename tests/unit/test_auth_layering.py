"""The auth package's modules depend one way: the key service knows nothing of the worker's cache,
the cache builds on the service, and the guard on both."""

import ast
from pathlib import Path

import app.auth

AUTH = Path(app.auth.__file__).parent


def imported_modules(module: str) -> set[str]:
    tree = ast.parse((AUTH / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_key_service_does_not_import_the_cache_or_the_guard() -> None:
    assert not {"app.auth.cache", "app.auth.guard", "app.auth.dependencies"} & imported_modules("service")


def test_the_cache_does_not_import_the_guard() -> None:
    assert not {"app.auth.guard", "app.auth.dependencies"} & imported_modules("cache")
