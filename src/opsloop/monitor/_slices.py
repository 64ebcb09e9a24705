"""KPIs by slice: each value of a dimension in the period under review and its baseline.

A slice table rolls the KPI cube up per value of one dimension over two day
ranges — the period under review and the baseline weeks before it — and
gives each value's estimate with its 95% interval (the KPI's own: Wilson for
proportions, Hájek for weighted audits, normal for means) and the baseline
value to compare with. Sorted worst first.

>>> import numpy as np
>>> from opsloop.monitor._cube import Cube
>>> cube = Cube(("locale",), {"locale": ("de", "fr")}, np.array([20101, 20101]),
...             {"locale": np.array([0, 1])},
...             {"g_n": np.array([100.0, 50.0]), "g_k": np.array([90.0, 30.0])})
>>> [(r.value, r.current) for r in slice_table(cube, "accuracy", "locale", None, None)]
[('fr', 0.6), ('de', 0.9)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from opsloop.monitor._cube import Cube
from opsloop.monitor._kpis import estimate, kpi_def
from opsloop.monitor._scorecards import rounded

SLICE_DIMENSIONS = ("locale", "vendor", "queue", "content_type", "site", "tenure", "team")
SLICE_KPIS = ("accuracy", "audit_accuracy", "avg_handling_time_s")
DayRange = tuple[int, int]


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
            "current": rounded(self.current),
            "current_ci": [rounded(self.current_low), rounded(self.current_high)],
            "current_n": self.current_n,
            "baseline": rounded(self.baseline),
            "baseline_n": self.baseline_n,
            "change": rounded(self.current - self.baseline),
        }


def slice_table(
    cube: Cube,
    kpi: str,
    dimension: str,
    current: DayRange | None,
    baseline: DayRange | None,
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
    cur = cube.rollup([dimension], mask=cube.mask(where, days=current), measures=d.sums)
    e_cur = estimate(kpi, cur.sums)
    base_by_code: dict[int, int] = {}
    e_base = None
    if baseline is not None:
        base = cube.rollup([dimension], mask=cube.mask(where, days=baseline), measures=d.sums)
        e_base = estimate(kpi, base.sums)
        base_by_code = {int(c): i for i, c in enumerate(base.keys.get(dimension, []))}
    levels = cube.levels[dimension]
    rows: list[SliceRow] = []
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


def slice_tables(
    cube: Cube, current: DayRange | None, baseline: DayRange | None
) -> tuple[SliceRow, ...]:
    """Every :data:`SLICE_KPIS` the cube measures by every :data:`SLICE_DIMENSIONS` it has
    (with two or more values), per task for quality KPIs of a multi-task cube."""
    out: list[SliceRow] = []
    # a dimension with one value (e.g. tenure when no rater has hired_at) slices nothing
    dims = [d for d in SLICE_DIMENSIONS if len(cube.levels.get(d, ())) > 1]
    for kpi in SLICE_KPIS:
        d = kpi_def(kpi)
        if float(cube.sums[d.sums[0]].sum()) <= 0:
            continue
        tasks = cube.tasks if cube.multitask and d.per_task else (None,)
        for task in tasks:
            for dim in dims:
                out += slice_table(cube, kpi, dim, current, baseline, task=task)
    return tuple(out)
