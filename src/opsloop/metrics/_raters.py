"""Where the disagreement is: per label, per rater, per rater pair."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.metrics._kernel import ItemCounts
from opsloop.stats._bootstrap import multinomial_weights, percentile_interval
from opsloop.stats._proportion import wilson_interval


@dataclass(frozen=True)
class LabelStat:
    category: str
    value: float
    ci_low: float
    ci_high: float
    se: float


def _label_sums(c: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Specific agreement and category κ for weight rows ``weights`` (B×P) → two B×q arrays."""
    r = c.sum(axis=1)[:, None]
    spec_num = weights @ (c * (c - 1))
    spec_den = weights @ (c * (r - 1))
    x = weights @ (c * (r - c) / (r - 1))
    tot_r = weights @ r[:, 0]
    p = (weights @ c) / tot_r[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        specific = spec_num / spec_den
        kappa = 1 - x / (tot_r[:, None] * p * (1 - p))
    return specific, kappa


def label_agreement(
    ic: ItemCounts,
    categories: tuple[str, ...],
    *,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[list[LabelStat], list[LabelStat]]:
    """Per-category specific agreement and per-category κ, with bootstrap intervals.

    Over items with ``r_i ≥ 2`` ratings (Fleiss, 1971; Uebersax, 1982)::

        specific agreement  p_s(k) = Σ_i n_ik (n_ik − 1) / Σ_i n_ik (r_i − 1)
        category κ          κ_k   = 1 − Σ_i n_ik (r_i − n_ik)/(r_i − 1) / (Σ_i r_i · p_k (1 − p_k))

    with ``p_k = Σ_i n_ik / Σ_i r_i``. For two raters ``p_s`` is the positive
    (or negative) specific agreement 2a / (2a + b + c). ``p_s(k)`` is the chance
    that, given one rater said k, another rater of the same item also said k.
    """
    keep = ic.r >= 2
    c = ic.rows[keep]
    mult = ic.mult[keep]
    q = len(categories)
    if c.shape[0] == 0:
        nan = [LabelStat(k, math.nan, math.nan, math.nan, math.nan) for k in categories]
        return nan, nan
    spec, kap = _label_sums(c, mult[None, :])
    if n_boot > 0:
        wb = multinomial_weights(mult, n_boot, seed)
        spec_b, kap_b = _label_sums(c, wb)
    else:
        spec_b = kap_b = np.full((0, q), math.nan)
    out: tuple[list[LabelStat], list[LabelStat]] = ([], [])
    for j, (point, boot) in enumerate(((spec, spec_b), (kap, kap_b))):
        for k in range(q):
            lo, hi = percentile_interval(boot[:, k], confidence)
            reps = boot[:, k][np.isfinite(boot[:, k])]
            se = float(reps.std(ddof=1)) if len(reps) > 1 else math.nan
            out[j].append(LabelStat(categories[k], float(point[0, k]), lo, hi, se))
    return out


@dataclass(frozen=True)
class RaterStat:
    rater: str
    value: float
    ci_low: float
    ci_high: float
    n_items: int


def rater_agreement(
    counts: np.ndarray,
    items: np.ndarray,
    raters: np.ndarray,
    labels: np.ndarray,
    rater_names: tuple[str, ...],
    *,
    confidence: float = 0.95,
    chunk: int = 1_000_000,
) -> tuple[list[RaterStat], list[RaterStat]]:
    """Each rater's agreement with peers and with the leave-one-out consensus.

    *Peer agreement* of rater g: over the items g rated that have another
    rating, the share of (g, other rater) pairs that agree,
    ``Σ_i (n_i,c_ig − 1) / Σ_i (r_i − 1)``. *Consensus agreement*: the share of
    g's ratings equal to the majority label of the **other** raters of the item
    (items where the others tie, or where g is the only rater, are skipped).
    Intervals are Wilson (1927) intervals with the number of items as n.
    """
    n_r = len(rater_names)
    r = counts.sum(axis=1)
    own = counts[items, labels]
    ri = r[items]
    has_peer = ri >= 2
    peer_num = np.bincount(raters, weights=np.where(has_peer, own - 1, 0), minlength=n_r)
    peer_den = np.bincount(raters, weights=np.where(has_peer, ri - 1, 0), minlength=n_r)
    peer_items = np.bincount(raters, weights=has_peer, minlength=n_r)
    agree = np.zeros(n_r)
    valid = np.zeros(n_r)
    q = counts.shape[1]
    for start in range(0, len(items), chunk):
        sl = slice(start, start + chunk)
        rows = counts[items[sl]].astype(np.int32)
        idx = np.arange(rows.shape[0])
        rows[idx, labels[sl]] -= 1
        top = rows.max(axis=1)
        n_top = (rows == top[:, None]).sum(axis=1) if q else np.zeros(0)
        ok = (top > 0) & (n_top == 1)
        hit = ok & (rows[idx, labels[sl]] == top)
        agree += np.bincount(raters[sl], weights=hit, minlength=n_r)
        valid += np.bincount(raters[sl], weights=ok, minlength=n_r)
    peers: list[RaterStat] = []
    consensus: list[RaterStat] = []
    for g, name in enumerate(rater_names):
        n_items = int(peer_items[g])
        p = peer_num[g] / peer_den[g] if peer_den[g] > 0 else math.nan
        lo, hi = wilson_interval(p * n_items, n_items, confidence) if n_items else (math.nan,) * 2
        peers.append(RaterStat(name, float(p), lo, hi, n_items))
        nv = int(valid[g])
        pc = agree[g] / nv if nv else math.nan
        lo, hi = wilson_interval(agree[g], nv, confidence) if nv else (math.nan, math.nan)
        consensus.append(RaterStat(name, float(pc), lo, hi, nv))
    return peers, consensus


@dataclass(frozen=True)
class PairwiseAgreement:
    """Percent agreement between every two raters on the items both rated.

    ``agreement[g, h]`` is NaN when g and h share no item; ``n_shared[g, h]``
    counts shared items. The diagonal is NaN / 0.
    """

    raters: tuple[str, ...]
    agreement: np.ndarray
    n_shared: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        agr = [[None if math.isnan(v) else float(v) for v in row] for row in self.agreement]
        return {"raters": list(self.raters), "agreement": agr,
                "n_shared": self.n_shared.astype(int).tolist()}


def pairwise_matrix(
    items: np.ndarray, raters: np.ndarray, labels: np.ndarray, rater_names: tuple[str, ...]
) -> PairwiseAgreement:
    """Pairwise percent agreement, counted over all rating pairs within items."""
    n_r = len(rater_names)
    order = np.argsort(items, kind="stable")
    it, ra, la = items[order], raters[order], labels[order]
    shared = np.zeros(n_r * n_r)
    same = np.zeros(n_r * n_r)
    d = 1
    while d < len(it):
        mask = it[d:] == it[:-d]
        if not mask.any():
            break
        g, h = ra[:-d][mask], ra[d:][mask]
        eq = (la[:-d][mask] == la[d:][mask]).astype(np.float64)
        for a, b in ((g, h), (h, g)):
            key = a * n_r + b
            shared += np.bincount(key, minlength=n_r * n_r)
            same += np.bincount(key, weights=eq, minlength=n_r * n_r)
        d += 1
    shared_m = shared.reshape(n_r, n_r)
    with np.errstate(divide="ignore", invalid="ignore"):
        agr = np.where(shared_m > 0, same.reshape(n_r, n_r) / shared_m, math.nan)
    return PairwiseAgreement(tuple(rater_names), agr, shared_m.astype(np.int64))
