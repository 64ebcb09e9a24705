"""The weekly quality report: what a quality lead opens on Monday.

Are we on target (KPI status against targets, with intervals), what changed
(control charts, week-over-week changes), why (root-cause analysis of each
significant change), and what to do (findings with actions). Everything is
computed from the workspace through the public analyses — the KPI cube,
:func:`opsloop.monitor.monitor`, :func:`opsloop.rca.rca`, ``agreement()`` —
and returned as one frozen :class:`WeeklyReport`, whose ``to_dict()`` is
``report.json`` and the input of the HTML page.

* **The week under review** is the last week with enough data, or the week
  ``as_of`` names (:mod:`opsloop.report._weeks`); data after it are ignored.
* **Several questions per item** (tasks): quality KPIs, slices, agreement,
  scorecards and root causes are per task and name it; item counts count
  distinct items and throughput counts items handled, once per (item, rater).
* **No dates** (no ``submitted_at`` anywhere): the report covers the whole
  period — KPI status against targets, slices, scorecards, agreement — and
  lists the parts that need time (trends, control charts, weekly root causes)
  under "What could not be computed".

A step that cannot run on this data leaves a note and the rest renders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opsloop.engine import Workspace
from opsloop.errors import OpsloopError, UsageError
from opsloop.inference import StoredInference, stored_inference
from opsloop.metrics._agreement import agreement_levels
from opsloop.monitor import (
    Cube,
    MonitorResult,
    Period,
    day_from_number,
    kpi_def,
    monitor,
    parse_period,
    workspace_agreement,
    workspace_cube,
)
from opsloop.rca import Finding, data_loop_findings, rca_inputs
from opsloop.report._scorecards import Scorecard, SliceRow, slice_table
from opsloop.report._steps import (
    Change,
    agreement_rows,
    counts,
    rater_scorecards,
    weekly_changes,
)
from opsloop.report._weeks import WeekReview, review_week
from opsloop.views import annotation_view

Progress = Callable[[int, int, str], None]
SLICE_DIMENSIONS = ("locale", "vendor", "queue", "content_type", "site", "tenure", "team")
SLICE_KPIS = ("accuracy", "audit_accuracy", "avg_handling_time_s")
AGREEMENT_DIMENSIONS = ("locale", "vendor")
BASELINE_WEEKS = 4
SCORECARD_WEEKS = 4
STEPS = 8
NEEDS_DATES = "weekly root causes: comparing weeks needs submitted_at dates (no annotation has one)"


@dataclass(frozen=True)
class WeeklyReport:
    """Everything the weekly report shows; ``to_dict()`` is ``report.json``.

    ``week`` is the week under review (``None`` without dates) and ``review``
    why it was chosen; ``tasks`` the questions the annotations answer;
    ``counts`` distinct items and raters, labels and items handled.
    """

    project: str
    generated_at: str
    week: Period | None
    first_day: str | None
    last_day: str | None
    tables: dict[str, int]
    dimensions: tuple[str, ...]
    monitor: MonitorResult | None
    slices: tuple[SliceRow, ...]
    agreement_by_slice: tuple[dict[str, Any], ...]
    scorecards: tuple[Scorecard, ...]
    changes: tuple[Change, ...]
    data_loop: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default=())
    review: WeekReview | None = None
    tasks: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    dated: bool = True
    repeats: dict[str, Any] = field(default_factory=dict)  # policy and labels set aside
    inference: StoredInference | None = None

    def findings(self) -> tuple[Finding, ...]:
        """The root-cause findings of the weekly changes, strongest first."""
        out = [f for c in self.changes if c.analysis for f in c.analysis.findings]
        return tuple(sorted(out, key=lambda f: -f.score))

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "generated_at": self.generated_at,
            "dated": self.dated,
            "week": self.week.to_dict() if self.week else None,
            "review": self.review.to_dict() if self.review else None,
            "window": {"first_day": self.first_day, "last_day": self.last_day},
            "tables": self.tables,
            "counts": dict(self.counts),
            "repeats": dict(self.repeats),
            "inference": self.inference.to_dict() if self.inference else None,
            "tasks": list(self.tasks),
            "dimensions": list(self.dimensions),
            "monitor": self.monitor.to_dict() if self.monitor else None,
            "slices": [s.to_dict() for s in self.slices],
            "agreement_by_slice": list(self.agreement_by_slice),
            "scorecards": [c.to_dict() for c in self.scorecards],
            "changes": [c.to_dict() for c in self.changes],
            "data_loop": [f.to_dict() for f in self.data_loop],
            "notes": list(self.notes),
        }


def _slices(cube: Cube, current: tuple[int, int] | None,
            baseline: tuple[int, int] | None) -> list[SliceRow]:  # fmt: skip
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
    return out


def _as_of(text: str | None, cube: Cube) -> Period | dt.date | None:
    if text is None:
        return None
    if not cube.dated:
        raise UsageError("--as-of needs dates: no annotation has a submitted_at")
    last = None if cube.last_day is None else day_from_number(cube.last_day)
    period = parse_period(text, last)
    return period.start if period.days == 1 else period


@dataclass(frozen=True)
class _Scope:
    """What the report covers: the days of the period reviewed, of its baseline and of the
    scorecards (``None``: every annotation), and the first day left out."""

    current: tuple[int, int] | None
    baseline: tuple[int, int] | None
    scorecards: tuple[int, int] | None
    stop: int | None


def _scope(review: WeekReview | None) -> _Scope:
    if review is None:
        return _Scope(None, None, None, None)
    start, end = review.week.day_range
    end = min(end, review.stop)
    base = (start - 7 * BASELINE_WEEKS, start)
    return _Scope((start, end), base, (end - 7 * SCORECARD_WEEKS, end), review.stop)


def build_report(
    ws: Workspace, *, as_of: str | None = None, progress: Progress | None = None
) -> WeeklyReport:
    """Compute the report of the workspace: the latest week with enough data, the week
    ``as_of`` names (an ISO week ``2025-W11``, a day, …), or the whole period without dates."""
    say: Progress = progress or (lambda _done, _total, _msg: None)
    notes: list[str] = []
    tables = {name: ws.row_count(name) for name in ws.table_names()}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    empty = WeeklyReport(ws.config.project.name, now, None, None, None, tables, (), None, (),
                         (), (), (), ())  # fmt: skip
    say(0, STEPS, "aggregating the KPI cube")
    try:
        cube = workspace_cube(ws, dated=None)
    except OpsloopError as exc:
        return WeeklyReport(**{**empty.__dict__, "notes": (str(exc),)})
    notes += cube.notes
    review = review_week(cube, _as_of(as_of, cube)) if cube.dated else None
    if review is None:
        notes.append(NEEDS_DATES)
    scope = _scope(review)
    view = annotation_view(ws)
    config = ws.config
    levels = agreement_levels(config.taxonomy, cube.tasks)

    say(1, STEPS, "monitoring KPIs against targets")
    result: MonitorResult | None = None
    last = None if scope.stop is None else day_from_number(scope.stop - 1)
    try:
        series = workspace_agreement(ws, as_of=last, dated=cube.dated, tasks=cube.tasks)
        result = monitor(cube, config, period="week", agreement=series, as_of=last)
        notes += result.notes
    except OpsloopError as exc:
        notes.append(f"KPI monitoring: {exc}")

    say(2, STEPS, "KPIs by slice")
    slices = _slices(cube, scope.current, scope.baseline)

    say(3, STEPS, "agreement by slice")
    agree: list[dict[str, Any]] = []
    try:
        dims = [d for d in AGREEMENT_DIMENSIONS if d in cube.levels]
        agree = agreement_rows(view, levels, dims, scope.current, cube.multitask)
    except OpsloopError as exc:
        notes.append(f"agreement by slice: {exc}")

    say(4, STEPS, "rater scorecards")
    cards = rater_scorecards(ws, view, scope.scorecards, cube.tasks)

    say(5, STEPS, "root-cause analysis")
    changes: list[Change] = []
    if scope.stop is not None:
        try:
            inputs = rca_inputs(ws, cube=cube)
            changes, why = weekly_changes(inputs, config, cube, scope.stop)
            notes += why
        except OpsloopError as exc:
            notes.append(f"root-cause analysis: {exc}")

    say(6, STEPS, "model and preference data")
    loop: tuple[Finding, ...] = ()
    try:
        loop = data_loop_findings(ws)
    except OpsloopError as exc:
        notes.append(f"model and preference checks: {exc}")
    inference = stored_inference(ws)
    if inference is None:
        notes.append(
            "truth inference: run `opsloop infer` to add inferred labels, rater reliability "
            "and the relabel queue to the report"
        )
    say(7, STEPS, "writing the report")
    first, final = _span(cube, scope.stop)
    return WeeklyReport(
        config.project.name, now, review.week if review else None, first, final, tables,
        cube.dims, result, tuple(slices), tuple(agree), cards, tuple(changes), loop,
        tuple(dict.fromkeys(notes)), review, cube.tasks, counts(view, cube, scope.stop),
        cube.dated, {"policy": config.repeats.analysis,
                     "set_aside": ws.repeats_set_aside("annotations")}, inference,
    )  # fmt: skip


def _span(cube: Cube, stop: int | None) -> tuple[str | None, str | None]:
    """The first and last day of the data the report covers (``None`` without dates)."""
    if cube.first_day is None:
        return None, None
    days = cube.day if stop is None else cube.day[cube.day < stop]
    if not len(days):
        return None, None
    return day_from_number(int(days.min())).isoformat(), day_from_number(
        int(days.max())
    ).isoformat()
