"""demo and report."""

from __future__ import annotations

from pathlib import Path

import typer

from opsloop.cli._app import (
    OutputFormat,
    app,
    console,
    dumps,
    open_workspace,
    progress_bar,
    render_rows,
)
from opsloop.errors import UsageError
from opsloop.report import ReportFiles, WeeklyReport, run_demo, write_report

SCALES = ("small", "1m", "10m")


def _print_summary(files: ReportFiles, fmt: OutputFormat) -> None:
    report: WeeklyReport = files.report
    statuses = report.monitor.statuses if report.monitor else ()
    rows = [
        {
            "kpi": s.kpi,
            "slice": ", ".join(f"{k}={v}" for k, v in s.where.items()),
            "period": s.period,
            "value": s.value,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "n": s.n,
            "target": s.target,
            "status": s.status,
        }
        for s in statuses
    ]
    ranked = sorted(
        ((c.after.label, f) for c in report.changes if c.analysis for f in c.analysis.findings),
        key=lambda wf: -wf[1].score,
    )
    findings = [
        {"rank": i + 1, "week": week, "kind": f.kind, "finding": f.title,
         "points": round(100 * f.score, 2), "action": f.action}
        for i, (week, f) in enumerate(ranked[:5])
    ]  # fmt: skip
    if fmt is OutputFormat.json:
        typer.echo(
            dumps(
                {
                    "report_html": str(files.html),
                    "report_json": str(files.json),
                    "week": report.week.to_dict() if report.week else None,
                    "kpis": rows,
                    "top_findings": findings,
                    "notes": list(report.notes),
                }
            )
        )
        return
    week = report.week.label if report.week else "–"
    render_rows(rows, fmt, title=f"KPI status · {report.project} · week {week}")
    if findings and fmt is OutputFormat.table:
        render_rows(findings, fmt, title="Top root causes")
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"report: {files.html}\n        {files.json}", highlight=False)


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
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
) -> None:
    """Write the quality report (report.html and report.json) for the workspace."""
    ws = open_workspace()
    with progress_bar("report") as update:
        files = write_report(ws, out, progress=update)
    ws.close()
    _print_summary(files, fmt)
