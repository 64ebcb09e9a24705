"""An experiment's inputs as integer codes: items with content, annotations, gold, relabels.

:func:`prepare_experiment` checks and codes the tables once. Items are the rows of
``items`` with content (a text column, or numeric feature columns); annotations of
items without content are set aside (counted in ``notes``). Every later step works
on the codes: ``ann_item`` indexes the items, ``ann_label`` the categories, and each
group column (vendor, locale, guideline version, tenure …) is coded per annotation.

>>> import pyarrow as pa
>>> ann = pa.table({"item_id": ["a", "a", "b"], "rater_id": ["r1", "r2", "r1"],
...                 "label": ["spam", "none", "none"]})
>>> items = pa.table({"item_id": ["a", "b"], "text": ["free cash", "nice day"]})
>>> d = prepare_experiment(ann, items, benign=("none",))
>>> d.categories, d.violating, d.ann_item.tolist(), d.n_items
(('none', 'spam'), (1,), [0, 0, 1], 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.errors import UsageError
from opsloop.stats import encode_labels

ITEM_KEY = "item_id"
COST_UNIT_LABELS = "labels"


@dataclass(frozen=True)
class ExperimentData:
    """Coded inputs of one experiment (module docstring).

    ``features`` has one row per item (sparse text features or a dense numeric
    matrix). ``gold`` and ``relabel`` hold a category code per item or ``-1``:
    the gold label, and a second opinion (an audit's correct label) that a
    relabelling policy may use where there is no gold. ``ann_cost`` is each
    annotation's unit cost (1 per label without a cost column: ``cost_unit``
    then reads ``labels``); ``gold_unit_cost`` is what a gold label or a relabel
    costs.
    """

    item_ids: pa.Array
    features: Any = field(repr=False)
    content: str
    categories: tuple[str, ...]
    violating: tuple[int, ...]
    ann_item: np.ndarray = field(repr=False)
    ann_rater: np.ndarray = field(repr=False)
    ann_label: np.ndarray = field(repr=False)
    ann_cost: np.ndarray = field(repr=False)
    rater_names: tuple[str, ...]
    groups: Mapping[str, tuple[np.ndarray, tuple[str, ...]]] = field(repr=False)
    gold: np.ndarray = field(repr=False)
    relabel: np.ndarray = field(repr=False)
    cost_unit: str
    gold_unit_cost: float
    notes: tuple[str, ...] = ()

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_classes(self) -> int:
        return len(self.categories)

    @property
    def n_annotations(self) -> int:
        return len(self.ann_item)


def _string(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _index_of(keys: pa.ChunkedArray | pa.Array, names: pa.Array) -> np.ndarray:
    """Position of each key in ``names`` (``-1`` where absent or null)."""
    found = pc.fill_null(pc.index_in(_string(keys), value_set=names), -1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def _content(items: pa.Table, content: str | Sequence[str]) -> tuple[Any, np.ndarray, str]:
    """Features of the items that have content, the rows kept, and a description."""
    from opsloop.impact._model import numeric_features, text_features

    columns = [content] if isinstance(content, str) else list(content)
    missing = [c for c in columns if c not in items.column_names]
    if not columns or missing:
        have = ", ".join(c for c in items.column_names if c != ITEM_KEY) or "no other column"
        raise UsageError(
            f"items: no content column {', '.join(repr(c) for c in missing or columns)} "
            f"(have: {have}); impact trains on item text or numeric features: name the column "
            "with --content"
        )
    first = items[columns[0]]
    if len(columns) == 1 and (
        pa.types.is_string(first.type) or pa.types.is_large_string(first.type)
    ):
        keep = np.asarray(pc.is_valid(first).to_numpy(zero_copy_only=False), dtype=bool)
        texts = first.filter(pa.array(keep)).to_pylist()
        return text_features(texts), np.flatnonzero(keep), f"text:{columns[0]}"
    return _numeric_content(items, columns, numeric_features)


def _numeric_content(
    items: pa.Table, columns: list[str], standardise: Any
) -> tuple[Any, np.ndarray, str]:
    parts = []
    valid = np.ones(items.num_rows, dtype=bool)
    for name in columns:
        col = items[name]
        if (
            pa.types.is_list(col.type)
            or pa.types.is_large_list(col.type)
            or pa.types.is_fixed_size_list(col.type)
        ):
            valid &= np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)
            rows = [v if v is not None else [] for v in col.to_pylist()]
            widths = {len(v) for v, ok in zip(rows, valid, strict=True) if ok}
            if len(widths) > 1:
                raise UsageError(
                    f"items: column {name!r}: the vectors have different lengths {sorted(widths)[:3]}"
                )
            width = widths.pop() if widths else 0
            parts.append(
                np.array([v if len(v) == width else [0.0] * width for v in rows], dtype=np.float64)
            )
        elif (
            pa.types.is_integer(col.type)
            or pa.types.is_floating(col.type)
            or pa.types.is_decimal(col.type)
        ):
            valid &= np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)
            parts.append(
                np.asarray(
                    pc.fill_null(pc.cast(col, pa.float64()), 0.0).to_numpy(zero_copy_only=False)
                )[:, None]
            )
        else:
            raise UsageError(
                f"items: column {name!r} is {col.type}: content is one text column or numeric "
                "feature columns (numbers or lists of numbers)"
            )
    matrix = np.hstack(parts)[valid]
    return (
        standardise(matrix, f"items: {', '.join(columns)}"),
        np.flatnonzero(valid),
        f"features:{','.join(columns)}",
    )


def _categories(
    given: Sequence[str] | None, annotations: pa.Table, gold: pa.Table | None
) -> tuple[str, ...]:
    if given:
        return tuple(str(c) for c in given)
    seen = set(pc.unique(_string(annotations["label"])).drop_null().to_pylist())
    if gold is not None:
        seen |= set(pc.unique(_string(gold["label"])).drop_null().to_pylist())
    return tuple(sorted(seen))


def _labels_per_item(
    table: pa.Table | None, what: str, label: str, item_ids: pa.Array, cats: tuple[str, ...]
) -> np.ndarray:
    """One category code per item from ``table`` (``-1`` where it has none).

    Several rows for one item (a re-review): the most frequent label, ties to the
    first category.
    """
    out = np.full(len(item_ids), -1, dtype=np.int64)
    if table is None or table.num_rows == 0:
        return out
    for col in (ITEM_KEY, label):
        if col not in table.column_names:
            raise UsageError(
                f"{what}: missing column {col!r} (have: {', '.join(table.column_names)})"
            )
    table = table.filter(pc.is_valid(table[label]))
    item = _index_of(table[ITEM_KEY], item_ids)
    codes = _index_of(table[label], pa.array(cats, pa.string()))
    bad = np.flatnonzero(codes < 0)
    if len(bad):
        value = table[label][int(bad[0])].as_py()
        raise UsageError(f"{what}: label {value!r} is not one of the categories {list(cats)}")
    hit = item >= 0
    k = len(cats)
    counts = np.bincount(item[hit] * k + codes[hit], minlength=len(item_ids) * k)
    counts = counts.reshape(len(item_ids), k)
    has = counts.sum(axis=1) > 0
    out[has] = np.argmax(counts[has], axis=1)
    return out


def _cost(annotations: pa.Table, rows: np.ndarray, cost: str | None) -> tuple[np.ndarray, str]:
    if cost is None:
        return np.ones(len(rows)), COST_UNIT_LABELS
    values = pc.cast(annotations[cost], pa.float64()).take(pa.array(rows))
    arr = np.array(pc.fill_null(values, np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)
    known = np.isfinite(arr)
    if not known.any():
        return np.ones(len(rows)), COST_UNIT_LABELS
    arr[~known] = float(arr[known].mean())
    return arr, cost


def _groups(
    annotations: pa.Table, rows: np.ndarray, columns: Sequence[str]
) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    from opsloop.stats._encode import string_codes

    out: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
    for name in columns:
        if name not in annotations.column_names:
            have = [
                c for c in annotations.column_names if c not in ("item_id", "rater_id", "label")
            ]
            raise UsageError(
                f"group {name!r}: no such annotation, rater or item column "
                f"(have: {', '.join(have) or 'none'})"
            )
        column = _string(annotations[name]).take(pa.array(rows))
        codes, names = string_codes(column, missing="(missing)")
        out[name] = (codes, tuple(str(v) for v in names.to_pylist()))
    return out


def _items(item_t: pa.Table, content: str | Sequence[str]) -> tuple[Any, pa.Array, str]:
    """Features of the items with content (sorted by id), their ids, and the content used."""
    if ITEM_KEY not in item_t.column_names:
        raise UsageError(
            f"items: missing column 'item_id' (have: {', '.join(item_t.column_names)})"
        )
    if item_t.num_rows == 0:
        raise UsageError("items: no rows; impact needs items with content")
    item_t = item_t.sort_by(ITEM_KEY)  # results must not depend on the storage order
    features, kept, described = _content(item_t, content)
    if len(kept) == 0:
        raise UsageError(f"items: every value of the content column ({described}) is missing")
    item_ids = _string(item_t[ITEM_KEY]).take(pa.array(kept))
    if isinstance(item_ids, pa.ChunkedArray):
        item_ids = item_ids.combine_chunks()
    if pc.count_distinct(item_ids).as_py() != len(item_ids):
        raise UsageError("items: an item_id appears twice")
    return features, item_ids, described


def prepare_experiment(
    annotations: Any,
    items: Any,
    *,
    content: str | Sequence[str] = "text",
    gold: Any = None,
    audits: Any = None,
    categories: Sequence[str] | None = None,
    benign: Sequence[str] = (),
    group_columns: Sequence[str] = (),
    cost_column: str | None = None,
    gold_unit_cost: float | None = None,
    repeats: str = "latest",
) -> ExperimentData:
    """Check and code an experiment's tables (pyarrow, Ibis or pandas).

    ``annotations``: ``item_id, rater_id, label`` plus the ``group_columns`` that
    leave-group-out policies name and ``cost_column`` (a unit cost per label);
    rows in event order, repeats of one (item, rater) resolved by ``repeats``.
    ``items``: ``item_id`` and the ``content`` column(s). ``gold``: ``item_id,
    label``. ``audits``: ``item_id, correct_label`` (the relabels a budget policy
    may use where there is no gold). ``benign`` labels are not "violating": recall
    is reported per violating label (every label when none is benign).
    """
    from opsloop.inference._base import to_arrow

    ann = to_arrow(annotations)
    gold_t = None if gold is None else to_arrow(gold, "gold")
    relabels = None if audits is None else to_arrow(audits, "audits")
    cats = _categories(categories, ann, gold_t)
    try:
        coded = encode_labels(ann, categories=list(cats), repeats=repeats)
    except UsageError as exc:
        raise UsageError(f"annotations: {exc}") from None
    features, item_ids, described = _items(to_arrow(items, "items"), content)
    names = coded.item_names
    item_of = _index_of(names if isinstance(names, pa.Array) else pa.array(names), item_ids)
    ann_item = item_of[coded.items]
    keep = ann_item >= 0
    notes = []
    if not keep.any():
        raise UsageError(f"annotations: none of the annotated items has content ({described})")
    if not keep.all():
        notes.append(f"{int((~keep).sum()):,} annotations of items without content were set aside")
    rows = np.asarray(coded.row_index, dtype=np.int64)[keep]
    cost, unit = _cost(ann, rows, cost_column)
    unit_gold = float(np.mean(cost)) if gold_unit_cost is None else float(gold_unit_cost)
    return ExperimentData(
        item_ids=item_ids,
        features=features,
        content=described,
        categories=cats,
        violating=tuple(i for i, c in enumerate(cats) if c not in set(benign)),
        ann_item=ann_item[keep],
        ann_rater=coded.raters[keep],
        ann_label=coded.labels[keep],
        ann_cost=cost,
        rater_names=coded.rater_names,
        groups=_groups(ann, rows, group_columns),
        gold=_labels_per_item(gold_t, "gold", "label", item_ids, cats),
        relabel=_labels_per_item(relabels, "audits", "correct_label", item_ids, cats),
        cost_unit=unit,
        gold_unit_cost=unit_gold,
        notes=tuple(notes),
    )
