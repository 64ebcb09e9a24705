"""The demo's planted effects, seen through models trained on its labels.

The demo's items carry text drawn from each policy's vocabulary (``opsloop.demo._text``),
so a model can learn the labels from it. Label errors then cost the model recall: the
planted guideline confusion turns harassment into hate (and back) in one locale while
guideline v2.1 is in force, and a model trained on the raters' majority vote recalls
harassment worse than one trained on the (fewer) gold labels. Leave-group-out policies
on the demo workspace drop exactly the annotations of the group they name, checked
against DuckDB counts over the generated files.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from opsloop.demo import DemoData, generate_demo
from opsloop.engine import Workspace
from opsloop.impact import policy_labels, prepare_experiment, run_experiment
from opsloop.impact._workspace import workspace_experiment_data
from opsloop.io import ingest


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    return generate_demo(tmp_path_factory.mktemp("impact-demo") / "out", scale="small", seed=7)


def _query(demo: DemoData, sql: str) -> Any:
    con = duckdb.connect()
    for table, paths in demo.files.items():
        files = ", ".join(f"'{p.as_posix()}'" for p in paths)
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{files}])")
    return con.execute(sql)


def test_majority_vote_costs_recall_on_the_confused_label(demo: DemoData) -> None:
    ann = _query(demo, "SELECT item_id, rater_id, label FROM annotations ORDER BY submitted_at")
    items = _query(demo, "SELECT item_id, text FROM items")
    gold = _query(demo, "SELECT item_id, label FROM gold")
    data = prepare_experiment(
        ann.arrow().read_all(),
        items.arrow().read_all(),
        gold=gold.arrow().read_all(),
        categories=demo.config.taxonomy.labels,
        benign=demo.config.taxonomy.benign,
    )
    result = run_experiment(data, ["majority", "gold"], seeds=1, n_boot=1000)
    majority, gold_model = result.get("majority"), result.get("gold")
    assert gold_model.n_train_items < majority.n_train_items / 5
    assert majority.recall["harassment"].value < gold_model.recall["harassment"].value
    # measured (seed 7 demo, seed 0 split): recall 0.769 against 0.818, difference +0.049,
    # 95% interval (+0.023, +0.077)
    assert gold_model.comparison is not None
    assert gold_model.comparison.recall["harassment"].low > 0


@pytest.fixture(scope="module")
def workspace(demo: DemoData, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.init(tmp_path_factory.mktemp("impact-demo-ws") / "ws", demo.config)
    for table in ("items", "raters", "annotations", "gold"):
        ingest(ws, table, list(demo.files[table]))
    return ws


@pytest.mark.parametrize(
    ("spec", "left_out"),
    [
        ("without:guideline_version=v2.1", "a.guideline_version = 'v2.1'"),
        ("without:vendor=Kestrel CX", "r.vendor = 'Kestrel CX'"),
        ("without:tenure=0-29 days", "epoch(a.submitted_at) - epoch(r.hired_at) < 30 * 86400"),
        ("without:hire_week=2025-W10", "strftime(r.hired_at, '%G-W%V') = '2025-W10'"),
    ],
)
def test_leave_group_out_drops_exactly_the_groups_annotations(
    demo: DemoData, workspace: Workspace, spec: str, left_out: str
) -> None:
    data = workspace_experiment_data(workspace, groups=[spec.split(":")[1].split("=")[0]])
    ts = policy_labels(data, spec)
    kept, cost = _query(
        demo,
        "SELECT count(*), sum(unit_cost_usd) FROM annotations a JOIN raters r USING (rater_id) "
        f"WHERE NOT ({left_out})",
    ).fetchone()
    assert 0 < kept < data.n_annotations
    assert ts.n_labels == kept
    assert ts.cost == pytest.approx(cost)
