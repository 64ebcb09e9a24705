"""Change detection: the weeks whose KPI moved significantly from the weeks before.

Each week with data is compared with the ``BEFORE_WEEKS`` weeks with data
before it, pooled, by a two-sample z-test on the two estimates
(``z = Δ / sqrt(se₁² + se₂²)``, two-sided p); a change counts when it goes the
harmful way, ``p < CHANGE_ALPHA`` (0.001) and ``|Δ| ≥ MIN_CHANGE`` (one
point). The latest week is always compared, so the review has its headline
comparison even when nothing moved. The strongest ``MAX_CHANGES`` changes
(by ``|Δ|``) are kept, in time order, then the latest week. Everything is a
roll-up of the KPI cube's weekly sums.

>>> import numpy as np
>>> from opsloop.monitor._cube import Cube
>>> mondays = np.array([20094, 20101, 20108])  # 2025-W02 … W04
>>> sums = {"g_n": np.array([1000.0, 1000.0, 1000.0]), "g_k": np.array([900.0, 905.0, 820.0])}
>>> [(c.after.label, round(c.change, 4)) for c in change_points(Cube((), {}, mondays, {}, sums),
...                                                             "accuracy")]
[('2025-W04', -0.0825)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.monitor._cube import Cube
from opsloop.monitor._kpis import estimate, kpi_def
from opsloop.monitor._periods import Period, day_from_number, week_label, week_period
from opsloop.stats import two_sided_p

MAX_CHANGES = 4
BEFORE_WEEKS = 2
CHANGE_ALPHA = 0.001
MIN_CHANGE = 0.01


@dataclass(frozen=True)
class ChangePoint:
    """A week (``after``) against the weeks before it (``before``): ``Δ`` and its p-value."""

    before: Period
    after: Period
    change: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "change": self.change,
            "p_value": self.p_value,
        }


def primary_kpi(cube: Cube) -> str | None:
    """The KPI root-cause analysis follows: accuracy vs gold, else audit accuracy."""
    for k in ("accuracy", "audit_accuracy"):
        d = kpi_def(k)
        if d.sums[0] in cube.sums and float(cube.sums[d.sums[0]].sum()) > 0:
            return k
    return None


def _before(mondays: list[Any], i: int) -> Period:
    first = mondays[max(0, i - BEFORE_WEEKS)]
    label = week_label(first) if i == 1 else f"{week_label(first)}..{week_label(mondays[i - 1])}"
    return Period(label, first, mondays[i])


def change_points(cube: Cube, kpi: str) -> list[ChangePoint]:
    """The significant harmful weekly changes of ``kpi`` and the latest week's comparison
    (module docstring), in time order."""
    d = kpi_def(kpi)
    weekly = cube.rollup(period="week", measures=d.sums)
    if not len(weekly):
        return []
    mondays = [day_from_number(int(x)) for x in weekly.keys["day"]]
    out: list[ChangePoint] = []
    for i in range(1, len(mondays)):
        sums = {
            m: np.array([v[max(0, i - BEFORE_WEEKS) : i].sum(), v[i]])
            for m, v in weekly.sums.items()
        }
        e = estimate(kpi, sums)
        delta = float(e.value[1] - e.value[0])
        se = math.sqrt(float(e.se[0]) ** 2 + float(e.se[1]) ** 2)
        if math.isnan(delta) or not se > 0:
            continue
        p = float(two_sided_p(np.array([delta / se]))[0])
        harmful = delta < 0 if d.direction == "higher" else delta > 0
        latest = i == len(mondays) - 1
        if latest or (harmful and p < CHANGE_ALPHA and abs(delta) >= MIN_CHANGE):
            out.append(ChangePoint(_before(mondays, i), week_period(mondays[i]), delta, p))
    latest_pair = out[-1:] if out and out[-1].after.start == mondays[-1] else []
    others = sorted(out[: len(out) - len(latest_pair)], key=lambda c: -abs(c.change))
    return sorted(others[:MAX_CHANGES], key=lambda c: c.after.start) + latest_pair
