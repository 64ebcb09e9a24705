"""opsloop: quality operations for labeling, moderation and model evaluation.

The main entry points are re-exported here; each subpackage (``opsloop.io``,
``opsloop.metrics``, ``opsloop.inference``, ``opsloop.monitor``, ``opsloop.report``,
``opsloop.demo``)
documents the rest of its API in its ``__all__``.
"""

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
