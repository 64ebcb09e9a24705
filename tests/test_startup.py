"""Start-up: the command line loads only typer, rich and the standard library before a command runs.

These tests look at *which* modules a fresh ``opsloop`` process imports (the
interpreter's own ``-X importtime`` report, ``PYTHONPROFILEIMPORTTIME``), never at
how long it takes: timings live in bench/startup.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from opsloop.cli import app
from tests.helpers import OPSLOOP

# the engine, numeric and chart libraries: loaded inside the commands that use them
HEAVY = ("ibis", "duckdb", "pandas", "scipy", "pyarrow", "numpy", "plotly", "sqlglot")


def _imported_modules(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the installed ``opsloop`` console script; the modules its interpreter imported."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "COLUMNS": "200"}
    env.pop("OPSLOOP_WORKSPACE", None)
    proc = subprocess.run(
        [OPSLOOP, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    return proc, modules


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_the_report_lists_what_a_run_imports() -> None:
    """The import report this file relies on does name the modules a command loads."""
    proc, modules = _imported_modules("-w", "/nonexistent-opsloop-ws", "sql", "SELECT 1")
    assert proc.returncode == 2, proc.stderr[-500:]
    assert "typer" in modules
    assert "opsloop.engine" in modules  # the command itself opens the engine
    assert "duckdb" in modules


def test_help_imports_no_heavy_library() -> None:
    proc, modules = _imported_modules("--help")
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "Usage: opsloop" in proc.stdout
    assert "agreement" in proc.stdout
    assert _heavy(modules) == []
    # typer checks a command's parameters with pydantic, so every subcommand loads it (and
    # the config may use it); the top-level help parses no parameter and needs none
    assert not any(m.split(".")[0] == "pydantic" for m in modules)
    opsloop_modules = {m for m in modules if m.startswith("opsloop.")}
    # the lazy-name loader is plain Python (importlib only)
    loaded = {m for m in opsloop_modules if not m.startswith("opsloop.cli")}
    assert loaded == {"opsloop._lazy", "opsloop.errors"}


def _command_names() -> list[str]:
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    return sorted(group.commands)


@pytest.mark.parametrize("command", _command_names())
def test_command_help_imports_no_heavy_library(command: str) -> None:
    proc, modules = _imported_modules(command, "--help")
    assert proc.returncode == 0, proc.stderr[-500:]
    assert f"Usage: opsloop {command}" in proc.stdout
    assert _heavy(modules) == [], f"opsloop {command} --help imports {_heavy(modules)[:8]}"


def test_bad_option_fails_before_loading_the_analyses() -> None:
    """A usage error caught by the parser exits 2 without importing the engine."""
    proc, modules = _imported_modules("agreement", "--no-such-option")
    assert proc.returncode == 2
    assert "No such option" in proc.stderr
    assert _heavy(modules) == []


@pytest.mark.parametrize("command", [("agreement",), ("infer", "--method", "mv")])
def test_analysis_of_a_file_does_not_load_the_engine(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    """On a file, agreement and inference read it directly: Ibis is never imported."""
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "item_id,rater_id,label\ni1,r1,a\ni1,r2,a\ni2,r1,b\ni2,r2,a\ni3,r1,b\ni3,r2,b\n",
        encoding="utf-8",
    )
    proc, modules = _imported_modules(command[0], str(labels), *command[1:], "--format", "json")
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.lstrip().startswith(("[", "{"))  # the command did its work
    assert "duckdb" in modules or "pyarrow" in modules  # it read the file
    engine = sorted(m for m in modules if m.split(".")[0] in ("ibis", "sqlglot"))
    assert engine == [], f"opsloop {command[0]} FILE imports {engine[:5]}"
    assert "opsloop.engine" not in modules


def test_cli_package_does_not_import_the_engine() -> None:
    """Importing the typer app (every command registered) loads no engine and no analysis."""
    code = (
        "import sys, opsloop.cli._app\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('opsloop.') "
        "and not m.startswith('opsloop.cli'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["opsloop._lazy", "opsloop.errors"]


def test_evals_compare_of_a_file_loads_neither_the_workspace_nor_pandas(tmp_path: Path) -> None:
    """On a file, the eval comparison queries the checked rows where DuckDB read them: no
    workspace engine, no Arrow hand-over (which would load pandas)."""
    rows = ["model_version,item_id,outcome,category"]
    rows += [f"v{v},i{i},{'fail' if (i + v) % 5 == 0 else 'pass'},c{i % 2}"
             for v in (1, 2) for i in range(40)]  # fmt: skip
    evals = tmp_path / "evals.csv"
    evals.write_text("\n".join(rows) + "\n", encoding="utf-8")
    proc, modules = _imported_modules("evals", "compare", str(evals), "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr[-500:]
    assert '"candidate": "v2"' in proc.stdout  # the command did its work
    assert "duckdb" in modules
    loaded = sorted(m for m in modules if m == "opsloop.engine" or m.split(".")[0] == "pandas")
    assert loaded == [], f"opsloop evals compare FILE imports {loaded[:5]}"
