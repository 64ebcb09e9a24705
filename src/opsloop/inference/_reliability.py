"""Rater reliability from a fitted estimator: accuracy, confusion, spammer score, gold.

For rater ``r`` with annotations ``(i, l)`` and item posteriors ``T``:

* **accuracy** ``= (1/n_r) Σ T[i, l]`` — the expected share of their labels
  that are correct under the model; 95% Wilson interval on ``n_r``
  (Wilson, 1927).
* **confusion** ``π_r[k, ·] ~ Dirichlet(1 + n_r[k, ·])`` with soft counts
  ``n_r[k, l] = Σ T[i, k]`` (posterior under a flat prior); each cell's
  marginal is ``Beta(a, A − a)``, giving an interval per cell.
* **spammer score** (Raykar & Yu, 2012, JMLR 13 "Eliminating spammers and
  ranking annotators for crowdsourced labeling tasks"):
  ``S_r = 1/(K(K − 1)) Σ_{c<k} Σ_l (π_r[c, l] − π_r[k, l])²``, the squared
  distance of the confusion matrix from the nearest rank-one ("answers
  without looking") matrix: 0 for a spammer, 1 for a perfect rater (binary
  case: ``(sensitivity + specificity − 1)²``). Interval: quantiles over
  ``n_draws`` Dirichlet draws (``seed`` fixes them).
* **gold**: share of the rater's labels on gold items equal to gold, Wilson CI.

>>> import numpy as np
>>> float(spammer_score(np.eye(3)[None])[0]), float(spammer_score(np.full((1, 2, 2), .5))[0])
(1.0, 0.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from opsloop.inference._base import TaskData, name_array
from opsloop.inference._dawid_skene import soft_counts
from opsloop.inference._estimator import BaseEstimator
from opsloop.stats import normal_quantile, wilson_arrays


def spammer_score(confusion: np.ndarray) -> np.ndarray:
    """Raykar & Yu (2012) spammer score of ``... × K × K`` confusion matrices.

    Uses ``Σ_{c<k} ‖a_c − a_k‖² = K Σ_c ‖a_c‖² − ‖Σ_c a_c‖²``.
    """
    k = confusion.shape[-1]
    if k < 2:
        return np.ones(confusion.shape[:-2])
    rows = np.sum(confusion**2, axis=(-2, -1))
    total = np.sum(np.sum(confusion, axis=-2) ** 2, axis=-1)
    out: np.ndarray = np.clip((k * rows - total) / (k * (k - 1)), 0.0, 1.0)
    return out


#: Values (draws × raters × K × K) of the Dirichlet draws held at a time: 8 MB of float64.
DRAW_BLOCK_VALUES = 1_000_000


def _sampled_spammer_scores(
    rng: np.random.Generator, alpha: np.ndarray, n_draws: int
) -> np.ndarray:
    """Spammer scores (``n_draws × R``) of ``n_draws`` draws ``π_r[k, ·] ~ Dirichlet(α_r[k, ·])``.

    Drawn a block of draws at a time (:data:`DRAW_BLOCK_VALUES`): the generator
    fills the blocks in the order one ``rng.gamma(α, size=(n_draws, R, K, K))``
    call would, so the scores (and the generator's state afterwards) are the same.
    """
    per_draw = max(alpha.size, 1)
    step = max(DRAW_BLOCK_VALUES // per_draw, 1)
    out = np.empty((n_draws, *alpha.shape[:-2]))
    for start in range(0, n_draws, step):
        n = min(step, n_draws - start)
        draws = rng.gamma(alpha[None], 1.0, size=(n, *alpha.shape))
        draws /= draws.sum(axis=-1, keepdims=True)
        out[start : start + n] = spammer_score(draws)
    return out


def _gold_counts(data: TaskData) -> tuple[np.ndarray, np.ndarray]:
    """Per rater: labels on gold items and how many of them equal gold (float64)."""
    c = data.coded
    if not data.has_gold:
        return np.zeros(data.n_raters), np.zeros(data.n_raters)
    gold_of_row = data.gold[c.items]
    on_gold = gold_of_row >= 0
    raters = c.raters[on_gold]
    g_n = np.bincount(raters, minlength=data.n_raters).astype(np.float64)
    g_ok = np.bincount(
        raters, weights=(gold_of_row[on_gold] == c.labels[on_gold]), minlength=data.n_raters
    )
    return g_n, g_ok


def rater_reliability(
    estimator: BaseEstimator, *, seed: int = 0, n_draws: int = 200, confidence: float = 0.95
) -> pa.Table:
    """Per-rater reliability table from a fitted estimator (see module docstring).

    Columns: ``[task,] rater_id, n_labels, accuracy, accuracy_low,
    accuracy_high, skill, spammer_score, spammer_low, spammer_high, n_gold,
    gold_accuracy, gold_low, gold_high`` (gold columns are null where a rater
    labelled no gold item). ``skill`` is the estimator's own per-rater
    parameter where it has one (null otherwise).
    """
    rng = np.random.default_rng(seed)
    parts = []
    tail = (1 - confidence) / 2
    for task, data in estimator.data_.items():
        fit = estimator.fits_[task]
        c = data.coded
        post = fit.posteriors
        n = np.bincount(c.raters, minlength=data.n_raters).astype(np.float64)
        correct = np.bincount(c.raters, weights=post[c.items, c.labels], minlength=data.n_raters)
        acc = correct / np.maximum(n, 1)
        acc_lo, acc_hi = wilson_arrays(correct, n, normal_quantile(confidence))
        alpha = soft_counts(data.design(), post) + 1.0
        score = spammer_score(alpha / alpha.sum(axis=2, keepdims=True))
        sampled = _sampled_spammer_scores(rng, alpha, n_draws)
        s_lo, s_hi = np.quantile(sampled, [tail, 1 - tail], axis=0)
        g_n, g_ok = _gold_counts(data)
        g_lo, g_hi = wilson_arrays(g_ok, g_n, normal_quantile(confidence))
        has = g_n > 0
        cols: dict[str, Any] = {}
        if estimator._has_task:
            cols["task"] = pa.array([task] * data.n_raters, pa.string())
        skill = fit.skills if fit.skills is not None else None
        cols.update(
            {
                "rater_id": name_array(c.rater_names),
                "n_labels": pa.array(n.astype(np.int64)),
                "accuracy": pa.array(acc),
                "accuracy_low": pa.array(acc_lo),
                "accuracy_high": pa.array(acc_hi),
                "skill": pa.array(
                    skill if skill is not None else np.zeros(data.n_raters),
                    mask=None if skill is not None else np.ones(data.n_raters, bool),
                ),
                "spammer_score": pa.array(score),
                "spammer_low": pa.array(s_lo),
                "spammer_high": pa.array(s_hi),
                "n_gold": pa.array(g_n.astype(np.int64)),
                "gold_accuracy": pa.array(g_ok / np.maximum(g_n, 1), mask=~has),
                "gold_low": pa.array(g_lo, mask=~has),
                "gold_high": pa.array(g_hi, mask=~has),
            }
        )
        parts.append(pa.table(cols))
    return pa.concat_tables(parts)


def rater_confusion(estimator: BaseEstimator, *, confidence: float = 0.95) -> pa.Table:
    """Per-rater confusion estimates with intervals (Dirichlet posterior, flat prior).

    Columns ``[task,] rater_id, true_label, label, count, probability, low, high``;
    ``count`` is the soft count ``n_r[k, l]``.
    """
    from scipy.stats import beta as beta_dist  # scipy.stats is slow to import: only when needed

    parts = []
    tail = (1 - confidence) / 2
    for task, data in estimator.data_.items():
        counts = soft_counts(data.design(), estimator.fits_[task].posteriors)
        alpha = counts + 1.0
        total = alpha.sum(axis=2, keepdims=True)
        r, k, _ = alpha.shape
        cats = pa.array(data.coded.categories, pa.string())
        cols: dict[str, Any] = {}
        if estimator._has_task:
            cols["task"] = pa.array([task] * (r * k * k), pa.string())
        cols.update(
            {
                "rater_id": name_array(data.coded.rater_names).take(
                    pa.array(np.repeat(np.arange(r), k * k))
                ),
                "true_label": cats.take(pa.array(np.tile(np.repeat(np.arange(k), k), r))),
                "label": cats.take(pa.array(np.tile(np.arange(k), r * k))),
                "count": pa.array(counts.ravel()),
                "probability": pa.array((alpha / total).ravel()),
                "low": pa.array(beta_dist.ppf(tail, alpha, total - alpha).ravel()),
                "high": pa.array(beta_dist.ppf(1 - tail, alpha, total - alpha).ravel()),
            }
        )
        parts.append(pa.table(cols))
    return pa.concat_tables(parts)
