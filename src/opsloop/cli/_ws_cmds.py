"""init, ingest, batches, undo, tables, sql, export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
from opsloop.errors import UsageError

if TYPE_CHECKING:
    from opsloop.io import IngestResult

# the config, the engine and opsloop.io load inside the commands (start-up time)


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Directory for the new workspace."),
    name: str | None = typer.Option(None, help="Project name (default: the directory name)."),
    labels: str | None = typer.Option(None, help="Comma-separated label taxonomy."),
    benign: str | None = typer.Option(None, help="Comma-separated benign labels."),
) -> None:
    """Create a workspace: opsloop.toml and the DuckDB store."""
    from opsloop.config import Config, ProjectConfig, Taxonomy
    from opsloop.engine import Workspace

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
            + (f"; extra dimensions: {', '.join(f.extras)}" if f.extras else ""),
            highlight=False,
        )
        if f.hint:
            console.print(f"note: {f.hint}", highlight=False)
    parts = [
        f"{result.table}: [bold]{result.rows_added:,}[/] rows added as batch {result.batch_id}",
        f"{result.rows_already_present:,} already present",
    ]
    if result.rows_set_aside:
        parts.append(f"{result.rows_set_aside:,} repeats set aside (--repeats first)")
    if result.rows_rejected:
        parts.append(f"[yellow]{result.rows_rejected:,} rejected[/] (see table _opsloop_rejects)")
    console.print(", ".join(parts))
    if result.repeat_rows:
        console.print(
            f"note: {result.repeat_rows:,} stored rows share their key with another row "
            "(re-labels, re-reviews); analyses use the latest of each (--repeats to change)",
            highlight=False,
        )
    for p in result.problems:
        console.print(f"  rejected {p}", highlight=False)


@app.command("ingest")
def ingest_cmd(
    table: str = typer.Argument(
        ..., help="annotations, items, raters, gold, audits, predictions, preferences or evals."
    ),
    files: list[Path] = typer.Argument(
        ...,
        help="CSV, TSV, Parquet, JSON/JSONL, Excel (.xlsx) files, or Label Studio / Argilla "
        "exports.",
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
        help="csv, tsv, parquet, jsonl, json, xlsx, labelstudio, argilla "
        "(default: from the file name; tool exports are recognised by their content).",
    ),
    delimiter: str | None = typer.Option(
        None, help="Field delimiter for CSV/TSV (default: detected)."
    ),
    sheet: str | None = typer.Option(
        None, "--sheet", help="Excel: the sheet to read (default: the first)."
    ),
    columns: str | None = typer.Option(
        None,
        "--columns",
        help="CSV/TSV without a header: comma-separated column names (the first line is data).",
    ),
    on_error: str = typer.Option(
        "fail", "--on-error", help="fail (reject the whole batch) or skip (quarantine bad rows)."
    ),
    repeats: str | None = typer.Option(
        None,
        "--repeats",
        help="Repeat labels (a key given again): keep-all (default: store every label), latest "
        "(store all; analyses use the latest), first (set later ones aside) or error.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Output: table or json."),
) -> None:
    """Validate files against a table contract and add their new rows (all-or-nothing).

    Every ingest is one batch: `opsloop batches` lists them, `opsloop undo BATCH` takes
    one back.
    """
    if layout not in ("auto", "long", "wide"):
        raise UsageError(f"--layout {layout!r}: expected auto, long or wide")
    if on_error not in ("fail", "skip"):
        raise UsageError(f"--on-error {on_error!r}: expected fail or skip")
    from opsloop.io import ingest, parse_map_flags

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
            sheet=sheet,
            columns=None if columns is None else tuple(c.strip() for c in columns.split(",")),
            on_error=on_error,  # type: ignore[arg-type]
            repeats=repeats,
            progress=say,
        )
    ws.close()
    _print_ingest(result, fmt)


@app.command()
def batches(fmt: OutputFormat = typer.Option(OutputFormat.table, "--format")) -> None:
    """List the ingested batches: table, files, rows added, and whether undone."""
    from opsloop.io import list_batches

    ws = open_workspace()
    rows = [b.to_dict() for b in list_batches(ws)]
    ws.close()
    cols = [
        "batch",
        "table",
        "rows_added",
        "rows_already_present",
        "rows_rejected",
        "ingested_at",
        "status",
        "files",
    ]
    if fmt is OutputFormat.table and not rows:
        console.print("no batches yet (run `opsloop ingest TABLE FILE`)")
        return
    render_rows(rows, fmt, title="batches", columns=None if fmt is OutputFormat.json else cols)


@app.command("undo")
def undo_cmd(
    batch: int = typer.Argument(..., help="The batch number (see `opsloop batches`)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
) -> None:
    """Remove the rows of one ingested batch, atomically; the batch stays in the log, undone."""
    from opsloop.io import undo

    ws = open_workspace()
    result = undo(ws, batch)
    ws.close()
    if fmt is OutputFormat.json:
        typer.echo(dumps(result.to_dict()))
        return
    console.print(
        f"undid batch {result.batch_id}: {result.rows_removed:,} {result.table} rows removed"
    )
    if result.stale_derived:
        console.print(
            "stale now (recompute them, e.g. `opsloop infer`): " + ", ".join(result.stale_derived),
            highlight=False,
        )


@app.command()
def tables(fmt: OutputFormat = typer.Option(OutputFormat.table, "--format")) -> None:
    """List the workspace tables: stored rows, earlier repeat labels, stale derived results."""
    ws = open_workspace()
    rows: list[dict[str, object]] = []
    for name in ws.table_names():
        rows.append(
            {
                "table": name,
                "rows": ws.row_count(name),
                "earlier_repeats": ws.repeats_set_aside(name, "latest"),
                "note": "",
            }
        )
    stale = set(ws.stale_derived())
    for name in ws.derived_table_names():
        note = "stale: the data changed since it was computed" if name in stale else "derived"
        rows.append({"table": name, "rows": ws.row_count(name), "earlier_repeats": 0, "note": note})
    ws.close()
    render_rows(
        rows,
        fmt,
        title=f"workspace {ws.root}",
        columns=["table", "rows", "earlier_repeats", "note"],
    )


@app.command()
def sql(
    query: str = typer.Argument(..., help="A read-only SQL query over the workspace tables."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
    limit: int = typer.Option(10_000, help="Most rows to print (0: no limit)."),
) -> None:
    """Run read-only SQL (DuckDB dialect) on the workspace."""
    from opsloop.io._export import run_sql

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
    from opsloop.io._export import EXPORT_FORMATS, export_tables

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
