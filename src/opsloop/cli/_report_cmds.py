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
    progress_status,
    render_rows,
)
from opsloop.errors import UsageError
from opsloop.report import Overview, ReportFiles, run_demo, write_report

SCALES = ("small", "1m", "10m")


def _print_summary(files: ReportFiles, fmt: OutputFormat) -> None:
    overview: Overview = files.overview
    if fmt is OutputFormat.json:
        typer.echo(
            dumps(
                {
                    "report_html": str(files.html),
                    "report_json": str(files.json),
                    "kpis": [k.to_dict() for k in overview.kpis],
                    "notes": list(overview.notes),
                }
            )
        )
        return
    rows = []
    for k in overview.kpis:
        rows.append(
            {
                "kpi": k.name,
                "value": k.value,
                "ci_low": k.ci_low,
                "ci_high": k.ci_high,
                "n": k.n,
                "target": k.target,
                "status": k.status if k.target is not None else "",
            }
        )
    render_rows(rows, fmt, title=f"KPI summary · {overview.project}")
    for note in overview.notes:
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
    with progress_status("demo") as say:
        files = run_demo(directory, scale=scale, seed=seed, progress=say)
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
    with progress_status("building the report"):
        files = write_report(ws, out)
    ws.close()
    _print_summary(files, fmt)
