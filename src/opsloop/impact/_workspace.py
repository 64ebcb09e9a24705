"""Experiments on a workspace: read its tables, run, and keep the runs to compare over time.

:func:`workspace_experiment_data` reads what an experiment needs (annotations of one
task under the repeat policy, with the group columns its policies name; items with
their content; gold; audits' correct labels; taxonomy and accuracy target from
``opsloop.toml``). Group columns are any annotation, item or rater column, named as
in the annotation view (``rater_locale`` on a clash), plus two derived ones:

* ``tenure`` — the rater's tenure band when the label was given (``0-29 days``,
  ``30-89 days``, ``90-179 days``, ``180+ days``; from ``raters.hired_at``);
* ``hire_week`` — the ISO week the rater was hired (``2025-W10``): a hiring cohort.

:func:`store_impact` appends one run to ``impact_runs`` and its figures to
``impact_results`` in one transaction; earlier runs stay, so runs can be compared
over time (:func:`impact_history`). Nothing else in the workspace is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from opsloop.engine import DERIVED_LOG, Workspace, data_version
from opsloop.errors import UsageError, WorkspaceError
from opsloop.impact._data import ExperimentData, prepare_experiment
from opsloop.impact._results import METRICS, Estimate, ImpactResult

if TYPE_CHECKING:
    import ibis

    from opsloop.impact._bias import PoolBiasResult

RUNS_TABLE = "impact_runs"
RESULTS_TABLE = "impact_results"
DERIVED_GROUPS = ("tenure", "hire_week")
DEFAULT_TASK = "label"


def _task(ws: Workspace, task: str | None) -> str | None:
    """The task to analyse (``None``: the annotations have no task column)."""
    ann = ws.table("annotations")
    if "task" not in ann.columns:
        return None
    tasks = sorted(
        str(t)
        for t in ann.select("task").distinct().to_pyarrow()["task"].to_pylist()
        if t is not None
    )
    if task is not None:
        if task not in tasks:
            raise UsageError(f"--task {task!r}: the annotations answer {', '.join(tasks)}")
        return task
    if len(tasks) == 1:
        return tasks[0]
    if DEFAULT_TASK in tasks:
        return DEFAULT_TASK
    raise UsageError(
        f"the annotations answer several tasks ({', '.join(tasks)}): choose one with --task"
    )


def _for_task(table: ibis.Table, task: str | None) -> ibis.Table:
    if task is None or "task" not in table.columns:
        return table
    return table.filter(table.task.fill_null(DEFAULT_TASK) == task)


def _annotations(ws: Workspace, groups: Sequence[str], task: str | None) -> pa.Table:
    """``item_id, rater_id, label``, the cost column and the group columns, one task."""
    from opsloop.metrics._sums import cost_column
    from opsloop.monitor import tenure_expr
    from opsloop.views import attribute_sources

    ann = _for_task(ws.table("annotations"), task)
    cost = cost_column(ann.columns)
    keep = ["item_id", "rater_id", "label", *([cost] if cost else [])]
    sources = attribute_sources(ws)
    wanted = {g: sources.get(g) for g in groups if g not in DERIVED_GROUPS}
    unknown = [g for g, src in wanted.items() if src is None]
    if unknown:
        have = sorted([*(c for c in sources if c not in ("label", "text")), *DERIVED_GROUPS])
        raise UsageError(f"group {unknown[0]!r}: no such column (have: {', '.join(have)})")
    derived = [g for g in groups if g in DERIVED_GROUPS]
    if derived and "hired_at" not in sources:
        raise UsageError(f"{derived[0]}: needs raters.hired_at (ingest raters with hire dates)")
    if "tenure" in derived and "submitted_at" not in ann.columns:
        raise UsageError("tenure: needs annotations.submitted_at (when each label was given)")
    view = ann.select(
        *keep,
        *(["submitted_at"] if "tenure" in derived else []),
        **{g: ann[c].cast("string") for g, c in _sources(wanted, "annotations") if g not in keep},
    )
    for table, key in (("items", "item_id"), ("raters", "rater_id")):
        names = dict(_sources(wanted, table))
        if table == "raters" and derived:
            names["hired_at"] = "hired_at"
        if not names:
            continue
        side = ws.table(table)
        right = side.select(
            key,
            **{g: side[c] if g == "hired_at" else side[c].cast("string") for g, c in names.items()},
        )
        joined = view.left_join(right, key)
        view = joined.select(*[joined[c] for c in view.columns], *[right[g] for g in names])
    extra = {}
    if "tenure" in derived:
        extra["tenure"] = tenure_expr(view)
    if "hire_week" in derived:
        extra["hire_week"] = view.hired_at.strftime("%G-W%V").fill_null("(missing)")
    out = view.mutate(**extra) if extra else view
    return out.select(*dict.fromkeys([*keep, *groups])).to_pyarrow()


def _sources(wanted: dict[str, tuple[str, str] | None], table: str) -> list[tuple[str, str]]:
    return [(g, src[1]) for g, src in wanted.items() if src is not None and src[0] == table]


def group_columns(policies: Sequence[str]) -> tuple[str, ...]:
    """The group columns the ``without:``/``only:`` policies among ``policies`` name."""
    from opsloop.impact._policies import ONLY, WITHOUT, parse_policy

    out: dict[str, None] = {}
    for spec in policies:
        for p in parse_policy(spec, (10.0,)):
            if p.kind in (WITHOUT, ONLY) and p.column:
                out[p.column] = None
    return tuple(out)


def _optional(
    ws: Workspace, name: str, columns: Sequence[str], task: str | None
) -> pa.Table | None:
    if not ws.has_table(name):
        return None
    t = _for_task(ws.table(name), task)
    if any(c not in t.columns for c in columns):
        return None
    out: pa.Table = t.select(*columns).to_pyarrow()
    return out if out.num_rows else None


def workspace_experiment_data(
    ws: Workspace,
    *,
    content: str | Sequence[str] = "text",
    groups: Sequence[str] = (),
    task: str | None = None,
    gold_unit_cost: float | None = None,
) -> ExperimentData:
    """The workspace's tables coded for :func:`~opsloop.impact.run_experiment` (module
    docstring); the repeat policy is the workspace's (``Workspace.with_repeats``)."""
    if not ws.has_table("annotations"):
        raise WorkspaceError(
            "the workspace has no annotations yet (run `opsloop ingest annotations FILE`)"
        )
    if not ws.has_table("items"):
        raise UsageError(
            "impact needs item content: the workspace has no items table "
            "(ingest items with a text column, or numeric feature columns)"
        )
    from opsloop.metrics._sums import cost_column

    chosen = _task(ws, task)
    ann = _annotations(ws, groups, chosen)
    item_t = ws.table("items")
    wanted = [content] if isinstance(content, str) else list(content)
    missing = [c for c in wanted if c not in item_t.columns]
    if missing:
        have = ", ".join(c for c in item_t.columns if c != "item_id") or "no other column"
        raise UsageError(
            f"items: no content column {missing[0]!r} (have: {have}); impact trains on item "
            "text or numeric features: name the column with --content"
        )
    items = item_t.select("item_id", *wanted).to_pyarrow()
    tax = ws.config.taxonomy.for_task(chosen or DEFAULT_TASK)
    in_config = chosen is None or chosen == DEFAULT_TASK or chosen in ws.config.taxonomy.tasks
    policy = ws.config.repeats.analysis
    return prepare_experiment(
        ann,
        items,
        content=content,
        gold=_optional(ws, "gold", ("item_id", "label"), chosen),
        audits=_optional(ws, "audits", ("item_id", "correct_label"), chosen),
        categories=tax.labels if in_config and tax.labels else None,
        benign=tax.benign if in_config else (),
        group_columns=groups,
        cost_column=cost_column(ann.column_names),
        gold_unit_cost=gold_unit_cost,
        repeats="keep-all" if policy == "keep-all" else "latest",
    )


def accuracy_target(ws: Workspace) -> float | None:
    """The accuracy KPI target in ``opsloop.toml`` (the scorecards' flag), if any."""
    target = ws.config.kpis.get("accuracy")
    return None if target is None else float(target.target)


@dataclass(frozen=True)
class StoredRun:
    """One run written by :func:`store_impact`: its id and the rows added per table."""

    run_id: int
    rows: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "rows": dict(self.rows)}


def _result_rows(run_id: int, result: ImpactResult) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for p in result.policies:
        common = {
            "run_id": run_id,
            "policy": p.policy,
            "kind": p.kind,
            "n_train_items": p.n_train_items,
            "n_labels": p.n_labels,
            "cost": p.cost,
        }
        c = p.comparison
        figures: list[tuple[str, str | None, Estimate, Estimate | None]] = [
            (m, None, getattr(p, m), getattr(c, m) if c else None) for m in METRICS
        ]
        figures += [
            ("recall", lab, est, c.recall[lab] if c else None) for lab, est in p.recall.items()
        ]
        for metric, label, est, diff in figures:
            test = c is not None and metric == "accuracy"
            rows.append(
                common
                | {
                    "metric": metric,
                    "label": label,
                    "value": est.value,
                    "ci_low": est.low,
                    "ci_high": est.high,
                    "seed_sd": p.seed_sd.get(metric),
                    "diff": diff.value if diff else None,
                    "diff_low": diff.low if diff else None,
                    "diff_high": diff.high if diff else None,
                    "mcnemar_p": c.mcnemar_p if test and c else None,
                    "mcnemar_mid_p": c.mcnemar_mid_p if test and c else None,
                    "q_value": c.q_value if test and c else None,
                }
            )
    types = {
        "run_id": pa.int64(),
        "n_train_items": pa.int64(),
        "n_labels": pa.int64(),
        "policy": pa.string(),
        "kind": pa.string(),
        "metric": pa.string(),
        "label": pa.string(),
    }
    names = list(rows[0]) if rows else ["run_id"]
    return pa.table({n: pa.array([r[n] for r in rows], types.get(n, pa.float64())) for n in names})


def _run_row(run_id: int, version: int, result: ImpactResult) -> pa.Table:
    row = {
        "run_id": pa.array([run_id], pa.int64()),
        "data_version": pa.array([version], pa.int64()),
        "evaluation": [result.evaluation],
        "baseline": [result.baseline],
        "n_eval": pa.array([result.n_eval], pa.int64()),
        "n_items": pa.array([result.n_items], pa.int64()),
        "n_annotations": pa.array([result.n_annotations], pa.int64()),
        "seeds": [",".join(str(s) for s in result.seeds)],
        "policies": [",".join(p.policy for p in result.policies)],
        "content": [result.content],
        "model": [result.model],
        "cost_unit": [result.cost_unit],
        "n_boot": pa.array([result.n_boot], pa.int64()),
        "confidence": pa.array([result.confidence], pa.float64()),
        "n_fits": pa.array([result.n_fits], pa.int64()),
        "notes": [" | ".join(result.notes)],
        "settings": [json.dumps(dict(result.settings), sort_keys=True)],
    }
    return pa.table(row)


def store_impact(ws: Workspace, result: ImpactResult) -> StoredRun:
    """Append ``result`` as a new run to ``impact_runs`` and ``impact_results`` (atomic)."""
    con = ws.backend().con
    tables = set(ws.backend().list_tables())
    con.execute("BEGIN TRANSACTION")
    try:
        run_id = 1
        if RUNS_TABLE in tables:
            row = con.execute(
                f'SELECT coalesce(max(run_id), 0) + 1 FROM main."{RUNS_TABLE}"'
            ).fetchone()
            run_id = int(row[0]) if row else 1
        version = data_version(con)
        runs = _run_row(run_id, version, result)
        results = _result_rows(run_id, result)
        for name, table in ((RUNS_TABLE, runs), (RESULTS_TABLE, results)):
            stamp = "now()::TIMESTAMP AS created_at, " if name == RUNS_TABLE else ""
            into = (
                f'INSERT INTO main."{name}" BY NAME'
                if name in tables
                else f'CREATE TABLE main."{name}" AS'
            )
            con.register("__impact_rows", table)
            try:
                con.execute(f"{into} SELECT {stamp}* FROM __impact_rows")
            finally:
                con.unregister("__impact_rows")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS main.{DERIVED_LOG} "
            "(name VARCHAR PRIMARY KEY, data_version BIGINT, written_at TIMESTAMP)"
        )
        for name in (RUNS_TABLE, RESULTS_TABLE):
            con.execute(
                f"INSERT OR REPLACE INTO main.{DERIVED_LOG} VALUES (?, ?, now()::TIMESTAMP)",
                [name, version],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return StoredRun(run_id, {RUNS_TABLE: runs.num_rows, RESULTS_TABLE: results.num_rows})


def impact_history(ws: Workspace) -> pa.Table:
    """Every stored run (``impact_runs``), newest first; empty when none was stored."""
    import ibis

    if RUNS_TABLE not in ws.derived_table_names():
        return pa.table({"run_id": pa.array([], pa.int64())})
    out: pa.Table = ws.backend().table(RUNS_TABLE).order_by(ibis.desc("run_id")).to_pyarrow()
    return out


def workspace_impact(
    ws: Workspace,
    policies: Sequence[str] | None = None,
    *,
    content: str | Sequence[str] = "text",
    task: str | None = None,
    gold_unit_cost: float | None = None,
    **options: Any,
) -> ImpactResult:
    """Run a label-policy experiment on the workspace's tables (nothing is written).

    ``policies``: specs (default :data:`~opsloop.impact._policies.DEFAULT_POLICIES`);
    ``options`` go to :func:`~opsloop.impact.run_experiment` (``seeds``, ``ks``,
    ``baseline``, ``evaluation``, ``model`` …); the accuracy target of
    ``opsloop.toml`` flags raters for ``unflagged`` unless ``accuracy_target`` is given.
    """
    from opsloop.impact._experiment import run_experiment
    from opsloop.impact._policies import DEFAULT_POLICIES

    specs = list(policies) if policies else list(DEFAULT_POLICIES)
    baseline = options.get("baseline")
    groups = group_columns([*specs, *([baseline] if baseline else [])])
    progress = options.get("progress")
    if progress is not None:
        progress(0, 0, "reading the workspace and featurising the items")
    data = workspace_experiment_data(
        ws, content=content, groups=groups, task=task, gold_unit_cost=gold_unit_cost
    )
    options.setdefault("accuracy_target", accuracy_target(ws))
    return run_experiment(data, specs, **options)


def workspace_pool_bias(
    ws: Workspace,
    column: str,
    pool_a: str,
    pool_b: str,
    *,
    item_group: str | None = None,
    content: str | Sequence[str] = "text",
    task: str | None = None,
    **options: Any,
) -> PoolBiasResult:
    """:func:`~opsloop.impact.rater_pool_bias` on the workspace: ``column`` is a rater (or
    annotation) column, ``item_group`` an items column splitting the items."""
    from opsloop.impact._bias import rater_pool_bias

    data = workspace_experiment_data(ws, content=content, groups=[column], task=task)
    groups = None
    if item_group is not None:
        items = ws.table("items")
        if item_group not in items.columns:
            have = ", ".join(c for c in items.columns if c != "item_id")
            raise UsageError(f"--item-group {item_group!r}: no such items column (have: {have})")
        groups = items.select("item_id", item_group).to_pyarrow()
    return rater_pool_bias(data, column, pool_a, pool_b, item_group=groups, **options)


@dataclass(frozen=True)
class StoredImpact:
    """The newest stored run: its ``impact_runs`` row, its ``impact_results`` rows (one per
    policy, metric and label) and whether the data changed since (``stale``)."""

    run: dict[str, Any]
    results: tuple[dict[str, Any], ...]
    stale: bool

    def to_dict(self) -> dict[str, Any]:
        return {"run": dict(self.run), "results": [dict(r) for r in self.results],
                "stale": self.stale}  # fmt: skip


def latest_impact(ws: Workspace) -> StoredImpact | None:
    """The newest run :func:`store_impact` wrote (``None`` when there is none)."""
    import ibis

    if RUNS_TABLE not in ws.derived_table_names():
        return None
    runs = ws.backend().table(RUNS_TABLE)
    newest = runs.order_by(ibis.desc("run_id")).limit(1).to_pyarrow().to_pylist()
    if not newest:
        return None
    run = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in newest[0].items()}
    res = ws.backend().table(RESULTS_TABLE)
    rows = res.filter(res.run_id == run["run_id"]).to_pyarrow().to_pylist()
    return StoredImpact(run, tuple(rows), run.get("data_version") != ws.data_version())
