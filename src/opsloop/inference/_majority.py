"""Majority vote and weighted majority vote.

Majority vote: ``T[i, k] = n_ik / n_i`` (the share of item ``i``'s labels
equal to ``k``); the label is the arg-max.

**Tie rule** (one, deterministic, documented): among tied labels the one
that is most frequent over the whole task wins (the empirical class prior,
i.e. the Bayes choice when the votes carry no information); if that is also
tied, the first label in category order (sorted, or the given taxonomy
order). ``labels_`` carries a boolean ``tie`` column marking items whose
top votes were tied. The rule does not depend on row order or rater names.

Weighted majority vote: ``T[i, k] ∝ Σ_{(i, r, l)} w_r [l = k]``. Without given
weights each rater's weight is their agreement with the current consensus,
starting from the majority vote (the "worker agreement with aggregate",
Wawa, as used by Appen and in crowd-kit; cf. Ustalov et al., 2021, "Learning
from Crowds with Crowd-Kit"). ``n_iter=1`` (default) is Wawa; more iterations
refine the weights until the labels stop changing.

>>> import pyarrow as pa
>>> t = pa.table({"item_id": ["a", "a", "b", "b"], "rater_id": ["r1", "r2", "r1", "r2"],
...               "label": ["x", "y", "y", "y"]})
>>> MajorityVote().fit(t).labels_.to_pydict()
{'item_id': ['a', 'b'], 'label': ['y', 'y'], 'tie': [True, False]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from opsloop.errors import UsageError
from opsloop.inference._base import TaskData, TaskFit, argmax_with_ties, clamp
from opsloop.inference._estimator import BaseEstimator


def vote_posteriors(data: TaskData, weights: np.ndarray | None = None) -> np.ndarray:
    """Row-normalised (weighted) vote counts, gold clamped.

    An item whose raters all have weight 0 falls back to unweighted votes.
    """
    c = data.coded
    k = data.n_classes
    w = np.ones(len(c.items)) if weights is None else weights[c.raters]
    scores = np.bincount(c.items * k + c.labels, weights=w, minlength=data.n_items * k)
    scores = scores.reshape(data.n_items, k)
    total = scores.sum(axis=1, keepdims=True)
    empty = total.ravel() <= 0
    if empty.any():
        scores[empty] = data.vote_counts()[empty]
        total = scores.sum(axis=1, keepdims=True)
    out: np.ndarray = clamp(scores / total, data.gold)
    return out


def class_frequency(data: TaskData) -> np.ndarray:
    """Share of all labels in each category (the tie-break order)."""
    counts = np.bincount(data.coded.labels, minlength=data.n_classes).astype(np.float64)
    out: np.ndarray = counts / counts.sum()
    return out


def agreement_weights(data: TaskData, labels: np.ndarray) -> np.ndarray:
    """Share of each rater's labels equal to the consensus label of the item."""
    c = data.coded
    agree = (labels[c.items] == c.labels).astype(np.float64)
    n = np.bincount(c.raters, minlength=data.n_raters)
    return np.bincount(c.raters, weights=agree, minlength=data.n_raters) / np.maximum(n, 1)


class MajorityVote(BaseEstimator):
    """Majority vote with a deterministic tie rule and a ``tie`` flag (module docstring)."""

    def __init__(self) -> None:
        super().__init__()

    def _fit_task(self, data: TaskData) -> TaskFit:
        post = vote_posteriors(data)
        return TaskFit(
            posteriors=post,
            history=(),
            n_iter=0,
            converged=True,
            prior=class_frequency(data),
            unclamped=vote_posteriors(_without_gold(data))[data.gold >= 0],
        )

    def _label_extras(self, task: str, ties: np.ndarray) -> dict[str, Any]:
        return {"tie": ties}


class WeightedMajorityVote(MajorityVote):
    """Weighted majority vote; weights given or learned as agreement with consensus.

    ``weights`` maps rater id to a non-negative weight (raters not in it get
    ``default_weight``). Learned weights are reported in ``skills_``.
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        n_iter: int = 1,
        default_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.weights = dict(weights) if weights is not None else None
        self.n_iter = n_iter
        self.default_weight = default_weight

    def _fit_task(self, data: TaskData) -> TaskFit:
        prior = class_frequency(data)
        if self.weights is not None:
            if any(not v >= 0 for v in self.weights.values()):
                raise UsageError("WeightedMajorityVote: weights must be non-negative numbers")
            w = np.array([self.weights.get(r, self.default_weight) for r in data.coded.rater_names])
            post = vote_posteriors(data, w)
            return TaskFit(
                post,
                (),
                0,
                True,
                skills=w,
                prior=prior,
                unclamped=vote_posteriors(_without_gold(data), w)[data.gold >= 0],
            )
        post = vote_posteriors(data)
        w = np.ones(data.n_raters)
        history: list[float] = []
        converged = False
        labels, _ = argmax_with_ties(post, prior)
        it = 0
        for it in range(1, self.n_iter + 1):  # noqa: B007
            w = agreement_weights(data, labels)
            post = vote_posteriors(data, w)
            new_labels, _ = argmax_with_ties(post, prior)
            changed = float(np.mean(new_labels != labels))
            history.append(changed)
            labels = new_labels
            if changed == 0.0:
                converged = True
                break
        return TaskFit(
            posteriors=post,
            history=tuple(history),
            n_iter=it,
            converged=converged or self.n_iter == 1,
            skills=w,
            prior=prior,
            unclamped=vote_posteriors(_without_gold(data), w)[data.gold >= 0],
        )


def _without_gold(data: TaskData) -> TaskData:
    return TaskData(coded=data.coded, gold=np.full(data.n_items, -1, dtype=np.int64))
