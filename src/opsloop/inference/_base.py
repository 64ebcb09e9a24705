"""Shared machinery of the truth-inference estimators.

Every estimator is fitted on a long annotations table (``item_id``,
``rater_id``, ``label`` and optionally ``task``). Each task is coded
separately (:func:`opsloop.stats.encode_labels`) into a :class:`TaskData`
and handed to the estimator's numpy kernel, which returns a :class:`TaskFit`.
The estimator keeps the fits in ``fits_`` and builds its pyarrow outputs
(``labels_``, ``probas_``, ``errors_``/``skills_``) on first access.

Gold labels (a table ``item_id``, ``label`` [, ``task``]) are *clamped*: the
posterior of a gold item is fixed to its gold label in every E-step, so the
rater parameters are learned from gold and non-gold items together
(semi-supervised EM). Gold items absent from the annotations are counted in
``notes_`` and otherwise ignored.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import scipy.sparse as sp

from opsloop.errors import UsageError
from opsloop.stats import CodedLabels, encode_labels
from opsloop.stats._encode import CodedAnnotations, as_coded

DEFAULT_TASK = "label"
REQUIRED = ("item_id", "rater_id", "label")


def to_arrow(table: Any, what: str = "annotations") -> pa.Table:
    """A pyarrow Table from a pyarrow Table, an Ibis table or a pandas DataFrame."""
    if isinstance(table, pa.Table):
        return table
    if hasattr(table, "to_pyarrow"):
        return table.to_pyarrow()
    if hasattr(table, "columns") and hasattr(table, "to_dict"):
        return pa.Table.from_pandas(table, preserve_index=False)
    raise UsageError(
        f"{what}: expected a pyarrow, Ibis or pandas table, got {type(table).__name__}"
    )


def _row_view(design: sp.csr_matrix, start: int, stop: int) -> sp.csr_matrix:
    """Rows ``start:stop`` of a CSR matrix sharing its data and indices (no copy)."""
    lo, hi = int(design.indptr[start]), int(design.indptr[stop])
    indptr = design.indptr[start : stop + 1] - lo
    shape = (stop - start, design.shape[1])
    import scipy.sparse as sp  # loaded by the first fit, not by the import

    return sp.csr_matrix((design.data[lo:hi], design.indices[lo:hi], indptr), shape=shape)


@dataclass(frozen=True)
class RowBlock:
    """Items ``start:stop`` of a task and their rows of the design matrix."""

    start: int
    stop: int
    design: sp.csr_matrix


@dataclass(frozen=True)
class TaskData:
    """One task's annotations as integer codes, ready for a numpy kernel.

    ``gold[i]`` is the gold category code of item ``i`` or ``-1``.
    """

    coded: CodedLabels
    gold: np.ndarray

    @property
    def n_items(self) -> int:
        return self.coded.n_items

    @property
    def n_raters(self) -> int:
        return self.coded.n_raters

    @property
    def n_classes(self) -> int:
        return self.coded.n_categories

    @property
    def has_gold(self) -> bool:
        return bool((self.gold >= 0).any())

    def with_gold(self, gold: np.ndarray) -> TaskData:
        """The same annotations with other gold codes (sharing the cached design matrix)."""
        out = TaskData(coded=self.coded, gold=gold)
        for cached in ("_design", "_blocks"):
            if cached in self.__dict__:
                object.__setattr__(out, cached, self.__dict__[cached])
        return out

    def release_design(self) -> None:
        """Drop the cached design matrix and its row blocks (built again when next asked for)."""
        self.__dict__.pop("_design", None)
        self.__dict__.pop("_blocks", None)

    def row_blocks(self, n_blocks: int) -> tuple[RowBlock, ...]:
        """The design matrix cut into ``n_blocks`` consecutive blocks of items (cached)."""
        cache: dict[int, tuple[RowBlock, ...]] = self.__dict__.setdefault("_blocks", {})
        if n_blocks not in cache:
            design = self.design()
            cuts = np.linspace(0, self.n_items, max(n_blocks, 1) + 1).astype(np.int64)
            cache[n_blocks] = tuple(
                RowBlock(int(a), int(b), design if n_blocks <= 1 else _row_view(design, a, b))
                for a, b in itertools.pairwise(cuts)
            )
        return cache[n_blocks]

    def design(self) -> sp.csr_matrix:
        """Sparse ``n_items × (n_raters·K)`` indicator: row i has a 1 at ``r·K + l``.

        With it one E-step is ``M @ log π`` and one M-step ``Mᵀ @ T`` (two sparse
        products), which is what makes the numpy kernels fast. Built once and
        cached (the kernels, reliability and confusion tables share it).
        """
        cached = self.__dict__.get("_design")
        if cached is None:
            cached = self._build_design()
            object.__setattr__(self, "_design", cached)
        out: sp.csr_matrix = cached
        return out

    def _build_design(self) -> sp.csr_matrix:
        c = self.coded
        k = max(self.n_classes, 1)
        cols = (c.raters * k + c.labels).astype(np.int32)
        rows = c.items.astype(np.int32)
        data = np.ones(len(rows), dtype=np.float64)
        import scipy.sparse as sp  # loaded by the first fit, not by the import

        return sp.csr_matrix((data, (rows, cols)), shape=(self.n_items, self.n_raters * k))

    def vote_counts(self) -> np.ndarray:
        """``n_items × K`` label counts."""
        c = self.coded
        k = max(self.n_classes, 1)
        flat = np.bincount(c.items * k + c.labels, minlength=self.n_items * k)
        return flat.reshape(self.n_items, k).astype(np.float64)


@dataclass(frozen=True)
class TaskFit:
    """What a kernel learned on one task.

    ``posteriors`` is ``n_items × K``; ``confusion`` (``n_raters × K × K``,
    row = true class, column = given label) and ``skills`` (``n_raters``) are
    ``None`` when the model has no such parameter. ``unclamped`` holds the
    posteriors of gold items computed from the fitted parameters *without*
    clamping (used to score the model on gold).
    """

    posteriors: np.ndarray
    history: tuple[float, ...]
    n_iter: int
    converged: bool
    confusion: np.ndarray | None = None
    skills: np.ndarray | None = None
    prior: np.ndarray | None = None
    unclamped: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def loss_converged(history: Sequence[float], tol: float) -> bool:
    """The stopping rule every EM fit shares: the last loss change is below ``tol``.

    >>> loss_converged([1.0, 0.5], 1e-3), loss_converged([0.5, 0.5], 1e-3)
    (False, True)
    """
    return len(history) > 1 and abs(history[-2] - history[-1]) < tol


def clamp(posteriors: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Fix the rows of gold items to one-hot gold labels (in place, returned)."""
    idx = np.flatnonzero(gold >= 0)
    if len(idx):
        posteriors[idx] = 0.0
        posteriors[idx, gold[idx]] = 1.0
    return posteriors


def normalise_log(log_scores: np.ndarray) -> tuple[np.ndarray, float]:
    """Row-wise softmax of log scores and the total log normaliser (log-likelihood)."""
    top = log_scores.max(axis=1, keepdims=True)
    p = np.exp(log_scores - top)
    z = p.sum(axis=1, keepdims=True)
    p /= z
    return p, float((np.log(z) + top).sum())


def argmax_with_ties(
    scores: np.ndarray, tie_break: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise argmax and a tie flag.

    Ties (scores within 1e-12 of the row maximum) go to the tied category with
    the largest ``tie_break`` value, then to the first category in order.
    """
    n, k = scores.shape
    top = scores[:, 0].copy() if k else np.zeros(n)
    for j in range(1, k):  # a loop over the few columns beats a reduction along rows of K
        np.maximum(top, scores[:, j], out=top)
    floor = top - 1e-12
    codes = np.zeros(n, dtype=np.intp)
    n_tied = np.zeros(n, dtype=np.int64)
    for j in reversed(range(k)):  # ends at the first tied category
        hit = scores[:, j] >= floor
        codes[hit] = j
        n_tied += hit
    is_tie = n_tied > 1
    if tie_break is not None and is_tie.any():
        rows = np.flatnonzero(is_tie)
        tied = scores[rows] >= floor[rows, None]
        codes[rows] = np.argmax(np.where(tied, tie_break[None, :], -np.inf), axis=1)
    return codes, is_tie


def name_array(names: tuple[str, ...] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Item/rater names as a pyarrow string array (the encoder may return either form)."""
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    if isinstance(names, pa.Array):
        return names if pa.types.is_string(names.type) else pc.cast(names, pa.string())
    return pa.array(names, pa.string())


def task_column(task: str, n: int) -> pa.Array:
    """``task`` repeated ``n`` times as a string array (no Python list for large ``n``)."""
    return pa.array([task] * n, pa.string()) if n < 10_000 else pa.repeat(task, n)


def positions(
    names: tuple[str, ...] | pa.Array, keys: list[str] | pa.Array | pa.ChunkedArray
) -> np.ndarray:
    """Index of each key in ``names`` (``-1`` where absent)."""
    key_array = (
        keys if isinstance(keys, pa.Array | pa.ChunkedArray) else pa.array(keys, pa.string())
    )
    found = pc.fill_null(pc.index_in(name_array(key_array), value_set=name_array(names)), -1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def _as_string(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def prepare(
    table: Any,
    gold: Any = None,
    categories: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    repeats: str = "latest",
) -> tuple[dict[str, TaskData], bool, list[str]]:
    """Validate and code ``table`` per task; returns (tasks, has_task_column, notes).

    ``categories`` is one taxonomy for every task or a ``{task: categories}``
    mapping (tasks missing from it use the observed labels). ``repeats`` is the
    repeat policy for a rater's repeated labels of one item (rows in event order):
    ``latest`` (default), ``first``, ``keep-all`` (each label a vote) or ``error``.
    ``table`` may be already coded (:class:`~opsloop.stats._encode.CodedAnnotations`,
    e.g. from :func:`opsloop.io.read_labels`, or one task's ``CodedLabels``): its
    codes are used as they are.
    """
    coded = as_coded(table)
    if coded is not None:
        return _prepare_coded(coded, gold, categories, repeats)
    data = to_arrow(table)
    missing = [c for c in REQUIRED if c not in data.column_names]
    if missing:
        raise UsageError(
            f"annotations: missing column(s) {', '.join(missing)} "
            f"(have: {', '.join(data.column_names)})"
        )
    has_task = "task" in data.column_names
    cols = [*REQUIRED, "task"] if has_task else list(REQUIRED)
    data = data.select(cols)
    for c in cols:
        data = data.set_column(data.column_names.index(c), c, _as_string(data[c]))
    notes: list[str] = []
    n_rows = data.num_rows
    if sum(data[c].null_count for c in REQUIRED):  # filtering copies the table: only if needed
        data = data.filter(
            pc.and_(
                pc.and_(pc.is_valid(data["item_id"]), pc.is_valid(data["rater_id"])),
                pc.is_valid(data["label"]),
            )
        )
    if data.num_rows < n_rows:
        notes.append(
            f"{n_rows - data.num_rows:,} annotation rows with a missing item, rater or label were dropped"
        )
    if data.num_rows == 0:
        raise UsageError("annotations: no rows with an item, a rater and a label")
    if has_task:
        data = data.set_column(
            data.column_names.index("task"), "task", pc.fill_null(data["task"], DEFAULT_TASK)
        )
    gold_t = gold_table(gold, has_task)
    task_names = sorted(pc.unique(data["task"]).to_pylist()) if has_task else [DEFAULT_TASK]
    out: dict[str, TaskData] = {}
    for task in task_names:
        part = data.filter(pc.equal(data["task"], task)) if has_task else data
        g = gold_t
        if g is not None and "task" in g.column_names:
            g = g.filter(pc.equal(g["task"], task))
        cats = categories.get(task) if isinstance(categories, Mapping) else categories
        out[task] = _code_task(task, part, g, cats, notes, prefix=has_task, repeats=repeats)
    if gold_t is not None and "task" in gold_t.column_names:
        unknown = set(pc.unique(gold_t["task"]).to_pylist()) - set(task_names)
        if unknown:
            notes.append(
                f"gold rows for task(s) not in the annotations were ignored: {sorted(unknown)}"
            )
    return out, has_task, notes


def gold_table(gold: Any, has_task: bool) -> pa.Table | None:
    """Gold as string columns ``item_id, label[, task]`` without null keys."""
    if gold is None:
        return None
    g = to_arrow(gold, "gold")
    for c in ("item_id", "label"):
        if c not in g.column_names:
            raise UsageError(f"gold: missing column {c!r} (have: {', '.join(g.column_names)})")
    cols = (
        ["item_id", "label", "task"]
        if (has_task and "task" in g.column_names)
        else ["item_id", "label"]
    )
    g = g.select(cols)
    for c in cols:
        g = g.set_column(g.column_names.index(c), c, _as_string(g[c]))
    if g["item_id"].null_count or g["label"].null_count:  # filtering copies: only if needed
        g = g.filter(pc.and_(pc.is_valid(g["item_id"]), pc.is_valid(g["label"])))
    if "task" in g.column_names:
        g = g.set_column(
            g.column_names.index("task"), "task", pc.fill_null(g["task"], DEFAULT_TASK)
        )
    return g


def _prepare_coded(
    table: CodedAnnotations,
    gold: Any,
    categories: Sequence[str] | Mapping[str, Sequence[str]] | None,
    repeats: str,
) -> tuple[dict[str, TaskData], bool, list[str]]:
    """:func:`prepare` for already coded annotations (no string column is touched)."""
    if table.n_rows == 0:
        raise UsageError("annotations: no rows with an item, a rater and a label")
    gold_t = gold_table(gold, table.has_task)
    notes: list[str] = []
    out: dict[str, TaskData] = {}
    for task in sorted(table.task_names):
        g = gold_t
        if g is not None and "task" in g.column_names:
            g = g.filter(pc.equal(g["task"], task))
        cats = categories.get(task) if isinstance(categories, Mapping) else categories
        where = f"task {task!r}: " if table.has_task else ""
        pairs = _gold_pairs(g, where)
        chosen = _categories(cats, list(table.tasks[task].categories), pairs.label_names, where)
        try:
            coded = table.task(task, repeats, chosen)
        except UsageError as exc:
            raise UsageError(f"annotations: {where}{exc}") from None
        out[task] = _task_data(coded, pairs, notes, where, repeats)
    if gold_t is not None and "task" in gold_t.column_names:
        unknown = set(pc.unique(gold_t["task"]).to_pylist()) - set(table.task_names)
        if unknown:
            notes.append(
                f"gold rows for task(s) not in the annotations were ignored: {sorted(unknown)}"
            )
    return out, table.has_task, notes


@dataclass(frozen=True)
class GoldPairs:
    """One task's gold rows (``item_id``, ``label`` as string arrays) and its distinct labels."""

    items: pa.Array
    labels: pa.Array
    label_names: list[str]

    @property
    def n_rows(self) -> int:
        return len(self.items)


def _gold_pairs(gold: pa.Table | None, where: str) -> GoldPairs:
    """Gold items and labels of one task; an item with two gold labels is an error.

    The error names the first row (in file order) whose label differs from its
    item's first gold label. Runs on Arrow and NumPy (no Python object per row).
    """
    if gold is None or not gold.num_rows:
        empty = pa.array([], pa.string())
        return GoldPairs(empty, empty, [])
    items = name_array(gold["item_id"])
    labels = name_array(gold["label"])
    item_codes = _first_seen_codes(items)
    label_codes = _first_seen_codes(labels)
    _, first_row = np.unique(item_codes, return_index=True)
    first_label = label_codes[first_row]
    clash = np.flatnonzero(label_codes != first_label[item_codes])
    if len(clash):
        j = int(clash[0])
        first = labels[int(first_row[item_codes[j]])].as_py()
        raise UsageError(
            f"gold: {where}item {items[j].as_py()!r} has two gold labels "
            f"({first!r}, {labels[j].as_py()!r})"
        )
    return GoldPairs(items, labels, [str(v) for v in pc.unique(labels).to_pylist()])


def _first_seen_codes(values: pa.Array) -> np.ndarray:
    """Codes of a string array's values, numbered in order of first appearance."""
    encoded = pc.dictionary_encode(values)
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _categories(
    given: Sequence[str] | None, observed: list[str], gold_labels: list[str], where: str
) -> list[str]:
    """The task's categories: the taxonomy, else the sorted observed and gold labels."""
    if given is None:
        return sorted(set(observed) | set(gold_labels))
    cats = list(given)
    bad = sorted(set(gold_labels) - set(cats))
    if bad:
        raise UsageError(f"gold: {where}label {bad[0]!r} is not one of the categories {cats}")
    return cats


def _code_task(
    task: str,
    part: pa.Table,
    gold: pa.Table | None,
    categories: Sequence[str] | None,
    notes: list[str],
    *,
    prefix: bool,
    repeats: str = "latest",
) -> TaskData:
    where = f"task {task!r}: " if prefix else ""
    pairs = _gold_pairs(gold, where)
    observed = pc.unique(part["label"]).to_pylist() if categories is None else []
    cats = _categories(categories, observed, pairs.label_names, where)
    try:
        coded = encode_labels(part, categories=cats, repeats=repeats)
    except UsageError as exc:
        raise UsageError(f"annotations: {where}{exc}") from None
    return _task_data(coded, pairs, notes, where, repeats)


def _task_data(
    coded: CodedLabels, gold: GoldPairs, notes: list[str], where: str, repeats: str
) -> TaskData:
    """One coded task with its gold codes, and the notes on what was set aside."""
    cats = coded.categories
    if coded.n_duplicates:
        which = "first" if repeats == "first" else "last"
        notes.append(
            f"{where}{coded.n_duplicates:,} repeated (item, rater) annotations set aside: "
            f"the {which} of each was kept"
        )
    if coded.n_categories == 1:
        notes.append(
            f"{where}only one category ({cats[0]!r}): every item gets it with probability 1"
        )
    g = np.full(coded.n_items, -1, dtype=np.int64)
    if gold.n_rows:
        idx = positions(coded.item_names, gold.items)
        lab_idx = positions(coded.categories, gold.labels)
        hit = idx >= 0
        g[idx[hit]] = lab_idx[hit]
        if not hit.all():
            unmatched = pc.count_distinct(gold.items.filter(pa.array(~hit))).as_py()
            notes.append(
                f"{where}{unmatched:,} of {pc.count_distinct(gold.items).as_py():,} gold items "
                "have no annotations and were ignored"
            )
    return TaskData(coded=coded, gold=g)
