"""`opsloop impact` through the real entry point: output, stored runs, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from tests.helpers import make_workspace, run_cli, tree_digest
from tests.test_impact import CATS, synthetic


def _write(table: pa.Table, path: Path) -> Path:
    pcsv.write_csv(table, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("impact-files")
    t = synthetic(240)
    ann = t["annotations"]
    raters = pa.table(
        {"rater_id": ["good1", "good2", "spammer"], "vendor": ["Acme", "Beta", "Beta"]}
    )
    return {
        "annotations": _write(ann.drop(["vendor"]), root / "annotations.csv"),
        "items": _write(t["items"], root / "items.csv"),
        "gold": _write(t["gold"], root / "gold.csv"),
        "raters": _write(raters, root / "raters.csv"),
    }


def _workspace(root: Path, files: dict[str, Path], tables: tuple[str, ...]) -> Path:
    make_workspace(root, CATS).close()
    for table in tables:
        run_cli("-w", str(root), "ingest", table, str(files[table]))
    return root


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path]) -> Path:
    root = tmp_path_factory.mktemp("impact-ws") / "ws"
    return _workspace(root, files, ("items", "raters", "annotations", "gold"))


def test_impact_prints_every_policy_against_the_baseline(ws: Path) -> None:
    proc = run_cli("-w", str(ws), "impact", "--policies", "random,gold,without:vendor=Beta",
                   "--seeds", "2", "--boot", "200", "--format", "json")  # fmt: skip
    out = json.loads(proc.stdout)
    assert [p["policy"] for p in out["policies"]] == [
        "majority",
        "random",
        "gold",
        "without:vendor=Beta",
    ]
    assert out["baseline"] == "majority" and out["evaluation"] == "gold" and out["stored"] is None
    assert out["n_eval"] == 60 and out["cost_unit"] == "cost"
    gold = out["policies"][2]
    assert gold["vs_baseline"]["baseline"] == "majority"
    assert set(gold["recall"]) == {"spam", "hate"}
    table = run_cli("-w", str(ws), "impact", "--policies", "gold", "--seeds", "1", "--boot", "100")
    assert "majority" in table.stdout and "recall per violating label" in table.stdout


def test_csv_has_every_column_and_the_chart_is_written(ws: Path, tmp_path: Path) -> None:
    chart = tmp_path / "cost.html"
    proc = run_cli("-w", str(ws), "impact", "--policies", "gold,relabel:20,relabel-random:20",
                   "--seeds", "1", "--boot", "100", "--format", "csv", "--chart", str(chart))  # fmt: skip
    header = proc.stdout.splitlines()[0].split(",")
    assert header[:4] == ["policy", "n_train_items", "n_labels", "cost"]
    assert {"diff_accuracy", "diff_accuracy_low", "mcnemar_p", "recall_hate"} <= set(header)
    assert len(proc.stdout.splitlines()) == 1 + 4
    assert chart.stat().st_size > 100_000 and "plotly" in chart.read_text(encoding="utf-8")


def _annotations(ws: Path) -> str:
    return run_cli("-w", str(ws), "sql", "SELECT * FROM annotations ORDER BY item_id, rater_id",
                   "--format", "csv").stdout  # fmt: skip


def test_saved_runs_accumulate_and_never_touch_the_annotations(ws: Path) -> None:
    before = _annotations(ws)
    for _ in range(2):
        run_cli("-w", str(ws), "impact", "--policies", "gold", "--seeds", "1", "--boot", "100",
                "--save")  # fmt: skip
    runs = json.loads(run_cli("-w", str(ws), "sql", "SELECT run_id, baseline, policies, n_eval "
                              "FROM impact_runs ORDER BY run_id", "--format", "json").stdout)  # fmt: skip
    assert runs == [
        {"run_id": 1, "baseline": "majority", "policies": "majority,gold", "n_eval": 60},
        {"run_id": 2, "baseline": "majority", "policies": "majority,gold", "n_eval": 60},
    ]
    rows = json.loads(run_cli("-w", str(ws), "sql", "SELECT run_id, count(*) AS n FROM "
                              "impact_results GROUP BY run_id ORDER BY run_id",
                              "--format", "json").stdout)  # fmt: skip
    # per policy: accuracy, macro_f1, violating_recall and the recall of spam and hate
    assert rows == [{"run_id": 1, "n": 10}, {"run_id": 2, "n": 10}]
    assert _annotations(ws) == before


def test_rater_pool_bias(ws: Path) -> None:
    proc = run_cli("-w", str(ws), "impact", "--bias", "vendor=Acme,Beta", "--boot", "200",
                   "--format", "json")  # fmt: skip
    out = json.loads(proc.stdout)
    assert (out["column"], out["pool_a"], out["pool_b"]) == ("vendor", "Acme", "Beta")
    assert out["n_items"] == 240 and out["groups"][0]["item_group"] == "all"


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path]) -> Path:
    """Annotations and items, no gold; a second workspace without items."""
    root = tmp_path_factory.mktemp("impact-bare")
    _workspace(root / "no-items", files, ("annotations",))
    return _workspace(root / "no-gold", files, ("items", "annotations"))


BAD = [
    ("ws", ["--content", "body"], "items: no content column 'body'"),
    ("ws", ["--policies", "nonsense"], "unknown policy 'nonsense'"),
    ("ws", ["--policies", "gold", "--baseline", "gold", "--eval-share", "0.95"],
     "policy 'gold' leaves 6 training item(s)"),
    ("ws", ["--policies", "without:label=hate"],
     "policy 'without:label=hate': no training item is labelled 'hate'"),
    ("ws", ["--policies", "only:label=none"], "leaves labels of one category only"),
    ("ws", ["--policies", "without:shoe=red"], "group 'shoe': no such column"),
    ("ws", ["--k", "x"], "--k 'x': expected percentages"),
    ("ws", ["--eval", "experts"], "--eval 'experts': expected gold or holdout"),
    ("ws", ["--chart", "out.png"], "--chart out.png: expected an .html file name"),
    ("ws", ["--policies", "gold", "--metric", "recall_none", "--save"], "--metric 'recall_none'"),
    ("ws", ["--bias", "vendor=Acme"], "--bias 'vendor=Acme': expected COLUMN=A,B"),
    ("no-gold", ["--policies", "gold"], "no evaluation target"),
    ("no-items", [], "impact needs item content: the workspace has no items table"),
]  # fmt: skip


@pytest.mark.parametrize(("where", "args", "message"), BAD)
def test_bad_input_is_one_line_and_changes_nothing(
    ws: Path, bare: Path, where: str, args: list[str], message: str
) -> None:
    root = ws if where == "ws" else bare.parent / where
    before = tree_digest(root)
    proc = run_cli("-w", str(root), "impact", "--seeds", "1", "--boot", "50", *args, ok=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert tree_digest(root) == before
