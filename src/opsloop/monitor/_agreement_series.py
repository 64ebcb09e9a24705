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
expected to be unique per (item, rater, task), as the workspace guarantees
(a duplicate would count as a further rating).

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
from opsloop.metrics import ItemCounts, gwet_family, krippendorff_alpha
from opsloop.monitor._periods import day_from_number, week_label

AGREEMENT_KPIS = ("krippendorff_alpha", "gwet_ac1")
LEVELS = ("nominal", "ordinal", "interval", "ratio")
DEFAULT_N_BOOT = 200


def _clean(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else float(x)


@dataclass(frozen=True)
class AgreementPoint:
    """One agreement coefficient in one period (and task, when there are several).

    ``n_items`` counts the items with two or more ratings in the period,
    ``n_raters`` the raters who rated anything in it; ``where`` is
    ``{"task": …}`` when the annotations hold several tasks, else empty.
    """

    metric: str
    period: str
    start: dt.date
    value: float
    ci_low: float
    ci_high: float
    se: float
    n_items: int
    n_raters: int
    where: dict[str, str] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "period": self.period,
            "start": self.start.isoformat(),
            "value": _clean(self.value),
            "ci_low": _clean(self.ci_low),
            "ci_high": _clean(self.ci_high),
            "se": _clean(self.se),
            "n_items": self.n_items,
            "n_raters": self.n_raters,
            "where": dict(self.where),
            "note": self.note,
        }


def period_day(day: ibis.IntegerValue, period: str) -> ibis.IntegerValue:
    """The first day (days since 1970-01-01) of the day's period: itself, or its ISO week's Monday."""
    if period == "day":
        return day
    if period == "week":
        return day - ((day + 3) % 7)  # 1970-01-01 was a Thursday
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


def _patterns(
    t: ibis.Table, categories: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(period, task code, pattern rows, multiplicities), sorted by period, task and pattern."""
    cols = [f"__c{j}" for j in range(len(categories))]
    per_item = t.group_by(["__p", "__task", "item_id"]).aggregate(
        **{c: (t.label == cat).cast("int64").sum() for c, cat in zip(cols, categories, strict=True)}
    )
    pat = per_item.group_by(["__p", "__task", *cols]).aggregate(__m=per_item.count())
    arrow = pat.to_pyarrow()
    if arrow.num_rows == 0:
        q = len(categories)
        return np.zeros(0, np.int64), np.zeros(0, object), np.zeros((0, q)), np.zeros(0)
    periods = arrow["__p"].to_numpy().astype(np.int64)
    tasks = np.asarray(arrow["__task"].to_pylist(), dtype=object)
    rows = np.column_stack(
        [arrow[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in cols]
    )
    mult = arrow["__m"].to_numpy().astype(np.float64)
    order = np.lexsort([*(rows[:, j] for j in reversed(range(rows.shape[1]))), tasks, periods])
    return periods[order], tasks[order], rows[order], mult[order]


def agreement_by_period(
    annotations: ibis.Table,
    *,
    period: str = "week",
    metrics: Sequence[str] = AGREEMENT_KPIS,
    level: str = "nominal",
    categories: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> dict[str, list[AgreementPoint]]:
    """Krippendorff's α and/or Gwet's AC1 per period (ISO week or day) of ``submitted_at``.

    ``annotations`` is a long (item_id, rater_id, label, submitted_at[, task])
    Ibis table; the counting runs on its backend. ``level`` is α's level of
    measurement (AC1 is always nominal); ``categories`` fixes the category
    set and order (an ordinal scale), otherwise the labels seen in each task
    are used, ordered numerically when they are all numbers. α's interval is
    an item bootstrap with ``n_boot`` replicates (cheap: it resamples count
    patterns; 0 for none); AC1's is analytic. Returns a list of points per
    metric, ordered by task and period.
    """
    bad = [m for m in metrics if m not in AGREEMENT_KPIS]
    if bad or not metrics:
        raise UsageError(
            f"agreement KPIs are {', '.join(AGREEMENT_KPIS)}, not {', '.join(bad) or 'none'}"
        )
    if level not in LEVELS:
        raise UsageError(f"unknown level {level!r} (choose from {', '.join(LEVELS)})")
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, not {confidence}")
    missing = [
        c for c in ("item_id", "rater_id", "label", "submitted_at") if c not in annotations.columns
    ]
    if missing:
        raise UsageError(f"the annotations have no column(s) {', '.join(missing)}")
    a = annotations
    day = (a.submitted_at.epoch_seconds() // 86400).cast("int64")
    task = a.task.cast("string").fill_null("") if "task" in a.columns else ibis.literal("")
    t = a.filter(a.submitted_at.notnull() & a.label.notnull() & a.item_id.notnull()).mutate(
        __p=period_day(day, period), __task=task, label=a.label.cast("string")
    )
    seen = t.group_by(["__task", "label"]).aggregate(__n=t.count()).to_pyarrow().to_pylist()
    if categories is not None:
        cats = [str(c) for c in categories]
        unknown = sorted({r["label"] for r in seen} - set(cats))
        if unknown:
            raise UsageError(f"label {unknown[0]!r} is not one of the categories")
    else:
        cats = _order(sorted({r["label"] for r in seen}))
    out: dict[str, list[AgreementPoint]] = {m: [] for m in metrics}
    if not cats:
        return out
    raters = t.group_by(["__p", "__task"]).aggregate(__r=t.rater_id.nunique()).to_pyarrow()
    n_raters = {(int(r["__p"]), r["__task"]): int(r["__r"]) for r in raters.to_pylist()}
    periods, tasks, rows, mult = _patterns(t, cats)
    task_names = sorted({r["__task"] for r in seen})
    for task_name in task_names:
        in_task = tasks == task_name
        if categories is not None:
            task_cats = cats
        else:  # like agreement(): a task's categories are the labels seen in it, in order
            seen_cols = rows[in_task].sum(axis=0) > 0
            task_cats = _order([c for c, u in zip(cats, seen_cols, strict=True) if u])
        cols = [cats.index(c) for c in task_cats]
        values = _numeric(task_cats) if level in ("interval", "ratio") else None
        where = {"task": task_name} if len(task_names) > 1 else {}
        for p in np.unique(periods[in_task]).tolist():
            sel = in_task & (periods == p)
            ic = ItemCounts(rows[sel][:, cols], mult[sel])
            for m in metrics:
                if m == "krippendorff_alpha":
                    est = krippendorff_alpha(
                        ic, level, values, confidence=confidence, n_boot=n_boot, seed=seed
                    )
                else:
                    est = gwet_family("gwet_ac1", ic, np.eye(len(task_cats)), confidence)
                out[m].append(
                    AgreementPoint(
                        m,
                        period_label(int(p), period),
                        day_from_number(int(p)),
                        float(est.value),
                        float(est.ci_low),
                        float(est.ci_high),
                        float(est.se),
                        int(est.n_items),
                        n_raters.get((int(p), task_name), 0),
                        where,
                        est.note,
                    )
                )
    return out
