"""Quality metrics against hand-computed tables and independent implementations.

The reference cases run on every backend (the ``backend`` fixture: DuckDB by default,
local Spark in the slow run), each checked against the expected figures.

Expected values are computed here from the cited formulas (or by sklearn /
statsmodels), never copied from opsloop's output.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from opsloop.config import TaskTaxonomy
from opsloop.errors import UsageError
from opsloop.metrics import (
    f1_interval,
    hajek_proportion,
    quality,
    quality_sql,
    wilson,
)
from tests.conftest import Backend

TAX = TaskTaxonomy(
    labels=("none", "spam", "hate", "self_harm"),
    benign=("none",),
    severity={"spam": 1, "hate": 3, "self_harm": 4},
    critical_severity=4,
)


def ann_gold(pairs: list[tuple[str, str]], **cols: list[object]) -> tuple[pa.Table, pa.Table]:
    """One item per (truth, label) pair, rated by raters r0/r1 alternately."""
    n = len(pairs)
    ann = pa.table(
        {
            "item_id": [f"i{i}" for i in range(n)],
            "rater_id": [f"r{i % 2}" for i in range(n)],
            "label": [p[1] for p in pairs],
            **cols,
        }
    )
    gold = pa.table({"item_id": [f"i{i}" for i in range(n)], "label": [p[0] for p in pairs]})
    return ann, gold


def sm_wilson(k: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return float(low), float(high)


# --- accuracy and Wilson ------------------------------------------------------------


def test_wilson_readme_figures(backend: Backend) -> None:
    # README worked figures: 95/100 -> [0.8882, 0.9785]; 0/50 -> [0, 0.0713]
    ann, gold = ann_gold([("spam", "spam")] * 95 + [("spam", "none")] * 5)
    r = quality(backend(ann), gold=backend(gold), metrics=["accuracy"]).records[0]
    assert r.value == pytest.approx(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.8882, 0.9785), abs=5e-5)
    assert (r.ci_low, r.ci_high) == pytest.approx(sm_wilson(95, 100), abs=1e-12)
    zero = wilson(0, 50)
    assert (zero.ci_low, zero.ci_high) == pytest.approx((0.0, 0.0713), abs=5e-5)
    for k, n in [(0, 50), (1, 3), (17, 40), (50, 50)]:
        w = wilson(k, n)
        assert (w.ci_low, w.ci_high) == pytest.approx(sm_wilson(k, n), abs=1e-12)


def test_accuracy_hand_computed(backend: Backend) -> None:
    # rater r0 rates i0, i2, i4, i6: 3 of 4 right; r1 rates i1, i3, i5: 1 of 3 right
    pairs = [
        ("spam", "spam"),
        ("spam", "none"),
        ("hate", "hate"),
        ("none", "spam"),
        ("none", "none"),
        ("hate", "hate"),
        ("hate", "spam"),
    ]
    ann, gold = ann_gold(pairs)
    res = quality(backend(ann), gold=backend(gold), metrics=["accuracy"], by=["rater_id"])
    r0, r1 = res.get("accuracy", rater_id="r0"), res.get("accuracy", rater_id="r1")
    assert r0.value == pytest.approx(3 / 4) and r0.extra["n"] == 4 and r0.n_items == 4
    assert r1.value == pytest.approx(1 / 3) and r1.extra["n"] == 3 and r1.n_raters == 1
    assert (r1.ci_low, r1.ci_high) == pytest.approx(sm_wilson(1, 3), abs=1e-12)
    # an annotation of an item without gold is not counted
    extra = pa.concat_tables(
        [ann, pa.table({"item_id": ["zz"], "rater_id": ["r0"], "label": ["spam"]})]
    )
    assert (
        quality(backend(extra), gold=backend(gold), metrics=["accuracy"]).records[0].extra["n"] == 7
    )


def test_honeypot_accuracy_hand_computed(backend: Backend) -> None:
    pairs = [("spam", "spam"), ("spam", "none"), ("hate", "hate"), ("none", "none")]
    ann, gold = ann_gold(pairs, is_gold_check=[True, True, False, None])
    res = quality(backend(ann), gold=backend(gold), metrics=["accuracy", "honeypot_accuracy"])
    assert res.get("honeypot_accuracy").value == pytest.approx(1 / 2)
    assert res.get("honeypot_accuracy").extra["n"] == 2
    assert res.get("accuracy").value == pytest.approx(3 / 4)
    no_flag, _ = ann_gold(pairs)
    r = quality(backend(no_flag), gold=backend(gold), metrics=["honeypot_accuracy"]).records[0]
    assert math.isnan(r.value) and "is_gold_check" in (r.note or "")


def test_week_and_day_dimensions(backend: Backend) -> None:
    ts = pa.array(["2024-01-01T10:00", "2024-01-07T23:00", "2024-01-08T01:00"]).cast(
        pa.timestamp("us")
    )
    ann, gold = ann_gold([("spam", "spam"), ("spam", "none"), ("spam", "spam")], submitted_at=ts)
    res = quality(backend(ann), gold=backend(gold), metrics=["accuracy"], by=["week"])
    # ISO weeks start on Monday: 2024-01-01 is a Monday, 2024-01-08 the next one
    assert res.values("accuracy") == {
        (("week", "2024-01-01"),): pytest.approx(0.5),
        (("week", "2024-01-08"),): 1.0,
    }
    days = quality(backend(ann), gold=backend(gold), metrics=["accuracy"], by=["day"])
    assert len(days.records) == 3


# --- audits ----------------------------------------------------------------------------


def test_audit_accuracy_unweighted(backend: Backend) -> None:
    ann = pa.table({"item_id": list("abcde"), "rater_id": ["x"] * 5, "label": ["spam"] * 5})
    audits = pa.table(
        {
            "item_id": list("abcde"),
            "rater_id": ["x"] * 5,
            "verdict": ["correct"] * 4 + ["incorrect"],
        }
    )
    r = quality(backend(ann), audits=backend(audits), metrics=["audit_accuracy"]).records[0]
    assert r.value == pytest.approx(0.8) and r.extra["n"] == 5
    assert (r.ci_low, r.ci_high) == pytest.approx(sm_wilson(4, 5), abs=1e-12)


def test_audit_accuracy_hajek_by_hand(backend: Backend) -> None:
    # Hájek: p = Σ y/π / Σ 1/π; V = Σ (1-π)/π² (y - p)² / (Σ 1/π)²  (Särndal et al. 1992)
    pi = np.array([0.5, 0.5, 0.1, 0.1, 1.0, 0.25])
    y = np.array([1, 0, 1, 1, 0, 1])
    ann = pa.table({"item_id": list("abcdef"), "rater_id": ["x"] * 6, "label": ["spam"] * 6})
    audits = pa.table(
        {
            "item_id": list("abcdef"),
            "rater_id": ["x"] * 6,
            "verdict": ["correct" if v else "incorrect" for v in y],
            "inclusion_prob": pi,
        }
    )
    r = quality(backend(ann), audits=backend(audits), metrics=["audit_accuracy"]).records[0]
    p = sum(yi / q for yi, q in zip(y, pi, strict=True)) / sum(1 / q for q in pi)
    var = sum((1 - q) / q**2 * (yi - p) ** 2 for yi, q in zip(y, pi, strict=True))
    var /= sum(1 / q for q in pi) ** 2
    assert r.value == pytest.approx(p, rel=1e-12)
    assert r.se == pytest.approx(math.sqrt(var), rel=1e-9)
    assert r.extra["unweighted"] == pytest.approx(4 / 6)
    assert r.ci_low < r.value < r.ci_high


def test_hajek_variance_matches_simulated_poisson_sampling() -> None:
    # population of 4000 audits with π depending on y: the unweighted share is biased,
    # the Hájek estimate is not, and its variance estimate matches the sampling variance
    rng = np.random.default_rng(11)
    y = (rng.random(4000) < 0.8).astype(float)
    pi = np.where(y == 1, 0.03, 0.12)
    est, var_hat = [], []
    for _ in range(1500):
        s = rng.random(4000) < pi
        w = 1 / pi[s]
        a = (1 - pi[s]) / pi[s] ** 2
        r = hajek_proportion(int(s.sum()), w.sum(), (w * y[s]).sum(), a.sum(), (a * y[s]).sum())
        est.append(r.value)
        var_hat.append(r.se**2)
    assert np.mean(est) == pytest.approx(y.mean(), abs=0.005)
    assert np.mean(var_hat) == pytest.approx(np.var(est), rel=0.15)


# --- per label ------------------------------------------------------------------------


def test_precision_recall_f1_vs_sklearn(backend: Backend) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    labels = ["none", "spam", "hate", "self_harm"]
    truth = rng.choice(labels, 300, p=[0.5, 0.2, 0.2, 0.1])
    noise = rng.random(300) < 0.3
    given = np.where(noise, rng.choice(labels, 300), truth)
    ann, gold = ann_gold(list(zip(truth.tolist(), given.tolist(), strict=True)))
    res = quality(
        backend(ann), gold=backend(gold), taxonomy=TAX, metrics=["precision", "recall", "f1"]
    )
    p, r, f, _ = sk.precision_recall_fscore_support(truth, given, labels=labels, zero_division=0)
    for i, lab in enumerate(labels):
        assert res.get("precision", label=lab).value == pytest.approx(p[i], abs=1e-12)
        assert res.get("recall", label=lab).value == pytest.approx(r[i], abs=1e-12)
        assert res.get("f1", label=lab).value == pytest.approx(f[i], abs=1e-12)
    (cm,) = res.confusion
    assert cm.labels == tuple(labels)
    np.testing.assert_array_equal(cm.counts, sk.confusion_matrix(truth, given, labels=labels))


def test_f1_interval_by_hand() -> None:
    # F1 = 2J/(1+J) with J = TP/(TP+FP+FN); the Wilson interval of J carried over
    tp, fp, fn = 30, 10, 5
    r = f1_interval(tp, fp, fn)
    assert r.value == pytest.approx(2 * tp / (2 * tp + fp + fn))
    lo, hi = sm_wilson(tp, tp + fp + fn)
    assert (r.ci_low, r.ci_high) == pytest.approx((2 * lo / (1 + lo), 2 * hi / (1 + hi)))


# --- moderation views -----------------------------------------------------------------

MODERATION = [
    ("spam", "none"),
    ("hate", "none"),
    ("hate", "hate"),
    ("hate", "spam"),
    ("self_harm", "self_harm"),
    ("self_harm", "none"),
    ("none", "spam"),
    ("none", "none"),
    ("none", "none"),
    ("spam", "spam"),
]


def test_moderation_rates_hand_computed(backend: Backend) -> None:
    ann, gold = ann_gold(MODERATION)
    ids = ["leakage", "over_enforcement", "wrong_policy", "critical_error"]
    res = quality(backend(ann), gold=backend(gold), taxonomy=TAX, metrics=ids)
    # leakage: violating truth = rows 0-5 and 9 (7); labelled benign: rows 0, 1, 5
    assert res.get("leakage").value == pytest.approx(3 / 7)
    # over-enforcement: benign truth = rows 6-8; labelled violating: row 6
    assert res.get("over_enforcement").value == pytest.approx(1 / 3)
    # wrong policy: both violating = rows 2, 3, 4, 9; wrong: row 3
    assert res.get("wrong_policy").value == pytest.approx(1 / 4)
    # critical (severity >= 4): rows 4, 5; wrong: row 5
    assert res.get("critical_error").value == pytest.approx(1 / 2)
    for m, (k, n) in zip(ids, [(3, 7), (1, 3), (1, 4), (1, 2)], strict=True):
        rec = res.get(m)
        assert (rec.ci_low, rec.ci_high) == pytest.approx(sm_wilson(k, n), abs=1e-12)
    no_benign = quality(backend(ann), gold=backend(gold), metrics=["leakage"]).records[0]
    assert math.isnan(no_benign.value) and "benign" in (no_benign.note or "")


def test_severity_weighted_error_by_hand(backend: Backend) -> None:
    ann, gold = ann_gold(MODERATION)
    r = quality(
        backend(ann), gold=backend(gold), taxonomy=TAX, metrics=["severity_weighted_error"]
    ).records[0]
    sev = {"none": 0, "spam": 1, "hate": 3, "self_harm": 4}
    s = np.array([sev[t] for t, _ in MODERATION], float)
    e = np.array([t != g for t, g in MODERATION], float)
    ratio = (s * e).sum() / s.sum()
    assert ratio == pytest.approx(11 / 19)
    assert r.value == pytest.approx(ratio)
    pos = s > 0
    n = pos.sum()
    var = n / (n - 1) * ((s[pos] * e[pos] - ratio * s[pos]) ** 2).sum() / s.sum() ** 2
    assert r.se == pytest.approx(math.sqrt(var))
    assert r.ci_low == pytest.approx(max(0, ratio - 1.959964 * math.sqrt(var)), abs=1e-6)


def test_severity_weighted_error_se_agrees_with_bootstrap() -> None:
    rng = np.random.default_rng(5)
    labels = ["none", "spam", "hate", "self_harm"]
    truth = rng.choice(labels, 2000)
    given = np.where(rng.random(2000) < 0.25, rng.choice(labels, 2000), truth)
    ann, gold = ann_gold(list(zip(truth.tolist(), given.tolist(), strict=True)))
    r = quality(ann, gold=gold, taxonomy=TAX, metrics=["severity_weighted_error"]).records[0]
    sev = {"none": 0.0, "spam": 1.0, "hate": 3.0, "self_harm": 4.0}
    s = np.array([sev[t] for t in truth])
    e = (truth != given).astype(float)
    boots = []
    for _ in range(2000):
        i = rng.integers(0, 2000, 2000)
        boots.append((s[i] * e[i]).sum() / s[i].sum())
    assert r.se == pytest.approx(np.std(boots), rel=0.1)


# --- errors, SQL, invariants ----------------------------------------------------------


def test_errors_are_usage_errors() -> None:
    ann, gold = ann_gold([("spam", "spam")])
    with pytest.raises(UsageError, match="unknown metric 'acc'"):
        quality(ann, gold=gold, metrics=["acc"])
    with pytest.raises(UsageError, match="unknown dimension 'vendor'"):
        quality(ann, gold=gold, by=["vendor"])
    with pytest.raises(UsageError, match="needs gold"):
        quality(ann, metrics=["accuracy"])
    with pytest.raises(UsageError, match="agreement metric"):
        quality(ann, gold=gold, metrics=["fleiss_kappa"])
    with pytest.raises(UsageError, match="submitted_at"):
        quality(ann, gold=gold, by=["week"])
    with pytest.raises(UsageError, match="dialect"):
        quality_sql("accuracy", ann, gold=gold, dialect="nosuch")


def test_sql_runs_in_duckdb_and_gives_the_same_counts() -> None:
    import duckdb

    ann, gold = ann_gold(MODERATION)
    con = duckdb.connect()
    con.register("annotations", ann)
    con.register("gold", gold)
    import ibis

    be = ibis.duckdb.from_connection(con)
    sql = quality_sql("leakage", be.table("annotations"), gold=be.table("gold"), taxonomy=TAX)
    n, k = con.execute(sql).fetchone()[:2]  # type: ignore[index]
    assert (n, k) == (7, 3)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["none", "spam", "hate", "self_harm"]),
            st.sampled_from(["none", "spam", "hate", "self_harm"]),
            st.sampled_from(["de", "fr"]),
        ),
        min_size=1,
        max_size=40,
    ),
    seed=st.integers(0, 10_000),
)
def test_permuting_rows_changes_nothing(rows: list[tuple[str, str, str]], seed: int) -> None:
    ann, gold = ann_gold([(t, g) for t, g, _ in rows], locale=[r[2] for r in rows])
    perm = np.random.default_rng(seed).permutation(len(rows))
    a = quality(ann, gold=gold, taxonomy=TAX, by=["locale"])
    b = quality(ann.take(perm), gold=gold.take(perm[::-1]), taxonomy=TAX, by=["locale"])
    assert [(r.metric, r.slice) for r in a.records] == [(r.metric, r.slice) for r in b.records]
    for x, y in zip(a.records, b.records, strict=True):
        assert x.value == pytest.approx(y.value, nan_ok=True)
        assert x.ci_high == pytest.approx(y.ci_high, nan_ok=True)
