"""Public names resolved on first use (PEP 562), for the package ``__init__`` modules.

A package lists where each public name is defined (``{"ingest": "opsloop.io._ingest"}``)
and gets the module-level ``__getattr__`` and ``__dir__`` that import the defining
module when a name is first read and keep the value, so importing the package loads
nothing heavy until it is used:

>>> import types, sys
>>> pkg = types.ModuleType("pkg"); sys.modules["pkg"] = pkg
>>> pkg.__getattr__, pkg.__dir__ = lazy_exports("pkg", {"sqrt": "math"}, ["sqrt"])
>>> pkg.sqrt(9.0), "sqrt" in dir(pkg)
(3.0, True)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    module_name: str, sources: Mapping[str, str], exported: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of module ``module_name`` whose public names
    ``sources`` maps to the modules defining them."""

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[module_name], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module_name])) | set(exported))

    return __getattr__, __dir__
