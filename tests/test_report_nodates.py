"""The report and the monitor on annotations without any submitted_at date.

Everything that does not need time is reported over the whole period (KPI
status against targets, slices, scorecards, agreement); what needs time
(trends, control charts, weekly root causes, throughput) is listed as not
computable. Figures are checked against DuckDB SQL on the stored tables and
against ``opsloop agreement`` on the same workspace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from opsloop.config import Config, KpiTarget, ProjectConfig, Taxonomy
from opsloop.engine import Workspace
from opsloop.io import ingest
from tests.helpers import run_cli, write
from tests.multitask_data import Project
from tests.test_multitask import make_project_workspace


@pytest.fixture(scope="module")
def undated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Project, dict[str, Any], str]:
    root = tmp_path_factory.mktemp("undated")
    project = make_project_workspace(root, dated=False)
    ws = root / "ws"
    proc = run_cli("report", cwd=ws)
    return ws, project, json.loads((ws / "report.json").read_text()), proc.stdout


def _sql(ws: Path, query: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(ws / "opsloop.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_the_store_has_no_dates(undated: tuple[Path, Project, dict[str, Any], str]) -> None:
    ws, _, data, _ = undated
    assert _sql(ws, "select count(submitted_at), count(*) from annotations") == [(0, 720)]
    assert data["dated"] is False and data["week"] is None and data["review"] is None


def test_kpis_are_judged_over_the_whole_period(
    undated: tuple[Path, Project, dict[str, Any], str],
) -> None:
    ws, _, data, _ = undated
    mon = data["monitor"]
    assert mon["series"] == [] and mon["as_of"] is None
    statuses = {(s["kpi"], s["where"].get("task")): s for s in mon["statuses"]}
    assert {s["scope"] for s in mon["statuses"]} == {"window"}
    assert {s["period"] for s in mon["statuses"]} == {"all data"}
    for task, k, n in _sql(ws, """select a.task, sum((a.label = g.label)::int), count(*)
                                  from annotations a join gold g using (item_id, task)
                                  group by 1"""):  # fmt: skip
        acc = statuses[("accuracy", task)]
        assert acc["n"] == n and acc["value"] == pytest.approx(k / n)
        assert acc["target"] == 0.8 and acc["status"] in ("green", "amber", "red")
        alpha = statuses[("krippendorff_alpha", task)]
        assert alpha["ci_low"] < alpha["value"] < alpha["ci_high"]
    assert ("throughput", None) not in statuses


def test_slices_scorecards_and_agreement_are_there(
    undated: tuple[Path, Project, dict[str, Any], str],
) -> None:
    ws, _, data, _ = undated
    rows = {(r["kpi"], r.get("task"), r["dimension"], r["value"]): r for r in data["slices"]}
    for task, locale, k, n in _sql(
        ws,
        """select a.task, i.locale, sum((a.label = g.label)::int), count(*)
           from annotations a join gold g using (item_id, task) join items i using (item_id)
           group by all""",
    ):
        r = rows[("accuracy", task, "locale", locale)]
        assert r["current_n"] == n and r["current"] == pytest.approx(k / n, abs=1e-6)
        assert r["baseline"] is None and r["baseline_n"] == 0
    cards = {(c["rater_id"], c["task"]): c for c in data["scorecards"]}
    for rater, task, k, n in _sql(
        ws,
        """select a.rater_id, a.task, sum((a.label = g.label)::int), count(*)
           from annotations a join gold g using (item_id, task) group by all""",
    ):
        assert cards[(rater, task)]["gold_n"] == n
        assert cards[(rater, task)]["accuracy"] == pytest.approx(k / n, abs=1e-6)
    dims = {(r["dimension"], r["task"]) for r in data["agreement_by_slice"]}
    assert dims == {(d, t) for d in ("all", "locale", "vendor") for t in ("policy", "quality")}
    page = (ws / "report.html").read_text()
    for section in ("summary", "slices", "agreement", "raters", "notes"):
        assert f'id="{section}"' in page, section


def test_time_based_parts_are_listed_as_not_computable(
    undated: tuple[Path, Project, dict[str, Any], str],
) -> None:
    ws, _, data, stdout = undated
    notes = " | ".join(data["notes"])
    assert "control charts" in notes and "weekly root causes" in notes
    assert "throughput: has a target but needs submitted_at dates" in notes
    assert data["changes"] == []
    page = (ws / "report.html").read_text()
    notes_section = page[page.index('<section id="notes">') :]
    assert "weekly root causes" in notes_section and "control charts" in notes_section
    assert "Not computed: trends and control charts need submitted_at dates" in page
    assert "whole period (no dates)" in stdout


def test_counts_are_integers_and_missing_figures_say_why(
    undated: tuple[Path, Project, dict[str, Any], str],
) -> None:
    ws, _, data, stdout = undated
    page = (ws / "report.html").read_text()
    body = page[page.index("<body>") :]  # the page's own content, past the plotly.js library
    for text in (body, stdout):
        assert "NaN" not in text and "nan%" not in text
    assert "— (no audits)" in page and "— (no cost column)" in page
    assert data["counts"] == {"items": 120, "raters": 5, "labels": 720, "items_handled": 360,
                              "tasks": 2}  # fmt: skip
    assert all(isinstance(c["items_handled"], int) for c in data["scorecards"])
    assert "360 items handled" in page and "120 items" in page


def _cli_alpha(ws: Path) -> dict[str, dict[str, Any]]:
    proc = run_cli("agreement", "--metric", "krippendorff_alpha", "--format", "json", cwd=ws)
    return {r["slice"].get("task", "label"): r for r in json.loads(proc.stdout)}


def _report_alpha(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["task"] or "label": r
        for r in data["agreement_by_slice"]
        if r["metric"] == "krippendorff_alpha" and r["dimension"] == "all"
    }


def test_report_alpha_has_the_interval_of_opsloop_agreement(
    undated: tuple[Path, Project, dict[str, Any], str],
) -> None:
    ws, _, data, _ = undated
    cli, report = _cli_alpha(ws), _report_alpha(data)
    status = {s["where"]["task"]: s for s in data["monitor"]["statuses"]
              if s["kpi"] == "krippendorff_alpha"}  # fmt: skip
    assert set(cli) == set(report) == set(status) == {"policy", "quality"}
    for task in cli:
        assert report[task]["level"] == cli[task]["level"]
        want = (cli[task]["value"], cli[task]["ci_low"], cli[task]["ci_high"])
        assert (report[task]["value"], report[task]["ci_low"], report[task]["ci_high"]) == (
            pytest.approx(want, abs=1e-12)
        )
        got = (status[task]["value"], status[task]["ci_low"], status[task]["ci_high"])
        assert got == pytest.approx(want, abs=1e-12)


def test_single_task_workspace_without_dates(tmp_path: Path) -> None:
    """One question: no task column anywhere, and α equals opsloop agreement's."""
    config = Config(
        project=ProjectConfig(name="one"),
        taxonomy=Taxonomy(labels=("1", "2", "3", "4"), level="ordinal"),
        kpis={"accuracy": KpiTarget(target=0.5), "krippendorff_alpha": KpiTarget(target=0.3)},
    )
    ws = Workspace.init(tmp_path / "ws", config)
    rows = ["item_id,rater_id,label,duration_s"]
    gold = ["item_id,label"]
    for i in range(40):
        truth = 1 + i % 4
        gold.append(f"i{i},{truth}")
        for j, rater in enumerate(("a", "b", "c")):
            label = truth if (i + j) % 5 else min(4, truth + 1)
            rows.append(f"i{i},{rater},{label},{10 + j}")
    try:
        ingest(ws, "annotations", [write(tmp_path / "a.csv", "\n".join(rows) + "\n")])
        ingest(ws, "gold", [write(tmp_path / "g.csv", "\n".join(gold) + "\n")])
    finally:
        ws.close()
    run_cli("report", cwd=tmp_path / "ws")
    data = json.loads((tmp_path / "ws" / "report.json").read_text())
    assert data["tasks"] == ["label"]
    assert all(s["where"] == {} for s in data["monitor"]["statuses"])
    assert all("task" not in c for c in data["scorecards"])
    assert all(r["task"] is None for r in data["agreement_by_slice"])
    (cli,) = _cli_alpha(tmp_path / "ws").values()
    (report,) = _report_alpha(data).values()
    assert cli["level"] == report["level"] == "ordinal"
    assert (report["value"], report["ci_low"], report["ci_high"]) == pytest.approx(
        (cli["value"], cli["ci_low"], cli["ci_high"]), abs=1e-12
    )
    acc = next(s for s in data["monitor"]["statuses"] if s["kpi"] == "accuracy")
    assert acc["n"] == 120
