"""infer, relabel: truth inference, rater reliability and the relabel queue."""

from __future__ import annotations

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
    progress_status,
    render_rows,
    repeats_option,
    split_list,
)
from opsloop.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from opsloop.config import Taxonomy
    from opsloop.stats._encode import CodedAnnotations

# pyarrow, the config, opsloop.io and opsloop.inference load inside the commands (start-up)

_METHOD_HELP = "mv (majority vote), wmv, ds (Dawid–Skene), onecoin, glad or mace."
_INFER_METHOD_HELP = (
    "auto (default: the method that best predicts held-out labels, chosen without gold), "
    + _METHOD_HELP
)
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
_SELECTION_COLS = ["method", "heldout_loglik", "difference", "difference_se", "status"]


def _taxonomy(labels: str | None) -> Taxonomy | None:
    from opsloop.config import Taxonomy

    names = split_list(labels)
    return Taxonomy(labels=names) if names else None


def _read_inputs(
    file: Path,
    gold: Path | None,
    map_: list[str],
    gold_map: list[str],
    labels: str | None,
    repeats: str = "latest",
) -> tuple[CodedAnnotations, pa.Table | None, list[str] | None]:
    """The annotations coded once (io.read_labels: one scan of the file), gold as a table."""
    from opsloop.io import parse_map_flags, read_labels

    taxonomy = _taxonomy(labels)
    ann = read_labels(
        file, column_map=parse_map_flags(map_), taxonomy=taxonomy, repeats=repeats
    )
    note_set_aside(ann.n_set_aside, repeats)
    gold_t = None
    if gold is not None:
        from opsloop.io import read_table  # DuckDB: only for a gold file

        gold_t = read_table(
            gold, "gold", column_map=parse_map_flags(gold_map), taxonomy=taxonomy, repeats=repeats
        )
    return ann, gold_t, list(taxonomy.labels) if taxonomy else None


def _write_out(table: pa.Table, path: Path) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        raise UsageError(f"--out {path}: expected a .parquet or .csv file name")


def _check_method(method: str, choices: tuple[str, ...] | None = None) -> None:
    """``method`` is among ``choices`` (default: every estimator of opsloop.inference)."""
    from opsloop.inference import METHODS

    choices = tuple(METHODS) if choices is None else choices
    if method not in choices:
        raise UsageError(f"--method {method!r}: expected one of {', '.join(choices)}")


def _accuracy_how(summary: dict[str, Any]) -> str:
    folds = summary.get("gold_folds") or 0
    if folds > 1:
        return f"{folds}-fold cross-fitted"
    return "held out (fitted without gold)"


def _print_selection(selection: dict[str, Any]) -> None:
    console.print(
        f"auto chose [bold]{selection['chosen']}[/]: highest {selection['criterion']} "
        f"({selection['n_folds']}-fold over {selection['n_heldout']:,} held-out annotations, "
        "nats per annotation; gold not used)"
    )
    if selection["candidates"]:
        render_rows(
            selection["candidates"],
            OutputFormat.table,
            title="auto: candidates",
            columns=_SELECTION_COLS,
        )


def _print_summary(summary: dict[str, Any]) -> None:
    if summary.get("selection"):
        _print_selection(summary["selection"])
    iters = ", ".join(f"{k}: {v}" for k, v in summary["n_iter"].items())
    console.print(
        f"{summary['method']}: {summary['n_items']:,} items, {summary['n_annotations']:,} "
        f"annotations; {'converged' if summary['converged'] else 'not converged'} ({iters} iterations)"
    )
    if summary["accuracy"] is not None:
        lo, hi = summary["accuracy_ci"]
        console.print(
            f"accuracy on {summary['n_gold']:,} gold items, {_accuracy_how(summary)}: "
            f"[bold]{summary['accuracy']:.4f}[/] (95% CI {lo:.4f}–{hi:.4f})"
        )
        if summary["gold_clamped"]:
            console.print("labels: fitted with every gold item clamped to its gold label")
    for note in summary["notes"]:
        console.print(f"note: {note}", highlight=False)


def _infer_file(
    ann: CodedAnnotations,
    gold: pa.Table | None,
    cats: list[str] | None,
    method: str,
    clamp: bool,
    top: int,
    repeats: str,
) -> tuple[dict[str, Any], pa.Table, pa.Table]:
    """Fit and rank on a file's annotations: (summary data, labels, first ``top`` to relabel).

    The fitted estimator (posteriors, design, codes) and the full ranking are
    freed when this returns, before the labels are written.
    """
    from opsloop.inference import infer_labels, rank_label_errors

    result = infer_labels(ann, method, gold, categories=cats, clamp_gold=clamp, repeats=repeats)
    ranking = rank_label_errors(ann, estimator=result.estimator, method=result.method, top=top)
    data = {
        **result.summary(),
        "raters": result.raters.to_pylist(),
        "relabel": ranking.relabel.to_pylist(),
    }
    return data, result.labels, ranking.relabel


@app.command("infer")
def infer_cmd(
    file: Path | None = typer.Argument(
        None, help="Annotations file (CSV, Parquet, JSONL …); default: the workspace tables."
    ),
    method: str = typer.Option("auto", "--method", "-m", help=_INFER_METHOD_HELP),
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
        help="Clamp gold items while fitting (default; accuracy is then cross-fitted) "
        "or fit without gold and only score against it.",
    ),
    top: int = typer.Option(20, "--top", help="Rows of the relabel list and rater table to print."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    repeats: str | None = repeats_option(),
) -> None:
    """Infer true labels, rate the raters and rank likely label errors.

    On a FILE the results are printed (JSON includes every label unless --out
    is given). On the workspace they are also stored as the tables
    inferred_labels, rater_reliability, label_error_ranking and
    label_error_annotations. Accuracy on gold is always on gold the scoring
    fit did not see (5-fold cross-fitted, or held out with --no-clamp).
    """
    from opsloop.inference import METHOD_CHOICES

    _check_method(method, METHOD_CHOICES)
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
            from opsloop.inference import infer_workspace  # the store: not needed for a file

            ws = open_workspace(repeats)
            note_set_aside(ws.repeats_set_aside("annotations"), ws.config.repeats.analysis)
            try:
                done = infer_workspace(ws, method, clamp_gold=clamp)
            finally:
                ws.close()
            data = done.to_dict(top=top)
            labels_t = done.result.labels
            relabel = done.ranking.relabel.slice(0, top)
        else:
            policy = repeats or "latest"
            ann, gold_t, cats = _read_inputs(file, gold, map_, gold_map, labels, policy)
            say("fitting")
            data, labels_t, relabel = _infer_file(ann, gold_t, cats, method, clamp, top, policy)
            del ann, gold_t  # the codes: only the labels are written from here on
    if out is not None:
        _write_out(labels_t, out)
        data["out"] = str(out)
    elif file is not None and fmt is OutputFormat.json:  # the table shows a summary only
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
    repeats: str | None = repeats_option(),
) -> None:
    """List the items most likely to be mislabelled, worst first."""
    from opsloop.inference import rank_label_errors

    _check_method(method)
    if file is None:
        if repeats is not None:
            raise UsageError(
                "--repeats applies to FILE; the workspace's ranking is the one `opsloop infer` "
                "stored (run `opsloop infer --repeats …` to change it)"
            )
        from opsloop.inference import relabel_queue  # the store: not needed for a file

        ws = open_workspace()
        try:
            rows = relabel_queue(ws, top).to_pylist()
        finally:
            ws.close()
    else:
        ann, _, _ = _read_inputs(file, None, map_, [], None, repeats or "latest")
        with progress_status(f"ranking label errors ({method})"):
            ranking = rank_label_errors(ann, method=method, top=top, repeats=repeats or "latest")
        rows = [{"rank": i, **r} for i, r in enumerate(ranking.relabel.to_pylist(), 1)]
    cols = [
        c
        for c in ("rank", "task", "item_id", "consensus", "quality", "n_labels", "n_disagree")
        if not rows or c in rows[0]
    ]
    render_rows(rows, fmt, title=f"relabel first (top {top})", columns=cols)
