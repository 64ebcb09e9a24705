"""opsloop: quality operations for labeling, moderation and model evaluation."""

from opsloop.config import Config, load_config
from opsloop.engine import Workspace
from opsloop.errors import ConfigError, InputError, OpsloopError, Problem, WorkspaceError
from opsloop.schema import CONTRACTS, TableContract

__version__ = "0.1.0"

__all__ = [
    "CONTRACTS",
    "Config",
    "ConfigError",
    "InputError",
    "OpsloopError",
    "Problem",
    "TableContract",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "load_config",
]
