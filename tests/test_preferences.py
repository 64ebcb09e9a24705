"""Preference-bias findings (opsloop.preferences): position and length bias of judgements.

On the demo operation the planted biases (manifest) must be found, and what
is flagged must agree with DuckDB SQL over the generated Parquet files and
scipy's exact binomial test with statsmodels' Benjamini–Hochberg adjustment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from opsloop.demo import DemoData, generate_demo
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.findings import Finding
from opsloop.io import ingest
from opsloop.preferences import (
    LengthBiasEvidence,
    PositionBiasEvidence,
    RaterPositionBiasEvidence,
    preference_bias_findings,
    workspace_preference_findings,
)
from tests.helpers import make_workspace

ALPHA = 0.05


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    return generate_demo(tmp_path_factory.mktemp("demo") / "out", scale="small", seed=7)


@pytest.fixture(scope="module")
def ws(demo: DemoData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace.init(tmp_path_factory.mktemp("ws") / "ws", demo.config)
    ingest(w, "preferences", list(demo.files["preferences"]))
    yield w
    w.close()


@pytest.fixture(scope="module")
def con(demo: DemoData) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    paths = ", ".join(f"'{p.as_posix()}'" for p in demo.files["preferences"])
    c.execute(f"create view preferences as select * from read_parquet([{paths}])")
    return c


@pytest.fixture(scope="module")
def pref_findings(ws: Workspace) -> tuple[Finding, ...]:
    return preference_bias_findings(ws.table("preferences"))


def test_preference_biases_agree_with_sql(
    pref_findings: tuple[Finding, ...], con: duckdb.DuckDBPyConnection, demo: DemoData
) -> None:
    manifest = json.loads(demo.manifest_path.read_text(encoding="utf-8"))
    effects = {e["id"]: e for e in manifest["effects"]}
    by_id = {f.id: f for f in pref_findings}
    assert all(f.kind == "preference_bias" and f.unit == "bias_points" for f in pref_findings)
    pos_effect, len_effect = effects["preference_position_bias"], effects["preference_length_bias"]
    position = by_id["preference_bias:position"]
    assert position.kpi in pos_effect["kpi"] and position.where == pos_effect["where"]
    k, n = con.execute("""select sum((choice = shown_first)::int), count(*)
        from preferences where choice <> 'tie'""").fetchone() or (0, 0)
    assert isinstance(position.evidence, PositionBiasEvidence)
    assert position.evidence.first_shown_win_rate.value == pytest.approx(k / n)
    assert position.to_dict()["evidence"]["first_shown_win_rate"]["n"] == n
    assert position.score == pytest.approx(k / n - 0.5)
    assert position.p_value == pytest.approx(stats.binomtest(k, n, 0.5).pvalue, rel=1e-6)

    length = by_id["preference_bias:length"]
    assert length.kpi in len_effect["kpi"] and length.where == len_effect["where"]
    k, n = con.execute("""select sum(((choice = 'a') = (len_a > len_b))::int), count(*)
        from preferences where choice <> 'tie'
        and greatest(len_a, len_b) > 1.2 * least(len_a, len_b)""").fetchone() or (0, 0)
    assert isinstance(length.evidence, LengthBiasEvidence)
    assert length.evidence.longer_win_rate.value == pytest.approx(k / n)
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
    ev = finding.evidence
    assert isinstance(ev, RaterPositionBiasEvidence)
    assert set(finding.where["rater_id"].split("|")) == expected
    assert ev.flagged == len(expected) and ev.raters_tested == len(rows)
    top = max(rows, key=lambda r: r[1] / r[2])
    assert ev.raters[0].rater_id == top[0]
    assert finding.to_dict()["evidence"]["raters"][0]["rater_id"] == top[0]
    assert "retrain/reweight raters" in finding.action
    assert "randomise order is already in place" in finding.action


def test_workspace_findings(ws: Workspace, pref_findings: tuple[Finding, ...],
                            tmp_path: Path) -> None:  # fmt: skip
    assert [f.id for f in workspace_preference_findings(ws)] == [f.id for f in pref_findings]
    with make_workspace(tmp_path / "empty") as w:
        assert workspace_preference_findings(w) == ()


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


def test_missing_columns_are_usage_errors() -> None:
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
    prefs = _unbiased_preferences(5, n=600).to_pydict()
    prefs["choice"] = [
        f if c != "tie" else c for c, f in zip(prefs["choice"], prefs["shown_first"], strict=True)
    ]
    prefs_t = pa.table(prefs)
    remote_t = spark.create_table("prefs_bias", prefs_t.to_pandas(), overwrite=True)
    local = preference_bias_findings(prefs_t)
    assert {f.kpi for f in local} >= {"first_shown_win_rate"}
    assert [f.to_dict() for f in preference_bias_findings(remote_t)] == [
        f.to_dict() for f in local
    ]
