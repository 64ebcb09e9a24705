"""Read files into an Arrow table through the same mapping and validation as ingestion.

Analyses that run directly on a file (``opsloop agreement labels.csv``) use
this: nothing is written anywhere, and bad input raises the same located
:class:`~opsloop.errors.InputError` as ``opsloop ingest``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from opsloop.config import Taxonomy
from opsloop.io._batch import Layout, build_batch, raise_if_problems
from opsloop.io._readers import quote_ident
from opsloop.schema import CONTRACTS


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
) -> pa.Table:
    """Files -> one validated Arrow table in the ``table`` contract (plus extra columns).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("question,worker,answer\\nq1,w1,yes\\n")
    >>> read_table(p).select(["item_id", "rater_id", "label"]).to_pylist()
    [{'item_id': 'q1', 'rater_id': 'w1', 'label': 'yes'}]
    """
    files = [paths] if isinstance(paths, Path) else list(paths)
    taxonomy = taxonomy or Taxonomy()
    con = duckdb.connect()
    try:
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
        )
        raise_if_problems(con, batch, taxonomy)
        names = [c.name for c in CONTRACTS[table].columns] + list(batch.extra_types)
        cols = ", ".join(quote_ident(c) for c in names)
        result: pa.Table = con.execute(f"SELECT {cols} FROM {batch.rows}").to_arrow_table()
        return result
    finally:
        con.close()
