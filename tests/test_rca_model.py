"""Model-regression and preference-bias findings.

On the demo operation the planted effects (manifest) must be found, and what
is flagged must agree with an independent computation: DuckDB SQL over the
generated Parquet files, with the tests from statsmodels / scipy and their
Benjamini–Hochberg adjustment. The statistical helpers are checked on
hand-computed cases and against the same peers; bad input gives a UsageError.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from opsloop.demo import DemoData, generate_demo
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.io import ingest
from opsloop.rca._findings import Finding
from opsloop.rca._model_checks import (
    bh_adjust,
    binomial_test_half,
    data_loop_findings,
    eval_regression_findings,
    model_regression_findings,
    two_proportion_test,
)
from opsloop.rca._preference_checks import preference_bias_findings
from tests.helpers import make_workspace

ALPHA = 0.05
TABLES = ("gold", "predictions", "preferences", "evals")


# -- the demo -----------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    return generate_demo(tmp_path_factory.mktemp("demo") / "out", scale="small", seed=7)


@pytest.fixture(scope="module")
def ws(demo: DemoData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace.init(tmp_path_factory.mktemp("ws") / "ws", demo.config)
    for table in TABLES:
        ingest(w, table, list(demo.files[table]))
    yield w
    w.close()


@pytest.fixture(scope="module")
def effects(demo: DemoData) -> dict[str, dict[str, Any]]:
    manifest = json.loads(demo.manifest_path.read_text(encoding="utf-8"))
    return {e["id"]: e for e in manifest["effects"]}


@pytest.fixture(scope="module")
def con(demo: DemoData) -> duckdb.DuckDBPyConnection:
    """Views over the generated Parquet files (not the workspace)."""
    c = duckdb.connect()
    for table in TABLES:
        paths = ", ".join(f"'{p.as_posix()}'" for p in demo.files[table])
        c.execute(f"create view {table} as select * from read_parquet([{paths}])")
    return c


@pytest.fixture(scope="module")
def model_findings(ws: Workspace) -> tuple[Finding, ...]:
    return model_regression_findings(
        ws.table("predictions"), ws.table("gold"), evals=ws.table("evals")
    )


@pytest.fixture(scope="module")
def pref_findings(ws: Workspace) -> tuple[Finding, ...]:
    return preference_bias_findings(ws.table("preferences"))


def _independent_flags(
    rows: list[tuple[str, int, int, int, int]], higher_is_better: bool
) -> set[str]:
    """Slices with BH-significant worse candidate: statsmodels z-test + multipletests."""
    ps = [
        float(proportions_ztest([k1, k2], [n1, n2])[1]) for _, k1, n1, k2, n2 in rows
    ]  # pooled z, two-sided
    reject = multipletests(ps, alpha=ALPHA, method="fdr_bh")[0]
    worse = [(k2 / n2 < k1 / n1) == higher_is_better for _, k1, n1, k2, n2 in rows]
    return {r[0] for r, rej, w in zip(rows, reject, worse, strict=True) if rej and w}


def test_manifest_regression_is_the_top_model_finding(
    model_findings: tuple[Finding, ...], effects: dict[str, dict[str, Any]]
) -> None:
    where = effects["model_regression"]["where"]
    assert model_findings, "no model finding"
    assert all(f.kind == "model_regression" for f in model_findings)
    top = model_findings[0]
    assert top.where["model_version"] == where["model_version"]
    assert where["label"] in (top.where.get("label"), top.where.get("category"))
    top_recall = next(f for f in model_findings if f.kpi == "recall")
    assert top_recall.where == where
    assert top_recall.action.startswith(f"hold rollout of {where['model_version']} for self_harm")
    top_eval = next(f for f in model_findings if f.kpi == "eval_fail_rate")
    assert top_eval.where == {"model_version": "m2", "category": where["label"]}


def test_recall_findings_agree_with_sql(
    model_findings: tuple[Finding, ...], con: duckdb.DuckDBPyConnection
) -> None:
    counts = con.execute("""
        select g.label,
          sum((p.label = g.label)::int) filter (where model_version = 'm1'),
          count(*) filter (where model_version = 'm1'),
          sum((p.label = g.label)::int) filter (where model_version = 'm2'),
          count(*) filter (where model_version = 'm2')
        from predictions p join gold g using (item_id, task) group by 1 order by 1""").fetchall()
    expected = _independent_flags(counts, higher_is_better=True)
    flagged = {f.where["label"]: f for f in model_findings if f.kpi == "recall"}
    assert set(flagged) == expected
    assert "self_harm" in expected
    n_m2 = sum(r[4] for r in counts)
    for label, k1, n1, k2, n2 in counts:
        if label in flagged:
            ev = flagged[label].evidence
            assert ev["baseline"]["value"] == pytest.approx(k1 / n1)
            assert ev["candidate"]["value"] == pytest.approx(k2 / n2)
            assert ev["baseline"]["ci_low"] < k1 / n1 < ev["baseline"]["ci_high"]
            assert flagged[label].score == pytest.approx((k1 / n1 - k2 / n2) * n2 / n_m2)
    # overall accuracy: m2 is better on gold, so no accuracy finding
    acc = dict(
        con.execute("""select model_version, avg((p.label = g.label)::int)
        from predictions p join gold g using (item_id, task) group by 1""").fetchall()
    )
    assert acc["m2"] > acc["m1"]
    assert not [f for f in model_findings if f.kpi == "accuracy"]


def test_eval_findings_agree_with_sql(
    model_findings: tuple[Finding, ...], con: duckdb.DuckDBPyConnection
) -> None:
    counts = con.execute("""
        select category,
          sum((outcome = 'fail')::int) filter (where model_version = 'm1'),
          count(*) filter (where model_version = 'm1'),
          sum((outcome = 'fail')::int) filter (where model_version = 'm2'),
          count(*) filter (where model_version = 'm2')
        from evals group by 1 order by 1""").fetchall()
    expected = _independent_flags(counts, higher_is_better=False)
    flagged = {
        f.where["category"]: f
        for f in model_findings
        if f.kpi == "eval_fail_rate" and "category" in f.where
    }
    assert set(flagged) == expected
    assert "self_harm" in expected
    k1, n1, k2, n2 = (sum(r[i] for r in counts) for i in range(1, 5))
    p_overall = float(proportions_ztest([k1, k2], [n1, n2])[1])
    has_overall = any(
        f.kpi == "eval_fail_rate" and "category" not in f.where for f in model_findings
    )
    assert has_overall == (p_overall <= ALPHA and k2 / n2 > k1 / n1)


def test_preference_biases_agree_with_sql(
    pref_findings: tuple[Finding, ...],
    con: duckdb.DuckDBPyConnection,
    effects: dict[str, dict[str, Any]],
) -> None:
    by_id = {f.id: f for f in pref_findings}
    pos_effect, len_effect = effects["preference_position_bias"], effects["preference_length_bias"]
    position = by_id["preference_bias:position"]
    assert position.kpi in pos_effect["kpi"] and position.where == pos_effect["where"]
    k, n = con.execute("""select sum((choice = shown_first)::int), count(*)
        from preferences where choice <> 'tie'""").fetchone() or (0, 0)
    assert position.evidence["first_shown_win_rate"]["value"] == pytest.approx(k / n)
    assert position.score == pytest.approx(k / n - 0.5)
    assert position.p_value == pytest.approx(stats.binomtest(k, n, 0.5).pvalue, rel=1e-6)

    length = by_id["preference_bias:length"]
    assert length.kpi in len_effect["kpi"] and length.where == len_effect["where"]
    k, n = con.execute("""select sum(((choice = 'a') = (len_a > len_b))::int), count(*)
        from preferences where choice <> 'tie'
        and greatest(len_a, len_b) > 1.2 * least(len_a, len_b)""").fetchone() or (0, 0)
    assert length.evidence["longer_win_rate"]["value"] == pytest.approx(k / n)
    assert length.score == pytest.approx(k / n - 0.5)


def test_rater_position_bias_agrees_with_scipy(
    pref_findings: tuple[Finding, ...], con: duckdb.DuckDBPyConnection
) -> None:
    rows = con.execute("""select rater_id, sum((choice = shown_first)::int), count(*)
        from preferences where choice <> 'tie' group by 1 order by 1""").fetchall()
    ps = [stats.binomtest(k, n, 0.5).pvalue for _, k, n in rows]
    reject = multipletests(ps, alpha=ALPHA, method="fdr_bh")[0]
    expected = {r[0] for r, rej in zip(rows, reject, strict=True) if rej}
    finding = next(f for f in pref_findings if f.id == "preference_bias:position_by_rater")
    assert set(finding.where["rater_id"].split("|")) == expected
    assert finding.evidence["flagged"] == len(expected)
    assert finding.evidence["raters_tested"] == len(rows)
    top = max(rows, key=lambda r: r[1] / r[2])
    assert finding.evidence["raters"][0]["rater_id"] == top[0]
    assert "retrain/reweight raters" in finding.action
    assert "randomise order is already in place" in finding.action


def test_data_loop_findings_on_the_demo(
    ws: Workspace, model_findings: tuple[Finding, ...], pref_findings: tuple[Finding, ...]
) -> None:
    found = data_loop_findings(ws)
    assert {f.id for f in found} == {f.id for f in model_findings + pref_findings}
    scores = [f.score for f in found]
    assert scores == sorted(scores, reverse=True)
    json.dumps([f.to_dict() for f in found])  # serialisable as it is


def test_data_loop_findings_without_tables(tmp_path: Path) -> None:
    with make_workspace(tmp_path / "empty") as w:
        assert data_loop_findings(w) == ()
    with make_workspace(tmp_path / "one_model") as w:
        (tmp_path / "p.csv").write_text("item_id,model_version,label\na,m1,spam\nb,m1,none\n")
        (tmp_path / "g.csv").write_text("item_id,label\na,spam\nb,spam\n")
        ingest(w, "predictions", [tmp_path / "p.csv"])
        ingest(w, "gold", [tmp_path / "g.csv"])
        assert data_loop_findings(w) == ()  # one model version: nothing to compare


# -- synthetic ------------------------------------------------------------------
def _unbiased_preferences(seed: int, n: int = 4000, raters: int = 40) -> pa.Table:
    rng = np.random.default_rng(seed)
    len_a, len_b = rng.integers(20, 400, n), rng.integers(20, 400, n)
    choice = rng.choice(["a", "b", "tie"], n, p=[0.45, 0.45, 0.10])
    return pa.table(
        {
            "pair_id": [f"p{i}" for i in range(n)],
            "rater_id": [f"r{i}" for i in rng.integers(0, raters, n)],
            "choice": choice,
            "shown_first": rng.choice(["a", "b"], n),
            "response_a": ["x" * int(v) for v in len_a],
            "response_b": ["x" * int(v) for v in len_b],
        }
    )


def test_no_bias_gives_no_finding() -> None:
    prefs = _unbiased_preferences(11)
    assert preference_bias_findings(prefs) == ()
    assert preference_bias_findings(ibis.memtable(prefs)) == ()


def test_binomial_test_is_calibrated_under_the_null() -> None:
    rng = np.random.default_rng(3)
    ks = rng.binomial(200, 0.5, 4000)
    rejected = np.mean([binomial_test_half(int(k), 200) <= ALPHA for k in ks])
    assert rejected <= ALPHA + 0.01  # the exact test is conservative


def test_planted_bias_is_found_on_synthetic_data() -> None:
    prefs = _unbiased_preferences(5).to_pydict()
    rng = np.random.default_rng(5)
    # rater r0 picks the first-shown response 80% of the time
    for i, rater in enumerate(prefs["rater_id"]):
        if rater == "r0" and prefs["choice"][i] != "tie":
            first = prefs["shown_first"][i]
            prefs["choice"][i] = first if rng.random() < 0.8 else ({"a": "b", "b": "a"}[first])
    found = {f.id: f for f in preference_bias_findings(pa.table(prefs))}
    assert found["preference_bias:position_by_rater"].where == {"rater_id": "r0"}
    assert "preference_bias:length" not in found


def _model_tables() -> tuple[pa.Table, pa.Table]:
    """m1 → m2: 'hate' recall 0.9 → 0.6 (n 100), 'spam' 0.7 → 0.9 (n 100), 'none' equal."""
    gold_labels = ["hate"] * 100 + ["spam"] * 100 + ["none"] * 200
    ids = [f"i{i}" for i in range(400)]
    m1 = ["hate"] * 90 + ["none"] * 10 + ["spam"] * 70 + ["none"] * 30 + ["none"] * 200
    m2 = ["hate"] * 60 + ["none"] * 35 + ["spam"] * 5 + ["spam"] * 90 + ["none"] * 10
    m2 += ["none"] * 200
    preds = pa.table(
        {"item_id": ids * 2, "model_version": ["m1"] * 400 + ["m2"] * 400, "label": m1 + m2}
    )
    return preds, pa.table({"item_id": ids, "label": gold_labels})


def test_model_regression_by_hand() -> None:
    preds, gold = _model_tables()
    found = model_regression_findings(preds, gold)
    assert [f.id for f in found] == ["model_regression:m2:recall:hate"]  # spam improved
    f = found[0]
    p, _ = two_proportion_test(90, 100, 60, 100)
    assert f.evidence["p_value"] == pytest.approx(p)
    assert f.p_value == pytest.approx(min(1.0, 3 * p))  # the smallest of three p-values
    assert f.score == pytest.approx(0.3 * 100 / 400)
    assert f.evidence["missed_as"] == {"none": 35, "spam": 5}
    assert "recall 0.90→0.60" in f.action
    # swapped: spam's drop 0.9 → 0.7 is the regression now, hate's rise is not
    swapped = model_regression_findings(preds, gold, baseline="m2", candidate="m1")
    assert [f.where for f in swapped] == [{"model_version": "m1", "label": "spam"}]
    # Ibis input gives the same
    same = model_regression_findings(ibis.memtable(preds), ibis.memtable(gold))
    assert [x.to_dict() for x in same] == [x.to_dict() for x in found]


def test_versions_default_to_the_two_latest_in_natural_order() -> None:
    preds, gold = _model_tables()
    m9 = preds.set_column(1, "model_version", pa.array(["m9"] * 400 + ["m10"] * 400))
    older = pa.table({"item_id": ["i0"], "model_version": ["m1"], "label": ["none"]})
    both = pa.concat_tables([m9, older])
    (f,) = model_regression_findings(both, gold)
    assert f.where["model_version"] == "m10"
    assert f.evidence["baseline"]["model_version"] == "m9"


def test_small_samples_use_fisher() -> None:
    gold = pa.table({"item_id": ["a", "b", "c", "d"], "label": ["hate"] * 4})
    preds = pa.table(
        {
            "item_id": ["a", "b", "c", "d"] * 2,
            "model_version": ["m1"] * 4 + ["m2"] * 4,
            "label": ["hate"] * 4 + ["none"] * 4,
        }
    )
    # 4/4 vs 0/4: Fisher p = 2 / C(8, 4) = 1/35 — significant at 0.05
    (recall, _accuracy) = sorted(model_regression_findings(preds, gold), key=lambda f: f.kpi)[::-1]
    assert recall.evidence["test"] == "Fisher exact"
    assert recall.evidence["p_value"] == pytest.approx(1 / 35)


def test_eval_findings_by_hand() -> None:
    ev = pa.table(
        {
            "model_version": ["a1"] * 200 + ["a2"] * 200,
            "item_id": [f"e{i}" for i in range(200)] * 2,
            "category": (["x"] * 100 + ["y"] * 100) * 2,
            "outcome": ["pass"] * 95
            + ["fail"] * 5
            + ["pass"] * 80
            + ["fail"] * 20
            + ["pass"] * 70
            + ["fail"] * 30
            + ["pass"] * 95
            + ["fail"] * 5,
        }
    )
    found = eval_regression_findings(ev)
    assert [f.where for f in found] == [{"model_version": "a2", "category": "x"}]
    assert found[0].score == pytest.approx(0.25 * 0.5)


# -- the statistical helpers against hand values and peers ----------------------
def test_binomial_test_by_hand_and_scipy() -> None:
    assert binomial_test_half(9, 10) == pytest.approx(2 * 11 / 1024)
    assert binomial_test_half(0, 5) == pytest.approx(2 / 32)
    assert binomial_test_half(5, 10) == 1.0
    assert binomial_test_half(0, 0) == 1.0
    for k, n in [(9, 10), (60, 100), (4092, 6310), (3, 7), (0, 1), (1, 1), (510, 1000)]:
        assert binomial_test_half(k, n) == pytest.approx(
            stats.binomtest(k, n, 0.5).pvalue, rel=1e-9
        )


def test_two_proportion_test_by_hand_and_statsmodels() -> None:
    p, how = two_proportion_test(60, 100, 40, 100)
    assert how == "two-proportion z"
    assert p == pytest.approx(math.erfc(0.2 / math.sqrt(0.25 * 0.02) / math.sqrt(2)))
    for k1, n1, k2, n2 in [(60, 100, 40, 100), (229, 265, 141, 265), (30, 200, 18, 150)]:
        ref = proportions_ztest([k1, k2], [n1, n2])[1]
        assert two_proportion_test(k1, n1, k2, n2)[0] == pytest.approx(ref, rel=1e-9)


def test_fisher_branch_matches_scipy() -> None:
    assert two_proportion_test(3, 3, 0, 3) == (pytest.approx(0.1), "Fisher exact")
    rng = np.random.default_rng(1)
    for _ in range(40):
        n1, n2 = (int(x) for x in rng.integers(1, 15, 2))
        k1, k2 = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n2 + 1))
        p, how = two_proportion_test(k1, n1, k2, n2)
        if how == "Fisher exact":
            ref = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
            assert p == pytest.approx(ref, rel=1e-6), (k1, n1, k2, n2)


def test_bh_matches_statsmodels() -> None:
    rng = np.random.default_rng(4)
    ps = list(rng.random(30) ** 3)
    ref = multipletests(ps, method="fdr_bh")[1]
    assert bh_adjust(ps) == pytest.approx(list(ref), rel=1e-12)
    assert bh_adjust([]) == []


# -- bad input --------------------------------------------------------------------
def test_one_model_version_is_a_usage_error() -> None:
    preds, gold = _model_tables()
    only = preds.filter(pc.equal(preds["model_version"], "m1"))
    with pytest.raises(UsageError, match=r"1 model version\(s\) \(m1\); a regression check"):
        model_regression_findings(only, gold)
    with pytest.raises(UsageError, match="'m7' is not in the predictions"):
        model_regression_findings(preds, gold, candidate="m7")
    with pytest.raises(UsageError, match="no prediction of model version 'm1' matches a gold"):
        model_regression_findings(preds, gold.slice(0, 0))
    with pytest.raises(UsageError, match="same model version"):
        model_regression_findings(preds, gold, baseline="m1", candidate="m1")


def test_missing_columns_are_usage_errors() -> None:
    preds, gold = _model_tables()
    with pytest.raises(UsageError, match=r"predictions has no column.*model_version"):
        model_regression_findings(preds.drop_columns(["model_version"]), gold)
    with pytest.raises(UsageError, match=r"gold has no column.*label"):
        model_regression_findings(preds, gold.drop_columns(["label"]))
    with pytest.raises(UsageError, match=r"evals has no column.*outcome"):
        eval_regression_findings(pa.table({"model_version": ["a", "b"]}))
    with pytest.raises(UsageError, match="preferences need shown_first"):
        preference_bias_findings(pa.table({"pair_id": ["p"], "rater_id": ["r"], "choice": ["a"]}))
    with pytest.raises(UsageError, match=r"preferences has no column.*choice"):
        preference_bias_findings(pa.table({"pair_id": ["p"], "shown_first": ["a"]}))
    with pytest.raises(UsageError, match="alpha"):
        preference_bias_findings(_unbiased_preferences(1, n=10), alpha=1.5)
    with pytest.raises(UsageError, match="pyarrow or Ibis"):
        preference_bias_findings([{"choice": "a"}])


def test_unbiased_data_rarely_gives_a_finding() -> None:
    """Three tests at α = 0.05 (overall position, length, raters under BH): ≈ 14% of seeds."""
    hits = sum(bool(preference_bias_findings(_unbiased_preferences(s, n=1500))) for s in range(40))
    assert hits <= 10


@pytest.mark.spark
@pytest.mark.slow
def test_spark_gives_the_same_findings(spark: Any) -> None:
    preds, gold = _model_tables()
    ev = pa.table(
        {
            "model_version": ["m1"] * 100 + ["m2"] * 100,
            "item_id": [f"e{i}" for i in range(100)] * 2,
            "category": ["self_harm", "spam"] * 100,
            "outcome": ["pass"] * 95 + ["fail"] * 5 + ["fail", "pass"] * 20 + ["pass"] * 60,
        }
    )
    prefs = _unbiased_preferences(5, n=600).to_pydict()
    prefs["choice"] = [
        f if c != "tie" else c for c, f in zip(prefs["choice"], prefs["shown_first"], strict=True)
    ]
    prefs_t = pa.table(prefs)

    def on_spark(name: str, t: pa.Table) -> Any:
        return spark.create_table(f"rca_{name}", t.to_pandas(), overwrite=True)

    local = model_regression_findings(preds, gold, evals=ev) + preference_bias_findings(prefs_t)
    remote = model_regression_findings(
        on_spark("pred", preds), on_spark("gold", gold), evals=on_spark("evals", ev)
    ) + preference_bias_findings(on_spark("prefs", prefs_t))
    assert {f.kpi for f in local} >= {"recall", "eval_fail_rate", "first_shown_win_rate"}
    assert [f.to_dict() for f in remote] == [f.to_dict() for f in local]
