"""SQL access and exports for analysts and BI tools."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from opsloop.engine import Workspace, explain_duckdb_error
from opsloop.errors import UsageError, WorkspaceError
from opsloop.io._readers import quote_ident, sql_string

EXPORT_FORMATS = ("parquet", "csv")


def run_sql(
    ws: Workspace, query: str, *, limit: int = 0
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``query`` on a read-only connection with file access switched off."""
    if not ws.store_path.exists():
        raise WorkspaceError(f"{ws.store_path}: the store does not exist yet")
    ws.close()
    try:
        con = duckdb.connect(str(ws.store_path), read_only=True)
    except duckdb.Error as exc:
        raise WorkspaceError(f"cannot open {ws.store_path} read-only: {exc}") from None
    try:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            cur = con.execute(query)
            if cur.description is None:
                return [], []
            columns = [d[0] for d in cur.description]
            rows = cur.fetchmany(limit) if limit else cur.fetchall()
        except duckdb.Error as exc:
            raise UsageError(f"SQL: {explain_duckdb_error(exc)}") from None
    finally:
        con.close()
    return columns, rows


def export_tables(
    ws: Workspace,
    directory: Path,
    *,
    fmt: str = "parquet",
    tables: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[tuple[Path, int]]:
    """Write each table to ``directory/<table>.<fmt>``; returns (path, rows)."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r}")
    known = set(ws.table_names()) | set(ws.derived_table_names())
    names = list(tables) if tables else sorted(known)
    for name in names:
        if name not in known:
            raise UsageError(
                f"no table {name!r} in the workspace (have: {', '.join(sorted(known))})"
            )
    directory.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, int]] = []
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
    with ws.connection() as con:
        for name in names:
            if progress:
                progress(f"exporting {name}")
            path = directory / f"{name}.{fmt}"
            tmp = path.with_suffix(path.suffix + ".tmp")
            con.execute(
                f"COPY (SELECT * FROM {quote_ident(name)}) TO {sql_string(tmp.as_posix())} ({options})"
            )
            tmp.replace(path)
            n = con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0]
            out.append((path, int(n)))
    return out
