"""Ingestion into a workspace: all-or-nothing, idempotent, with quarantine on request.

``ingest(ws, "annotations", [path])`` reads the files (CSV, TSV, Parquet,
JSONL, Label Studio JSON; long or wide), maps and validates them, and then,
in one transaction, adds the rows that are not already present. A bad file
raises :class:`~opsloop.errors.InputError` (``file:line: column: reason`` for
the first problems plus a count of the rest) and the workspace is unchanged.
With ``on_error="skip"`` bad rows go to the ``_opsloop_rejects`` table
instead, and the good rows are added.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opsloop.engine import Workspace
from opsloop.errors import InputError, Problem
from opsloop.io._batch import Batch, FileReport, Layout, build_batch, collect_problems
from opsloop.io._readers import LINE, quote_ident, sql_string
from opsloop.schema import CONTRACTS, SQL_TYPES

OnError = Literal["fail", "skip"]
REJECTS_TABLE = "_opsloop_rejects"
LOG_TABLE = "_opsloop_ingest_log"

# Columns whose disagreement with an existing row of the same key is a conflict.
VALUE_COLUMNS: dict[str, tuple[str, ...]] = {
    "annotations": ("label",),
    "gold": ("label",),
    "audits": ("verdict",),
    "predictions": ("label",),
    "preferences": ("choice",),
    "evals": ("outcome",),
}


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one ``ingest`` call."""

    table: str
    files: tuple[FileReport, ...]
    rows_read: int
    rows_added: int
    rows_already_present: int
    rows_rejected: int
    problems: tuple[Problem, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "files": [f.to_dict() for f in self.files],
            "rows_read": self.rows_read,
            "rows_added": self.rows_added,
            "rows_already_present": self.rows_already_present,
            "rows_rejected": self.rows_rejected,
            "problems": [str(p) for p in self.problems],
        }


def _existing_types(con: Any, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? AND table_catalog = current_database()",
        [table],
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _table_exists(con: Any, table: str) -> bool:
    return bool(_existing_types(con, table))


def _check_conflicts(con: Any, batch: Batch, table: str) -> None:
    value_cols = VALUE_COLUMNS.get(table, ())
    if not value_cols or not _table_exists(con, table):
        return
    key = CONTRACTS[table].key
    on = " AND ".join(f"t.{quote_ident(c)} = b.{quote_ident(c)}" for c in key)
    differs = " OR ".join(
        f"t.{quote_ident(c)} IS DISTINCT FROM b.{quote_ident(c)}" for c in value_cols
    )
    shown = " || ', ' || ".join(
        f"'{c} is ' || coalesce('''' || t.{quote_ident(c)} || '''', 'empty') || ' there'"
        for c in value_cols
    )
    con.execute(f"""
        INSERT INTO {batch.bad}
        SELECT b.__file_idx, b.{LINE}, '{value_cols[0]}',
               'conflicts with a row already in the workspace (' || {shown} || ')'
        FROM {batch.rows} b JOIN main.{quote_ident(table)} t ON {on}
        WHERE b.__pcol IS NULL AND ({differs})
    """)


def _check_references(con: Any, batch: Batch, table: str) -> None:
    for cols, target in CONTRACTS[table].references:
        if not _table_exists(con, target):
            con.execute(
                f"INSERT INTO {batch.bad} SELECT __file_idx, {LINE}, NULL, "
                f"'refers to {target}, but the workspace has no {target} yet "
                f"(ingest {target} first)' FROM {batch.rows} LIMIT 1"
            )
            continue
        on = " AND ".join(f"t.{quote_ident(c)} = b.{quote_ident(c)}" for c in cols)
        desc = " || ', ' || ".join(f"'{c}=' || b.{quote_ident(c)}" for c in cols)
        con.execute(f"""
            INSERT INTO {batch.bad}
            SELECT b.__file_idx, b.{LINE}, '{cols[0]}',
                   'refers to no {target} row (' || {desc} || ')'
            FROM {batch.rows} b ANTI JOIN main.{quote_ident(target)} t ON {on}
            WHERE b.__pcol IS NULL
        """)


def _create_or_extend(con: Any, table: str, extra_types: Mapping[str, str]) -> list[str]:
    """Create the table (all contract columns) or add new extra columns; return columns."""
    contract = CONTRACTS[table]
    existing = _existing_types(con, table)
    if not existing:
        cols = [f"{quote_ident(c.name)} {SQL_TYPES[c.type]}" for c in contract.columns]
        cols += [f"{quote_ident(n)} {t}" for n, t in extra_types.items()]
        con.execute(f"CREATE TABLE main.{quote_ident(table)} ({', '.join(cols)})")
    else:
        for name, sql_type in extra_types.items():
            if name not in existing:
                con.execute(
                    f"ALTER TABLE main.{quote_ident(table)} ADD COLUMN {quote_ident(name)} {sql_type}"
                )
    return [c.name for c in contract.columns] + [n for n in extra_types]


def _ensure_internal_tables(con: Any) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS main.{REJECTS_TABLE} (
        table_name VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, reason VARCHAR,
        ingested_at TIMESTAMP)""")
    con.execute(f"""CREATE TABLE IF NOT EXISTS main.{LOG_TABLE} (
        table_name VARCHAR, file VARCHAR, format VARCHAR, layout VARCHAR, mapping VARCHAR,
        rows_read BIGINT, rows_added BIGINT, rows_already_present BIGINT, rows_rejected BIGINT,
        ingested_at TIMESTAMP)""")


def ingest(
    ws: Workspace,
    table: str,
    paths: Sequence[Path],
    *,
    column_map: Mapping[str, str] | None = None,
    layout: Layout = "auto",
    dimensions: Sequence[str] = (),
    fmt: str | None = None,
    delimiter: str | None = None,
    on_error: OnError = "fail",
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    """Validate ``paths`` against the ``table`` contract and add their new rows atomically."""
    explicit = dict(ws.config.columns.for_table(table)) if table in CONTRACTS else {}
    explicit.update(column_map or {})
    say = progress or (lambda _msg: None)
    scratch = ws.scratch_dir / f"stage-{os.getpid()}-{uuid.uuid4().hex[:8]}.duckdb"
    with ws.connection() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH {sql_string(scratch.as_posix())} AS stage")
        try:
            batch = build_batch(
                con,
                table,
                paths,
                column_map=explicit,
                taxonomy=ws.config.taxonomy,
                existing_types={
                    k: v
                    for k, v in _existing_types(con, table).items()
                    if k not in {c.name for c in CONTRACTS[table].columns}
                },
                schema="stage",
                layout=layout,
                dimensions=dimensions,
                fmt=fmt,
                delimiter=delimiter,
                progress=say,
            )
            say("checking against the workspace")
            _check_conflicts(con, batch, table)
            _check_references(con, batch, table)
            problems, more = collect_problems(con, batch, ws.config.taxonomy)
            if problems and on_error == "fail":
                raise InputError(problems, more)
            say("writing")
            return _write(con, batch, table, problems)
        finally:
            con.execute("DETACH stage")
            for leftover in (scratch, scratch.with_suffix(".duckdb.wal")):
                leftover.unlink(missing_ok=True)


def _write(con: Any, batch: Batch, table: str, problems: list[Problem]) -> IngestResult:
    key = CONTRACTS[table].key
    on = " AND ".join(f"t.{quote_ident(c)} = b.{quote_ident(c)}" for c in key)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE bad_keys AS
        SELECT DISTINCT __file_idx, {LINE} FROM {batch.bad}""")
    con.execute("CREATE OR REPLACE TEMP TABLE file_names (idx INTEGER, file VARCHAR)")
    con.executemany(
        "INSERT INTO file_names VALUES (?, ?)", [[i, f.file] for i, f in enumerate(batch.files)]
    )
    good = (
        f"FROM {batch.rows} b ANTI JOIN bad_keys k "
        f"ON b.__file_idx = k.__file_idx AND b.{LINE} = k.{LINE}"
    )
    target = f"main.{quote_ident(table)}"
    con.execute("BEGIN TRANSACTION")
    try:
        _ensure_internal_tables(con)
        columns = _create_or_extend(con, table, batch.extra_types)
        before = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        n_good = con.execute(f"SELECT count(*) {good}").fetchone()[0]
        col_sql = ", ".join(f"b.{quote_ident(c)}" for c in columns)
        con.execute(
            f"INSERT INTO {target} ({', '.join(quote_ident(c) for c in columns)}) "
            f"SELECT {col_sql} FROM (SELECT b.* {good}) b ANTI JOIN {target} t ON {on}"
        )
        after = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        n_rejected = con.execute("SELECT count(*) FROM bad_keys").fetchone()[0]
        con.execute(f"""INSERT INTO main.{REJECTS_TABLE}
            SELECT '{table}', f.file, b.{LINE}, b.col, b.reason, now()::TIMESTAMP
            FROM {batch.bad} b JOIN file_names f ON f.idx = b.__file_idx""")
        rows_added = int(after) - int(before)
        for f in batch.files:
            con.execute(
                f"INSERT INTO main.{LOG_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                [
                    table,
                    f.file,
                    f.format,
                    f.layout,
                    str(f.mapping),
                    f.rows_read,
                    rows_added if len(batch.files) == 1 else None,
                    None,
                    None,
                ],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return IngestResult(
        table=table,
        files=tuple(batch.files),
        rows_read=sum(f.rows_read for f in batch.files),
        rows_added=rows_added,
        rows_already_present=int(n_good) - rows_added,
        rows_rejected=int(n_rejected),
        problems=tuple(problems),
    )
