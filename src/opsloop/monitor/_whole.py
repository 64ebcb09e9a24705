"""Monitoring without dates: every KPI's status over the whole period.

When no annotation carries ``submitted_at``, nothing can be placed in a week,
but everything that does not need time still can be measured: accuracy and
the error KPIs against gold, audit accuracy, handling time and cost, α and
AC1. Each gets one status, scope ``window`` and period ``all data``, judged
against its target with the same rule as a weekly status
(:func:`opsloop.monitor.kpi_status`); per task when the annotations answer
several questions, and per slice target. What needs time — control charts,
EWMA, throughput (items per day) and SLA turnaround — is listed in the notes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from opsloop.config import Config, KpiTarget
from opsloop.monitor._agreement_series import WHOLE_PERIOD, AgreementPoint
from opsloop.monitor._cube import Cube
from opsloop.monitor._estimates import (
    Est,
    kpi_estimate,
    measures,
    red_message,
    series_scopes,
    slice_mask,
    sourced,
    status_of,
    unmeasured,
)
from opsloop.monitor._kpis import KPIS, KpiDef
from opsloop.monitor._results import Breach, KpiStatus, MonitorResult
from opsloop.monitor._status import Direction
from opsloop.monitor._targets import series_target, slice_goals, where_text

NEEDS_TIME = ("throughput", "sla_turnaround")
NO_DATES = (
    "trends and control charts (p-chart, X̄, EWMA): not computed, no annotation has a "
    "submitted_at date; KPIs are judged over the whole period instead"
)


def _sums(cube: Cube, mask: np.ndarray | None, names: Sequence[str]) -> dict[str, np.ndarray]:
    r = cube.rollup(mask=mask, measures=names)
    return {m: np.asarray(r.sums[m], dtype=np.float64) for m in names}


def _cube_status(
    d: KpiDef, cube: Cube, where: Mapping[str, str], target: KpiTarget | None,
    value_target: float | None, direction: Direction,
) -> KpiStatus | None:  # fmt: skip
    names = measures(d)
    if not sourced(names, cube):
        return None
    mask = cube.mask(where) if where else None
    est = kpi_estimate(d, _sums(cube, mask, names), None)
    if not np.isfinite(est.value[0]):
        return None
    return status_of(d, where, "window", WHOLE_PERIOD, est, 0, target, value_target, direction)


def _agreement_status(
    d: KpiDef, p: AgreementPoint, target: KpiTarget | None, direction: Direction,
    tasks: Sequence[str],
) -> KpiStatus:  # fmt: skip
    est = Est(*(np.array([x]) for x in (p.value, p.ci_low, p.ci_high, p.se, float(p.n_items))))
    value_target = series_target(target, p.where.get("task"), tasks)
    return status_of(d, p.where, "window", WHOLE_PERIOD, est, 0, target, value_target, direction)


def _kpi_statuses(
    d: KpiDef,
    cube: Cube,
    config: Config,
    agreement: Mapping[str, Sequence[AgreementPoint]] | None,
    notes: list[str],
) -> list[KpiStatus]:
    target = config.kpis.get(d.name)
    direction: Direction = (target.direction if target else None) or d.direction
    if d.name in NEEDS_TIME:
        if target is not None:
            notes.append(f"{d.name}: has a target but needs submitted_at dates to be measured")
        return []
    if d.kind == "agreement":
        points = [p for p in (agreement or {}).get(d.name, ()) if np.isfinite(p.value)]
        tasks = tuple(p.where["task"] for p in points if "task" in p.where)
        out = [_agreement_status(d, p, target, direction, tasks) for p in points]
    else:
        out = []
        for where in series_scopes(cube, d):
            value_target = series_target(target, where.get("task"), cube.tasks)
            st = _cube_status(d, cube, where, target, value_target, direction)
            if st is not None:
                out.append(st)
            elif where and value_target is not None:
                notes.append(unmeasured(d, target, where))
    if not out:
        notes.append(unmeasured(d, target))
        return out
    if target is None or d.kind == "agreement":
        if target is not None:
            notes += slice_goals(d, target, cube.tasks)[1]
        return out
    goals, why = slice_goals(d, target, cube.tasks)
    notes += why
    for goal in goals:
        mask, problem = slice_mask(cube, goal.where)
        if mask is None:
            notes.append(f"{d.name}: slice target {where_text(goal.where)}: {problem}")
            continue
        est = kpi_estimate(d, _sums(cube, mask, measures(d)), None)
        out.append(status_of(d, goal.where, "window", WHOLE_PERIOD, est, 0, target,
                             goal.target, direction))  # fmt: skip
    return out


def monitor_whole_period(
    cube: Cube,
    config: Config,
    names: Sequence[str],
    agreement: Mapping[str, Sequence[AgreementPoint]] | None,
    cube_notes: bool,
) -> MonitorResult:
    """The status of each KPI in ``names`` over all the (undated) data of ``cube``.

    ``agreement`` holds whole-period points
    (:func:`~opsloop.monitor._agreement_series.agreement_whole_period`);
    ``cube_notes`` adds the cube's own notes (when no KPI was asked for).
    """
    notes: list[str] = [NO_DATES, *(cube.notes if cube_notes else ())]
    statuses: list[KpiStatus] = []
    for name in names:
        d = KPIS[name]
        if d.kind == "agreement" and (agreement is None or name not in agreement):
            notes.append(f"{name}: not computed (pass agreement=agreement_whole_period(...))")
            continue
        statuses += _kpi_statuses(d, cube, config, agreement, notes)
    reds = [
        Breach(s.kpi, dict(s.where), s.period, "red", red_message(s, KPIS[s.kpi].unit))
        for s in statuses
        if s.status == "red"
    ]
    return MonitorResult(
        "all", WHOLE_PERIOD, WHOLE_PERIOD, None, tuple(names), (), tuple(statuses),
        tuple(reds), tuple(dict.fromkeys(notes)),
    )  # fmt: skip
