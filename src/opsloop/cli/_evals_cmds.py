"""evals: compare two model versions on the same eval items (a release gate), and trends."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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
)
from opsloop.errors import UsageError

if TYPE_CHECKING:
    from opsloop.evals import EvalComparison, EvalTrend, PairedRate
    from opsloop.evals._compare import Measure
    from opsloop.findings import Proportion

# opsloop.evals, opsloop.io and the engine load inside the commands (start-up time)

evals_app = typer.Typer(
    help="Model versions on eval items: paired regressions (compare) and trends.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(evals_app, name="evals")

_FILE = typer.Argument(None, help="Evals file, CSV or Parquet (default: the workspace's evals).")
_FORMAT = typer.Option(OutputFormat.table, "--format", "-f", help="table, json or csv.")
_MAP = typer.Option([], "--map", help="Column map CANONICAL=COLUMN for FILE, e.g. item_id=prompt.")
_SHORT: dict[str, str] = {
    "fail": "fail",
    "unsafe_compliance": "attack success",
    "over_refusal": "over-refusal",
}


@contextmanager
def _evals_table(
    file: Path | None, map_: list[str], repeats: str | None
) -> Iterator[tuple[Any, str]]:
    """The evals table and its name for messages: a file's, checked as ingest would and
    kept in DuckDB (no copy to Arrow), or the workspace's; closed afterwards."""
    if file is None and map_:
        raise UsageError("--map applies to a FILE; the workspace's evals are already mapped")
    if file is not None:
        import duckdb

        from opsloop.io import parse_map_flags
        from opsloop.io._read import read_relation

        policy = repeats or "latest"
        con = duckdb.connect()
        try:
            relation, n_set_aside = read_relation(con, file, "evals",
                                                  column_map=parse_map_flags(map_), repeats=policy)  # fmt: skip
            note_set_aside(n_set_aside, policy)
            yield relation, str(file)
        finally:
            con.close()
        return
    ws = open_workspace(repeats)
    try:
        if not ws.has_table("evals"):
            raise UsageError(
                "the workspace has no evals table: run `opsloop ingest evals FILE`, "
                "or give the file: `opsloop evals compare FILE`"
            )
        note_set_aside(ws.repeats_set_aside("evals"), ws.config.repeats.analysis)
        yield ws.table("evals"), "evals"
    finally:
        ws.close()


def _pct(x: float) -> str:
    return "" if math.isnan(x) else f"{100 * x:.1f}"


def _pts(x: float) -> str:
    return "" if math.isnan(x) else f"{100 * x:+.1f}"


def _p(x: float) -> str:
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


def _q(x: float) -> str:
    return "< 0.0001" if x < 1e-4 else f"= {x:.4f}"


def _change(r: PairedRate) -> str:
    return f"{_pts(r.difference)} [{_pts(r.ci_low)}, {_pts(r.ci_high)}]"


def _shown_measures(result: EvalComparison) -> tuple[Measure, ...]:
    """Attack success and over-refusal side by side where the table has refusals (the fail
    rate is then their union, named in the verdict), else the fail rate."""
    safety: tuple[Measure, ...] = ("unsafe_compliance", "over_refusal")
    return tuple(m for m in safety if result.rows_of(m)) or ("fail",)


def _render_wide(result: EvalComparison) -> None:
    """One line per category (and all): the measures side by side, then a verdict."""
    from rich import box
    from rich.table import Table

    by_key: dict[str | None, dict[str, PairedRate]] = {}
    for r in result.rows:
        by_key.setdefault(r.category, {})[r.measure] = r
    shown = _shown_measures(result)
    table = Table(title=f"evals: {result.base_version} → {result.candidate_version} "
                  f"({result.test}; BH across categories; α = {result.alpha:g})",
                  box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)  # fmt: skip
    table.add_column("category", no_wrap=True)
    table.add_column("n", justify="right")
    for m in shown:
        table.add_column(f"{_SHORT[m]} %", justify="right", no_wrap=True)
        table.add_column("Δ pts [95% CI]", justify="right", no_wrap=True)
        table.add_column("q", justify="right")
    table.add_column("verdict")
    for category, found in by_key.items():
        cells = ["all" if category is None else escape(category), f"{found['fail'].n:,}"]
        for m in shown:
            row = found.get(m)
            cells += (["", "", ""] if row is None else
                      [f"{_pct(row.base.value)} → {_pct(row.candidate.value)}", _change(row),
                       _p(row.q_value)])  # fmt: skip
        worse = [_SHORT[m] for m, r in found.items() if r.regression]
        better = [_SHORT[m] for m, r in found.items() if r.improvement]
        cells.append(f"REGRESSION: {', '.join(worse)}" if worse
                     else f"better: {', '.join(better)}" if better else "")  # fmt: skip
        table.add_row(*cells, style="bold red" if worse else None)
    console.print(table)


def _long_rows(result: EvalComparison) -> list[dict[str, Any]]:
    return [{
        "measure": r.measure, "category": "all" if r.category is None else r.category, "n": r.n,
        "base": r.base.value, "base_low": r.base.ci_low, "base_high": r.base.ci_high,
        "candidate": r.candidate.value, "candidate_low": r.candidate.ci_low,
        "candidate_high": r.candidate.ci_high, "difference": r.difference,
        "ci_low": r.ci_low, "ci_high": r.ci_high, "candidate_worse": r.worse,
        "candidate_better": r.better, "p_value": r.p_value, "q_value": r.q_value,
        "chi2": r.chi2, "regression": r.regression, "improvement": r.improvement,
    } for r in result.rows]  # fmt: skip


def _summary(result: EvalComparison) -> list[str]:
    lines = [f"paired items: {result.paired:,} (only in {result.base_version}: "
             f"{result.only_base:,}; only in {result.candidate_version}: "
             f"{result.only_candidate:,})"]  # fmt: skip
    if result.refusal_unknown or result.mixed:
        lines.append(f"left out of attack success and over-refusal: {result.refusal_unknown:,} "
                     f"pair(s) without refused, {result.mixed:,} whose two rows disagree on "
                     "whether the prompt should be refused")  # fmt: skip
    found = result.regressions
    if not found:
        lines.append(f"no significant regression of {result.candidate_version} "
                     f"(α = {result.alpha:g}, Benjamini–Hochberg across categories)")  # fmt: skip
        return lines
    lines.append(f"significant regression of {result.candidate_version} "
                 f"(α = {result.alpha:g}, Benjamini–Hochberg across categories):")  # fmt: skip
    lines += [f"  {_SHORT[r.measure]} on {r.category or 'all categories'}: "
              f"{_pct(r.base.value)}% → {_pct(r.candidate.value)}% (q {_q(r.q_value)})"
              for r in found]  # fmt: skip
    return lines


@evals_app.command("compare")
def compare_cmd(
    file: Path | None = _FILE,
    base: str | None = typer.Option(
        None,
        "--base",
        "--baseline",
        help="Baseline model version (default: the one before the candidate, in natural order).",
    ),
    candidate: str | None = typer.Option(
        None, "--candidate", help="Candidate model version (default: the latest)."
    ),
    mid_p: bool = typer.Option(False, "--mid-p", help="McNemar mid-p test instead of exact."),
    alpha: float = typer.Option(0.05, "--alpha", help="False discovery rate of the gate."),
    map_: list[str] = _MAP,
    fmt: OutputFormat = _FORMAT,
    repeats: str | None = repeats_option(),
) -> None:
    """Candidate against baseline on the same items: fail rate, attack success, over-refusal.

    Per category: McNemar's exact test (--mid-p: mid-p), the paired difference
    with its 95% interval, Benjamini–Hochberg across categories. Exit code 1 when
    the candidate is significantly worse on any of them (for CI and release
    gates), 0 otherwise, 2 for bad input.
    """
    from opsloop.evals import compare_evals

    if repeats == "keep-all":
        err_console.print("note: a paired comparison takes one row per model version and item: "
                          "with --repeats keep-all the latest of each is used", highlight=False)  # fmt: skip
        repeats = "latest"
    with (
        progress_status("reading evals") as say,
        _evals_table(file, map_, repeats) as (table, source),
    ):
        say("comparing")
        result = compare_evals(table, baseline=base, candidate=candidate, alpha=alpha,
                               mid_p=mid_p, source=source)  # fmt: skip
    if fmt is OutputFormat.json:
        typer.echo(dumps(result.to_dict()))
    elif fmt is OutputFormat.csv:
        render_rows(_long_rows(result), fmt)
    else:
        _render_wide(result)
        for line in _summary(result):
            console.print(line, highlight=False, markup=False)
    if result.has_regression:
        raise typer.Exit(code=1)


def _rate(p: Proportion | None) -> str:
    if p is None:
        return ""
    return f"{_pct(p.value)}% [{_pct(p.ci_low)}, {_pct(p.ci_high)}] of {int(p.n):,}"


def _trend_rows(trend: EvalTrend, table: bool) -> list[dict[str, Any]]:
    rows = []
    for p in (*trend.points, *trend.overall):
        row: dict[str, Any] = {"category": p.category or "all", "model_version": p.model_version,
                               "n": p.n}  # fmt: skip
        measures = {"fail": p.fail, "unsafe_compliance": p.unsafe_compliance,
                    "over_refusal": p.over_refusal}  # fmt: skip
        for name, prop in measures.items():
            if not trend.has_refusals and name != "fail":
                continue
            if table:
                row[_SHORT[name]] = _rate(prop)
                continue
            row |= {f"{name}_n": None if prop is None else int(prop.n),
                    name: None if prop is None else prop.value,
                    f"{name}_low": None if prop is None else prop.ci_low,
                    f"{name}_high": None if prop is None else prop.ci_high}  # fmt: skip
        rows.append(row)
    return rows


@evals_app.command("trend")
def trend_cmd(
    file: Path | None = _FILE,
    map_: list[str] = _MAP,
    fmt: OutputFormat = _FORMAT,
    repeats: str | None = repeats_option(),
) -> None:
    """Each category's fail rate, attack success and over-refusal across model versions.

    Rates with Wilson 95% intervals per model version × category (and over all
    categories), each on the items that version was run on.
    """
    from opsloop.evals import eval_trend

    with (
        progress_status("reading evals") as say,
        _evals_table(file, map_, repeats) as (table, source),
    ):
        say("computing trends")
        trend = eval_trend(table, source=source)
    if fmt is OutputFormat.json:
        typer.echo(dumps(trend.to_dict()))
        return
    render_rows(_trend_rows(trend, fmt is OutputFormat.table), fmt,
                title="evals by model version (Wilson 95% intervals)")  # fmt: skip
