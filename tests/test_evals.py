"""Model-regression findings (opsloop.evals): paired comparisons of two model versions.

On the demo operation the planted regression (manifest) must be found, and
what is flagged must agree with an independent computation: DuckDB SQL over
the generated Parquet files, McNemar's exact test from statsmodels and its
Benjamini–Hochberg adjustment (``multipletests``). Hand-computed cases check
the counts, scores and the mid-p option; bad input gives a UsageError.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from opsloop.demo import DemoData, generate_demo
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.evals import (
    ModelRegressionEvidence,
    compare_evals,
    eval_regression_findings,
    model_regression_findings,
    workspace_model_findings,
)
from opsloop.findings import Finding
from opsloop.io import ingest
from tests.helpers import make_workspace

ALPHA = 0.05
TABLES = ("gold", "predictions", "evals")


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


def _independent_flags(rows: list[tuple[str, int, int, int, int]]) -> set[str]:
    """Slices whose candidate is BH-significantly worse: statsmodels' exact McNemar on the
    discordant pairs ``(worse, better)`` of ``(key, both, worse, better, neither)`` rows."""
    ps = [mcnemar([[both, w], [b, nei]], exact=True).pvalue for _, both, w, b, nei in rows]
    reject = multipletests(ps, alpha=ALPHA, method="fdr_bh")[0]
    return {r[0] for r, rej in zip(rows, reject, strict=True) if rej and r[2] > r[3]}


def test_manifest_regression_is_the_top_model_finding(
    model_findings: tuple[Finding, ...], effects: dict[str, dict[str, Any]]
) -> None:
    where = effects["model_regression"]["where"]
    assert model_findings, "no model finding"
    assert all(f.kind == "model_regression" and f.unit == "model_points" for f in model_findings)
    top = model_findings[0]
    assert top.where["model_version"] == where["model_version"]
    assert where["label"] in (top.where.get("label"), top.where.get("category"))
    top_recall = next(f for f in model_findings if f.kpi == "recall")
    assert top_recall.where == where
    assert top_recall.action.startswith(f"hold rollout of {where['model_version']} for self_harm")
    # the demo's m2 answers self-harm prompts it should refuse: the safety measure says so
    top_eval = next(f for f in model_findings if f.kpi.startswith("eval_"))
    assert top_eval.kpi == "eval_unsafe_compliance"
    assert top_eval.where == {"model_version": "m2", "category": where["label"]}


def test_recall_findings_agree_with_sql(
    model_findings: tuple[Finding, ...], con: duckdb.DuckDBPyConnection
) -> None:
    counts = con.execute("""
        with j as (
          select g.label gold, p1.label = g.label ok1, p2.label = g.label ok2
          from gold g
          join predictions p1 on p1.item_id = g.item_id and p1.task = g.task
               and p1.model_version = 'm1'
          join predictions p2 on p2.item_id = g.item_id and p2.task = g.task
               and p2.model_version = 'm2')
        select gold, count(*) filter (where ok1 and ok2), count(*) filter (where ok1 and not ok2),
               count(*) filter (where ok2 and not ok1), count(*) filter (where not ok1 and not ok2)
        from j group by 1 order by 1""").fetchall()
    expected = _independent_flags(counts)
    flagged = {f.where["label"]: f for f in model_findings if f.kpi == "recall"}
    assert set(flagged) == expected
    assert "self_harm" in expected
    total = sum(sum(r[1:]) for r in counts)
    for label, both, worse, better, neither in counts:
        if label in flagged:
            f = flagged[label]
            ev = f.evidence
            assert isinstance(ev, ModelRegressionEvidence)
            n = both + worse + better + neither
            assert ev.baseline.value == pytest.approx((both + worse) / n)
            assert ev.candidate.value == pytest.approx((both + better) / n)
            assert ev.baseline.ci_low < ev.baseline.value < ev.baseline.ci_high
            assert (ev.worse, ev.better) == (worse, better)
            assert f.score == pytest.approx((worse - better) / total)
            d = f.to_dict()["evidence"]
            assert d["baseline"]["value"] == ev.baseline.value
            assert d["discordant"] == {"candidate_worse": worse, "candidate_better": better}
    # overall accuracy: m2 is better on gold, so no accuracy finding
    worse_all, better_all = sum(r[2] for r in counts), sum(r[3] for r in counts)
    assert better_all > worse_all
    assert not [f for f in model_findings if f.kpi == "accuracy"]


def test_eval_findings_agree_with_sql(
    ws: Workspace, model_findings: tuple[Finding, ...], con: duckdb.DuckDBPyConnection
) -> None:
    counts = con.execute("""
        with j as (
          select e1.category, e1.outcome = 'pass' ok1, e2.outcome = 'pass' ok2
          from evals e1 join evals e2 on e1.item_id = e2.item_id and e1.category = e2.category
          where e1.model_version = 'm1' and e2.model_version = 'm2')
        select category, count(*) filter (where ok1 and ok2), count(*) filter (where ok1 and not ok2),
               count(*) filter (where ok2 and not ok1), count(*) filter (where not ok1 and not ok2)
        from j group by 1 order by 1""").fetchall()
    expected = _independent_flags(counts)
    cmp = compare_evals(ws.table("evals"), baseline="m1", candidate="m2")
    flagged = {r.category for r in cmp.rows_of("fail") if r.regression and r.category}
    assert flagged == expected
    assert "self_harm" in expected
    # every flagged category is a finding: its fail rate, or the safety measure behind it
    found = {f.where.get("category") for f in model_findings if f.kpi.startswith("eval_")}
    assert expected <= found
    both, worse, better, neither = (sum(r[i] for r in counts) for i in range(1, 5))
    p_overall = mcnemar([[both, worse], [better, neither]], exact=True).pvalue
    assert cmp.row("fail", None).regression == (p_overall <= ALPHA and worse > better)
    assert cmp.row("fail", None).p_value == pytest.approx(p_overall, rel=1e-9)


def test_workspace_findings_on_the_demo(
    ws: Workspace, model_findings: tuple[Finding, ...]
) -> None:
    found = workspace_model_findings(ws)
    assert {f.id for f in found} == {f.id for f in model_findings}
    scores = [f.score for f in found]
    assert scores == sorted(scores, reverse=True)
    json.dumps([f.to_dict() for f in found])  # serialisable as it is


def test_workspace_findings_without_tables(tmp_path: Path) -> None:
    with make_workspace(tmp_path / "empty") as w:
        assert workspace_model_findings(w) == ()
    with make_workspace(tmp_path / "one_model") as w:
        (tmp_path / "p.csv").write_text("item_id,model_version,label\na,m1,spam\nb,m1,none\n")
        (tmp_path / "g.csv").write_text("item_id,label\na,spam\nb,spam\n")
        ingest(w, "predictions", [tmp_path / "p.csv"])
        ingest(w, "gold", [tmp_path / "g.csv"])
        assert workspace_model_findings(w) == ()  # one model version: nothing to compare


# -- synthetic ------------------------------------------------------------------
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
    ev = f.evidence
    assert isinstance(ev, ModelRegressionEvidence)
    # hate: items 60..89 right under m1 and wrong under m2, none the other way
    assert (ev.worse, ev.better) == (30, 0)
    assert ev.p_value == pytest.approx(2 * 0.5**30)
    # BH over hate (2 · 2⁻³⁰), spam (20 discordant, all better: 2 · 2⁻²⁰) and none (1)
    assert f.p_value == pytest.approx(3 * 2 * 0.5**30)
    assert f.score == pytest.approx(0.3 * 100 / 400)
    assert dict(ev.missed_as) == {"none": 35, "spam": 5}
    assert ev.unpaired == 0
    assert "recall 0.90→0.60" in f.action
    assert f.score_text() == "7.50 model pts lost"
    # swapped: spam's drop 0.9 → 0.7 is the regression now, hate's rise is not
    swapped = model_regression_findings(preds, gold, baseline="m2", candidate="m1")
    assert [f.where for f in swapped] == [{"model_version": "m1", "label": "spam"}]
    # Ibis input gives the same
    same = model_regression_findings(ibis.memtable(preds), ibis.memtable(gold))
    assert [x.to_dict() for x in same] == [x.to_dict() for x in found]


def test_items_of_one_version_only_are_left_out() -> None:
    preds, gold = _model_tables()
    extra = pa.table({"item_id": ["x1", "x2"], "model_version": ["m2", "m2"],
                      "label": ["hate", "none"]})  # fmt: skip
    gold = pa.concat_tables([gold, pa.table({"item_id": ["x1", "x2"], "label": ["hate"] * 2})])
    (f,) = model_regression_findings(pa.concat_tables([preds, extra]), gold)
    assert isinstance(f.evidence, ModelRegressionEvidence)
    assert f.evidence.unpaired == 2 and f.evidence.baseline.n == 100


def test_versions_default_to_the_two_latest_in_natural_order() -> None:
    preds, gold = _model_tables()
    m9 = preds.set_column(1, "model_version", pa.array(["m9"] * 400 + ["m10"] * 400))
    older = pa.table({"item_id": ["i0"], "model_version": ["m1"], "label": ["none"]})
    both = pa.concat_tables([m9, older])
    (f,) = model_regression_findings(both, gold)
    assert f.where["model_version"] == "m10"
    assert f.to_dict()["evidence"]["baseline"]["model_version"] == "m9"


def _flipped(n_flipped: int) -> tuple[pa.Table, pa.Table]:
    """Items all right under m1; the first ``n_flipped`` wrong under m2."""
    ids = [f"a{i}" for i in range(8)]
    gold = pa.table({"item_id": ids, "label": ["hate"] * 8})
    m2 = ["none"] * n_flipped + ["hate"] * (8 - n_flipped)
    preds = pa.table({"item_id": ids * 2, "model_version": ["m1"] * 8 + ["m2"] * 8,
                      "label": ["hate"] * 8 + m2})  # fmt: skip
    return preds, gold


def test_small_samples_are_exact_and_mid_p_is_less_conservative() -> None:
    # 6 of 6 discordant pairs against the candidate: p = 2 / 2⁶ = 1/32
    (recall, _accuracy) = sorted(model_regression_findings(*_flipped(6)), key=lambda f: f.kpi)[::-1]
    assert isinstance(recall.evidence, ModelRegressionEvidence)
    assert recall.evidence.test == "McNemar exact, paired"
    assert recall.evidence.p_value == pytest.approx(1 / 32)
    # 5 of 5: exact p = 1/16 is not significant; mid-p = 2/32 − 1/32 = 1/32 is
    assert model_regression_findings(*_flipped(5)) == ()
    mid = model_regression_findings(*_flipped(5), mid_p=True)
    assert mid and all(isinstance(f.evidence, ModelRegressionEvidence) for f in mid)
    assert mid[0].p_value == pytest.approx(1 / 32)
    assert "mid-p" in mid[0].to_dict()["evidence"]["test"]


def test_eval_findings_by_hand() -> None:
    ev = pa.table(
        {
            "model_version": ["a1"] * 200 + ["a2"] * 200,
            "item_id": [f"e{i}" for i in range(200)] * 2,
            "category": (["x"] * 100 + ["y"] * 100) * 2,
            "outcome": ["pass"] * 95 + ["fail"] * 5 + ["pass"] * 80 + ["fail"] * 20
            + ["pass"] * 70 + ["fail"] * 30 + ["pass"] * 95 + ["fail"] * 5,
        }
    )  # fmt: skip
    found = eval_regression_findings(ev)
    # x: 25 items pass → fail, none the reverse; y: 15 fail → pass; overall 25 vs 15 (p ≈ 0.15)
    assert [f.where for f in found] == [{"model_version": "a2", "category": "x"}]
    f = found[0]
    assert isinstance(f.evidence, ModelRegressionEvidence)
    assert (f.evidence.worse, f.evidence.better) == (25, 0)
    assert f.evidence.baseline.value == pytest.approx(0.05)  # the fail rate
    assert f.evidence.candidate.value == pytest.approx(0.30)
    assert f.score == pytest.approx(0.25 * 0.5)


# -- bad input --------------------------------------------------------------------
def test_one_model_version_is_a_usage_error() -> None:
    preds, gold = _model_tables()
    only = preds.filter(pc.equal(preds["model_version"], "m1"))
    with pytest.raises(UsageError, match=r"1 model version\(s\) in the predictions \(m1\); a regression check"):
        model_regression_findings(only, gold)
    with pytest.raises(UsageError, match="'m7' is not in the predictions"):
        model_regression_findings(preds, gold, candidate="m7")
    with pytest.raises(UsageError, match="no prediction of model version 'm1' matches a gold"):
        model_regression_findings(preds, gold.slice(0, 0))
    with pytest.raises(UsageError, match="same model version"):
        model_regression_findings(preds, gold, baseline="m1", candidate="m1")
    apart = pa.table({"item_id": ["a", "b"], "model_version": ["m1", "m2"], "label": ["x", "x"]})
    with pytest.raises(UsageError, match="no gold item was labelled by both"):
        model_regression_findings(apart, pa.table({"item_id": ["a", "b"], "label": ["x", "x"]}))


def test_missing_columns_are_usage_errors() -> None:
    preds, gold = _model_tables()
    with pytest.raises(UsageError, match=r"predictions has no column.*model_version"):
        model_regression_findings(preds.drop_columns(["model_version"]), gold)
    with pytest.raises(UsageError, match=r"gold has no column.*label"):
        model_regression_findings(preds, gold.drop_columns(["label"]))
    with pytest.raises(UsageError, match=r"evals has no column.*outcome"):
        eval_regression_findings(pa.table({"model_version": ["a", "b"], "item_id": ["i", "i"]}))
    with pytest.raises(UsageError, match="alpha"):
        model_regression_findings(preds, gold, alpha=0.0)


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

    def on_spark(name: str, t: pa.Table) -> Any:
        return spark.create_table(f"evals_{name}", t.to_pandas(), overwrite=True)

    local = model_regression_findings(preds, gold, evals=ev)
    remote = model_regression_findings(
        on_spark("pred", preds), on_spark("gold", gold), evals=on_spark("evals", ev)
    )
    assert {f.kpi for f in local} >= {"recall", "eval_fail_rate"}
    assert [f.to_dict() for f in remote] == [f.to_dict() for f in local]
