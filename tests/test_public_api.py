"""The public API lives in package ``__all__`` lists; implementation modules are private."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import opsloop

SUBPACKAGES = ("io", "stats", "metrics", "inference", "demo", "report", "cli")
# top-level modules that DESIGN.md names as the foundation of the public API
PUBLIC_TOP_LEVEL = {"config", "engine", "errors", "schema", "views"}


def test_top_level_all_resolves() -> None:
    for name in opsloop.__all__:
        assert hasattr(opsloop, name), name


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_subpackage_all_resolves_and_modules_are_private(sub: str) -> None:
    package = importlib.import_module(f"opsloop.{sub}")
    exported = getattr(package, "__all__", None)
    assert exported, f"opsloop.{sub} has no __all__"
    for name in exported:
        assert hasattr(package, name), f"opsloop.{sub}.{name} is in __all__ but missing"
    for info in pkgutil.iter_modules(package.__path__):
        assert info.name.startswith("_"), (
            f"opsloop.{sub}.{info.name} should be private (_{info.name})"
        )


def test_top_level_modules_are_known() -> None:
    for info in pkgutil.iter_modules(opsloop.__path__):
        if not info.ispkg:
            assert info.name in PUBLIC_TOP_LEVEL or info.name.startswith("_"), info.name
