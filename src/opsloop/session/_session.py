"""One analysis run over a workspace: shared joins and aggregates, computed once.

Every analysis of a workspace reads the same few aggregates of the same joins
(annotations under the repeat policy, joined with items, raters, gold and
audits): the KPI cube (sums per day × slice), the rater table (sums per day ×
rater [× task]), the confusion table (gold-judged labels per week × slice ×
truth × given label) and the agreement count patterns per week. A
:class:`Session` builds each of them at most once, when a step first asks,
and hands the same object to every later step — monitoring, KPIs by slice,
scorecards, root-cause analysis, agreement by slice and period — so one run
reads the workspace once per aggregate, and a figure has one source.
``opsloop monitor``, ``opsloop rca`` and ``opsloop report`` go through it.

The joins are Ibis expressions on the workspace's backend (DuckDB, or Spark
through the same expressions); what is kept in memory are the aggregates,
never the ten-million-row join itself (materialising it was slower than
aggregating it and needed more memory than the run's budget). Each
aggregate reads only the joins it needs: agreement and counts read the
stored annotations alone; the rater table joins gold and audits but not
items; the cube joins the item and rater attributes as small codes, and its
gold-judged label pairs (gold joined first, so the item join runs on the
judged rows only) are also the confusion table root-cause analysis reads.
The aggregates are built under the store's analysis settings
(:meth:`~opsloop.engine.Workspace.analysis_settings`), and the memory a step
freed is returned before the next one (:func:`release_freed_memory`).

Usage: ``run = Session(Workspace.open(path))``, then ``run.monitor()``,
``run.scorecards(days)``, ``run.rca(kpi=…, before=…, after=…)``: the second
step reuses what the first aggregated.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar, cast

import ibis
import numpy as np
import pyarrow as pa

from opsloop.config import Config
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.metrics import MISSING, agreement
from opsloop.metrics._agreement import TaskLevels, agreement_levels
from opsloop.monitor import (
    WORK_MEASURES,
    AgreementPoint,
    Cube,
    MonitorResult,
    Period,
    Scorecard,
    SliceRow,
    WeekReview,
    day_from_number,
    judged_view,
    monitor_cube,
    parse_period,
    review_week,
    scorecards,
    series_target,
    slice_tables,
    workspace_agreement,
    workspace_cube,
)
from opsloop.monitor._agreement_series import AGREEMENT_KPIS
from opsloop.monitor._cube import MEASURES
from opsloop.monitor._workspace_monitor import check_monitor_request
from opsloop.rca import RaterTable, RcaInputs, RcaResult, build_rca_inputs, rca
from opsloop.rca._workspace_inputs import workspace_rater_dims, workspace_rater_table
from opsloop.session._changes import Change, weekly_changes
from opsloop.views import rater_columns, rater_view, with_attributes

T = TypeVar("T")
DayRange = tuple[int, int]
SCORECARD_ATTRIBUTES = ("vendor", "site", "team")
AGREEMENT_METRICS = ("krippendorff_alpha", "gwet_ac1")


def _timestamp(day: int) -> ibis.TimestampValue:
    return ibis.timestamp(dt.datetime.combine(day_from_number(day), dt.time()))


def _window(t: ibis.Table, days: DayRange | None) -> ibis.Table:
    """The rows submitted within ``days`` (``[first, stop)``; ``None``: all)."""
    if days is None:
        return t
    first, stop = days
    return t.filter((t.submitted_at >= _timestamp(first)) & (t.submitted_at < _timestamp(stop)))


def release_freed_memory() -> None:
    """Hand the memory the last step freed back to the operating system.

    The Arrow pool keeps freed buffers (query results) for reuse and the C heap
    keeps freed blocks (glibc's ``malloc_trim`` returns them; elsewhere there is
    nothing to call). A run's peak memory is the next engine query on top of what
    the process still holds, so returning them lowers it (by a quarter of a
    gigabyte on the 10m demo).
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return cast(Callable[[int], int] | None, getattr(libc, "malloc_trim", None))


class Session:
    """One analysis run over ``ws``: each shared aggregate built once, on first use.

    Not a result: a run's context. The results it returns are the analyses'
    own frozen types (:class:`~opsloop.monitor.MonitorResult`,
    :class:`~opsloop.rca.RcaResult`, :class:`~opsloop.monitor.Scorecard` …).
    The workspace's repeat policy applies to every step (``Workspace.table``).
    """

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.config: Config = ws.config
        self._memo: dict[Hashable, Any] = {}

    def _cached(self, key: Hashable, build: Callable[[], T]) -> T:
        if key not in self._memo:
            with self.ws.analysis_settings():
                self._memo[key] = build()
            release_freed_memory()
        return cast(T, self._memo[key])

    # --- the shared joins ------------------------------------------------------------

    @property
    def annotations(self) -> ibis.Table:
        """The stored annotations under the repeat policy (no joins)."""
        return self.ws.table("annotations")

    @property
    def view(self) -> ibis.Table:
        """Annotations ⋈ items ⋈ raters (:func:`opsloop.views.annotation_view`)."""
        return self._cached("view", lambda: with_attributes(self.ws, self.annotations))

    def _table(self, name: str) -> ibis.Table | None:
        return self.ws.table(name) if self.ws.has_table(name) else None

    # --- the shared aggregates -----------------------------------------------------------

    def cube(self, *, dated: bool | None = None) -> Cube:
        """The KPI cube (:func:`opsloop.monitor.workspace_cube`); ``dated=None`` is dated
        when any annotation is, ``True`` requires dates."""
        cube = self._cached("cube", lambda: workspace_cube(self.ws, dated=None))
        if dated is None or dated == cube.dated:
            return cube
        return self._cached(("cube", dated), lambda: workspace_cube(self.ws, dated=dated))

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.cube().tasks

    @property
    def levels(self) -> TaskLevels:
        """Each task's agreement level and scale (from the taxonomy)."""
        return agreement_levels(self.config.taxonomy, self.tasks)

    def agreement_series(
        self,
        metrics: Sequence[str] = AGREEMENT_KPIS,
        as_of: Period | dt.date | None = None,
        *,
        period: str = "week",
    ) -> dict[str, list[AgreementPoint]]:
        """α and/or AC1 per period (whole period when undated), as ``opsloop agreement``
        computes them (:func:`opsloop.monitor.workspace_agreement`)."""
        cube = self.cube()
        key = ("agreement", tuple(metrics), as_of, period)
        return self._cached(key, lambda: workspace_agreement(
            self.ws, period=period, metrics=metrics, as_of=as_of, dated=cube.dated,
            tasks=cube.tasks))  # fmt: skip

    def rater_table(self) -> RaterTable:
        """Sums per day and rater (and task), with the rater attributes that root-cause
        analysis compares and the scorecards show; one whole-period row per rater when
        nothing is dated."""
        cube = self.cube()
        names = rater_columns(self.ws)
        wanted = [d for d in workspace_rater_dims(self.ws) if d in cube.dims]
        wanted += [a for a in SCORECARD_ATTRIBUTES if a in names]
        attrs = list(dict.fromkeys(wanted))
        return self._cached("raters", lambda: workspace_rater_table(
            self.ws, cube.tasks, attrs, grain="day", dated=cube.dated))  # fmt: skip

    def rca_inputs(self) -> RcaInputs:
        """What :func:`opsloop.rca.rca` reads: the dated cube, the rater table by week and
        the confusion table (:func:`opsloop.rca.rca_inputs`, from the shared aggregates)."""

        def build() -> RcaInputs:
            cube = self.cube(dated=True)
            raters = self.rater_table() if cube is self.cube() else None
            return build_rca_inputs(
                self.view, self.config, cube=cube, gold=self._table("gold"),
                audits=self._table("audits"), rater_dims=workspace_rater_dims(self.ws),
                rater_view=rater_view(self.ws), judged=judged_view(self.ws), raters=raters,
            )  # fmt: skip

        return self._cached("rca_inputs", build)

    # --- the steps ---------------------------------------------------------------------

    def monitor(
        self,
        *,
        period: str = "week",
        kpis: Sequence[str] | None = None,
        as_of: Period | dt.date | str | None = None,
    ) -> MonitorResult:
        """Every KPI against its target (:func:`opsloop.monitor.monitor_workspace`)."""

        def agreement_of(
            metrics: Sequence[str], at: Period | dt.date | None, dated: bool,
            tasks: tuple[str, ...],
        ) -> dict[str, list[AgreementPoint]]:  # fmt: skip
            return self.agreement_series(metrics, at, period=period)

        check_monitor_request(period, kpis, self.config, as_of)  # before any data is read
        return monitor_cube(self.cube(), self.config, agreement_of, period=period, kpis=kpis,
                            as_of=as_of)  # fmt: skip

    def rca(self, *, kpi: str, before: Period, after: Period, **options: Any) -> RcaResult:
        """Why ``kpi`` changed from ``before`` to ``after`` (:func:`opsloop.rca.rca`;
        ``options``: its ``dims``, ``max_depth``, ``min_support``, ``alpha``, ``top``,
        ``task``)."""
        return rca(self.rca_inputs(), self.config, kpi=kpi, before=before, after=after,
                   **options)  # fmt: skip

    def review_week(self, as_of: str | None = None) -> WeekReview | None:
        """The week under review (the last with enough data, or the one ``as_of`` names:
        an ISO week, a day …); ``None`` when nothing is dated."""
        cube = self.cube()
        if as_of is not None and not cube.dated:
            raise UsageError("--as-of needs dates: no annotation has a submitted_at")
        if not cube.dated:
            return None
        at: Period | dt.date | None = None
        if as_of is not None:
            last = None if cube.last_day is None else day_from_number(cube.last_day)
            period = parse_period(as_of, last)
            at = period.start if period.days == 1 else period
        return review_week(cube, at)

    def slices(self, current: DayRange | None, baseline: DayRange | None) -> tuple[SliceRow, ...]:
        """Accuracy, audit accuracy and handling time per value of each slice dimension."""
        return slice_tables(self.cube(), current, baseline)

    def scorecards(self, days: DayRange | None) -> tuple[Scorecard, ...]:
        """Each rater's scorecard over ``days`` (``None``: all data), per task when the
        annotations answer several questions (quality per task, work over all tasks)."""
        raters = self.rater_table()
        multitask = len(self.tasks) > 1
        measures = [m for m in MEASURES if m in raters.sums]
        rater, task, sums = raters.per_rater_task(days, measures)
        if multitask:
            work = raters.per_rater(days, [m for m in WORK_MEASURES if m in raters.sums])
            sums |= {m: v[rater] for m, v in work.items()}
        attrs = {a: [raters.attributes[a][i] for i in rater] for a in SCORECARD_ATTRIBUTES
                 if a in raters.attributes}  # fmt: skip
        attrs = {a: v for a, v in attrs.items() if set(v) - {MISSING}}
        target = self.config.kpis.get("accuracy")
        targets = None
        if multitask and target is not None:
            targets = {t: series_target(target, t, self.tasks) for t in self.tasks}
        return scorecards(
            [raters.rater_ids[i] for i in rater], sums,
            tasks=[raters.tasks[j] for j in task] if multitask else None, attributes=attrs,
            accuracy_target=target.target if target else None, targets=targets,
        )  # fmt: skip

    def agreement_by_slice(
        self, dims: Sequence[str], days: DayRange | None
    ) -> tuple[dict[str, Any], ...]:
        """α and AC1 per task over ``days``: overall (dimension ``all``) and per value of
        each of ``dims``, with the call ``opsloop agreement`` makes (each task at its
        level, the default bootstrap and seed)."""
        view = self.view
        cols = ["item_id", "rater_id", "label", *[c for c in ("task", *dims) if c in view.columns]]
        with self.ws.analysis_settings():
            table = _window(view, days).select(*dict.fromkeys(cols)).to_pyarrow()
        levels, multitask = self.levels, len(self.tasks) > 1
        result = agreement(
            table, metrics=list(AGREEMENT_METRICS), groupings=[(), *((d,) for d in dims)],
            level=levels.default, levels=levels.levels, task_categories=levels.categories,
        )  # fmt: skip
        rows: list[dict[str, Any]] = []
        for dim in ("all", *dims):  # the records come per task, then per grouping
            for r in result.records:
                if (dim in r.slice) != (dim != "all") or any(d in r.slice for d in dims
                                                            if d != dim):  # fmt: skip
                    continue
                task = r.slice.get("task") if multitask else None
                rows.append({**r.to_dict(), "dimension": dim,
                             "slice_value": r.slice.get(dim, "all"), "task": task})  # fmt: skip
        return tuple(rows)

    def counts(self, stop: int | None) -> dict[str, int]:
        """Distinct items and raters, labels, items handled and tasks of the data before day
        ``stop`` (``None``: all). Items handled are distinct (item, rater) pairs, from the
        cube; the rest reads the stored annotations, no joins needed."""
        a = self.annotations
        t = a if stop is None else a.filter(a.submitted_at < _timestamp(stop))
        with self.ws.analysis_settings():
            row = t.aggregate(labels=t.count(), items=t.item_id.nunique(),
                              raters=t.rater_id.nunique()).to_pyarrow().to_pylist()[0]  # fmt: skip
        cube = self.cube()
        mask = None if stop is None else cube.day < stop
        handled = float(cube.rollup(mask=mask, measures=["sub_n"]).sums["sub_n"][0])
        return {
            "items": int(row["items"] or 0),
            "raters": int(row["raters"] or 0),
            "labels": int(row["labels"] or 0),
            "items_handled": round(handled),
            "tasks": len(cube.tasks),
        }

    def weekly_changes(self, stop: int) -> tuple[list[Change], list[str]]:
        """Every significant weekly change before day ``stop`` with its root causes."""
        return weekly_changes(self.rca_inputs(), self.config, self.cube(), stop)

    def span(self, stop: int | None) -> tuple[str | None, str | None]:
        """The first and last day of the data before ``stop`` (``None`` without dates)."""
        cube = self.cube()
        if cube.first_day is None:
            return None, None
        days = cube.day if stop is None else cube.day[cube.day < stop]
        if not len(days):
            return None, None
        first, last = int(np.min(days)), int(np.max(days))
        return day_from_number(first).isoformat(), day_from_number(last).isoformat()
