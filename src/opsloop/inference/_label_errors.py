"""Label-error ranking: which annotations and which consensus labels are likely wrong.

Without model predictions the scores come from the fitted posteriors ``T``:

* annotation quality ``q(i, r) = T[i, l_ir]`` (the probability the given label
  is the true one; the "self-confidence" score of Northcutt et al., 2021);
* item quality ``q(i) = T[i, ŷ_i]`` for the inferred label ``ŷ_i``.

With predictions (``item_id, label[, probability][, task]``) the posteriors
are replaced by a CROWDLAB-style ensemble (Goh, Mueller & Northcutt, 2022,
"CROWDLAB: Supervised learning to infer consensus labels and quality scores
for data with multiple annotators")::

    p(i) = (w_M p_M(i) + Σ_r w_r e_r(i)) / (w_M + Σ_r w_r)
    w = 1 − (1 − agreement with consensus) / (1 − P)   (clipped at 1e-3)

where ``P`` is the share of the most common consensus class (the accuracy of
always guessing it), ``e_r(i)`` puts the raters' mean agreement ``a`` on the
given label and ``(1 − a)/(K − 1)`` elsewhere, and ``p_M`` is the model's
probability vector (hard predictions count as probability 1). Simplification:
annotation quality is ``p(i)[l_ir]`` (the paper additionally blends in
agreement with the other raters).

The relabel list is every item ordered by ascending quality (ties by item id).

>>> import pyarrow as pa
>>> t = pa.table({"item_id": ["a", "a", "a", "b", "b", "b"],
...               "rater_id": ["r1", "r2", "r3"] * 2,
...               "label": ["x", "x", "y", "y", "y", "y"]})
>>> rank_label_errors(t, method="mv").relabel["item_id"].to_pylist()
['a', 'b']
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.errors import UsageError
from opsloop.inference._base import TaskData, name_array, positions, task_column, to_arrow
from opsloop.inference._estimator import BaseEstimator


@dataclass(frozen=True)
class TaskScores:
    """One task's coded annotations with the posteriors the scores come from."""

    task: str
    data: TaskData
    posteriors: np.ndarray
    consensus: np.ndarray


@dataclass(frozen=True)
class LabelErrorRanking:
    """Quality scores in [0, 1] (low = likely wrong) and the ranked relabel list.

    ``annotations``: ``[task,] item_id, rater_id, label, consensus, quality``
    (one row per annotation, built when first read);
    ``items``: ``[task,] item_id, consensus, quality, n_labels, n_disagree``;
    ``relabel``: ``items`` sorted by ascending quality, cut to ``top``.
    """

    method: str
    uses_predictions: bool
    items: pa.Table
    relabel: pa.Table
    notes: tuple[str, ...]
    scores: tuple[TaskScores, ...] = field(default=(), repr=False, compare=False)
    has_task: bool = False

    @functools.cached_property
    def annotations(self) -> pa.Table:
        """Per-annotation quality ``T[i, l_ir]`` (module docstring), tasks one after the other."""
        return pa.concat_tables([_annotation_table(s, self.has_task) for s in self.scores])

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "uses_predictions": self.uses_predictions,
            "notes": list(self.notes),
            "relabel": self.relabel.to_pylist(),
            "items": self.items.to_pylist(),
            "annotations": self.annotations.to_pylist(),
        }


def crowdlab_weights(agreement: np.ndarray, baseline: float) -> np.ndarray:
    """``w = 1 − (1 − agreement)/(1 − P)``, clipped to at least 1e-3."""
    denom = max(1.0 - baseline, 1e-6)
    return np.clip(1.0 - (1.0 - agreement) / denom, 1e-3, None)


def ensemble_posteriors(data: TaskData, posteriors: np.ndarray, model: np.ndarray) -> np.ndarray:
    """The CROWDLAB-style ensemble of rater labels and model probabilities (module docstring)."""
    c = data.coded
    k = data.n_classes
    consensus = np.argmax(posteriors, axis=1)
    baseline = float(np.bincount(consensus, minlength=k).max() / max(data.n_items, 1))
    agree = consensus[c.items] == c.labels
    n_r = np.bincount(c.raters, minlength=data.n_raters)
    rater_agree = np.bincount(c.raters, weights=agree, minlength=data.n_raters) / np.maximum(n_r, 1)
    w_r = crowdlab_weights(rater_agree, baseline)
    w_m = float(
        crowdlab_weights(np.array([np.mean(np.argmax(model, axis=1) == consensus)]), baseline)[0]
    )
    a = float(np.mean(agree))
    other = (1 - a) / max(k - 1, 1)
    w_ann = w_r[c.raters]
    sums = np.bincount(
        c.items * k + c.labels, weights=w_ann * (a - other), minlength=data.n_items * k
    ).reshape(data.n_items, k)
    sums = sums + (np.bincount(c.items, weights=w_ann, minlength=data.n_items) * other)[:, None]
    total = w_m + np.bincount(c.items, weights=w_ann, minlength=data.n_items)
    return (w_m * model + sums) / total[:, None]


def _model_matrix(
    predictions: pa.Table, data: TaskData, task: str, has_task: bool
) -> tuple[np.ndarray, int]:
    p = predictions
    if has_task and "task" in p.column_names:
        p = p.filter(pc.equal(p["task"], task))
    k = data.n_classes
    items = positions(data.coded.item_names, p["item_id"].cast(pa.string()).to_pylist())
    labels_s = p["label"].cast(pa.string()).to_pylist()
    labels = positions(data.coded.categories, labels_s)
    if "probability" in p.column_names:
        probs = np.nan_to_num(p["probability"].cast(pa.float64()).to_numpy(zero_copy_only=False))
    else:
        probs = np.ones(len(items))
    keep = items >= 0
    if (labels[keep] < 0).any():
        bad = labels_s[int(np.flatnonzero(keep & (labels < 0))[0])]
        raise UsageError(
            f"predictions: label {bad!r} is not one of the categories {list(data.coded.categories)}"
        )
    matrix = np.bincount(
        items[keep] * k + labels[keep], weights=probs[keep], minlength=data.n_items * k
    ).reshape(data.n_items, k)
    total = matrix.sum(axis=1, keepdims=True)
    missing = int(np.sum(total.ravel() <= 0))
    matrix = np.where(total > 0, matrix / np.where(total > 0, total, 1), 1.0 / k)
    return matrix, missing


def rank_label_errors(
    table: Any,
    *,
    estimator: BaseEstimator | None = None,
    method: str | None = None,
    gold: Any = None,
    predictions: Any = None,
    top: int | None = None,
    repeats: str = "latest",
) -> LabelErrorRanking:
    """Score annotations and items and rank items for relabelling.

    ``estimator``: an already fitted estimator (its posteriors are used;
    ``method`` then only names it); otherwise ``method`` (default ``"ds"``) is
    fitted on ``table`` (with ``gold`` clamped). ``predictions`` (``item_id,
    label[, probability][, task]``, one model) switch on the ensemble.
    ``repeats`` is the repeat policy when ``method`` is fitted here.
    """
    from opsloop.inference._api import make_estimator

    if estimator is None:
        name = method or "ds"
        estimator = make_estimator(name).fit(table, gold, repeats=repeats)
    else:
        estimator._require_fit()
        name = method or type(estimator).__name__
    notes = list(estimator.notes_)
    pred = None
    if predictions is not None:
        pred = to_arrow(predictions, "predictions")
        for col in ("item_id", "label"):
            if col not in pred.column_names:
                raise UsageError(f"predictions: missing column {col!r}")
    has_task = estimator._has_task
    scores = []
    for task, data in estimator.data_.items():
        post = estimator.fits_[task].posteriors
        if pred is not None and data.n_classes > 1:
            model, missing = _model_matrix(pred, data, task, has_task)
            if missing:
                notes.append(f"{missing:,} items have no prediction (model treated as uniform)")
            post = ensemble_posteriors(data, post, model)
        scores.append(TaskScores(task, data, post, np.argmax(post, axis=1)))
    items_t = pa.concat_tables([_item_table(s, has_task) for s in scores])
    keys = [("quality", "ascending"), ("item_id", "ascending")]
    if has_task:
        keys.append(("task", "ascending"))
    order = pc.sort_indices(items_t, sort_keys=keys)
    if top is not None:
        order = order.slice(0, max(top, 0))  # only the rows kept are taken
    return LabelErrorRanking(
        method=name,
        uses_predictions=pred is not None,
        items=items_t,
        relabel=items_t.take(order),
        notes=tuple(notes),
        scores=tuple(scores),
        has_task=has_task,
    )


def _item_table(scores: TaskScores, has_task: bool) -> pa.Table:
    """``[task,] item_id, consensus, quality, n_labels, n_disagree`` of one task."""
    data, consensus, c = scores.data, scores.consensus, scores.data.coded
    cats = pa.array(c.categories, pa.string())
    n_labels = np.bincount(c.items, minlength=data.n_items)
    disagree = np.bincount(c.items[consensus[c.items] != c.labels], minlength=data.n_items)
    items = {
        "item_id": name_array(c.item_names),
        "consensus": cats.take(pa.array(consensus)),
        "quality": pa.array(scores.posteriors[np.arange(data.n_items), consensus]),
        "n_labels": pa.array(n_labels.astype(np.int64)),
        "n_disagree": pa.array(disagree.astype(np.int64)),
    }
    if has_task:
        items = {"task": task_column(scores.task, data.n_items), **items}
    return pa.table(items)


def _annotation_table(scores: TaskScores, has_task: bool) -> pa.Table:
    """``[task,] item_id, rater_id, label, consensus, quality`` of one task."""
    c = scores.data.coded
    cats = pa.array(c.categories, pa.string())
    ann = {
        "item_id": name_array(c.item_names).take(pa.array(c.items)),
        "rater_id": name_array(c.rater_names).take(pa.array(c.raters)),
        "label": cats.take(pa.array(c.labels)),
        "consensus": cats.take(pa.array(scores.consensus[c.items])),
        "quality": pa.array(scores.posteriors[c.items, c.labels]),
    }
    if has_task:
        ann = {"task": task_column(scores.task, len(c.items)), **ann}
    return pa.table(ann)
