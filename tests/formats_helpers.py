"""Shared steps of the input-format tests: a workspace, and a refused ingest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .helpers import make_workspace, run_cli, tree_digest

FORMATS = Path(__file__).parent / "data" / "formats"
LABELS = "none,spam,hate,violence"


def new_workspace(tmp_path: Path, labels: str = LABELS) -> Path:
    """A fresh workspace (made through the library: the CLI runs the ingests)."""
    make_workspace(tmp_path / "ws", tuple(labels.split(","))).close()
    return tmp_path / "ws"


def ingest_json(ws: Path, table: str, path: Path, *flags: str) -> dict[str, Any]:
    """``opsloop ingest TABLE PATH --format json`` -> its report."""
    out = run_cli("ingest", table, str(path), *flags, "--format", "json", cwd=ws).stdout
    report: dict[str, Any] = json.loads(out)
    return report


def sql_rows(ws: Path, query: str) -> list[dict[str, Any]]:
    out = run_cli("sql", query, "--format", "json", cwd=ws).stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def refused(ws: Path, *args: str) -> str:
    """Run an ingest that must fail: exit 2, one line, no traceback, workspace unchanged."""
    before = tree_digest(ws)
    proc = run_cli(*args, cwd=ws, ok=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert tree_digest(ws) == before
    return lines[0]
