"""Tests shared by the root-cause analyses: z-tests of changes and the BH adjustment.

Every analysis compares a rate between two periods. For a proportion ``k/n``
the change is tested with the pooled two-proportion z-test::

    z = (p₂ − p₁) / sqrt(p̄ (1 − p̄) (1/n₁ + 1/n₂)),   p̄ = (k₁ + k₂) / (n₁ + n₂)

and for any other ratio of sums (Hájek, severity-weighted, means) with the
unpooled Wald statistic ``z = Δ / sqrt(se₁² + se₂²)`` from the linearised
standard errors of :func:`opsloop.monitor.estimate`. Many slices, raters or
label pairs are tested at once, so the p-values of one family are adjusted
with the Benjamini & Hochberg (1995) step-up procedure, which controls the
false discovery rate.

>>> [round(float(q), 4) for q in bh_adjust(np.array([0.01, 0.04, 0.03, 0.5]))]
[0.04, 0.0533, 0.0533, 0.5]
>>> round(float(two_sided_p(np.array([1.959963984540054]))[0]), 3)
0.05
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_ERFC = np.frompyfunc(math.erfc, 1, 1)


def two_sided_p(z: FloatArray) -> FloatArray:
    """``P(|Z| ≥ |z|)`` for a standard normal ``Z``; NaN statistics give 1."""
    zz = np.nan_to_num(np.abs(np.asarray(z, dtype=np.float64)), nan=0.0, posinf=40.0)
    out: FloatArray = np.asarray(_ERFC(zz / math.sqrt(2.0)), dtype=np.float64)
    return out


def bh_adjust(p: FloatArray) -> FloatArray:
    """Benjamini–Hochberg (1995) adjusted p-values, in the input order.

    For ``m`` p-values sorted ascending, ``q_(i) = min_{j ≥ i} min(1, m · p_(j) / j)``.
    """
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m, dtype=np.float64)
    out[order] = np.minimum(q_sorted, 1.0)
    return out


def pooled_z(k1: FloatArray, n1: FloatArray, k2: FloatArray, n2: FloatArray) -> FloatArray:
    """Pooled two-proportion z statistic of ``k2/n2 − k1/n1`` (0 where undefined).

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
    """``Δ / sqrt(se₁² + se₂²)`` (0 where the standard error is 0 or undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(se1 * se1 + se2 * se2)
        z = np.where(se > 0, delta / se, 0.0)
    out: FloatArray = np.nan_to_num(z, nan=0.0)
    return out
