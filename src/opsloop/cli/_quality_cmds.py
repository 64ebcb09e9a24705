"""quality and agreement: on the workspace or directly on files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from opsloop.cli._app import (
    OutputFormat,
    app,
    dumps,
    err_console,
    open_workspace,
    progress_status,
    render_rows,
    split_list,
)
from opsloop.config import TaskTaxonomy, Taxonomy
from opsloop.errors import UsageError
from opsloop.io import read_table
from opsloop.metrics import (
    MetricRecord,
    agreement,
    agreement_sql,
    choose_quality_metrics,
    quality,
    quality_sql,
)
from opsloop.views import annotation_view

_FORMAT = typer.Option(OutputFormat.table, "--format", "-f", help="table, json or csv.")
_BY = typer.Option(None, "--by", help="Comma-separated slice dimensions, e.g. locale,vendor,week.")
_METRIC = typer.Option(None, "--metric", "-m", help="Comma-separated metric ids.")
_SQL = typer.Option(False, "--show-sql", help="Print the SQL of the metric instead of running it.")
_DIALECT = typer.Option(
    "duckdb", "--dialect", help="SQL dialect for --show-sql (duckdb, pyspark …)."
)
_ITEM = typer.Option(None, "--item", help="File mode: the column holding item ids.")
_RATER = typer.Option(None, "--rater", help="File mode: the column holding rater ids.")
_LABEL = typer.Option(None, "--label", help="File mode: the column holding labels.")


def _column_map(item: str | None, rater: str | None, label: str | None) -> dict[str, str]:
    given = {"item_id": item, "rater_id": rater, "label": label}
    return {k: v for k, v in given.items() if v}


def _severities(value: str | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in split_list(value):
        name, sep, weight = part.partition("=")
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            raise UsageError(f"--severity: {part!r} is not LABEL=NUMBER") from None
        if not sep or not name.strip():
            raise UsageError(f"--severity: {part!r} is not LABEL=NUMBER")
    return out


def _rows(records: tuple[MetricRecord, ...], by: tuple[str, ...]) -> list[dict[str, Any]]:
    dims = list(dict.fromkeys([*by, *(k for r in records for k in r.slice)]))
    rows = []
    for r in records:
        d = r.to_dict()
        row: dict[str, Any] = {"metric": r.metric}
        row |= {k: r.slice.get(k, "") for k in dims}
        row |= {k: d[k] for k in ("value", "ci_low", "ci_high")}
        n = r.extra.get("n")
        row["n"] = None if n is None else int(n)
        row |= {"n_items": r.n_items, "n_raters": r.n_raters, "note": r.note}
        rows.append(row)
    return rows


def _render(
    records: tuple[MetricRecord, ...], by: tuple[str, ...], fmt: OutputFormat, title: str
) -> None:
    if fmt is OutputFormat.json:
        typer.echo(dumps([r.to_dict() for r in records]))
        return
    rows = _rows(records, by)
    if fmt is OutputFormat.table and rows and all(r["n"] is None for r in rows):
        for r in rows:
            del r["n"]
    render_rows(rows, fmt, title=title)


@app.command("quality")
def quality_cmd(
    file: Path | None = typer.Argument(None, help="Annotations file (default: the workspace)."),
    gold: Path | None = typer.Option(None, "--gold", help="File mode: gold labels file."),
    audits: Path | None = typer.Option(None, "--audits", help="File mode: QA audits file."),
    by: str | None = _BY,
    metric: str | None = _METRIC,
    benign: str | None = typer.Option(None, "--benign", help="File mode: benign labels."),
    severity: str | None = typer.Option(
        None, "--severity", help="File mode: severities, e.g. spam=1,hate=3."
    ),
    critical: float | None = typer.Option(
        None, "--critical-severity", help="File mode: severity from which an error is critical."
    ),
    item: str | None = _ITEM,
    rater: str | None = _RATER,
    label: str | None = _LABEL,
    fmt: OutputFormat = _FORMAT,
    show_sql: bool = _SQL,
    dialect: str = _DIALECT,
) -> None:
    """Accuracy, honeypot and audit accuracy, P/R/F1, leakage, over-enforcement, severity.

    On the workspace: annotations (joined with items and raters) against the gold
    and audits tables. On a file: --gold FILE and/or --audits FILE.
    """
    dims = split_list(by)
    chosen = split_list(metric) or None
    with progress_status("reading") as say:
        if file is None:
            ws = open_workspace()
            ann: Any = annotation_view(ws)
            g: Any = ws.table("gold") if ws.has_table("gold") else None
            a: Any = ws.table("audits") if ws.has_table("audits") else None
            tax: TaskTaxonomy = ws.config.taxonomy
            if g is None and a is None:
                raise UsageError("quality needs truth: ingest a gold or audits table")
        else:
            if gold is None and audits is None:
                raise UsageError("quality on a file needs truth: --gold FILE and/or --audits FILE")
            ann = read_table(file, "annotations", column_map=_column_map(item, rater, label))
            g = None if gold is None else read_table(gold, "gold")
            a = None if audits is None else read_table(audits, "audits")
            tax = TaskTaxonomy(
                benign=split_list(benign),
                severity=_severities(severity),
                critical_severity=critical,
            )
        if show_sql:
            ids = chosen or choose_quality_metrics(None, g is not None, a is not None)
            for m in ids:
                sql = quality_sql(m, ann, gold=g, audits=a, taxonomy=tax, by=dims, dialect=dialect)
                typer.echo(f"-- {m}\n{sql};\n")
            return
        say("computing quality metrics")
        result = quality(ann, gold=g, audits=a, taxonomy=tax, metrics=chosen, by=dims)
    _render(result.records, dims, fmt, "quality")


@app.command("agreement")
def agreement_cmd(
    file: Path | None = typer.Argument(None, help="Annotations file (default: the workspace)."),
    item: str | None = _ITEM,
    rater: str | None = _RATER,
    label: str | None = _LABEL,
    by: str | None = _BY,
    metric: str | None = _METRIC,
    level: str | None = typer.Option(
        None, "--level", help="nominal, ordinal, interval or ratio (default: the taxonomy's)."
    ),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap replicates where needed."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    fmt: OutputFormat = _FORMAT,
    show_sql: bool = _SQL,
    dialect: str = _DIALECT,
) -> None:
    """Inter-rater agreement (α, κ, AC1 …) per slice.

    Duplicate (item, rater) labels within a task: the last row wins; their
    count is printed on stderr.
    """
    dims = split_list(by)
    chosen = split_list(metric) or None
    with progress_status("reading") as say:
        if file is None:
            ws = open_workspace()
            table: Any = annotation_view(ws)
            tax: Taxonomy = ws.config.taxonomy
        else:
            table = read_table(file, "annotations", column_map=_column_map(item, rater, label))
            tax = Taxonomy()
        lvl = level or tax.level
        ordered = tax.ordered_labels if lvl != "nominal" and tax.ordered_labels else None
        if show_sql:
            typer.echo(agreement_sql(table, by=dims, dialect=dialect) + ";")
            return
        say("computing agreement")
        result = agreement(
            table, metrics=chosen, level=lvl, by=dims, categories=ordered, n_boot=n_boot, seed=seed
        )
    if result.n_duplicates:
        err_console.print(
            f"note: {result.n_duplicates:,} duplicate (item, rater) label(s); the last row won",
            highlight=False,
        )
    _render(result.records, dims, fmt, "agreement")
