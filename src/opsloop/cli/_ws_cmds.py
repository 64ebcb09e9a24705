"""init, ingest, tables, sql, export."""

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
    split_list,
)
from opsloop.config import Config, ProjectConfig, Taxonomy
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.io import IngestResult, ingest, parse_map_flags
from opsloop.io._export import EXPORT_FORMATS, export_tables, run_sql


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Directory for the new workspace."),
    name: str | None = typer.Option(None, help="Project name (default: the directory name)."),
    labels: str | None = typer.Option(None, help="Comma-separated label taxonomy."),
    benign: str | None = typer.Option(None, help="Comma-separated benign labels."),
) -> None:
    """Create a workspace: opsloop.toml and the DuckDB store."""
    taxonomy = Taxonomy(labels=split_list(labels), benign=split_list(benign))
    config = Config(project=ProjectConfig(name=name or directory.resolve().name), taxonomy=taxonomy)
    ws = Workspace.init(directory, config)
    ws.close()
    console.print(f"created workspace [bold]{ws.root}[/] ({ws.store_path.name}, opsloop.toml)")


def _print_ingest(result: IngestResult, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        typer.echo(dumps(result.to_dict()))
        return
    for f in result.files:
        mapping = ", ".join(f"{src} → {dst}" for dst, src in f.mapping.items() if src != dst)
        console.print(
            f"{f.file}: {f.format}, {f.layout} layout, {f.rows_read:,} records; "
            f"columns: {mapping or 'canonical names'}"
            + (f"; extra dimensions: {', '.join(f.extras)}" if f.extras else "")
        )
    console.print(
        f"{result.table}: [bold]{result.rows_added:,}[/] rows added, "
        f"{result.rows_already_present:,} already present"
        + (
            f", [yellow]{result.rows_rejected:,} rejected[/] (see table _opsloop_rejects)"
            if result.rows_rejected
            else ""
        )
    )
    for p in result.problems:
        console.print(f"  rejected {p}", highlight=False)


@app.command("ingest")
def ingest_cmd(
    table: str = typer.Argument(
        ..., help="annotations, items, raters, gold, audits, predictions, preferences or evals."
    ),
    files: list[Path] = typer.Argument(
        ..., help="CSV, TSV, Parquet, JSONL or Label Studio JSON files."
    ),
    map_: list[str] = typer.Option(
        [], "--map", help="Column map CANONICAL=COLUMN, e.g. rater_id=worker (repeatable)."
    ),
    layout: str = typer.Option("auto", help="auto, long, or wide (one column per rater)."),
    keep: str | None = typer.Option(
        None, "--keep", help="Wide layout: comma-separated columns that are dimensions, not raters."
    ),
    input_format: str | None = typer.Option(
        None,
        "--input-format",
        help="csv, tsv, parquet, jsonl, json, labelstudio (default: from the file name).",
    ),
    delimiter: str | None = typer.Option(
        None, help="Field delimiter for CSV/TSV (default: detected)."
    ),
    on_error: str = typer.Option(
        "fail", "--on-error", help="fail (reject the whole batch) or skip (quarantine bad rows)."
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Output: table or json."),
) -> None:
    """Validate files against a table contract and add their new rows (all-or-nothing)."""
    if layout not in ("auto", "long", "wide"):
        raise UsageError(f"--layout {layout!r}: expected auto, long or wide")
    if on_error not in ("fail", "skip"):
        raise UsageError(f"--on-error {on_error!r}: expected fail or skip")
    ws = open_workspace()
    with progress_status(f"ingesting {table}") as say:
        result = ingest(
            ws,
            table,
            files,
            column_map=parse_map_flags(map_),
            layout=layout,  # type: ignore[arg-type]
            dimensions=split_list(keep),
            fmt=input_format,
            delimiter=delimiter,
            on_error=on_error,  # type: ignore[arg-type]
            progress=say,
        )
    ws.close()
    _print_ingest(result, fmt)


@app.command()
def tables(fmt: OutputFormat = typer.Option(OutputFormat.table, "--format")) -> None:
    """List the workspace tables and their row counts."""
    ws = open_workspace()
    rows = [{"table": name, "rows": ws.row_count(name)} for name in ws.table_names()]
    ws.close()
    render_rows(rows, fmt, title=f"workspace {ws.root}", columns=["table", "rows"])


@app.command()
def sql(
    query: str = typer.Argument(..., help="A read-only SQL query over the workspace tables."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
    limit: int = typer.Option(10_000, help="Most rows to print (0: no limit)."),
) -> None:
    """Run read-only SQL (DuckDB dialect) on the workspace."""
    ws = open_workspace()
    columns, rows = run_sql(ws, query, limit=limit)
    render_rows([dict(zip(columns, r, strict=True)) for r in rows], fmt, columns=columns)


@app.command()
def export(
    directory: Path = typer.Argument(..., help="Where to write one file per table."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
    tables_: str | None = typer.Option(
        None, "--tables", help="Comma-separated tables (default: all)."
    ),
) -> None:
    """Export the workspace tables as Parquet or CSV for BI tools (Power BI, Superset, Metabase)."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    ws = open_workspace()
    with progress_status("exporting") as say:
        written = export_tables(
            ws, directory, fmt=fmt, tables=split_list(tables_) or None, progress=say
        )
    ws.close()
    for path, n in written:
        console.print(f"{path}  ({n:,} rows)")
