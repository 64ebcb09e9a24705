"""Integer coding of long label tables, shared by agreement and inference kernels."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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


def _as_string_array(column: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    if isinstance(column, pa.ChunkedArray) and column.num_chunks == 0:
        column = pa.array([], column.type)
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


def _codes(
    column: pa.ChunkedArray | pa.Array, order: list[str] | None = None
) -> tuple[np.ndarray, pa.Array]:
    """Codes (int64) into a sorted (or given) dictionary of strings, and the dictionary."""
    column = _as_string_array(column)
    if order is not None:
        values = pc.cast(column, pa.string()) if pa.types.is_dictionary(column.type) else column
        index = pc.index_in(values, value_set=pa.array(order, pa.string()))
        codes = index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return codes, pa.array(order, pa.string())
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        # chunks share one memo table: the last chunk's dictionary holds every value
        dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary
        indices = np.concatenate(
            [c.indices.to_numpy(zero_copy_only=False) for c in encoded.chunks]
        )
    else:
        dictionary = encoded.dictionary
        indices = encoded.indices.to_numpy(zero_copy_only=False)
    if pa.types.is_dictionary(column.type):
        # a given dictionary may hold unused or repeated values: compact it
        used = np.bincount(indices, minlength=len(dictionary)) > 0
        uniq = pc.unique(dictionary.filter(pa.array(used)))
        remap = pc.index_in(dictionary, value_set=uniq).fill_null(-1).to_numpy(
            zero_copy_only=False
        )
        indices = remap[indices]
        dictionary = uniq
    # sort the dictionary so codes do not depend on row order
    sorter = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[sorter] = np.arange(len(dictionary), dtype=np.int64)
    return rank[indices], dictionary.take(pa.array(sorter))


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
        row_index = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
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
            raise UsageError(
                f"{n - len(keep_idx):,} repeated (item, rater) label(s) and the repeat policy "
                "error refuses them; choose latest, first or keep-all"
            )
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
