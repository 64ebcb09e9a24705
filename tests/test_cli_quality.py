"""`opsloop quality` and `opsloop agreement` through the real entry point."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsloop.demo import generate_demo
from opsloop.engine import Workspace
from opsloop.io import ingest

from .helpers import run_cli as run
from .helpers import write


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("qdemo")
    data = generate_demo(root / "gen", scale="small", seed=7)
    ws = Workspace.init(root / "ws", data.config)
    try:
        for table in ("items", "raters", "annotations", "gold", "audits"):
            ingest(ws, table, list(data.files[table]))
    finally:
        ws.close()
    manifest = json.loads((root / "gen" / "manifest.json").read_text())
    return root / "ws", manifest


def _effect(manifest: dict[str, Any], effect_id: str) -> dict[str, Any]:
    return next(e for e in manifest["effects"] if e["id"] == effect_id)


def test_guideline_confusion_shows_in_wrong_policy_by_locale(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    ws, manifest = demo
    where = _effect(manifest, "guideline_confusion")["where"]
    out = run(
        "quality",
        "--by",
        "locale,guideline_version",
        "--metric",
        "accuracy,wrong_policy",
        "--format",
        "json",
        cwd=ws,
    ).stdout
    records = json.loads(out)
    assert {"metric", "level", "slice", "value", "ci_low", "ci_high", "n_items", "n_raters"} <= set(
        records[0]
    )
    wrong = [
        r
        for r in records
        if r["metric"] == "wrong_policy" and r["value"] is not None and r["extra"]["n"] >= 30
    ]
    worst = max(wrong, key=lambda r: r["value"])
    assert worst["slice"] == where
    others = sorted(r["value"] for r in wrong if r is not worst)
    assert worst["ci_low"] > others[-1]  # clearly apart from every other slice
    acc = {tuple(r["slice"].values()): r["value"] for r in records if r["metric"] == "accuracy"}
    assert acc[tuple(where.values())] == min(acc.values())


def test_vendor_wave_shows_in_accuracy_by_vendor_and_week(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    ws, manifest = demo
    eff = _effect(manifest, "vendor_new_raters")
    start = date.fromisoformat(manifest["period"]["start"])

    def monday(week: int) -> str:
        return (start + timedelta(days=7 * (week - 1))).isoformat()

    out = run(
        "quality", "--by", "vendor,week", "--metric", "audit_accuracy", "--format", "csv", cwd=ws
    ).stdout
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["vendor"] == eff["where"]["vendor"]]
    first, last = eff["when"]["weeks"]
    after = {monday(w) for w in range(first, last + 1)}
    before = {monday(w) for w in eff["when"]["baseline_weeks"]}

    def pooled(weeks: set[str]) -> float:
        sel = [r for r in rows if r["week"] in weeks]
        return sum(float(r["value"]) * int(r["n"]) for r in sel) / sum(int(r["n"]) for r in sel)

    assert pooled(after) < pooled(before) - 0.05


def test_agreement_and_quality_on_files(tmp_path: Path) -> None:
    # 3 items × 2 workers; q1 agree (yes), q2 agree (no), q3 disagree
    labels = write(
        tmp_path / "labels.csv",
        "question,worker,answer\nq1,w1,yes\nq1,w2,yes\nq2,w1,no\nq2,w2,no\nq3,w1,yes\nq3,w2,no\n",
    )
    out = run(
        "agreement",
        str(labels),
        "--item",
        "question",
        "--rater",
        "worker",
        "--label",
        "answer",
        "--metric",
        "percent_agreement,cohen_kappa",
        "--format",
        "json",
        cwd=tmp_path,
    ).stdout
    recs = {r["metric"]: r for r in json.loads(out)}
    # Pa = 2/3; Cohen: p_yes(w1) = 2/3, p_yes(w2) = 1/3 -> Pe = 2/9 + 2/9 = 4/9; κ = (2/3-4/9)/(5/9)
    assert recs["percent_agreement"]["value"] == pytest.approx(2 / 3)
    assert recs["cohen_kappa"]["value"] == pytest.approx((2 / 3 - 4 / 9) / (5 / 9))
    gold = write(tmp_path / "gold.csv", "item_id,label\nq1,yes\nq2,no\nq3,no\n")
    sql = run(
        "quality",
        str(labels),
        "--gold",
        str(gold),
        "--benign",
        "no",
        "--metric",
        "leakage",
        "--by",
        "rater_id",
        "--show-sql",
        cwd=tmp_path,
    ).stdout
    assert sql.startswith("-- leakage") and "GROUP BY" in sql and "leakage__n" in sql
    # default names are recognised (question/worker/answer) without flags
    table = run(
        "quality",
        str(labels),
        "--gold",
        str(gold),
        "--benign",
        "no",
        "--by",
        "rater_id",
        "--metric",
        "accuracy,leakage",
        cwd=tmp_path,
    ).stdout
    # w1: q1 yes/yes, q2 no/no, q3 yes/no -> accuracy 2/3; w2 all right
    assert "0.6667" in table and "1.0000" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("agreement", "labels.csv", "--level", "interval"), "is not a number"),
        (
            ("quality", "labels.csv", "--gold", "gold.csv", "--by", "vendor"),
            "unknown dimension 'vendor'",
        ),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    write(tmp_path / "labels.csv", "item_id,rater_id,label\ni1,r1,spam\ni1,r2,none\n")
    write(tmp_path / "gold.csv", "item_id,label\ni1,spam\n")
    proc = run(*args, cwd=tmp_path, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
