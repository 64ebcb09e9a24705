"""Seeded bootstrap helpers (Efron & Tibshirani, 1993, *An Introduction to the Bootstrap*)."""

from __future__ import annotations

import math

import numpy as np


def multinomial_weights(multiplicity: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap resampling weights for units grouped into exchangeable classes.

    Resampling ``n = Σ m_p`` units with replacement, where class ``p`` holds
    ``m_p`` identical units, draws class counts from Multinomial(n, m / n).
    Returns a ``n_boot × len(multiplicity)`` float array; row b gives how many
    units of each class replicate b holds. Deterministic for a given ``seed``.

    >>> w = multinomial_weights(np.array([2.0, 3.0]), 4, seed=0)
    >>> w.shape, w.sum(axis=1).tolist()
    ((4, 2), [5.0, 5.0, 5.0, 5.0])
    """
    m = np.asarray(multiplicity, dtype=np.float64)
    n = int(np.rint(m.sum()))
    rng = np.random.default_rng(seed)
    if n == 0 or len(m) == 0:
        return np.zeros((n_boot, len(m)))
    return rng.multinomial(n, m / m.sum(), size=n_boot).astype(np.float64)


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The equal-tailed percentile interval of bootstrap replicates (NaN if none).

    >>> [round(x, 6) for x in percentile_interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if len(reps) == 0:
        return (math.nan, math.nan)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(reps, [tail, 1 - tail])
    return (float(lo), float(hi))
