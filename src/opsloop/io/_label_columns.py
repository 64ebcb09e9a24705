"""The used columns of a label file as codes, and the Parquet reader of the fast path.

:func:`code_label_columns` codes the item, rater, label and task columns (items in
a second thread), whoever read them. :func:`parquet_label_columns` reads a Parquet
file with pyarrow, without DuckDB: only the used columns, decoded by several
threads; rater, label and task as dictionaries, so their codes come from the
file's dictionary pages without hashing their strings; the item column as text,
coded by :func:`~opsloop.stats._encode.string_codes` (one pass over a file in item
order, else one hash pass). Values are the file's text as stored (integers in
decimal, as DuckDB's ``CAST(… AS VARCHAR)`` writes them); trimming and "empty
means missing" are left to the caller, as for DuckDB's scan.

The reader returns ``None`` — DuckDB's scan then reads the file — for anything it
does not judge itself: a file pyarrow cannot read, ``--columns``, repeated
column names, Argilla's columns, a used column that is neither text nor an
integer, text that is not UTF-8, a ``submitted_at`` that is not a timestamp in
seconds, milliseconds or microseconds (those need DuckDB's parsing and checks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.io._columns import resolve_columns
from opsloop.io._readers import LINE
from opsloop.schema import CONTRACTS
from opsloop.stats._encode import DEFAULT_TASK, arrow_strings, numpy_ints, string_codes

Codes = tuple[np.ndarray, pa.Array]
TABLE = "annotations"
TEXT_COLUMNS = ("item_id", "rater_id", "label", "task")
NO_TIME = np.iinfo(np.int64).min  # a row without a time is the oldest
_DICTIONARY_READ = ("rater_id", "label", "task")  # few distinct values: the file's dictionary
_TIME_UNITS = ("s", "ms", "us")  # exact in microseconds


@dataclass(frozen=True)
class LabelColumns:
    """Coded columns of a label file; ``None`` for a column with a missing value.

    ``tasks`` has no codes (an empty array) when the file has no task column:
    every row is the task ``label``. ``times`` are epoch microseconds of
    ``submitted_at`` (``NO_TIME`` where missing), ``None`` without that column.
    """

    items: Codes | None
    raters: Codes | None
    labels: Codes | None
    tasks: Codes | None
    times: np.ndarray | None


def code_label_columns(
    item: pa.ChunkedArray,
    rater: pa.ChunkedArray,
    label: pa.ChunkedArray,
    task: pa.ChunkedArray | None,
    times: np.ndarray | None,
) -> LabelColumns:
    """Code the text columns (items in a second thread; pyarrow releases the GIL)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        item_job = pool.submit(_raw_codes, item, None)
        raters = _raw_codes(rater, None)
        labels = _raw_codes(label, None)
        tasks = (
            _raw_codes(task, DEFAULT_TASK)
            if task is not None
            else (np.zeros(0, np.int64), arrow_strings([DEFAULT_TASK]))  # one task: no codes
        )
        items = item_job.result()
    return LabelColumns(items, raters, labels, tasks, times)


def _raw_codes(column: pa.ChunkedArray, missing: str | None) -> Codes | None:
    """Codes into the sorted distinct values as given; a null becomes ``missing``.

    Without ``missing`` a null gives ``None`` (a missing value).
    """
    if column.null_count and missing is None:
        return None
    return string_codes(column, missing=missing)


def parquet_label_columns(
    path: Path, column_map: Mapping[str, str], columns: Sequence[str] | None
) -> LabelColumns | None:
    """The coded columns of a Parquet label file, or ``None`` (module docstring)."""
    import pyarrow.parquet as pq  # pyarrow.dataset (read_table) would import pandas

    if columns is not None:
        return None  # --columns is for CSV: DuckDB's scan says so
    try:
        meta = pq.ParquetFile(path)
        names = list(meta.schema_arrow.names)
    except (pa.ArrowException, OSError, ValueError):
        return None
    used = _used_columns(names, column_map, meta.schema_arrow)
    if used is None:
        return None
    dictionaries = [used[c] for c in _DICTIONARY_READ if c in used
                    and _is_text(meta.schema_arrow.field(used[c]).type)]  # fmt: skip
    try:
        file = pq.ParquetFile(path, metadata=meta.metadata, read_dictionary=dictionaries)
        table = file.read(columns=list(dict.fromkeys(used.values())), use_threads=True)
        times = _times(table[used["submitted_at"]]) if "submitted_at" in used else None
    except (pa.ArrowException, OSError, ValueError):
        return None
    text = {c: _as_text(table[used[c]]) for c in TEXT_COLUMNS if c in used}
    del table
    coded = code_label_columns(text["item_id"], text["rater_id"], text["label"],
                               text.get("task"), times)  # fmt: skip
    if not _valid_text(coded):
        return None
    return coded


def _used_columns(
    names: list[str], column_map: Mapping[str, str], schema: pa.Schema
) -> dict[str, str] | None:
    """Canonical -> file column of the used columns, when pyarrow can read them as DuckDB does.

    Raises the errors of the column mapping (as DuckDB's scan would).
    """
    from opsloop.io._argilla import looks_like_argilla_columns

    if len(set(names)) != len(names) or LINE in names or "file_row_number" in names:
        return None
    if looks_like_argilla_columns(names):
        return None
    res = resolve_columns(TABLE, names, dict(column_map))
    if any(c not in res.mapping for c in CONTRACTS[TABLE].required):
        return None  # the wide layout, or a missing column: read_table decides
    mapped = {c.lower() for c in res.mapping}
    if any(c.lower() in mapped or c.startswith("__") for c in res.extras):
        return None  # a column that may clash with a canonical one: DuckDB's scan says so
    used = {c: res.mapping[c] for c in (*TEXT_COLUMNS, "submitted_at") if c in res.mapping}
    for canonical, column in used.items():
        kind = schema.field(column).type
        if canonical == "submitted_at":
            if not (pa.types.is_timestamp(kind) and kind.unit in _TIME_UNITS):
                return None
        elif not (_is_text(kind) or pa.types.is_integer(kind)):
            return None
    return used


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Integers as decimal text (as DuckDB casts them); text as it is."""
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.string())
    return column


def _times(column: pa.ChunkedArray) -> np.ndarray:
    """Epoch microseconds of a timestamp column (UTC instants, or naive values taken as UTC)."""
    micros = column.cast(pa.timestamp("us", column.type.tz)).cast(pa.int64())
    return numpy_ints(micros, fill=NO_TIME).astype(np.int64)


def _valid_text(coded: LabelColumns) -> bool:
    """Every distinct value is UTF-8 (DuckDB refuses other bytes; pyarrow does not check)."""
    for codes in (coded.items, coded.raters, coded.labels, coded.tasks):
        if codes is None:
            continue
        try:
            codes[1].validate(full=True)
        except pa.ArrowInvalid:
            return False
    return True
