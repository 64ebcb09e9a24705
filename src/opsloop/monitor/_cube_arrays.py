"""The KPI cube's arrays from its query results (Arrow tables): codes, cells and sums.

The engine queries (:mod:`opsloop.monitor._cube_query`) return one row per day,
slice and (for the gold-judged pairs) label pair; these helpers turn them into
the cube's numpy arrays: each dimension's values met in the rows (sorted) and
codes into them, one cell per distinct (day, codes) and every measure summed per
cell (``np.bincount``), without a second pass over the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.monitor._cube import MEASURES, FloatArray, IntArray, JudgedPairs, dense_key


def merge_groups(parts: Sequence[pa.Table], group: Sequence[str]) -> pa.Table:
    """One row per group: the parts' sums added up (a measure missing from a part is 0).

    Summed with numpy, one measure at a time (an Arrow group-by of the concatenated
    parts held several copies of every column)."""
    if len(parts) == 1:
        return parts[0]
    measures = list(dict.fromkeys(c for p in parts for c in p.column_names if c not in group))
    if not group:
        return pa.table({m: [float(sum(as_floats(p[m]).sum() for p in parts if m in p.column_names))]
                         for m in measures})  # fmt: skip
    types = {g: parts[0].schema.field(g).type for g in group}
    keys = {g: pa.chunked_array([c.cast(types[g]) for p in parts for c in p[g].chunks],
                                type=types[g]).combine_chunks() for g in group}  # fmt: skip
    uniq, first, row = np.unique(dense_key([value_codes(k) for k in keys.values()]),
                                 return_index=True, return_inverse=True)  # fmt: skip
    out: dict[str, pa.Array] = {g: k.take(pa.array(first)) for g, k in keys.items()}
    for m in measures:
        values = np.concatenate([as_floats(p[m]) if m in p.column_names
                                 else np.zeros(p.num_rows) for p in parts])  # fmt: skip
        out[m] = pa.array(np.bincount(row, weights=values, minlength=len(uniq)))
    return pa.table(out)


def as_floats(col: pa.ChunkedArray | pa.Array) -> FloatArray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    out: FloatArray = pc.fill_null(arr.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False)
    return np.asarray(out, dtype=np.float64)


def value_codes(col: pa.ChunkedArray | pa.Array) -> IntArray:
    """Codes of equal values (null is a value of its own)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    enc = pc.dictionary_encode(arr, null_encoding="encode")
    return np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _codes_of(col: pa.ChunkedArray | pa.Array, levels: Sequence[str]) -> IntArray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    index = pc.fill_null(
        pc.index_in(arr.cast(pa.string()), value_set=pa.array(levels, pa.string())), -1
    )
    return np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)


def _levels(cols: Sequence[pa.ChunkedArray]) -> tuple[str, ...]:
    values: set[str] = set()
    for col in cols:
        values |= {str(v) for v in pc.unique(col.cast(pa.string())).to_pylist() if v is not None}
    return tuple(sorted(values))


def _days(table: pa.Table) -> IntArray:
    if "__day" not in table.column_names:
        return np.zeros(table.num_rows, dtype=np.int64)
    return np.asarray(table["__day"].to_numpy(), dtype=np.int64)


def _dimension_codes(
    parts: Sequence[pa.Table], dim: str, coded: Sequence[str] | None
) -> tuple[tuple[str, ...], list[IntArray]]:
    """The values of ``dim`` met in ``parts`` (sorted) and each part's codes into them;
    ``coded``: the parts hold codes into these levels (unmet values are dropped)."""
    if coded is None:
        levels = _levels([p[dim] for p in parts])
        return levels, [_codes_of(p[dim], levels) for p in parts]
    raw = [np.asarray(p[dim].to_numpy(), dtype=np.int64) for p in parts]
    seen = np.zeros(len(coded), dtype=bool)
    for r in raw:
        seen[r] = True
    met = np.flatnonzero(seen)
    rank = np.cumsum(seen) - 1  # a met code's index among the met codes
    return tuple(coded[i] for i in met.tolist()), [rank[r] for r in raw]


def cube_arrays(
    work: pa.Table,
    pairs: pa.Table | None,
    dims: Sequence[str],
    gold: Mapping[str, FloatArray],
    coded: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, tuple[str, ...]], IntArray, dict[str, IntArray], dict[str, FloatArray],
           JudgedPairs | None]:  # fmt: skip
    """The cube's cells from the two query results: levels, day, codes, sums and the pairs.

    ``gold`` holds each gold measure's value per pair row (count × term); ``coded``
    the levels of the dimensions the results hold as codes. A cell is a distinct
    (day, dimension values); every judged annotation is also in ``work``, so the
    cells are those of the work sums.
    """
    parts = [work] if pairs is None else [work, pairs]
    levels: dict[str, tuple[str, ...]] = {}
    codes_of: list[dict[str, IntArray]] = [{} for _ in parts]
    for d in dims:
        levels[d], per_part = _dimension_codes(parts, d, (coded or {}).get(d))
        for held, c in zip(codes_of, per_part, strict=True):
            held[d] = c
    day_of = [_days(p) for p in parts]
    day_all = np.concatenate(day_of)
    origin = int(day_all.min()) if len(day_all) else 0
    key = dense_key([day_all - origin, *(np.concatenate([c[d] for c in codes_of])
                                        for d in dims)])  # fmt: skip
    uniq, first, cell = np.unique(key, return_index=True, return_inverse=True)
    n_cells, n_work = len(uniq), work.num_rows
    codes = {d: np.concatenate([c[d] for c in codes_of])[first] for d in dims}
    sums: dict[str, FloatArray] = {}
    for m in MEASURES:
        if m in work.column_names:
            sums[m] = _sum_into(cell[:n_work], as_floats(work[m]), n_cells)
        elif m in gold:
            sums[m] = _sum_into(cell[n_work:], gold[m], n_cells)
        else:
            sums[m] = np.zeros(n_cells, dtype=np.float64)
    judged = None if pairs is None else _judged_pairs(pairs, day_of[1], codes_of[1])
    return levels, day_all[first], codes, sums, judged


def _sum_into(cell: IntArray, values: FloatArray, n_cells: int) -> FloatArray:
    out: FloatArray = np.bincount(cell, weights=values, minlength=n_cells).astype(np.float64)
    return out


def _judged_pairs(pairs: pa.Table, day: IntArray, codes: dict[str, IntArray]) -> JudgedPairs:
    labels = _levels([pairs["truth"], pairs["label"]])
    return JudgedPairs(labels, day, codes, _codes_of(pairs["truth"], labels),
                       _codes_of(pairs["label"], labels), as_floats(pairs["__n"]))  # fmt: skip
