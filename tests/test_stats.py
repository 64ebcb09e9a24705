"""The numeric foundation (opsloop.stats) against published values and independent peers.

Sources: Newcombe (1998), "Two-sided confidence intervals for the single
proportion: comparison of seven methods", Stat. Med. 17:857–872, Table II;
Agresti (2013), *Categorical Data Analysis*, 3rd ed., Table 11.1 (approval of
the US president's performance in two surveys, 1,600 people); Benjamini &
Hochberg (1995), §4; the ISO 8601 week-date examples. Peers: statsmodels
(``proportion_confint``, ``proportions_ztest``, ``mcnemar``, ``multipletests``)
and scipy (``binomtest``, ``fisher_exact``, ``binom``).
"""

from __future__ import annotations

import datetime as dt
import math

import ibis
import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from opsloop.errors import UsageError
from opsloop.stats import (
    bh_adjust,
    binomial_test,
    clopper_pearson_interval,
    day_from_number,
    day_number,
    fisher_exact,
    mcnemar_chi2,
    mcnemar_exact,
    normal_quantile,
    parse_iso_week,
    pooled_z,
    two_proportion_test,
    two_proportion_z_test,
    two_sided_p,
    wald_z,
    week_label,
    week_monday,
    week_start,
    wilson_arrays,
    wilson_interval,
)

# Newcombe (1998), Table II, method 3 (Wilson score interval): k, n, (low, high)
NEWCOMBE = [
    (81, 263, (0.2553, 0.3662)),
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
]


# -- proportions ---------------------------------------------------------------------
def test_wilson_published_values() -> None:
    assert wilson_interval(95, 100) == pytest.approx((0.8882, 0.9785), abs=5e-5)
    assert wilson_interval(0, 50) == pytest.approx((0.0, 0.0713), abs=5e-5)
    for k, n, wilson in NEWCOMBE:
        assert wilson_interval(k, n) == pytest.approx(wilson, abs=5e-5), (k, n)


def test_clopper_pearson_closed_forms() -> None:
    # k = 0: the upper limit solves (1 − p)^n = α/2; k = n: the lower one p^n = α/2
    assert clopper_pearson_interval(0, 20) == pytest.approx((0.0, 0.1684), abs=5e-5)
    assert clopper_pearson_interval(0, 50)[1] == pytest.approx(1 - 0.025 ** (1 / 50), rel=1e-9)
    assert clopper_pearson_interval(50, 50)[0] == pytest.approx(0.025 ** (1 / 50), rel=1e-9)


def test_intervals_match_statsmodels() -> None:
    rng = np.random.default_rng(0)
    n = rng.integers(1, 2000, 200)
    k = np.array([rng.integers(0, m + 1) for m in n])
    for conf in (0.9, 0.95, 0.99):
        z = normal_quantile(conf)
        low, high = wilson_arrays(k.astype(float), n.astype(float), z)
        ref_lo, ref_hi = proportion_confint(k, n, alpha=1 - conf, method="wilson")
        np.testing.assert_allclose(low, ref_lo, atol=1e-12)
        np.testing.assert_allclose(high, ref_hi, atol=1e-12)
        for i in range(0, 200, 17):
            assert wilson_interval(int(k[i]), int(n[i]), conf) == pytest.approx(
                (ref_lo[i], ref_hi[i]), abs=1e-12
            )
            cp = proportion_confint(int(k[i]), int(n[i]), alpha=1 - conf, method="beta")
            assert clopper_pearson_interval(int(k[i]), int(n[i]), conf) == pytest.approx(
                cp, abs=1e-10
            )


def test_empty_samples_have_no_interval() -> None:
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    assert all(math.isnan(x) for x in clopper_pearson_interval(0, 0))
    low, high = wilson_arrays(np.array([0.0, 3.0]), np.array([0.0, -1.0]))
    assert np.isnan(low).all() and np.isnan(high).all()


# -- z-tests ----------------------------------------------------------------------------
def test_two_proportion_z_matches_statsmodels() -> None:
    p = two_proportion_z_test(60, 100, 40, 100)
    assert p == pytest.approx(math.erfc(0.2 / math.sqrt(0.25 * 0.02) / math.sqrt(2)))
    for k1, n1, k2, n2 in [(60, 100, 40, 100), (229, 265, 141, 265), (30, 200, 18, 150),
                           (5000, 10000, 5100, 10000)]:  # fmt: skip
        z_ref, p_ref = proportions_ztest([k2, k1], [n2, n1])
        assert two_proportion_z_test(k1, n1, k2, n2) == pytest.approx(p_ref, rel=1e-9)
        z = pooled_z(np.array([k1 * 1.0]), np.array([n1 * 1.0]), np.array([k2 * 1.0]),
                     np.array([n2 * 1.0]))  # fmt: skip
        assert float(z[0]) == pytest.approx(z_ref, rel=1e-9)
        assert two_proportion_test(k1, n1, k2, n2) == (pytest.approx(p_ref, rel=1e-9),
                                                       "two-proportion z")  # fmt: skip


def test_normal_tail_and_wald() -> None:
    z = np.array([0.0, 1.0, 1.959963984540054, -2.5758293035489, 8.0])
    np.testing.assert_allclose(two_sided_p(z), 2 * stats.norm.sf(np.abs(z)), rtol=1e-12)
    assert two_sided_p(np.array([np.nan]))[0] == 1.0
    w = wald_z(np.array([0.3, 1.0]), np.array([0.3, 0.0]), np.array([0.4, 0.0]))
    assert w.tolist() == pytest.approx([0.6, 0.0])


def test_fisher_matches_scipy() -> None:
    assert fisher_exact(3, 3, 0, 3) == pytest.approx(0.1)
    assert two_proportion_test(3, 3, 0, 3) == (pytest.approx(0.1), "Fisher exact")
    rng = np.random.default_rng(1)
    for _ in range(60):
        n1, n2 = (int(x) for x in rng.integers(1, 25, 2))
        k1, k2 = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n2 + 1))
        ref = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
        assert fisher_exact(k1, n1, k2, n2) == pytest.approx(ref, rel=1e-6), (k1, n1, k2, n2)


# -- exact binomial -------------------------------------------------------------------------
def test_binomial_test_by_hand_and_scipy() -> None:
    assert binomial_test(9, 10) == pytest.approx(2 * 11 / 1024)
    assert binomial_test(0, 5) == pytest.approx(2 / 32)
    assert binomial_test(5, 10) == 1.0
    assert binomial_test(0, 0) == 1.0
    for k, n in [(9, 10), (60, 100), (4092, 6310), (3, 7), (0, 1), (1, 1), (510, 1000)]:
        assert binomial_test(k, n) == pytest.approx(stats.binomtest(k, n, 0.5).pvalue, rel=1e-9)
    for k, n, p in [(3, 20, 0.3), (17, 40, 0.25), (0, 12, 0.1), (99, 100, 0.9), (50, 300, 0.2)]:
        assert binomial_test(k, n, p) == pytest.approx(stats.binomtest(k, n, p).pvalue,
                                                       rel=1e-7), (k, n, p)  # fmt: skip


def test_binomial_test_is_calibrated_under_the_null() -> None:
    rng = np.random.default_rng(3)
    ks = rng.binomial(200, 0.5, 4000)
    rejected = np.mean([binomial_test(int(k), 200) <= 0.05 for k in ks])
    assert 0.02 <= rejected <= 0.06  # exact: at most α, and not grossly conservative at n = 200


# -- McNemar -----------------------------------------------------------------------------------
def test_mcnemar_agresti_table() -> None:
    """Agresti (2013), Table 11.1: first survey approve/disapprove × second survey."""
    table = [[794, 150], [86, 570]]
    b, c = 150, 86
    stat, p = mcnemar_chi2(b, c, correction=False)
    assert stat == pytest.approx(17.36, abs=0.005)
    assert p == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-9)
    stat_cc, _ = mcnemar_chi2(b, c)
    assert stat_cc == pytest.approx(16.82, abs=0.005)
    exact = mcnemar_exact(b, c)
    assert exact == pytest.approx(3.7e-5, rel=0.02)
    assert exact == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-9)
    ref = mcnemar(table, exact=False, correction=True)
    assert (stat_cc, mcnemar_chi2(b, c)[1]) == pytest.approx((ref.statistic, ref.pvalue))


def test_mcnemar_small_exact_and_mid_p() -> None:
    # b = 15, c = 5: p = 2 · P(X ≤ 5), X ~ Binomial(20, 1/2) = 2 · 21700 / 2^20
    assert mcnemar_exact(15, 5) == pytest.approx(0.041, abs=5e-4)
    assert mcnemar_exact(15, 5) == pytest.approx(2 * 21700 / 2**20, rel=1e-12)
    assert mcnemar_exact(5, 15) == mcnemar_exact(15, 5)
    # mid-p (Fagerland et al., 2013): 2 · P(X ≤ 5) − P(X = 5)
    mid = 2 * stats.binom.cdf(5, 20, 0.5) - stats.binom.pmf(5, 20, 0.5)
    assert mcnemar_exact(15, 5, mid_p=True) == pytest.approx(mid, rel=1e-9)
    assert mcnemar_exact(7, 7) == 1.0 and mcnemar_exact(7, 7, mid_p=True) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_chi2(0, 0) == (0.0, 1.0)
    rng = np.random.default_rng(2)
    for b, c in rng.integers(0, 60, (30, 2)):
        table = [[10, int(b)], [int(c), 10]]
        assert mcnemar_exact(int(b), int(c)) == pytest.approx(
            mcnemar(table, exact=True).pvalue, rel=1e-9
        )


# -- Benjamini–Hochberg ------------------------------------------------------------------------
def test_bh_published_example() -> None:
    """Benjamini & Hochberg (1995), §4: of these 15 p-values, 4 are rejected at 0.05."""
    p = np.array([0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
                  0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0])  # fmt: skip
    q = bh_adjust(p)
    assert (q <= 0.05).sum() == 4
    assert np.all(np.diff(q) >= 0)


def test_bh_matches_statsmodels() -> None:
    rng = np.random.default_rng(4)
    for m in (1, 2, 7, 30, 500):
        ps = rng.random(m) ** 3
        ps[: m // 5] = ps[0]  # ties
        ref = multipletests(ps, method="fdr_bh")[1]
        np.testing.assert_allclose(bh_adjust(ps), ref, rtol=1e-12)
        np.testing.assert_allclose(bh_adjust(list(ps)), ref, rtol=1e-12)
    assert len(bh_adjust([])) == 0


# -- calendar ------------------------------------------------------------------------------------
def test_iso_week_examples() -> None:
    """ISO 8601 week dates: 2008-12-29 is 2009-W01-1, 2010-01-03 is 2009-W53-7."""
    assert week_label(dt.date(2008, 12, 29)) == "2009-W01"
    assert week_label(dt.date(2010, 1, 3)) == "2009-W53"
    assert parse_iso_week("2009-W53") == dt.date(2009, 12, 28)
    assert parse_iso_week("2009-w1") == dt.date(2008, 12, 29)
    assert week_start(dt.date(2010, 1, 3)) == dt.date(2009, 12, 28)
    with pytest.raises(UsageError, match="no such ISO week"):
        parse_iso_week("2025-W53")
    with pytest.raises(UsageError, match="not an ISO week"):
        parse_iso_week("2025-13")


def test_week_monday_on_ints_arrays_and_the_engine() -> None:
    days = np.arange(-400, 21000, 37, dtype=np.int64)
    mondays = [day_number(day_from_number(int(d)) - dt.timedelta(days=day_from_number(int(d))
               .weekday())) for d in days]  # fmt: skip
    assert week_monday(days).tolist() == mondays
    assert [week_monday(int(d)) for d in days] == mondays
    t = ibis.memtable(pa.table({"day": days}))
    got = t.select(m=week_monday(t.day)).to_pyarrow().column("m").to_pylist()
    assert got == mondays
    assert day_from_number(day_number(dt.date(2025, 3, 9))) == dt.date(2025, 3, 9)
