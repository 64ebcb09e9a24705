"""The wide layout (one column per rater) and when to assume it.

A wide file is never guessed from missing columns alone: an items file
(``id,text,category``) or a tool export (``status``, ``_server_id``) would become
labels "given" by those columns. Without ``--layout wide`` a file is read as wide
only when every candidate rater column looks like a rater's labels:

* with a taxonomy, every value of the column is one of its labels;
* without one, the column's values form a small vocabulary (at most
  :data:`MAX_VOCABULARY` distinct values) that it shares with the other columns
  (at least half of its distinct values occur in some other candidate column).

Otherwise the caller reports the missing columns and names the column that did
not look like a rater.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opsloop.config import TaskTaxonomy
from opsloop.errors import InputError
from opsloop.io._columns import ColumnResolution
from opsloop.io._readers import LINE, SourceRelation, quote_ident

MAX_VOCABULARY = 100
MIN_SHARED = 0.5


def rater_columns(
    source: SourceRelation, res: ColumnResolution, dimensions: Sequence[str]
) -> list[str]:
    """The columns a wide file would treat as raters (all but mapped and kept ones)."""
    keep = {*res.mapping.values(), *dimensions}
    return [c for c in source.columns if c not in keep]


def _text(col: str) -> str:
    return f"nullif(trim(CAST({quote_ident(col)} AS VARCHAR)), '')"


def not_a_rater(
    con: Any, source: SourceRelation, candidates: Sequence[str], taxonomy: TaskTaxonomy
) -> str | None:
    """Why the candidate columns are not all raters' labels (None: they look like raters)."""
    if len(candidates) < 2:
        return "fewer than two columns could be raters"
    counts = con.execute(
        "SELECT "
        + ", ".join(f"approx_count_distinct({_text(c)})" for c in candidates)
        + f" FROM {source.name}"
    ).fetchone()
    for col, n in zip(candidates, counts, strict=True):
        if int(n) > MAX_VOCABULARY:
            return f"column {col!r} has about {int(n):,} distinct values, not a label vocabulary"
    lists = con.execute(
        "SELECT "
        + ", ".join(
            f"list(DISTINCT {_text(c)}) FILTER (WHERE {_text(c)} IS NOT NULL)" for c in candidates
        )
        + f" FROM {source.name}"
    ).fetchone()
    vocab = {c: set(v or ()) for c, v in zip(candidates, lists, strict=True)}
    labels = set(taxonomy.labels)
    for col, values in vocab.items():
        if not values:
            continue
        if labels:
            outside = sorted(values - labels)
            if outside:
                return f"column {col!r} holds {outside[0]!r}, which is not a label of the taxonomy"
            continue
        others = set().union(*(v for c, v in vocab.items() if c != col))
        if len(values & others) < MIN_SHARED * len(values):
            shown = ", ".join(repr(v) for v in sorted(values)[:3])
            return f"column {col!r} holds values ({shown} …) that no other column uses"
    return None


def unpivot_wide(
    con: Any,
    source: SourceRelation,
    res: ColumnResolution,
    target: str,
    dimensions: Sequence[str],
) -> SourceRelation:
    """One column per rater -> long (item_id, rater_id, label); empty cells are dropped.

    Mapped contract columns and ``dimensions`` are carried along; every other
    column is a rater.
    """
    for dim in dimensions:
        if dim not in source.columns:
            raise InputError.single(
                source.file, f"--keep {dim!r}: no such column (have: {', '.join(source.columns)})"
            )
    keep = [*res.mapping.values(), *(d for d in dimensions if d not in res.mapping.values())]
    raters = rater_columns(source, res, dimensions)
    if not raters:
        raise InputError.single(source.file, "wide layout needs one column per rater; found none")
    rater_cols = ", ".join(quote_ident(c) for c in raters)
    casted = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in raters)
    kept = ", ".join(quote_ident(c) for c in [*keep, LINE])
    con.execute(
        f"CREATE OR REPLACE TABLE {target} AS "
        f"SELECT * FROM (UNPIVOT (SELECT {kept}, {casted} FROM {source.name}) "
        f"ON {rater_cols} INTO NAME rater_id VALUE label) "
        f"WHERE label IS NOT NULL AND trim(label) <> ''"
    )
    columns = tuple(r[0] for r in con.execute(f"DESCRIBE {target}").fetchall() if r[0] != LINE)
    return SourceRelation(source.file, source.format, target, columns, source.unit, (), 0)
