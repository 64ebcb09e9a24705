"""Model metrics on the evaluation items, their bootstrap intervals and paired comparisons.

Every metric comes from the confusion counts ``C[t, p]`` (true category ``t``,
predicted ``p``) over the evaluation items:

* accuracy ``= Σ_t C[t, t] / Σ C``;
* macro-F1 ``= mean_k 2·TP_k / (2·TP_k + FP_k + FN_k)`` over the categories that are
  true or predicted at least once (as scikit-learn's ``f1_score(average="macro")``);
* recall of category ``k`` ``= C[k, k] / Σ_p C[k, p]`` (NaN when no item is ``k``);
* violating recall ``= Σ_{k∈V} C[k, k] / Σ_{k∈V} Σ_p C[k, p]`` over the violating
  categories ``V``: the share of violating items given their own label.

**Intervals**: the percentile bootstrap over evaluation items (Efron & Tibshirani,
1993, ch. 13): ``n_boot`` resamples of the items with replacement, drawn once
(:func:`opsloop.stats.multinomial_weights`, seeded) and shared by every policy and
seed, so that each replicate's confusion counts are ``W_b @ onehot(t·K + p)``. A
policy's estimate is its metric averaged over the experiment's seeds; its interval
the 2.5th and 97.5th percentiles of that average over the replicates
(:func:`opsloop.stats.percentile_interval`). **Paired differences** against the
baseline take the difference replicate by replicate (the same resampled items for
both), which removes the variation the two share.

**McNemar** (1947): on the first seed's predictions, ``b`` items the baseline
classifies correctly and the policy not, ``c`` the reverse; exact conditional and
mid-p p-values (:func:`opsloop.stats.mcnemar_exact`), Benjamini–Hochberg q-values
across the policies compared.

>>> c = confusion(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
>>> m = confusion_metrics(c[None], (1,))
>>> float(m["accuracy"][0]), round(float(m["macro_f1"][0]), 4), float(m["recall"][0, 0])
(0.75, 0.7333, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from opsloop.stats import multinomial_weights

#: bootstrap replicates drawn at a time (bounds the weight matrix to block × items)
BOOT_BLOCK = 100


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """``k × k`` counts, rows the true category, columns the predicted one."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(np.float64)


def confusion_metrics(counts: np.ndarray, labels: Sequence[int]) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1, violating recall and the recall of each of ``labels`` (the
    violating categories) from ``(..., K, K)`` counts.

    Returns arrays of shape ``...`` (``recall``: ``... × len(labels)``).
    """
    diag = np.diagonal(counts, axis1=-2, axis2=-1)
    total = counts.sum(axis=(-2, -1))
    true_n = counts.sum(axis=-1)
    pred_n = counts.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = diag.sum(axis=-1) / total
        denom = true_n + pred_n  # 2·TP + FP + FN
        f1 = np.where(denom > 0, 2 * diag / denom, np.nan)
        present = denom > 0
        macro = np.nansum(f1, axis=-1) / present.sum(axis=-1)
        idx = list(labels)
        recall = diag[..., idx] / true_n[..., idx]
        pooled = diag[..., idx].sum(axis=-1) / true_n[..., idx].sum(axis=-1)
    return {"accuracy": accuracy, "macro_f1": macro, "violating_recall": pooled, "recall": recall}


def boot_confusions(y: np.ndarray, preds: np.ndarray, k: int, n_boot: int, seed: int) -> np.ndarray:
    """Confusion counts of every prediction row under each bootstrap replicate.

    ``preds`` is ``S × n`` (one row per policy and seed, same items ``y``); returns
    ``n_boot × S × k × k``. Replicates are drawn :data:`BOOT_BLOCK` at a time, block
    ``j`` with seed ``(seed, j)``, so the result depends on ``seed`` only.
    """
    import scipy.sparse as sp

    n = len(y)
    s = preds.shape[0]
    cells = (y[None, :] * k + preds) + (np.arange(s) * k * k)[:, None]
    onehot = sp.csr_matrix(
        (np.ones(s * n), (cells.ravel(), np.tile(np.arange(n), s))), shape=(s * k * k, n)
    )
    out = np.empty((n_boot, s, k, k))
    for j, start in enumerate(range(0, n_boot, BOOT_BLOCK)):
        size = min(BOOT_BLOCK, n_boot - start)
        block_seed = int(np.random.SeedSequence([seed, j]).generate_state(1)[0])
        weights = multinomial_weights(np.ones(n), size, block_seed)
        out[start : start + size] = np.asarray(onehot @ weights.T).T.reshape(size, s, k, k)
    return out


def boot_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap replicates of the row means of ``values`` (``m × n``, resampling the ``n``
    columns together): ``n_boot × m``, drawn :data:`BOOT_BLOCK` at a time as
    :func:`boot_confusions` draws them."""
    n = values.shape[1]
    out = np.empty((n_boot, values.shape[0]))
    for j, start in enumerate(range(0, n_boot, BOOT_BLOCK)):
        size = min(BOOT_BLOCK, n_boot - start)
        block_seed = int(np.random.SeedSequence([seed, j]).generate_state(1)[0])
        weights = multinomial_weights(np.ones(n), size, block_seed)
        out[start : start + size] = weights @ values.T / max(n, 1)
    return out
