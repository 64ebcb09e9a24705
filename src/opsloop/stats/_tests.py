"""Hypothesis tests: z-tests of proportions and changes, exact binomial, Fisher, McNemar, BH.

Every comparison in opsloop (a KPI between two weeks, a slice, a rater, two
model versions on the same items, a preference rate against one half) is
tested with one of these, and every family of tests is adjusted with
:func:`bh_adjust`. Vectorised forms take and return float arrays; scalar
forms take counts.

>>> round(float(two_sided_p(np.array([1.959963984540054]))[0]), 3)
0.05
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_ERFC = np.frompyfunc(math.erfc, 1, 1)
FISHER_BELOW = 5.0  # the smallest expected cell count for the two-proportion z-test


# -- normal approximations ---------------------------------------------------------
def two_sided_p(z: npt.ArrayLike) -> FloatArray:
    """``P(|Z| ≥ |z|) = erfc(|z|/√2)`` for a standard normal ``Z``; NaN statistics give 1.

    >>> two_sided_p(np.array([0.0, np.nan])).tolist()
    [1.0, 1.0]
    """
    zz = np.nan_to_num(np.abs(np.asarray(z, dtype=np.float64)), nan=0.0, posinf=40.0)
    out: FloatArray = np.asarray(_ERFC(zz / math.sqrt(2.0)), dtype=np.float64)
    return out


def pooled_z(k1: FloatArray, n1: FloatArray, k2: FloatArray, n2: FloatArray) -> FloatArray:
    """Pooled two-proportion z statistic of ``k2/n2 − k1/n1`` (0 where undefined).

    ``z = (p₂ − p₁) / sqrt(p̄(1 − p̄)(1/n₁ + 1/n₂))`` with ``p̄ = (k₁ + k₂)/(n₁ + n₂)``
    (Agresti, 2013, *Categorical Data Analysis*, 3rd ed., §2.1.3).

    >>> round(float(pooled_z(np.array([90.0]), np.array([100.0]),
    ...                      np.array([80.0]), np.array([100.0]))[0]), 3)
    -1.98
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        pool = (k1 + k2) / (n1 + n2)
        se = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
        z = np.where((se > 0) & (n1 > 0) & (n2 > 0), (p2 - p1) / se, 0.0)
    out: FloatArray = np.nan_to_num(z, nan=0.0)
    return out


def wald_z(delta: FloatArray, se1: FloatArray, se2: FloatArray) -> FloatArray:
    """``z = Δ / sqrt(se₁² + se₂²)`` for a difference of two independent estimates.

    The unpooled Wald statistic (Agresti, 2013, §3.1.2); 0 where the standard
    error is 0 or undefined.

    >>> wald_z(np.array([0.3]), np.array([0.3]), np.array([0.4])).tolist()
    [0.6]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(se1 * se1 + se2 * se2)
        z = np.where(se > 0, delta / se, 0.0)
    out: FloatArray = np.nan_to_num(z, nan=0.0)
    return out


def two_proportion_z_test(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of ``k1/n1 = k2/n2``.

    ``p = erfc(|z|/√2)`` with ``z`` from :func:`pooled_z` (Agresti, 2013, §2.1.3);
    the same as statsmodels' ``proportions_ztest``. 1 when a sample is empty.

    >>> round(two_proportion_z_test(60, 100, 40, 100), 6)  # z = 0.2 / sqrt(.25 · .02)
    0.004678
    """
    if n1 <= 0 or n2 <= 0:
        return 1.0
    z = pooled_z(np.array([float(k1)]), np.array([float(n1)]),
                 np.array([float(k2)]), np.array([float(n2)]))  # fmt: skip
    return float(two_sided_p(z)[0])


# -- exact tests --------------------------------------------------------------------
def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher (1922) exact p-value of the 2×2 table ``[[k1, n1−k1], [k2, n2−k2]]``.

    With the margins fixed the top-left cell is hypergeometric; the p-value is
    the probability of every table at most as likely as the observed one::

        P(x) = C(n1, x) C(n2, h − x) / C(n1 + n2, h),   h = k1 + k2
        p    = Σ_{x: P(x) ≤ P(k1)} P(x)

    (the same as ``scipy.stats.fisher_exact``).

    >>> round(fisher_exact(3, 3, 0, 3), 6)
    0.1
    """
    total, hits = n1 + n2, k1 + k2
    lo, hi = max(0, hits - n2), min(hits, n1)

    def logp(x: int) -> float:
        return _log_comb(n1, x) + _log_comb(n2, hits - x) - _log_comb(total, hits)

    observed = logp(k1)
    p = sum(math.exp(lp) for lp in map(logp, range(lo, hi + 1)) if lp <= observed + 1e-7)
    return min(1.0, p)


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> tuple[float, str]:
    """Two-sided p-value for ``k1/n1 = k2/n2`` of independent samples, and the test's name.

    The pooled z-test (:func:`two_proportion_z_test`), or Fisher's exact test
    when an expected count ``n_i p̄`` or ``n_i (1 − p̄)`` is below 5 (Cochran,
    1954, "Some methods for strengthening the common χ² tests", Biometrics 10).

    >>> two_proportion_test(3, 3, 0, 3)[1]
    'Fisher exact'
    """
    if n1 <= 0 or n2 <= 0:
        return 1.0, "none (an empty sample)"
    pooled = (k1 + k2) / (n1 + n2)
    if min(n1, n2) * min(pooled, 1 - pooled) < FISHER_BELOW:
        return fisher_exact(k1, n1, k2, n2), "Fisher exact"
    return two_proportion_z_test(k1, n1, k2, n2), "two-proportion z"


def binomial_test(k: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial p-value of ``k`` successes in ``n`` trials against ``p``.

    The "minimum likelihood" p-value: the probability of every outcome at most
    as likely as ``k``, ``Σ_{x: P(x) ≤ P(k)} P(x)`` with ``X ~ Binomial(n, p)``
    (as ``scipy.stats.binomtest``). For ``p = 1/2`` the distribution is
    symmetric and this is ``min(1, 2 · P(X ≤ min(k, n − k)))``. 1 when ``n = 0``.

    >>> binomial_test(9, 10)  # 2 · (1 + 10) / 2**10
    0.021484375
    >>> binomial_test(5, 10)
    1.0
    """
    if n <= 0:
        return 1.0
    if p == 0.5:
        from scipy.special import bdtr  # only the special functions: scipy.stats imports slowly

        m = min(k, n - k)
        if 2 * m >= n:
            return 1.0
        return min(1.0, 2.0 * float(bdtr(m, n, 0.5)))
    if not 0 < p < 1:
        return 1.0 if (k == 0 and p == 0) or (k == n and p == 1) else 0.0
    from scipy.special import gammaln

    x = np.arange(n + 1, dtype=np.float64)
    logpmf = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    logpmf += x * math.log(p) + (n - x) * math.log1p(-p)
    observed = logpmf[k]
    return min(1.0, float(np.exp(logpmf[logpmf <= observed + 1e-7 * abs(observed)]).sum()))


def mcnemar_exact(b: int, c: int, *, mid_p: bool = False) -> float:
    """McNemar's exact test of paired proportions, from the two discordant counts.

    Two versions judged the same items: ``b`` items the first got right and
    the second wrong, ``c`` the reverse. Under no difference the discordant
    items split as ``B ~ Binomial(b + c, 1/2)``, so with ``m = min(b, c)``::

        exact:  p = min(1, 2 · P(B ≤ m))                  (McNemar, 1947; conditional exact)
        mid-p:  p = 2 · P(B ≤ m) − P(B = m)               (Fagerland, Lydersen & Laake, 2013)

    Q. McNemar (1947), Psychometrika 12:153–157; M. W. Fagerland, S. Lydersen &
    P. Laake (2013), "The McNemar test for binary matched-pairs data: mid-p and
    asymptotic are better than exact conditional", BMC Med. Res. Methodol. 13:91.
    The mid-p version is less conservative and keeps its size closely.

    >>> round(mcnemar_exact(15, 5), 4)
    0.0414
    >>> round(mcnemar_exact(15, 5, mid_p=True), 4)
    0.0266
    """
    n = b + c
    if n <= 0:
        return 1.0
    from scipy.special import bdtr

    m = min(b, c)
    tail = float(bdtr(m, n, 0.5))
    if not mid_p:
        return min(1.0, 2.0 * tail)
    point = math.exp(_log_comb(n, m) - n * math.log(2.0))
    return min(1.0, 2.0 * tail - point)


def mcnemar_chi2(b: int, c: int, *, correction: bool = True) -> tuple[float, float]:
    """McNemar's (1947) asymptotic test: ``(χ², p)`` from the discordant counts.

    ``χ² = (|b − c| − 1)² / (b + c)`` with Edwards' (1948) continuity correction,
    ``(b − c)² / (b + c)`` without; ``p = P(χ²₁ ≥ χ²) = erfc(sqrt(χ²/2))``.
    ``(0, 1)`` when there is no discordant pair.

    >>> [round(x, 2) for x in mcnemar_chi2(150, 86, correction=False)]  # Agresti (2013), §11.1
    [17.36, 0.0]
    """
    n = b + c
    if n <= 0:
        return 0.0, 1.0
    diff = abs(b - c) - (1 if correction else 0)
    stat = max(diff, 0) ** 2 / n
    return stat, math.erfc(math.sqrt(stat / 2))


# -- multiple comparisons ------------------------------------------------------------
def bh_adjust(p: FloatArray | Sequence[float]) -> FloatArray:
    """Benjamini–Hochberg (1995) adjusted p-values (q-values), in the input order.

    For ``m`` p-values sorted ascending, ``q_(i) = min_{j ≥ i} min(1, m · p_(j) / j)``;
    rejecting every hypothesis with ``q ≤ α`` controls the false discovery rate
    at ``α`` for independent (or positively dependent) tests. Y. Benjamini &
    Y. Hochberg (1995), "Controlling the false discovery rate", JRSS B 57:289–300.

    >>> [round(float(q), 4) for q in bh_adjust([0.01, 0.04, 0.03, 0.5])]
    [0.04, 0.0533, 0.0533, 0.5]
    """
    arr = np.asarray(p, dtype=np.float64)
    m = len(arr)
    if m == 0:
        return arr.copy()
    order = np.argsort(arr, kind="stable")
    ranked = arr[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m, dtype=np.float64)
    out[order] = np.minimum(q_sorted, 1.0)
    return out
