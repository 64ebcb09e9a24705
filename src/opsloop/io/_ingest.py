"""Ingestion into a workspace: all-or-nothing, idempotent, every label kept.

``ingest(ws, "annotations", [path])`` reads the files (CSV, TSV, Parquet, JSONL,
Excel, Label Studio and Argilla exports; long or wide), maps and validates them, and then, in one
transaction, adds the rows that are not already present as one numbered *batch*
(``opsloop batches`` lists them, ``opsloop undo BATCH`` takes one back).

Repeat rows (a key given again: the same rater labelling the same item and task
twice, a re-review, a re-label in a later file) follow the repeat policy
(``--repeats``, ``[repeats] ingest`` in opsloop.toml):

* ``keep-all`` (default) and ``latest``: every label is stored as an event; the
  analyses choose which to use (by default the latest per key);
* ``first``: a row whose key is already stored, or came earlier in the batch, is
  set aside (counted, not stored);
* ``error``: such a row is a located error.

A row identical to a stored one (same key, label, id and time) is already present,
so ingesting a file twice adds nothing. A bad file raises
:class:`~opsloop.errors.InputError` (``file:line: column: reason`` for the first
problems plus a count of the rest) and the workspace is unchanged. With
``on_error="skip"`` bad rows go to the ``_opsloop_rejects`` table instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opsloop.config import RepeatPolicy
from opsloop.engine import Workspace, bump_data_version, check_repeat_policy, stage_name
from opsloop.errors import InputError, Problem
from opsloop.io._batch import Batch, FileReport, Layout, build_batch, collect_problems
from opsloop.io._batches import (
    BATCHES_TABLE,
    LOG_TABLE,
    REJECTS_TABLE,
    ensure_log_tables,
    next_batch_id,
)
from opsloop.io._readers import LINE, quote_ident, sql_string
from opsloop.io._store import existing_columns, migrate_managed_columns, rerank_keys, seq_expr
from opsloop.schema import BATCH_COLUMN, CONTRACTS, MANAGED_COLUMNS, SQL_TYPES

OnError = Literal["fail", "skip"]


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
    batch_id: int | None = None
    repeats: str = "keep-all"
    rows_set_aside: int = 0  # repeats not stored (policy "first")
    repeat_rows: int = 0  # stored rows whose key has more than one row (re-labels, re-reviews)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "batch": self.batch_id,
            "repeats": self.repeats,
            "files": [f.to_dict() for f in self.files],
            "rows_read": self.rows_read,
            "rows_added": self.rows_added,
            "rows_already_present": self.rows_already_present,
            "rows_set_aside": self.rows_set_aside,
            "repeat_rows": self.repeat_rows,
            "rows_rejected": self.rows_rejected,
            "problems": [str(p) for p in self.problems],
        }


def _key_on(table: str, left: str = "t", right: str = "b") -> str:
    return " AND ".join(
        f"{left}.{quote_ident(c)} = {right}.{quote_ident(c)}" for c in CONTRACTS[table].key
    )


def _identity_on(table: str, left: str = "t", right: str = "b") -> str:
    """Same key and same identity (``IS NOT DISTINCT FROM``: empty equals empty)."""
    idents = " AND ".join(
        f"{left}.{quote_ident(c)} IS NOT DISTINCT FROM {right}.{quote_ident(c)}"
        for c in CONTRACTS[table].identity
    )
    return f"{_key_on(table, left, right)} AND {idents}"


def _check_repeats_refused(con: Any, batch: Batch, table: str) -> None:
    """Policy ``error``: a row repeating a stored key with other values is a located problem."""
    contract = CONTRACTS[table]
    if not contract.is_event_table or not existing_columns(con, table):
        return
    first = contract.identity[0]
    target = f"main.{quote_ident(table)}"
    con.execute(f"""
        INSERT INTO {batch.bad}
        SELECT DISTINCT ON (b.__file_idx, b.{LINE}) b.__file_idx, b.{LINE}, '{first}',
               'repeats a key already in the workspace (' || {_shown(table, "t")}
               || ' is there); the repeat policy error refuses repeats (--repeats keep-all '
               || 'stores them, analyses then use the latest)'
        FROM {batch.rows} b JOIN {target} t ON {_key_on(table)}
        WHERE b.__pcol IS NULL AND NOT EXISTS (
            SELECT 1 FROM {target} s WHERE {_identity_on(table, "s", "b")})
    """)


def _shown(table: str, alias: str) -> str:
    col = CONTRACTS[table].identity[0]
    return f"'{col} ' || coalesce('''' || {alias}.{quote_ident(col)} || '''', 'empty')"


def _check_references(con: Any, batch: Batch, table: str) -> None:
    for cols, target in CONTRACTS[table].references:
        if not existing_columns(con, target):
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
    """Create the table (contract + managed columns) or add new extra columns; return columns."""
    contract = CONTRACTS[table]
    existing = existing_columns(con, table)
    target = f"main.{quote_ident(table)}"
    if not existing:
        cols = [f"{quote_ident(c.name)} {SQL_TYPES[c.type]}" for c in contract.columns]
        cols += [f"{quote_ident(n)} {t}" for n, t in extra_types.items()]
        cols += [f"{quote_ident(n)} {t}" for n, t in MANAGED_COLUMNS.items()]
        con.execute(f"CREATE TABLE {target} ({', '.join(cols)})")
    else:
        migrate_managed_columns(con, table)
        for name, sql_type in extra_types.items():
            if name not in existing:
                con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} {sql_type}")
    return [c.name for c in contract.columns] + list(extra_types)


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
    sheet: str | None = None,
    columns: Sequence[str] | None = None,
    on_error: OnError = "fail",
    repeats: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    """Validate ``paths`` against the ``table`` contract and add their new rows atomically."""
    policy = check_repeat_policy(repeats or ws.config.repeats.ingest)
    explicit = dict(ws.config.columns.for_table(table)) if table in CONTRACTS else {}
    explicit.update(column_map or {})
    say = progress or (lambda _msg: None)
    ws.clean_stale_stages()
    scratch = ws.scratch_dir / stage_name(os.getpid(), uuid.uuid4().hex[:8])
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
                    for k, v in existing_columns(con, table).items()
                    if k not in {c.name for c in CONTRACTS[table].columns}
                    and k not in MANAGED_COLUMNS
                },
                schema="stage",
                layout=layout,
                dimensions=dimensions,
                fmt=fmt,
                delimiter=delimiter,
                sheet=sheet,
                columns=columns,
                refuse_repeats=policy == "error",
                progress=say,
            )
            say("checking against the workspace")
            if policy == "error":
                _check_repeats_refused(con, batch, table)
            _check_references(con, batch, table)
            problems, more = collect_problems(con, batch, ws.config.taxonomy)
            if problems and on_error == "fail":
                raise InputError(problems, more)
            say("writing")
            return _write(con, batch, table, problems, policy)
        finally:
            con.execute("DETACH stage")
            for leftover in (scratch, scratch.with_suffix(".duckdb.wal")):
                leftover.unlink(missing_ok=True)


def _new_rows_sql(batch: Batch, table: str, policy: RepeatPolicy) -> str:
    """The good rows of the batch that are not already stored (and, for ``first``, not repeats)."""
    target = f"main.{quote_ident(table)}"
    good = (
        f"(SELECT b.* FROM {batch.rows} b ANTI JOIN bad_keys k "
        f"ON b.__file_idx = k.__file_idx AND b.{LINE} = k.{LINE})"
    )
    contract = CONTRACTS[table]
    if not contract.is_event_table:
        # one row per key: a key already stored keeps its row
        return f"SELECT b.* FROM {good} b ANTI JOIN {target} t ON {_key_on(table)}"
    fresh = f"SELECT b.* FROM {good} b WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {_identity_on(table)})"
    if policy != "first":
        return fresh
    keys = ", ".join(quote_ident(c) for c in contract.key)
    return (
        f"SELECT b.* FROM ({fresh}) b ANTI JOIN {target} t ON {_key_on(table)} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY b.__file_idx, b.{LINE}) = 1"
    )


def _insert(con: Any, batch: Batch, table: str, policy: RepeatPolicy, batch_id: int) -> None:
    columns = _create_or_extend(con, table, batch.extra_types)
    names = [*columns, *MANAGED_COLUMNS]
    values = [f"b.{quote_ident(c)}" for c in columns] + [
        str(batch_id),
        seq_expr(batch_id, "b.__file_idx", f"b.{LINE}"),
        "1",
        "true",
    ]
    con.execute(
        f"INSERT INTO main.{quote_ident(table)} ({', '.join(quote_ident(c) for c in names)}) "
        f"SELECT {', '.join(values)} FROM ({_new_rows_sql(batch, table, policy)}) b"
    )


def _rank_repeats(con: Any, table: str, batch_id: int) -> int:
    """Re-rank the keys this batch repeated (within itself or against stored rows)."""
    if not CONTRACTS[table].is_event_table:
        return 0
    target = f"main.{quote_ident(table)}"
    keys = ", ".join(quote_ident(c) for c in CONTRACTS[table].key)
    new = f"(SELECT {keys} FROM {target} WHERE {BATCH_COLUMN} = {batch_id})"
    old = f"(SELECT {keys} FROM {target} WHERE {BATCH_COLUMN} <> {batch_id})"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE __repeat_keys AS
        SELECT {keys} FROM {new} n GROUP BY ALL HAVING count(*) > 1
        UNION
        SELECT DISTINCT {keys} FROM {new} n SEMI JOIN {old} o USING ({keys})
    """)
    n_keys = con.execute("SELECT count(*) FROM __repeat_keys").fetchone()[0]
    if not n_keys:
        return 0
    return rerank_keys(con, table, "__repeat_keys")


def _write(
    con: Any, batch: Batch, table: str, problems: list[Problem], policy: RepeatPolicy
) -> IngestResult:
    con.execute(f"""CREATE OR REPLACE TEMP TABLE bad_keys AS
        SELECT DISTINCT __file_idx, {LINE} FROM {batch.bad}""")
    con.execute("CREATE OR REPLACE TEMP TABLE file_names (idx INTEGER, file VARCHAR)")
    con.executemany(
        "INSERT INTO file_names VALUES (?, ?)", [[i, f.file] for i, f in enumerate(batch.files)]
    )
    target = f"main.{quote_ident(table)}"
    con.execute("BEGIN TRANSACTION")
    try:
        ensure_log_tables(con)
        batch_id = next_batch_id(con)
        had_table = bool(existing_columns(con, table))
        before = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0] if had_table else 0
        n_good = con.execute(
            f"SELECT count(*) FROM {batch.rows} b ANTI JOIN bad_keys k "
            f"ON b.__file_idx = k.__file_idx AND b.{LINE} = k.{LINE}"
        ).fetchone()[0]
        n_not_stored = (
            con.execute(
                f"SELECT count(*) FROM ({_new_rows_sql(batch, table, 'keep-all')})"
            ).fetchone()[0]
            if had_table
            else n_good
        )
        _insert(con, batch, table, policy, batch_id)
        after = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        repeat_rows = _rank_repeats(con, table, batch_id)
        n_rejected = con.execute("SELECT count(*) FROM bad_keys").fetchone()[0]
        con.execute(f"""INSERT INTO main.{REJECTS_TABLE}
            SELECT '{table}', f.file, b.{LINE}, b.col, b.reason, now()::TIMESTAMP
            FROM {batch.bad} b JOIN file_names f ON f.idx = b.__file_idx""")
        rows_added = int(after) - int(before)
        result = IngestResult(
            table=table,
            files=tuple(batch.files),
            rows_read=sum(f.rows_read for f in batch.files),
            rows_added=rows_added,
            rows_already_present=int(n_good) - int(n_not_stored),
            rows_rejected=int(n_rejected),
            problems=tuple(problems),
            batch_id=batch_id,
            repeats=policy,
            rows_set_aside=int(n_not_stored) - rows_added,
            repeat_rows=repeat_rows,
        )
        _log(con, result)
        bump_data_version(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def _log(con: Any, result: IngestResult) -> None:
    for f in result.files:
        con.execute(
            f"INSERT INTO main.{LOG_TABLE} (table_name, file, format, layout, mapping, rows_read, "
            "rows_added, rows_already_present, rows_rejected, ingested_at, batch_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
            [
                result.table,
                f.file,
                f.format,
                f.layout,
                str(f.mapping),
                f.rows_read,
                result.rows_added if len(result.files) == 1 else None,
                None,
                None,
                result.batch_id,
            ],
        )
    con.execute(
        f"INSERT INTO main.{BATCHES_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, NULL)",
        [
            result.batch_id,
            result.table,
            " ".join(f.file for f in result.files),
            result.repeats,
            result.rows_read,
            result.rows_added,
            result.rows_already_present,
            result.rows_set_aside,
            result.rows_rejected,
        ],
    )
