"""The weekly quality report: what a quality lead opens on Monday.

Are we on target (KPI status against targets, with intervals), what changed
(control charts, week-over-week changes), why (root-cause analysis of each
significant change), and what to do (findings with actions). Everything is
computed from the workspace through the public analyses — the KPI cube,
:func:`opsloop.monitor.monitor`, :func:`opsloop.rca.rca` — and returned as one
frozen :class:`WeeklyReport`, whose ``to_dict()`` is ``report.json`` and the
input of the HTML page.

A step that cannot run on this data (no gold, no dates, a target for a KPI
that cannot be measured, …) leaves a note and the rest of the report renders.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np

from opsloop.engine import Workspace
from opsloop.errors import OpsloopError
from opsloop.metrics import agreement
from opsloop.monitor import (
    Cube,
    MonitorResult,
    Period,
    agreement_by_period,
    day_from_number,
    estimate,
    group_sums,
    kpi_def,
    monitor,
    week_label,
    week_start,
    workspace_cube,
)
from opsloop.rca import Finding, RcaResult, data_loop_findings, rca, rca_inputs
from opsloop.report._scorecards import Scorecard, SliceRow, scorecards, slice_table
from opsloop.views import annotation_view

Progress = Callable[[int, int, str], None]
SLICE_DIMENSIONS = ("locale", "vendor", "queue", "content_type", "site", "tenure", "team")
BASELINE_WEEKS = 4
SCORECARD_WEEKS = 4
MAX_CHANGES = 4
BEFORE_WEEKS = 2
CHANGE_ALPHA = 0.001
MIN_CHANGE = 0.01
STEPS = 8


@dataclass(frozen=True)
class Change:
    """A significant week-over-week move of a KPI and its root-cause analysis."""

    kpi: str
    before: Period
    after: Period
    change: float
    p_value: float
    analysis: RcaResult | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "change": self.change,
            "p_value": self.p_value,
            "analysis": self.analysis.to_dict() if self.analysis is not None else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class WeeklyReport:
    """Everything the weekly report shows; ``to_dict()`` is ``report.json``."""

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

    def findings(self) -> tuple[Finding, ...]:
        """The root-cause findings of the weekly changes, strongest first."""
        out = [f for c in self.changes if c.analysis for f in c.analysis.findings]
        return tuple(sorted(out, key=lambda f: -f.score))

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "generated_at": self.generated_at,
            "week": self.week.to_dict() if self.week else None,
            "window": {"first_day": self.first_day, "last_day": self.last_day},
            "tables": self.tables,
            "dimensions": list(self.dimensions),
            "monitor": self.monitor.to_dict() if self.monitor else None,
            "slices": [s.to_dict() for s in self.slices],
            "agreement_by_slice": list(self.agreement_by_slice),
            "scorecards": [c.to_dict() for c in self.scorecards],
            "changes": [c.to_dict() for c in self.changes],
            "data_loop": [f.to_dict() for f in self.data_loop],
            "notes": list(self.notes),
        }


def _week_period(monday: dt.date) -> Period:
    return Period(week_label(monday), monday, monday + dt.timedelta(days=7))


def _days(p: Period) -> tuple[int, int]:
    return p.day_range


def primary_kpi(cube: Cube) -> str | None:
    """The KPI root-cause analysis follows: accuracy vs gold, else audit accuracy."""
    for k in ("accuracy", "audit_accuracy"):
        d = kpi_def(k)
        if float(cube.sums[d.sums[0]].sum()) > 0:
            return k
    return None


def change_points(cube: Cube, kpi: str) -> list[tuple[Period, Period, float, float]]:
    """Weeks whose KPI moved significantly, in the harmful direction, from the weeks before.

    Each week is compared with the ``BEFORE_WEEKS`` weeks before it pooled, by
    a two-sample z-test on the estimates (``Δ / sqrt(se₁² + se₂²)``); a change
    counts when ``p < 0.001`` and ``|Δ| ≥ 1`` point. The latest week is always
    compared. Returns ``(before, after, Δ, p)``, the strongest
    ``MAX_CHANGES`` changes plus the latest week, in time order.
    """
    from statistics import NormalDist

    d = kpi_def(kpi)
    weekly = cube.rollup(period="week", measures=d.sums)
    mondays = [day_from_number(int(x)) for x in weekly.keys["day"]]
    out: list[tuple[Period, Period, float, float]] = []
    for i in range(1, len(mondays)):
        after = _week_period(mondays[i])
        first = mondays[max(0, i - BEFORE_WEEKS)]
        before = Period(
            week_label(first) if i == 1 else f"{week_label(first)}..{week_label(mondays[i - 1])}",
            first,
            mondays[i],
        )
        sums = {
            m: np.array([v[max(0, i - BEFORE_WEEKS) : i].sum(), v[i]])
            for m, v in weekly.sums.items()
        }
        e = estimate(kpi, sums)
        delta = float(e.value[1] - e.value[0])
        se = math.sqrt(float(e.se[0]) ** 2 + float(e.se[1]) ** 2)
        if math.isnan(delta) or not se > 0:
            continue
        p = 2 * (1 - NormalDist().cdf(abs(delta) / se))
        harmful = delta < 0 if d.direction == "higher" else delta > 0
        latest = i == len(mondays) - 1
        if latest or (harmful and p < CHANGE_ALPHA and abs(delta) >= MIN_CHANGE):
            out.append((before, after, delta, p))
    latest_pair = out[-1:] if out and out[-1][1].start == mondays[-1] else []
    others = sorted(out[: len(out) - len(latest_pair)], key=lambda c: -abs(c[2]))[:MAX_CHANGES]
    return sorted(others, key=lambda c: c[1].start) + latest_pair


def _agreement_rows(view: ibis.Table, week: Period, dims: tuple[str, ...]) -> list[dict[str, Any]]:
    start = ibis.timestamp(dt.datetime.combine(week.start, dt.time()))
    end = ibis.timestamp(dt.datetime.combine(week.end, dt.time()))
    t = view.filter((view.submitted_at >= start) & (view.submitted_at < end))
    cols = ["item_id", "rater_id", "label", *[c for c in ("task", *dims) if c in view.columns]]
    rows: list[dict[str, Any]] = []
    for dim in dims:
        result = agreement(
            t.select(*cols), metrics=["krippendorff_alpha", "gwet_ac1"], by=[dim], n_boot=0
        )
        for r in result.records:
            d = r.to_dict()
            rows.append({**d, "dimension": dim, "slice_value": r.slice.get(dim)})
    return rows


def build_report(ws: Workspace, *, progress: Progress | None = None) -> WeeklyReport:
    """Compute the weekly report of the workspace (the week under review is the latest)."""
    say: Progress = progress or (lambda _done, _total, _msg: None)
    notes: list[str] = []
    tables = {name: ws.row_count(name) for name in ws.table_names()}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    empty = WeeklyReport(ws.config.project.name, now, None, None, None, tables, (), None, (),
                         (), (), (), ())  # fmt: skip
    say(0, STEPS, "aggregating the KPI cube")
    try:
        cube = workspace_cube(ws)
    except OpsloopError as exc:
        return WeeklyReport(**{**empty.__dict__, "notes": (str(exc),)})
    notes += cube.notes
    if cube.last_day is None or cube.first_day is None:
        return WeeklyReport(**{**empty.__dict__, "notes": ("no dated annotations",)})
    last = day_from_number(cube.last_day)
    week = _week_period(week_start(last))
    baseline = Period(
        f"{BASELINE_WEEKS} weeks before",
        week.start - dt.timedelta(days=7 * BASELINE_WEEKS),
        week.start,
    )
    view = annotation_view(ws)

    say(1, STEPS, "monitoring KPIs against targets")
    result: MonitorResult | None = None
    try:
        series = agreement_by_period(view, period="week")
        result = monitor(cube, ws.config, period="week", agreement=series)
        notes += result.notes
    except OpsloopError as exc:
        notes.append(f"KPI monitoring: {exc}")

    say(2, STEPS, "KPIs by slice")
    slices: list[SliceRow] = []
    dims = tuple(d for d in SLICE_DIMENSIONS if d in cube.levels)
    for kpi in ("accuracy", "audit_accuracy", "avg_handling_time_s"):
        if float(cube.sums[kpi_def(kpi).sums[0]].sum()) <= 0:
            continue
        for dim in dims:
            slices += slice_table(cube, kpi, dim, _days(week), _days(baseline))

    say(3, STEPS, "agreement by slice")
    agree: list[dict[str, Any]] = []
    try:
        agree = _agreement_rows(view, week, tuple(d for d in ("locale", "vendor") if d in dims))
    except OpsloopError as exc:
        notes.append(f"agreement by slice: {exc}")

    say(4, STEPS, "rater scorecards")
    cards = _scorecards(ws, view, week)

    say(5, STEPS, "root-cause analysis")
    changes: list[Change] = []
    main_kpi = primary_kpi(cube)
    if main_kpi is None:
        notes.append("no gold or audits: no quality KPI to analyse for root causes")
    else:
        try:
            inputs = rca_inputs(ws, cube=cube)
            for before, after, delta, p in change_points(cube, main_kpi):
                try:
                    analysis = rca(inputs, ws.config, kpi=main_kpi, before=before, after=after)
                    changes.append(Change(main_kpi, before, after, delta, p, analysis))
                except OpsloopError as exc:
                    changes.append(Change(main_kpi, before, after, delta, p, None, str(exc)))
        except OpsloopError as exc:
            notes.append(f"root-cause analysis: {exc}")

    say(6, STEPS, "model and preference data")
    loop: tuple[Finding, ...] = ()
    try:
        loop = data_loop_findings(ws)
    except OpsloopError as exc:
        notes.append(f"model and preference checks: {exc}")
    say(7, STEPS, "writing the report")
    return WeeklyReport(
        ws.config.project.name,
        now,
        week,
        day_from_number(cube.first_day).isoformat(),
        last.isoformat(),
        tables,
        cube.dims,
        result,
        tuple(slices),
        tuple(agree),
        cards,
        tuple(changes),
        loop,
        tuple(dict.fromkeys(notes)),
    )


def _scorecards(ws: Workspace, view: ibis.Table, week: Period) -> tuple[Scorecard, ...]:
    start = dt.datetime.combine(week.end - dt.timedelta(days=7 * SCORECARD_WEEKS), dt.time())
    recent = view.filter(view.submitted_at >= ibis.timestamp(start))
    attrs = [c for c in ("vendor", "site", "team") if c in view.columns]
    sums = group_sums(
        recent,
        ws.config,
        gold=ws.table("gold") if ws.has_table("gold") else None,
        audits=ws.table("audits") if ws.has_table("audits") else None,
        keys=["rater_id", *attrs],
    )
    target = ws.config.kpis.get("accuracy")
    return scorecards(sums, accuracy_target=target.target if target else None, attributes=attrs)
