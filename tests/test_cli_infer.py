"""`opsloop infer` and `opsloop relabel` through the installed entry point."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from opsloop.demo import generate_demo
from opsloop.engine import Workspace
from opsloop.inference import DawidSkene
from opsloop.io import ingest
from opsloop.schema import INGEST_ORDER
from tests.test_inference import accuracy, load_zheng

from .helpers import run_cli

run = partial(run_cli, ok=False)


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    data = generate_demo(root, scale="small", seed=7)
    ws = Workspace.init(root, data.config)
    try:
        for table in INGEST_ORDER:
            files = data.files.get(table)
            if files:
                ingest(ws, table, list(files))
    finally:
        ws.close()
    return root


def test_infer_on_zheng_duck_with_gold(data_dir: Path, tmp_path: Path) -> None:
    base = data_dir / "zheng2017" / "d_Duck_Identification"
    out = tmp_path / "labels.parquet"
    proc = run(
        "infer",
        str(base / "answer.csv"),
        "--method",
        "ds",
        "--gold",
        str(base / "truth.csv"),
        "--no-clamp",
        "--out",
        str(out),
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    ans, truth = load_zheng(data_dir, "d_Duck_Identification")
    expected = accuracy(DawidSkene().fit(ans).labels_, truth)
    assert data["n_gold"] == truth.num_rows == 108
    assert data["accuracy"] == pytest.approx(expected, abs=1e-9)
    assert data["accuracy_ci"][0] < data["accuracy"] < data["accuracy_ci"][1]
    assert len(data["raters"]) == 39 and "labels" not in data
    labels = pq.read_table(out)
    assert labels.num_rows == 108
    assert accuracy(labels, truth) == pytest.approx(expected, abs=1e-9)


def test_infer_and_relabel_on_the_demo_workspace(demo_ws: Path) -> None:
    proc = run("-w", str(demo_ws), "infer", "--method", "ds", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["n_gold"] > 0 and 0.5 < data["accuracy"] <= 1.0
    assert data["uses_predictions"] and data["model_version"]
    assert set(data["stored"]) == {
        "inferred_labels",
        "rater_reliability",
        "label_error_ranking",
        "label_error_annotations",
        "inference_summary",
    }
    assert any("single label" in n for n in data["notes"])
    ws = Workspace.open(demo_ws)
    try:
        con = ws.backend()
        assert con.table("inferred_labels").count().execute() == data["n_items"]
        assert con.table("rater_reliability").count().execute() == len(data["raters"])
    finally:
        ws.close()
    proc = run("-w", str(demo_ws), "relabel", "--top", "5", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["quality"] for r in rows] == sorted(r["quality"] for r in rows)
    assert rows[0]["item_id"] == data["relabel"][0]["item_id"]


def test_bad_input_gives_one_line_errors(tmp_path: Path) -> None:
    ann = tmp_path / "a.csv"
    ann.write_text("question,worker,answer\nq1,w1,x\nq1,w2,x\nq2,w1,x\nq2,w2,x\n")
    gold = tmp_path / "g.csv"
    gold.write_text("question,truth\nzz1,x\nzz2,x\n")
    proc = run("infer", str(ann), "--gold", str(gold))
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith("error: gold: none of the gold items")
        and "Traceback" not in proc.stderr
    )
    proc = run("infer", str(ann), "--labels", "y,z")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "'x'" in proc.stderr
    # a single class is a documented outcome, not an error
    proc = run("infer", str(ann), "--method", "ds", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert any("only one category" in n for n in data["notes"])
    assert [r["label"] for r in data["labels"]] == ["x", "x"]
