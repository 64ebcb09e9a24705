"""Inference on a workspace: read its tables, fit, store the results as derived tables.

:func:`infer_workspace` fits one method on the ``annotations`` table (gold
from the ``gold`` table, the taxonomy from ``opsloop.toml``), ranks label
errors (the CROWDLAB-style ensemble with the newest model's ``predictions``
when the workspace has them) and :func:`store_inference` writes

``inferred_labels``          ``task, item_id, label, confidence, n_labels, method``
                             (``confidence`` = the posterior of the chosen label)
``rater_reliability``        one row per rater and task (:func:`rater_reliability`)
                             plus ``method``
``label_error_ranking``      ``rank, task, item_id, consensus, quality, n_labels,
                             n_disagree, method, uses_predictions`` (every item,
                             rank 1 = most likely mislabelled)
``label_error_annotations``  per-annotation quality ``task, item_id, rater_id,
                             label, consensus, quality, method``
``inference_summary``        one row: the method asked for and used, counts, the
                             accuracy on gold (and how it was measured), notes

which other commands, ``opsloop sql`` and the report read. :func:`relabel_queue`
returns the first ``top`` rows of the stored ranking.

>>> import pyarrow as pa
>>> from opsloop.inference import infer_labels, rank_label_errors
>>> t = pa.table({"item_id": ["a", "a", "b", "b"], "rater_id": ["r1", "r2"] * 2,
...               "label": ["x", "x", "x", "y"]})
>>> r = infer_labels(t, method="mv")
>>> tabs = inference_tables(r, rank_label_errors(t, estimator=r.estimator, method="mv"))
>>> tabs["inferred_labels"].column_names
['task', 'item_id', 'label', 'confidence', 'n_labels', 'method']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.engine import Workspace
from opsloop.errors import UsageError, WorkspaceError
from opsloop.inference._api import InferenceResult, infer_labels
from opsloop.inference._base import DEFAULT_TASK
from opsloop.inference._label_errors import LabelErrorRanking, rank_label_errors

TABLES = (
    "inferred_labels",
    "rater_reliability",
    "label_error_ranking",
    "label_error_annotations",
    "inference_summary",
)
SUMMARY_TABLE = "inference_summary"


@dataclass(frozen=True)
class WorkspaceInference:
    """What :func:`infer_workspace` computed and stored (``stored``: table → rows)."""

    result: InferenceResult
    ranking: LabelErrorRanking
    stored: dict[str, int]
    model_version: str | None

    def to_dict(self, *, top: int = 20) -> dict[str, Any]:
        """Summary, stored tables, rater reliability and the first ``top`` relabel rows."""
        return {
            **self.result.summary(),
            "notes": list(self.result.notes)
            + [n for n in self.ranking.notes if n not in self.result.notes],
            "stored": dict(self.stored),
            "uses_predictions": self.ranking.uses_predictions,
            "model_version": self.model_version,
            "raters": self.result.raters.to_pylist(),
            "relabel": self.ranking.relabel.slice(0, top).to_pylist(),
        }


def _with_task(table: pa.Table) -> pa.Table:
    if "task" in table.column_names:
        return table.select(["task", *[c for c in table.column_names if c != "task"]])
    return table.add_column(0, "task", pa.repeat(DEFAULT_TASK, table.num_rows))


def _method_column(table: pa.Table, method: str) -> pa.Table:
    return table.append_column("method", pa.repeat(method, table.num_rows))


def inference_tables(result: InferenceResult, ranking: LabelErrorRanking) -> dict[str, pa.Table]:
    """The four derived tables (module docstring) built from a result and a ranking."""
    est = result.estimator
    if est is None:
        raise UsageError("inference_tables needs a result from infer_labels (with its estimator)")
    parts = []
    for task, data in est.data_.items():
        codes, _ = est._predict_codes(task)
        post = est.fits_[task].posteriors
        parts.append(
            pa.table(
                {
                    "confidence": pa.array(post[np.arange(data.n_items), codes]),
                    "n_labels": pa.array(np.bincount(data.coded.items, minlength=data.n_items)),
                }
            )
        )
    extra = pa.concat_tables(parts)
    labels = _with_task(
        result.labels.select(
            [c for c in ("task", "item_id", "label") if c in result.labels.column_names]
        )
    )
    labels = labels.append_column("confidence", extra["confidence"])
    labels = labels.append_column("n_labels", extra["n_labels"])
    ranked = _with_task(ranking.items)
    keys = [("quality", "ascending"), ("item_id", "ascending"), ("task", "ascending")]
    ranked = ranked.take(pc.sort_indices(ranked, sort_keys=keys))
    ranked = ranked.add_column(0, "rank", pa.array(np.arange(1, ranked.num_rows + 1)))
    ranked = _method_column(ranked, ranking.method)
    ranked = ranked.append_column(
        "uses_predictions", pa.repeat(ranking.uses_predictions, ranked.num_rows)
    )
    return {
        "inferred_labels": _method_column(labels, result.method),
        "rater_reliability": _method_column(_with_task(result.raters), result.method),
        "label_error_ranking": ranked,
        "label_error_annotations": _method_column(_with_task(ranking.annotations), ranking.method),
        SUMMARY_TABLE: _summary_table(result),
    }


def _summary_table(result: InferenceResult) -> pa.Table:
    s = result.summary()
    low, high = s["accuracy_ci"] or (None, None)
    row = {
        "requested_method": s["requested_method"],
        "method": s["method"],
        "n_items": s["n_items"],
        "n_annotations": s["n_annotations"],
        "n_gold": s["n_gold"],
        "accuracy": s["accuracy"],
        "accuracy_low": low,
        "accuracy_high": high,
        "accuracy_method": s["accuracy_method"],
        "converged": s["converged"],
        "notes": " | ".join(s["notes"]),
    }
    types = {
        "n_items": pa.int64(),
        "n_annotations": pa.int64(),
        "n_gold": pa.int64(),
        "accuracy": pa.float64(),
        "accuracy_low": pa.float64(),
        "accuracy_high": pa.float64(),
        "converged": pa.bool_(),
    }
    return pa.table({k: pa.array([v], types.get(k, pa.string())) for k, v in row.items()})


@dataclass(frozen=True)
class StoredInference:
    """The inference ``opsloop infer`` stored: its summary, the least reliable raters and the
    top of the relabel queue; ``stale`` when the data changed since it ran."""

    summary: dict[str, Any]
    raters: tuple[dict[str, Any], ...]
    relabel: tuple[dict[str, Any], ...]
    stale: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": dict(self.summary),
            "raters": [dict(r) for r in self.raters],
            "relabel": [dict(r) for r in self.relabel],
            "stale": self.stale,
        }


def stored_inference(ws: Workspace, *, top: int = 10) -> StoredInference | None:
    """What the last ``opsloop infer`` stored (``None`` when it has not run on this workspace)."""
    if not set(TABLES) <= set(ws.derived_table_names()):
        return None
    con = ws.backend()
    summary = con.table(SUMMARY_TABLE).to_pyarrow().to_pylist()[0]
    raters = con.table("rater_reliability")
    order = [raters.accuracy.asc(), raters.rater_id.asc()] if "accuracy" in raters.columns else []
    least = raters.order_by(order).limit(top).to_pyarrow().to_pylist()
    ranking = con.table("label_error_ranking")
    first = ranking.order_by(ranking["rank"]).limit(top).to_pyarrow().to_pylist()
    stale = bool(set(TABLES) & set(ws.stale_derived()))
    return StoredInference(summary, tuple(least), tuple(first), stale)


def store_inference(
    ws: Workspace, result: InferenceResult, ranking: LabelErrorRanking
) -> dict[str, int]:
    """Write the derived tables (replacing earlier ones); returns table → rows."""
    out = {}
    for name, table in inference_tables(result, ranking).items():
        ws.write_derived(name, table)
        out[name] = table.num_rows
    return out


def workspace_categories(ws: Workspace) -> list[str] | dict[str, list[str]] | None:
    """The taxonomy from ``opsloop.toml`` as ``categories`` (``None`` when it lists no labels)."""
    tax = ws.config.taxonomy
    if tax.tasks:
        per_task = {t: list(x.labels) for t, x in tax.tasks.items() if x.labels}
        if tax.labels:
            return {**{DEFAULT_TASK: list(tax.labels)}, **per_task}
        return per_task or None
    return list(tax.labels) or None


def newest_predictions(ws: Workspace) -> tuple[pa.Table | None, str | None]:
    """The ``predictions`` of the newest ``model_version`` (largest in sort order)."""
    if not ws.has_table("predictions"):
        return None, None
    t = ws.table("predictions")
    version = t.model_version.max().execute()
    if version is None:
        return None, None
    cols = [c for c in ("item_id", "label", "task") if c in t.columns]
    return t.filter(t.model_version == version).select(cols).to_pyarrow(), str(version)


def infer_workspace(
    ws: Workspace,
    method: str = "auto",
    *,
    use_gold: bool = True,
    clamp_gold: bool = True,
    use_predictions: bool = True,
    seed: int = 0,
    store: bool = True,
    repeats: str | None = None,
    **params: Any,
) -> WorkspaceInference:
    """Fit ``method`` on the workspace annotations, rank label errors, store the tables.

    ``method="auto"`` chooses the estimator without gold (:func:`select_method`);
    the stored ``method`` column names the estimator used. ``repeats`` (default:
    the workspace's analysis policy) decides repeat labels; with ``keep-all``
    each stored label is a vote.
    """
    policy = repeats or ws.config.repeats.analysis
    ann_t = ws.table("annotations", repeats=policy)
    cols = [c for c in ("item_id", "rater_id", "label", "task") if c in ann_t.columns]
    annotations = ann_t.select(cols).to_pyarrow()
    gold = None
    if use_gold and ws.has_table("gold"):
        g = ws.table("gold")
        gold = g.select([c for c in ("item_id", "label", "task") if c in g.columns]).to_pyarrow()
        if gold.num_rows == 0:
            gold = None
    result = infer_labels(
        annotations,
        method,
        gold,
        categories=workspace_categories(ws),
        seed=seed,
        clamp_gold=clamp_gold,
        repeats="keep-all" if policy == "keep-all" else "latest",
        **params,
    )
    predictions, version = newest_predictions(ws) if use_predictions else (None, None)
    ranking = rank_label_errors(
        annotations, estimator=result.estimator, method=result.method, predictions=predictions
    )
    stored = store_inference(ws, result, ranking) if store else {}
    return WorkspaceInference(result=result, ranking=ranking, stored=stored, model_version=version)


def relabel_queue(ws: Workspace, top: int | None = 20) -> pa.Table:
    """The first ``top`` rows of the stored ``label_error_ranking`` (all when ``None``)."""
    if "label_error_ranking" not in ws.derived_table_names():
        raise WorkspaceError(
            "no label_error_ranking in the workspace yet (run `opsloop infer` first)"
        )
    t = ws.backend().table("label_error_ranking").order_by("rank")
    if top is not None:
        t = t.limit(max(top, 0))
    out: pa.Table = t.to_pyarrow()
    return out
