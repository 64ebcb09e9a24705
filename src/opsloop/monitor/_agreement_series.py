"""Agreement KPIs per period: Krippendorff's α and Gwet's AC1 week by week.

Agreement coefficients are not ratios of additive sums, so they cannot come
from the KPI cube. They are functions of the item count patterns, though —
how many items had each vector of per-category rating counts ``n_ik`` — and
those are an aggregation the engine does in one pass:

1. per (period, task, item): the ratings in each category (a pivot);
2. per (period, task, count vector): how many items have it.

With a few categories a week of a million items collapses to a few hundred
patterns, from which :func:`opsloop.metrics.krippendorff_alpha` (coincidence
matrix, Krippendorff 2011; item bootstrap over patterns for the interval) and
:func:`opsloop.metrics.gwet_family` (AC1, Gwet 2008, with Gwet's 2014 analytic
standard error) compute what ``agreement(annotations, by=[period])`` computes:
the categories of a task are the labels seen in it over the whole table. Only
items rated by two or more raters in the period are paired; single ratings
enter AC1's category prevalence as in ``agreement()``. An item rated in two
periods counts in each with the ratings of that period. Annotations are
expected to be unique per (item, rater, task), as the workspace's annotation
view guarantees (a duplicate would count as a further rating).

Each task is measured at its own level (``levels``, from the taxonomy via
:func:`opsloop.metrics._agreement.agreement_levels`), and the count patterns
are handed to the bootstrap in the order ``agreement()`` hands them, with the
same replicates and seed: a week's α here has the value *and the interval*
that ``opsloop agreement --by week`` prints for that week.

>>> import pyarrow as pa, ibis, datetime as dt
>>> d = [dt.datetime(2025, 1, 6)] * 6
>>> t = ibis.memtable(pa.table({"item_id": ["a", "a", "b", "b", "c", "c"],
...     "rater_id": ["x", "y"] * 3, "label": ["1", "1", "0", "0", "1", "0"], "submitted_at": d}))
>>> p = agreement_by_period(t, n_boot=0)["krippendorff_alpha"][0]
>>> p.period, round(p.value, 4), p.n_items
('2025-W02', 0.4444, 3)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np

from opsloop.errors import UsageError
from opsloop.metrics import ItemCounts, agreement, gwet_family, krippendorff_alpha
from opsloop.metrics._agreement import N_BOOT, SEED, TaskLevels
from opsloop.monitor._periods import day_from_number, week_label
from opsloop.stats import week_monday

AGREEMENT_KPIS = ("krippendorff_alpha", "gwet_ac1")
LEVELS = ("nominal", "ordinal", "interval", "ratio")
DEFAULT_N_BOOT = N_BOOT
WHOLE_PERIOD = "all data"


def _clean(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else float(x)


@dataclass(frozen=True)
class AgreementPoint:
    """One agreement coefficient in one period (and task, when there are several).

    ``n_items`` counts the items with two or more ratings in the period,
    ``n_raters`` the raters who rated anything in it; ``where`` is
    ``{"task": …}`` when the annotations hold several tasks, else empty.
    ``start`` is ``None`` for the whole period of undated annotations;
    ``level`` is α's level of measurement (AC1 is nominal).
    """

    metric: str
    period: str
    start: dt.date | None
    value: float
    ci_low: float
    ci_high: float
    se: float
    n_items: int
    n_raters: int
    where: dict[str, str] = field(default_factory=dict)
    note: str | None = None
    level: str = "nominal"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "period": self.period,
            "start": None if self.start is None else self.start.isoformat(),
            "value": _clean(self.value),
            "ci_low": _clean(self.ci_low),
            "ci_high": _clean(self.ci_high),
            "se": _clean(self.se),
            "n_items": self.n_items,
            "n_raters": self.n_raters,
            "where": dict(self.where),
            "level": self.level,
            "note": self.note,
        }


def period_day(day: ibis.IntegerValue, period: str) -> ibis.IntegerValue:
    """The first day (days since 1970-01-01) of the day's period: itself, or its ISO week's Monday."""
    if period == "day":
        return day
    if period == "week":
        return week_monday(day)
    raise UsageError(f"period must be 'day' or 'week', not {period!r}")


def period_label(start_day: int, period: str) -> str:
    """``2025-W03`` for a week, ``2025-01-13`` for a day.

    >>> period_label(20101, "week"), period_label(20101, "day")
    ('2025-W03', '2025-01-13')
    """
    day = day_from_number(start_day)
    return week_label(day) if period == "week" else day.isoformat()


def _order(labels: list[str]) -> list[str]:
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def _numeric(categories: Sequence[str]) -> np.ndarray:
    try:
        values = np.array([float(c) for c in categories])
    except ValueError:
        raise UsageError("interval and ratio levels need numeric labels") from None
    if not np.isfinite(values).all():
        raise UsageError("interval and ratio levels need finite numeric labels")
    return values


PatternArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_PACK_BITS = 63  # bits of a signed 64-bit sum


def _pattern_arrays(arrow: Any, rows: np.ndarray) -> PatternArrays:
    periods = arrow["__p"].to_numpy().astype(np.int64)
    tasks = np.asarray(arrow["__task"].to_pylist(), dtype=object)
    mult = arrow["__m"].to_numpy().astype(np.float64)
    return periods, tasks, rows, mult


def _patterns_by_column(t: ibis.Table, categories: Sequence[str]) -> PatternArrays:
    cols = [f"__c{j}" for j in range(len(categories))]
    per_item = t.group_by(["__p", "__task", "item_id"]).aggregate(
        **{c: (t.label == cat).cast("int64").sum() for c, cat in zip(cols, categories, strict=True)}
    )
    pat = per_item.group_by(["__p", "__task", *cols]).aggregate(__m=per_item.count())
    arrow = pat.to_pyarrow()
    rows = np.column_stack(
        [arrow[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in cols]
    ).reshape(arrow.num_rows, len(cols))
    return _pattern_arrays(arrow, rows)


def _patterns(t: ibis.Table, categories: Sequence[str]) -> PatternArrays:
    """(period, task, pattern rows, multiplicities) of every (period, task).

    An item's count vector is summed as one packed integer — ``bits`` bits per
    category, the label of category ``j`` adding ``2^(bits·j)`` — so the engine
    keeps one sum per item instead of one per category (the per-item grouping is
    the costliest step of the agreement series). Valid while no item has
    ``2^bits`` or more ratings in a period, which the query checks; otherwise,
    and with too many categories to pack, one sum per category.
    """
    q = len(categories)
    bits = _PACK_BITS // max(q, 1)
    if q == 0 or bits < 2:
        return _patterns_by_column(t, categories)
    weight = {cat: 1 << (bits * j) for j, cat in enumerate(categories)}
    code = t.label.substitute(weight, else_=0).cast("int64")
    n = t.count()
    # an item with too many ratings to pack gets code 0 (its sum may not fit 64 bits) and
    # sends the query to the one-column-per-category form below
    per_item = t.group_by(["__p", "__task", "item_id"]).aggregate(
        __code=ibis.ifelse(n < (1 << bits), code.sum(), 0), __n=n
    )
    pat = per_item.group_by(["__p", "__task", "__code"]).aggregate(
        __m=per_item.count(), __max=per_item["__n"].max()
    )
    arrow = pat.to_pyarrow()
    if arrow.num_rows and int(np.max(arrow["__max"].to_numpy())) >= 1 << bits:
        return _patterns_by_column(t, categories)
    packed = arrow["__code"].to_numpy().astype(np.int64)
    shifts = (bits * np.arange(q)).astype(np.int64)
    rows = ((packed[:, None] >> shifts[None, :]) & ((1 << bits) - 1)).astype(np.float64)
    return _pattern_arrays(arrow, rows)


def compressed(rows: np.ndarray, mult: np.ndarray) -> ItemCounts:
    """Count patterns in the order :func:`opsloop.metrics.compress` gives them.

    ``compress`` sorts the distinct count vectors by the number they spell in
    base ``max + 1`` (the last category most significant), or lexicographically
    (the first most significant) when that number would overflow. The seeded
    bootstrap draws per pattern, so the same order gives the same replicates.

    >>> compressed(np.array([[0.0, 2.0], [2.0, 0.0], [1.0, 1.0]]), np.ones(3)).rows.tolist()
    [[2.0, 0.0], [1.0, 1.0], [0.0, 2.0]]
    """
    keep = rows.sum(axis=1) > 0
    rows, mult = rows[keep], mult[keep]
    if rows.shape[0] == 0:
        return ItemCounts(np.zeros((0, rows.shape[1])), np.zeros(0))
    q = rows.shape[1]
    base = int(rows.max()) + 1
    if q * math.log2(base) < 62:
        key = rows.astype(np.int64) @ (base ** np.arange(q, dtype=np.int64))
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort(rows.T[::-1])
    return ItemCounts(rows[order], mult[order])


def _check(metrics: Sequence[str], levels: TaskLevels, confidence: float) -> None:
    bad = [m for m in metrics if m not in AGREEMENT_KPIS]
    if bad or not metrics:
        raise UsageError(
            f"agreement KPIs are {', '.join(AGREEMENT_KPIS)}, not {', '.join(bad) or 'none'}"
        )
    for level in (levels.default, *levels.levels.values()):
        if level not in LEVELS:
            raise UsageError(f"unknown level {level!r} (choose from {', '.join(LEVELS)})")
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, not {confidence}")


def agreement_by_period(
    annotations: ibis.Table,
    *,
    period: str = "week",
    metrics: Sequence[str] = AGREEMENT_KPIS,
    level: str = "nominal",
    levels: TaskLevels | None = None,
    categories: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = SEED,
) -> dict[str, list[AgreementPoint]]:
    """Krippendorff's α and/or Gwet's AC1 per period (ISO week or day) of ``submitted_at``.

    ``annotations`` is a long (item_id, rater_id, label, submitted_at[, task])
    Ibis table; the counting runs on its backend. ``level`` is α's level of
    measurement (AC1 is always nominal) and ``levels`` sets it, with the scale
    order, per task (a :class:`~opsloop.metrics._agreement.TaskLevels`);
    ``categories`` fixes the category set and order of every task (an
    ordinal scale), otherwise a task's labels seen over the whole table are
    used, ordered numerically when they are all numbers. α's interval is an
    item bootstrap with ``n_boot`` replicates and ``seed`` (cheap: it
    resamples count patterns; 0 for none), as in ``agreement()``; AC1's is
    analytic. Returns a list of points per metric, ordered by task and period.
    """
    tl = levels if levels is not None else TaskLevels({}, {}, level)
    _check(metrics, tl, confidence)
    missing = [
        c for c in ("item_id", "rater_id", "label", "submitted_at") if c not in annotations.columns
    ]
    if missing:
        raise UsageError(f"the annotations have no column(s) {', '.join(missing)}")
    a = annotations
    day = (a.submitted_at.epoch_seconds() // 86400).cast("int64")
    task = a.task.cast("string").fill_null("") if "task" in a.columns else ibis.literal("label")
    t = a.filter(a.submitted_at.notnull() & a.label.notnull() & a.item_id.notnull()).mutate(
        __p=period_day(day, period), __task=task, label=a.label.cast("string")
    )
    # one pass for each (period, task)'s raters and the labels seen in it
    seen = (
        t.group_by(["__p", "__task"])
        .aggregate(__r=t.rater_id.nunique(), __labels=t.label.collect(distinct=True))
        .to_pyarrow()
        .to_pylist()
    )
    task_names = sorted({r["__task"] for r in seen})
    labels_of: dict[str, set[str]] = {name: set() for name in task_names}
    for r in seen:
        labels_of[r["__task"]].update(r["__labels"] or ())
    n_raters = {(int(r["__p"]), r["__task"]): int(r["__r"]) for r in seen}
    scales: dict[str, list[str]] = {}
    for name in task_names:
        given = tl.categories.get(name, categories)
        if given is not None:
            scale = [str(c) for c in given]
            unknown = sorted(labels_of[name] - set(scale))
            if unknown:
                raise UsageError(f"label {unknown[0]!r} is not one of the categories {scale}")
            scales[name] = scale
        else:  # like agreement(): a task's categories are the labels seen in it, in order
            scales[name] = _order(sorted(labels_of[name]))
    out: dict[str, list[AgreementPoint]] = {m: [] for m in metrics}
    cats = sorted({c for scale in scales.values() for c in scale})
    if not cats:
        return out
    if len(task_names) == 1:  # one task: a constant, not a column to group by
        t = t.mutate(__task=ibis.literal(task_names[0]))
    periods, tasks, rows, mult = _patterns(t, cats)
    for name in task_names:
        scale = scales[name]
        cols = [cats.index(c) for c in scale]
        lvl = tl.level(name)
        values = _numeric(scale) if lvl in ("interval", "ratio") else None
        where = {"task": name} if len(task_names) > 1 else {}
        in_task = tasks == name
        for p in np.unique(periods[in_task]).tolist():
            sel = in_task & (periods == p)
            ic = compressed(rows[sel][:, cols], mult[sel])
            n_r = n_raters.get((int(p), name), 0)
            for m in metrics:
                if m == "krippendorff_alpha":
                    est = krippendorff_alpha(
                        ic, lvl, values, confidence=confidence, n_boot=n_boot, seed=seed
                    )
                else:
                    est = gwet_family("gwet_ac1", ic, np.eye(len(scale)), confidence)
                out[m].append(
                    AgreementPoint(
                        m, period_label(int(p), period), day_from_number(int(p)),
                        float(est.value), float(est.ci_low), float(est.ci_high), float(est.se),
                        int(est.n_items), n_r, where, est.note,
                        lvl if m == "krippendorff_alpha" else "nominal",
                    )
                )  # fmt: skip
    return out


def agreement_whole_period(
    annotations: ibis.Table,
    *,
    metrics: Sequence[str] = AGREEMENT_KPIS,
    levels: TaskLevels | None = None,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = SEED,
) -> dict[str, list[AgreementPoint]]:
    """α and/or AC1 per task over every annotation, dated or not: :func:`agreement` itself
    (the figures of ``opsloop agreement`` on the same table), as points of one period
    labelled :data:`WHOLE_PERIOD` (``start`` is ``None``)."""
    tl = levels if levels is not None else TaskLevels()
    _check(metrics, tl, confidence)
    cols = [c for c in ("item_id", "rater_id", "label", "task") if c in annotations.columns]
    result = agreement(
        annotations.select(*cols), metrics=list(metrics), level=tl.default, levels=tl.levels,
        task_categories=tl.categories, confidence=confidence, n_boot=n_boot, seed=seed,
    )  # fmt: skip
    tasks = {r.slice.get("task", "label") for r in result.records}
    out: dict[str, list[AgreementPoint]] = {m: [] for m in metrics}
    for r in result.records:
        where = {"task": r.slice["task"]} if len(tasks) > 1 and "task" in r.slice else {}
        se = math.nan if r.se is None else r.se
        level = r.level if r.metric == "krippendorff_alpha" else "nominal"
        point = AgreementPoint(r.metric, WHOLE_PERIOD, None, r.value, r.ci_low, r.ci_high, se,
                               r.n_items, r.n_raters, where, r.note, level)  # fmt: skip
        out[r.metric].append(point)
    return out
