"""Accuracy on gold the fit did not see: k-fold cross-fitting of the gold items.

With gold clamped while fitting, scoring the same gold is optimistic: the
rater parameters were learned from those very labels (on Zheng et al.'s Bird
set, Dawid–Skene scores 0.9074 that way against 0.8981 fitted without gold).
Cross-fitting (the sample splitting of Chernozhukov et al., 2018, "Double/
debiased machine learning", Econometrics Journal 21(1), applied to the gold
items) removes that: the gold items are split into ``k`` folds (seeded, in an
order that does not depend on row order); for each fold the estimator is
fitted with the *other* folds' gold clamped and the held-out fold's items are
scored by their inferred label; the counts are pooled:

    accuracy = Σ_f #{i ∈ fold f : ŷ⁽⁻ᶠ⁾_i = g_i} / n_gold

with a Wilson (1927) 95% interval on the pooled count. ``k = 5`` by default,
``k = n_gold`` when there are fewer gold items; with a single gold item the
score is simply held out (the fit sees no gold). Each fit with the other folds
clamped still learns from ``(k − 1)/k`` of the gold, so the figure is, if
anything, slightly pessimistic for the final fit that clamps all gold.

>>> import pyarrow as pa
>>> from opsloop.inference import DawidSkene
>>> t = pa.table({"item_id": [f"i{i // 3}" for i in range(30)],
...               "rater_id": [f"r{i % 3}" for i in range(30)],
...               "label": ["x", "x", "y"] * 5 + ["y", "y", "y"] * 5})
>>> gold = pa.table({"item_id": ["i0", "i1", "i5", "i6"], "label": ["x", "x", "y", "y"]})
>>> score = cross_fitted_gold(DawidSkene().fit(t, gold), n_folds=5)
>>> score.n_gold, score.correct, score.method
(4, 4, 'cross-fitted (4 folds)')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.errors import UsageError
from opsloop.inference._base import TaskData, argmax_with_ties, name_array
from opsloop.inference._estimator import BaseEstimator

HELD_OUT = "held out"


def cross_fitted_label(n_folds: int) -> str:
    """The ``accuracy_method`` text for ``n_folds`` folds."""
    return f"cross-fitted ({n_folds} folds)" if n_folds > 1 else HELD_OUT


@dataclass(frozen=True)
class GoldScore:
    """Pooled held-out gold count: ``correct`` of ``n_gold``, scored by ``method``."""

    n_gold: int
    correct: int
    n_folds: int
    method: str
    notes: tuple[str, ...]


def gold_folds(est: BaseEstimator, n_folds: int, seed: int) -> dict[str, np.ndarray]:
    """Fold of every gold item per task (``-1`` for items without gold).

    Gold items of all tasks are ordered by (task, item id), shuffled with
    ``seed`` and dealt to the folds in turn, so the folds do not depend on
    the order of the rows and differ in size by at most one.
    """
    in_order: list[tuple[str, np.ndarray]] = []  # each task's gold items by item id
    for task in sorted(est.data_):
        idx = np.flatnonzero(est.data_[task].gold >= 0)
        if len(idx):
            names = name_array(est.data_[task].coded.item_names).take(pa.array(idx))
            idx = idx[pc.sort_indices(names).to_numpy()]
        in_order.append((task, idx))
    n_keys = sum(len(idx) for _, idx in in_order)
    order = np.random.default_rng(seed).permutation(n_keys)
    fold_of_key = np.empty(n_keys, dtype=np.int64)
    fold_of_key[order] = np.arange(n_keys) % n_folds  # the key at position p: fold p % k
    out = {task: np.full(data.n_items, -1, dtype=np.int64) for task, data in est.data_.items()}
    start = 0
    for task, idx in in_order:
        out[task][idx] = fold_of_key[start : start + len(idx)]
        start += len(idx)
    return out


def _fold_correct(est: BaseEstimator, data: TaskData, held: np.ndarray) -> int:
    """Gold items ``held`` scored by a fit that clamps only the task's other gold items."""
    if data.n_classes < 2:
        return len(held)  # one category: the gold label is that category
    gold = data.gold.copy()
    gold[held] = -1
    fit = est._fit_task(data.with_gold(gold))
    codes, _ = argmax_with_ties(fit.posteriors, fit.prior)
    return int(np.sum(codes[held] == data.gold[held]))


def cross_fitted_gold(est: BaseEstimator, *, n_folds: int = 5, seed: int = 0) -> GoldScore:
    """Cross-fitted accuracy of a fitted estimator on its clamped gold (module docstring).

    ``est`` must have been fitted with gold; it is refitted (with its own
    settings) once per fold and task that holds gold items of that fold.
    """
    est._require_fit()
    if n_folds < 1:
        raise UsageError(f"gold folds must be at least 1, got {n_folds}")
    n_gold = sum(int(np.sum(d.gold >= 0)) for d in est.data_.values())
    if n_gold == 0:
        return GoldScore(0, 0, 0, HELD_OUT, ())
    k = min(n_folds, n_gold)
    folds = gold_folds(est, k, seed)
    correct = 0
    for f in range(k):
        for task, data in est.data_.items():
            held = np.flatnonzero(folds[task] == f)
            if len(held):
                correct += _fold_correct(est, data, held)
    notes: tuple[str, ...] = ()
    if k == 1:
        notes = ("one gold item: scored held out (fitted without gold)",)
    elif k < n_folds:
        notes = (f"{n_gold} gold items: {k}-fold cross-fitting instead of {n_folds}-fold",)
    return GoldScore(n_gold, correct, k, cross_fitted_label(k), notes)
