"""Rater scorecards and KPI-by-slice tables for the report, rolled up from sums.

A scorecard is one rater's quality (accuracy against gold with its Wilson
interval, audit accuracy), speed (average handling time) and cost (unit cost,
cost per correct label) over a window, with a flag when the rater's accuracy
interval lies wholly below the accuracy target. All figures come from the
additive sums of :func:`opsloop.monitor.group_sums`, so they agree with the
KPI cube.

When items are asked several questions, a rater has one scorecard per task:
quality is that task's, while volume (items handled: distinct items the
rater labelled), speed and cost are the rater's over all tasks — one item
with two questions is one item of work — and come from a second, per-rater
table of sums (``work``).

>>> import pyarrow as pa
>>> t = pa.table({"rater_id": ["r1", "r2"], "ann_n": [10.0, 20.0], "g_n": [10.0, 20.0],
...               "g_k": [9.0, 10.0]})
>>> [round(c.accuracy, 2) for c in scorecards(t, accuracy_target=0.8)]
[0.5, 0.9]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from opsloop.monitor import MEASURES, WORK_MEASURES, Cube, estimate, kpi_def

SLICE_KPIS = ("accuracy", "audit_accuracy", "avg_handling_time_s", "unit_cost")
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Scorecard:
    """One rater's quality (on ``task``, when there are several), speed and cost."""

    rater_id: str
    attributes: dict[str, str]
    items_handled: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    gold_n: int
    audit_accuracy: float
    audit_n: int
    avg_handling_time_s: float
    unit_cost: float
    cost_per_correct_label: float
    flag: str
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rater_id": self.rater_id,
            **({"task": self.task} if self.task is not None else {}),
            **self.attributes,
            "items_handled": self.items_handled,
            "accuracy": _num(self.accuracy),
            "accuracy_ci": [_num(self.accuracy_low), _num(self.accuracy_high)],
            "gold_n": self.gold_n,
            "audit_accuracy": _num(self.audit_accuracy),
            "audit_n": self.audit_n,
            "avg_handling_time_s": _num(self.avg_handling_time_s),
            "unit_cost": _num(self.unit_cost),
            "cost_per_correct_label": _num(self.cost_per_correct_label),
            "flag": self.flag,
        }


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 6)


def _col(table: pa.Table, name: str) -> FloatArray:
    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype=np.float64)
    values: FloatArray = np.nan_to_num(
        table[name].to_numpy(zero_copy_only=False).astype(np.float64)
    )
    return values


def _work_by_rater(sums: pa.Table, work: pa.Table | None) -> dict[str, FloatArray]:
    """The work measures of each row of ``sums``: its own, or its rater's row in ``work``."""
    arrays = {m: _col(sums, m) for m in WORK_MEASURES}
    if work is None:
        return arrays
    ids = [str(x) for x in work["rater_id"].to_pylist()]
    where = {r: i for i, r in enumerate(ids)}
    rows = np.array([where.get(str(x), -1) for x in sums["rater_id"].to_pylist()], dtype=np.int64)
    for m in WORK_MEASURES:
        col = np.append(_col(work, m), 0.0)
        arrays[m] = col[rows]
    return arrays


def scorecards(
    sums: pa.Table,
    *,
    accuracy_target: float | None = None,
    attributes: Sequence[str] = (),
    work: pa.Table | None = None,
    targets: Mapping[str, float | None] | None = None,
) -> tuple[Scorecard, ...]:
    """Scorecards from per-rater sums (a ``rater_id`` column plus measure columns).

    A ``task`` column makes one scorecard per rater and task, whose quality
    is the task's; ``work`` (per-rater sums over all tasks) then gives items
    handled, handling time and cost. ``targets`` (task -> accuracy target)
    flags per task; ``accuracy_target`` otherwise. Sorted worst first: raters
    flagged below target, then by accuracy.
    """
    if sums.num_rows == 0:
        return ()
    arrays = {m: _col(sums, m) for m in MEASURES} | _work_by_rater(sums, work)
    acc = estimate("accuracy", arrays)
    aud = estimate("audit_accuracy", arrays) if arrays["aud_n"].sum() > 0 else None
    aht = estimate("avg_handling_time_s", arrays)
    cost = estimate("unit_cost", arrays)
    cpc = estimate("cost_per_correct_label", arrays)
    ids = [str(x) for x in sums["rater_id"].to_pylist()]
    tasks = [str(x) for x in sums["task"].to_pylist()] if "task" in sums.column_names else None
    attrs = {a: [str(x) for x in sums[a].to_pylist()] for a in attributes if a in sums.column_names}
    out = []
    for i, rid in enumerate(ids):
        task = tasks[i] if tasks is not None else None
        target = targets.get(task) if task is not None and targets is not None else accuracy_target
        high = float(acc.ci_high[i])
        flag = "below target" if target is not None and high < target else ""
        out.append(
            Scorecard(
                rater_id=rid,
                attributes={a: v[i] for a, v in attrs.items()},
                items_handled=round(float(arrays["sub_n"][i])),
                accuracy=float(acc.value[i]),
                accuracy_low=float(acc.ci_low[i]),
                accuracy_high=high,
                gold_n=int(arrays["g_n"][i]),
                audit_accuracy=float(aud.value[i]) if aud is not None else math.nan,
                audit_n=int(arrays["aud_n"][i]),
                avg_handling_time_s=float(aht.value[i]),
                unit_cost=float(cost.value[i]),
                cost_per_correct_label=float(cpc.value[i]),
                flag=flag,
                task=task,
            )
        )
    out.sort(key=lambda c: (c.flag == "", math.inf if math.isnan(c.accuracy) else c.accuracy,
                            c.task or "", c.rater_id))  # fmt: skip
    return tuple(out)


@dataclass(frozen=True)
class SliceRow:
    """A KPI on one slice value in the period under review and over the baseline weeks.

    ``task`` names the question when the annotations answer several (quality
    KPIs are per task); the baseline is NaN (``baseline_n`` 0) without one.
    """

    dimension: str
    value: str
    kpi: str
    current: float
    current_low: float
    current_high: float
    current_n: int
    baseline: float
    baseline_n: int
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "value": self.value,
            "kpi": self.kpi,
            **({"task": self.task} if self.task is not None else {}),
            "current": _num(self.current),
            "current_ci": [_num(self.current_low), _num(self.current_high)],
            "current_n": self.current_n,
            "baseline": _num(self.baseline),
            "baseline_n": self.baseline_n,
            "change": _num(self.current - self.baseline),
        }


def slice_table(
    cube: Cube,
    kpi: str,
    dimension: str,
    current: tuple[int, int] | None,
    baseline: tuple[int, int] | None,
    *,
    task: str | None = None,
) -> tuple[SliceRow, ...]:
    """``kpi`` per value of ``dimension`` in the ``current`` and ``baseline`` day ranges.

    ``None`` for ``current`` is every cell (the whole period of an undated
    cube); ``None`` for ``baseline`` leaves it out. ``task`` restricts to one
    task's cells (a multi-task cube).
    """
    d = kpi_def(kpi)
    where = {"task": task} if task is not None else None
    rows: list[SliceRow] = []
    cur = cube.rollup([dimension], mask=cube.mask(where, days=current), measures=d.sums)
    e_cur = estimate(kpi, cur.sums)
    base_by_code: dict[int, int] = {}
    e_base = None
    if baseline is not None:
        base = cube.rollup([dimension], mask=cube.mask(where, days=baseline), measures=d.sums)
        e_base = estimate(kpi, base.sums)
        base_by_code = {int(c): i for i, c in enumerate(base.keys.get(dimension, []))}
    levels = cube.levels[dimension]
    for i, code in enumerate(cur.keys.get(dimension, [])):
        j = base_by_code.get(int(code))
        rows.append(
            SliceRow(
                dimension,
                levels[int(code)],
                kpi,
                float(e_cur.value[i]),
                float(e_cur.ci_low[i]),
                float(e_cur.ci_high[i]),
                round(float(e_cur.n[i])),
                float(e_base.value[j]) if e_base is not None and j is not None else math.nan,
                round(float(e_base.n[j])) if e_base is not None and j is not None else 0,
                task,
            )
        )
    rows = [r for r in rows if r.current_n > 0]
    reverse = d.direction == "lower"
    rows.sort(key=lambda r: -r.current if reverse else r.current)
    return tuple(rows)
