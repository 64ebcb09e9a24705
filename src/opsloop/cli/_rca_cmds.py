"""rca: why did a KPI change between two periods."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from opsloop.cli._app import (
    OutputFormat,
    app,
    console,
    dumps,
    note_set_aside,
    open_workspace,
    progress_status,
    render_rows,
    repeats_option,
    split_list,
)
from opsloop.errors import UsageError

if TYPE_CHECKING:
    from opsloop.findings import Finding
    from opsloop.monitor import Period
    from opsloop.rca import LevelChange, RaterChange, RcaResult, SliceFindingEvidence

# opsloop.monitor and opsloop.rca load inside the command (start-up time)


def _value(x: float | None, unit: str) -> str:
    if x is None or x != x:
        return "n/a"
    if unit == "share":
        return f"{100 * x:.1f}%"
    if unit == "seconds":
        return f"{x:.1f} s"
    return f"{x:.4g}"


def _points(x: float | None, unit: str) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{100 * x:+.2f} pts" if unit == "share" else f"{x:+.4g}"


def _p(p: float | None) -> str:
    if p is None or p != p:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _relative(text: str) -> bool:
    return text.strip().lower() in ("latest-week", "previous-week")


def _periods(from_: str, to: str, last_day: int | None) -> tuple[Period, Period]:
    """Both periods; ``latest-week``/``previous-week`` resolve against the last day with data."""
    from opsloop.monitor import day_from_number, parse_period

    last = None if last_day is None else day_from_number(last_day)
    before, after = parse_period(from_, last), parse_period(to, last)
    if before.day_range == after.day_range:
        raise UsageError(f"--from and --to are the same period ({before.label}): compare two")
    return before, after


def _slice_lines(ev: SliceFindingEvidence, kpi: str, unit: str) -> list[str]:
    s = ev.slice
    out = [
        f"{kpi} {_value(s.value_before, unit)} → {_value(s.value_after, unit)}; "
        f"share {s.share_before:.1%} → {s.share_after:.1%}; n {s.n_before:,.0f} → "
        f"{s.n_after:,.0f}; risk ratio {s.risk_ratio:.2f}; q {_p(s.q_value)}"
    ]
    for e in s.excluding:
        outside = ", ".join(f"{k}={v}" for k, v in e.items())
        out.append(f"score counts only what lies outside {outside}")
    for c in ev.confusions[:2]:
        a, b = c.labels
        (gb_ab, gb_ba), (ga_ab, ga_ba) = c.given_before, c.given_after
        out.append(
            f"{a} ↔ {b}: {c.share_before:.1%} → {c.share_after:.1%} of the judged rows "
            f"({a}→{b} {_value(gb_ab, 'share')} → {_value(ga_ab, 'share')}, "
            f"{b}→{a} {_value(gb_ba, 'share')} → {_value(ga_ba, 'share')})"
        )
    v = ev.version
    if v is not None:
        out.append(
            f"{v.dim} {v.old} → {v.new}: here {_value(v.slice_old, unit)} → "
            f"{_value(v.slice_new, unit)}, elsewhere {_value(v.rest_old, unit)} → "
            f"{_value(v.rest_new, unit)}"
        )
    return out


def _evidence_lines(f: Finding, unit: str) -> list[str]:
    """The figures behind a finding, read from its typed evidence."""
    from opsloop.rca import (
        MixShiftEvidence,
        RaterCohortEvidence,
        RaterDriftEvidence,
        SliceFindingEvidence,
    )

    ev = f.evidence
    out: list[str] = []
    levels: tuple[LevelChange, ...] = ()
    drifters: tuple[RaterChange, ...] = ()
    if isinstance(ev, SliceFindingEvidence):
        out += _slice_lines(ev, f.kpi, unit)
        if isinstance(ev, RaterCohortEvidence) and ev.tenure is not None:
            out.append(f"tenure {ev.tenure.top} carries {ev.tenure.top_share:.0%} of the drop")
        nr = ev.new_raters
        if nr is not None:
            out.append(
                f"{nr.count} new raters (hired {nr.first_hired}..{nr.last_hired}): "
                f"{_value(nr.value_new, unit)} vs {_value(nr.value_tenured, unit)} for "
                f"{nr.tenured} tenured"
            )
        levels = ev.mix_shift.levels if ev.mix_shift is not None else ()
        drifters = ev.drifting_raters
    elif isinstance(ev, MixShiftEvidence):
        levels = ev.mix.levels
    elif isinstance(ev, RaterDriftEvidence):
        drifters = ev.raters
    for lv in levels[:3]:
        out.append(
            f"{lv.value}: share {lv.share_before:.1%} → {lv.share_after:.1%}, "
            f"{f.kpi} {_value(lv.value_before, unit)} → {_value(lv.value_after, unit)}"
        )
    for r in drifters[:5]:
        out.append(
            f"{r.rater_id}: {_value(r.value_before, unit)} → {_value(r.value_after, unit)} "
            f"(peers {_points(r.peers_change, unit)}, n {r.n_before:,.0f} → {r.n_after:,.0f})"
        )
    return out


def _render(result: RcaResult) -> None:
    unit = result.unit
    b, a = result.before, result.after
    task = f" · task {result.task}" if result.task else ""
    console.print(
        f"{result.label}{task} ({result.kpi}, {result.direction} is better)\n"
        f"  before {b.period.label}: {_value(b.value, unit)} "
        f"[{_value(b.ci_low, unit)}, {_value(b.ci_high, unit)}]  n={b.n:,.0f}\n"
        f"  after  {a.period.label}: {_value(a.value, unit)} "
        f"[{_value(a.ci_low, unit)}, {_value(a.ci_high, unit)}]  n={a.n:,.0f}\n"
        f"  change {_points(result.change, unit)} (p {_p(result.p_value)})",
        highlight=False,
        markup=False,
    )
    rows = [
        {
            "dimension": d.dim,
            "rate effect": _points(d.rate_effect, unit),
            "mix effect": _points(d.mix_effect, unit),
            "change": _points(d.change, unit),
            "mix p": _p(d.mix_p),
            "comparable": "yes" if d.comparable else "no",
        }
        for d in sorted(result.decomposition, key=lambda d: -abs(d.mix_effect))
    ]
    render_rows(rows, OutputFormat.table, title="mix versus rate (Kitagawa)")
    if not result.findings:
        console.print(
            "no finding: no slice, mix or rater change explains the change significantly",
            highlight=False,
            markup=False,
        )
    for i, f in enumerate(result.findings, 1):
        where = ", ".join(f"{k}={v}" for k, v in f.where.items())
        console.print(
            f"\n{i}. [{f.kind}] {f.title}\n   score {_points(f.score, unit).lstrip('+')} explained"
            + (f"; where {where}" if where else ""),
            highlight=False,
            markup=False,
        )
        for line in _evidence_lines(f, unit):
            console.print(f"   · {line}", highlight=False, markup=False)
        console.print(f"   → {f.action}", highlight=False, markup=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)


@app.command("rca")
def rca_cmd(
    kpi: str = typer.Option(..., "--kpi", help="The KPI that changed, e.g. accuracy."),
    from_: str = typer.Option(
        ..., "--from", help="Earlier period: 2025-W03, 2025-W01..2025-W02, a date, a month."
    ),
    to: str = typer.Option(..., "--to", help="Later period (same forms, or latest-week)."),
    by: str | None = typer.Option(
        None, "--by", help="Comma-separated dimensions to slice on (default: all)."
    ),
    depth: int = typer.Option(3, "--depth", help="Most dimensions in one slice (1 to 4)."),
    top: int = typer.Option(10, "--top", help="How many findings to show."),
    alpha: float = typer.Option(0.05, "--alpha", help="False discovery rate of the tests."),
    min_support: float = typer.Option(
        0.01, "--min-support", help="Smallest share of the KPI's rows a slice needs."
    ),
    task: str | None = typer.Option(
        None,
        "--task",
        help="With several questions per item: the task whose quality KPI to "
        "explain (default: the task 'label').",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table or json."),
    repeats: str | None = repeats_option(),
) -> None:
    """Why did a KPI change? Mix versus rate, the slices that moved, and ranked findings.

    When items are asked several questions (tasks), a quality KPI is explained
    on one task (--task) and a work KPI (handling time, cost) over all tasks.
    """
    if fmt is OutputFormat.csv:
        raise UsageError("rca prints a report: use --format table or json")
    from opsloop.rca import check_request, ratio_spec, rca
    from opsloop.session import Session

    ratio_spec(kpi)
    if not 1 <= depth <= 4:
        raise UsageError(f"--depth must be 1 to 4, not {depth}")
    if top < 1:
        raise UsageError(f"--top must be at least 1, not {top}")
    if from_.strip() == to.strip():
        raise UsageError(f"--from and --to are the same period ({from_}): compare two")
    dims = split_list(by) or None
    if not (_relative(from_) or _relative(to)):
        _periods(from_, to, None)  # bad periods fail before the data are read
    ws = open_workspace(repeats)
    note_set_aside(ws.repeats_set_aside("annotations"), ws.config.repeats.analysis)
    try:
        with progress_status("building the KPI cube") as say:
            session = Session(ws)
            cube = session.cube(dated=True)
            before, after = _periods(from_, to, cube.last_day)
            check_request(cube, kpi, before, after, dims=dims)
            say("reading raters and label confusions")
            inputs = session.rca_inputs()
            say("explaining the change")
            result = rca(inputs, ws.config, kpi=kpi, before=before, after=after, dims=dims,
                         max_depth=depth, min_support=min_support, alpha=alpha, top=top,
                         task=task)  # fmt: skip
    finally:
        ws.close()
    if fmt is OutputFormat.json:
        typer.echo(dumps(result.to_dict()))
        return
    _render(result)
