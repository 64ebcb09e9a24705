"""Shared numeric pieces: item×category counts, count patterns, weights, intervals.

Every count-based coefficient is a sum over items of a function of the item's
category counts ``n_ik``. Items with equal count vectors contribute equally, so
the counts are compressed to distinct *patterns* with multiplicities; with three
labels and five classes a million items collapse to 35 rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from opsloop.errors import UsageError

WEIGHTS = ("identity", "linear", "quadratic", "ordinal", "ratio")


@dataclass(frozen=True)
class Estimate:
    """A coefficient with its standard error, interval, Pa, Pe and sample sizes."""

    value: float
    se: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    pa: float = math.nan
    pe: float = math.nan
    n_items: int = 0
    note: str | None = None


def nan_estimate(note: str, n_items: int = 0) -> Estimate:
    return Estimate(math.nan, n_items=n_items, note=note)


@dataclass(frozen=True)
class ItemCounts:
    """Distinct item count vectors (``rows``, P×q) and how many items have each."""

    rows: np.ndarray
    mult: np.ndarray

    @property
    def n_items(self) -> int:
        return int(self.mult.sum())

    @property
    def r(self) -> np.ndarray:
        return np.asarray(self.rows.sum(axis=1))

    @property
    def n_pairable(self) -> int:
        return int(self.mult[self.r >= 2].sum())


def count_matrix(items: np.ndarray, labels: np.ndarray, n_items: int, q: int) -> np.ndarray:
    """``C[i, k]`` = number of ratings of item ``i`` in category ``k`` (int64)."""
    flat = np.bincount(items * q + labels, minlength=n_items * q)
    return flat.reshape(n_items, q)


def compress(counts: np.ndarray) -> ItemCounts:
    """Group the rows of an item×category count matrix into distinct patterns.

    >>> ic = compress(np.array([[2, 0], [0, 2], [2, 0]]))
    >>> ic.rows.tolist(), ic.mult.tolist()
    ([[2.0, 0.0], [0.0, 2.0]], [2.0, 1.0])
    """
    counts = counts[counts.sum(axis=1) > 0]
    if counts.shape[0] == 0:
        return ItemCounts(np.zeros((0, counts.shape[1])), np.zeros(0))
    q = counts.shape[1]
    base = int(counts.max()) + 1
    if q * math.log2(base) < 62:
        key = counts.astype(np.int64) @ (base ** np.arange(q, dtype=np.int64))
        _uniq, first, mult = np.unique(key, return_index=True, return_counts=True)
        rows = counts[first]
    else:
        rows, mult = np.unique(counts, axis=0, return_counts=True)
    return ItemCounts(rows.astype(np.float64), mult.astype(np.float64))


def scores(categories: tuple[str, ...], numeric: bool) -> np.ndarray:
    """Category scores for distance weights: values if ``numeric`` else ranks 1..q."""
    if not numeric:
        return np.arange(1, len(categories) + 1, dtype=np.float64)
    return numeric_values(categories)


def numeric_values(categories: tuple[str, ...]) -> np.ndarray:
    out = np.empty(len(categories))
    for i, c in enumerate(categories):
        try:
            out[i] = float(c)
        except ValueError:
            raise UsageError(
                f"label {c!r} is not a number: interval and ratio levels need numeric labels"
            ) from None
    if not np.isfinite(out).all():
        raise UsageError("interval and ratio levels need finite numeric labels")
    return out


def weight_matrix(kind: str, x: np.ndarray) -> np.ndarray:
    """Agreement weights ``w_kl`` in [0, 1] over category scores ``x`` (Gwet 2014, ch. 3).

    identity ``[k = l]``; linear ``1 − |x_k − x_l| / (max − min)``; quadratic
    ``1 − (x_k − x_l)² / (max − min)²``; ordinal ``1 − M_kl / max M`` with
    ``M_kl = C(|k − l| + 1, 2)`` on ranks; ratio
    ``1 − ((x_k − x_l)/(x_k + x_l))² / ((max − min)/(max + min))²``.

    >>> weight_matrix("linear", np.array([1.0, 2.0, 3.0]))[0].tolist()
    [1.0, 0.5, 0.0]
    """
    q = len(x)
    if kind == "identity" or q < 2:
        return np.eye(q)
    span = float(x.max() - x.min())
    if kind == "linear":
        return np.asarray(1 - np.abs(x[:, None] - x[None, :]) / span)
    if kind == "quadratic":
        return np.asarray(1 - (x[:, None] - x[None, :]) ** 2 / span**2)
    if kind == "ordinal":
        k = np.arange(q)
        d = np.abs(k[:, None] - k[None, :]) + 1
        m = d * (d - 1) / 2
        return np.asarray(1 - m / m.max())
    if kind == "ratio":
        if (x <= 0).any():
            raise UsageError("ratio weights need positive numeric labels")
        num = ((x[:, None] - x[None, :]) / (x[:, None] + x[None, :])) ** 2
        return np.asarray(1 - num / (span / float(x.max() + x.min())) ** 2)
    raise UsageError(f"unknown weights {kind!r} (choose from {', '.join(WEIGHTS)})")


def t_interval(value: float, se: float, n: int, confidence: float) -> tuple[float, float]:
    """``value ± t_{n−1} · se``, upper end capped at 1 (as in Gwet's irrCAC)."""
    if n < 2 or not math.isfinite(se):
        return (math.nan, math.nan)
    from scipy.special import stdtrit  # Student's t quantile; scipy.stats imports slowly

    half = float(stdtrit(n - 1, 1 - (1 - confidence) / 2)) * se
    return (value - half, min(1.0, value + half))
