"""Control charts against published examples and independent implementations.

Sources:

* Montgomery, D. C. (2009). *Introduction to Statistical Quality Control*, 6th ed.,
  Wiley. Example 7.1 / Table 7.1 (orange-juice cans, p-chart) and Example 9.2
  (EWMA, λ = 0.1, L = 2.7, μ0 = 10, σ = 1, on the 30 observations of Table 9.1).
* pandas ``Series.ewm(alpha=λ, adjust=False)``: an independent implementation of
  the EWMA recursion.
* Western Electric (1956), *Statistical Quality Control Handbook*: rule 1 (a
  point beyond a 3σ limit) and rule 4 (eight in a row on one side of the centre).

The reference figures were checked by hand computation before being written here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from opsloop.monitor import beyond_limits, ewma_chart, p_chart, run_rule, xbar_chart

# Montgomery (6th ed.), Table 7.1: nonconforming cans in 30 samples of n = 50
CANS = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22,
        8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6]  # fmt: skip
# Montgomery (6th ed.), Table 9.1 (used in Examples 9.1 and 9.2)
TABLE_9_1 = [9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34,
             9.03, 11.47, 10.51, 9.40, 10.08, 9.37, 10.62, 10.31, 8.52, 10.84,
             10.90, 9.33, 12.29, 11.50, 10.60, 11.08, 10.38, 11.62, 11.31, 10.52]  # fmt: skip


def test_p_chart_montgomery_example_7_1() -> None:
    chart = p_chart(CANS, [50] * 30)
    # p̄ = 347/1500 = 0.2313, UCL = 0.4102, LCL = 0.0524 (Montgomery, Example 7.1)
    assert chart.centre == pytest.approx(0.2313, abs=1e-4)
    assert set(np.round(chart.ucl, 4)) == {0.4102}
    assert set(np.round(chart.lcl, 4)) == {0.0524}
    beyond = [s for s in chart.signals if s.rule == "beyond_limits"]
    # samples 15 and 23 (1-based) plot above the upper limit
    assert [(s.index + 1, s.side) for s in beyond] == [(15, "above"), (23, "above")]
    assert chart.baseline == 30


def test_p_chart_montgomery_revised_limits_without_assignable_causes() -> None:
    # Montgomery drops samples 15 and 23 (assignable causes) and revises the limits:
    # p̄ = 301/1400 = 0.2150, UCL = 0.3893, LCL = 0.0407
    kept = [k for i, k in enumerate(CANS, 1) if i not in (15, 23)]
    chart = p_chart(kept, [50] * len(kept))
    assert chart.centre == pytest.approx(0.2150, abs=1e-4)
    assert chart.ucl[0] == pytest.approx(0.3893, abs=1e-4)
    assert chart.lcl[0] == pytest.approx(0.0407, abs=1e-4)


def test_p_chart_baseline_limits_follow_each_n() -> None:
    k = np.array([10.0, 12.0, 30.0, 0.0, 5.0])
    n = np.array([100.0, 120.0, 100.0, 0.0, 10.0])
    chart = p_chart(k, n, baseline=2)
    pbar = 22 / 220
    assert chart.centre == pytest.approx(pbar)
    assert chart.baseline == 2
    for i in (0, 1, 2, 4):
        half = 3 * math.sqrt(pbar * (1 - pbar) / n[i])
        assert chart.ucl[i] == pytest.approx(min(1.0, pbar + half))
        assert chart.lcl[i] == pytest.approx(max(0.0, pbar - half))
    # n = 10: the lower limit would be negative and is clipped at 0
    assert chart.lcl[4] == 0.0
    # an empty period has no value, no limits and no signal
    assert math.isnan(chart.values[3]) and math.isnan(chart.ucl[3])
    assert [(s.index, s.side) for s in chart.signals] == [(2, "above"), (4, "above")]
    # a slice as the baseline
    assert p_chart(k, n, baseline=slice(1, 3)).centre == pytest.approx(42 / 220)


def test_p_chart_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        p_chart([5], [4])
    with pytest.raises(ValueError):
        p_chart([1, 2], [3])
    with pytest.raises(ValueError):
        p_chart([1], [3], baseline=0)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0] * 7, []),  # seven in a row: no signal
        ([1.0] * 8, [7]),  # the eighth point completes the run
        ([1.0] * 9, [7, 8]),  # and every later point in it is flagged
        ([-1.0] * 3 + [1.0] * 8, [10]),  # a change of side starts a new run
        ([1.0] * 4 + [0.0] + [1.0] * 4, []),  # a point on the centre line ends the run
        ([1.0] * 4 + [math.nan] + [1.0] * 4, []),  # so does a missing point
    ],
)
def test_run_rule_eight_in_a_row(values: list[float], expected: list[int]) -> None:
    assert [s.index for s in run_rule(values, 0.0)] == expected


def test_run_rule_side_and_nelson_length() -> None:
    below = run_rule([-2.0] * 9, 0.0)
    assert {s.side for s in below} == {"below"}
    assert [s.index for s in run_rule([1.0] * 9, 0.0, length=9)] == [8]  # Nelson (1984)


def test_beyond_limits_is_strict() -> None:
    sig = beyond_limits([2.0, 2.0001, -0.5, math.nan], [0.0] * 4, [2.0] * 4)
    assert [(s.index, s.side) for s in sig] == [(1, "above"), (2, "below")]


def test_xbar_chart_limits_are_centre_plus_minus_three_se() -> None:
    values = [10.0, 11.0, 9.5, 14.0]
    se = [0.5, 1.0, 0.25, 1.0]
    chart = xbar_chart(values, se, centre=10.0)
    assert chart.ucl == pytest.approx((11.5, 13.0, 10.75, 13.0))
    assert chart.lcl == pytest.approx((8.5, 7.0, 9.25, 7.0))
    assert [(s.index, s.side) for s in chart.signals] == [(3, "above")]
    # default centre: the (weighted) mean of the baseline values
    assert xbar_chart(values, se).centre == pytest.approx(np.mean(values))
    weighted = xbar_chart(values, se, weights=[1, 1, 2, 0], baseline=3)
    assert weighted.centre == pytest.approx((10 + 11 + 2 * 9.5) / 4)


def test_ewma_limits_montgomery_example_9_2() -> None:
    chart = ewma_chart(TABLE_9_1, 1.0, 10.0, lam=0.1, L=2.7)
    # Montgomery, Example 9.2: UCL 10.27 at t = 1, 10.36 at t = 2, about 10.62 later
    assert chart.ucl[0] == pytest.approx(10.27, abs=0.005)
    assert chart.ucl[1] == pytest.approx(10.36, abs=0.005)
    assert chart.ucl[-1] == pytest.approx(10.62, abs=0.005)
    assert chart.lcl[0] == pytest.approx(9.73, abs=0.005)
    # the closed form for a constant σ: σ·L·sqrt(λ/(2−λ)·[1 − (1−λ)^{2t}])
    t = np.arange(1, 31)
    closed = 10 + 2.7 * np.sqrt(0.1 / 1.9 * (1 - 0.9 ** (2 * t)))
    assert np.allclose(chart.ucl, closed, rtol=0, atol=1e-12)


def test_ewma_statistic_matches_pandas() -> None:
    pd = pytest.importorskip("pandas")
    chart = ewma_chart(TABLE_9_1, 1.0, 10.0, lam=0.1, L=2.7)
    # pandas starts at the first value: prepend z0 = μ0 = 10
    z = pd.Series([10.0, *TABLE_9_1]).ewm(alpha=0.1, adjust=False).mean().to_numpy()[1:]
    assert np.allclose(chart.z, z, rtol=0, atol=1e-12)
    assert chart.z[0] == pytest.approx(9.945)  # 0.1·9.45 + 0.9·10
    # the signals are the points where pandas' z exceeds the closed-form limits
    t = np.arange(1, 31)
    ucl = 10 + 2.7 * np.sqrt(0.1 / 1.9 * (1 - 0.9 ** (2 * t)))
    expected = [i for i in range(30) if z[i] > ucl[i] or z[i] < 20 - ucl[i]]
    assert [s.index for s in chart.signals] == expected
    assert expected and all(i >= 20 for i in expected)  # the shift starts after sample 20


def test_ewma_time_varying_sigma_matches_the_weighted_sum() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.5, 0.05, 12)
    sigma = rng.uniform(0.01, 0.1, 12)
    lam, centre = 0.2, 0.5
    chart = ewma_chart(x, sigma, centre, lam=lam, L=3.0)
    for t in range(12):
        w = lam * (1 - lam) ** (t - np.arange(t + 1))
        z = float(w @ x[: t + 1]) + (1 - lam) ** (t + 1) * centre
        var = float((w**2) @ (sigma[: t + 1] ** 2))
        assert chart.z[t] == pytest.approx(z, abs=1e-12)
        assert chart.ucl[t] == pytest.approx(centre + 3 * math.sqrt(var), abs=1e-12)


def test_ewma_skips_missing_points() -> None:
    chart = ewma_chart([1.0, math.nan, 1.0], [1.0, 1.0, 1.0], 0.0, lam=0.5)
    assert math.isnan(chart.z[1]) and math.isnan(chart.ucl[1])
    assert chart.z[2] == pytest.approx(0.75)  # 0.5·1 + 0.5·0.5: the gap left z as it was


def test_ewma_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        ewma_chart([1.0], 1.0, 0.0, lam=0.0)
    with pytest.raises(ValueError):
        ewma_chart([1.0], 1.0, 0.0, L=-1.0)
    with pytest.raises(ValueError):
        ewma_chart([1.0, 2.0], [1.0], 0.0)


def test_charts_serialise_without_nan() -> None:
    import json

    chart = p_chart([1, 0], [10, 0])
    text = json.dumps(chart.to_dict(), allow_nan=False)
    assert '"kind": "p"' in text
    json.dumps(ewma_chart([1.0, math.nan], 1.0, 0.0).to_dict(), allow_nan=False)
