"""The report's computations that read the workspace: agreement, scorecards, counts, changes.

Each step goes through the public analyses (``agreement()``, ``group_sums``,
``rca``) so the report shows the figures the command line shows: agreement
with each task's level and the bootstrap of ``opsloop agreement`` (1,000
replicates, seed 0), scorecards from the cube's sums.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np

from opsloop.config import Config
from opsloop.engine import Workspace
from opsloop.errors import OpsloopError
from opsloop.metrics import agreement
from opsloop.metrics._agreement import TaskLevels, task_taxonomy
from opsloop.monitor import (
    Cube,
    Period,
    day_from_number,
    estimate,
    group_sums,
    kpi_def,
    series_target,
    week_label,
)
from opsloop.rca import RcaInputs, RcaResult, rca
from opsloop.report._scorecards import Scorecard, scorecards

AGREEMENT_METRICS = ("krippendorff_alpha", "gwet_ac1")
MAX_CHANGES = 4
BEFORE_WEEKS = 2
CHANGE_ALPHA = 0.001
MIN_CHANGE = 0.01


def _timestamp(day: int) -> ibis.TimestampValue:
    return ibis.timestamp(dt.datetime.combine(day_from_number(day), dt.time()))


def window(view: ibis.Table, days: tuple[int, int] | None) -> ibis.Table:
    """The annotations submitted within ``days`` (``[first, stop)``; ``None``: all)."""
    if days is None:
        return view
    first, stop = days
    return view.filter(
        (view.submitted_at >= _timestamp(first)) & (view.submitted_at < _timestamp(stop))
    )


def agreement_rows(
    view: ibis.Table,
    levels: TaskLevels,
    dims: Sequence[str],
    days: tuple[int, int] | None,
    multitask: bool,
) -> list[dict[str, Any]]:
    """α and AC1 per task over ``days``: overall (dimension ``all``) and per value of ``dims``.

    The same call as ``opsloop agreement`` (each task at its level, the default
    bootstrap and seed), so the same data give the same value and interval.
    """
    t = window(view, days)
    cols = ["item_id", "rater_id", "label", *[c for c in ("task", *dims) if c in view.columns]]
    table = t.select(*dict.fromkeys(cols)).to_pyarrow()
    rows: list[dict[str, Any]] = []
    for dim in ("all", *dims):
        result = agreement(
            table, metrics=list(AGREEMENT_METRICS), by=[] if dim == "all" else [dim],
            level=levels.default, levels=levels.levels, task_categories=levels.categories,
        )  # fmt: skip
        for r in result.records:
            d = r.to_dict()
            task = r.slice.get("task") if multitask else None
            rows.append({**d, "dimension": dim, "slice_value": r.slice.get(dim, "all"),
                         "task": task})  # fmt: skip
    return rows


def rater_scorecards(
    ws: Workspace,
    view: ibis.Table,
    days: tuple[int, int] | None,
    tasks: Sequence[str],
) -> tuple[Scorecard, ...]:
    """Scorecards over ``days`` (all data when ``None``); per rater and task with several."""
    recent = window(view, days)
    attrs = [c for c in ("vendor", "site", "team") if c in view.columns]
    gold = ws.table("gold") if ws.has_table("gold") else None
    audits = ws.table("audits") if ws.has_table("audits") else None
    config = ws.config
    multitask = len(tasks) > 1
    keys = ["rater_id", *(["task"] if multitask else []), *attrs]
    sums = group_sums(recent, config, gold=gold, audits=audits, keys=keys, tasks=tasks)
    work = group_sums(recent, config, keys=["rater_id"], tasks=tasks) if multitask else None
    attrs = [a for a in attrs if set(sums[a].to_pylist()) - {"(missing)"}]
    target = config.kpis.get("accuracy")
    targets = None
    if multitask and target is not None:
        targets = {t: series_target(target, t, tasks) for t in tasks}
    return scorecards(sums, accuracy_target=target.target if target else None,
                      attributes=attrs, work=work, targets=targets)  # fmt: skip


def counts(view: ibis.Table, cube: Cube, stop: int | None) -> dict[str, int]:
    """Distinct items and raters, labels, items handled and tasks of the data reported on.

    Items are distinct ``item_id`` (an item asked two questions is one item);
    items handled are distinct (item, rater) pairs, from the cube's sums.
    """
    t = view if stop is None else view.filter(view.submitted_at < _timestamp(stop))
    row = t.aggregate(labels=t.count(), items=t.item_id.nunique(),
                      raters=t.rater_id.nunique()).to_pyarrow().to_pylist()[0]  # fmt: skip
    mask = None if stop is None else cube.day < stop
    handled = float(cube.rollup(mask=mask, measures=["sub_n"]).sums["sub_n"][0])
    return {
        "items": int(row["items"] or 0),
        "raters": int(row["raters"] or 0),
        "labels": int(row["labels"] or 0),
        "items_handled": round(handled),
        "tasks": len(cube.tasks),
    }


# --- weekly changes and their root causes ---------------------------------------------


@dataclass(frozen=True)
class Change:
    """A significant week-over-week move of a KPI (on ``task``) and its root-cause analysis."""

    kpi: str
    before: Period
    after: Period
    change: float
    p_value: float
    analysis: RcaResult | None
    note: str = ""
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            **({"task": self.task} if self.task is not None else {}),
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "change": self.change,
            "p_value": self.p_value,
            "analysis": self.analysis.to_dict() if self.analysis is not None else None,
            "note": self.note,
        }


def _week_period(monday: dt.date) -> Period:
    return Period(week_label(monday), monday, monday + dt.timedelta(days=7))


def primary_kpi(cube: Cube) -> str | None:
    """The KPI root-cause analysis follows: accuracy vs gold, else audit accuracy."""
    for k in ("accuracy", "audit_accuracy"):
        d = kpi_def(k)
        if d.sums[0] in cube.sums and float(cube.sums[d.sums[0]].sum()) > 0:
            return k
    return None


def change_points(cube: Cube, kpi: str) -> list[tuple[Period, Period, float, float]]:
    """Weeks whose KPI moved significantly, in the harmful direction, from the weeks before.

    Each week is compared with the ``BEFORE_WEEKS`` weeks before it pooled, by
    a two-sample z-test on the estimates (``Δ / sqrt(se₁² + se₂²)``); a change
    counts when ``p < 0.001`` and ``|Δ| ≥ 1`` point. The latest week is always
    compared. Returns ``(before, after, Δ, p)``, the strongest
    ``MAX_CHANGES`` changes plus the latest week, in time order.
    """
    from statistics import NormalDist

    d = kpi_def(kpi)
    weekly = cube.rollup(period="week", measures=d.sums)
    if not len(weekly):
        return []
    mondays = [day_from_number(int(x)) for x in weekly.keys["day"]]
    out: list[tuple[Period, Period, float, float]] = []
    for i in range(1, len(mondays)):
        after = _week_period(mondays[i])
        first = mondays[max(0, i - BEFORE_WEEKS)]
        before = Period(
            week_label(first) if i == 1 else f"{week_label(first)}..{week_label(mondays[i - 1])}",
            first,
            mondays[i],
        )
        sums = {
            m: np.array([v[max(0, i - BEFORE_WEEKS) : i].sum(), v[i]])
            for m, v in weekly.sums.items()
        }
        e = estimate(kpi, sums)
        delta = float(e.value[1] - e.value[0])
        se = math.sqrt(float(e.se[0]) ** 2 + float(e.se[1]) ** 2)
        if math.isnan(delta) or not se > 0:
            continue
        p = 2 * (1 - NormalDist().cdf(abs(delta) / se))
        harmful = delta < 0 if d.direction == "higher" else delta > 0
        latest = i == len(mondays) - 1
        if latest or (harmful and p < CHANGE_ALPHA and abs(delta) >= MIN_CHANGE):
            out.append((before, after, delta, p))
    latest_pair = out[-1:] if out and out[-1][1].start == mondays[-1] else []
    others = sorted(out[: len(out) - len(latest_pair)], key=lambda c: -abs(c[2]))[:MAX_CHANGES]
    return sorted(others, key=lambda c: c[1].start) + latest_pair


def weekly_changes(
    inputs: RcaInputs, config: Config, cube: Cube, stop: int
) -> tuple[list[Change], list[str]]:
    """Root causes of every significant weekly change before ``stop``, per task."""
    notes: list[str] = []
    changes: list[Change] = []
    upto = cube.before(stop)
    tasks = upto.tasks if upto.multitask else (None,)
    for task in tasks:
        part = upto.for_task(task) if task is not None else upto
        kpi = primary_kpi(part)
        if kpi is None:
            on = f" on task {task}" if task is not None else ""
            notes.append(f"no gold or audits{on}: no quality KPI to analyse for root causes")
            continue
        for before, after, delta, p in change_points(part, kpi):
            try:
                analysis = rca(inputs, config, kpi=kpi, before=before, after=after, task=task)
                changes.append(Change(kpi, before, after, delta, p, analysis, task=task))
            except OpsloopError as exc:
                changes.append(Change(kpi, before, after, delta, p, None, str(exc), task))
    return changes, notes


def task_label(task: str | None, config: Config) -> str:
    """``task`` as the report names it (its taxonomy's level when ordered)."""
    if task is None:
        return ""
    tt = task_taxonomy(config.taxonomy, task)
    return task if tt is None or tt.level == "nominal" else f"{task} ({tt.level})"
