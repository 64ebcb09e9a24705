"""Shared numeric pieces: item×category counts, count patterns, weights, intervals.

Every count-based coefficient is a sum over items of a function of the item's
category counts ``n_ik``. Items with equal count vectors contribute equally, so
the counts are compressed to distinct *patterns* with multiplicities; with three
labels and five classes a million items collapse to 35 rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

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

    Patterns are sorted by the number their counts spell in base ``max + 1``
    (the last category most significant), or lexicographically when that
    number would not fit in 62 bits.

    >>> ic = compress(np.array([[2, 0], [0, 2], [2, 0]]))
    >>> ic.rows.tolist(), ic.mult.tolist()
    ([[2.0, 0.0], [0.0, 2.0]], [2.0, 1.0])
    """
    rated = counts.sum(axis=1) > 0
    if not rated.all():
        counts = counts[rated]
    if counts.shape[0] == 0:
        return ItemCounts(np.zeros((0, counts.shape[1])), np.zeros(0))
    q = counts.shape[1]
    base = int(counts.max()) + 1
    if q * math.log2(base) >= 62:
        rows, mult = np.unique(counts, axis=0, return_counts=True)
        return ItemCounts(rows.astype(np.float64), mult.astype(np.float64))
    powers = base ** np.arange(q, dtype=np.int64)
    key = np.zeros(counts.shape[0], dtype=np.int64)
    for k in range(q):
        key += counts[:, k].astype(np.int64) * powers[k]
    return _patterns(key, powers, base)


def item_patterns(
    items: np.ndarray, labels: np.ndarray, n_items: int, q: int
) -> tuple[ItemCounts, np.ndarray]:
    """``compress(count_matrix(items, labels, n_items, q))`` and each item's ratings ``r_i``,
    straight from the codes: no n_items × q matrix.

    With ``b`` above every ``r_i``, item i's pattern number ``Σ_k n_ik b^k`` is the
    sum over its ratings of ``b^label`` (one weighted bincount, exact in float64
    below 2⁵²); the patterns come out in :func:`compress`'s order.

    >>> ic, r = item_patterns(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 0, 1, 1, 0, 0]), 3, 2)
    >>> ic.rows.tolist(), ic.mult.tolist(), r.tolist()
    ([[2.0, 0.0], [0.0, 2.0]], [2.0, 1.0], [2, 2, 2])
    """
    r = np.bincount(items, minlength=n_items)
    base = int(r.max()) + 1 if len(r) else 1
    if len(r) == 0 or q * math.log2(base) >= 52:
        return compress(count_matrix(items, labels, n_items, q)), r
    powers = base ** np.arange(q, dtype=np.int64)
    spelled = np.bincount(items, weights=powers.astype(np.float64)[labels], minlength=n_items)
    key = spelled.astype(np.int64)
    if not r.all():
        key = key[r > 0]
    if len(key) == 0:
        return ItemCounts(np.zeros((0, q)), np.zeros(0)), r
    return _patterns(key, powers, base), r


def _patterns(key: np.ndarray, powers: np.ndarray, base: int) -> ItemCounts:
    """The distinct pattern numbers ``key`` (base ``base``), sorted, as count rows."""
    size = int(powers[-1]) * base
    if size <= max(4 * len(key), 1 << 16):  # few possible patterns: count them
        tally = np.bincount(key, minlength=size)
        keys = np.flatnonzero(tally)
        mult = tally[keys]
    else:
        keys, mult = np.unique(key, return_counts=True)
    rows = keys[:, None] // powers % base
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
    half = t_quantile(n - 1, 1 - (1 - confidence) / 2) * se
    return (value - half, min(1.0, value + half))


_EXPANSION_DF = 10_000


def t_quantile(df: int, p: float) -> float:
    """Student's t quantile ``t_{df}(p)``.

    From ``df = 10⁴`` on, by the Cornish–Fisher expansion in ``1/df`` about the
    normal quantile ``z = Φ⁻¹(p)`` (Abramowitz & Stegun 1964, 26.7.5; Fisher &
    Cornish 1960)::

        t = z + g₁/ν + g₂/ν² + g₃/ν³ + g₄/ν⁴
        g₁ = (z³ + z)/4,  g₂ = (5z⁵ + 16z³ + 3z)/96,  g₃ = (3z⁷ + 19z⁵ + 17z³ − 15z)/384
        g₄ = (79z⁹ + 776z⁷ + 1482z⁵ − 1920z³ − 945z)/92160

    whose next term is below 10⁻¹⁶ of t there (for p up to 1 − 10⁻⁶), so it equals
    SciPy's ``stdtrit`` to rounding (a few units in the last place) without
    loading SciPy (a fifth of a second). Below, SciPy's ``stdtrit``.

    >>> round(t_quantile(999_999, 0.975), 10), round(t_quantile(10, 0.975), 6)
    (1.9599663568, 2.228139)
    """
    if df < _EXPANSION_DF:
        from scipy.special import stdtrit  # scipy.stats imports slowly

        return float(stdtrit(df, p))
    z = NormalDist().inv_cdf(p)
    z2 = z * z
    g1 = z * (z2 + 1) / 4
    g2 = z * ((5 * z2 + 16) * z2 + 3) / 96
    g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384
    g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
