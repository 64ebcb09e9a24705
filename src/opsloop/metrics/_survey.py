"""Estimators from per-slice sums: Wilson proportions, Hájek (weighted audits), ratios.

Every function takes the sums an Ibis query returned and gives a point
estimate, its standard error and a confidence interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opsloop.stats import normal_quantile, wilson_interval


@dataclass(frozen=True)
class Interval:
    """A point estimate with standard error, interval and a note (``value`` NaN if none)."""

    value: float
    se: float
    ci_low: float
    ci_high: float
    note: str | None = None


def wilson(k: float, n: float, confidence: float = 0.95) -> Interval:
    """``k/n`` with the Wilson (1927) score interval; ``se = sqrt(p(1 − p)/n)``.

    >>> r = wilson(95, 100)
    >>> round(r.value, 2), round(r.ci_low, 4), round(r.ci_high, 4)
    (0.95, 0.8882, 0.9785)
    """
    if n <= 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, "empty slice")
    p = k / n
    low, high = wilson_interval(k, n, confidence)
    return Interval(p, math.sqrt(p * (1 - p) / n), low, high)


def hajek_proportion(
    n: int, sum_w: float, sum_wy: float, sum_a: float, sum_ay: float, confidence: float = 0.95
) -> Interval:
    """The Hájek ratio estimator of a proportion under Poisson sampling, with its variance.

    Units ``k`` of the sample ``s`` were drawn independently with probability
    ``π_k`` (Poisson or stratified Poisson sampling). With the Horvitz–Thompson
    weights ``w_k = 1/π_k`` (Horvitz & Thompson, 1952)::

        p̂ = Σ_s w_k y_k / Σ_s w_k                                  (Hájek, 1971)
        V̂(p̂) = Σ_s (1 − π_k)/π_k² · (y_k − p̂)² / (Σ_s w_k)²

    the Taylor-linearised variance of a ratio of HT totals under Poisson
    sampling (Särndal, Swensson & Wretman, 1992, §3.6 and §5.7). For a 0/1
    ``y`` the residual sum is ``A₁(1 − p̂)² + (A − A₁)p̂²`` with
    ``A = Σ (1 − π)/π²`` and ``A₁`` its sum over hits, so four sums suffice.
    The interval is Wilson's with the effective sample size
    ``n_eff = p̂(1 − p̂)/V̂`` (Kish, 1965; Dean & Pagano, 2015); when ``V̂ = 0``
    the raw ``n`` is used.

    >>> r = hajek_proportion(3, 1/0.5 + 1/0.5 + 1/1.0, 2 + 0 + 1, 2 + 2 + 0, 2 + 0 + 0)
    >>> round(r.value, 4), round(r.se, 4)
    (0.6, 0.204)
    """
    if n <= 0 or sum_w <= 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, "empty slice")
    p = sum_wy / sum_w
    var = (sum_ay * (1 - p) ** 2 + (sum_a - sum_ay) * p * p) / (sum_w * sum_w)
    var = max(var, 0.0)
    se = math.sqrt(var)
    n_eff = p * (1 - p) / var if var > 0 and 0 < p < 1 else float(n)
    low, high = wilson_interval(p * n_eff, n_eff, confidence)
    return Interval(p, se, low, high)


def ratio_estimate(
    n: int, sum_s: float, sum_se: float, sum_s2e: float, sum_s2: float, confidence: float = 0.95
) -> Interval:
    """``R̂ = Σ s_i e_i / Σ s_i`` for 0/1 errors ``e_i`` with weights ``s_i``, delta-method CI.

    The linearised variance of a ratio estimator (Cochran, 1977, §6.3), with
    the ``n`` annotations of positive weight as independent units::

        V̂(R̂) = n/(n − 1) · Σ (s_i e_i − R̂ s_i)² / (Σ s_i)²

    and ``Σ (s e − R̂ s)² = Σ s²e · (1 − 2R̂) + R̂² Σ s²`` (as ``e² = e``).
    The interval is ``R̂ ± z · se``, clipped to [0, 1].

    >>> r = ratio_estimate(3, 1 + 2 + 3, 3, 9, 1 + 4 + 9)
    >>> round(r.value, 4), round(r.se, 4)
    (0.5, 0.3819)
    """
    if n <= 0 or sum_s <= 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, "empty slice")
    r = sum_se / sum_s
    if n < 2:
        return Interval(r, math.nan, math.nan, math.nan, "a single annotation: no interval")
    resid = sum_s2e * (1 - 2 * r) + r * r * sum_s2
    se = math.sqrt(max(resid, 0.0) * n / (n - 1)) / sum_s
    half = normal_quantile(confidence) * se
    return Interval(r, se, max(0.0, r - half), min(1.0, r + half))
