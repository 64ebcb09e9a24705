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

import ibis
import numpy as np

from opsloop.config import Config, KpiTarget
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.monitor._agreement_series import (
    AGREEMENT_KPIS,
    AgreementPoint,
    agreement_by_period,
    period_label,
)
from opsloop.monitor._cube import (
    AUDIT_MEASURES,
    GOLD_MEASURES,
    Cube,
    FloatArray,
    workspace_cube,
)
from opsloop.monitor._kpis import CUBE_KPIS, KPIS, KpiDef, estimate, kpi_def
from opsloop.monitor._periods import (
    RELATIVE,
    Period,
    day_from_number,
    day_number,
    parse_period,
)
from opsloop.monitor._results import (
    Breach,
    BreachKind,
    KpiSeries,
    KpiStatus,
    MonitorResult,
    Scope,
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
from opsloop.monitor._status import Direction, kpi_status

PERIODS = ("week", "day")
_STEP = {"week": 7, "day": 1}
_BREACH_KIND: dict[Rule, BreachKind] = {
    "beyond_limits": "spc_beyond_limits",
    "run": "spc_run",
    "ewma": "ewma",
}


def _where_text(where: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in where.items()) or "all"


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
    return day - ((day + 3) % 7) if period == "week" else day


def _stop_day(as_of: Period | dt.date | None) -> int | None:
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


def _choose(
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


@dataclass(frozen=True)
class _Est:
    value: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    se: FloatArray
    n: FloatArray


def _estimate(d: KpiDef, sums: Mapping[str, FloatArray], days: FloatArray | None) -> _Est:
    e = estimate(d.name, sums, days=days)
    # the support of a severity ratio is the number of gold checks, not the severity sum
    n = sums["g_n"] if d.kind in ("ratio", "composite") and "g_n" in sums else e.n
    return _Est(e.value, e.ci_low, e.ci_high, e.se, np.asarray(n, dtype=np.float64))


def _measures(d: KpiDef) -> list[str]:
    return list(dict.fromkeys([*d.sums, *(["g_n"] if d.kind in ("ratio", "composite") else [])]))


def _unmeasured(d: KpiDef, target: KpiTarget | None) -> str:
    why = "has a target but the data cannot measure it" if target else "cannot be measured"
    return f"{d.name}: {why}: it needs {d.needs}"


def _sourced(measures: Sequence[str], cube: Cube) -> bool:
    """Whether the cube has every measure and was fed by the tables they come from."""
    for m in measures:
        if m not in cube.sums:
            return False
        if m in GOLD_MEASURES and "gold" not in cube.sources:
            return False
        if m in AUDIT_MEASURES and "audits" not in cube.sources:
            return False
    return True


def _grid_sums(
    cube: Cube, grid: _Grid, mask: np.ndarray, measures: Sequence[str]
) -> dict[str, FloatArray]:
    r = cube.rollup(mask=mask, period=grid.period, measures=measures)
    out = {m: np.zeros(len(grid.starts), dtype=np.float64) for m in measures}
    if len(r):
        idx = grid.index(r.keys["day"])
        for m in measures:
            out[m][idx] = r.sums[m]
    return out


def _charts(
    d: KpiDef, sums: Mapping[str, FloatArray], est: _Est, baseline: Baseline, lam: float, L: float
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
        pooled = {m: np.array([float(v[base].sum())]) for m, v in sums.items()}
        centre = float(estimate(d.name, pooled).value[0])
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
    est: _Est,
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


def _agreement_est(points: Sequence[AgreementPoint], grid: _Grid) -> _Est:
    size = len(grid.starts)
    arrays = [np.full(size, np.nan) for _ in range(4)]
    n = np.zeros(size)
    for p in points:
        i = int(grid.index([day_number(p.start)])[0])
        if 0 <= i < size and grid.starts[i] == day_number(p.start):
            for arr, v in zip(arrays, (p.value, p.ci_low, p.ci_high, p.se), strict=True):
                arr[i] = v
            n[i] = p.n_items
    return _Est(arrays[0], arrays[1], arrays[2], arrays[3], n)


def _fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "seconds":
        return f"{value:,.1f} s"
    if unit == "count":
        return f"{value:,.1f}"
    return f"{value:.4f}"


def _status(
    d: KpiDef,
    where: Mapping[str, str],
    scope: Scope,
    label: str,
    est: _Est,
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


def _red_message(s: KpiStatus, unit: str) -> str:
    side = "below" if s.direction == "higher" else "above"
    ci = "" if math.isnan(s.ci_low) else f" (95% CI {_fmt(s.ci_low, unit)}–{_fmt(s.ci_high, unit)})"
    where = "" if not s.where else f" on {_where_text(s.where)}"
    target = _fmt(float(s.target if s.target is not None else math.nan), unit)
    return f"{s.kpi}{where} {_fmt(s.value, unit)}{ci} is {side} its target {target} in {s.period}"


def _signal_message(ser: KpiSeries, sig: SeriesSignal, i: int) -> str:
    u = ser.unit
    value = _fmt(ser.value[i], u)
    worse = "worse" if sig.worse else "better"
    if sig.rule == "beyond_limits":
        limit = ser.ucl[i] if sig.side == "above" else ser.lcl[i]
        name = "upper" if sig.side == "above" else "lower"
        return (
            f"{ser.kpi} {value} in {sig.period} is {sig.side} its {name} control limit "
            f"{_fmt(limit, u)} (centre {_fmt(ser.centre, u)}; {worse} than usual)"
        )
    if sig.rule == "run":
        return (
            f"{ser.kpi} has been {sig.side} its centre line {_fmt(ser.centre, u)} for "
            f"{RUN_LENGTH} or more periods in a row up to {sig.period} ({worse} than usual)"
        )
    limit = ser.ewma_ucl[i] if sig.side == "above" else ser.ewma_lcl[i]
    return (
        f"{ser.kpi}'s EWMA {_fmt(ser.ewma[i], u)} in {sig.period} is {sig.side} its limit "
        f"{_fmt(limit, u)} (a sustained shift; {worse} than usual)"
    )


def _slice_mask(cube: Cube, where: Mapping[str, str]) -> tuple[np.ndarray | None, str | None]:
    for dim, value in where.items():
        if dim not in cube.levels:
            known = ", ".join(cube.dims) or "none"
            return None, f"unknown dimension {dim!r} (dimensions: {known})"
        if value not in cube.levels[dim]:
            return None, f"{dim} has no value {value!r} in the data"
    return cube.mask(where), None


@dataclass(frozen=True)
class _Run:
    """One monitored series: its slice, per-period estimates, window estimate and charts."""

    where: dict[str, str]
    est: _Est
    window: _Est | None
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


def _cube_run(d: KpiDef, ctx: _Context) -> _Run | None:
    measures = _measures(d)
    if not _sourced(measures, ctx.cube):
        return None
    sums = _grid_sums(ctx.cube, ctx.grid, ctx.day_mask, measures)
    est = _estimate(d, sums, ctx.days)
    window = _estimate(d, _pooled(sums), np.array([float(ctx.days.sum())]))
    if not np.isfinite(window.value[0]):
        return None
    chart, ew = _charts(d, sums, est, ctx.baseline, ctx.lam, ctx.L)
    return _Run({}, est, window, chart, ew)


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


def _pooled(sums: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    return {m: np.array([float(v.sum())]) for m, v in sums.items()}


def _slice_statuses(
    d: KpiDef, target: KpiTarget, direction: Direction, ctx: _Context, notes: list[str]
) -> list[KpiStatus]:
    out: list[KpiStatus] = []
    labels, latest = ctx.grid.labels, len(ctx.grid.starts) - 1
    for sl in target.slices:
        if d.kind == "agreement":
            notes.append(f"{d.name}: slice target {_where_text(sl.where)} not evaluated "
                         "(agreement KPIs are monitored per task only)")  # fmt: skip
            continue
        mask, problem = _slice_mask(ctx.cube, sl.where)
        if mask is None:
            notes.append(f"{d.name}: slice target {_where_text(sl.where)}: {problem}")
            continue
        sums = _grid_sums(ctx.cube, ctx.grid, mask & ctx.day_mask, _measures(d))
        est = _estimate(d, sums, ctx.days)
        window = _estimate(d, _pooled(sums), np.array([float(ctx.days.sum())]))
        out.append(_status(d, sl.where, "latest", labels[latest], est, latest, target,
                           sl.target, direction))  # fmt: skip
        out.append(_status(d, sl.where, "window", ctx.grid.window, window, 0, target,
                           sl.target, direction))  # fmt: skip
        if not np.isfinite(est.value[latest]):
            notes.append(f"{d.name} on {_where_text(sl.where)}: no data in {labels[latest]}")
    return out


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
    different periods do not pool into a window value.

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
    names = _choose(kpis, config, agreement)
    grid, day_mask = _grid(cube, period, _stop_day(as_of))
    ctx = _Context(cube, grid, day_mask, grid.days(), baseline, lam, L)
    labels, latest = grid.labels, len(grid.starts) - 1
    notes: list[str] = list(cube.notes) if kpis is None and not config.kpis else []
    series: list[KpiSeries] = []
    statuses: list[KpiStatus] = []
    signals: list[Breach] = []
    for name in names:
        d = KPIS[name]
        target = config.kpis.get(name)
        direction: Direction = (target.direction if target else None) or d.direction
        value_target = target.target if target else None
        if d.kind == "agreement" and (agreement is None or name not in agreement):
            notes.append(f"{name}: not computed (pass agreement=agreement_by_period(...))")
            continue
        if d.kind == "agreement":
            runs = _agreement_runs(d, (agreement or {}).get(name, ()), ctx)
        else:
            run = _cube_run(d, ctx)
            runs = [] if run is None else [run]
        if not runs:
            notes.append(_unmeasured(d, target))
            continue
        for run in runs:
            ser = _series(d, run.where, grid, run.est, run.chart, run.ewma, direction)
            series.append(ser)
            empty = [labels[i] for i in range(len(labels)) if not np.isfinite(run.est.value[i])]
            if empty:
                shown = ", ".join(empty[:6]) + (" …" if len(empty) > 6 else "")
                on = "" if not run.where else " on " + _where_text(run.where)
                notes.append(f"{name}{on}: no data in {len(empty)} period(s): {shown}")
            statuses.append(_status(d, run.where, "latest", labels[latest], run.est, latest,
                                    target, value_target, direction))  # fmt: skip
            if run.window is not None:
                statuses.append(_status(d, run.where, "window", grid.window, run.window, 0,
                                        target, value_target, direction))  # fmt: skip
            signals.extend(
                Breach(name, dict(run.where), sig.period, _BREACH_KIND[sig.rule],
                       _signal_message(ser, sig, latest))
                for sig in ser.signals if sig.period == labels[latest]
            )  # fmt: skip
        if target is not None:
            statuses.extend(_slice_statuses(d, target, direction, ctx, notes))
    reds = [
        Breach(s.kpi, dict(s.where), s.period, "red", _red_message(s, KPIS[s.kpi].unit))
        for s in statuses
        if s.status == "red"
    ]
    return MonitorResult(
        period,
        grid.window,
        labels[latest],
        day_from_number(grid.last),
        tuple(names),
        tuple(series),
        tuple(statuses),
        tuple(reds + signals),
        tuple(dict.fromkeys(notes)),
    )


def monitor_workspace(
    ws: Workspace,
    *,
    period: str = "week",
    kpis: Sequence[str] | None = None,
    as_of: Period | dt.date | str | None = None,
) -> MonitorResult:
    """:func:`monitor` on a workspace: builds the KPI cube and, when needed, the agreement series.

    ``as_of`` may also be a period as text (``2025-W03``, ``previous-week`` …,
    see :func:`parse_period`). Agreement uses the taxonomy's level (and its
    label order for ordered levels) and only annotations before the end of
    ``as_of``.
    """
    if period not in PERIODS:
        raise UsageError(f"period must be 'week' or 'day', not {period!r}")
    config = ws.config
    wanted = _choose(kpis, config, dict.fromkeys(AGREEMENT_KPIS))
    if isinstance(as_of, str) and as_of.strip().lower() not in RELATIVE:
        as_of = parse_period(as_of)  # a bad period fails before the cube is built
    cube = workspace_cube(ws)
    if isinstance(as_of, str):
        last = cube.last_day
        as_of = parse_period(as_of, None if last is None else day_from_number(last))
    chosen = [k for k in wanted if KPIS[k].kind == "agreement"]
    agreement: dict[str, list[AgreementPoint]] | None = None
    if chosen and len(cube):
        ann = ws.table("annotations")
        stop = _stop_day(as_of)
        if stop is not None:
            end = dt.datetime.combine(day_from_number(stop), dt.time())
            ann = ann.filter(ann.submitted_at < ibis.literal(end))
        tax = config.taxonomy
        ordered = tax.ordered_labels if tax.level != "nominal" and tax.ordered_labels else None
        agreement = agreement_by_period(
            ann, period=period, metrics=chosen, level=tax.level, categories=ordered
        )
    return monitor(cube, config, period=period, kpis=kpis, agreement=agreement, as_of=as_of)
