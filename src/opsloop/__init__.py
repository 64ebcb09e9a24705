"""opsloop: quality operations for labeling, moderation and model evaluation.

The main entry points are re-exported here; each subpackage (``opsloop.io``,
``opsloop.metrics``, ``opsloop.inference``, ``opsloop.monitor``, ``opsloop.report``,
``opsloop.demo``)
documents the rest of its API in its ``__all__``.

The names are resolved on first use (PEP 562), so ``import opsloop`` and the command
line start without loading the engine and numeric libraries they do not need yet.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.config import Config, load_config
    from opsloop.engine import Workspace
    from opsloop.errors import ConfigError, InputError, OpsloopError, Problem, WorkspaceError
    from opsloop.inference import infer_labels, rank_label_errors
    from opsloop.io import ingest, read_table
    from opsloop.metrics import agreement, quality
    from opsloop.monitor import MonitorResult, monitor_workspace
    from opsloop.rca import rca, rca_inputs
    from opsloop.report import run_demo, write_report
    from opsloop.schema import CONTRACTS, TableContract

__version__ = "0.1.0"

# public name -> the module that defines it (imported when the name is first used)
_SOURCES: dict[str, str] = {
    "CONTRACTS": "opsloop.schema",
    "Config": "opsloop.config",
    "ConfigError": "opsloop.errors",
    "InputError": "opsloop.errors",
    "MonitorResult": "opsloop.monitor",
    "OpsloopError": "opsloop.errors",
    "Problem": "opsloop.errors",
    "TableContract": "opsloop.schema",
    "Workspace": "opsloop.engine",
    "WorkspaceError": "opsloop.errors",
    "agreement": "opsloop.metrics",
    "infer_labels": "opsloop.inference",
    "ingest": "opsloop.io",
    "load_config": "opsloop.config",
    "monitor_workspace": "opsloop.monitor",
    "quality": "opsloop.metrics",
    "rank_label_errors": "opsloop.inference",
    "rca": "opsloop.rca",
    "rca_inputs": "opsloop.rca",
    "read_table": "opsloop.io",
    "run_demo": "opsloop.report",
    "write_report": "opsloop.report",
}

__all__ = [
    "CONTRACTS",
    "Config",
    "ConfigError",
    "InputError",
    "MonitorResult",
    "OpsloopError",
    "Problem",
    "TableContract",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "agreement",
    "infer_labels",
    "ingest",
    "load_config",
    "monitor_workspace",
    "quality",
    "rank_label_errors",
    "rca",
    "rca_inputs",
    "read_table",
    "run_demo",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """Import the module behind a public name on first use and keep the value."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'opsloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _PackageModule(types.ModuleType):
    """The package ``opsloop``, whose public ``rca`` is a function, not the subpackage.

    Importing a subpackage makes the import system set it as an attribute of its
    parent (``opsloop.rca = <module opsloop.rca>``). With eager re-exports the
    function was bound after that; resolved lazily it must not be shadowed, so a
    subpackage is not recorded under a public name that the package re-exports.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SOURCES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PackageModule
