"""opsloop: quality operations for labeling, moderation and model evaluation.

One verb per job, each taking a workspace, a file or a table::

    import opsloop
    ws = opsloop.Workspace.open("ops")
    opsloop.quality(ws, by=["vendor"])        # accuracy, leakage … per slice
    opsloop.agreement("labels.csv")            # α, κ, AC1 … on a file
    opsloop.monitor(ws)                        # KPIs against targets, control charts
    opsloop.rca(ws, kpi="accuracy", before="2025-W10", after="2025-W11")
    opsloop.infer(ws, "ds")                    # truth inference, rater reliability
    opsloop.report(ws)                         # report.html + report.json

Each subpackage (``opsloop.io``, ``opsloop.metrics``, ``opsloop.inference``,
``opsloop.monitor``, ``opsloop.rca``, ``opsloop.session``, ``opsloop.report`` …)
documents the rest of its API in its ``__all__``. ``opsloop.monitor``,
``opsloop.rca`` and ``opsloop.report`` are both the subpackages and the verbs:
calling one runs the verb (``opsloop.monitor(ws)``), its attributes are the
package's (``opsloop.monitor.KPIS``).

The names are resolved on first use (PEP 562), so ``import opsloop`` and the command
line start without loading the engine and numeric libraries they do not need yet.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from opsloop._lazy import lazy_exports

if TYPE_CHECKING:
    from opsloop._verbs import agreement, infer, monitor, quality, rca, report
    from opsloop.config import Config, load_config
    from opsloop.engine import Workspace
    from opsloop.errors import ConfigError, InputError, OpsloopError, Problem, WorkspaceError
    from opsloop.io import ingest, read_table
    from opsloop.report import run_demo
    from opsloop.schema import CONTRACTS, TableContract
    from opsloop.session import Session

__version__ = "0.1.0"

# public name -> the module that defines it (imported when the name is first used)
_SOURCES: dict[str, str] = {
    "CONTRACTS": "opsloop.schema",
    "Config": "opsloop.config",
    "ConfigError": "opsloop.errors",
    "InputError": "opsloop.errors",
    "OpsloopError": "opsloop.errors",
    "Problem": "opsloop.errors",
    "Session": "opsloop.session",
    "TableContract": "opsloop.schema",
    "Workspace": "opsloop.engine",
    "WorkspaceError": "opsloop.errors",
    "agreement": "opsloop._verbs",
    "infer": "opsloop._verbs",
    "ingest": "opsloop.io",
    "load_config": "opsloop.config",
    "quality": "opsloop._verbs",
    "read_table": "opsloop.io",
    "run_demo": "opsloop.report",
}

__all__ = [
    "CONTRACTS",
    "Config",
    "ConfigError",
    "InputError",
    "OpsloopError",
    "Problem",
    "Session",
    "TableContract",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "agreement",
    "infer",
    "ingest",
    "load_config",
    "monitor",
    "quality",
    "rca",
    "read_table",
    "report",
    "run_demo",
]


# subpackages that are also the verb of their name: ``opsloop.monitor(ws)`` runs the
# verb, ``opsloop.monitor.KPIS`` and ``import opsloop.monitor._cube`` reach the package
_VERB_PACKAGES = ("monitor", "rca", "report")
_lazy_getattr, __dir__ = lazy_exports(__name__, _SOURCES, __all__)


def __getattr__(name: str) -> Any:
    """A public name, imported on first use (a verb package: the callable subpackage)."""
    if name in _VERB_PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    return _lazy_getattr(name)


class _VerbPackage(types.ModuleType):
    """A subpackage that is also a verb: calling it calls ``opsloop._verbs.<name>``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        verbs = importlib.import_module("opsloop._verbs")
        return getattr(verbs, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _PackageModule(types.ModuleType):
    """The package ``opsloop``: its subpackages ``monitor``, ``rca`` and ``report`` become
    callable (the verbs of the same names) when the import system binds them here."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _VERB_PACKAGES and type(value) is types.ModuleType:
            value.__class__ = _VerbPackage
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PackageModule
