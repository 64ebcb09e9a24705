"""quality and agreement: on the workspace or directly on files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from opsloop.cli._app import (
    OutputFormat,
    app,
    dumps,
    err_console,
    note_set_aside,
    one_blas_thread,
    open_workspace,
    progress_status,
    render_rows,
    repeats_option,
    split_list,
)
from opsloop.errors import UsageError

if TYPE_CHECKING:
    from opsloop.config import TaskTaxonomy, Taxonomy
    from opsloop.metrics import MetricRecord
    from opsloop.metrics._agreement import TaskLevels

# pyarrow, the config, opsloop.io, opsloop.metrics, opsloop.monitor and opsloop.views load
# inside the commands (start-up time)

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
    repeats: str | None = repeats_option(),
) -> None:
    """Accuracy, honeypot and audit accuracy, P/R/F1, leakage, over-enforcement, severity.

    On the workspace: annotations (joined with items and raters) against the gold
    and audits tables. On a file: --gold FILE and/or --audits FILE.
    """
    from opsloop.config import TaskTaxonomy
    from opsloop.io import read_table, repeats_set_aside
    from opsloop.metrics import choose_quality_metrics, quality, quality_sql
    from opsloop.metrics._registry import check_metric_ids
    from opsloop.views import annotation_view

    dims = split_list(by)
    chosen = split_list(metric) or None
    check_metric_ids(chosen or (), "quality")
    with progress_status("reading") as say:
        if file is None:
            ws = open_workspace(repeats)
            ann: Any = annotation_view(ws)
            g: Any = ws.table("gold") if ws.has_table("gold") else None
            a: Any = ws.table("audits") if ws.has_table("audits") else None
            tax: TaskTaxonomy = ws.config.taxonomy
            if g is None and a is None:
                raise UsageError("quality needs truth: ingest a gold or audits table")
            policy: str = ws.config.repeats.analysis
            set_aside = ws.repeats_set_aside("annotations")
        else:
            if gold is None and audits is None:
                raise UsageError("quality on a file needs truth: --gold FILE and/or --audits FILE")
            policy = repeats or "latest"
            ann = read_table(
                file, "annotations", column_map=_column_map(item, rater, label), repeats=policy
            )
            g = None if gold is None else read_table(gold, "gold", repeats=policy)
            a = None if audits is None else read_table(audits, "audits", repeats=policy)
            set_aside = repeats_set_aside(ann)
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
    note_set_aside(set_aside, policy)
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
        None,
        "--level",
        help="nominal, ordinal, interval or ratio (default: each task's level in the "
        "taxonomy); name the task with several: --level quality=ordinal.",
    ),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap replicates where needed."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    fmt: OutputFormat = _FORMAT,
    show_sql: bool = _SQL,
    dialect: str = _DIALECT,
    repeats: str | None = repeats_option(),
    intra: bool = typer.Option(
        False,
        "--intra",
        help="Intra-rater (test–retest) reliability: each rater's agreement with their own "
        "repeat labels of the same item, per rater and overall, with flags.",
    ),
) -> None:
    """Inter-rater agreement (α, κ, AC1 …) per slice.

    Repeat labels (one rater, item and task more than once) follow --repeats: by
    default the latest of each is used and the number set aside is printed on stderr.
    With --intra, the repeats themselves are measured: self-agreement per rater.
    """
    if not intra:  # the coefficients work on count patterns: no BLAS threads (before NumPy loads)
        one_blas_thread()
    from opsloop.config import Taxonomy
    from opsloop.io import read_labels
    from opsloop.metrics import agreement, agreement_sql
    from opsloop.metrics._registry import check_metric_ids

    dims = split_list(by)
    chosen = split_list(metric) or None
    if intra:
        if repeats is not None or chosen:
            raise UsageError("--intra measures every repeat label: drop --repeats and --metric")
        _intra(file, _column_map(item, rater, label), dims, level, n_boot, seed, fmt)
        return
    check_metric_ids(chosen or (), "agreement")
    if repeats == "keep-all":
        err_console.print(
            "note: agreement between raters takes one label per rater and item: with "
            "--repeats keep-all the latest of each is used (--intra measures the repeats)",
            highlight=False,
        )
        repeats = "latest"
    with progress_status("reading") as say:
        if file is None:
            from opsloop.views import annotation_view  # the engine: not needed for a file

            ws = open_workspace(repeats)
            table: Any = annotation_view(ws)
            tax: Taxonomy = ws.config.taxonomy
            policy: str = ws.config.repeats.analysis
            set_aside = ws.repeats_set_aside("annotations")
        else:
            policy = repeats or "latest"
            column_map = _column_map(item, rater, label)
            if dims or show_sql:  # slices and SQL need the file's other columns as a table
                from opsloop.io import read_table, repeats_set_aside  # DuckDB: not for the codes

                table = read_table(file, "annotations", column_map=column_map, repeats=policy)
                set_aside = repeats_set_aside(table)
            else:  # item, rater, label and task coded once, in one scan of the file
                table = read_labels(file, column_map=column_map, repeats=policy)
                set_aside = table.n_set_aside
            tax = Taxonomy()
        tl = _task_levels(table, tax, level)
        if show_sql:
            typer.echo(agreement_sql(table, by=dims, dialect=dialect) + ";")
            return
        say("computing agreement")
        result = agreement(
            table,
            metrics=chosen,
            level=tl.default,
            levels=tl.levels,
            task_categories=tl.categories,
            by=dims,
            n_boot=n_boot,
            seed=seed,
        )
    note_set_aside(set_aside, policy)
    note_set_aside(result.n_duplicates, "latest")
    _render(result.records, dims, fmt, "agreement")


def _task_levels(table: Any, tax: Taxonomy, option: str | None) -> TaskLevels:
    """Each task's level: the taxonomy's, or ``--level`` (``ordinal`` or ``quality=ordinal``).

    A bare level names no task: with one task it is that task's; with several it applies
    to all of them, with a warning saying how to name one.
    """
    from opsloop.metrics._agreement import agreement_levels

    tasks = _tasks(table)
    overrides: dict[str, str] = {}
    for part in split_list(option):
        task, sep, lvl = part.rpartition("=")
        if not sep:
            if len(tasks) > 1:
                err_console.print(
                    f"warning: --level {lvl} applies to every task ({', '.join(tasks)}); "
                    f"name one with --level {tasks[-1]}={lvl}",
                    highlight=False,
                )
            overrides.update(dict.fromkeys(tasks, lvl))
        elif task not in tasks:
            err_console.print(
                f"warning: --level {part}: no task {task!r} in the data "
                f"(tasks: {', '.join(tasks)}); ignored",
                highlight=False,
            )
        else:
            overrides[task] = lvl
    return agreement_levels(tax, tasks, overrides)


def _tasks(table: Any) -> tuple[str, ...]:
    from opsloop._verbs import task_names_of

    return task_names_of(table)


def _intra(
    file: Path | None,
    column_map: dict[str, str],
    dims: tuple[str, ...],
    level: str | None,
    n_boot: int,
    seed: int,
    fmt: OutputFormat,
) -> None:
    """``agreement --intra``: test–retest reliability from the stored repeat labels."""
    from opsloop.config import Taxonomy
    from opsloop.io import read_table
    from opsloop.metrics import intra_rater_agreement

    with progress_status("reading") as say:
        if file is None:
            from opsloop.views import annotation_view  # the engine: not needed for a file

            ws = open_workspace()
            table: Any = annotation_view(ws, repeats="keep-all", event_order=True)
            tax: Taxonomy = ws.config.taxonomy
        else:
            table = read_table(file, "annotations", column_map=column_map, repeats="keep-all")
            tax = Taxonomy()
        tl = _task_levels(table, tax, level)
        say("computing self-agreement")
        result = intra_rater_agreement(
            table,
            level=tl.default,
            levels=tl.levels,
            categories=dict(tl.categories),
            by=dims,
            n_boot=n_boot,
            seed=seed,
        )
    if fmt is OutputFormat.json:
        typer.echo(dumps(result.to_dict()))
        return
    if not result.records:
        err_console.print(
            "no rater labelled an item twice: intra-rater reliability needs repeat labels",
            highlight=False,
        )
        return
    flags = {(f.rater_id, tuple(sorted(f.slice.items()))): f.reason for f in result.flags}
    rows = _rows(result.records, (*dims, "rater_id"))
    for row, record in zip(rows, result.records, strict=True):
        rater = record.slice.get("rater_id")
        key = {k: v for k, v in record.slice.items() if k != "rater_id"}
        row["flag"] = flags.get((rater, tuple(sorted(key.items()))), "") if rater else ""
        row["n_units"] = record.extra.get("n_units")
    render_rows(rows, fmt, title=f"intra-rater reliability (repeats ordered by {result.order_by})")
