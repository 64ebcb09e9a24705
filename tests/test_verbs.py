"""The verbs (``opsloop.quality/agreement/monitor/rca/infer/report``) on a workspace, a file
and a table give the same figures; an ordinal task's α is ordinal everywhere.

The ordinal operation: 5-point ratings where raters mostly miss by one point, so
ordinal α is far above nominal α; the reference is the ``krippendorff`` package
(Castro, 2017) with ``level_of_measurement="ordinal"``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import opsloop
from opsloop.config import Config, KpiTarget, ProjectConfig, Taxonomy
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.io import ingest
from opsloop.monitor import parse_period
from opsloop.session import Session

RATINGS = ("1", "2", "3", "4", "5")
MONDAYS = (dt.date(2025, 3, 3), dt.date(2025, 3, 10), dt.date(2025, 3, 17))


def _files(root: Path) -> dict[str, Path]:
    """300 items rated by 3 of 8 raters: right or one point off; gold on every other item."""
    rng = np.random.default_rng(23)
    rows: dict[str, list[Any]] = {c: [] for c in ("item_id", "rater_id", "label", "submitted_at")}
    truth = rng.integers(1, 6, 300)
    for k, t in enumerate(truth):
        week = MONDAYS[k % 3]
        for r in rng.choice(8, size=3, replace=False):
            off = 0 if rng.random() < (0.75 if k % 3 < 2 or r < 4 else 0.2) else rng.choice([-1, 1])
            rows["item_id"].append(f"i{k:03d}")
            rows["rater_id"].append(f"r{r}")
            rows["label"].append(str(int(np.clip(t + off, 1, 5))))
            when = dt.datetime.combine(week, dt.time(8)) + dt.timedelta(
                hours=int(rng.integers(0, 100))
            )
            rows["submitted_at"].append(when.isoformat())
    root.mkdir(parents=True, exist_ok=True)
    files = {"annotations": root / "annotations.csv", "gold": root / "gold.csv"}
    pcsv.write_csv(pa.table(rows), files["annotations"])
    gold = [k for k in range(300) if k % 2 == 0]
    pcsv.write_csv(pa.table({"item_id": [f"i{k:03d}" for k in gold],
                             "label": [str(truth[k]) for k in gold]}), files["gold"])  # fmt: skip
    return files


CONFIG = Config(
    project=ProjectConfig(name="ordinal"),
    taxonomy=Taxonomy(labels=RATINGS, level="ordinal"),
    kpis={"accuracy": KpiTarget(target=0.7)},
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _files(tmp_path_factory.mktemp("verbs") / "files")


@pytest.fixture(scope="module")
def workspace(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verbs") / "ws"
    ws = Workspace.init(root, CONFIG)
    for name, path in files.items():
        ingest(ws, name, [path])
    ws.close()
    return root


def _krippendorff(annotations: Path, monday: dt.date, level: str) -> float:
    t = pcsv.read_csv(annotations).to_pylist()
    week = [r for r in t if monday <= dt.date.fromisoformat(str(r["submitted_at"])[:10])
            < monday + dt.timedelta(days=7)]  # fmt: skip
    raters = sorted({r["rater_id"] for r in week})
    items = sorted({r["item_id"] for r in week})
    data = np.full((len(raters), len(items)), np.nan)
    for r in week:
        data[raters.index(r["rater_id"]), items.index(r["item_id"])] = float(r["label"])
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def test_ordinal_alpha_is_the_same_in_monitor_report_and_agreement(
    workspace: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    with Workspace.open(workspace) as ws:
        monitored = opsloop.monitor(ws, kpis=["krippendorff_alpha"])
        files_out = opsloop.report(ws, tmp_path)
        whole = opsloop.agreement(ws, metrics=["krippendorff_alpha"], by=["week"])
    series = next(s for s in monitored.series if s.kpi == "krippendorff_alpha")
    report = json.loads(files_out.json.read_text())
    by_week = {r.slice["week"]: r.value for r in whole.records}
    for i, monday in enumerate(MONDAYS):
        ordinal = _krippendorff(files["annotations"], monday, "ordinal")
        nominal = _krippendorff(files["annotations"], monday, "nominal")
        assert ordinal - nominal > 0.1  # the data tell the two apart
        assert series.value[i] == pytest.approx(ordinal, abs=1e-9)
        assert by_week[monday.isoformat()] == pytest.approx(ordinal, abs=1e-9)
    overall = next(r for r in report["agreement_by_slice"]
                   if r["dimension"] == "all" and r["metric"] == "krippendorff_alpha")  # fmt: skip
    assert report["week"]["label"] == "2025-W12"
    assert overall["value"] == pytest.approx(_krippendorff(files["annotations"], MONDAYS[2],
                                                           "ordinal"), abs=1e-9)  # fmt: skip


def test_quality_on_a_workspace_a_file_and_a_table_agree(
    workspace: Path, files: dict[str, Path]
) -> None:
    with Workspace.open(workspace) as ws:
        on_ws = opsloop.quality(ws, metrics=["accuracy"], by=["week"])
    on_file = opsloop.quality(files["annotations"], gold=files["gold"], metrics=["accuracy"],
                              by=["week"])  # fmt: skip
    table = opsloop.read_table(files["annotations"])
    on_table = opsloop.quality(table, gold=pcsv.read_csv(files["gold"]), metrics=["accuracy"],
                               by=["week"])  # fmt: skip
    rows = [sorted((r.slice["week"], r.value, r.ci_low, r.extra["n"]) for r in x.records)
            for x in (on_ws, on_file, on_table)]  # fmt: skip
    assert len(rows[0]) == 3
    assert rows[0] == rows[1] == rows[2]


def test_monitor_and_rca_on_files_equal_the_workspace(
    workspace: Path, files: dict[str, Path]
) -> None:
    with Workspace.open(workspace) as ws:
        on_ws = opsloop.monitor(ws)
        run = Session(ws)
        direct = run.rca(kpi="accuracy", before=parse_period("2025-W10"),
                         after=parse_period("2025-W12"))  # fmt: skip
        by_verb = opsloop.rca(ws, kpi="accuracy", before="2025-W10", after="2025-W12")
    on_files = opsloop.monitor(files["annotations"], gold=files["gold"], config=CONFIG)
    assert on_files.to_dict() == on_ws.to_dict()
    assert [s.status for s in on_ws.statuses if s.kpi == "accuracy"] != []
    assert by_verb.to_dict() == direct.to_dict()
    assert by_verb.after.value < by_verb.before.value  # raters r4-r7 are worse in week 3
    assert by_verb.findings != ()


def test_infer_on_a_file_and_a_table_agree(files: dict[str, Path], tmp_path: Path) -> None:
    table = opsloop.read_table(files["annotations"])
    parquet = tmp_path / "a.parquet"
    pq.write_table(table, parquet)
    a = opsloop.infer(files["annotations"], "ds")
    b = opsloop.infer(parquet, "ds")
    c = opsloop.infer(table, "ds")
    assert a.stored == {} and a.result.method == "ds"
    labels = [x.result.labels.sort_by("item_id") for x in (a, b, c)]
    assert labels[0].num_rows == 300
    assert labels[0]["label"].equals(labels[1]["label"])
    assert labels[0]["label"].equals(labels[2]["label"])


def test_infer_on_a_workspace_stores_its_tables(files: dict[str, Path], tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws", CONFIG)
    ingest(ws, "annotations", [files["annotations"]])
    done = opsloop.infer(ws, "mv")
    assert done.stored["inferred_labels"] == 300
    assert ws.row_count("inferred_labels") == 300
    ws.close()


def test_report_of_a_file_needs_a_folder_and_leaves_nothing_behind(
    files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="out_dir"):
        opsloop.report(files["annotations"])
    out = opsloop.report(files["annotations"], tmp_path / "out", gold=files["gold"],
                         config=CONFIG)  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.json"]
    assert json.loads(out.json.read_text())["week"]["label"] == "2025-W12"


def test_workspace_tables_are_not_overridden(workspace: Path, files: dict[str, Path]) -> None:
    with Workspace.open(workspace) as ws:
        with pytest.raises(UsageError, match="gold"):
            opsloop.quality(ws, gold=files["gold"])
        with pytest.raises(UsageError, match="config"):
            opsloop.monitor(ws, config=CONFIG)


def test_a_bad_file_is_a_located_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,rater_id,label\na,x,spam\n,y,none\n")
    with pytest.raises(opsloop.InputError, match=r"bad\.csv:3"):
        opsloop.quality(bad, gold=pa.table({"item_id": ["a"], "label": ["spam"]}))
