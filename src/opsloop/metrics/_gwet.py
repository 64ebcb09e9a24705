"""Gwet-family coefficients for any number of raters, with missing ratings.

All follow Gwet (2014), *Handbook of Inter-Rater Reliability*, 4th ed., ch. 2–5
(the formulas of the irrCAC package). With ``n_ik`` the ratings of item ``i`` in
category ``k``, ``r_i = Σ_k n_ik``, weights ``w_kl`` and ``n*_ik = Σ_l w_kl n_il``::

    Pa  = mean over items with r_i ≥ 2 of Σ_k n_ik (n*_ik − 1) / (r_i (r_i − 1))
    π_k = mean over all items of n_ik / r_i
    coefficient = (Pa − Pe) / (1 − Pe)

    percent agreement   Pe = 0
    Brennan–Prediger    Pe = Σ_kl w_kl / q²                       (Brennan & Prediger, 1981)
    Fleiss' κ           Pe = Σ_kl w_kl π_k π_l                    (Fleiss, 1971)
    Gwet's AC1 / AC2    Pe = Σ_kl w_kl · Σ_k π_k (1 − π_k) / (q (q − 1))   (Gwet, 2008)
    Conger's κ          Pe = Σ_kl w_kl (p̄_k p̄_l − s²_kl / R)      (Conger, 1980)

Variances are Gwet's linearisation: with per-item terms
``c_i = (n / n₂)(Pa_i − Pe·[r_i ≥ 2]) / (1 − Pe)`` corrected by
``− 2 (1 − c)(Pe_i − Pe)/(1 − Pe)``, ``var = Σ_i (c*_i − c)² / (n (n − 1))``;
intervals use Student's t with ``n − 1`` degrees of freedom.
"""

from __future__ import annotations

import math

import numpy as np

from opsloop.metrics._kernel import Estimate, ItemCounts, nan_estimate, t_interval

_FAMILY = ("percent_agreement", "brennan_prediger", "fleiss_kappa", "gwet_ac1")


def _pa_terms(ic: ItemCounts, w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    c = ic.rows
    r = c.sum(axis=1)
    sum_q = (c * (c @ w.T - 1)).sum(axis=1)
    m2 = r >= 2
    den = r * (r - 1)
    pa_i = np.where(m2, sum_q / np.where(m2, den, 1.0), 0.0)
    n2 = float(ic.mult[m2].sum())
    pa = float((ic.mult * pa_i).sum() / n2)
    return pa, pa_i, m2


def gwet_family(kind: str, ic: ItemCounts, w: np.ndarray, confidence: float = 0.95) -> Estimate:
    """Percent agreement, Brennan–Prediger, Fleiss' κ or Gwet's AC1/AC2 (by ``kind``).

    ``ic`` holds the item count patterns, ``w`` the q×q weights (identity for
    the unweighted coefficients). See the module docstring for the formulas.

    >>> from opsloop.metrics._kernel import compress
    >>> ic = compress(np.array([[2, 0], [2, 0], [0, 2], [1, 1]]))
    >>> round(gwet_family("fleiss_kappa", ic, np.eye(2)).value, 4)
    0.4667
    """
    if kind not in _FAMILY:
        raise ValueError(kind)
    q = w.shape[0]
    n_pair = ic.n_pairable
    if n_pair == 0:
        return nan_estimate("no item has two or more ratings")
    n = ic.n_items
    c = ic.rows
    r = c.sum(axis=1)
    pa, pa_i, m2 = _pa_terms(ic, w)
    pi = (ic.mult[:, None] * (c / r[:, None])).sum(axis=0) / n
    pe_i: np.ndarray | None = None
    if kind == "percent_agreement":
        pe = 0.0
    elif kind == "brennan_prediger":
        pe = float(w.sum()) / q**2
    elif kind == "fleiss_kappa":
        pe = float(pi @ w @ pi)
        piw = (w @ pi + w.T @ pi) / 2
        pe_i = (c @ piw) / r
    else:
        if q < 2:
            return nan_estimate("AC1 needs at least two categories", n_pair)
        scale = float(w.sum()) / (q * (q - 1))
        pe = scale * float((pi * (1 - pi)).sum())
        pe_i = scale * (c @ (1 - pi)) / r
    if pe >= 1 - 1e-12:
        return Estimate(
            math.nan, pa=pa, pe=pe, n_items=n_pair,
            note="chance agreement is 1 (a single category in use): coefficient undefined",
        )
    value = (pa - pe) / (1 - pe)
    c_i = (n / n_pair) * (pa_i - pe * m2) / (1 - pe)
    if pe_i is not None:
        c_i = c_i - 2 * (1 - value) * (pe_i - pe) / (1 - pe)
    var = float((ic.mult * (c_i - value) ** 2).sum()) / (n * (n - 1)) if n > 1 else math.nan
    se = math.sqrt(var) if var == var else math.nan
    lo, hi = t_interval(value, se, n, confidence)
    return Estimate(value, se, lo, hi, pa, pe, n_pair)


def conger_kappa(
    counts: np.ndarray,
    items: np.ndarray,
    raters: np.ndarray,
    labels: np.ndarray,
    w: np.ndarray,
    confidence: float = 0.95,
) -> Estimate:
    """Conger's (1980) κ: Fleiss' Pa with the chance term averaged over rater pairs.

    With ``p_gk`` the share of rater g's ratings in category k, ``p̄_k`` its mean
    over the R raters and ``s²_kl`` the between-rater covariance of ``p_gk, p_gl``::

        Pe = Σ_kl w_kl (p̄_k p̄_l − s²_kl / R)

    For two raters this is Cohen's (1960) κ. Variance: Gwet (2014) §5.3
    (irrCAC ``conger.kappa.raw``), computed over annotations (no dense rater ×
    item matrix). ``counts`` is the full item×category matrix; ``items``,
    ``raters``, ``labels`` are the annotation codes (raters 0..R−1).
    """
    n = counts.shape[0]
    q = w.shape[0]
    r_count = int(raters.max()) + 1 if len(raters) else 0
    if r_count < 2:
        return nan_estimate("Conger's kappa needs at least two raters")
    ic = ItemCounts(counts.astype(np.float64), np.ones(n))
    n_pair = ic.n_pairable
    if n_pair == 0:
        return nan_estimate("no item has two or more ratings")
    pa, pa_i, m2 = _pa_terms(ic, w)
    classif = np.bincount(raters * q + labels, minlength=r_count * q).reshape(r_count, q)
    ng = classif.sum(axis=1).astype(np.float64)
    pgk = classif / ng[:, None]
    pbar = pgk.mean(axis=0)
    s2 = (pgk.T @ pgk - r_count * np.outer(pbar, pbar)) / (r_count - 1)
    pe = float((w * (np.outer(pbar, pbar) - s2 / r_count)).sum())
    if pe >= 1 - 1e-12:
        return Estimate(math.nan, pa=pa, pe=pe, n_items=n_pair,
                        note="chance agreement is 1: coefficient undefined")
    value = (pa - pe) / (1 - pe)
    # λ_ig = (n/n_g) Σ_l B_gl (δ_igl − ε_ig p_gl) + D_g,  B = (R p̄ − p_g·) W,  D_g = Σ_l B_gl p_gl
    b = (r_count * pbar[None, :] - pgk) @ w
    d = (b * pgk).sum(axis=1)
    per_ann = (n / ng[raters]) * (b[raters, labels] - d[raters])
    lam = np.bincount(items, weights=per_ann, minlength=n) + d.sum()
    pe_i = lam / (r_count * (r_count - 1))
    c_i = (n / n_pair) * (pa_i - pe * m2) / (1 - pe)
    c_i = c_i - 2 * (1 - value) * (pe_i - pe) / (1 - pe)
    var = float(((c_i - value) ** 2).sum()) / (n * (n - 1)) if n > 1 else math.nan
    se = math.sqrt(var) if var == var else math.nan
    lo, hi = t_interval(value, se, n, confidence)
    return Estimate(value, se, lo, hi, pa, pe, n_pair)
