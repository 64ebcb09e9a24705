"""RAG status of a KPI estimate against its target.

A status is *green*, *amber*, *red* or *none* (no target, or nothing
measured). The rule uses the estimate's 95% interval so that noise alone
neither raises nor hides an alarm: a KPI is red only when the data show it is
on the wrong side of its target, and green only when they show it is on the
good side with room to spare (the *amber margin*, a warning band on the good
side of the target, in the KPI's unit).

For a KPI where higher is better (accuracy), with target ``T``, margin ``m``,
point estimate ``v`` and interval ``[lo, hi]``:

========  =====================================================
red       ``hi < T`` — the whole interval is below the target
green     ``lo ≥ T`` and ``v ≥ T + m`` — above the target, with
          the estimate beyond the warning band
amber     otherwise: the interval straddles the target, or the
          estimate is inside the warning band ``[T, T + m)``
========  =====================================================

Lower-is-better KPIs (leakage, handling time) mirror it: red when
``lo > T``; green when ``hi ≤ T`` and ``v ≤ T − m``. An estimate without an
interval (throughput) is judged on its value: red when worse than ``T``,
amber within ``m`` of it on the good side, green beyond.

>>> kpi_status(0.95, 0.93, 0.97, target=0.90, direction="higher", amber_margin=0.02)
'green'
>>> kpi_status(0.91, 0.89, 0.93, target=0.90, direction="higher", amber_margin=0.0)
'amber'
>>> kpi_status(0.85, 0.83, 0.87, target=0.90, direction="higher", amber_margin=0.0)
'red'
>>> kpi_status(120.0, None, None, target=100.0, direction="higher", amber_margin=50.0)
'amber'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

Status = Literal["green", "amber", "red", "none"]
Direction = Literal["higher", "lower"]
STATUSES: tuple[Status, ...] = ("red", "amber", "green", "none")


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def kpi_status(
    value: float | None,
    ci_low: float | None,
    ci_high: float | None,
    target: float | None,
    direction: Direction,
    amber_margin: float = 0.0,
) -> Status:
    """Green, amber or red for ``value`` (interval ``[ci_low, ci_high]``) against ``target``.

    Higher is better (``direction="higher"``): red when ``ci_high < target``;
    green when ``ci_low >= target`` and ``value >= target + amber_margin``;
    amber otherwise. ``"lower"`` mirrors it (red when ``ci_low > target``;
    green when ``ci_high <= target`` and ``value <= target - amber_margin``).
    Without an interval (either end missing or NaN) the value decides: red if
    worse than the target, amber if within ``amber_margin`` on the good side,
    green otherwise. ``"none"`` when there is no target or no value.

    >>> kpi_status(0.04, 0.03, 0.05, target=0.05, direction="lower")
    'green'
    >>> kpi_status(0.04, 0.03, 0.06, target=0.05, direction="lower")
    'amber'
    >>> kpi_status(None, None, None, target=0.05, direction="lower")
    'none'
    """
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', not {direction!r}")
    if amber_margin < 0 or math.isnan(amber_margin):
        raise ValueError(f"amber_margin must be >= 0, not {amber_margin!r}")
    v, t = _finite(value), _finite(target)
    if v is None or t is None:
        return "none"
    lo, hi = _finite(ci_low), _finite(ci_high)
    # express everything as "higher is better" by flipping signs
    sign = 1.0 if direction == "higher" else -1.0
    v, t = sign * v, sign * t
    if lo is None or hi is None:
        if v < t:
            return "red"
        return "amber" if v < t + amber_margin else "green"
    worst, best = (lo, hi) if sign > 0 else (-hi, -lo)
    if best < t:
        return "red"
    if worst >= t and v >= t + amber_margin:
        return "green"
    return "amber"


def worst_status(statuses: Iterable[Status]) -> Status:
    """The most severe of ``statuses`` (red > amber > green > none).

    >>> worst_status(["green", "amber", "none"])
    'amber'
    >>> worst_status([])
    'none'
    """
    seen = set(statuses)
    return next((s for s in STATUSES if s in seen), "none")
