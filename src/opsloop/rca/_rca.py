"""Root-cause analysis of a KPI change between two periods: :func:`rca`.

The question a quality lead asks — accuracy fell from week A to week B, why?
— is answered in four steps, all on small aggregates (no data is re-read):

1. the KPI in both periods with 95% intervals, and the change with a z-test;
2. Kitagawa's (1955) split of the change into rate and mix effects along
   every dimension (:mod:`opsloop.rca._kitagawa`);
3. mix shifts (:func:`~opsloop.rca._enrich.mix_shifts`) and slice discovery
   over conjunctions of up to ``max_depth`` dimensions (Adtributor, Bhagwan
   et al., 2014; MacroBase DIFF, Abuzaid et al., 2018;
   :mod:`opsloop.rca._slices`), with slices explained by a mix shift removed;
4. enrichment — guideline versions, tenure cohorts and new raters, grown
   label confusions, raters drifting from their peers — and ranked
   findings, one per root cause (:mod:`opsloop.rca._describe`).

A dimension whose values do not persist across the periods (a guideline
version replaced wholesale) is not sliced on; it is reported as the version
evidence of the slices that moved with it.

>>> import datetime as dt
>>> from opsloop.monitor import Cube, Period
>>> from opsloop.config import Config
>>> cube = Cube(("queue",), {"queue": ("a", "b")}, np.array([0, 0, 7, 7]),
...     {"queue": np.array([0, 1, 0, 1])},
...     {"g_n": np.array([500.0, 500, 500, 500]), "g_k": np.array([450.0, 450, 450, 300])})
>>> p1 = Period("w1", dt.date(1970, 1, 1), dt.date(1970, 1, 8))
>>> p2 = Period("w2", dt.date(1970, 1, 8), dt.date(1970, 1, 15))
>>> r = rca(RcaInputs(cube), Config(), kpi="accuracy", before=p1, after=p2)
>>> round(r.change, 2), [(f.kind, f.where, round(f.score, 2)) for f in r.findings]
(-0.15, [('rate_change', {'queue': 'b'}, 0.15)])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opsloop.config import Config
from opsloop.errors import UsageError
from opsloop.findings import Finding, rank_findings
from opsloop.metrics._agreement import DEFAULT_TASK, task_taxonomy
from opsloop.monitor import Cube, Period, estimate, kpi_def
from opsloop.rca._describe import (
    NEW_BAND,
    SliceEnrichment,
    drift_finding,
    is_cohort,
    merge_drifter,
    merge_mix,
    mix_finding,
    slice_finding,
)
from opsloop.rca._enrich import (
    MixShift,
    breakdown,
    concentrate,
    confusion_shifts,
    mix_shifts,
    version_change,
)
from opsloop.rca._frame import Frame, RatioSpec, build_frame, changes, overall, ratio_spec
from opsloop.rca._inputs import RcaInputs
from opsloop.rca._kitagawa import DimensionDecomposition, decompose_dimension
from opsloop.rca._raters import new_raters, rater_drift
from opsloop.rca._slices import SliceChange, find_slices
from opsloop.stats import day_from_number

MIN_ROWS = 30
WHOLESALE = 0.5  # below this common support a dimension changed wholesale (not sliced on)


@dataclass(frozen=True)
class KpiValue:
    """The KPI over one period, with its 95% interval and support."""

    period: Period
    value: float
    ci_low: float
    ci_high: float
    n: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.to_dict(),
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
        }


@dataclass(frozen=True)
class RcaResult:
    """Before/after values, the change, its decomposition, discovered slices and findings."""

    kpi: str
    label: str
    direction: str
    unit: str
    before: KpiValue
    after: KpiValue
    change: float
    change_se: float
    p_value: float
    decomposition: tuple[DimensionDecomposition, ...]
    slices: tuple[SliceChange, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default=())
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            "task": self.task,
            "label": self.label,
            "direction": self.direction,
            "unit": self.unit,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "change": self.change,
            "change_se": self.change_se,
            "p_value": self.p_value,
            "decomposition": [d.to_dict() for d in self.decomposition],
            "slices": [s.to_dict() for s in self.slices],
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }


def _check_arguments(max_depth: int, min_support: float, alpha: float, top: int) -> None:
    if not 1 <= max_depth <= 4:
        raise UsageError(f"depth must be 1 to 4, not {max_depth}")
    if not 0 <= min_support < 0.5:
        raise UsageError(f"min_support must be in [0, 0.5), not {min_support}")
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}")
    if top < 1:
        raise UsageError(f"top must be at least 1, not {top}")


def _date(day: int) -> str:
    return day_from_number(day).isoformat()


def task_inputs(
    inputs: RcaInputs, config: Config, kpi: str, task: str | None
) -> tuple[RcaInputs, str | None]:
    """The inputs of ``kpi`` on ``task`` when the annotations answer several questions.

    A quality KPI is analysed on one task: ``task``, else the default task
    ``label``; a work KPI (handling time, cost) over all tasks. Single-task
    inputs come back unchanged (and ``task`` must be ``None`` or that task).
    """
    cube = inputs.cube
    if not cube.multitask:
        if task is not None and cube.tasks and task not in cube.tasks:
            raise UsageError(
                f"no task {task!r} in the annotations (tasks: {', '.join(cube.tasks)})"
            )
        return inputs, None
    if not kpi_def(kpi).per_task:
        if task is not None:
            raise UsageError(f"{kpi} counts items handled over all tasks: leave out the task")
        return inputs.over_tasks(), None
    chosen = task if task is not None else (DEFAULT_TASK if DEFAULT_TASK in cube.tasks else None)
    if chosen is None or chosen not in cube.tasks:
        what = f"no task {task!r} in" if task is not None else "choose the task of"
        raise UsageError(f"{what} the annotations, which answer several questions "
                         f"(tasks: {', '.join(cube.tasks)})")  # fmt: skip
    return inputs.for_task(chosen, task_taxonomy(config.taxonomy, chosen)), chosen


def check_request(
    cube: Cube, kpi: str, before: Period, after: Period, *, dims: Sequence[str] | None = None
) -> None:
    """Raise a :class:`UsageError` when ``kpi`` cannot be explained between these periods.

    The KPI must be a ratio of sums measured on this data, the dimensions must
    exist, and both periods must be different, apart and hold data for the KPI.
    """
    spec = ratio_spec(kpi)
    if spec.denominator not in cube.sums or not float(cube.sums[spec.denominator].sum()) > 0:
        raise UsageError(f"{kpi} cannot be measured on this data: it needs {kpi_def(kpi).needs}")
    if dims is not None:
        cube.check_dimensions(dims)
    frame = build_frame(cube, kpi, before.day_range, after.day_range, ())
    den = frame.totals()[spec.denominator]
    span = (
        f"the data cover {_date(cube.first_day)}..{_date(cube.last_day)}"
        if cube.first_day is not None and cube.last_day is not None
        else "there is no dated data"
    )
    for j, p in enumerate((before, after)):
        if den[j] <= 0:
            raise UsageError(f"no {kpi} data in {p.label} ({span})")


def _kpi_value(spec: RatioSpec, frame: Frame, j: int, period: Period) -> KpiValue:
    t = frame.totals()
    e = estimate(spec.kpi, {m: v[j : j + 1] for m, v in t.items()})
    return KpiValue(
        period, float(e.value[0]), float(e.ci_low[0]), float(e.ci_high[0]), float(t[spec.rows][j])
    )


def _evidence(
    inputs: RcaInputs,
    config: Config,
    frame: Frame,
    s: SliceChange,
    versions: Sequence[str],
    alpha: float,
) -> SliceEnrichment:
    spec = frame.spec
    conf = inputs.confusion
    out = s.excluding
    pairs = (
        confusion_shifts(
            conf, spec.kpi, inputs.taxonomy or config.taxonomy, s.where, frame.before,
            frame.after, alpha=alpha,
            excluding=out,
        )
        if conf is not None
        else ()
    )  # fmt: skip
    version = next(
        (v for v in (version_change(frame, d, s.where, out) for d in versions) if v is not None),
        None,
    )
    cohort = breakdown(frame, s.where, "tenure", out) if "tenure" in frame.dims else None
    ev = SliceEnrichment(s, cohort, None, pairs, version)
    located: dict[str, str] = {}
    attrs = [d for d in inputs.rater_dims if d != "tenure" and d in frame.dims]
    if is_cohort(ev) and not set(s.where) & set(attrs):
        cohort_where = {**s.where, "tenure": NEW_BAND}
        where = concentrate(frame, cohort_where, attrs)
        located = {k: v for k, v in (where or {}).items() if k not in cohort_where}
    # new raters only mean something when the slice selects raters
    about_raters = bool(set(s.where) & {*attrs, "tenure"}) or bool(located) or is_cohort(ev)
    nr = None
    if inputs.raters is not None and about_raters:
        nr = new_raters(inputs.raters, spec, {**s.where, **located}, frame.after)
    return SliceEnrichment(s, cohort, nr, pairs, version, located=located)


def _dedupe(found: Sequence[Finding]) -> tuple[Finding, ...]:
    """One finding per kind and slice (the best scored), in rank order."""
    best: dict[str, Finding] = {}
    for f in rank_findings(found):
        best.setdefault(f.id, f)
    return tuple(best.values())


def _mix_host(frame: Frame, found: Sequence[Finding], m: MixShift) -> int | None:
    """The finding whose slice carries most of the growth of the mix shift's worst value."""
    if not m.levels:
        return None
    worst = m.levels[0]
    grew = worst.share_after - worst.share_before
    den = frame.sums[frame.spec.denominator]
    totals = frame.totals()[frame.spec.denominator]
    for i, f in enumerate(found):
        if f.where.get(m.dim) != worst.value:
            continue
        mask = frame.mask({k: v for k, v in f.where.items() if k in frame.levels})
        part = np.bincount(frame.period[mask], weights=den[mask], minlength=2) / totals
        if grew > 0 and part[1] - part[0] >= 0.5 * grew:
            return i
    return None


def _rater_in(f: Finding, attributes: dict[str, str]) -> bool:
    conds = {k: v for k, v in f.where.items() if k in attributes}
    return bool(conds) and all(attributes[k] == v for k, v in conds.items())


def _assemble(
    inputs: RcaInputs,
    config: Config,
    frame: Frame,
    slices: Sequence[SliceChange],
    mixes: Sequence[MixShift],
    versions: Sequence[str],
    after: Period,
    alpha: float,
    top: int,
) -> list[Finding]:
    spec = frame.spec
    found = [
        slice_finding(spec, _evidence(inputs, config, frame, s, versions, alpha), after)
        for s in slices[: 2 * top]
    ]
    for m in mixes:
        host = _mix_host(frame, found, m) if m.dim in inputs.rater_dims else None
        if host is not None:
            found[host] = merge_mix(found[host], m)
        else:
            found.append(mix_finding(spec, m, m.dim in inputs.rater_dims))
    if inputs.raters is not None:
        drift = rater_drift(inputs.raters, spec, frame.before, frame.after, alpha=alpha)
        if drift is not None and drift.flagged:
            loose = []
            for r in drift.flagged:
                host = next(
                    (
                        i
                        for i, f in enumerate(found)
                        if f.kind != "mix_shift" and _rater_in(f, r.attributes)
                    ),
                    None,
                )
                if host is None:
                    loose.append(r.rater_id)
                    continue
                found[host] = merge_drifter(found[host], r)
            if loose:
                found.append(drift_finding(spec, drift, loose))
    return found


def rca(
    inputs: RcaInputs,
    config: Config,
    *,
    kpi: str,
    before: Period,
    after: Period,
    dims: Sequence[str] | None = None,
    max_depth: int = 3,
    min_support: float = 0.01,
    alpha: float = 0.05,
    top: int = 10,
    task: str | None = None,
) -> RcaResult:
    """Why did ``kpi`` change from ``before`` to ``after``? Ranked findings with evidence.

    ``dims`` limits the dimensions sliced on (default: all of the cube's);
    ``min_support`` is the smallest share of the KPI's denominator a slice
    needs in both periods (and at least 30 judged rows); ``alpha`` the false
    discovery rate of every family of tests; ``top`` the number of findings.
    When the annotations answer several questions, a quality KPI is explained
    on one ``task`` (default: the task ``label``) and a work KPI over all
    tasks (:func:`task_inputs`).
    """
    _check_arguments(max_depth, min_support, alpha, top)
    inputs, task = task_inputs(inputs, config, kpi, task)
    cube = inputs.cube
    use = tuple(cube.dims if dims is None else dict.fromkeys(dims))
    check_request(cube, kpi, before, after, dims=use)
    spec = ratio_spec(kpi)
    frame = build_frame(cube, kpi, before.day_range, after.day_range)
    totals = frame.totals()
    root = changes(spec, {m: v[None, :] for m, v in totals.items()}, totals)
    b, a = overall(spec, totals)
    decs = tuple(decompose_dimension(frame, d) for d in use)
    notes = list(cube.notes)
    wholesale = [d for d in decs if d.common_support < WHOLESALE]
    for d in wholesale:
        top_b = max(d.levels, key=lambda lv: lv.share_before).value
        top_a = max(d.levels, key=lambda lv: lv.share_after).value
        notes.append(
            f"{d.dim} changed wholesale between the periods ({top_b} → {top_a}): "
            "not sliced on; see the version evidence of the findings"
        )
    change_se = float(np.hypot(root.se_before[0], root.se_after[0]))
    mixes = mix_shifts(frame, decs, alpha=alpha, change_se=change_se)
    stratify = [m.dim for m in mixes if m.dim not in inputs.rater_dims]
    slices, explained = find_slices(
        frame,
        dims=[d.dim for d in decs if d.common_support >= WHOLESALE],
        max_depth=max_depth,
        min_support=min_support,
        min_rows=MIN_ROWS,
        alpha=alpha,
        stratify=stratify,
    )
    if explained:
        notes.append(
            f"{explained} slice(s) whose drop vanishes within {', '.join(stratify)}: mix, not "
            "quality"
        )
    versions = [d for d in inputs.version_dims if d in frame.dims]
    if inputs.raters is None:
        notes.append("no per-rater table: rater drift was not measured")
    if inputs.confusion is None:
        notes.append("no confusion table: label confusions were not measured")
    found = _dedupe(_assemble(inputs, config, frame, slices, mixes, versions, after, alpha, top))
    return RcaResult(
        kpi=kpi,
        label=spec.label,
        direction="higher" if spec.sign > 0 else "lower",
        unit=spec.unit,
        before=_kpi_value(spec, frame, 0, before),
        after=_kpi_value(spec, frame, 1, after),
        change=a - b,
        change_se=change_se,
        p_value=float(root.p[0]),
        decomposition=decs,
        slices=tuple(slices),
        findings=tuple(found[:top]),
        notes=tuple(notes),
        task=task,
    )
