"""Rater scorecards and KPI-by-slice tables for the report, rolled up from sums.

A scorecard is one rater's quality (accuracy against gold with its Wilson
interval, audit accuracy), speed (average handling time) and cost (unit cost,
cost per correct label) over a window, with a flag when the rater's accuracy
interval lies wholly below the accuracy target. All figures come from the
additive sums of :func:`opsloop.monitor.group_sums`, so they agree with the
KPI cube.

>>> import pyarrow as pa
>>> t = pa.table({"rater_id": ["r1", "r2"], "ann_n": [10.0, 20.0], "g_n": [10.0, 20.0],
...               "g_k": [9.0, 10.0]})
>>> [round(c.accuracy, 2) for c in scorecards(t, accuracy_target=0.8)]
[0.5, 0.9]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from opsloop.monitor import MEASURES, Cube, estimate, kpi_def

SLICE_KPIS = ("accuracy", "audit_accuracy", "avg_handling_time_s", "unit_cost")


@dataclass(frozen=True)
class Scorecard:
    """One rater's quality, speed and cost over the report window."""

    rater_id: str
    attributes: dict[str, str]
    annotations: int
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "rater_id": self.rater_id,
            **self.attributes,
            "annotations": self.annotations,
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


def _col(table: pa.Table, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype=np.float64)
    values: np.ndarray[Any, np.dtype[np.float64]] = np.nan_to_num(
        table[name].to_numpy(zero_copy_only=False).astype(np.float64)
    )
    return values


def scorecards(
    sums: pa.Table, *, accuracy_target: float | None = None, attributes: Sequence[str] = ()
) -> tuple[Scorecard, ...]:
    """Scorecards from per-rater sums (a ``rater_id`` column plus measure columns).

    Sorted worst first: raters flagged below target, then by accuracy.
    """
    if sums.num_rows == 0:
        return ()
    arrays = {m: _col(sums, m) for m in MEASURES}
    acc = estimate("accuracy", arrays)
    aud = estimate("audit_accuracy", arrays) if arrays["aud_n"].sum() > 0 else None
    aht = estimate("avg_handling_time_s", arrays)
    cost = estimate("unit_cost", arrays)
    cpc = estimate("cost_per_correct_label", arrays)
    ids = [str(x) for x in sums["rater_id"].to_pylist()]
    attrs = {a: [str(x) for x in sums[a].to_pylist()] for a in attributes if a in sums.column_names}
    out = []
    for i, rid in enumerate(ids):
        high = float(acc.ci_high[i])
        flag = ""
        if accuracy_target is not None and not math.isnan(high) and high < accuracy_target:
            flag = "below target"
        out.append(
            Scorecard(
                rater_id=rid,
                attributes={a: v[i] for a, v in attrs.items()},
                annotations=int(arrays["ann_n"][i]),
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
            )
        )
    out.sort(key=lambda c: (c.flag == "", math.inf if math.isnan(c.accuracy) else c.accuracy))
    return tuple(out)


@dataclass(frozen=True)
class SliceRow:
    """A KPI on one slice value in the week under review and over the baseline weeks."""

    dimension: str
    value: str
    kpi: str
    current: float
    current_low: float
    current_high: float
    current_n: int
    baseline: float
    baseline_n: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "value": self.value,
            "kpi": self.kpi,
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
    current: tuple[int, int],
    baseline: tuple[int, int],
) -> tuple[SliceRow, ...]:
    """``kpi`` per value of ``dimension`` in the ``current`` and ``baseline`` day ranges."""
    d = kpi_def(kpi)
    rows: list[SliceRow] = []
    cur = cube.rollup([dimension], mask=cube.mask(days=current), measures=d.sums)
    base = cube.rollup([dimension], mask=cube.mask(days=baseline), measures=d.sums)
    e_cur = estimate(kpi, cur.sums)
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
                int(e_cur.n[i]),
                float(e_base.value[j]) if j is not None else math.nan,
                int(e_base.n[j]) if j is not None else 0,
            )
        )
    rows = [r for r in rows if r.current_n > 0]
    reverse = d.direction == "lower"
    rows.sort(key=lambda r: -r.current if reverse else r.current)
    return tuple(rows)
