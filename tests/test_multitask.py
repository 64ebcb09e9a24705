"""Several questions per item: a Label Studio project with a policy choice and a 1–5 rating.

The export (tests/multitask_data.py) is ingested and reported through the real
command line. Every count is checked against an independent count over the
rows written to the export (Python) or the stored table (DuckDB SQL); the
ordinal rating task's α against the ``krippendorff`` package (Castro 2017,
``level_of_measurement="ordinal"``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import ibis
import krippendorff
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.config import Config, KpiTarget, SliceTarget
from opsloop.engine import Workspace
from opsloop.metrics import agreement, compress
from opsloop.metrics._agreement import agreement_levels
from opsloop.monitor import KPIS, agreement_by_period, monitor, series_target, workspace_cube
from opsloop.monitor._agreement_series import compressed
from opsloop.monitor._targets import slice_goals
from tests.helpers import run_cli
from tests.multitask_data import RATINGS, TOML, Project, write_project

TARGETS = """
[kpis.accuracy]
target = 0.8

[kpis.krippendorff_alpha]
target = 0.5

[kpis.throughput]
target = 5
"""


def make_project_workspace(root: Path, *, dated: bool = True, extra: str = TARGETS) -> Project:
    """The two-question project written under ``root`` and ingested into ``root/ws``."""
    project = write_project(root / "files", dated=dated)
    run_cli("init", "ws", cwd=root)
    (root / "ws" / "opsloop.toml").write_text(TOML + extra, encoding="utf-8")
    ws = root / "ws"
    run_cli("ingest", "items", str(project.items), cwd=ws)
    run_cli("ingest", "raters", str(project.raters), cwd=ws)
    run_cli("ingest", "annotations", str(project.export), cwd=ws)
    run_cli("ingest", "gold", str(project.gold), cwd=ws)
    return project


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Project, dict[str, Any]]:
    root = tmp_path_factory.mktemp("two-questions")
    project = make_project_workspace(root)
    run_cli("report", cwd=root / "ws")
    data = json.loads((root / "ws" / "report.json").read_text())
    return root / "ws", project, data


def _sql(ws: Path, query: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(ws / "opsloop.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_items_are_counted_once_not_per_question(
    dated: tuple[Path, Project, dict[str, Any]],
) -> None:
    ws, project, data = dated
    assert data["tasks"] == ["policy", "quality"]
    items = {r["item_id"] for r in project.rows}
    handled = {(r["item_id"], r["rater_id"]) for r in project.rows}
    assert len(items) == 120 and len(handled) == 360  # the fixture's design
    assert data["counts"]["items"] == len(items)
    assert data["counts"]["items_handled"] == len(handled)
    assert data["counts"]["labels"] == len(project.rows) == 720
    ((sql_items,),) = _sql(ws, "select count(distinct item_id) from annotations")
    assert data["counts"]["items"] == sql_items


def test_throughput_counts_items_handled(dated: tuple[Path, Project, dict[str, Any]]) -> None:
    ws, _, data = dated
    (series,) = [s for s in data["monitor"]["series"] if s["kpi"] == "throughput"]
    assert series["where"] == {}
    weekly = _sql(
        ws,
        """select date_trunc('week', min_at)::date as monday, count(*) as handled,
                  min(min_at)::date, max(min_at)::date
           from (select item_id, rater_id, min(submitted_at) as min_at
                 from annotations group by all)
           group by 1 order by 1""",
    )
    first = min(r[2] for r in weekly)
    last = max(r[3] for r in weekly)
    for (monday, handled, _, _), value, n in zip(weekly, series["value"], series["n"], strict=True):
        # days of the week inside the data's first..last day
        days = (min(monday + dt.timedelta(days=7), last + dt.timedelta(days=1))
                - max(monday, first)).days  # fmt: skip
        assert n == handled
        assert value == pytest.approx(handled / days)
    # 30 items a week, three raters each: 90 items handled, not 180 labels
    assert series["n"] == [90, 90, 90, 90]


def test_handling_time_is_per_item_handled(dated: tuple[Path, Project, dict[str, Any]]) -> None:
    ws, project, _ = dated
    cube = workspace_cube(Workspace.open(ws))
    lead = {(r["item_id"], r["rater_id"]): float(r["duration_s"]) for r in project.rows}  # type: ignore[arg-type]
    assert cube.sums["aht_n"].sum() == pytest.approx(len(lead))
    assert cube.sums["aht_s"].sum() / cube.sums["aht_n"].sum() == pytest.approx(
        np.mean(list(lead.values()))
    )


def test_accuracy_is_per_task(dated: tuple[Path, Project, dict[str, Any]]) -> None:
    ws, _, data = dated
    expected = dict(
        (task, (k, n))
        for task, k, n in _sql(
            ws,
            """select a.task, sum((a.label = g.label)::int), count(*)
               from annotations a join gold g using (item_id, task) group by 1""",
        )
    )
    window = {s["where"]["task"]: s for s in data["monitor"]["statuses"]
              if s["kpi"] == "accuracy" and s["scope"] == "window"}  # fmt: skip
    assert set(window) == {"policy", "quality"}
    for task, (k, n) in expected.items():
        assert window[task]["n"] == n == 360
        assert window[task]["value"] == pytest.approx(k / n)


def test_charts_and_tables_name_their_task(dated: tuple[Path, Project, dict[str, Any]]) -> None:
    ws, _, data = dated
    alpha = [s for s in data["monitor"]["series"] if s["kpi"] == "krippendorff_alpha"]
    assert [s["where"] for s in alpha] == [{"task": "policy"}, {"task": "quality"}]
    page = (ws / "report.html").read_text()
    for task in ("policy", "quality"):
        for title in (f"Krippendorff's α · task {task}", f"Accuracy vs gold · task {task}",
                      f"Accuracy vs gold by locale · task {task}"):  # fmt: skip
            # plotly writes the title into the figure's JSON, non-ASCII escaped
            assert f'"text":{json.dumps(title)}' in page, title
    assert all(r.get("task") in ("policy", "quality") for r in data["slices"]
               if r["kpi"] == "accuracy")  # fmt: skip
    # work is not per task: handling time by slice has no task
    assert all("task" not in r for r in data["slices"] if r["kpi"] == "avg_handling_time_s")
    assert {r["task"] for r in data["agreement_by_slice"]} == {"policy", "quality"}


def test_scorecard_rows_carry_the_task(dated: tuple[Path, Project, dict[str, Any]]) -> None:
    ws, _, data = dated
    cards = data["scorecards"]
    assert {(c["rater_id"], c["task"]) for c in cards} == {
        (r, t) for r in ("r1", "r2", "r3", "r4", "r5") for t in ("policy", "quality")
    }
    start = data["week"]["start"]
    rows = _sql(
        ws,
        f"""select a.rater_id, a.task, sum((a.label = g.label)::int), count(*)
            from annotations a join gold g using (item_id, task)
            where a.submitted_at >= date '{start}' - interval 21 day group by all""",
    )
    handled = dict(
        _sql(ws, f"""select rater_id, count(distinct item_id) from annotations
                     where submitted_at >= date '{start}' - interval 21 day group by 1""")
    )  # fmt: skip
    by_key = {(c["rater_id"], c["task"]): c for c in cards}
    for rater, task, k, n in rows:
        card = by_key[(rater, task)]
        assert card["gold_n"] == n
        assert card["accuracy"] == pytest.approx(k / n, abs=1e-6)
        assert card["items_handled"] == handled[rater]


def _alpha_by_package(rows: list[dict[str, object]], task: str, level: str) -> float:
    raters = sorted({str(r["rater_id"]) for r in rows})
    items = sorted({str(r["item_id"]) for r in rows})
    data = np.full((len(raters), len(items)), np.nan)
    for r in rows:
        if r["task"] == task:
            data[raters.index(str(r["rater_id"])), items.index(str(r["item_id"]))] = float(
                str(r["label"])
                if task == "quality"
                else ("none", "spam", "hate").index(str(r["label"]))
            )
    domain = [float(x) for x in RATINGS] if task == "quality" else [0.0, 1.0, 2.0]
    return float(krippendorff.alpha(reliability_data=data, value_domain=domain,
                                    level_of_measurement=level))  # fmt: skip


def test_ordinal_task_alpha_matches_krippendorff(
    dated: tuple[Path, Project, dict[str, Any]],
) -> None:
    ws, project, data = dated
    w = Workspace.open(ws)
    levels = agreement_levels(w.config.taxonomy, ["policy", "quality"])
    assert levels.levels == {"policy": "nominal", "quality": "ordinal"}
    table = pa.Table.from_pylist([{k: r[k] for k in ("item_id", "rater_id", "task", "label")}
                                  for r in project.rows])  # fmt: skip
    result = agreement(table, metrics=["krippendorff_alpha"], levels=levels.levels,
                       task_categories=levels.categories, n_boot=0)  # fmt: skip
    for task, level in (("quality", "ordinal"), ("policy", "nominal")):
        rec = result.get("krippendorff_alpha", task=task)
        assert rec.level == level
        assert rec.value == pytest.approx(_alpha_by_package(project.rows, task, level), abs=1e-9)
    # the week under review in the report: the same coefficient on that week's rows
    start = dt.date.fromisoformat(data["week"]["start"])
    week_rows = [r for r in project.rows
                 if start <= r["submitted_at"].date() < start + dt.timedelta(days=7)]  # type: ignore[union-attr]  # fmt: skip
    row = next(r for r in data["agreement_by_slice"] if r["metric"] == "krippendorff_alpha"
               and r["dimension"] == "all" and r["task"] == "quality")  # fmt: skip
    assert row["level"] == "ordinal"
    assert row["value"] == pytest.approx(_alpha_by_package(week_rows, "quality", "ordinal"))


def test_weekly_alpha_has_the_interval_of_agreement(
    dated: tuple[Path, Project, dict[str, Any]],
) -> None:
    """One bootstrap: α per week from the count patterns equals agreement() on the week."""
    ws, project, data = dated
    w = Workspace.open(ws)
    levels = agreement_levels(w.config.taxonomy, ["policy", "quality"])
    table = pa.Table.from_pylist(project.rows)
    series = agreement_by_period(ibis.memtable(table), levels=levels)
    by_week: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in project.rows:
        monday = r["submitted_at"].date() - dt.timedelta(days=r["submitted_at"].weekday())  # type: ignore[union-attr]
        by_week[monday.isoformat()].append(r)
    for p in series["krippendorff_alpha"]:
        rows = [r for r in by_week[p.start.isoformat()] if r["task"] == p.where["task"]]  # type: ignore[union-attr]
        rec = agreement(pa.Table.from_pylist(rows), metrics=["krippendorff_alpha"],
                        levels=levels.levels, task_categories=levels.categories).records[0]  # fmt: skip
        assert (p.value, p.ci_low, p.ci_high) == pytest.approx(
            (rec.value, rec.ci_low, rec.ci_high), abs=1e-12
        )
        assert p.level == rec.level
    # and the report's α for the week under review is that point
    week = data["week"]["label"]
    for task in ("policy", "quality"):
        point = next(p for p in series["krippendorff_alpha"]
                     if p.period == week and p.where == {"task": task})  # fmt: skip
        row = next(r for r in data["agreement_by_slice"] if r["metric"] == "krippendorff_alpha"
                   and r["dimension"] == "all" and r["task"] == task)  # fmt: skip
        assert (row["value"], row["ci_low"], row["ci_high"]) == pytest.approx(
            (point.value, point.ci_low, point.ci_high), abs=1e-12
        )


def test_targets_per_task(dated: tuple[Path, Project, dict[str, Any]]) -> None:
    ws, _, _ = dated
    cube = workspace_cube(Workspace.open(ws))
    # no task is called "label": the KPI target applies to every task, a task-only slice
    # target replaces it for that task
    target = KpiTarget(target=0.8, slices=(SliceTarget(where={"task": "quality"}, target=0.99),))
    r = monitor(cube, Config(kpis={"accuracy": target}))
    window = {s.where["task"]: s for s in r.statuses if s.scope == "window"}
    assert (window["policy"].target, window["quality"].target) == (0.8, 0.99)
    assert window["quality"].status == "red" and r.has_red
    assert any("task=quality" in b.message for b in r.breaches)


def test_rca_explains_one_task(dated: tuple[Path, Project, dict[str, Any]]) -> None:
    ws, _, _ = dated
    proc = run_cli("rca", "--kpi", "accuracy", "--from", "2025-W10..2025-W12", "--to",
                   "2025-W13", "--task", "quality", "--format", "json", cwd=ws)  # fmt: skip
    result = json.loads(proc.stdout)
    assert result["task"] == "quality"
    ((k, n),) = _sql(ws, """select sum((a.label = g.label)::int), count(*) from annotations a
                            join gold g using (item_id, task) where a.task = 'quality'
                            and a.submitted_at >= date '2025-03-24'""")  # fmt: skip
    assert result["after"]["n"] == n and result["after"]["value"] == pytest.approx(k / n)
    missing = run_cli("rca", "--kpi", "accuracy", "--from", "2025-W10", "--to", "2025-W13",
                      cwd=ws, ok=False)  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "tasks: policy, quality" in missing.stderr


@settings(max_examples=60, deadline=None)
@given(
    q=st.integers(1, 10),
    n_items=st.integers(1, 60),
    max_count=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_patterns_are_ordered_as_compress_orders_them(
    q: int, n_items: int, max_count: int, seed: int
) -> None:
    """The per-period patterns reach the bootstrap in compress()'s order (both of its
    branches: the base-(max+1) key, and the lexicographic one past 62 bits)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, max_count + 1, size=(n_items, q))
    ref = compress(counts)
    rows, mult = np.unique(counts, axis=0, return_counts=True)
    perm = rng.permutation(len(rows))
    got = compressed(rows[perm].astype(np.float64), mult[perm].astype(np.float64))
    assert got.rows.tolist() == ref.rows.tolist()
    assert got.mult.tolist() == ref.mult.tolist()


def test_slice_targets_with_several_tasks() -> None:
    tasks = ("policy", "quality")
    target = KpiTarget(
        target=0.9,
        slices=(
            SliceTarget(where={"task": "quality"}, target=0.6),
            SliceTarget(where={"locale": "de"}, target=0.8),
            SliceTarget(where={"task": "policy", "locale": "en"}, target=0.7),
        ),
    )
    goals, notes = slice_goals(KPIS["accuracy"], target, tasks)
    # no default task "label": a slice without a task is read on every task
    assert [(g.where, g.target) for g in goals] == [
        ({"task": "policy", "locale": "de"}, 0.8),
        ({"task": "quality", "locale": "de"}, 0.8),
        ({"task": "policy", "locale": "en"}, 0.7),
    ]
    assert notes == []
    goals, notes = slice_goals(KPIS["avg_handling_time_s"], target, tasks)
    assert [g.where for g in goals] == [{"locale": "de"}]
    assert len(notes) == 2 and all("over all tasks" in n for n in notes)
    goals, notes = slice_goals(KPIS["krippendorff_alpha"], target, ("label", *tasks))
    assert goals == [] and len(notes) == 2
    assert all("monitored per task only" in n for n in notes)
    assert series_target(target, "quality", ("label", *tasks)) == 0.6
    assert series_target(target, "policy", ("label", *tasks)) is None
