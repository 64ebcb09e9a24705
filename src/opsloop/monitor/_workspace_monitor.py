"""Monitoring a workspace: the request checked before any data is read, the as-of
resolved against the data, and the cube with the agreement series handed to
:func:`~opsloop.monitor._monitor.monitor`. :class:`opsloop.session.Session` runs
the same steps, sharing the cube with the other analyses of a run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import ibis

from opsloop.config import Config
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.metrics._agreement import agreement_levels
from opsloop.monitor._agreement_series import (
    AGREEMENT_KPIS,
    AgreementPoint,
    agreement_by_period,
    agreement_whole_period,
)
from opsloop.monitor._cube import Cube
from opsloop.monitor._cube_query import task_names, workspace_cube
from opsloop.monitor._kpis import KPIS
from opsloop.monitor._monitor import PERIODS, choose_kpis, monitor, stop_day
from opsloop.monitor._periods import RELATIVE, Period, day_from_number, parse_period
from opsloop.monitor._results import MonitorResult

AgreementSource = Callable[[Sequence[str], "Period | dt.date | None", bool, tuple[str, ...]],
                           dict[str, list[AgreementPoint]]]  # fmt: skip


def workspace_agreement(
    ws: Workspace,
    *,
    period: str = "week",
    metrics: Sequence[str] = AGREEMENT_KPIS,
    as_of: Period | dt.date | None = None,
    dated: bool = True,
    tasks: Sequence[str] | None = None,
) -> dict[str, list[AgreementPoint]]:
    """α and/or AC1 of a workspace per period (or over the whole period when not
    ``dated``), each task at its taxonomy's level with its scale order, with the
    bootstrap (replicates, seed) of ``opsloop agreement``. ``as_of`` drops
    annotations after it; ``tasks`` (default: read from the annotations) are
    the tasks whose levels to look up.

    Agreement reads items, raters, labels and dates only: the stored annotations
    (under the repeat policy), without the item and rater joins of the view."""
    ann = ws.table("annotations")
    levels = agreement_levels(ws.config.taxonomy, task_names(ann) if tasks is None else tasks)
    if not dated:
        return agreement_whole_period(ann, metrics=metrics, levels=levels)
    stop = stop_day(as_of)
    if stop is not None:
        end = dt.datetime.combine(day_from_number(stop), dt.time())
        ann = ann.filter(ann.submitted_at < ibis.literal(end))
    return agreement_by_period(ann, period=period, metrics=metrics, levels=levels)


def resolve_as_of(as_of: Period | dt.date | str | None, cube: Cube) -> Period | dt.date | None:
    """``as_of`` as a period or day: text (``2025-W03``, ``previous-week`` …) is resolved
    against the cube's last day; refused for an undated cube."""
    if isinstance(as_of, str):
        last = cube.last_day
        as_of = parse_period(as_of, None if last is None else day_from_number(last))
    if not cube.dated and as_of is not None:
        raise UsageError("--as-of needs dates: no annotation has a submitted_at")
    return as_of


def check_monitor_request(
    period: str, kpis: Sequence[str] | None, config: Config, as_of: Period | dt.date | str | None
) -> list[str]:
    """Reject a bad period, KPI or as-of before any data is read; the KPIs wanted."""
    if period not in PERIODS:
        raise UsageError(f"period must be 'week' or 'day', not {period!r}")
    wanted = choose_kpis(kpis, config, dict.fromkeys(AGREEMENT_KPIS))
    if isinstance(as_of, str) and as_of.strip().lower() not in RELATIVE:
        parse_period(as_of)
    return wanted


def monitor_cube(
    cube: Cube,
    config: Config,
    agreement_of: AgreementSource,
    *,
    period: str = "week",
    kpis: Sequence[str] | None = None,
    as_of: Period | dt.date | str | None = None,
) -> MonitorResult:
    """:func:`monitor` on a workspace's cube, with the agreement series (when a chosen KPI
    needs them) from ``agreement_of(metrics, as_of, dated, tasks)``."""
    wanted = check_monitor_request(period, kpis, config, as_of)
    resolved = resolve_as_of(as_of, cube)
    chosen = [k for k in wanted if KPIS[k].kind == "agreement"]
    agreement: dict[str, list[AgreementPoint]] | None = None
    if chosen and len(cube):
        agreement = agreement_of(chosen, resolved, cube.dated, cube.tasks)
    return monitor(cube, config, period=period, kpis=kpis, agreement=agreement, as_of=resolved)


def monitor_workspace(
    ws: Workspace,
    *,
    period: str = "week",
    kpis: Sequence[str] | None = None,
    as_of: Period | dt.date | str | None = None,
) -> MonitorResult:
    """:func:`monitor` on a workspace: builds the KPI cube and, when needed, the agreement series.

    ``as_of`` may also be a period as text (``2025-W03``, ``previous-week`` …,
    see :func:`parse_period`). Agreement follows each task's taxonomy level
    (and its label order for ordered levels) and uses only annotations before
    the end of ``as_of``. A workspace without any ``submitted_at`` gets the
    whole-period status of every KPI (no control charts; a note says so).
    (:class:`opsloop.session.Session` does the same, sharing the cube with
    the other analyses of a run.)
    """
    check_monitor_request(period, kpis, ws.config, as_of)
    cube = workspace_cube(ws, dated=None)

    def agreement_of(
        metrics: Sequence[str], at: Period | dt.date | None, dated: bool, tasks: tuple[str, ...]
    ) -> dict[str, list[AgreementPoint]]:
        return workspace_agreement(ws, period=period, metrics=metrics, as_of=at, dated=dated,
                                   tasks=tasks)  # fmt: skip

    return monitor_cube(cube, ws.config, agreement_of, period=period, kpis=kpis, as_of=as_of)
