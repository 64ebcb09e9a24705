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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from opsloop.errors import UsageError
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


def make_estimator(method: str, **params: Any) -> BaseEstimator:
    """The estimator for a method name (``mv wmv ds onecoin glad mace``)."""
    try:
        cls = METHODS[method]
    except KeyError:
        raise UsageError(f"unknown inference method {method!r} (choose from {', '.join(METHODS)})") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise UsageError(f"{method}: {exc}") from None


@dataclass(frozen=True)
class InferenceResult:
    """Inferred labels, posteriors and rater reliability for one method.

    ``gold_accuracy`` (with its Wilson 95% CI, ``gold_ci``) is measured on the
    ``n_gold`` gold items that have annotations, using the model's posteriors
    computed *without* clamping those items (the rater parameters were
    still learned with gold clamped, so the figure is mildly optimistic;
    hold gold out of ``gold=`` for an unbiased estimate). ``notes`` reports
    everything that was dropped, ignored or degenerate.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tables as lists of row dicts)."""
        return {
            "method": self.method,
            "n_items": self.n_items,
            "n_annotations": self.n_annotations,
            "n_gold": self.n_gold,
            "gold_accuracy": self.gold_accuracy,
            "gold_ci": list(self.gold_ci) if self.gold_ci else None,
            "converged": self.converged,
            "n_iter": dict(self.n_iter),
            "history": {k: list(v) for k, v in self.history.items()},
            "notes": list(self.notes),
            "labels": self.labels.to_pylist(),
            "posteriors": self.posteriors.to_pylist(),
            "raters": self.raters.to_pylist(),
        }


def infer_labels(
    table: Any,
    method: str = "ds",
    gold: Any = None,
    *,
    categories: list[str] | tuple[str, ...] | None = None,
    seed: int = 0,
    **params: Any,
) -> InferenceResult:
    """Fit ``method`` on ``table`` (gold clamped) and collect a typed result.

    ``params`` go to the estimator (e.g. ``n_iter=50``). Rater reliability
    (accuracy, spammer score, agreement with gold) comes from
    :func:`rater_reliability` on the fitted posteriors.
    """
    if method in ("mace",):
        params.setdefault("seed", seed)
    est = make_estimator(method, **params)
    est.fit(table, gold, categories=categories)
    n_gold = 0
    correct = 0
    for task, data in est.data_.items():
        fit = est.fits_[task]
        idx = np.flatnonzero(data.gold >= 0)
        n_gold += len(idx)
        if len(idx) and fit.unclamped is not None:
            correct += int(np.sum(np.argmax(fit.unclamped, axis=1) == data.gold[idx]))
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
        notes=tuple(est.notes_),
    )
