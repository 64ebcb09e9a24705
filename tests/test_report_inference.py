"""The report's truth-inference section: what `opsloop infer` stored, fresh or stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import run_cli as run
from .helpers import write


def _labels(n_items: int, start: int = 0) -> str:
    """Three raters per item; r3 disagrees on every third item (no dates anywhere)."""
    rows = []
    for i in range(start, start + n_items):
        truth = ("none", "spam", "hate")[i % 3]
        wrong = ("spam", "hate", "none")[i % 3]
        rows += [
            f"i{i},r1,{truth}",
            f"i{i},r2,{truth}",
            f"i{i},r3,{wrong if i % 3 == 0 else truth}",
        ]
    return "item_id,rater_id,label\n" + "\n".join(rows) + "\n"


def test_report_shows_stored_inference_and_marks_it_stale(tmp_path: Path) -> None:
    run("init", "ws", "--labels", "none,spam,hate", "--benign", "none", cwd=tmp_path)
    ws = tmp_path / "ws"
    run("ingest", "annotations", str(write(tmp_path / "a.csv", _labels(60))), cwd=ws)
    gold = "item_id,label\n" + "".join(
        f"i{i},{('none', 'spam', 'hate')[i % 3]}\n" for i in range(30)
    )
    run("ingest", "gold", str(write(tmp_path / "g.csv", gold)), cwd=ws)
    run("report", "--out", str(tmp_path / "r0"), cwd=ws)
    before = json.loads((tmp_path / "r0" / "report.json").read_text())
    assert before["inference"] is None
    assert any("run `opsloop infer`" in n for n in before["notes"])

    inferred = json.loads(run("infer", "--method", "ds", "--format", "json", cwd=ws).stdout)
    run("report", "--out", str(tmp_path / "r1"), cwd=ws)
    data = json.loads((tmp_path / "r1" / "report.json").read_text())
    summary = data["inference"]["summary"]
    assert summary["method"] == "ds" and summary["n_gold"] == inferred["n_gold"] == 30
    assert summary["accuracy"] == pytest.approx(inferred["accuracy"], abs=1e-12)
    assert summary["accuracy_method"] == inferred["accuracy_method"]
    assert data["inference"]["stale"] is False
    assert data["inference"]["raters"][0]["rater_id"] == "r3"  # the least reliable
    html = (tmp_path / "r1" / "report.html").read_text()
    assert 'id="inference"' in html and "Relabel first" in html
    # the whole-period report (no dates) has its sections, not empty ones
    assert data["dated"] is False and data["scorecards"] and data["agreement_by_slice"]

    run("ingest", "annotations", str(write(tmp_path / "b.csv", _labels(6, start=60))), cwd=ws)
    run("report", "--out", str(tmp_path / "r2"), cwd=ws)
    later = json.loads((tmp_path / "r2" / "report.json").read_text())
    assert later["inference"]["stale"] is True
    assert "stale: the data changed" in (tmp_path / "r2" / "report.html").read_text()
