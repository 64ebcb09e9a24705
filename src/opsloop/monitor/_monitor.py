"""``monitor()``: every KPI against its target, period by period, with control charts.

For each KPI (those with a target in ``opsloop.toml``, or the ones asked for)
the monitor rolls the KPI cube up per period (ISO week or day) and computes

* the series: value, 95% interval and support ``n`` per period;
* a Shewhart chart — a p-chart for proportions (and, approximately, for the
  Hájek audit accuracy, using the audit count as ``n``), an X̄-style chart for
  means, ratios and cost per correct label, none for throughput — and an EWMA
  chart (:mod:`opsloop.monitor._spc`); agreement KPIs get the EWMA chart only,
  centred on the baseline's item-weighted mean with each period's standard
  error as ``σ_t``;
* the RAG status (:func:`kpi_status`) of the latest period — *the period under
  review* — and of the whole window, for the KPI and for each slice target;
* breaches: every red status, and every control-chart signal in the latest
  period.

Throughput is annotations per day over the days of each period that lie
within the data's date range (so a period cut by the first or last day of
data is not diluted). What cannot be measured (no gold, no data in a period,
a slice naming an unknown dimension) becomes a note, never an exception.

Charts follow Montgomery, *Introduction to Statistical Quality Control*
(6th ed.): the p-chart with variable sample size (§7.2.2), limits
``p̄ ± 3·sqrt(p̄(1 − p̄)/n_i)``; X̄-style limits ``centre ± 3·se_i`` (§6.2); the
EWMA (§9.2, Lucas & Saccucci 1990) with ``λ = 0.2, L = 3``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.config import Config, KpiTarget
from opsloop.errors import UsageError
from opsloop.monitor._agreement_series import (
    AgreementPoint,
    period_label,
)
from opsloop.monitor._cube import Cube, FloatArray
from opsloop.monitor._estimates import (
    Est,
    fmt,
    kpi_estimate,
    measures,
    pooled,
    red_message,
    series_scopes,
    slice_mask,
    sourced,
    status_of,
    unmeasured,
)
from opsloop.monitor._kpis import CUBE_KPIS, KPIS, KpiDef, estimate, kpi_def
from opsloop.monitor._periods import (
    Period,
    day_from_number,
    day_number,
)
from opsloop.monitor._results import (
    Breach,
    BreachKind,
    KpiSeries,
    KpiStatus,
    MonitorResult,
    SeriesSignal,
)
from opsloop.monitor._spc import (
    DEFAULT_L,
    DEFAULT_LAMBDA,
    RUN_LENGTH,
    Baseline,
    ControlChart,
    EwmaChart,
    Rule,
    baseline_mask,
    ewma_chart,
    p_chart,
    xbar_chart,
)
from opsloop.monitor._status import Direction
from opsloop.monitor._targets import (
    series_target,
    slice_goals,
    where_text,
)
from opsloop.monitor._whole import monitor_whole_period
from opsloop.stats import week_monday

PERIODS = ("week", "day")
_STEP = {"week": 7, "day": 1}
_BREACH_KIND: dict[Rule, BreachKind] = {
    "beyond_limits": "spc_beyond_limits",
    "run": "spc_run",
    "ewma": "ewma",
}


# --- the period grid -----------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    period: str
    starts: tuple[int, ...]  # first day of each period (days since 1970-01-01)
    first: int  # first and last day with data (inclusive)
    last: int

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(period_label(s, self.period) for s in self.starts)

    @property
    def window(self) -> str:
        labels = self.labels
        return labels[0] if len(labels) == 1 else f"{labels[0]}..{labels[-1]}"

    def days(self) -> FloatArray:
        """Days of each period inside ``[first, last]``: the throughput denominators."""
        step = _STEP[self.period]
        s = np.asarray(self.starts, dtype=np.int64)
        lo, hi = np.maximum(s, self.first), np.minimum(s + step, self.last + 1)
        out: FloatArray = np.maximum(hi - lo, 0).astype(np.float64)
        return out

    def index(self, start_days: Sequence[int] | np.ndarray) -> np.ndarray:
        return (np.asarray(start_days, dtype=np.int64) - self.starts[0]) // _STEP[self.period]


def period_start(day: int, period: str) -> int:
    """The first day of ``day``'s period (itself, or its ISO week's Monday)."""
    return week_monday(day) if period == "week" else day


def stop_day(as_of: Period | dt.date | None) -> int | None:
    if as_of is None:
        return None
    if isinstance(as_of, Period):
        return day_number(as_of.end)
    return day_number(as_of) + 1


def _grid(cube: Cube, period: str, stop: int | None) -> tuple[_Grid, np.ndarray]:
    if len(cube) == 0:
        raise UsageError(
            "no annotation has a submitted_at date: monitoring needs dated annotations"
        )
    mask = np.ones(len(cube), dtype=bool) if stop is None else cube.day < stop
    if not mask.any():
        begin = day_from_number(int(cube.day.min())).isoformat()
        raise UsageError(f"no annotations before the as-of date (the data start on {begin})")
    days = cube.day[mask]
    first, last = int(days.min()), int(days.max())
    step = _STEP[period]
    starts = tuple(range(period_start(first, period), period_start(last, period) + 1, step))
    return _Grid(period, starts, first, last), mask


# --- choosing KPIs ---------------------------------------------------------------


def choose_kpis(
    kpis: Sequence[str] | None, config: Config, agreement: Mapping[str, Any] | None
) -> list[str]:
    if kpis is not None:
        for k in kpis:
            kpi_def(k)
        if not kpis:
            raise UsageError("no KPIs requested")
        return list(dict.fromkeys(kpis))
    if config.kpis:
        return [k for k in KPIS if k in config.kpis]
    extra = [k for k in KPIS if k not in CUBE_KPIS and agreement and k in agreement]
    return [*CUBE_KPIS, *extra]


# --- per-KPI computations ----------------------------------------------------------


def _grid_sums(
    cube: Cube, grid: _Grid, mask: np.ndarray, names: Sequence[str]
) -> dict[str, FloatArray]:
    r = cube.rollup(mask=mask, period=grid.period, measures=names)
    out = {m: np.zeros(len(grid.starts), dtype=np.float64) for m in names}
    if len(r):
        idx = grid.index(r.keys["day"])
        for m in names:
            out[m][idx] = r.sums[m]
    return out


def _charts(
    d: KpiDef, sums: Mapping[str, FloatArray], est: Est, baseline: Baseline, lam: float, L: float
) -> tuple[ControlChart | None, EwmaChart | None]:
    size = len(est.value)
    if d.kind in ("proportion", "hajek"):
        n = sums[d.sums[0]]
        k = sums[d.sums[1]] if d.kind == "proportion" else np.nan_to_num(est.value * n)
        chart = p_chart(k, n, baseline=baseline)
        pbar = chart.centre
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma = np.sqrt(pbar * (1 - pbar) / np.where(n > 0, n, np.nan))
        return chart, ewma_chart(chart.values, sigma, pbar, lam=lam, L=L)
    if d.kind in ("ratio", "mean", "composite"):
        base = baseline_mask(size, baseline)
        base_sums = {m: np.array([float(v[base].sum())]) for m, v in sums.items()}
        centre = float(estimate(d.name, base_sums).value[0])
        chart = xbar_chart(est.value, est.se, centre=centre, baseline=baseline)
        return chart, ewma_chart(est.value, est.se, centre, lam=lam, L=L)
    if d.kind == "agreement":
        base = baseline_mask(size, baseline) & np.isfinite(est.value) & (est.n > 0)
        w = est.n[base]
        centre = float((est.value[base] * w).sum() / w.sum()) if w.sum() > 0 else math.nan
        return None, ewma_chart(est.value, est.se, centre, lam=lam, L=L)
    return None, None


def _series(
    d: KpiDef,
    where: Mapping[str, str],
    grid: _Grid,
    est: Est,
    chart: ControlChart | None,
    ew: EwmaChart | None,
    direction: Direction,
) -> KpiSeries:
    size = len(grid.starts)
    nan = tuple([math.nan] * size)
    labels = grid.labels
    signals = [*(chart.signals if chart else ()), *(ew.signals if ew else ())]
    worse_side = "below" if direction == "higher" else "above"
    return KpiSeries(
        d.name,
        d.unit,
        dict(where),
        chart.kind if chart else "none",
        labels,
        tuple(day_from_number(s) for s in grid.starts),
        tuple(est.value.tolist()),
        tuple(est.ci_low.tolist()),
        tuple(est.ci_high.tolist()),
        tuple(est.n.tolist()),
        chart.centre if chart else (ew.centre if ew else math.nan),
        chart.lcl if chart else nan,
        chart.ucl if chart else nan,
        ew.z if ew else nan,
        ew.lcl if ew else nan,
        ew.ucl if ew else nan,
        tuple(
            SeriesSignal(labels[s.index], s.rule, s.side, s.side == worse_side)
            for s in sorted(signals, key=lambda s: (s.index, s.rule))
        ),
    )


def _agreement_est(points: Sequence[AgreementPoint], grid: _Grid) -> Est:
    size = len(grid.starts)
    arrays = [np.full(size, np.nan) for _ in range(4)]
    n = np.zeros(size)
    for p in points:
        if p.start is None:
            continue
        i = int(grid.index([day_number(p.start)])[0])
        if 0 <= i < size and grid.starts[i] == day_number(p.start):
            for arr, v in zip(arrays, (p.value, p.ci_low, p.ci_high, p.se), strict=True):
                arr[i] = v
            n[i] = p.n_items
    return Est(arrays[0], arrays[1], arrays[2], arrays[3], n)


def _signal_message(ser: KpiSeries, sig: SeriesSignal, i: int) -> str:
    u = ser.unit
    value = fmt(ser.value[i], u)
    worse = "worse" if sig.worse else "better"
    kpi = ser.kpi + (f" on {where_text(ser.where)}" if ser.where else "")
    if sig.rule == "beyond_limits":
        limit = ser.ucl[i] if sig.side == "above" else ser.lcl[i]
        name = "upper" if sig.side == "above" else "lower"
        return (
            f"{kpi} {value} in {sig.period} is {sig.side} its {name} control limit "
            f"{fmt(limit, u)} (centre {fmt(ser.centre, u)}; {worse} than usual)"
        )
    if sig.rule == "run":
        return (
            f"{kpi} has been {sig.side} its centre line {fmt(ser.centre, u)} for "
            f"{RUN_LENGTH} or more periods in a row up to {sig.period} ({worse} than usual)"
        )
    limit = ser.ewma_ucl[i] if sig.side == "above" else ser.ewma_lcl[i]
    return (
        f"{kpi}: EWMA {fmt(ser.ewma[i], u)} in {sig.period} is {sig.side} its limit "
        f"{fmt(limit, u)} (a sustained shift; {worse} than usual)"
    )


@dataclass(frozen=True)
class _Run:
    """One monitored series: its slice, per-period estimates, window estimate and charts."""

    where: dict[str, str]
    est: Est
    window: Est | None
    chart: ControlChart | None
    ewma: EwmaChart | None


@dataclass(frozen=True)
class _Context:
    cube: Cube
    grid: _Grid
    day_mask: np.ndarray
    days: FloatArray
    baseline: Baseline
    lam: float
    L: float


def _cube_run(d: KpiDef, ctx: _Context, where: Mapping[str, str]) -> _Run | None:
    names = measures(d)
    if not sourced(names, ctx.cube):
        return None
    mask = ctx.day_mask & ctx.cube.mask(where) if where else ctx.day_mask
    sums = _grid_sums(ctx.cube, ctx.grid, mask, names)
    est = kpi_estimate(d, sums, ctx.days)
    window = kpi_estimate(d, pooled(sums), np.array([float(ctx.days.sum())]))
    if not np.isfinite(window.value[0]):
        return None
    chart, ew = _charts(d, sums, est, ctx.baseline, ctx.lam, ctx.L)
    return _Run(dict(where), est, window, chart, ew)


def _agreement_runs(d: KpiDef, points: Sequence[AgreementPoint], ctx: _Context) -> list[_Run]:
    by_where: dict[tuple[tuple[str, str], ...], list[AgreementPoint]] = {}
    for p in points:
        by_where.setdefault(tuple(sorted(p.where.items())), []).append(p)
    runs = []
    for key, pts in by_where.items():
        est = _agreement_est(pts, ctx.grid)
        if np.isfinite(est.value).any():
            chart, ew = _charts(d, {}, est, ctx.baseline, ctx.lam, ctx.L)
            runs.append(_Run(dict(key), est, None, chart, ew))
    return runs


def _slice_statuses(
    d: KpiDef, target: KpiTarget, direction: Direction, ctx: _Context, notes: list[str]
) -> list[KpiStatus]:
    out: list[KpiStatus] = []
    labels, latest = ctx.grid.labels, len(ctx.grid.starts) - 1
    goals, why = slice_goals(d, target, ctx.cube.tasks)
    notes.extend(why)
    for goal in goals:
        mask, problem = slice_mask(ctx.cube, goal.where)
        if mask is None:
            notes.append(f"{d.name}: slice target {where_text(goal.where)}: {problem}")
            continue
        sums = _grid_sums(ctx.cube, ctx.grid, mask & ctx.day_mask, measures(d))
        est = kpi_estimate(d, sums, ctx.days)
        window = kpi_estimate(d, pooled(sums), np.array([float(ctx.days.sum())]))
        out.append(status_of(d, goal.where, "latest", labels[latest], est, latest, target,
                             goal.target, direction))  # fmt: skip
        out.append(status_of(d, goal.where, "window", ctx.grid.window, window, 0, target,
                             goal.target, direction))  # fmt: skip
        if not np.isfinite(est.value[latest]):
            notes.append(f"{d.name} on {where_text(goal.where)}: no data in {labels[latest]}")
    return out


def _runs(
    d: KpiDef,
    ctx: _Context,
    agreement: Mapping[str, Sequence[AgreementPoint]] | None,
    target: KpiTarget | None,
    notes: list[str],
) -> list[_Run]:
    """The monitored series of one KPI: one, or one per task (quality KPIs, several tasks)."""
    if d.kind == "agreement":
        return _agreement_runs(d, (agreement or {}).get(d.name, ()), ctx)
    runs = []
    for where in series_scopes(ctx.cube, d):
        run = _cube_run(d, ctx, where)
        if run is not None:
            runs.append(run)
        elif where and series_target(target, where["task"], ctx.cube.tasks) is not None:
            notes.append(unmeasured(d, target, where))
    return runs


def _kpi_results(
    d: KpiDef,
    config: Config,
    ctx: _Context,
    agreement: Mapping[str, Sequence[AgreementPoint]] | None,
    notes: list[str],
) -> tuple[list[KpiSeries], list[KpiStatus], list[Breach]]:
    """Series, statuses and control-chart breaches of one KPI."""
    target = config.kpis.get(d.name)
    direction: Direction = (target.direction if target else None) or d.direction
    grid = ctx.grid
    labels, latest = grid.labels, len(grid.starts) - 1
    series: list[KpiSeries] = []
    statuses: list[KpiStatus] = []
    signals: list[Breach] = []
    runs = _runs(d, ctx, agreement, target, notes)
    if not runs:
        notes.append(unmeasured(d, target))
        return series, statuses, signals
    tasks = tuple(r.where["task"] for r in runs if "task" in r.where) or ctx.cube.tasks
    for run in runs:
        ser = _series(d, run.where, grid, run.est, run.chart, run.ewma, direction)
        series.append(ser)
        value_target = series_target(target, run.where.get("task"), tasks)
        empty = [labels[i] for i in range(len(labels)) if not np.isfinite(run.est.value[i])]
        if empty:
            shown = ", ".join(empty[:6]) + (" …" if len(empty) > 6 else "")
            on = "" if not run.where else " on " + where_text(run.where)
            notes.append(f"{d.name}{on}: no data in {len(empty)} period(s): {shown}")
        statuses.append(status_of(d, run.where, "latest", labels[latest], run.est, latest,
                                  target, value_target, direction))  # fmt: skip
        if run.window is not None:
            statuses.append(status_of(d, run.where, "window", grid.window, run.window, 0,
                                      target, value_target, direction))  # fmt: skip
        signals.extend(
            Breach(d.name, dict(run.where), sig.period, _BREACH_KIND[sig.rule],
                   _signal_message(ser, sig, latest))
            for sig in ser.signals if sig.period == labels[latest]
        )  # fmt: skip
    if target is not None:
        statuses.extend(_slice_statuses(d, target, direction, ctx, notes))
    return series, statuses, signals


def monitor(
    cube: Cube,
    config: Config,
    *,
    period: str = "week",
    kpis: Sequence[str] | None = None,
    agreement: Mapping[str, Sequence[AgreementPoint]] | None = None,
    as_of: Period | dt.date | None = None,
    baseline: Baseline = None,
    lam: float = DEFAULT_LAMBDA,
    L: float = DEFAULT_L,
) -> MonitorResult:
    """Monitor KPIs per ``period`` ("week" or "day") against the targets of ``config``.

    KPIs: ``kpis`` if given, else those with a target in ``config.kpis``, else
    every cube KPI (and the agreement KPIs present in ``agreement``, the output
    of :func:`agreement_by_period`). ``as_of`` (a :class:`Period` or a last day)
    drops data after it; its period is the one under review. ``baseline``
    (the first ``k`` periods, or a slice) estimates the control-chart centres;
    default all periods. ``lam`` and ``L`` are the EWMA's λ and limit width.
    Agreement KPIs are judged on the latest period only: coefficients of
    different periods do not pool into a window value. When the annotations
    answer several questions, quality KPIs get one series per task (``where``
    ``{"task": …}``; targets: :mod:`opsloop.monitor._targets`). An undated
    cube gets the whole-period status of every KPI instead
    (:func:`~opsloop.monitor._whole.monitor_whole_period`).

    >>> import numpy as np
    >>> from opsloop.config import Config, KpiTarget
    >>> day = np.array([20094, 20101])  # Mondays of 2025-W02 and 2025-W03
    >>> sums = {"ann_n": np.array([100.0, 100.0]), "g_n": np.array([100.0, 100.0]),
    ...         "g_k": np.array([95.0, 80.0])}
    >>> cube = Cube((), {}, day, {}, sums, ("annotations", "gold"))
    >>> r = monitor(cube, Config(kpis={"accuracy": KpiTarget(target=0.9)}))
    >>> r.latest, [(s.period, s.status) for s in r.statuses]
    ('2025-W03', [('2025-W03', 'red'), ('2025-W02..2025-W03', 'amber')])
    """
    if period not in PERIODS:
        raise UsageError(f"period must be 'week' or 'day', not {period!r}")
    names = choose_kpis(kpis, config, agreement)
    if not cube.dated:
        return monitor_whole_period(
            cube, config, names, agreement, kpis is None and not config.kpis
        )
    grid, day_mask = _grid(cube, period, stop_day(as_of))
    ctx = _Context(cube, grid, day_mask, grid.days(), baseline, lam, L)
    notes: list[str] = list(cube.notes) if kpis is None and not config.kpis else []
    series: list[KpiSeries] = []
    statuses: list[KpiStatus] = []
    signals: list[Breach] = []
    for name in names:
        d = KPIS[name]
        if d.kind == "agreement" and (agreement is None or name not in agreement):
            notes.append(f"{name}: not computed (pass agreement=agreement_by_period(...))")
            continue
        ser, st, sig = _kpi_results(d, config, ctx, agreement, notes)
        series += ser
        statuses += st
        signals += sig
    reds = [
        Breach(s.kpi, dict(s.where), s.period, "red", red_message(s, KPIS[s.kpi].unit))
        for s in statuses
        if s.status == "red"
    ]
    return MonitorResult(
        period,
        grid.window,
        grid.labels[-1],
        day_from_number(grid.last),
        tuple(names),
        tuple(series),
        tuple(statuses),
        tuple(reds + signals),
        tuple(dict.fromkeys(notes)),
    )
