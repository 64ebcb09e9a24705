"""infer, relabel: truth inference, rater reliability and the relabel queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
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
from opsloop.config import Taxonomy
from opsloop.errors import UsageError
from opsloop.inference import (
    METHODS,
    infer_labels,
    infer_workspace,
    rank_label_errors,
    relabel_queue,
)
from opsloop.io import parse_map_flags, read_table

_METHOD_HELP = "mv (majority vote), wmv, ds (Dawid–Skene), onecoin, glad or mace."
_RATER_COLS = [
    "rater_id",
    "n_labels",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "spammer_score",
    "n_gold",
    "gold_accuracy",
]
_RELABEL_COLS = ["rank", "item_id", "consensus", "quality", "n_labels", "n_disagree"]


def _taxonomy(labels: str | None) -> Taxonomy | None:
    names = split_list(labels)
    return Taxonomy(labels=names) if names else None


def _read_inputs(
    file: Path, gold: Path | None, map_: list[str], gold_map: list[str], labels: str | None
) -> tuple[pa.Table, pa.Table | None, list[str] | None]:
    taxonomy = _taxonomy(labels)
    ann = read_table(file, "annotations", column_map=parse_map_flags(map_), taxonomy=taxonomy)
    gold_t = None
    if gold is not None:
        gold_t = read_table(gold, "gold", column_map=parse_map_flags(gold_map), taxonomy=taxonomy)
    return ann, gold_t, list(taxonomy.labels) if taxonomy else None


def _write_out(table: pa.Table, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        raise UsageError(f"--out {path}: expected a .parquet or .csv file name")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise UsageError(f"--method {method!r}: expected one of {', '.join(METHODS)}")


def _print_summary(summary: dict[str, Any]) -> None:
    iters = ", ".join(f"{k}: {v}" for k, v in summary["n_iter"].items())
    console.print(
        f"{summary['method']}: {summary['n_items']:,} items, {summary['n_annotations']:,} "
        f"annotations; {'converged' if summary['converged'] else 'not converged'} ({iters} iterations)"
    )
    if summary["accuracy"] is not None:
        lo, hi = summary["accuracy_ci"]
        how = "gold clamped while fitting" if summary["gold_clamped"] else "gold held out"
        console.print(
            f"accuracy on {summary['n_gold']:,} gold items: [bold]{summary['accuracy']:.4f}[/] "
            f"(95% CI {lo:.4f}–{hi:.4f}; {how})"
        )
    for note in summary["notes"]:
        console.print(f"note: {note}", highlight=False)


@app.command("infer")
def infer_cmd(
    file: Path | None = typer.Argument(
        None, help="Annotations file (CSV, Parquet, JSONL …); default: the workspace tables."
    ),
    method: str = typer.Option("ds", "--method", "-m", help=_METHOD_HELP),
    gold: Path | None = typer.Option(None, "--gold", help="Gold labels file (item_id, label)."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the inferred labels (.parquet or .csv)."
    ),
    map_: list[str] = typer.Option(
        [],
        "--map",
        help="Column map CANONICAL=COLUMN for FILE, e.g. item_id=question (repeatable).",
    ),
    gold_map: list[str] = typer.Option([], "--gold-map", help="Column map for the gold file."),
    labels: str | None = typer.Option(
        None, "--labels", help="Comma-separated taxonomy for FILE (labels outside it are errors)."
    ),
    clamp: bool = typer.Option(
        True,
        "--clamp/--no-clamp",
        help="Clamp gold items while fitting (default) or only score against gold.",
    ),
    top: int = typer.Option(20, "--top", help="Rows of the relabel list and rater table to print."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Infer true labels, rate the raters and rank likely label errors.

    On a FILE the results are printed (JSON includes every label unless --out
    is given). On the workspace they are also stored as the tables
    inferred_labels, rater_reliability, label_error_ranking and
    label_error_annotations.
    """
    _check_method(method)
    if fmt is OutputFormat.csv:
        raise UsageError(
            "--format csv: use --out labels.csv for the labels; --format is table or json"
        )
    with progress_status(f"inferring labels ({method})") as say:
        if file is None:
            if gold is not None or map_ or labels:
                raise UsageError(
                    "--gold, --map and --labels apply to FILE; the workspace uses its tables"
                )
            ws = open_workspace()
            try:
                done = infer_workspace(ws, method, clamp_gold=clamp)
            finally:
                ws.close()
            data = done.to_dict(top=top)
            labels_t = done.result.labels
            relabel = done.ranking.relabel.slice(0, top)
        else:
            ann, gold_t, cats = _read_inputs(file, gold, map_, gold_map, labels)
            say("fitting")
            result = infer_labels(ann, method, gold_t, categories=cats, clamp_gold=clamp)
            ranking = rank_label_errors(ann, estimator=result.estimator, method=method, top=top)
            data = {
                **result.summary(),
                "raters": result.raters.to_pylist(),
                "relabel": ranking.relabel.to_pylist(),
            }
            labels_t = result.labels
            relabel = ranking.relabel
    if out is not None:
        _write_out(labels_t, out)
        data["out"] = str(out)
    elif file is not None:
        data["labels"] = labels_t.to_pylist()
    if fmt is OutputFormat.json:
        typer.echo(dumps(data))
        return
    _print_summary(data)
    if data.get("stored"):
        console.print(
            "stored: " + ", ".join(f"{k} ({v:,} rows)" for k, v in data["stored"].items())
        )
    if out is not None:
        console.print(f"wrote {labels_t.num_rows:,} labels to {out}")
    raters = sorted(data["raters"], key=lambda r: (r["accuracy"], str(r["rater_id"])))[:top]
    render_rows(
        raters,
        fmt,
        title=f"least accurate raters (of {len(data['raters']):,})",
        columns=[c for c in _RATER_COLS if not raters or c in raters[0]],
    )
    rows = relabel.to_pylist()
    for i, r in enumerate(rows, 1):
        r.setdefault("rank", i)
    render_rows(rows, fmt, title="relabel first", columns=_RELABEL_COLS)


@app.command("relabel")
def relabel_cmd(
    file: Path | None = typer.Argument(
        None, help="Annotations file; default: the ranking stored by `opsloop infer`."
    ),
    top: int = typer.Option(20, "--top", "-n", help="How many items to list."),
    method: str = typer.Option("ds", "--method", "-m", help=_METHOD_HELP + " (FILE only)"),
    map_: list[str] = typer.Option([], "--map", help="Column map CANONICAL=COLUMN for FILE."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table, json or csv."),
) -> None:
    """List the items most likely to be mislabelled, worst first."""
    _check_method(method)
    if file is None:
        ws = open_workspace()
        try:
            rows = relabel_queue(ws, top).to_pylist()
        finally:
            ws.close()
    else:
        ann, _, _ = _read_inputs(file, None, map_, [], None)
        with progress_status(f"ranking label errors ({method})"):
            ranking = rank_label_errors(ann, method=method, top=top)
        rows = [{"rank": i, **r} for i, r in enumerate(ranking.relabel.to_pylist(), 1)]
    cols = [
        c
        for c in ("rank", "task", "item_id", "consensus", "quality", "n_labels", "n_disagree")
        if not rows or c in rows[0]
    ]
    render_rows(rows, fmt, title=f"relabel first (top {top})", columns=cols)
