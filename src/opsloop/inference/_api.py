"""One call for the CLI: ``infer_labels(table, method=..., gold=...)``.

>>> import pyarrow as pa
>>> t = pa.table({"item_id": ["a", "a", "a", "b", "b", "b"],
...               "rater_id": ["r1", "r2", "r3"] * 2,
...               "label": ["x", "x", "y", "y", "y", "y"]})
>>> r = infer_labels(t, method="mv")
>>> r.labels["label"].to_pylist(), r.method
(['x', 'y'], 'mv')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.errors import UsageError
from opsloop.inference._base import gold_table, positions
from opsloop.inference._crossfit import HELD_OUT, GoldScore, cross_fitted_gold
from opsloop.inference._estimator import BaseEstimator
from opsloop.inference._registry import AUTO, METHOD_CHOICES, METHODS, SEEDED, make_estimator
from opsloop.inference._reliability import rater_reliability
from opsloop.inference._select import MethodSelection, select_method
from opsloop.stats import wilson_interval

__all__ = ["METHODS", "METHOD_CHOICES", "InferenceResult", "infer_labels", "make_estimator"]

Categories = Sequence[str] | Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class InferenceResult:
    """Inferred labels, posteriors and rater reliability for one method.

    ``method`` is the estimator that produced the labels; with
    ``requested_method="auto"`` it was chosen by :func:`select_method`
    (``selection`` holds every candidate's criterion). ``gold_accuracy`` (with
    its Wilson 95% CI, ``gold_ci``) is measured on the ``n_gold`` gold items
    that have annotations, always on gold the scoring fit did not see
    (``accuracy_method``): with ``clamp_gold=True`` (the default) the labels
    are fitted with all gold clamped and the accuracy is cross-fitted
    (``"cross-fitted (5 folds)"``, :func:`cross_fitted_gold`); with
    ``clamp_gold=False`` gold is only scored (``"held out"``).
    ``notes`` reports everything that was dropped, ignored or degenerate.
    ``estimator`` is the fitted estimator (not part of :meth:`to_dict`);
    :attr:`posteriors` is built from it when first read.
    """

    method: str
    labels: pa.Table
    raters: pa.Table
    history: dict[str, tuple[float, ...]]
    n_iter: dict[str, int]
    converged: bool
    n_items: int
    n_annotations: int
    n_gold: int
    gold_accuracy: float | None
    gold_ci: tuple[float, float] | None
    notes: tuple[str, ...]
    gold_clamped: bool = True
    accuracy_method: str | None = None
    gold_folds: int | None = None
    requested_method: str | None = None
    selection: MethodSelection | None = None
    estimator: BaseEstimator | None = field(default=None, repr=False, compare=False)

    @property
    def posteriors(self) -> pa.Table:
        """``item_id, label, probability[, task]``: one row per item and category.

        Built on first use (``n_items × K`` rows, the largest table of a result)
        and then kept by the estimator.
        """
        if self.estimator is None:
            raise UsageError("InferenceResult.posteriors needs the fitted estimator")
        table: pa.Table = self.estimator.probas_
        return table

    def summary(self) -> dict[str, Any]:
        """The scalar part of the result (no tables)."""
        return {
            "method": self.method,
            "requested_method": self.requested_method or self.method,
            "n_items": self.n_items,
            "n_annotations": self.n_annotations,
            "n_gold": self.n_gold,
            "accuracy": self.gold_accuracy,
            "accuracy_ci": list(self.gold_ci) if self.gold_ci else None,
            "accuracy_method": self.accuracy_method,
            "gold_folds": self.gold_folds,
            "gold_clamped": self.gold_clamped,
            "converged": self.converged,
            "n_iter": dict(self.n_iter),
            "notes": list(self.notes),
            "selection": self.selection.to_dict() if self.selection else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tables as lists of row dicts)."""
        return {
            **self.summary(),
            "gold_accuracy": self.gold_accuracy,
            "gold_ci": list(self.gold_ci) if self.gold_ci else None,
            "history": {k: list(v) for k, v in self.history.items()},
            "labels": self.labels.to_pylist(),
            "posteriors": self.posteriors.to_pylist(),
            "raters": self.raters.to_pylist(),
        }


def infer_labels(
    table: Any,
    method: str = "ds",
    gold: Any = None,
    *,
    categories: Categories | None = None,
    seed: int = 0,
    clamp_gold: bool = True,
    gold_folds: int = 5,
    repeats: str = "latest",
    **params: Any,
) -> InferenceResult:
    """Fit ``method`` on ``table`` and collect a typed result.

    ``method="auto"`` chooses the estimator from the annotations alone
    (:func:`select_method`, held-out log-likelihood; gold is not used for the
    choice). ``clamp_gold=True`` fixes gold items to their gold label while
    fitting (semi-supervised EM) and reports ``gold_folds``-fold cross-fitted
    accuracy (:func:`cross_fitted_gold`); ``False`` fits without gold and
    scores all of it. Gold that matches no annotated item raises
    :class:`~opsloop.errors.UsageError` (a wrong file or column map, not data).
    ``params`` go to the estimator (e.g. ``n_iter=50``; not with ``auto``).
    ``repeats`` is the repeat policy for a rater's repeated labels of an item
    (rows in event order): ``latest`` (default), ``first``, ``keep-all`` (each
    label a vote, as crowd-kit counts them) or ``error``.
    Rater reliability (accuracy, spammer score, agreement with gold) comes from
    :func:`rater_reliability` on the fitted posteriors.
    """
    requested = method
    selection = None
    if method == AUTO:
        if params:
            raise UsageError(
                f"method 'auto' compares the estimators at their default settings; "
                f"{', '.join(sorted(params))} need an explicit method"
            )
        selection = select_method(table, categories=categories, seed=seed, repeats=repeats)
        method = selection.chosen
    if method in SEEDED:
        params.setdefault("seed", seed)
    est = make_estimator(method, **params)
    est.fit(table, gold if clamp_gold else None, categories=categories, repeats=repeats)
    notes = list(est.notes_)
    if selection is not None:
        notes.extend(selection.notes)
    if clamp_gold:
        score = cross_fitted_gold(est, n_folds=gold_folds, seed=seed)
    else:
        score = _score_unclamped(est, gold, notes)
    if gold is not None and score.n_gold == 0:
        raise UsageError(
            "gold: none of the gold items appear in the annotations "
            "(check the item ids, the task column and --map)"
        )
    notes.extend(score.notes)
    notes.extend(degenerate_notes(est))
    n_gold, correct = score.n_gold, score.correct
    raters = rater_reliability(est, seed=seed)
    for data in est.data_.values():
        data.release_design()  # the fits are done: rebuilt only if asked for again
    return InferenceResult(
        method=method,
        labels=est.labels_,
        raters=raters,
        history={k: tuple(v) for k, v in est.loss_history_.items()},
        n_iter=est.n_iter_,
        converged=est.converged_,
        n_items=sum(d.n_items for d in est.data_.values()),
        n_annotations=sum(len(d.coded.items) for d in est.data_.values()),
        n_gold=n_gold,
        gold_accuracy=correct / n_gold if n_gold else None,
        gold_ci=wilson_interval(correct, n_gold) if n_gold else None,
        notes=tuple(notes),
        gold_clamped=clamp_gold,
        accuracy_method=score.method if n_gold else None,
        gold_folds=score.n_folds if n_gold else None,
        requested_method=requested,
        selection=selection,
        estimator=est,
    )


def _score_unclamped(est: BaseEstimator, gold: Any, notes: list[str]) -> GoldScore:
    g = gold_table(gold, est._has_task)
    if g is None:
        return GoldScore(0, 0, 0, HELD_OUT, ())
    n_gold = correct = 0
    unmatched = 0
    for task, data in est.data_.items():
        part = g.filter(pc.equal(g["task"], task)) if "task" in g.column_names else g
        if part.num_rows == 0:
            continue
        idx = positions(data.coded.item_names, part["item_id"])
        lab = positions(data.coded.categories, part["label"])
        hit = idx >= 0
        unmatched += int(np.sum(~hit))
        codes, _ = est._predict_codes(task)
        n_gold += int(hit.sum())
        correct += int(np.sum(codes[idx[hit]] == lab[hit]))
    if unmatched:
        notes.append(f"{unmatched:,} gold items have no annotations and were ignored")
    return GoldScore(n_gold, correct, 0, HELD_OUT, ())


def degenerate_notes(est: BaseEstimator) -> list[str]:
    """Notes on data the model cannot learn much from (single labels per item or rater)."""
    out: list[str] = []
    for task, data in est.data_.items():
        where = f"task {task!r}: " if est._has_task else ""
        c = data.coded
        per_item = np.bincount(c.items, minlength=data.n_items)
        per_rater = np.bincount(c.raters, minlength=data.n_raters)
        single = int(np.sum(per_item == 1))
        if single == data.n_items and data.n_items:
            out.append(
                f"{where}every item has a single label: the inferred label is that label "
                "and confidence reflects only the rater's estimated reliability"
            )
        elif single:
            out.append(
                f"{where}{single:,} of {data.n_items:,} items have a single label "
                "(no agreement to learn from; the label is that rater's)"
            )
        if data.n_raters and int(per_rater.max()) == 1:
            out.append(
                f"{where}every rater gave one label: rater reliability cannot be "
                "estimated (reliability figures are the model's prior)"
            )
    return out
