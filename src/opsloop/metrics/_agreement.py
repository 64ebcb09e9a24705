"""``agreement()``: the agreement suite over a long label table, per slice."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.config import TaskTaxonomy, Taxonomy
from opsloop.errors import UsageError
from opsloop.metrics._gwet import conger_kappa, gwet_family
from opsloop.metrics._kernel import (
    WEIGHTS,
    Estimate,
    ItemCounts,
    compress,
    count_matrix,
    item_patterns,
    nan_estimate,
    numeric_values,
    scores,
    weight_matrix,
)
from opsloop.metrics._krippendorff import LEVELS, krippendorff_alpha
from opsloop.metrics._raters import label_agreement, rater_agreement
from opsloop.metrics._records import AgreementResult, MetricRecord, kappa_paradox, landis_koch
from opsloop.metrics._registry import DEFAULT_METRICS, get_metric
from opsloop.stats._encode import CodedAnnotations, as_coded, encode_labels

_LEVEL_WEIGHTS = {"nominal": "identity", "ordinal": "ordinal", "interval": "quadratic",
                  "ratio": "ratio"}
_KAPPA_LIKE = ("cohen_kappa", "scott_pi", "fleiss_kappa", "conger_kappa", "krippendorff_alpha")
_TWO_RATER = ("cohen_kappa", "scott_pi")
MISSING = "(missing)"
DEFAULT_TASK = "label"
#: The bootstrap every agreement figure uses unless told otherwise (``opsloop agreement``,
#: the monitor and the report), so one coefficient has one interval wherever it is shown.
N_BOOT = 1000
SEED = 0


@dataclass(frozen=True)
class TaskLevels:
    """Each task's level of measurement and, for ordered levels, its category order.

    ``levels[task]`` is nominal, ordinal, interval or ratio; ``categories[task]``
    the scale order (only for tasks whose taxonomy gives one). A task missing
    from the mappings is measured at ``default``.
    """

    levels: dict[str, str] = field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default: str = "nominal"

    def level(self, task: str) -> str:
        return self.levels.get(task, self.default)


def task_taxonomy(taxonomy: Taxonomy, task: str) -> TaskTaxonomy | None:
    """The taxonomy of ``task``: ``[taxonomy.tasks.NAME]``, the root one for the
    default task ``label``, ``None`` for a task the configuration does not describe.

    >>> tax = Taxonomy(labels=("a", "b"), tasks={"stars": TaskTaxonomy(labels=("1", "2"))})
    >>> task_taxonomy(tax, "stars").labels, task_taxonomy(tax, "label").labels
    (('1', '2'), ('a', 'b'))
    >>> task_taxonomy(tax, "other") is None
    True
    """
    if task in taxonomy.tasks:
        return taxonomy.tasks[task]
    if task == DEFAULT_TASK:
        return taxonomy
    return None


def agreement_levels(
    taxonomy: Taxonomy, tasks: Iterable[str], overrides: Mapping[str, str] | None = None
) -> TaskLevels:
    """The level and scale order of every task, from the taxonomy (plus ``overrides``).

    A task's level is ``[taxonomy.tasks.NAME] level`` (the root ``level`` for
    the default task ``label``; nominal for a task the taxonomy does not
    describe). Ordered levels take the scale from ``order`` (else ``labels``);
    without either, :func:`agreement` orders numeric labels numerically.
    ``overrides`` (task -> level) replace the taxonomy's level of those tasks.

    >>> tax = Taxonomy(tasks={"stars": TaskTaxonomy(labels=("1", "2", "3"), level="ordinal")})
    >>> tl = agreement_levels(tax, ["label", "stars"])
    >>> tl.levels, tl.categories
    ({'label': 'nominal', 'stars': 'ordinal'}, {'stars': ('1', '2', '3')})
    """
    out = TaskLevels()
    for task in dict.fromkeys(tasks):
        tt = task_taxonomy(taxonomy, task)
        level = (overrides or {}).get(task) or (tt.level if tt is not None else "nominal")
        if level not in LEVELS:
            raise UsageError(f"unknown level {level!r} (choose from {', '.join(LEVELS)})")
        out.levels[task] = level
        if level != "nominal" and tt is not None and tt.ordered_labels:
            out.categories[task] = tuple(tt.ordered_labels)
    return out


@dataclass(frozen=True)
class _Options:
    level: str
    weights: str | None
    confidence: float
    n_boot: int
    seed: int


@dataclass(frozen=True)
class _Slice:
    """Annotations of one slice, items re-coded 0..n−1."""

    key: dict[str, str]
    items: np.ndarray
    raters: np.ndarray
    labels: np.ndarray
    rater_names: tuple[str, ...]
    categories: tuple[str, ...]
    n_items: int


def _category_order(labels: pa.ChunkedArray, given: Sequence[str] | None) -> list[str]:
    if given is not None:
        return [str(c) for c in given]
    uniq = pc.unique(pc.drop_null(labels))
    if not pa.types.is_string(uniq.type):
        uniq = pc.cast(uniq, pa.string())
    return _numeric_first([v for v in uniq.to_pylist() if v is not None])


def _numeric_first(values: list[str]) -> list[str]:
    """Labels in numeric order when every one is a number (equal numbers such as ``0``
    and ``00`` by their text, so the order never depends on the rows'), else sorted."""
    try:
        return sorted(values, key=lambda v: (float(v), v))
    except ValueError:
        return sorted(values)


def _slice_codes(table: pa.Table, by: Sequence[str]) -> tuple[np.ndarray, list[dict[str, str]]]:
    """A slice id per row and the slice values for each id (sorted)."""
    key = np.zeros(table.num_rows, dtype=np.int64)
    names: list[list[str]] = []
    for col in by:
        arr = table[col]
        if not pa.types.is_string(arr.type):
            arr = pc.cast(arr, pa.string())
        arr = pc.fill_null(arr, MISSING)
        enc = pc.dictionary_encode(arr).combine_chunks()
        dictionary = enc.dictionary.to_pylist()
        order = sorted(range(len(dictionary)), key=lambda i: dictionary[i])
        rank = np.empty(len(dictionary), dtype=np.int64)
        rank[order] = np.arange(len(dictionary))
        key = key * max(len(dictionary), 1) + rank[enc.indices.to_numpy(zero_copy_only=False)]
        names.append([dictionary[i] for i in order])
    uniq, inverse = np.unique(key, return_inverse=True)
    slices: list[dict[str, str]] = []
    for k in uniq.tolist():
        parts: list[str] = []
        for values in reversed(names):
            parts.append(values[k % len(values)])
            k //= len(values)
        slices.append(dict(zip(by, reversed(parts), strict=True)))
    return inverse, slices


def _make_slices(table: pa.Table, groupings: Sequence[Sequence[str]],
                 categories: Sequence[str] | None, task_col: str | None,
                 task_categories: Mapping[str, Sequence[str]]) -> tuple[list[_Slice], int]:
    """The slices of each grouping (columns besides the task), the labels of each task
    coded once for all of them; and the repeated (item, rater) rows set aside."""
    n_dup = 0
    out: list[_Slice] = []
    groups: list[tuple[dict[str, str], pa.Table]] = []
    if task_col is not None:
        task_ids, task_keys = _slice_codes(table, [task_col])
        for t, tkey in enumerate(task_keys):
            groups.append((tkey, table.filter(pa.array(task_ids == t))))
    else:
        groups.append(({}, table))
    for tkey, sub in groups:
        given = task_categories.get(tkey.get(task_col or "", DEFAULT_TASK), categories)
        cats = _category_order(sub["label"], given)
        coded = encode_labels(sub, categories=cats)
        n_dup += coded.n_duplicates
        for by in groupings:
            rest = [b for b in by if b != task_col]
            if not rest:
                out.append(_Slice(tkey, coded.items, coded.raters, coded.labels,
                                  coded.rater_names, coded.categories, coded.n_items))
            else:
                out.extend(_sub_slices(sub, coded, rest, tkey))
    return out, n_dup


def _sub_slices(sub: pa.Table, coded: Any, rest: Sequence[str],
                tkey: dict[str, str]) -> list[_Slice]:  # fmt: skip
    """One task's coded labels split by the values of the ``rest`` columns."""
    rows = coded.row_index if coded.row_index is not None else np.arange(len(coded.items))
    ids, keys = _slice_codes(sub.select(list(rest)).take(pa.array(rows)), rest)
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(len(keys) + 1))
    out: list[_Slice] = []
    for s, skey in enumerate(keys):
        sel = order[bounds[s]:bounds[s + 1]]
        item_u, items = np.unique(coded.items[sel], return_inverse=True)
        rater_u, raters = np.unique(coded.raters[sel], return_inverse=True)
        names = tuple(coded.rater_names[i] for i in rater_u.tolist())
        out.append(_Slice({**tkey, **skey}, items, raters, coded.labels[sel], names,
                          coded.categories, len(item_u)))
    return out


def _weights_for(metric: str, opts: _Options, cats: tuple[str, ...]) -> np.ndarray | str:
    kind = opts.weights or _LEVEL_WEIGHTS[opts.level]
    if metric == "gwet_ac1":
        kind = "identity"
    if metric == "gwet_ac2" and kind == "identity":
        return ("AC2 needs agreement weights: use an ordered level "
                "(ordinal/interval/ratio) or weights='quadratic'")
    numeric = opts.level in ("interval", "ratio") and kind in ("linear", "quadratic", "ratio")
    return weight_matrix(kind, scores(cats, numeric))


def _estimate(metric: str, sl: _Slice, counts: Callable[[], np.ndarray], ic: ItemCounts,
              opts: _Options) -> Estimate:
    q = len(sl.categories)
    if metric == "krippendorff_alpha":
        values = numeric_values(sl.categories) if opts.level in ("interval", "ratio") else None
        return krippendorff_alpha(ic, opts.level, values, confidence=opts.confidence,
                                  n_boot=opts.n_boot, seed=opts.seed)
    w = _weights_for(metric, opts, sl.categories)
    if isinstance(w, str):
        return nan_estimate(w)
    if metric in _TWO_RATER:
        if len(sl.rater_names) != 2:
            return nan_estimate(
                f"{metric} needs exactly two raters (found {len(sl.rater_names)}); "
                "use conger_kappa / fleiss_kappa for more")
        both = counts().sum(axis=1) == 2
        keep = both[sl.items]
        kept_items = np.cumsum(both) - 1
        items = kept_items[sl.items[keep]]
        sub = count_matrix(items, sl.labels[keep], int(both.sum()), q)
        if metric == "scott_pi":
            return gwet_family("fleiss_kappa", compress(sub), w, opts.confidence)
        return conger_kappa(sub, items, sl.raters[keep], sl.labels[keep], w, opts.confidence)
    if metric == "conger_kappa":
        return conger_kappa(counts(), sl.items, sl.raters, sl.labels, w, opts.confidence)
    kind = "gwet_ac1" if metric in ("gwet_ac1", "gwet_ac2") else metric
    return gwet_family(kind, ic, w, opts.confidence)


def _record(metric: str, sl: _Slice, est: Estimate, opts: _Options, singles: int,
            extra_note: str | None = None) -> MetricRecord:
    notes = [n for n in (est.note, extra_note) if n]
    if singles:
        notes.append(f"{singles} item(s) with a single rating not paired")
    interp = None
    if metric not in ("percent_agreement",) and not math.isnan(est.value):
        interp = landis_koch(est.value)
    if metric in _KAPPA_LIKE and kappa_paradox(est.pa, est.value):
        notes.append(f"kappa paradox: raw agreement {est.pa:.3f} but {metric} {est.value:.3f} "
                     "(skewed prevalence); see gwet_ac1")
    extra = {k: v for k, v in (("pa", est.pa), ("pe", est.pe)) if not math.isnan(v)}
    level = "nominal" if metric == "gwet_ac1" else opts.level  # AC1 is unweighted at any level
    return MetricRecord(metric, level, dict(sl.key), float(est.value), float(est.ci_low),
                        float(est.ci_high), est.n_items, len(sl.rater_names),
                        se=None if math.isnan(est.se) else float(est.se),
                        interpretation=interp, note="; ".join(notes) or None, extra=extra)


def _slice_records(sl: _Slice, metrics: Sequence[str], opts: _Options) -> list[MetricRecord]:
    q = len(sl.categories)
    ic, r = item_patterns(sl.items, sl.labels, sl.n_items, q)
    singles = int((r == 1).sum())
    # the item × category matrix, for the coefficients that need more than its patterns
    counts = cache(lambda: count_matrix(sl.items, sl.labels, sl.n_items, q))
    out: list[MetricRecord] = []
    if sl.n_items == 0:
        empty = nan_estimate("empty slice: no annotations")
        return [_record(m, sl, empty, opts, 0) for m in metrics]
    if len(sl.rater_names) < 2:
        one = nan_estimate("a single rater: agreement needs at least two")
        return [_record(m, sl, one, opts, 0) for m in metrics]
    label_stats = None
    rater_stats = None
    for m in metrics:
        spec = get_metric(m)
        if spec.per == "label":
            if label_stats is None:
                label_stats = label_agreement(ic, sl.categories, confidence=opts.confidence,
                                              n_boot=opts.n_boot, seed=opts.seed)
            stats = label_stats[0] if m == "specific_agreement" else label_stats[1]
            for lst in stats:
                est = Estimate(lst.value, lst.se, lst.ci_low, lst.ci_high,
                               n_items=ic.n_pairable,
                               note=None if lst.value == lst.value else "label not used")
                rec = _record(m, sl, est, opts, singles)
                out.append(replace(rec, slice={**sl.key, "label": lst.category}))
        elif spec.per == "rater":
            if rater_stats is None:
                rater_stats = rater_agreement(counts(), sl.items, sl.raters, sl.labels,
                                              sl.rater_names, confidence=opts.confidence)
            peers, cons = rater_stats
            for st in peers if m == "rater_peer_agreement" else cons:
                out.append(MetricRecord(m, opts.level, {**sl.key, "rater_id": st.rater},
                                        st.value, st.ci_low, st.ci_high, st.n_items, 1,
                                        note=None if st.n_items else "no co-rated items"))
        else:
            out.append(_record(m, sl, _estimate(m, sl, counts, ic, opts), opts, singles))
    return out


def _as_arrow(table: Any, columns: list[str]) -> pa.Table:
    if isinstance(table, pa.Table):
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise UsageError(f"column(s) {', '.join(missing)} not found "
                             f"(have: {', '.join(table.column_names)})")
        return table.select(columns)
    if hasattr(table, "to_pyarrow") and hasattr(table, "columns"):
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise UsageError(f"column(s) {', '.join(missing)} not found "
                             f"(have: {', '.join(table.columns)})")
        return table.select(*columns).to_pyarrow()
    raise UsageError(f"agreement() takes a pyarrow or Ibis table, not {type(table).__name__}")


def _table_columns(table: Any) -> list[str]:
    if isinstance(table, pa.Table):
        return list(table.column_names)
    return list(getattr(table, "columns", []))


def _with_derived(table: Any, by: Sequence[str]) -> Any:
    """``table`` with the derived ``week``/``day`` dimensions of ``by`` it lacks (from
    ``submitted_at``, as in :mod:`opsloop.metrics._slicing`)."""
    from opsloop.metrics._slicing import DERIVED, as_ibis, with_dimensions

    have = _table_columns(table)
    derived = [d for d in by if d in DERIVED and d not in have and "submitted_at" in have]
    if not derived:
        return table
    return with_dimensions(as_ibis(table, "the annotations"), derived)


def _check_levels(level: str, levels: Mapping[str, str]) -> None:
    for name, value in (("", level), *levels.items()):
        if value not in LEVELS:
            where = f" for task {name!r}" if name else ""
            raise UsageError(f"unknown level {value!r}{where} (choose from {', '.join(LEVELS)})")


def agreement(
    table: Any,
    *,
    metrics: Sequence[str] | None = None,
    level: str = "nominal",
    levels: Mapping[str, str] | None = None,
    by: Sequence[str] = (),
    categories: Sequence[str] | None = None,
    task_categories: Mapping[str, Sequence[str]] | None = None,
    weights: str | None = None,
    confidence: float = 0.95,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    groupings: Sequence[Sequence[str]] = (),
) -> AgreementResult:
    """Inter-rater agreement of a long (item_id, rater_id, label) table, per slice.

    ``table`` is a pyarrow Table, an Ibis table (executed on its backend) or
    already coded annotations (:class:`~opsloop.stats._encode.CodedAnnotations`,
    e.g. from :func:`opsloop.io.read_labels`, or one task's ``CodedLabels``; sliced
    by task only, nothing re-coded).
    ``metrics`` are registry ids (default: percent agreement, Fleiss' κ,
    Krippendorff's α, Gwet's AC1); ``level`` is nominal, ordinal, interval or
    ratio, and ``levels`` (task -> level) sets it per task: several questions
    about one item (a category and a 1–5 rating) are each measured at their
    own level (:func:`agreement_levels` reads them from the taxonomy). A table
    without a ``task`` column is the default task ``label``. Weighted
    coefficients use ``weights`` (identity, linear, quadratic, ordinal, ratio)
    or, by default, the level's (identity, ordinal, quadratic, ratio).
    ``categories`` fixes the category set and order (an ordinal scale), and
    ``task_categories`` (task -> categories) per task; otherwise labels are
    ordered numerically when they are all numbers, else alphabetically. A
    ``task`` column always slices (agreement is per task); ``by`` adds slice
    columns (``week`` and ``day`` are derived from ``submitted_at`` when the
    table has no such column). ``groupings`` asks for several slicings in one
    call: the records of ``by=g`` for each ``g`` in turn (per task), the labels
    coded once (``by`` is then left empty). Duplicate (item, rater) rows: the last wins.
    Standard errors follow Gwet (2014) where published, else a seeded item
    bootstrap with ``n_boot`` replicates.

    >>> t = pa.table({"item_id": ["a", "a", "b", "b", "c", "c"],
    ...               "rater_id": ["x", "y"] * 3, "label": ["1", "1", "0", "0", "1", "0"]})
    >>> r = agreement(t, metrics=["percent_agreement", "cohen_kappa"], n_boot=0)
    >>> [round(x.value, 4) for x in r.records]
    [0.6667, 0.4]
    """
    per_task = dict(levels or {})
    _check_levels(level, per_task)
    if weights is not None and weights not in WEIGHTS:
        raise UsageError(f"unknown weights {weights!r} (choose from {', '.join(WEIGHTS)})")
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, not {confidence}")
    chosen = tuple(metrics) if metrics is not None else DEFAULT_METRICS
    if not chosen:
        raise UsageError("no metrics requested")
    for m in chosen:
        if get_metric(m).family != "agreement":
            raise UsageError(f"{m!r} is a quality metric: use quality() / opsloop quality")
    orders = {k: tuple(str(c) for c in v) for k, v in (task_categories or {}).items()}
    opts = _Options(level, weights, confidence, n_boot, seed)
    if groupings and by:
        raise UsageError("give either by or groupings, not both")
    slicings = tuple(tuple(g) for g in groupings) or (tuple(by),)
    coded = as_coded(table)
    if coded is not None:
        task_col = "task" if coded.has_task else None
        found = _coded_slices(coded, tuple(c for g in slicings for c in g), categories, orders)
    else:
        task_col, found = _table_slices(table, slicings, categories, orders)
    if found is None:
        empty = _Slice({}, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                       (), (), 0)
        return AgreementResult(tuple(_slice_records(empty, chosen, opts)))
    slices, n_dup = found
    records: list[MetricRecord] = []
    for sl in slices:
        task = sl.key.get(task_col, DEFAULT_TASK) if task_col else DEFAULT_TASK
        sl_opts = replace(opts, level=per_task.get(task, level))
        if sl_opts.level in ("interval", "ratio"):
            numeric_values(sl.categories)
        records.extend(_slice_records(sl, chosen, sl_opts))
    return AgreementResult(tuple(records), n_duplicates=n_dup)


def _table_slices(
    table: Any, groupings: tuple[tuple[str, ...], ...], categories: Sequence[str] | None,
    orders: Mapping[str, Sequence[str]],
) -> tuple[str | None, tuple[list[_Slice], int] | None]:
    """(the task column, the slices and repeats set aside; None for no rows) of a table."""
    every = tuple(dict.fromkeys(c for g in groupings for c in g))
    table = _with_derived(table, every)
    have = _table_columns(table)
    task_col = "task" if "task" in have else None
    columns = list(dict.fromkeys(["item_id", "rater_id", "label",
                                  *((task_col,) if task_col else ()), *every]))  # fmt: skip
    arrow = _as_arrow(table, columns)
    if arrow.num_rows == 0:
        return task_col, None
    return task_col, _make_slices(arrow, groupings, categories, task_col, orders)


def _coded_slices(
    coded: CodedAnnotations, by: tuple[str, ...], categories: Sequence[str] | None,
    orders: Mapping[str, Sequence[str]],
) -> tuple[list[_Slice], int] | None:
    """One slice per task of already coded annotations (the latest label of each rater)."""
    extra = [b for b in by if b != "task"]
    if extra:
        raise UsageError(f"coded annotations slice by task only: slicing by {', '.join(extra)} "
                         "needs the annotations table")
    if coded.n_rows == 0:
        return None
    out: list[_Slice] = []
    n_dup = 0
    for task in coded.task_names:
        given = orders.get(task if coded.has_task else DEFAULT_TASK, categories)
        cats = [str(c) for c in given] if given is not None else _numeric_first(
            list(coded.tasks[task].categories))
        c = coded.task(task, "latest", cats)
        n_dup += c.n_duplicates
        key = {"task": task} if coded.has_task else {}
        out.append(_Slice(key, c.items, c.raters, c.labels, c.rater_names, c.categories,
                          c.n_items))
    return out, n_dup


def agreement_sql(table: Any, *, by: Sequence[str] = (), dialect: str = "duckdb") -> str:
    """The SQL of the count aggregation agreement starts from (``ibis.to_sql``).

    Every count-based coefficient is a function of ``n_ik``, the number of
    ratings of item ``i`` in category ``k``, per slice (``task`` and ``by``):
    this query gives those counts. (Duplicate (item, rater) rows are counted
    here; :func:`agreement` keeps only the last of them.)

    >>> t = pa.table({"item_id": ["a"], "rater_id": ["x"], "label": ["1"]})
    >>> "COUNT(*)" in agreement_sql(t)
    True
    """
    from opsloop.metrics._quality import to_sql
    from opsloop.metrics._slicing import as_ibis, check_dimensions, with_dimensions

    expr = as_ibis(table, "the annotations")
    by = tuple(by)
    check_dimensions(expr.columns, by, "the annotations")
    slice_cols = (("task",) if "task" in expr.columns and "task" not in by else ()) + by
    expr = with_dimensions(expr, slice_cols)
    counts = expr.group_by([*slice_cols, "item_id", "label"]).aggregate(n=expr.count())
    return to_sql(counts, dialect)
