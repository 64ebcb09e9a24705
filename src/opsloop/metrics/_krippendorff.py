"""Krippendorff's α from item count patterns (coincidence matrix), with bootstrap.

Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", and
Krippendorff (2004), *Content Analysis*, ch. 11. Only items with two or more
ratings (pairable units) enter. With ``n_ik`` the item counts and ``r_i`` their
sum, the coincidence matrix and its margins are::

    o_ck = Σ_i n_ic (n_ik − [c = k]) / (r_i − 1),   n_c = Σ_k o_ck,   n = Σ_c n_c
    α    = 1 − (n − 1) Σ_ck o_ck δ²_ck / Σ_ck n_c n_k δ²_ck

with δ² nominal ``[c ≠ k]``, interval ``(v_c − v_k)²``, ratio
``((v_c − v_k)/(v_c + v_k))²`` and ordinal ``(Σ_{g=c..k} n_g − (n_c + n_k)/2)²``
(categories in scale order). The dense rater × item matrix is never built.
"""

from __future__ import annotations

import math

import numpy as np

from opsloop.metrics._kernel import Estimate, ItemCounts, nan_estimate
from opsloop.stats._bootstrap import multinomial_weights, percentile_interval

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _pattern_coincidences(ic: ItemCounts) -> tuple[np.ndarray, np.ndarray]:
    """Per-pattern coincidence matrices (P×q×q) of the pairable patterns, and their weights."""
    c = ic.rows
    r = c.sum(axis=1)
    keep = r >= 2
    c, r, mult = c[keep], r[keep], ic.mult[keep]
    o = c[:, :, None] * c[:, None, :]
    idx = np.arange(c.shape[1])
    o[:, idx, idx] -= c
    return o / (r - 1)[:, None, None], mult


def delta2(level: str, marginals: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """The q×q squared difference function of ``level`` (see module docstring).

    ``marginals`` (the coincidence margins ``n_c``) are used by the ordinal
    metric; ``values`` (numeric category values) by interval and ratio.
    """
    q = len(marginals)
    if level == "nominal":
        return 1.0 - np.eye(q)
    if level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(marginals)])
        lo = np.minimum.outer(np.arange(q), np.arange(q))
        hi = np.maximum.outer(np.arange(q), np.arange(q))
        between = cum[hi + 1] - cum[lo]
        return np.asarray((between - (marginals[:, None] + marginals[None, :]) / 2) ** 2)
    if values is None:
        raise ValueError("numeric values needed")
    diff = values[:, None] - values[None, :]
    if level == "interval":
        return np.asarray(diff**2)
    total = values[:, None] + values[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total == 0, 0.0, (diff / np.where(total == 0, 1.0, total)) ** 2)
    return np.asarray(out)


def _alpha_from_o(o: np.ndarray, level: str, values: np.ndarray | None) -> float:
    nc = o.sum(axis=1)
    n = float(nc.sum())
    d2 = delta2(level, nc, values)
    expected = float(nc @ d2 @ nc)
    if expected <= 0:
        return math.nan
    return 1.0 - (n - 1) * float((o * d2).sum()) / expected


def _alphas_from_o(o: np.ndarray, level: str, values: np.ndarray | None) -> np.ndarray:
    """:func:`_alpha_from_o` of each of ``B`` coincidence matrices (``B×q×q``) at once."""
    nc = o.sum(axis=2)
    n = nc.sum(axis=1)
    q = nc.shape[1]
    if level == "ordinal":
        cum = np.concatenate([np.zeros((len(nc), 1)), np.cumsum(nc, axis=1)], axis=1)
        lo = np.minimum.outer(np.arange(q), np.arange(q))
        hi = np.maximum.outer(np.arange(q), np.arange(q))
        between = cum[:, hi + 1] - cum[:, lo]
        d2 = (between - (nc[:, :, None] + nc[:, None, :]) / 2) ** 2
    else:
        d2 = np.broadcast_to(delta2(level, nc[0] if len(nc) else np.zeros(q), values), o.shape)
    expected = np.einsum("bi,bij,bj->b", nc, d2, nc)
    observed = (o * d2).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(expected > 0, 1.0 - (n - 1) * observed / expected, np.nan)
    return out


def krippendorff_alpha(
    ic: ItemCounts,
    level: str = "nominal",
    values: np.ndarray | None = None,
    *,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Krippendorff's α for ``level`` with an item-level bootstrap interval.

    The bootstrap resamples items with replacement (seeded); since items with
    equal count vectors are exchangeable, each replicate is a multinomial draw
    over the count patterns, which costs O(patterns) rather than O(items).
    ``se`` is the bootstrap standard deviation.

    >>> from opsloop.metrics._kernel import compress
    >>> ic = compress(np.array([[2, 0], [2, 0], [0, 2], [1, 1]]))
    >>> round(krippendorff_alpha(ic, n_boot=0).value, 4)
    0.5333
    """
    if level not in LEVELS:
        raise ValueError(level)
    o_p, mult = _pattern_coincidences(ic)
    n_pair = int(mult.sum())
    if n_pair == 0:
        return nan_estimate("no item has two or more ratings")
    o = np.tensordot(mult, o_p, axes=1)
    value = _alpha_from_o(o, level, values)
    if math.isnan(value):
        return Estimate(math.nan, n_items=n_pair,
                        note="all pairable ratings are in one category: α is undefined")
    if n_boot <= 0 or n_pair < 2:
        return Estimate(value, n_items=n_pair)
    weights = multinomial_weights(mult, n_boot, seed)
    o_b = np.tensordot(weights, o_p, axes=1)  # B×q×q
    boot = _alphas_from_o(o_b, level, values)
    boot = boot[np.isfinite(boot)]
    lo, hi = percentile_interval(boot, confidence)
    se = float(boot.std(ddof=1)) if len(boot) > 1 else math.nan
    return Estimate(value, se, lo, hi, n_items=n_pair)
