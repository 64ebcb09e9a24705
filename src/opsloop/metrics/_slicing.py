"""Slice dimensions for Ibis-based metrics: checking, deriving ``week``/``day``, keys.

Any column of the (joined) annotation table is a dimension. Two are derived
from ``submitted_at`` when the table has no such column: ``day`` (the UTC date)
and ``week`` (the date of the week's Monday, ISO 8601 weeks). Slice values are
compared as strings; a null value becomes ``(missing)``.

>>> import pyarrow as pa, ibis
>>> t = ibis.memtable(pa.table({"item_id": ["a"], "vendor": [None]}, pa.schema(
...     [("item_id", pa.string()), ("vendor", pa.string())])))
>>> with_dimensions(t, ["vendor"]).select("vendor").to_pyarrow().to_pylist()
[{'vendor': '(missing)'}]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import pyarrow as pa

from opsloop.errors import UsageError

MISSING = "(missing)"
DERIVED = ("week", "day")


def as_ibis(table: Any, what: str) -> ibis.Table:
    """An Ibis table from an Ibis or pyarrow table."""
    if isinstance(table, ibis.Table):
        return table
    if isinstance(table, pa.Table):
        return ibis.memtable(table)
    raise UsageError(f"{what} must be a pyarrow or Ibis table, not {type(table).__name__}")


def require_columns(table: ibis.Table, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UsageError(
            f"{what} has no column(s) {', '.join(missing)} (have: {', '.join(table.columns)})"
        )


def check_dimensions(columns: Sequence[str], by: Sequence[str], what: str) -> None:
    """Raise a :class:`UsageError` naming the first dimension that does not exist."""
    have = set(columns)
    for dim in by:
        if dim in have:
            continue
        if dim in DERIVED and "submitted_at" in have:
            continue
        if dim in DERIVED:
            raise UsageError(f"dimension {dim!r} is derived from submitted_at, which {what} lacks")
        usable = sorted(c for c in have if not c.startswith("__"))
        usable += [d for d in DERIVED if "submitted_at" in have and d not in have]
        raise UsageError(f"unknown dimension {dim!r} (available: {', '.join(usable)})")


def with_dimensions(table: ibis.Table, by: Sequence[str]) -> ibis.Table:
    """``table`` with every dimension in ``by`` as a non-null string column."""
    out: dict[str, ibis.Value] = {}
    for dim in by:
        if dim in table.columns:
            col = table[dim]
        elif dim == "week":
            col = table.submitted_at.truncate("W").date()
        else:
            col = table.submitted_at.date()
        out[dim] = col.cast("string").fill_null(MISSING)
    return table.mutate(**out) if out else table


def slice_key(row: dict[str, Any], by: Sequence[str]) -> dict[str, str]:
    return {d: MISSING if row[d] is None else str(row[d]) for d in by}
