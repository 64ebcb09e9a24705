"""The batch log: what each ingest added, and taking one batch back (``opsloop undo``).

Every ingest is one numbered batch, recorded in ``_opsloop_batches`` (one row per
batch) and ``_opsloop_ingest_log`` (one row per file). :func:`undo` removes the
rows of one batch in one transaction, re-ranks the repeat labels it touched,
raises the data version (so results computed before are marked stale) and keeps
the batch in the log, marked undone. It refuses when rows of another table refer
to rows that would be left without a referent (undo that batch first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsloop.engine import Workspace, bump_data_version
from opsloop.errors import UsageError
from opsloop.io._readers import quote_ident
from opsloop.io._store import existing_columns, rerank_keys
from opsloop.schema import BATCH_COLUMN, CONTRACTS, INGEST_ORDER

LOG_TABLE = "_opsloop_ingest_log"
BATCHES_TABLE = "_opsloop_batches"
REJECTS_TABLE = "_opsloop_rejects"


def ensure_log_tables(con: Any) -> None:
    """Create the log tables (and give a log from before batches its batch column)."""
    con.execute(f"""CREATE TABLE IF NOT EXISTS main.{REJECTS_TABLE} (
        table_name VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, reason VARCHAR,
        ingested_at TIMESTAMP)""")
    con.execute(f"""CREATE TABLE IF NOT EXISTS main.{LOG_TABLE} (
        table_name VARCHAR, file VARCHAR, format VARCHAR, layout VARCHAR, mapping VARCHAR,
        rows_read BIGINT, rows_added BIGINT, rows_already_present BIGINT, rows_rejected BIGINT,
        ingested_at TIMESTAMP, batch_id BIGINT)""")
    con.execute(f"ALTER TABLE main.{LOG_TABLE} ADD COLUMN IF NOT EXISTS batch_id BIGINT")
    con.execute(f"""CREATE TABLE IF NOT EXISTS main.{BATCHES_TABLE} (
        batch_id BIGINT PRIMARY KEY, table_name VARCHAR, files VARCHAR, repeats VARCHAR,
        rows_read BIGINT, rows_added BIGINT, rows_already_present BIGINT,
        rows_set_aside BIGINT, rows_rejected BIGINT, ingested_at TIMESTAMP,
        undone_at TIMESTAMP)""")


def next_batch_id(con: Any) -> int:
    row = con.execute(f"SELECT coalesce(max(batch_id), 0) + 1 FROM main.{BATCHES_TABLE}").fetchone()
    return int(row[0])


@dataclass(frozen=True)
class BatchInfo:
    """One ingest batch: what it read and added, and whether it was undone."""

    batch_id: int
    table: str
    files: str
    repeats: str
    rows_read: int
    rows_added: int
    rows_already_present: int
    rows_set_aside: int
    rows_rejected: int
    ingested_at: datetime | None
    undone_at: datetime | None

    @property
    def status(self) -> str:
        return "undone" if self.undone_at is not None else "stored"

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "table": self.table,
            "files": self.files,
            "repeats": self.repeats,
            "rows_read": self.rows_read,
            "rows_added": self.rows_added,
            "rows_already_present": self.rows_already_present,
            "rows_set_aside": self.rows_set_aside,
            "rows_rejected": self.rows_rejected,
            "ingested_at": self.ingested_at,
            "status": self.status,
            "undone_at": self.undone_at,
        }


def list_batches(ws: Workspace) -> tuple[BatchInfo, ...]:
    """Every logged batch, oldest first (rows stored before batches were logged: batch 0)."""
    if not ws.store_path.exists():
        return ()
    with ws.connection() as con:
        out: list[BatchInfo] = []
        legacy = _legacy_rows(con)
        for table, n in legacy.items():
            out.append(
                BatchInfo(
                    0, table, "(stored before batches were logged)", "", n, n, 0, 0, 0, None, None
                )
            )
        if not existing_columns(con, BATCHES_TABLE):
            return tuple(out)
        rows = con.execute(
            f"SELECT batch_id, table_name, files, repeats, rows_read, rows_added, "
            f"rows_already_present, rows_set_aside, rows_rejected, ingested_at, undone_at "
            f"FROM main.{BATCHES_TABLE} ORDER BY batch_id"
        ).fetchall()
    for r in rows:
        read, added, present, set_aside, rejected = (int(x or 0) for x in r[4:9])
        out.append(
            BatchInfo(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                read,
                added,
                present,
                set_aside,
                rejected,
                r[9],
                r[10],
            )
        )
    return tuple(out)


def _legacy_rows(con: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for table in INGEST_ORDER:
        cols = existing_columns(con, table)
        if not cols:
            continue
        where = f"{BATCH_COLUMN} = 0" if BATCH_COLUMN in cols else "true"
        n = con.execute(f"SELECT count(*) FROM main.{quote_ident(table)} WHERE {where}").fetchone()
        if n and n[0]:
            out[table] = int(n[0])
    return out


@dataclass(frozen=True)
class UndoResult:
    """What ``undo`` removed, and the derived results now stale."""

    batch_id: int
    table: str
    rows_removed: int
    stale_derived: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "table": self.table,
            "rows_removed": self.rows_removed,
            "stale_derived": list(self.stale_derived),
        }


def undo(ws: Workspace, batch_id: int) -> UndoResult:
    """Remove the rows of batch ``batch_id`` atomically; the batch stays in the log, undone."""
    info = _find_batch(ws, batch_id)
    table = info.table
    target = f"main.{quote_ident(table)}"
    keys = ", ".join(quote_ident(c) for c in CONTRACTS[table].key)
    with ws.connection() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            _refuse_orphans(con, info)
            removed = 0
            if existing_columns(con, table):
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE __undo_keys AS SELECT DISTINCT {keys} "
                    f"FROM {target} WHERE {BATCH_COLUMN} = {batch_id}"
                )
                removed = int(
                    con.execute(
                        f"SELECT count(*) FROM {target} WHERE {BATCH_COLUMN} = {batch_id}"
                    ).fetchone()[0]
                )
                con.execute(f"DELETE FROM {target} WHERE {BATCH_COLUMN} = {batch_id}")
                if CONTRACTS[table].is_event_table:
                    rerank_keys(con, table, "__undo_keys")
            con.execute(
                f"UPDATE main.{BATCHES_TABLE} SET undone_at = now()::TIMESTAMP "
                f"WHERE batch_id = {batch_id}"
            )
            bump_data_version(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return UndoResult(batch_id, table, removed, tuple(ws.stale_derived()))


def _find_batch(ws: Workspace, batch_id: int) -> BatchInfo:
    batches = {b.batch_id: b for b in list_batches(ws) if b.batch_id > 0}
    if batch_id not in batches:
        known = ", ".join(str(b) for b in sorted(batches)) or "none"
        hint = (
            "; rows stored before batches were logged cannot be undone by batch"
            if batch_id == 0
            else ""
        )
        raise UsageError(f"no batch {batch_id} (batches: {known}; see `opsloop batches`){hint}")
    info = batches[batch_id]
    if info.undone_at is not None:
        raise UsageError(f"batch {batch_id} was already undone at {info.undone_at:%Y-%m-%d %H:%M}")
    return info


def _refuse_orphans(con: Any, info: BatchInfo) -> None:
    """Refuse when rows of another table refer to keys only this batch holds."""
    target = f"main.{quote_ident(info.table)}"
    for name, contract in CONTRACTS.items():
        for cols, referred in contract.references:
            if referred != info.table or not existing_columns(con, name):
                continue

            def on(alias: str, cols: tuple[str, ...] = cols) -> str:
                return " AND ".join(f"r.{quote_ident(c)} = {alias}.{quote_ident(c)}" for c in cols)

            row = con.execute(f"""
                SELECT count(*), min(r.{BATCH_COLUMN})
                FROM main.{quote_ident(name)} r
                SEMI JOIN (SELECT * FROM {target} WHERE {BATCH_COLUMN} = {info.batch_id}) gone
                    ON {on("gone")}
                ANTI JOIN (SELECT * FROM {target} WHERE {BATCH_COLUMN} <> {info.batch_id}) kept
                    ON {on("kept")}
            """).fetchone()
            if row and row[0]:
                raise UsageError(
                    f"batch {info.batch_id} ({info.table}) holds rows that {int(row[0]):,} "
                    f"{name} row(s) refer to (from batch {row[1]}); undo that batch first"
                )
