"""Integer coding of long label tables, shared by agreement and inference kernels.

:class:`CodedLabels` is one task's (item, rater, label) rows as integer codes;
:class:`CodedAnnotations` holds every task of a table, coded once (by
:func:`encode_tasks` from an Arrow table, or straight from a file by
``opsloop.io.read_labels``), and is accepted by the estimators and by
``agreement`` in place of a table, so nothing is coded twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.errors import UsageError


@dataclass(frozen=True)
class CodedLabels:
    """A long (item, rater, label) table as dense integer codes.

    ``items[i]``, ``raters[i]`` and ``labels[i]`` index ``item_names``,
    ``rater_names`` and ``categories``. Duplicate (item, rater) pairs are
    resolved by one rule: the **last row wins** (a later submission replaces an
    earlier one); ``n_duplicates`` counts the rows dropped. ``row_index`` gives,
    for each kept row, its position in the input table (so other columns of
    the input can be lined up with the codes).

    >>> t = pa.table({"item_id": ["i1", "i1", "i2"], "rater_id": ["r1", "r2", "r1"],
    ...               "label": ["a", "b", "a"]})
    >>> c = encode_labels(t)
    >>> c.labels.tolist(), c.categories
    ([0, 1, 0], ('a', 'b'))
    """

    items: np.ndarray
    raters: np.ndarray
    labels: np.ndarray
    item_names: tuple[str, ...] | pa.Array
    rater_names: tuple[str, ...]
    categories: tuple[str, ...]
    n_duplicates: int
    row_index: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        return len(self.item_names)

    @property
    def n_raters(self) -> int:
        return len(self.rater_names)

    @property
    def n_categories(self) -> int:
        return len(self.categories)


def numpy_ints(array: pa.Array | pa.ChunkedArray, fill: int | None = None) -> np.ndarray:
    """The values of an integer (or boolean) Arrow array as NumPy, read from its buffers.

    A null becomes ``fill`` (integers then come as int64; without ``fill``, an
    array with nulls raises :class:`ValueError`). No copy for an integer array
    without nulls in one chunk (the view is read-only). pyarrow's own
    conversions (``to_numpy``, ``pa.array``, ``pa.scalar``) import pandas on
    first use, a third of a second at start-up; these helpers go through the
    buffers instead.

    >>> numpy_ints(pa.chunked_array([[3, None], [5]]), fill=-1).tolist()
    [3, -1, 5]
    """
    if isinstance(array, pa.ChunkedArray):
        parts = [numpy_ints(c, fill) for c in array.chunks]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, _numpy_type(array.type))
    n, offset = len(array), array.offset
    buffers = array.buffers()
    dtype = _numpy_type(array.type)
    if n == 0 or buffers[1] is None:
        values = np.zeros(n, dtype)
    elif pa.types.is_boolean(array.type):
        values = _bits(buffers[1], offset, n)
    else:
        values = np.frombuffer(buffers[1], dtype=dtype, count=n, offset=offset * dtype.itemsize)
    if not array.null_count:
        return values
    if fill is None:
        raise ValueError("the array holds nulls and no fill value was given")
    if values.dtype != np.bool_:
        values = values.astype(np.int64)  # room for the fill value (e.g. -1 in unsigned codes)
    return np.where(_bits(buffers[0], offset, n), values, fill)


def _numpy_type(arrow_type: pa.DataType) -> np.dtype[Any]:
    if pa.types.is_boolean(arrow_type):
        return np.dtype(np.bool_)
    if not pa.types.is_integer(arrow_type):
        raise TypeError(f"not an integer array: {arrow_type}")
    kind = "i" if pa.types.is_signed_integer(arrow_type) else "u"
    return np.dtype(f"{kind}{arrow_type.bit_width // 8}")


def _bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    raw = np.frombuffer(buffer, dtype=np.uint8)
    return np.unpackbits(raw, count=offset + n, bitorder="little")[offset:].astype(np.bool_)


def arrow_ints(values: np.ndarray) -> pa.Array:
    """An int64 Arrow array over ``values`` (see :func:`numpy_ints`: no pandas)."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def arrow_mask(mask: np.ndarray) -> pa.Array:
    """A boolean Arrow array of ``mask`` (e.g. for ``filter``), without pandas."""
    bits = np.packbits(np.asarray(mask, dtype=np.bool_), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])


def arrow_strings(values: Sequence[str]) -> pa.Array:
    """A string Arrow array of ``values``, without pandas.

    >>> arrow_strings(["a", "bc"]).to_pylist()
    ['a', 'bc']
    """
    data = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(d) for d in data], dtype=np.int64)
    return pa.Array.from_buffers(pa.string(), len(data),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])  # fmt: skip


def _as_string_array(column: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    if isinstance(column, pa.ChunkedArray) and column.num_chunks == 0:
        column = pa.chunked_array([], column.type).combine_chunks()
    elif isinstance(column, pa.ChunkedArray) and (
        column.num_chunks == 1 or pa.types.is_dictionary(column.type)
    ):
        column = column.combine_chunks() if column.num_chunks > 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        if not pa.types.is_string(column.type.value_type):
            column = pc.cast(column, pa.dictionary(column.type.index_type, pa.string()))
        return column
    if pa.types.is_large_string(column.type) or not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return column


def _with_missing(
    column: pa.Array | pa.ChunkedArray, missing: str | None
) -> pa.Array | pa.ChunkedArray:
    """``column`` with its nulls as ``missing`` (a dictionary gains the value)."""
    if not column.null_count or missing is None:
        return column
    if not pa.types.is_dictionary(column.type):
        return pc.fill_null(column, arrow_strings([missing])[0])
    dictionary = pa.concat_arrays([column.dictionary, arrow_strings([missing])])
    indices = numpy_ints(column.indices, fill=len(column.dictionary)).astype(np.int32)
    return pa.DictionaryArray.from_arrays(
        pa.Array.from_buffers(pa.int32(), len(indices), [None, pa.py_buffer(indices)]), dictionary
    )


def _codes(
    column: pa.ChunkedArray | pa.Array, order: list[str] | None = None, missing: str | None = None
) -> tuple[np.ndarray, pa.Array]:
    """Codes (int64) into a sorted (or given) dictionary of strings, and the dictionary."""
    column = _with_missing(_as_string_array(column), missing)
    if order is not None:
        values = pc.cast(column, pa.string()) if pa.types.is_dictionary(column.type) else column
        given = arrow_strings(order)
        index = pc.index_in(values, value_set=given)
        return numpy_ints(index, fill=-1).astype(np.int64), given
    if pa.types.is_dictionary(column.type):
        return _dictionary_codes(column.dictionary, numpy_ints(column.indices))
    runs = _sorted_runs(column)
    if runs is not None:
        return runs
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        # chunks share one memo table: the last chunk's dictionary holds every value
        dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary
        indices = numpy_ints(pa.chunked_array([c.indices for c in encoded.chunks]))
    else:
        dictionary, indices = encoded.dictionary, numpy_ints(encoded.indices)
    return _sorted_dictionary(dictionary, indices)


def _dictionary_codes(dictionary: pa.Array, indices: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """Codes of a dictionary-encoded column: the dictionary compacted (a given one may
    hold unused or repeated values) and sorted; one pass over the rows."""
    used = np.bincount(indices, minlength=len(dictionary)) > 0
    if used.all() and len(pc.unique(dictionary)) == len(dictionary):
        uniq, remap = dictionary, None
    else:
        uniq = pc.unique(dictionary.filter(arrow_mask(used)))
        remap = numpy_ints(pc.index_in(dictionary, value_set=uniq), fill=-1)
    rank, names = _sort_order(uniq)
    if remap is not None:
        return rank[remap][indices], names  # an unused value's code is never read
    if bool((rank == np.arange(len(rank))).all()):  # already in order
        return indices.astype(np.int64), names
    return rank[indices], names


def _sorted_dictionary(dictionary: pa.Array, indices: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """Sort the dictionary so codes do not depend on row order."""
    rank, names = _sort_order(dictionary)
    return rank[indices], names


def _sort_order(dictionary: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Each value's rank in sorted order, and the sorted values."""
    sorter = numpy_ints(pc.sort_indices(dictionary)).astype(np.int64)
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[sorter] = np.arange(len(dictionary), dtype=np.int64)
    return rank, dictionary.take(arrow_ints(sorter))


_PROBE = 64


def _sorted_runs(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array] | None:
    """Codes of a column already in sorted order (e.g. a file ordered by item), else ``None``.

    The first value of each run of equal values is kept; when those are strictly
    increasing the column is sorted, they are its distinct values in order and
    a row's code is its run's number: comparing neighbours replaces hashing
    every value. The first rows are looked at first, so an unsorted column
    costs next to nothing.
    """
    n = len(column)
    if n < 2 or column.null_count:
        return None
    head = column.slice(0, min(n, _PROBE))
    if not _increasing(head, strict=False):
        return None
    starts = np.empty(n, dtype=np.bool_)
    starts[0] = True
    starts[1:] = numpy_ints(pc.not_equal(column.slice(1), column.slice(0, n - 1)))
    names = column.filter(arrow_mask(starts))
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    if not _increasing(names, strict=True):
        return None
    first = np.flatnonzero(starts)
    codes = np.repeat(np.arange(len(first), dtype=np.int64), np.diff(first, append=n))
    return codes, names


def _increasing(column: pa.Array | pa.ChunkedArray, *, strict: bool) -> bool:
    n = len(column)
    compare = pc.less if strict else pc.less_equal
    return n < 2 or bool(pc.all(compare(column.slice(0, n - 1), column.slice(1))).as_py())


def string_codes(
    column: pa.ChunkedArray | pa.Array, missing: str | None = None
) -> tuple[np.ndarray, pa.Array]:
    """Codes (int64) of a string column into its sorted dictionary of distinct values.

    One hash pass (Arrow dictionary encoding; none for a column already in
    sorted order, or one read as a dictionary), then the dictionary is sorted,
    so the codes do not depend on row order. A null is coded as ``missing``;
    without it, nulls must have been removed.

    >>> codes, names = string_codes(pa.chunked_array([["b", "a", None]]), missing="z")
    >>> codes.tolist(), names.to_pylist()
    ([1, 0, 2], ['a', 'b', 'z'])
    """
    return _codes(column, missing=missing)


def _one_per_key(key: np.ndarray, repeats: str) -> np.ndarray | None:
    """Row positions to keep, one per key (None when no key repeats)."""
    if bool(np.all(key[1:] > key[:-1])):
        return None
    ordered = np.sort(key)
    if not bool((ordered[1:] == ordered[:-1]).any()):
        return None
    if repeats == "first":
        _, first = np.unique(key, return_index=True)
        return np.sort(first)
    # the last occurrence: unique on the reversed key
    n = len(key)
    _, first_in_reversed = np.unique(key[::-1], return_index=True)
    return np.sort(n - 1 - first_in_reversed)


def encode_labels(
    table: pa.Table,
    *,
    item: str = "item_id",
    rater: str = "rater_id",
    label: str = "label",
    categories: list[str] | None = None,
    repeats: str = "latest",
) -> CodedLabels:
    """Code a long label table; rows with a missing item, rater or label are dropped.

    ``repeats`` decides repeated (item, rater) rows, the rows being in event order:
    ``latest`` keeps the last, ``first`` the first, ``keep-all`` every one (each
    label a vote, as crowd-kit counts them), ``error`` raises :class:`UsageError`.

    ``categories`` fixes the category order (e.g. an ordinal scale); labels not
    in it raise :class:`UsageError`. Otherwise categories are sorted. Item
    names are kept as a pyarrow string array (it indexes like a sequence);
    rater names and categories are tuples. Runs on pyarrow and numpy only
    (hash dictionary encoding, no Python lists of rows).
    """
    for name in (item, rater, label):
        if name not in table.column_names:
            raise UsageError(f"column {name!r} not found (have: {', '.join(table.column_names)})")
    cols = table.select([item, rater, label])
    null_count = sum(cols[name].null_count for name in (item, rater, label))
    row_index: np.ndarray | None = None
    if null_count:
        keep = pc.and_(
            pc.and_(pc.is_valid(cols[item]), pc.is_valid(cols[rater])), pc.is_valid(cols[label])
        )
        row_index = np.flatnonzero(numpy_ints(keep))
        cols = cols.filter(keep)
    with ThreadPoolExecutor(max_workers=2) as pool:
        item_job = pool.submit(_codes, cols[item])
        rater_codes, rater_dict = _codes(cols[rater])
        label_codes, cat_dict = _codes(cols[label], categories)
        item_codes, item_dict = item_job.result()
    if categories is not None and (label_codes < 0).any():
        first = int(np.flatnonzero(label_codes < 0)[0])
        bad = cols[label][first].as_py()
        raise UsageError(f"label {bad!r} is not one of the categories {list(categories)}")
    n = len(item_codes)
    n_dup = 0
    keep_idx = None
    if n and repeats != "keep-all":
        keep_idx = _one_per_key(item_codes * max(len(rater_dict), 1) + rater_codes, repeats)
    if keep_idx is not None:
        if repeats == "error":
            raise UsageError(_refused_repeats(n - len(keep_idx)))
        n_dup = n - len(keep_idx)
        item_codes = item_codes[keep_idx]
        rater_codes = rater_codes[keep_idx]
        label_codes = label_codes[keep_idx]
        row_index = keep_idx if row_index is None else row_index[keep_idx]
    if row_index is None:
        row_index = np.arange(n, dtype=np.int64)
    return CodedLabels(
        items=item_codes,
        raters=rater_codes,
        labels=label_codes,
        item_names=item_dict,
        rater_names=tuple(rater_dict.to_pylist()),
        categories=tuple(cat_dict.to_pylist()),
        n_duplicates=int(n_dup),
        row_index=row_index,
    )


def _refused_repeats(n: int) -> str:
    return (
        f"{n:,} repeated (item, rater) label(s) and the repeat policy "
        "error refuses them; choose latest, first or keep-all"
    )


def keep_one_per_pair(coded: CodedLabels, repeats: str) -> CodedLabels:
    """``coded`` (rows in event order) under the repeat policy, as :func:`encode_labels` decides.

    ``latest`` keeps the last row of each (item, rater), ``first`` the first,
    ``keep-all`` every row; ``error`` raises :class:`UsageError` on a repeat.
    ``n_duplicates`` grows by the rows left out; the dictionaries stay as they are.

    >>> c = encode_labels(pa.table({"item_id": ["i", "i"], "rater_id": ["r", "r"],
    ...                             "label": ["a", "b"]}), repeats="keep-all")
    >>> kept = keep_one_per_pair(c, "first")
    >>> kept.labels.tolist(), kept.n_duplicates
    ([0], 1)
    """
    n = len(coded.items)
    if repeats == "keep-all" or n == 0:
        return coded
    keep = _one_per_key(coded.items * max(coded.n_raters, 1) + coded.raters, repeats)
    if keep is None:
        return coded
    if repeats == "error":
        raise UsageError(_refused_repeats(n - len(keep)))
    rows = keep if coded.row_index is None else coded.row_index[keep]
    return replace(
        coded,
        items=coded.items[keep],
        raters=coded.raters[keep],
        labels=coded.labels[keep],
        n_duplicates=coded.n_duplicates + n - len(keep),
        row_index=rows,
    )


def recode_labels(coded: CodedLabels, categories: Sequence[str]) -> CodedLabels:
    """The same rows with their labels coded into ``categories`` (in that order).

    A label outside ``categories`` raises :class:`UsageError`, naming the first
    such row's label, as :func:`encode_labels` does.

    >>> c = encode_labels(pa.table({"item_id": ["i", "j"], "rater_id": ["r", "r"],
    ...                             "label": ["a", "b"]}))
    >>> recode_labels(c, ["b", "a", "z"]).labels.tolist()
    [1, 0]
    """
    cats = tuple(str(c) for c in categories)
    if cats == coded.categories:
        return coded
    index: dict[str, int] = {}
    for i, c in enumerate(cats):
        index.setdefault(c, i)
    remap = np.array([index.get(c, -1) for c in coded.categories] or [-1], dtype=np.int64)
    labels = remap[coded.labels]
    if (labels < 0).any():
        bad = coded.categories[int(coded.labels[int(np.flatnonzero(labels < 0)[0])])]
        raise UsageError(f"label {bad!r} is not one of the categories {list(categories)}")
    return replace(coded, labels=labels, categories=cats)


@dataclass(frozen=True)
class CodedAnnotations:
    """Every task of a long annotations table, coded once.

    ``tasks`` maps each task name (sorted) to its :class:`CodedLabels`, coded
    per task (sorted item and rater names, sorted observed categories), rows
    in event order. ``repeats`` is the repeat policy the rows already follow:
    under ``latest``, ``first`` or ``error`` a task holds at most one row per
    (item, rater); under ``keep-all`` every repeat is a row. ``n_set_aside``
    counts the rows that policy left out. ``has_task`` tells whether the
    source had a task column (a file read through the annotations contract
    always has one; rows without a task belong to the task ``label``).

    >>> t = pa.table({"item_id": ["i1", "i1", "i2"], "rater_id": ["r1", "r2", "r1"],
    ...               "label": ["a", "b", "a"], "task": ["q", "q", None]})
    >>> c = encode_tasks(t)
    >>> c.task_names, c.tasks["q"].categories, c.n_rows
    (('label', 'q'), ('a', 'b'), 3)
    """

    tasks: Mapping[str, CodedLabels] = field(default_factory=dict)
    has_task: bool = True
    repeats: str = "latest"
    n_set_aside: int = 0

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(self.tasks)

    @property
    def n_rows(self) -> int:
        return sum(len(c.items) for c in self.tasks.values())

    def task(self, name: str, repeats: str, categories: Sequence[str] | None = None) -> CodedLabels:
        """Task ``name``'s rows, labels coded into ``categories`` (default: as observed),
        under the repeat policy ``repeats``, as :func:`encode_labels` would code them
        from the table: labels are checked first, then repeats. Rows that already hold
        one label per (item, rater) are not looked at again.
        """
        coded = self.tasks[name]
        if categories is not None:
            coded = recode_labels(coded, categories)
        if self.repeats != "keep-all":
            return coded
        return keep_one_per_pair(coded, repeats)


DEFAULT_TASK = "label"


def as_coded(table: object) -> CodedAnnotations | None:
    """``table`` as :class:`CodedAnnotations` when it is already coded, else ``None``.

    One task's :class:`CodedLabels` is the task ``label`` of a table without a
    task column; its rows may repeat a pair (the analysis applies its policy).
    """
    if isinstance(table, CodedAnnotations):
        return table
    if isinstance(table, CodedLabels):
        return CodedAnnotations({DEFAULT_TASK: table}, has_task=False, repeats="keep-all")
    return None


def encode_tasks(
    table: pa.Table, *, repeats: str = "latest", task: str = "task", n_set_aside: int = 0
) -> CodedAnnotations:
    """Code each task of a long ``item_id, rater_id, label[, task]`` table.

    Rows without a task belong to the task ``label``; each task is coded by
    :func:`encode_labels` under ``repeats`` (rows in event order). ``n_set_aside``
    is added to the rows the policy leaves out here (e.g. those a reader already
    left out).
    """
    has_task = task in table.column_names
    if not has_task:
        coded = encode_labels(table, repeats=repeats)
        return CodedAnnotations(
            {DEFAULT_TASK: coded}, False, repeats, n_set_aside + coded.n_duplicates
        )
    column = table[task]
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    column = pc.fill_null(column, DEFAULT_TASK)
    names = sorted(str(v) for v in pc.unique(column).to_pylist())
    tasks: dict[str, CodedLabels] = {}
    for name in names:
        part = table if len(names) == 1 else table.filter(pc.equal(column, name))
        tasks[name] = encode_labels(part, repeats=repeats)
    dropped = sum(c.n_duplicates for c in tasks.values())
    return CodedAnnotations(tasks, True, repeats, n_set_aside + dropped)
