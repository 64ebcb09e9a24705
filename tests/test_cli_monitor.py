"""`opsloop monitor` through the real entry point: output, exit codes, bad input.

A tiny workspace: three ISO weeks, two raters labelling every item, gold for
every item, one error in ten. Its accuracy per week is 0.9 on 20 labels, so
the Wilson 95% interval is about 0.70–0.97: a target of 0.5 is met (green,
exit 0) and one of 0.99 is missed (red, exit 1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from opsloop.config import Config, KpiTarget, ProjectConfig, SliceTarget, Taxonomy
from opsloop.engine import Workspace
from opsloop.io import ingest

from .helpers import run_cli as run
from .helpers import write

MONDAY = dt.datetime(2025, 1, 6, 10)  # 2025-W02


def _workspace(root: Path, kpis: dict[str, KpiTarget], *, dated: bool = True) -> Path:
    config = Config(
        project=ProjectConfig(name="tiny"),
        taxonomy=Taxonomy(labels=("none", "spam"), benign=("none",)),
        kpis=kpis,
    )
    ws = Workspace.init(root / "ws", config)
    ann = ["item_id,rater_id,label,queue" + (",submitted_at,duration_s" if dated else "")]
    gold = ["item_id,label"]
    for week in range(3):
        for i in range(10):
            item = f"w{week}i{i}"
            truth = "spam" if i % 2 else "none"
            gold.append(f"{item},{truth}")
            when = (MONDAY + dt.timedelta(days=7 * week, hours=i)).isoformat(sep=" ")
            for rater in ("r1", "r2"):
                label = ("none" if truth == "spam" else "spam") if i == 0 else truth
                extra = f",{when},{20 + i}" if dated else ""
                ann.append(f"{item},{rater},{label},standard{extra}")
    try:
        ingest(ws, "annotations", [write(root / "a.csv", "\n".join(ann) + "\n")])
        ingest(ws, "gold", [write(root / "g.csv", "\n".join(gold) + "\n")])
    finally:
        ws.close()
    return root / "ws"


def _one_line_error(proc: Any) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    line: str = lines[0]
    return line


def test_targets_met_exit_zero_with_notes(tmp_path: Path) -> None:
    lenient = KpiTarget(
        target=0.5,
        amber_margin=0.05,
        slices=(SliceTarget(where={"planet": "mars"}, target=0.5),),
    )
    ws = _workspace(tmp_path, {"accuracy": lenient, "audit_accuracy": KpiTarget(target=0.9)})
    proc = run("monitor", cwd=ws, ok=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "2025-W04" in out and "accuracy" in out and "green" in out and "red" not in out
    # data problems are notes, not errors
    assert "unknown dimension 'planet'" in out
    assert "audit_accuracy: has a target but the data cannot measure it" in out


def test_red_exits_one_and_json_has_the_full_result(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, {"accuracy": KpiTarget(target=0.99)})
    proc = run("monitor", "--format", "json", cwd=ws, ok=False)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert {"period", "window", "latest", "as_of", "has_red", "kpis", "statuses", "breaches",
            "series", "notes"} <= set(data)  # fmt: skip
    assert data["has_red"] is True and data["window"] == "2025-W02..2025-W04"
    latest = next(s for s in data["statuses"] if s["scope"] == "latest")
    assert latest["value"] == pytest.approx(0.9) and latest["n"] == 20
    assert latest["status"] == "red"
    assert any(b["kind"] == "red" and b["kpi"] == "accuracy" for b in data["breaches"])
    (series,) = data["series"]
    assert series["periods"] == ["2025-W02", "2025-W03", "2025-W04"]
    assert series["chart"] == "p" and len(series["ucl"]) == 3


def test_csv_has_one_row_per_status(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, {"accuracy": KpiTarget(target=0.99)})
    csv_out = run("monitor", "--format", "csv", "--kpi", "accuracy,throughput", cwd=ws, ok=False)
    assert csv_out.returncode == 1
    rows = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert {(r["kpi"], r["scope"]) for r in rows} == {
        ("accuracy", "latest"), ("accuracy", "window"),
        ("throughput", "latest"), ("throughput", "window"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--kpi", "acuracy"), "unknown KPI 'acuracy' (did you mean 'accuracy'?)"),
        (("--period", "month"), "--period 'month': expected week or day"),
        (("--as-of", "2025-W60"), "no such ISO week"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    ws = _workspace(tmp_path, {"accuracy": KpiTarget(target=0.5)})
    assert expected in _one_line_error(run("monitor", *args, cwd=ws, ok=False))


def test_no_dated_annotations_give_the_whole_period_status(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, {"accuracy": KpiTarget(target=0.5)}, dated=False)
    proc = run("monitor", "--format", "json", cwd=ws, ok=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    (status,) = data["statuses"]
    # 54 of the 60 labels match the gold (one error in ten), over all three weeks
    assert (status["scope"], status["value"], status["n"]) == ("window", pytest.approx(0.9), 60)
    assert status["status"] == "green" and data["series"] == [] and data["as_of"] is None
    assert any("submitted_at" in n and "control charts" in n for n in data["notes"])
    line = _one_line_error(run("monitor", "--as-of", "2025-W03", cwd=ws, ok=False))
    assert "submitted_at" in line


@pytest.mark.slow
def test_demo_monitor_flags_the_planted_effects(tmp_path: Path) -> None:
    run("demo", str(tmp_path / "demo"), cwd=tmp_path)
    ws = tmp_path / "demo"
    manifest = json.loads((ws / "manifest.json").read_text())
    proc = run("monitor", "--kpi", "accuracy", "--format", "json", cwd=ws, ok=False)
    data = json.loads(proc.stdout)
    assert proc.returncode == (1 if data["has_red"] else 0)
    # the new cohort of week 10 (manifest) drags accuracy below its control limits
    effect = next(e for e in manifest["effects"] if e["id"] == "vendor_new_raters")
    year, week, _ = dt.date.fromisoformat(effect["when"]["start"]).isocalendar()
    onboarded = f"{year}-W{week:02d}"
    (series,) = data["series"]
    assert any(
        s["period"] >= onboarded and s["side"] == "below" and s["rule"] == "beyond_limits"
        for s in series["signals"]
    )
    # --as-of reviews an earlier week
    before = run("monitor", "--kpi", "accuracy", "--as-of", "2025-W05", "--format", "json",
                 cwd=ws, ok=False)  # fmt: skip
    assert json.loads(before.stdout)["latest"] == "2025-W05"
