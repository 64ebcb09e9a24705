"""``opsloop report --as-of`` and weeks with too little data to be the headline.

The two-question project (four weeks of 90 items handled each) gets a fifth
week, 2025-W14, with two items handled: a partial export. The report must not
review that week unless asked to, must say why, and must ignore data after
the week it reviews.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from opsloop.monitor import Cube
from opsloop.report import review_week
from tests.helpers import run_cli, tree_digest, write
from tests.multitask_data import Project
from tests.test_multitask import make_project_workspace

THIN = (
    "item_id,rater_id,task,label,submitted_at,duration_s\n"
    "121,r1,policy,spam,2025-03-31 10:00:00,20\n121,r1,quality,3,2025-03-31 10:00:00,20\n"
    "122,r1,policy,none,2025-04-01 10:00:00,25\n122,r1,quality,4,2025-04-01 10:00:00,25\n"
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Project]:
    root = tmp_path_factory.mktemp("asof")
    project = make_project_workspace(root)
    run_cli("ingest", "annotations", str(write(root / "thin.csv", THIN)), cwd=root / "ws")
    return root / "ws", project


def _report(ws: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    proc = run_cli("report", "--format", "json", *args, cwd=ws)
    return (
        json.loads(proc.stdout),
        json.loads((ws / "report.json").read_text()),
        (ws / "report.html").read_text(),
    )


def test_a_thin_last_week_is_not_the_headline(workspace: tuple[Path, Project]) -> None:
    ws, _ = workspace
    summary, data, page = _report(ws)
    review = data["review"]
    assert (review["label"], review["thin"], review["requested"]) == ("2025-W13", False, False)
    assert review["skipped"] == [{"week": "2025-W14", "items_handled": 2}]
    assert review["items_handled"] == 90 and review["median_week"] == 90
    assert "2025-W14 (2 items handled)" in review["message"]
    assert summary["review"]["message"] == review["message"]
    assert "Too little data to review in 2025-W14" in page
    # the later data are left out: the monitor's last week and the counts stop at W13
    assert data["monitor"]["latest"] == "2025-W13"
    assert data["counts"]["labels"] == 720 and data["window"]["last_day"] == "2025-03-28"


def test_as_of_a_thin_week_reviews_it_and_flags_it(workspace: tuple[Path, Project]) -> None:
    ws, _ = workspace
    _, data, page = _report(ws, "--as-of", "2025-W14")
    review = data["review"]
    assert (review["label"], review["thin"], review["requested"]) == ("2025-W14", True, True)
    assert review["skipped"] == []
    assert "named with --as-of" in review["message"] and "2025-W14 has only 2" in page
    assert data["monitor"]["latest"] == "2025-W14"
    assert data["counts"]["labels"] == 724


def test_as_of_an_earlier_week_ignores_later_data(workspace: tuple[Path, Project]) -> None:
    ws, project = workspace
    _, data, _ = _report(ws, "--as-of", "2025-W11")
    assert data["week"]["label"] == "2025-W11" and data["review"]["message"] is None
    assert data["monitor"]["window"] == "2025-W10..2025-W11"
    end = dt.datetime(2025, 3, 17)
    kept = [r for r in project.rows if r["submitted_at"] < end]  # type: ignore[operator]
    assert data["counts"]["items"] == len({r["item_id"] for r in kept}) == 60
    assert data["counts"]["labels"] == len(kept)
    assert all(c["after"]["label"] <= "2025-W11" for c in data["changes"])


def test_as_of_a_day_keeps_the_data_up_to_that_day(workspace: tuple[Path, Project]) -> None:
    ws, project = workspace
    _, data, _ = _report(ws, "--as-of", "2025-03-12")  # a Wednesday in 2025-W11
    assert data["week"]["label"] == "2025-W11"
    end = dt.datetime(2025, 3, 13)
    kept = [r for r in project.rows if r["submitted_at"] < end]  # type: ignore[operator]
    handled = {(r["item_id"], r["rater_id"]) for r in kept}
    assert data["counts"]["items_handled"] == len(handled)
    in_week = {(r["item_id"], r["rater_id"]) for r in kept
               if r["submitted_at"] >= dt.datetime(2025, 3, 10)}  # type: ignore[operator]  # fmt: skip
    assert data["review"]["items_handled"] == len(in_week)
    assert data["window"]["last_day"] == "2025-03-12"


def test_a_bad_as_of_is_one_line_and_changes_nothing(workspace: tuple[Path, Project]) -> None:
    ws, _ = workspace
    before = tree_digest(ws)
    for bad, reason in (("2025-W60", "no such ISO week"), ("2024-W01", "no annotations before")):
        proc = run_cli("report", "--as-of", bad, cwd=ws, ok=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and reason in lines[0], proc.stderr
    assert tree_digest(ws) == before


def test_review_week_without_any_full_week() -> None:
    # three weeks, all below the minimum: the latest is reviewed, flagged
    mondays = np.array([20150, 20157, 20164])
    cube = Cube((), {}, mondays, {}, {"ann_n": np.array([5.0, 6.0, 4.0])})
    r = review_week(cube)
    assert (r.week.label, r.thin, r.requested, r.skipped) == ("2025-W12", True, False, ())
    assert r.message() is not None and "no week has more" in r.message()  # type: ignore[operator]
