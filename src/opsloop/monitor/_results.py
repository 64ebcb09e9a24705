"""The results of :func:`monitor`: statuses, series, breaches; frozen, with ``to_dict``.

>>> s = KpiStatus("accuracy", {}, "latest", "2025-W03", 0.9, 0.88, 0.92, 500.0, 0.85,
...               "higher", 0.02, "green")
>>> s.to_dict()["status"], s.to_dict()["where"]
('green', {})
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from opsloop.monitor._spc import Rule, Side
from opsloop.monitor._status import Direction, Status

BreachKind = Literal["red", "spc_beyond_limits", "spc_run", "ewma"]
Scope = Literal["latest", "window"]


def _clean(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else float(x)


def _count(x: float) -> int | None:
    """A support ``n`` as the integer it counts (items handled summed over tasks are
    fractions that add up to whole items)."""
    return None if math.isnan(x) or math.isinf(x) else round(x)


def _floats(xs: Sequence[float]) -> list[float | None]:
    return [_clean(float(x)) for x in xs]


@dataclass(frozen=True)
class KpiStatus:
    """The RAG status of one KPI on one slice (``where``; empty = everything) in one period.

    ``scope`` is ``"latest"`` (the period under review) or ``"window"`` (every
    period up to it, pooled); ``period`` is its label (``2025-W14`` or
    ``2025-W02..2025-W14``).
    """

    kpi: str
    where: dict[str, str]
    scope: Scope
    period: str
    value: float
    ci_low: float
    ci_high: float
    n: float
    target: float | None
    direction: Direction
    amber_margin: float
    status: Status

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            "where": dict(self.where),
            "scope": self.scope,
            "period": self.period,
            "value": _clean(self.value),
            "ci_low": _clean(self.ci_low),
            "ci_high": _clean(self.ci_high),
            "n": _count(self.n),
            "target": self.target,
            "direction": self.direction,
            "amber_margin": self.amber_margin,
            "status": self.status,
        }


@dataclass(frozen=True)
class SeriesSignal:
    """A control-chart signal at ``period``: ``rule``, ``side`` and whether that side is worse."""

    period: str
    rule: Rule
    side: Side
    worse: bool

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period, "rule": self.rule, "side": self.side, "worse": self.worse}


@dataclass(frozen=True)
class KpiSeries:
    """A KPI per period with its control limits (``chart``: p, xbar or none) and EWMA.

    Arrays are tuples aligned with ``periods``; NaN where a period has no data
    or a chart does not apply.
    """

    kpi: str
    unit: str
    where: dict[str, str]
    chart: Literal["p", "xbar", "none"]
    periods: tuple[str, ...]
    starts: tuple[dt.date, ...]
    value: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    n: tuple[float, ...]
    centre: float
    lcl: tuple[float, ...]
    ucl: tuple[float, ...]
    ewma: tuple[float, ...]
    ewma_lcl: tuple[float, ...]
    ewma_ucl: tuple[float, ...]
    signals: tuple[SeriesSignal, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            "unit": self.unit,
            "where": dict(self.where),
            "chart": self.chart,
            "periods": list(self.periods),
            "starts": [s.isoformat() for s in self.starts],
            "value": _floats(self.value),
            "ci_low": _floats(self.ci_low),
            "ci_high": _floats(self.ci_high),
            "n": [_count(x) for x in self.n],
            "centre": _clean(self.centre),
            "lcl": _floats(self.lcl),
            "ucl": _floats(self.ucl),
            "ewma": _floats(self.ewma),
            "ewma_lcl": _floats(self.ewma_lcl),
            "ewma_ucl": _floats(self.ewma_ucl),
            "signals": [s.to_dict() for s in self.signals],
        }


@dataclass(frozen=True)
class Breach:
    """Something to act on: a red status, or a control-chart signal in the latest period."""

    kpi: str
    where: dict[str, str]
    period: str
    kind: BreachKind
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            "where": dict(self.where),
            "period": self.period,
            "kind": self.kind,
            "message": self.message,
        }


@dataclass(frozen=True)
class MonitorResult:
    """Series, statuses and breaches of every monitored KPI; ``to_dict`` is JSON-able.

    ``period`` is "week" or "day"; ``window`` the label of every period
    monitored (``2025-W02..2025-W14``), ``latest`` the period under review and
    ``as_of`` the last day with data taken into account. Without dates
    ``period`` is "all", ``window`` and ``latest`` are "all data", ``as_of`` is
    ``None`` and there are no series (``dated`` is false). ``has_red`` is what
    ``opsloop monitor`` turns into exit code 1.
    """

    period: str
    window: str
    latest: str
    as_of: dt.date | None
    kpis: tuple[str, ...]
    series: tuple[KpiSeries, ...]
    statuses: tuple[KpiStatus, ...]
    breaches: tuple[Breach, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def dated(self) -> bool:
        """Whether the KPIs were monitored period by period (the data have dates)."""
        return self.as_of is not None

    @property
    def has_red(self) -> bool:
        """Whether any status (latest or window, KPI or slice) is red."""
        return any(s.status == "red" for s in self.statuses)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "window": self.window,
            "latest": self.latest,
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "has_red": self.has_red,
            "kpis": list(self.kpis),
            "statuses": [s.to_dict() for s in self.statuses],
            "breaches": [b.to_dict() for b in self.breaches],
            "series": [s.to_dict() for s in self.series],
            "notes": list(self.notes),
        }
