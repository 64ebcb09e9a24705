"""impact: label-policy experiments (what labels do to the model trained on them)."""

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
    progress_bar,
    render_rows,
    repeats_option,
    split_list,
)
from opsloop.errors import UsageError

if TYPE_CHECKING:
    from opsloop.impact import ImpactResult, PoolBiasResult, StoredRun

# numpy, scikit-learn and opsloop.impact load inside the command (start-up)

_POLICIES_HELP = (
    "Comma-separated label policies: random, majority, ds, wmv, onecoin, glad, mace, auto, "
    "soft[:METHOD], gold, unflagged, without:COL[=VALUE], only:COL=VALUE, relabel[:K], "
    "relabel-random[:K] (default: random, majority, ds, soft, gold, unflagged, relabel, "
    "relabel-random)."
)
_CONTENT_HELP = (
    "Item content the model learns from: an items text column (default: text), or "
    "features:COL[,COL] for numeric feature columns (an embedding)."
)
_METRIC_COLS = ("accuracy", "macro_f1", "violating_recall")


def _content(value: str) -> str | tuple[str, ...]:
    kind, colon, rest = value.partition(":")
    if not colon:
        return value.strip()
    if kind == "text":
        return rest.strip()
    if kind == "features":
        cols = split_list(rest)
        if not cols:
            raise UsageError("--content features:COL[,COL]: name the feature columns")
        return cols
    raise UsageError(f"--content {value!r}: expected COLUMN, text:COLUMN or features:COL[,COL]")


def _ks(value: str) -> tuple[float, ...]:
    out = []
    for part in split_list(value):
        try:
            out.append(float(part))
        except ValueError:
            raise UsageError(f"--k {value!r}: expected percentages such as 5,10,20") from None
    if not out:
        raise UsageError("--k: give at least one relabel budget (percent of training items)")
    return tuple(out)


def _interval(row: dict[str, Any], name: str, *, signed: bool = False) -> str:
    """``value (low–high)`` of figure ``name`` (``signed``: a difference, with its sign)."""
    value, low, high = row.get(name), row.get(f"{name}_low"), row.get(f"{name}_high")
    if value is None:
        return "" if signed else "—"
    f = "+.4f" if signed else ".4f"
    if low is None or high is None:
        return f"{value:{f}}"
    return f"{value:{f}} ({low:{f}}–{high:{f}})"


def _print_result(result: ImpactResult) -> None:
    console.print(
        f"{len(result.policies)} label policies × {len(result.seeds)} seed(s), "
        f"{result.n_fits} model fits; evaluated on {result.n_eval:,} {result.evaluation} items "
        f"(of {result.n_items:,} with content, {result.n_annotations:,} annotations)"
    )
    console.print(f"model: {result.model}", highlight=False)
    rows = []
    for r in result.rows():
        rows.append(
            {
                "policy": r["policy"],
                "n_items": r["n_train_items"],
                "n_labels": r["n_labels"],
                f"cost ({result.cost_unit})": r["cost"],
                **{m: _interval(r, m) for m in _METRIC_COLS},
                f"Δ accuracy vs {result.baseline}": _interval(r, "diff_accuracy", signed=True),
                "McNemar p": r.get("mcnemar_p"),
            }
        )
    pct = f"{result.confidence:.0%}"
    render_rows(
        rows,
        OutputFormat.table,
        title=f"model quality per label policy ({pct} bootstrap intervals)",
    )
    recall = [
        {"policy": p.policy, **{lab: p.recall[lab].value for lab in p.recall}}
        for p in result.policies
    ]
    render_rows(recall, OutputFormat.table, title="recall per violating label")
    for p in result.policies:
        for note in p.notes:
            console.print(f"note: {p.policy}: {note}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)


def _print_bias(result: PoolBiasResult, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        typer.echo(dumps(result.to_dict()))
        return
    if fmt is OutputFormat.table:
        console.print(
            f"{result.column}: a model trained on {result.pool_a!r}'s labels against one trained "
            f"on {result.pool_b!r}'s ({result.folds}-fold cross-fitted on the {result.n_items:,} "
            f"items both labelled); positive = {', '.join(result.positive)}"
        )
    render_rows(
        result.rows(), fmt, title="predicted positive rate per item group (difference = b − a)"
    )


def write_chart(result: ImpactResult, path: Path, metric: str) -> None:
    """Model ``metric`` against labeling cost, one point per policy (plotly HTML, offline)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    points = result.curve(metric)
    kinds = dict.fromkeys(p["kind"] for p in points)
    for kind in kinds:
        pts = sorted((p for p in points if p["kind"] == kind), key=lambda p: p["cost"] or 0.0)
        lines = kind in ("relabel", "relabel-random")
        fig.add_trace(
            go.Scatter(
                x=[p["cost"] for p in pts],
                y=[p["value"] for p in pts],
                text=[p["policy"] for p in pts],
                mode="lines+markers" if lines else "markers+text",
                textposition="top center",
                name=kind,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [(p["high"] or 0) - (p["value"] or 0) for p in pts],
                    "arrayminus": [(p["value"] or 0) - (p["low"] or 0) for p in pts],
                },
            )
        )
    fig.update_layout(
        title=f"{metric} against labeling cost ({result.n_eval:,} {result.evaluation} items)",
        xaxis_title=f"cost ({result.cost_unit})",
        yaxis_title=metric,
        template="plotly_white",
    )
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def _check_metric(result: ImpactResult, metric: str) -> None:
    known = [*_METRIC_COLS, *(f"recall_{lab}" for lab in result.violating)]
    if metric not in known:
        raise UsageError(f"--metric {metric!r}: expected one of {', '.join(known)}")


def _bias_spec(value: str) -> tuple[str, str, str]:
    column, eq, pools = value.partition("=")
    names = split_list(pools)
    if not eq or not column.strip() or len(names) != 2:
        raise UsageError(f"--bias {value!r}: expected COLUMN=A,B (two values of a rater column)")
    return column.strip(), names[0], names[1]


def _render(
    result: ImpactResult,
    stored: StoredRun | None,
    fmt: OutputFormat,
    chart: Path | None,
    metric: str,
) -> None:
    if chart is not None:
        write_chart(result, chart, metric)
    if fmt is OutputFormat.json:
        typer.echo(dumps({**result.to_dict(), "stored": stored.to_dict() if stored else None}))
        return
    if fmt is OutputFormat.csv:
        rows = result.rows()
        render_rows(rows, fmt, columns=list(dict.fromkeys(c for r in rows for c in r)))
        return
    _print_result(result)
    if stored is not None:
        console.print(
            f"stored run {stored.run_id}: "
            + ", ".join(f"{t} (+{n:,} rows)" for t, n in stored.rows.items())
        )
    if chart is not None:
        console.print(f"chart: {chart}")


@app.command("impact")
def impact_cmd(
    policies: str | None = typer.Option(None, "--policies", "-p", help=_POLICIES_HELP),
    seeds: int = typer.Option(5, "--seeds", help="Seeds per policy (random draws differ by seed)."),
    k: str = typer.Option("5,10,20", "--k", help="Relabel budgets, percent of training items."),
    baseline: str = typer.Option(
        "majority", "--baseline", help="The policy the others are compared with."
    ),
    evaluation: str = typer.Option(
        "gold", "--eval", help="gold (held-out gold items) or holdout (held-out raters' majority)."
    ),
    eval_share: float | None = typer.Option(
        None, "--eval-share", help="Share of the gold (0.5) or multi-label (0.2) items held out."
    ),
    content: str = typer.Option("text", "--content", help=_CONTENT_HELP),
    task: str | None = typer.Option(None, "--task", help="The task (question) to train on."),
    n_boot: int = typer.Option(1000, "--boot", help="Bootstrap replicates over evaluation items."),
    seed: int = typer.Option(0, "--seed", help="Seed of the evaluation split and the bootstrap."),
    chart: Path | None = typer.Option(
        None, "--chart", help="Write the metric-against-cost chart (HTML)."
    ),
    metric: str = typer.Option(
        "macro_f1",
        "--metric",
        help="The chart's metric: accuracy, macro_f1, violating_recall or recall_LABEL.",
    ),
    bias: str | None = typer.Option(
        None,
        "--bias",
        help="COLUMN=A,B: train on rater pool A's labels and on B's; compare the models' predicted positive rates.",
    ),
    item_group: str | None = typer.Option(
        None, "--item-group", help="With --bias: the items column to compare the rates within."
    ),
    save: bool = typer.Option(
        False,
        "--save",
        help="Append the run to the workspace tables impact_runs and impact_results.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table, json or csv."),
    repeats: str | None = repeats_option(),
) -> None:
    """Train the same model on the labels each policy produces; measure it on the same items.

    Results per policy: accuracy, macro-F1 and recall per violating label with bootstrap
    intervals, the paired difference to the baseline (bootstrap and McNemar) and the
    labels used with their cost. With --save the run is stored so runs can be compared
    over time. The annotations are never changed.
    """
    from opsloop.impact import store_impact, workspace_impact, workspace_pool_bias

    if chart is not None and chart.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--chart {chart}: expected an .html file name")
    if item_group is not None and bias is None:
        raise UsageError("--item-group applies to --bias")
    if bias is not None and (save or chart is not None):
        raise UsageError("--save and --chart apply to policy experiments, not to --bias")
    specs = list(split_list(policies)) if policies is not None else None
    if policies is not None and not specs:
        raise UsageError("--policies: name at least one policy")
    ws = open_workspace(repeats)
    try:
        ws.backend(read_only=not save)
        note_set_aside(ws.repeats_set_aside("annotations"), ws.config.repeats.analysis)
        if bias is not None:
            column, pool_a, pool_b = _bias_spec(bias)
            found = workspace_pool_bias(
                ws,
                column,
                pool_a,
                pool_b,
                item_group=item_group,
                content=_content(content),
                task=task,
                seed=seed,
                n_boot=n_boot,
            )
            _print_bias(found, fmt)
            return
        with progress_bar("training") as update:
            result = workspace_impact(
                ws,
                specs,
                content=_content(content),
                task=task,
                seeds=seeds,
                ks=_ks(k),
                baseline=baseline,
                evaluation=evaluation,
                eval_share=eval_share,
                n_boot=n_boot,
                seed=seed,
                progress=update,
            )
        _check_metric(result, metric)
        stored = store_impact(ws, result) if save else None
    finally:
        ws.close()
    _render(result, stored, fmt, chart, metric)
