"""Pieces shared by period-by-period and whole-period monitoring: estimates, statuses, text."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from opsloop.config import KpiTarget
from opsloop.monitor._cube import AUDIT_MEASURES, GOLD_MEASURES, Cube, FloatArray
from opsloop.monitor._kpis import KpiDef, estimate
from opsloop.monitor._results import KpiStatus, Scope
from opsloop.monitor._status import Direction, kpi_status
from opsloop.monitor._targets import where_text


@dataclass(frozen=True)
class Est:
    """Estimates of one KPI per group: value, interval, standard error, support."""

    value: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    se: FloatArray
    n: FloatArray


def kpi_estimate(d: KpiDef, sums: Mapping[str, FloatArray], days: FloatArray | None) -> Est:
    e = estimate(d.name, sums, days=days)
    # the support of a severity ratio is the number of gold checks, not the severity sum
    n = sums["g_n"] if d.kind in ("ratio", "composite") and "g_n" in sums else e.n
    return Est(e.value, e.ci_low, e.ci_high, e.se, np.asarray(n, dtype=np.float64))


def measures(d: KpiDef) -> list[str]:
    return list(dict.fromkeys([*d.sums, *(["g_n"] if d.kind in ("ratio", "composite") else [])]))


def unmeasured(d: KpiDef, target: KpiTarget | None, where: Mapping[str, str] | None = None) -> str:
    why = "has a target but the data cannot measure it" if target else "cannot be measured"
    on = f" on {where_text(where)}" if where else ""
    return f"{d.name}{on}: {why}: it needs {d.needs}"


def sourced(names: Sequence[str], cube: Cube) -> bool:
    """Whether the cube has every measure and was fed by the tables they come from."""
    for m in names:
        if m not in cube.sums:
            return False
        if m in GOLD_MEASURES and "gold" not in cube.sources:
            return False
        if m in AUDIT_MEASURES and "audits" not in cube.sources:
            return False
    return True


def pooled(sums: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    return {m: np.array([float(v.sum())]) for m, v in sums.items()}


def fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "seconds":
        return f"{value:,.1f} s"
    if unit == "count":
        return f"{value:,.1f}"
    return f"{value:.4f}"


def status_of(
    d: KpiDef,
    where: Mapping[str, str],
    scope: Scope,
    label: str,
    est: Est,
    i: int,
    target: KpiTarget | None,
    value_target: float | None,
    direction: Direction,
) -> KpiStatus:
    margin = target.amber_margin if target is not None else 0.0
    v, lo, hi = float(est.value[i]), float(est.ci_low[i]), float(est.ci_high[i])
    status = kpi_status(v, lo, hi, value_target, direction, margin)
    return KpiStatus(
        d.name, dict(where), scope, label, v, lo, hi, float(est.n[i]),
        value_target, direction, margin, status,
    )  # fmt: skip


def red_message(s: KpiStatus, unit: str) -> str:
    side = "below" if s.direction == "higher" else "above"
    ci = "" if math.isnan(s.ci_low) else f" (95% CI {fmt(s.ci_low, unit)}–{fmt(s.ci_high, unit)})"
    where = "" if not s.where else f" on {where_text(s.where)}"
    target = fmt(float(s.target if s.target is not None else math.nan), unit)
    return f"{s.kpi}{where} {fmt(s.value, unit)}{ci} is {side} its target {target} in {s.period}"


def slice_mask(cube: Cube, where: Mapping[str, str]) -> tuple[np.ndarray | None, str | None]:
    for dim, value in where.items():
        if dim not in cube.levels:
            known = ", ".join(cube.dims) or "none"
            return None, f"unknown dimension {dim!r} (dimensions: {known})"
        if value not in cube.levels[dim]:
            return None, f"{dim} has no value {value!r} in the data"
    return cube.mask(where), None


def series_scopes(cube: Cube, d: KpiDef) -> list[dict[str, str]]:
    """The slices a KPI is monitored on: each task for quality KPIs of a multi-task cube."""
    if cube.multitask and d.per_task and d.kind != "agreement":
        return [{"task": t} for t in cube.tasks if t in cube.levels["task"]]
    return [{}]
