"""Stored rows as events: batch, arrival order and the rank of each row under its key.

Every row of a contract table carries four managed columns (see
:data:`opsloop.schema.MANAGED_COLUMNS`): ``opsloop_batch`` (the ingest batch it came
in, for ``opsloop undo``), ``opsloop_seq`` (arrival order: batch, then file, then
line), ``opsloop_nth`` (1 for the first row of its key, 2 for the second …, ordered
by the table's time column and then arrival) and ``opsloop_latest`` (the newest row
of its key). Analyses read one row per key (``opsloop_latest`` or ``opsloop_nth = 1``)
or all of them, by the repeat policy; nothing is overwritten, so re-labels and
re-reviews are kept as the events they are.

Ranks are maintained incrementally: rows of a key seen once get ``(1, true)`` on
insert, and only keys with several rows are re-ranked with a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opsloop.io._readers import quote_ident
from opsloop.schema import (
    BATCH_COLUMN,
    CONTRACTS,
    LATEST_COLUMN,
    MANAGED_COLUMNS,
    NTH_COLUMN,
    SEQ_COLUMN,
)

# seq = batch · 2^40 + file · 2^32 + line: ordered by arrival without a sort
BATCH_SHIFT = 1 << 40
FILE_SHIFT = 1 << 32


def seq_expr(batch_id: int, file_col: str, line_col: str) -> str:
    """SQL for the arrival order of a row from file ``file_col`` at line ``line_col``."""
    return f"({batch_id} * {BATCH_SHIFT} + {file_col} * {FILE_SHIFT} + {line_col})"


def key_columns(table: str) -> tuple[str, ...]:
    return CONTRACTS[table].key


def _key_list(table: str, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote_ident(c) for c in key_columns(table))


def existing_columns(con: Any, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? AND table_catalog = current_database()",
        [table],
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def migrate_managed_columns(con: Any, table: str) -> None:
    """Give a table stored before rows were kept as events its managed columns.

    Such a table had one row per key, so every row is first and latest; its
    batch is 0 (before the batch log) and its arrival order the row order.
    """
    have = existing_columns(con, table)
    if not have or all(c in have for c in MANAGED_COLUMNS):
        return
    target = f"main.{quote_ident(table)}"
    for name, sql_type in MANAGED_COLUMNS.items():
        if name not in have:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} {sql_type}")
    con.execute(
        f"UPDATE {target} SET {BATCH_COLUMN} = coalesce({BATCH_COLUMN}, 0), "
        f"{SEQ_COLUMN} = coalesce({SEQ_COLUMN}, rowid + 1), "
        f"{NTH_COLUMN} = coalesce({NTH_COLUMN}, 1), "
        f"{LATEST_COLUMN} = coalesce({LATEST_COLUMN}, true)"
    )


def order_by(table: str, alias: str = "") -> str:
    """Rows of one key in event order: the table's time column (if any), then arrival."""
    prefix = f"{alias}." if alias else ""
    time_col = CONTRACTS[table].time_column
    parts = [f"{prefix}{quote_ident(time_col)} ASC NULLS FIRST"] if time_col else []
    parts.append(f"{prefix}{SEQ_COLUMN} ASC")
    return ", ".join(parts)


def rerank_keys(con: Any, table: str, keys_table: str) -> int:
    """Recompute ``opsloop_nth``/``opsloop_latest`` for the keys listed in ``keys_table``.

    Returns the number of stored rows whose key has more than one row.
    """
    target = f"main.{quote_ident(table)}"
    keys = _key_list(table)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE __ranks AS
        SELECT {SEQ_COLUMN} AS seq,
               row_number() OVER w AS nth,
               row_number() OVER (PARTITION BY {keys} ORDER BY {_desc(order_by(table))}) = 1
                   AS latest,
               count(*) OVER (PARTITION BY {keys}) AS n
        FROM {target} SEMI JOIN {keys_table} USING ({keys})
        WINDOW w AS (PARTITION BY {keys} ORDER BY {order_by(table)})
    """)
    con.execute(f"""
        UPDATE {target} SET {NTH_COLUMN} = r.nth, {LATEST_COLUMN} = r.latest
        FROM __ranks r WHERE {target}.{SEQ_COLUMN} = r.seq
    """)
    n = con.execute("SELECT count(*) FROM __ranks WHERE n > 1").fetchone()[0]
    con.execute("DROP TABLE __ranks")
    return int(n)


def _desc(order: str) -> str:
    """Reverse an ORDER BY list (ASC NULLS FIRST -> DESC NULLS LAST)."""
    return order.replace("ASC NULLS FIRST", "DESC NULLS LAST").replace(" ASC", " DESC")


def repeat_counts(con: Any, tables: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per stored table: (rows, rows that are not the latest of their key)."""
    out: dict[str, tuple[int, int]] = {}
    for table in tables:
        have = existing_columns(con, table)
        if not have:
            continue
        if LATEST_COLUMN not in have:
            n = con.execute(f"SELECT count(*) FROM main.{quote_ident(table)}").fetchone()[0]
            out[table] = (int(n), 0)
            continue
        n, older = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE NOT {LATEST_COLUMN}) "
            f"FROM main.{quote_ident(table)}"
        ).fetchone()
        out[table] = (int(n), int(older))
    return out
