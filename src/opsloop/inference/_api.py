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
from opsloop.inference._dawid_skene import DawidSkene, OneCoinDawidSkene
from opsloop.inference._estimator import BaseEstimator
from opsloop.inference._glad import GLAD
from opsloop.inference._mace import MACE
from opsloop.inference._majority import MajorityVote, WeightedMajorityVote
from opsloop.inference._reliability import rater_reliability
from opsloop.stats import wilson_interval

METHODS: dict[str, type[BaseEstimator]] = {
    "mv": MajorityVote,
    "wmv": WeightedMajorityVote,
    "ds": DawidSkene,
    "onecoin": OneCoinDawidSkene,
    "glad": GLAD,
    "mace": MACE,
}

Categories = Sequence[str] | Mapping[str, Sequence[str]]


def make_estimator(method: str, **params: Any) -> BaseEstimator:
    """The estimator for a method name (``mv wmv ds onecoin glad mace``)."""
    try:
        cls = METHODS[method]
    except KeyError:
        raise UsageError(
            f"unknown inference method {method!r} (choose from {', '.join(METHODS)})"
        ) from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise UsageError(f"{method}: {exc}") from None


@dataclass(frozen=True)
class InferenceResult:
    """Inferred labels, posteriors and rater reliability for one method.

    ``gold_accuracy`` (with its Wilson 95% CI, ``gold_ci``) is measured on the
    ``n_gold`` gold items that have annotations. With ``clamp_gold=True`` (the
    default) gold is also used for fitting and the accuracy uses the model's
    posteriors computed *without* clamping those items (the rater parameters
    were still learned with gold clamped, so the figure is mildly optimistic);
    with ``clamp_gold=False`` gold is only scored, an unbiased estimate.
    ``notes`` reports everything that was dropped, ignored or degenerate.
    ``estimator`` is the fitted estimator (not part of :meth:`to_dict`).
    """

    method: str
    labels: pa.Table
    posteriors: pa.Table
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
    estimator: BaseEstimator | None = field(default=None, repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        """The scalar part of the result (no tables)."""
        return {
            "method": self.method,
            "n_items": self.n_items,
            "n_annotations": self.n_annotations,
            "n_gold": self.n_gold,
            "accuracy": self.gold_accuracy,
            "accuracy_ci": list(self.gold_ci) if self.gold_ci else None,
            "gold_clamped": self.gold_clamped,
            "converged": self.converged,
            "n_iter": dict(self.n_iter),
            "notes": list(self.notes),
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
    **params: Any,
) -> InferenceResult:
    """Fit ``method`` on ``table`` and collect a typed result.

    ``clamp_gold=True`` fixes gold items to their gold label while fitting
    (semi-supervised EM); ``False`` fits without gold and only scores the
    labels against it. Gold that matches no annotated item raises
    :class:`~opsloop.errors.UsageError` (a wrong file or column map, not data).
    ``params`` go to the estimator (e.g. ``n_iter=50``). Rater reliability
    (accuracy, spammer score, agreement with gold) comes from
    :func:`rater_reliability` on the fitted posteriors.
    """
    if method in ("mace",):
        params.setdefault("seed", seed)
    est = make_estimator(method, **params)
    est.fit(table, gold if clamp_gold else None, categories=categories)
    notes = list(est.notes_)
    if clamp_gold:
        n_gold, correct = _score_clamped(est)
    else:
        n_gold, correct = _score_unclamped(est, gold, notes)
    if gold is not None and n_gold == 0:
        raise UsageError(
            "gold: none of the gold items appear in the annotations "
            "(check the item ids, the task column and --map)"
        )
    notes.extend(degenerate_notes(est))
    accuracy = correct / n_gold if n_gold else None
    return InferenceResult(
        method=method,
        labels=est.labels_,
        posteriors=est.probas_,
        raters=rater_reliability(est, seed=seed),
        history={k: tuple(v) for k, v in est.loss_history_.items()},
        n_iter=est.n_iter_,
        converged=est.converged_,
        n_items=sum(d.n_items for d in est.data_.values()),
        n_annotations=sum(len(d.coded.items) for d in est.data_.values()),
        n_gold=n_gold,
        gold_accuracy=accuracy,
        gold_ci=wilson_interval(correct, n_gold) if n_gold else None,
        notes=tuple(notes),
        gold_clamped=clamp_gold,
        estimator=est,
    )


def _score_clamped(est: BaseEstimator) -> tuple[int, int]:
    n_gold = correct = 0
    for task, data in est.data_.items():
        fit = est.fits_[task]
        idx = np.flatnonzero(data.gold >= 0)
        n_gold += len(idx)
        if len(idx) and fit.unclamped is not None:
            correct += int(np.sum(np.argmax(fit.unclamped, axis=1) == data.gold[idx]))
    return n_gold, correct


def _score_unclamped(est: BaseEstimator, gold: Any, notes: list[str]) -> tuple[int, int]:
    g = gold_table(gold, est._has_task)
    if g is None:
        return 0, 0
    n_gold = correct = 0
    unmatched = 0
    for task, data in est.data_.items():
        part = g.filter(pc.equal(g["task"], task)) if "task" in g.column_names else g
        if part.num_rows == 0:
            continue
        idx = positions(data.coded.item_names, part["item_id"].to_pylist())
        lab = positions(data.coded.categories, part["label"].to_pylist())
        hit = idx >= 0
        unmatched += int(np.sum(~hit))
        codes, _ = est._predict_codes(task)
        n_gold += int(hit.sum())
        correct += int(np.sum(codes[idx[hit]] == lab[hit]))
    if unmatched:
        notes.append(f"{unmatched:,} gold items have no annotations and were ignored")
    return n_gold, correct


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
