"""Command-line interface: parses, calls the public API, renders. No analysis logic."""

from __future__ import annotations

import os
import sys

from opsloop.cli import (  # noqa: F401  (importing registers the commands)
    _evals_cmds,
    _impact_cmds,
    _infer_cmds,
    _monitor_cmds,
    _quality_cmds,
    _rca_cmds,
    _report_cmds,
    _ws_cmds,
)
from opsloop.cli._app import app, err_console
from opsloop.errors import InputError, OpsloopError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``opsloop`` console script."""
    try:
        app()
    except InputError as exc:
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        for problem in exc.problems[1:]:
            err_console.print(f"  also: {problem}", highlight=False, soft_wrap=True)
        if exc.more:
            err_console.print(f"  … and {exc.more:,} more", highlight=False)
        sys.exit(exc.exit_code)
    except OpsloopError as exc:
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("OPSLOOP_DEBUG"):
            raise
        what = _engine_message(exc) if _is_engine_error(exc) else f"{type(exc).__name__}: {exc}"
        err_console.print(
            f"internal error: {what.splitlines()[0] if what else type(exc).__name__} "
            "(set OPSLOOP_DEBUG=1 for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(70)


def _is_engine_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb")


def _engine_message(exc: BaseException) -> str:
    from opsloop.engine import explain_duckdb_error  # the engine is loaded by then

    return explain_duckdb_error(exc)
