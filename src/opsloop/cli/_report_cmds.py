"""demo and report."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from opsloop.cli._app import (
    OutputFormat,
    app,
    console,
    dumps,
    note_set_aside,
    open_workspace,
    progress_bar,
    render_rows,
    repeats_option,
)
from opsloop.errors import UsageError

if TYPE_CHECKING:
    from opsloop.report import ReportFiles, WeeklyReport

# opsloop.monitor and opsloop.report load inside the commands (start-up time)

SCALES = ("small", "1m", "10m")


def _cell(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    if unit == "share":
        return f"{value:.4f}"
    if unit in ("seconds", "count"):
        return f"{value:,.1f}"
    return f"{value:.4f}"


def _status_rows(report: WeeklyReport, fmt: OutputFormat) -> list[dict[str, Any]]:
    from opsloop.monitor import KPIS

    statuses = report.monitor.statuses if report.monitor else ()
    tasks = any("task" in s.where for s in statuses)
    rows = []
    for s in statuses:
        where = dict(s.where)
        row: dict[str, Any] = {"kpi": s.kpi}
        if tasks:
            row["task"] = where.pop("task", "all tasks")
        row["slice"] = ", ".join(f"{k}={v}" for k, v in where.items())
        row["period"] = s.period
        n = None if math.isnan(s.n) else round(s.n)
        if fmt is OutputFormat.table:
            unit = KPIS[s.kpi].unit
            ci = "" if math.isnan(s.ci_low) else f"{_cell(s.ci_low, unit)}–{_cell(s.ci_high, unit)}"
            value = _cell(s.value, unit) if not math.isnan(s.value) else "— (no data)"
            row |= {"value": value, "95% CI": ci, "n": "" if n is None else f"{n:,}",
                    "target": "" if s.target is None else _cell(s.target, unit)}  # fmt: skip
        else:
            row |= {"value": s.value, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": n,
                    "target": s.target}  # fmt: skip
        row["status"] = s.status
        rows.append(row)
    return rows


def _title(report: WeeklyReport) -> str:
    if not report.dated:
        return f"KPI status · {report.project} · whole period (no dates)"
    week = report.week.label if report.week else "–"
    return f"KPI status · {report.project} · week {week}"


def _print_summary(files: ReportFiles, fmt: OutputFormat) -> None:
    from opsloop.findings import rank_key

    report: WeeklyReport = files.report
    rows = _status_rows(report, fmt)
    ranked = sorted(
        ((c.after.label, c.task, f) for c in report.changes if c.analysis
         for f in c.analysis.findings),
        key=lambda wf: rank_key(wf[2].unit, wf[2].score, len(wf[2].where), wf[2].id),
    )  # fmt: skip
    findings = [
        {"rank": i + 1, "week": week, **({"task": task} if task else {}), "kind": f.kind,
         "finding": f.title, "points": round(100 * f.score, 2), "action": f.action}
        for i, (week, task, f) in enumerate(ranked[:5])
    ]  # fmt: skip
    message = report.review.message() if report.review else None
    if fmt is OutputFormat.json:
        typer.echo(
            dumps(
                {
                    "report_html": str(files.html),
                    "report_json": str(files.json),
                    "week": report.week.to_dict() if report.week else None,
                    "review": report.review.to_dict() if report.review else None,
                    "counts": report.counts,
                    "kpis": rows,
                    "top_findings": findings,
                    "notes": list(report.notes),
                }
            )
        )
        return
    render_rows(rows, fmt, title=_title(report))
    if fmt is not OutputFormat.table:
        return
    if message:
        console.print(f"week: {message}", highlight=False, markup=False)
    if findings:
        render_rows(findings, fmt, title="Top root causes")
    for note in report.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(f"report: {files.html}\n        {files.json}", highlight=False, markup=False)


@app.command()
def demo(
    directory: Path = typer.Argument(
        Path("opsloop-demo"), help="Where to create the demo workspace."
    ),
    scale: str = typer.Option("small", help="small (seconds), 1m or 10m annotations."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same operation."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
) -> None:
    """Create a realistic demo moderation operation and run the quality report on it."""
    if scale not in SCALES:
        raise UsageError(f"--scale {scale!r}: expected one of {', '.join(SCALES)}")
    from opsloop.report import run_demo

    with progress_bar("demo") as update:
        files = run_demo(
            directory,
            scale=scale,
            seed=seed,
            progress=lambda step: update(0, 0, step),
            report_progress=update,
        )
    _print_summary(files, fmt)


@app.command()
def report(
    out: Path | None = typer.Option(
        None, "--out", help="Directory for report.html and report.json (default: the workspace)."
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="The week to review: an ISO week (2025-W11) or a day; later data are ignored. "
        "Default: the last week with enough data.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
    repeats: str | None = repeats_option(),
) -> None:
    """Write the quality report (report.html and report.json) for the workspace.

    The week under review is the last one with enough data (a week with fewer
    than 10% of the median week's items handled is flagged and not made the
    headline), or the week --as-of names. Without any submitted_at date the
    report covers the whole period and lists what needs dates.
    """
    from opsloop.monitor import parse_period
    from opsloop.report import write_report

    if as_of is not None:
        parse_period(as_of, dt.date.today())  # a bad period fails before the data are read
    ws = open_workspace(repeats)
    note_set_aside(ws.repeats_set_aside("annotations"), ws.config.repeats.analysis)
    try:
        with progress_bar("report") as update:
            files = write_report(ws, out, as_of=as_of, progress=update)
    finally:
        ws.close()
    _print_summary(files, fmt)
