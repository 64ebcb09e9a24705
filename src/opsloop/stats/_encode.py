"""Integer coding of long label tables, shared by agreement and inference kernels."""

from __future__ import annotations

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
    earlier one); ``n_duplicates`` counts the rows dropped.

    >>> t = pa.table({"item_id": ["i1", "i1", "i2"], "rater_id": ["r1", "r2", "r1"],
    ...               "label": ["a", "b", "a"]})
    >>> c = encode_labels(t)
    >>> c.labels.tolist(), c.categories
    ([0, 1, 0], ('a', 'b'))
    """

    items: np.ndarray
    raters: np.ndarray
    labels: np.ndarray
    item_names: tuple[str, ...]
    rater_names: tuple[str, ...]
    categories: tuple[str, ...]
    n_duplicates: int

    @property
    def n_items(self) -> int:
        return len(self.item_names)

    @property
    def n_raters(self) -> int:
        return len(self.rater_names)

    @property
    def n_categories(self) -> int:
        return len(self.categories)


def _codes(column: pa.ChunkedArray | pa.Array, order: list[str] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    column = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if order is not None:
        index = pc.index_in(column, value_set=pa.array(order, pa.string()))
        codes = index.to_numpy(zero_copy_only=False)
        return codes.astype(np.int64), tuple(order)
    encoded = pc.dictionary_encode(column)
    dictionary = encoded.dictionary
    # sort the dictionary so codes do not depend on row order
    sorter = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[sorter] = np.arange(len(dictionary))
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    return codes, tuple(dictionary.take(pa.array(sorter)).to_pylist())


def encode_labels(
    table: pa.Table,
    *,
    item: str = "item_id",
    rater: str = "rater_id",
    label: str = "label",
    categories: list[str] | None = None,
) -> CodedLabels:
    """Code a long label table; rows with a missing item, rater or label are dropped.

    ``categories`` fixes the category order (e.g. an ordinal scale); labels not
    in it raise :class:`UsageError`. Otherwise categories are sorted.
    """
    for name in (item, rater, label):
        if name not in table.column_names:
            raise UsageError(f"column {name!r} not found (have: {', '.join(table.column_names)})")
    keep = pc.and_(
        pc.and_(pc.is_valid(table[item]), pc.is_valid(table[rater])), pc.is_valid(table[label])
    )
    table = table.filter(keep)
    item_codes, item_names = _codes(table[item])
    rater_codes, rater_names = _codes(table[rater])
    label_codes, cats = _codes(table[label], categories)
    if categories is not None and (label_codes < 0).any():
        bad = table[label].combine_chunks().filter(pa.array(label_codes < 0))[0].as_py()
        raise UsageError(f"label {bad!r} is not one of the categories {list(categories)}")
    n = len(item_codes)
    n_dup = 0
    if n:
        key = item_codes * max(len(rater_names), 1) + rater_codes
        # last occurrence wins: unique on the reversed key
        _, first_in_reversed = np.unique(key[::-1], return_index=True)
        keep_idx = np.sort(n - 1 - first_in_reversed)
        n_dup = n - len(keep_idx)
        if n_dup:
            item_codes, rater_codes, label_codes = (
                item_codes[keep_idx],
                rater_codes[keep_idx],
                label_codes[keep_idx],
            )
    return CodedLabels(
        items=item_codes,
        raters=rater_codes,
        labels=label_codes,
        item_names=item_names,
        rater_names=rater_names,
        categories=cats,
        n_duplicates=int(n_dup),
    )
