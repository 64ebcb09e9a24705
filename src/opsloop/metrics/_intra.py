"""``intra_rater_agreement()``: each rater's agreement with themselves on repeated labels.

Where a rater labelled the same item (same task) more than once, the repeats
are a test–retest sample of that rater's consistency. A *unit* is one
(item, task, rater) with ``m_u ≥ 2`` labels; ``n_uk`` counts its labels in
category k, and its labels are ordered by ``opsloop_nth`` (1 = first), else
``submitted_at``, else row order. Per slice (``task`` and ``by``), for the
pool of raters and for each rater:

* **percent self-agreement** — the share of agreeing pairs among the pairs of
  a unit's labels, each unit counting once (Fleiss, 1971, ``P_i``)::

      P = (1/U) Σ_u Σ_k n_uk (n_uk − 1) / (m_u (m_u − 1))

  With two labels per unit this is the share of units whose repeat agrees.
  Exact agreement at every level. Wilson (1927) interval with U trials and
  ``U·P`` successes; ``se = √(P(1 − P)/U)``.
* **Cohen's κ between the first and the second label** (Cohen, 1960; weighted:
  Cohen, 1968) with ``p_kl`` the share of units labelled k first and l second::

      κ = (Σ w_kl p_kl − Σ w_kl p_k· p_·l) / (1 − Σ w_kl p_k· p_·l)

  Weights by level: nominal identity, ordinal linear on ranks
  ``1 − |k − l| / (q − 1)``, interval quadratic on values, ratio Gwet's (2014)
  ratio weights.
* **Krippendorff's α** with the units as units and every repeat as a value
  (any number per unit, any level; Krippendorff, 2011): coincidences
  ``o_ck = Σ_u n_uc (n_uk − [c = k]) / (m_u − 1)``, so a unit weighs by its
  number of labels, as Krippendorff's α always does.

κ and α carry percentile intervals (and ``se``, the replicates' standard
deviation) from a seeded bootstrap over units (Efron & Tibshirani, 1993),
the same replicates for both. A rater whose percent self-agreement interval lies
wholly below the pool's point estimate (or below ``threshold``) is flagged;
with ``flag_adjust="bonferroni"`` (default) that interval is widened to
``1 − (1 − confidence)/k`` for the k raters assessed (Dunn, 1961), so a pool
of consistent raters yields no flag by chance. Raters with fewer than
``min_units`` repeated items get figures but the flag "too few repeats".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.errors import UsageError
from opsloop.metrics._intra_kernel import (
    alpha_features,
    alpha_from_sums,
    bootstrap_by_row,
    kappa_features,
    kappa_from_sums,
)
from opsloop.metrics._kernel import count_matrix, numeric_values, scores, weight_matrix
from opsloop.metrics._krippendorff import LEVELS
from opsloop.metrics._records import MetricRecord, landis_koch
from opsloop.metrics._slicing import MISSING
from opsloop.stats import normal_quantile, wilson_arrays, wilson_interval

PERCENT, KAPPA, ALPHA = "intra_percent_agreement", "intra_cohen_kappa", "intra_krippendorff_alpha"
INTRA_METRICS = (PERCENT, KAPPA, ALPHA)
ORDER_COLUMNS = ("opsloop_nth", "submitted_at")
DEFAULT_TASK = "label"
_KAPPA_WEIGHTS = {"nominal": "identity", "ordinal": "linear", "interval": "quadratic",
                  "ratio": "ratio"}
_FLAG_ADJUST = ("bonferroni", "none")
_RESERVED = ("item_id", "rater_id", "label", *ORDER_COLUMNS)


@dataclass(frozen=True)
class RaterFlag:
    """A rater whose self-agreement needs a look, and why.

    ``reason`` is ``below_pool`` (the flag interval of percent self-agreement
    lies wholly below the pool's point estimate), ``below_threshold`` (below
    the given threshold) or ``too_few_repeats`` (``n_units < min_units``: not
    assessed). ``ci_low``/``ci_high`` is the interval the rule used (the
    Bonferroni-widened one by default), ``reference`` the line it was held to.
    """

    slice: dict[str, str]
    rater_id: str
    reason: str
    value: float
    ci_low: float
    ci_high: float
    reference: float
    n_units: int

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        return {"slice": dict(self.slice), "rater_id": self.rater_id, "reason": self.reason,
                "value": clean(self.value), "ci_low": clean(self.ci_low),
                "ci_high": clean(self.ci_high), "reference": clean(self.reference),
                "n_units": int(self.n_units)}


@dataclass(frozen=True)
class IntraRaterResult:
    """Intra-rater records (pool and per rater, per slice) and flags.

    Records use :class:`MetricRecord`: the pool's slice is the task/``by``
    values, a rater's adds ``rater_id`` (``n_raters`` = 1). ``n_items`` is
    the number of units entering (a rater's items labelled more than once;
    for the pool, distinct such items); ``extra`` has ``n_units`` and
    ``n_labels`` (κ also ``pa``/``pe``). ``n_single_units`` counts
    (item, task, rater) with one label (no repeat), ``n_dropped_rows`` rows
    with a missing item, rater or label; ``order_by`` names the column that
    ordered the repeats.
    """

    records: tuple[MetricRecord, ...]
    flags: tuple[RaterFlag, ...] = ()
    n_single_units: int = 0
    n_dropped_rows: int = 0
    order_by: str = "row order"

    def to_dict(self) -> dict[str, Any]:
        return {"records": [r.to_dict() for r in self.records],
                "flags": [f.to_dict() for f in self.flags],
                "n_single_units": self.n_single_units,
                "n_dropped_rows": self.n_dropped_rows, "order_by": self.order_by}

    def get(self, metric: str, **slice_values: str) -> MetricRecord:
        """The record of ``metric`` whose slice is exactly ``slice_values``."""
        for r in self.records:
            if r.metric == metric and r.slice == slice_values:
                return r
        raise KeyError(f"no record for {metric!r} on slice {slice_values}")

    def flagged(self, reason: str | None = None) -> tuple[str, ...]:
        """Rater ids flagged (for ``reason``, or any), sorted, each once."""
        return tuple(sorted({f.rater_id for f in self.flags
                             if reason is None or f.reason == reason}))


@dataclass(frozen=True)
class _Options:
    confidence: float
    n_boot: int
    seed: int
    threshold: float | None
    min_units: int
    flag_adjust: str


@dataclass(frozen=True)
class _Units:
    """The repeated units of one slice (rows: units with ≥ 2 labels)."""

    key: dict[str, str]
    level: str
    categories: tuple[str, ...]
    rater_names: tuple[str, ...]
    unit_rater: np.ndarray
    counts: np.ndarray
    first: np.ndarray
    second: np.ndarray
    n_items: int


@dataclass(frozen=True)
class _Figures:
    """Point values, intervals and sizes of one metric: index 0 the pool, then raters."""

    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    se: np.ndarray
    notes: list[str | None]
    extra: dict[str, np.ndarray] = field(default_factory=dict)


# --- input -------------------------------------------------------------------------------


def _as_arrow(table: Any, columns: list[str]) -> pa.Table:
    have = _columns_of(table)
    missing = [c for c in columns if c not in have]
    if missing:
        raise UsageError(f"column(s) {', '.join(missing)} not found (have: {', '.join(have)})")
    if isinstance(table, pa.Table):
        return table.select(columns)
    return table.select(*columns).to_pyarrow()


def _columns_of(table: Any) -> list[str]:
    if isinstance(table, pa.Table):
        return list(table.column_names)
    if hasattr(table, "to_pyarrow") and hasattr(table, "columns"):
        return list(table.columns)
    raise UsageError(
        f"intra_rater_agreement() takes a pyarrow or Ibis table, not {type(table).__name__}")


def _strings(column: pa.ChunkedArray) -> pa.Array:
    arr = column.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Codes into the sorted distinct strings of a column (nulls → ``(missing)``)."""
    arr = _strings(column)
    if arr.null_count:
        arr = pc.coalesce(arr, pa.scalar(MISSING, pa.string()))
    enc = pc.dictionary_encode(arr)
    names = enc.dictionary.to_pylist()
    order = sorted(range(len(names)), key=lambda i: names[i])
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return rank[enc.indices.to_numpy(zero_copy_only=False)], [names[i] for i in order]


def _order_rank(table: pa.Table, column: str | None) -> np.ndarray:
    """A rank per row that orders a unit's repeats (nulls last; row order breaks ties)."""
    if column is None:
        return np.arange(table.num_rows, dtype=np.int64)
    arr = table[column].combine_chunks()
    if column == "opsloop_nth" and pa.types.is_string(arr.type):
        try:
            arr = pc.cast(arr, pa.float64())
        except pa.ArrowInvalid:
            raise UsageError("column opsloop_nth must hold numbers (1 = first label)") from None
    ranks = pc.rank(arr, sort_keys="ascending", tiebreaker="dense")
    return np.asarray(ranks.to_numpy(zero_copy_only=False), dtype=np.int64)


def _category_order(labels: list[str]) -> list[str]:
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def _task_setting(setting: Any, task: str) -> Any:
    """A per-task setting: the mapping's entry for ``task``, or the one value for all."""
    return setting.get(task) if isinstance(setting, Mapping) else setting


def _label_codes(labels: pa.Array, tasks: np.ndarray, task_names: list[str],
                 categories: Any) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Label codes per row (into its task's categories) and each task's categories."""
    codes = np.empty(len(labels), dtype=np.int64)
    cats_by_task: list[tuple[str, ...]] = []
    for t, name in enumerate(task_names):
        rows = np.flatnonzero(tasks == t)
        sub = labels.take(pa.array(rows))
        given = _task_setting(categories, name)
        if given is None:
            cats = _category_order([v for v in pc.unique(sub).to_pylist() if v is not None])
        else:
            cats = [str(c) for c in given]
        idx = pc.index_in(sub, value_set=pa.array(cats, pa.string())).fill_null(-1)
        got = np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)
        if (got < 0).any():
            bad = sub[int(np.flatnonzero(got < 0)[0])].as_py()
            raise UsageError(f"label {bad!r} is not one of the categories {cats} (task {name!r})")
        codes[rows] = got
        cats_by_task.append(tuple(cats))
    return codes, cats_by_task


def _slice_ids(code_columns: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """A slice id per row (sorted by the codes) and each slice's code row."""
    if not code_columns:
        return np.zeros(n, dtype=np.int64), np.zeros((1, 0), dtype=np.int64)
    stacked = np.column_stack(code_columns)
    keys, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return np.asarray(inverse).reshape(-1), keys


def _units(rows: np.ndarray, coded: dict[str, np.ndarray], q: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Group one slice's rows into (item, rater) units with their labels in order.

    Returns, for the units with two or more labels: the rater code, the count
    matrix (units × q), the first and second label and the item code; and the
    number of units with a single label.
    """
    raters, items, labels = coded["rater"], coded["item"], coded["label"]
    ordered = rows[np.lexsort((rows, coded["rank"][rows], items[rows], raters[rows]))]
    ra, it, lab = raters[ordered], items[ordered], labels[ordered]
    new = np.ones(len(ordered), dtype=bool)
    new[1:] = (ra[1:] != ra[:-1]) | (it[1:] != it[:-1])
    start = np.flatnonzero(new)
    size = np.diff(np.append(start, len(ordered)))
    counts = count_matrix(np.cumsum(new) - 1, lab, len(start), q)
    rep = size >= 2
    first = start[rep]
    return ra[first], counts[rep], lab[first], lab[first + 1], it[first], int((~rep).sum())


def _prepare(arrow: pa.Table, task_col: str | None, by: tuple[str, ...], order_col: str | None,
             level: str, levels: Mapping[str, str], categories: Any
             ) -> tuple[list[_Units], int, int]:
    """The repeated units of every slice, the single-label units and the dropped rows."""
    valid = pc.and_(pc.and_(pc.is_valid(arrow["item_id"]), pc.is_valid(arrow["rater_id"])),
                    pc.is_valid(arrow["label"]))
    kept = arrow.filter(valid)
    n_dropped = arrow.num_rows - kept.num_rows
    if kept.num_rows == 0:
        return [], 0, n_dropped
    items, _ = _codes(kept["item_id"])
    raters, rater_names = _codes(kept["rater_id"])
    if task_col is None:
        tasks, task_names = np.zeros(kept.num_rows, dtype=np.int64), [DEFAULT_TASK]
    else:
        tasks, task_names = _codes(kept[task_col])
    labels, cats_by_task = _label_codes(_strings(kept["label"]), tasks, task_names, categories)
    coded = {"item": items, "rater": raters, "label": labels,
             "rank": _order_rank(kept, order_col)}
    rest = [b for b in by if b != task_col]
    rest_codes = [_codes(kept[b]) for b in rest]
    slice_of_row, keys = _slice_ids(
        ([tasks] if task_col else []) + [c for c, _ in rest_codes], kept.num_rows)
    order = np.argsort(slice_of_row, kind="stable")
    bounds = np.searchsorted(slice_of_row[order], np.arange(len(keys) + 1))
    out: list[_Units] = []
    n_single = 0
    for s, key_codes in enumerate(keys):
        t = int(key_codes[0]) if task_col else 0
        key = {task_col: task_names[t]} if task_col else {}
        offset = 1 if task_col else 0
        key.update({b: names[int(key_codes[offset + j])]
                    for j, (b, (_, names)) in enumerate(zip(rest, rest_codes, strict=True))})
        cats = cats_by_task[t]
        ura, counts, first, second, uitem, singles = _units(
            order[bounds[s]:bounds[s + 1]], coded, len(cats))
        n_single += singles
        used, unit_rater = np.unique(ura, return_inverse=True)
        out.append(_Units(key, levels.get(task_names[t], level), cats,
                          tuple(rater_names[i] for i in used.tolist()),
                          np.asarray(unit_rater).reshape(-1), counts, first, second,
                          len(np.unique(uitem))))
    return out, n_single, n_dropped


# --- figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Classes:
    """Units grouped into classes with equal count vector and first and second label."""

    counts: np.ndarray  # J×q: each class's count vector
    cell: np.ndarray  # J: first label × q + second label
    table: np.ndarray  # (1 + R)×J: units per class, row 0 the pool, then each rater


def _classes(u: _Units) -> _Classes:
    q = len(u.categories)
    key = np.column_stack([u.counts, u.first, u.second])
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    n_r, n_j = len(u.rater_names), len(uniq)
    mult = np.bincount(u.unit_rater * n_j + np.asarray(inverse).reshape(-1),
                       minlength=n_r * n_j).reshape(n_r, n_j)
    table = np.vstack([mult.sum(axis=0, keepdims=True), mult])
    return _Classes(uniq[:, :q], uniq[:, q] * q + uniq[:, q + 1], table)


def _interval_note(value: float, lo: float, n_units: int, n_boot: int) -> str | None:
    if math.isnan(value) or not math.isnan(lo):
        return None
    if n_boot <= 0:
        return "n_boot=0: no bootstrap interval"
    if n_units < 2:
        return "one repeated item: no interval"
    return "every bootstrap replicate undefined: no interval"


def _percent(cl: _Classes, confidence: float) -> _Figures:
    m = cl.counts.sum(axis=1)
    per_class = (cl.counts * (cl.counts - 1)).sum(axis=1) / (m * (m - 1))
    n = cl.table.sum(axis=1).astype(np.float64)
    agree = cl.table @ per_class
    value = agree / n
    low, high = wilson_arrays(agree, n, normal_quantile(confidence))
    return _Figures(value, low, high, np.sqrt(value * (1 - value) / n),
                    [None] * len(n), {"n_units": n, "n_labels": cl.table @ m})


def _kappa_alpha(cl: _Classes, w: np.ndarray, level: str, values: np.ndarray | None,
                 opts: _Options) -> tuple[_Figures, _Figures]:
    """κ (first vs second label) and α, with intervals from the same bootstrap replicates."""
    q = w.shape[0]
    k_basis = kappa_features(cl.cell // q, cl.cell % q, w)
    a_basis = alpha_features(cl.counts, level, values)
    kappa, po, pe = kappa_from_sums(cl.table @ k_basis, w)
    alpha = alpha_from_sums(cl.table @ a_basis, level, values)
    k_ci, a_ci = bootstrap_by_row(
        cl.table, [k_basis, a_basis],
        [lambda t: kappa_from_sums(t, w)[0], lambda t: alpha_from_sums(t, level, values)],
        n_boot=opts.n_boot, seed=opts.seed, confidence=opts.confidence)
    n = cl.table.sum(axis=1).astype(np.float64)
    k_notes: list[str | None] = [
        "first and second labels all in one category: κ undefined" if math.isnan(v) else None
        for v in kappa]
    a_notes: list[str | None] = [
        "all repeated labels in one category: α undefined" if math.isnan(v) else None
        for v in alpha]
    return (_Figures(kappa, k_ci.ci_low, k_ci.ci_high, k_ci.se, k_notes,
                     {"n_units": n, "pa": po, "pe": pe}),
            _Figures(alpha, a_ci.ci_low, a_ci.ci_high, a_ci.se, a_notes,
                     {"n_units": n, "n_labels": cl.table @ cl.counts.sum(axis=1)}))


def _flags(u: _Units, pct: _Figures, opts: _Options) -> dict[int, RaterFlag]:
    """Flags by rater index (1-based, as in the figures; 0 is the pool)."""
    n = pct.extra["n_units"]
    agree = pct.value * n
    reference = opts.threshold if opts.threshold is not None else float(pct.value[0])
    reason = "below_threshold" if opts.threshold is not None else "below_pool"
    assessed = int((n[1:] >= opts.min_units).sum())
    conf = opts.confidence
    if opts.flag_adjust == "bonferroni" and assessed > 1:
        conf = 1 - (1 - opts.confidence) / assessed
    out: dict[int, RaterFlag] = {}
    for i, name in enumerate(u.rater_names, start=1):
        units = int(n[i])
        if units < opts.min_units:
            out[i] = RaterFlag(dict(u.key), name, "too_few_repeats", float(pct.value[i]),
                               float(pct.ci_low[i]), float(pct.ci_high[i]), reference, units)
            continue
        lo, hi = wilson_interval(float(agree[i]), float(n[i]), conf)
        if hi < reference:
            out[i] = RaterFlag(dict(u.key), name, reason, float(pct.value[i]), lo, hi,
                               reference, units)
    return out


def _record(metric: str, u: _Units, i: int, fig: _Figures, opts: _Options,
            notes: list[str]) -> MetricRecord:
    value = float(fig.value[i])
    n_units = int(fig.extra["n_units"][i])
    note = [x for x in (fig.notes[i], _interval_note(value, float(fig.ci_low[i]), n_units,
                                                     opts.n_boot if metric != PERCENT else 1))
            if x] + notes
    interp = landis_koch(value) if metric != PERCENT and not math.isnan(value) else None
    extra = {k: float(v[i]) for k, v in fig.extra.items() if not math.isnan(float(v[i]))}
    if i == 0:
        key, n_items, n_raters = dict(u.key), u.n_items, len(u.rater_names)
    else:
        key, n_items, n_raters = {**u.key, "rater_id": u.rater_names[i - 1]}, n_units, 1
    se = float(fig.se[i])
    return MetricRecord(metric, u.level, key, value, float(fig.ci_low[i]), float(fig.ci_high[i]),
                        n_items, n_raters, se=None if math.isnan(se) else se,
                        interpretation=interp, note="; ".join(note) or None, extra=extra)


def _flag_note(flag: RaterFlag, opts: _Options) -> str:
    if flag.reason == "too_few_repeats":
        return f"too few repeats ({flag.n_units} item(s) < {opts.min_units}): not assessed"
    line = "the pool" if flag.reason == "below_pool" else "the threshold"
    return (f"flagged: self-agreement interval {flag.ci_low:.3f}–{flag.ci_high:.3f} lies below "
            f"{line} ({flag.reference:.3f})")


def _empty_records(key: dict[str, str], level: str, note: str) -> list[MetricRecord]:
    return [MetricRecord(m, level, dict(key), math.nan, math.nan, math.nan, 0, 0, note=note)
            for m in INTRA_METRICS]


def _slice_result(u: _Units, opts: _Options) -> tuple[list[MetricRecord], list[RaterFlag]]:
    if len(u.unit_rater) == 0:
        note = "no item was labelled more than once by the same rater"
        return _empty_records(u.key, u.level, note), []
    numeric = u.level in ("interval", "ratio")
    values = numeric_values(u.categories) if numeric else None
    w = weight_matrix(_KAPPA_WEIGHTS[u.level], scores(u.categories, numeric))
    cl = _classes(u)
    kappa, alpha = _kappa_alpha(cl, w, u.level, values, opts)
    figures = {PERCENT: _percent(cl, opts.confidence), KAPPA: kappa, ALPHA: alpha}
    flags = _flags(u, figures[PERCENT], opts)
    records: list[MetricRecord] = []
    for i in range(len(u.rater_names) + 1):
        flag = flags.get(i)
        for metric, fig in figures.items():
            notes = []
            if flag is not None and (metric == PERCENT or flag.reason == "too_few_repeats"):
                notes.append(_flag_note(flag, opts))
            rec = _record(metric, u, i, fig, opts, notes)
            if metric == PERCENT and flag is not None and flag.reason != "too_few_repeats":
                rec = replace(rec, extra={**rec.extra, "flag_ci_low": flag.ci_low,
                                          "flag_ci_high": flag.ci_high})
            records.append(rec)
    return records, [flags[i] for i in sorted(flags)]


# --- entry point -------------------------------------------------------------------------


def _check_options(level: str, levels: Mapping[str, str] | None, categories: Any,
                   confidence: float, n_boot: int, threshold: float | None, min_units: int,
                   flag_adjust: str) -> None:
    for lv in (level, *(levels or {}).values()):
        if lv not in LEVELS:
            raise UsageError(f"unknown level {lv!r} (choose from {', '.join(LEVELS)})")
    if isinstance(categories, str) or (
            isinstance(categories, Mapping)
            and any(isinstance(v, str) for v in categories.values())):
        raise UsageError("categories must be a sequence of labels (or one per task), "
                         "not a single string")
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, not {confidence}")
    if n_boot < 0:
        raise UsageError(f"n_boot must be 0 or more, not {n_boot}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise UsageError(f"threshold must be between 0 and 1, not {threshold}")
    if min_units < 1:
        raise UsageError(f"min_units must be at least 1, not {min_units}")
    if flag_adjust not in _FLAG_ADJUST:
        raise UsageError(f"unknown flag_adjust {flag_adjust!r} "
                         f"(choose from {', '.join(_FLAG_ADJUST)})")


def intra_rater_agreement(
    table: Any,
    *,
    level: str = "nominal",
    categories: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    levels: Mapping[str, str] | None = None,
    by: Sequence[str] = (),
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    threshold: float | None = None,
    min_units: int = 5,
    flag_adjust: str = "bonferroni",
) -> IntraRaterResult:
    """Intra-rater (test–retest) reliability of a long label table, pool and per rater.

    ``table`` (pyarrow or Ibis) has ``item_id``, ``rater_id``, ``label``,
    optionally ``task`` (always a slice) and the order of repeats in
    ``opsloop_nth`` or ``submitted_at`` (else row order); ``by`` adds slice
    columns (units are formed within a slice). ``level`` is the level of
    measurement, ``levels`` overrides it per task (``{task: level}``);
    ``categories`` fixes the category set and order, for every task or per
    task (``{task: [...]}``); otherwise labels are ordered numerically when
    they are all numbers, else alphabetically. ``threshold`` holds raters'
    percent self-agreement to a fixed line instead of the pool's estimate.
    See the module docstring for the formulas, intervals and flag rules.

    >>> t = pa.table({"item_id": ["a", "a", "b", "b", "c", "c"], "rater_id": ["x"] * 6,
    ...               "label": ["1", "1", "0", "0", "1", "0"]})
    >>> r = intra_rater_agreement(t, n_boot=0)
    >>> [round(r.get(m).value, 4) for m in INTRA_METRICS]
    [0.6667, 0.4, 0.4444]
    >>> r.flagged("too_few_repeats")
    ('x',)
    """
    _check_options(level, levels, categories, confidence, n_boot, threshold, min_units,
                   flag_adjust)
    by = tuple(dict.fromkeys(by))
    reserved = [b for b in by if b in _RESERVED]
    if reserved:
        raise UsageError(f"cannot slice by {reserved[0]!r}: it defines the units")
    have = _columns_of(table)
    task_col = "task" if "task" in have else None
    order_col = next((c for c in ORDER_COLUMNS if c in have), None)
    columns = list(dict.fromkeys(
        ["item_id", "rater_id", "label", *([task_col] if task_col else []), *by,
         *([order_col] if order_col else [])]))
    arrow = _as_arrow(table, columns)
    units, n_single, n_dropped = _prepare(arrow, task_col, by, order_col, level,
                                          levels or {}, categories)
    opts = _Options(confidence, n_boot, seed, threshold, min_units, flag_adjust)
    records: list[MetricRecord] = []
    flags: list[RaterFlag] = []
    for u in units:
        recs, fl = _slice_result(u, opts)
        records += recs
        flags += fl
    if not units:
        records = _empty_records({}, level, "no labels")
    return IntraRaterResult(tuple(records), tuple(flags), n_single, n_dropped,
                            order_col or "row order")
