"""Confidence intervals for binomial proportions: Wilson (scalar and vectorised), Clopper–Pearson.

Every proportion opsloop reports carries one of these intervals; this module is
the only place their formulas are written.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

Z95 = 1.959963984540054  # Φ⁻¹(0.975)


def normal_quantile(confidence: float) -> float:
    """The two-sided standard normal critical value ``z = Φ⁻¹(1 − (1 − confidence)/2)``.

    >>> round(normal_quantile(0.95), 6)
    1.959964
    """
    if confidence == 0.95:
        return Z95
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson, 1927).

    For ``p̂ = k/n`` and ``z = Φ⁻¹(1 − (1 − confidence)/2)``::

        centre = (p̂ + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) · sqrt(p̂(1 − p̂)/n + z²/4n²)

    E. B. Wilson (1927), "Probable inference, the law of succession, and
    statistical inference", JASA 22:209–212; recommended by Brown, Cai &
    DasGupta (2001), Statistical Science 16:101–133. Returns ``(nan, nan)``
    when ``n == 0``.

    >>> [round(x, 4) for x in wilson_interval(95, 100)]
    [0.8882, 0.9785]
    >>> [round(x, 4) for x in wilson_interval(0, 50)]
    [0.0, 0.0713]
    """
    if n <= 0:
        return (math.nan, math.nan)
    z = normal_quantile(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0))
    return (max(0.0, centre - half), min(1.0, centre + half))


def wilson_arrays(
    successes: npt.ArrayLike, n: npt.ArrayLike, z: float = Z95
) -> tuple[FloatArray, FloatArray]:
    """:func:`wilson_interval` for arrays of counts, with the critical value ``z`` given.

    Same formula (Wilson, 1927), element by element; NaN where ``n ≤ 0``.

    >>> lo, hi = wilson_arrays(np.array([95.0, 0.0, 1.0]), np.array([100.0, 50.0, 0.0]))
    >>> np.round(lo, 4).tolist(), np.round(hi, 4).tolist()
    ([0.8882, 0.0, nan], [0.9785, 0.0713, nan])
    """
    k = np.asarray(successes, dtype=np.float64)
    nn = np.asarray(n, dtype=np.float64)
    nn = np.where(nn > 0, nn, np.nan)
    p = k / nn
    denom = 1 + z * z / nn
    centre = (p + z * z / (2 * nn)) / denom
    half = z * np.sqrt(np.maximum(p * (1 - p) / nn + z * z / (4 * nn * nn), 0.0)) / denom
    low: FloatArray = np.clip(centre - half, 0.0, 1.0)
    high: FloatArray = np.clip(centre + half, 0.0, 1.0)
    return low, high


def clopper_pearson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """The exact (Clopper–Pearson, 1934) interval: inverted equal-tailed binomial tests.

    With ``α = 1 − confidence`` and ``B(q; a, b)`` the ``q`` quantile of a Beta(a, b)::

        low  = B(α/2; k, n − k + 1)        (0 when k = 0)
        high = B(1 − α/2; k + 1, n − k)    (1 when k = n)

    C. J. Clopper & E. S. Pearson (1934), "The use of confidence or fiducial
    limits illustrated in the case of the binomial", Biometrika 26:404–413.
    Conservative: its coverage is at least ``confidence``. ``(nan, nan)`` when
    ``n == 0``.

    >>> [round(x, 4) for x in clopper_pearson_interval(0, 50)]  # 1 − 0.025^(1/50)
    [0.0, 0.0711]
    """
    if n <= 0:
        return (math.nan, math.nan)
    from scipy.special import betaincinv  # the special functions only: scipy.stats is slow

    tail = (1 - confidence) / 2
    low = 0.0 if successes <= 0 else float(betaincinv(successes, n - successes + 1, tail))
    high = 1.0 if successes >= n else float(betaincinv(successes + 1, n - successes, 1 - tail))
    return (low, high)


def paired_difference_interval(
    n11: int, n12: int, n21: int, n22: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's (1998) square-and-add interval for ``p₁₊ − p₊₁`` of a paired 2×2 table.

    ``[[n11, n12], [n21, n22]]`` counts pairs by the first measurement (rows)
    and the second (columns). With ``N`` pairs, ``p₁ = (n11 + n12)/N``,
    ``p₂ = (n11 + n21)/N``, Wilson (1927) intervals ``[l₁, u₁]``, ``[l₂, u₂]``
    and the continuity-corrected correlation ``ψ`` (``A = n11·n22 − n12·n21``;
    ``ψ = (A − N/2)/√(n₁₊n₂₊n₊₁n₊₂)`` when ``A > N/2``, 0 when ``0 ≤ A ≤ N/2``,
    ``A/√(…)`` when ``A < 0``; 0 when a margin is empty)::

        L = Δ − √((p₁ − l₁)² + (u₂ − p₂)² − 2ψ(p₁ − l₁)(u₂ − p₂))
        U = Δ + √((p₂ − l₂)² + (u₁ − p₁)² − 2ψ(p₂ − l₂)(u₁ − p₁))

    R. G. Newcombe (1998), "Improved confidence intervals for the difference
    between binomial proportions based on paired data", Stat. Med.
    17:2635–2650 (method 10); recommended by Fagerland, Lydersen & Laake
    (2014), Stat. Med. 33:2850–2875. ``(nan, nan)`` when ``N = 0``.

    >>> [round(x, 4) for x in paired_difference_interval(59, 6, 16, 80)]  # Cavo et al. (2012)
    [-0.1186, -0.0046]
    """
    total = n11 + n12 + n21 + n22
    if total <= 0:
        return (math.nan, math.nan)
    row1, col1 = n11 + n12, n11 + n21
    p1, p2 = row1 / total, col1 / total
    l1, u1 = wilson_interval(row1, total, confidence)
    l2, u2 = wilson_interval(col1, total, confidence)
    margins = row1 * (total - row1) * col1 * (total - col1)
    a = n11 * n22 - n12 * n21
    if margins == 0 or 0 <= a <= total / 2:
        psi = 0.0
    else:
        psi = (a - total / 2 if a > 0 else a) / math.sqrt(margins)
    d = p1 - p2
    low = d - math.sqrt(max((p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * psi * (p1 - l1) * (u2 - p2), 0))
    high = d + math.sqrt(max((p2 - l2) ** 2 + (u1 - p1) ** 2 - 2 * psi * (p2 - l2) * (u1 - p1), 0))
    return (max(-1.0, low), min(1.0, high))
