"""Read files into an Arrow table through the same mapping and validation as ingestion.

Analyses that run directly on a file (``opsloop agreement labels.csv``) use
this: nothing is written anywhere, and bad input raises the same located
:class:`~opsloop.errors.InputError` as ``opsloop ingest``. Repeat rows follow the
repeat policy as on a workspace: ``latest`` (default) keeps the newest row per key
(by the table's time column, then file order), ``first`` the oldest, ``keep-all``
every row (with ``opsloop_nth``, its rank among the rows of its key), ``error``
makes each repeat a located error. How many rows the policy
set aside is in the table's schema metadata (:func:`repeats_set_aside`).

An analysis that needs only the item, rater, label and task of each row reads
with :func:`opsloop.io.read_labels` instead: one scan, those columns coded once,
the same errors (it comes back here for anything it does not handle).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa

from opsloop.config import REPEAT_POLICIES, Taxonomy
from opsloop.io._batch import Batch, Layout, build_batch, raise_if_problems
from opsloop.io._readers import LINE, quote_ident
from opsloop.schema import CONTRACTS, NTH_COLUMN

SET_ASIDE_KEY = b"opsloop.repeats_set_aside"


def check_policy(repeats: str) -> str:
    """``repeats`` if it is a repeat policy, else the engine's :class:`UsageError` naming them.

    (The engine, and Ibis with it, is loaded only to say what is wrong.)
    """
    if repeats in REPEAT_POLICIES:
        return repeats
    from opsloop.engine import check_repeat_policy

    return check_repeat_policy(repeats)


def read_table(
    paths: Sequence[Path] | Path,
    table: str = "annotations",
    *,
    column_map: Mapping[str, str] | None = None,
    taxonomy: Taxonomy | None = None,
    layout: Layout = "auto",
    dimensions: Sequence[str] = (),
    fmt: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    columns: Sequence[str] | None = None,
    repeats: str = "latest",
) -> pa.Table:
    """Files -> one validated Arrow table in the ``table`` contract (plus extra columns).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("question,worker,answer\\nq1,w1,yes\\nq1,w1,no\\n")
    >>> t = read_table(p)
    >>> t.select(["item_id", "rater_id", "label"]).to_pylist(), repeats_set_aside(t)
    ([{'item_id': 'q1', 'rater_id': 'w1', 'label': 'no'}], 1)
    """
    policy = check_policy(repeats)
    con = duckdb.connect()
    try:
        batch, names = _checked_batch(
            con, paths, table, policy, column_map=column_map, taxonomy=taxonomy, layout=layout,
            dimensions=dimensions, fmt=fmt, delimiter=delimiter, sheet=sheet, columns=columns,
        )  # fmt: skip
        query, n_set_aside = _select_under_policy(con, batch, names, policy)
        result: pa.Table = con.execute(query).to_arrow_table()
        metadata = dict(result.schema.metadata or {})
        metadata[SET_ASIDE_KEY] = str(n_set_aside).encode()
        return result.replace_schema_metadata(metadata)
    finally:
        con.close()


def read_relation(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path] | Path,
    table: str = "annotations",
    *,
    column_map: Mapping[str, str] | None = None,
    taxonomy: Taxonomy | None = None,
    layout: Layout = "auto",
    dimensions: Sequence[str] = (),
    fmt: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    columns: Sequence[str] | None = None,
    repeats: str = "latest",
) -> tuple[duckdb.DuckDBPyRelation, int]:
    """:func:`read_table`'s rows kept in DuckDB: (their relation, rows the policy set aside).

    The same checks and errors, but no copy to Arrow: the checked rows are stored
    once in a temporary table of ``con`` (an in-memory connection the caller owns
    and closes; the scratch tables and views of the batch live in it too), and
    the repeat policy applies to that table, not to the files again.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("question,worker,answer\\nq1,w1,yes\\nq1,w1,no\\n")
    >>> rel, n_set_aside = read_relation(duckdb.connect(), p)
    >>> rel.select("item_id, rater_id, label").fetchall(), n_set_aside
    ([('q1', 'w1', 'no')], 1)
    """
    policy = check_policy(repeats)
    batch, names = _checked_batch(
        con, paths, table, policy, column_map=column_map, taxonomy=taxonomy, layout=layout,
        dimensions=dimensions, fmt=fmt, delimiter=delimiter, sheet=sheet, columns=columns,
    )  # fmt: skip
    cols = ", ".join(quote_ident(c) for c in names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE read_checked AS "
        f"SELECT {cols}, __file_idx, {LINE} FROM {batch.rows}"
    )
    checked = replace(batch, rows="temp.read_checked")
    query, n_set_aside = _select_under_policy(con, checked, names, policy)
    if n_set_aside or policy == "keep-all":  # rank the rows once, not in every query
        con.execute(f"CREATE OR REPLACE TEMP TABLE read_kept AS {query}")
        return con.table("read_kept"), n_set_aside
    return con.sql(query), n_set_aside


def _checked_batch(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path] | Path,
    table: str,
    policy: str,
    *,
    column_map: Mapping[str, str] | None,
    taxonomy: Taxonomy | None,
    layout: Layout,
    dimensions: Sequence[str],
    fmt: str | None,
    delimiter: str | None,
    sheet: str | None,
    columns: Sequence[str] | None,
) -> tuple[Batch, list[str]]:
    """The files read and checked in ``con`` (InputError on a problem), and the columns kept."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    taxonomy = taxonomy or Taxonomy()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    batch = build_batch(
        con,
        table,
        files,
        column_map=dict(column_map or {}),
        taxonomy=taxonomy,
        existing_types={},
        schema="main",
        layout=layout,
        dimensions=dimensions,
        fmt=fmt,
        delimiter=delimiter,
        sheet=sheet,
        columns=columns,
        refuse_repeats=policy == "error",
    )
    raise_if_problems(con, batch, taxonomy)
    return batch, [c.name for c in CONTRACTS[table].columns] + list(batch.extra_types)


def _select_under_policy(
    con: duckdb.DuckDBPyConnection, batch: Batch, names: list[str], policy: str
) -> tuple[str, int]:
    """The query for the rows the policy keeps, and how many it sets aside."""
    cols = ", ".join(quote_ident(c) for c in names)
    arrival = f"ORDER BY __file_idx, {LINE}"
    contract = CONTRACTS[batch.table]
    if policy == "error" or not contract.is_event_table:
        return f"SELECT {cols} FROM {batch.rows}", 0  # one row per key: order is immaterial
    keys = ", ".join(quote_ident(c) for c in contract.key)
    time_col = contract.time_column if contract.time_column in names else None
    if policy == "keep-all":  # every row, ranked among the rows of its key
        by_time = f"{quote_ident(time_col)} ASC NULLS FIRST, " if time_col else ""
        nth = f"row_number() OVER (PARTITION BY {keys} ORDER BY {by_time}__file_idx, {LINE})"
        return f"SELECT {cols}, {nth} AS {NTH_COLUMN} FROM {batch.rows} {arrival}", 0
    repeated = con.execute(
        f"SELECT coalesce(sum(n - 1), 0) FROM "
        f"(SELECT count(*) AS n FROM {batch.rows} GROUP BY {keys} HAVING count(*) > 1)"
    ).fetchone()
    n_set_aside = int(repeated[0]) if repeated else 0
    if not n_set_aside:
        return f"SELECT {cols} FROM {batch.rows}", 0
    way = "DESC" if policy == "latest" else "ASC"
    order = f"__file_idx {way}, {LINE} {way}"
    if time_col:
        nulls = "NULLS LAST" if policy == "latest" else "NULLS FIRST"
        order = f"{quote_ident(time_col)} {way} {nulls}, {order}"
    query = (
        f"SELECT {cols} FROM {batch.rows} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1 {arrival}"
    )
    return query, n_set_aside


def repeats_set_aside(table: pa.Table) -> int:
    """Rows :func:`read_table`'s repeat policy left out (0 for a table from elsewhere)."""
    value = (table.schema.metadata or {}).get(SET_ASIDE_KEY)
    return int(value) if value else 0
