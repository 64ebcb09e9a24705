"""monitor: KPI status against targets, control charts and breaches."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from opsloop.cli._app import (
    OutputFormat,
    app,
    console,
    dumps,
    err_console,
    note_set_aside,
    open_workspace,
    progress_status,
    render_rows,
    repeats_option,
    split_list,
)
from opsloop.errors import UsageError

if TYPE_CHECKING:
    from opsloop.monitor import KpiStatus, MonitorResult

# opsloop.monitor loads inside the command (start-up time)

_COLOURS = {"green": "green", "amber": "yellow", "red": "bold red", "none": "dim"}


def _num(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return ""
    if unit == "seconds":
        return f"{value:,.1f}"
    if unit == "count":
        return f"{value:,.1f}"
    return f"{value:.4f}"


def _slice(where: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in where.items()) or "all"


def _table_row(s: KpiStatus, tasks: bool) -> dict[str, Any]:
    from opsloop.monitor import KPIS

    unit = KPIS[s.kpi].unit
    ci = "" if math.isnan(s.ci_low) else f"{_num(s.ci_low, unit)}–{_num(s.ci_high, unit)}"
    colour = _COLOURS[s.status]
    where = dict(s.where)
    row: dict[str, Any] = {"kpi": s.kpi}
    if tasks:
        row["task"] = where.pop("task", "all tasks")
    return row | {
        "slice": escape(_slice(where)),
        "period": s.period,
        "value": _num(s.value, unit),
        "95% CI": ci,
        "n": "" if math.isnan(s.n) else f"{s.n:,.0f}",
        "target": ""
        if s.target is None
        else f"{'≥' if s.direction == 'higher' else '≤'} {_num(s.target, unit)}",
        "status": f"[{colour}]{s.status}[/]",
    }


def _flat_row(s: KpiStatus) -> dict[str, Any]:
    d = s.to_dict()
    d["where"] = _slice(s.where)
    return d


def _title(result: MonitorResult) -> str:
    if not result.dated:
        return "KPI status · whole period (no submitted_at dates)"
    return f"KPI status · {result.period}s {result.window} · latest {result.latest}"


def _render(result: MonitorResult, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        typer.echo(dumps(result.to_dict()))
        return
    if fmt is OutputFormat.csv:
        render_rows([_flat_row(s) for s in result.statuses], fmt)
        for note in result.notes:
            err_console.print(f"note: {note}", highlight=False)
        return
    tasks = any("task" in s.where for s in result.statuses)
    rows = [_table_row(s, tasks) for s in result.statuses]
    render_rows(rows, fmt, title=_title(result))
    if result.breaches:
        rows = [
            {"kind": b.kind, "kpi": b.kpi, "message": escape(b.message)} for b in result.breaches
        ]
        render_rows(rows, fmt, title="breaches")
    else:
        console.print("no breaches", highlight=False)
    for note in result.notes:
        console.print(f"note: {escape(note)}", highlight=False)


@app.command("monitor")
def monitor_cmd(
    period: str = typer.Option("week", "--period", help="week (ISO weeks) or day."),
    kpi: str | None = typer.Option(
        None, "--kpi", help="Comma-separated KPIs (default: those with a target in opsloop.toml)."
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Review the period ending here: a day, ISO week (2025-W03), month or "
        "previous-week; later data are ignored.",
    ),
    fmt: OutputFormat = typer.Option(
        OutputFormat.table, "--format", "-f", help="table, json or csv."
    ),
    repeats: str | None = repeats_option(),
) -> None:
    """KPIs against their targets: RAG status, control charts (p, X̄, EWMA) and breaches.

    Status of the latest period and of the whole window, per KPI and per slice
    target in opsloop.toml; breaches are red statuses and control-chart
    signals in the latest period. Quality KPIs are shown per task when items
    are asked several questions. Without any submitted_at date: the status of
    every KPI over the whole period, and no control charts. Exit code 1 when
    any status is red (for cron jobs and CI), 0 otherwise, 2 for usage errors.
    """
    if period not in ("week", "day"):
        raise UsageError(f"--period {period!r}: expected week or day")
    kpis = split_list(kpi) or None
    if kpi is not None and not kpis:
        raise UsageError("--kpi: no KPI given")
    from opsloop.session import Session

    ws = open_workspace(repeats)
    note_set_aside(ws.repeats_set_aside("annotations"), ws.config.repeats.analysis)
    try:
        with progress_status("monitoring KPIs"):
            result = Session(ws).monitor(period=period, kpis=kpis, as_of=as_of)
    finally:
        ws.close()
    _render(result, fmt)
    if result.has_red:
        raise typer.Exit(code=1)
