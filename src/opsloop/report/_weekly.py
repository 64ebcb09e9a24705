"""The weekly quality report: what a quality lead opens on Monday.

Are we on target (KPI status against targets, with intervals), what changed
(control charts, week-over-week changes), why (root-cause analysis of each
significant change), and what to do (findings with actions). Nothing is
computed here: one analysis run (:class:`opsloop.session.Session`) computes
the shared joins and aggregates once and every step — monitoring, KPIs by
slice, agreement, scorecards, weekly changes and their root causes — comes
from it, as the command line's figures do; this module gathers the results
into one frozen :class:`WeeklyReport`, whose ``to_dict()`` is
``report.json`` and the input of the HTML page.

* **The week under review** is the last week with enough data, or the week
  ``as_of`` names (:mod:`opsloop.monitor._weeks`); data after it are ignored.
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
from opsloop.errors import OpsloopError
from opsloop.evals import ModelVersions, workspace_model_findings, workspace_model_versions
from opsloop.findings import Finding, rank_findings
from opsloop.impact import StoredImpact, latest_impact
from opsloop.inference import StoredInference, stored_inference
from opsloop.monitor import (
    MonitorResult,
    Period,
    Scorecard,
    SliceRow,
    WeekReview,
    day_from_number,
)
from opsloop.preferences import workspace_preference_findings
from opsloop.session import Change, Session, release_freed_memory

Progress = Callable[[int, int, str], None]
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
    model_versions: ModelVersions | None = None
    impact: StoredImpact | None = None

    def findings(self) -> tuple[Finding, ...]:
        """The root-cause findings of the weekly changes, in rank order."""
        return rank_findings(f for c in self.changes if c.analysis for f in c.analysis.findings)

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
            "model_versions": self.model_versions.to_dict() if self.model_versions else None,
            "impact": self.impact.to_dict() if self.impact else None,
            "notes": list(self.notes),
        }


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
    ws: Workspace,
    *,
    as_of: str | None = None,
    progress: Progress | None = None,
    session: Session | None = None,
) -> WeeklyReport:
    """The report of the workspace: the latest week with enough data, the week ``as_of``
    names (an ISO week ``2025-W11``, a day, …), or the whole period without dates.

    Every figure comes from one analysis run, ``session`` (a new one by default)."""
    with ws.reading():
        return _build(ws, as_of, progress or (lambda _done, _total, _msg: None),
                      session or Session(ws))  # fmt: skip


def _build(ws: Workspace, as_of: str | None, say: Progress, run: Session) -> WeeklyReport:
    notes: list[str] = []
    tables = {name: ws.row_count(name) for name in ws.table_names()}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    empty = WeeklyReport(ws.config.project.name, now, None, None, None, tables, (), None, (),
                         (), (), (), ())  # fmt: skip
    say(0, STEPS, "aggregating the KPI cube")
    try:
        cube = run.cube()
    except OpsloopError as exc:
        return WeeklyReport(**{**empty.__dict__, "notes": (str(exc),)})
    notes += cube.notes
    review = run.review_week(as_of)
    if review is None:
        notes.append(NEEDS_DATES)
    scope = _scope(review)
    config = ws.config

    say(1, STEPS, "monitoring KPIs against targets")
    result: MonitorResult | None = None
    last = None if scope.stop is None else day_from_number(scope.stop - 1)
    try:
        result = run.monitor(period="week", as_of=last)
        notes += result.notes
    except OpsloopError as exc:
        notes.append(f"KPI monitoring: {exc}")

    say(2, STEPS, "KPIs by slice")
    slices = run.slices(scope.current, scope.baseline)

    say(3, STEPS, "agreement by slice")
    agree: tuple[dict[str, Any], ...] = ()
    try:
        dims = [d for d in AGREEMENT_DIMENSIONS if d in cube.levels]
        agree = run.agreement_by_slice(dims, scope.current)
    except OpsloopError as exc:
        notes.append(f"agreement by slice: {exc}")

    say(4, STEPS, "rater scorecards")
    cards = run.scorecards(scope.scorecards)

    say(5, STEPS, "root-cause analysis")
    changes: list[Change] = []
    if scope.stop is not None:
        try:
            changes, why = run.weekly_changes(scope.stop)
            notes += why
        except OpsloopError as exc:
            notes.append(f"root-cause analysis: {exc}")

    say(6, STEPS, "model and preference data")
    loop: tuple[Finding, ...] = ()
    try:
        with ws.analysis_settings():
            loop = rank_findings(workspace_model_findings(ws) + workspace_preference_findings(ws))
    except OpsloopError as exc:
        notes.append(f"model and preference checks: {exc}")
    versions: ModelVersions | None = None
    try:
        versions = workspace_model_versions(ws)
    except OpsloopError as exc:
        notes.append(f"model versions: {exc}")
    impact = latest_impact(ws)
    release_freed_memory()
    inference = stored_inference(ws)
    if inference is None:
        notes.append(
            "truth inference: run `opsloop infer` to add inferred labels, rater reliability "
            "and the relabel queue to the report"
        )
    say(7, STEPS, "writing the report")
    first, final = run.span(scope.stop)
    return WeeklyReport(
        config.project.name, now, review.week if review else None, first, final, tables,
        cube.dims, result, slices, agree, cards, tuple(changes), loop,
        tuple(dict.fromkeys(notes)), review, cube.tasks, run.counts(scope.stop),
        cube.dated, {"policy": config.repeats.analysis,
                     "set_aside": ws.repeats_set_aside("annotations")}, inference, versions,
        impact,
    )  # fmt: skip
