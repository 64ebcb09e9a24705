"""Batched numeric pieces of intra-rater reliability: κ and α over many tables at once.

Every function here takes arrays with any leading shape (raters, bootstrap
replicates × raters, …) and reduces only the trailing category axes, so one
call evaluates a coefficient for thousands of raters and replicates.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from opsloop.metrics._krippendorff import delta2

#: Bootstrap blocks hold about this many float64 values (≈ 32 MB).
_BLOCK_BUDGET = 4_000_000


def kappa_features(first: np.ndarray, second: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-unit sums behind Cohen's κ: ``[w(first, second), e_first, e_second]`` (2q + 1).

    Summed over units they give ``n·Po`` and the first and second label
    margins; :func:`kappa_from_sums` turns them into κ.
    """
    q = w.shape[0]
    eye = np.eye(q)
    return np.column_stack([w[first, second], eye[first], eye[second]])


def kappa_from_sums(sums: np.ndarray, w: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cohen's κ, ``Po`` and ``Pe`` from summed :func:`kappa_features` ``[..., 2q + 1]``.

    With ``p_kl`` the share of units labelled k first and l second and
    agreement weights ``w`` (identity for the unweighted κ; Cohen, 1960, 1968)::

        Po = Σ_kl w_kl p_kl,   Pe = Σ_kl w_kl p_k· p_·l,   κ = (Po − Pe) / (1 − Pe)

    κ is NaN where ``Pe = 1`` (one category throughout).

    >>> f = kappa_features(np.array([1, 0, 1]), np.array([1, 0, 0]), np.eye(2))
    >>> [round(float(x), 4) for x in kappa_from_sums(f.sum(axis=0), np.eye(2))]
    [0.4, 0.6667, 0.4444]
    """
    q = w.shape[0]
    n = sums[..., 1:q + 1].sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        po = sums[..., 0] / n
        rows, cols = sums[..., 1:q + 1] / n[..., None], sums[..., q + 1:] / n[..., None]
        pe = ((rows @ w) * cols).sum(axis=-1)
        kappa = np.where(1 - pe > 1e-12, (po - pe) / (1 - pe), math.nan)
    return np.asarray(kappa), np.asarray(po), np.asarray(pe)


def alpha_features(counts: np.ndarray, level: str, values: np.ndarray | None) -> np.ndarray:
    """Per-unit sums behind Krippendorff's α, from unit count vectors ``counts`` (J×q).

    A unit with ``m`` values and counts ``n`` adds the coincidences
    ``o = (n nᵀ − diag n) / (m − 1)``, whose margins are ``n`` itself. The
    ordinal δ² depends on the pooled margins, so ordinal keeps all of ``o``
    (q²); every other level keeps ``[Σ_ck o_ck δ²_ck, n]`` (q + 1).
    """
    q = counts.shape[1]
    c = counts.astype(np.float64)
    o = c[:, :, None] * c[:, None, :]
    o[:, np.arange(q), np.arange(q)] -= c
    o /= (c.sum(axis=1) - 1)[:, None, None]
    if level == "ordinal":
        return np.asarray(o.reshape(len(c), q * q))
    d2 = delta2(level, np.zeros(q), values)
    return np.column_stack([(o * d2).sum(axis=(1, 2)), c])


def alpha_from_sums(sums: np.ndarray, level: str, values: np.ndarray | None) -> np.ndarray:
    """Krippendorff's α from summed :func:`alpha_features` ``[..., F]``.

    ``α = 1 − (n − 1) Σ_ck o_ck δ²_ck / Σ_ck n_c n_k δ²_ck`` (Krippendorff, 2011),
    δ² as in :func:`opsloop.metrics._krippendorff.delta2`. The ordinal δ²
    follows each total's own margins ``n_c``: it is the squared distance of
    their midranks ``x_c = Σ_{g<c} n_g + n_c/2``, so
    ``Σ o δ² = 2 Σ_c n_c x_c² − 2 xᵀ o x`` and
    ``Σ n_c n_k δ² = 2 n Σ_c n_c x_c² − 2 (Σ_c n_c x_c)²``. NaN where the
    expected disagreement is 0 (every value in one category).

    >>> f = alpha_features(np.array([[2, 0], [0, 2], [1, 1]]), "nominal", None)
    >>> round(float(alpha_from_sums(f.sum(axis=0), "nominal", None)), 4)
    0.4444
    """
    if level == "ordinal":
        # δ²_ck = (x_c − x_k)² with midranks x_c = Σ_{g<c} n_g + n_c/2 of the margins
        q = math.isqrt(sums.shape[-1])
        o = sums.reshape(*sums.shape[:-1], q, q)
        nc = o.sum(axis=-1)
        x = np.cumsum(nc, axis=-1) - nc / 2
        spread = (nc * x**2).sum(axis=-1)
        observed = 2 * spread - 2 * ((o * x[..., None, :]).sum(axis=-1) * x).sum(axis=-1)
        scale = 2 * nc.sum(axis=-1) * spread
        expected = scale - 2 * (nc * x).sum(axis=-1) ** 2
        # one category: the difference cancels to rounding error, not exactly 0
        undefined = expected <= 1e-12 * np.maximum(scale, 1.0)
    else:
        nc = sums[..., 1:]
        observed = sums[..., 0]
        d2 = delta2(level, np.zeros(nc.shape[-1]), values)
        expected = ((nc @ d2) * nc).sum(axis=-1)
        undefined = expected <= 1e-12
    n = nc.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(undefined, math.nan, 1 - (n - 1) * observed / expected)
    return np.asarray(alpha)


@dataclass(frozen=True)
class Interval:
    """Per-row bootstrap percentile interval and standard error (NaN where none)."""

    ci_low: np.ndarray
    ci_high: np.ndarray
    se: np.ndarray


def _draw_units(rng: np.random.Generator, counts: np.ndarray, n_boot: int) -> np.ndarray:
    """Class counts of ``n_boot`` resamples of each row's units, unit by unit.

    ``counts`` (b×k) holds each row's units per class; returns (n_boot, b, k).
    """
    b, k = counts.shape
    flat = counts.reshape(-1)
    sizes = counts.sum(axis=1)
    unit_class = np.repeat(np.tile(np.arange(k), b), flat)
    unit_row = np.repeat(np.arange(b), sizes)
    row_start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    unit_size = np.repeat(sizes, sizes)
    picks = (rng.random((n_boot, len(unit_row))) * unit_size).astype(np.int64)
    np.minimum(picks, unit_size - 1, out=picks)
    picks += row_start
    drawn = unit_class[picks]
    drawn += unit_row * k
    drawn += (np.arange(n_boot) * (b * k))[:, None]
    return np.bincount(drawn.reshape(-1), minlength=n_boot * b * k).reshape(n_boot, b, k)


def _draw_multinomial(rng: np.random.Generator, counts: np.ndarray, n_boot: int) -> np.ndarray:
    """The same resamples as :func:`_draw_units`, one Multinomial(n, counts/n) per row.

    Cheaper for rows with many units in few classes. Used classes must come
    last in a row: numpy gives the last class the remainder, so rounding in
    the shares never pushes a binomial probability past 1.
    """
    sizes = counts.sum(axis=1)
    probs = counts / sizes[:, None]
    return rng.multinomial(sizes.astype(np.int64), probs, size=(n_boot, len(counts)))


def _blocks(order: np.ndarray, cost: np.ndarray) -> list[np.ndarray]:
    """Consecutive runs of ``order`` whose summed ``cost`` stays near the block budget."""
    if len(order) == 0:
        return []
    block_of = np.cumsum(cost[order]) // _BLOCK_BUDGET
    cuts = np.flatnonzero(np.diff(block_of)) + 1
    return np.split(order, cuts)


def bootstrap_by_row(
    mult: np.ndarray,
    bases: Sequence[np.ndarray],
    statistics: Sequence[Callable[[np.ndarray], np.ndarray]],
    *,
    n_boot: int,
    seed: int,
    confidence: float,
) -> list[Interval]:
    """Percentile intervals of statistics, one per row of ``mult``, from shared resamples.

    Row g of ``mult`` (G×K) counts the units of rater g in each of K classes
    of exchangeable units. Class j adds ``bases[s][j]`` (a vector of sums,
    e.g. a flattened contingency or coincidence matrix) to the totals of
    statistic s, which ``statistics[s]`` maps (``[..., F] → [...]``) to values.
    Each replicate resamples a rater's ``n_g`` units with replacement (Efron &
    Tibshirani, 1993); every statistic is computed on the same replicates.
    Replicates of many raters come from one vectorised draw per block of
    raters, never a loop over raters × replicates: unit by unit for small
    raters, as a multinomial over used classes when ``n_g`` is much larger
    than the number of classes used (the pool).

    Raters with equal rows share their replicates: the draws follow the
    sorted distinct rows, so results do not depend on rater names or on the
    order of rows in the input. Rows with fewer than two units get NaN.
    """
    g = mult.shape[0]
    out = [Interval(*(np.full(g, math.nan) for _ in range(3))) for _ in statistics]
    if g == 0 or n_boot <= 0:
        return out
    rows, inverse = np.unique(mult, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    sizes, support = rows.sum(axis=1), (rows > 0).sum(axis=1)
    by_units = sizes <= 8 * support
    width = support + max(b.shape[1] for b in bases)
    cost = n_boot * (width + np.where(by_units, 3 * sizes, 0))
    found = [np.full((3, len(rows)), math.nan) for _ in statistics]
    tail = (1 - confidence) / 2
    rng = np.random.default_rng(seed)
    for use_units in (True, False):
        group = np.flatnonzero((sizes >= 2) & (by_units == use_units))
        group = group[np.argsort(support[group], kind="stable")]
        for part in _blocks(group, cost):
            counts, cols = _used_classes(rows[part])
            draw = _draw_units if use_units else _draw_multinomial
            drawn = draw(rng, counts, n_boot).astype(np.float64).transpose(1, 0, 2)
            for basis, statistic, into in zip(bases, statistics, found, strict=True):
                reps = statistic(np.matmul(drawn, basis[cols]).transpose(1, 0, 2))
                into[:2, part] = _percentiles(reps, (tail, 1 - tail))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN stays NaN
                    into[2, part] = np.nanstd(reps, axis=0, ddof=1)
    return [Interval(f[0][inverse], f[1][inverse], f[2][inverse]) for f in found]


def _used_classes(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's non-zero counts and their columns, right-aligned in a b×k array.

    Padding on the left has count 0 (column 0): it adds nothing to any total.
    """
    r, c = np.nonzero(rows)
    support = np.bincount(r, minlength=len(rows))
    k = int(support.max())
    pos = np.arange(len(r)) - np.repeat(np.cumsum(support) - support, support)
    pos += (k - support)[r]
    counts = np.zeros((len(rows), k), dtype=rows.dtype)
    cols = np.zeros((len(rows), k), dtype=np.int64)
    counts[r, pos] = rows[r, c]
    cols[r, pos] = c
    return counts, cols


def _percentiles(reps: np.ndarray, probs: tuple[float, float]) -> np.ndarray:
    """Percentiles of each column of ``reps`` over its finite values (linear, as numpy).

    One sort for all columns, where ``np.nanquantile`` would loop over them;
    NaN for a column without finite values.
    """
    ordered = np.sort(np.where(np.isfinite(reps), reps, np.inf), axis=0)
    n = np.isfinite(reps).sum(axis=0)
    cols = np.arange(reps.shape[1])
    out = np.full((len(probs), reps.shape[1]), math.nan)
    ok = n > 0
    for i, p in enumerate(probs):
        pos = p * (np.maximum(n, 1) - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n, 1) - 1)
        frac = pos - lo
        low, high = ordered[lo, cols], ordered[hi, cols]
        with np.errstate(invalid="ignore"):  # inf − inf in columns without finite values
            value = low + frac * (np.where(hi == lo, low, high) - low)
        out[i, ok] = value[ok]
    return out
