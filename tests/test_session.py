"""One analysis run: the report's figures are the library's and the command line's.

A small dated workspace (three ISO weeks, two locales, two vendors, gold on
half the items) is reported on once; each figure the report shows is then
recomputed three other ways — by the public library call, by the command line
and by an independent computation (plain SQL over the stored tables with
statsmodels' Wilson interval; the ``krippendorff`` package for α) — and must
agree. The session must build each shared aggregate once per run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import krippendorff
import numpy as np
import pyarrow as pa
import pytest
from statsmodels.stats.proportion import proportion_confint

import opsloop.session._session as session_module
from opsloop.config import Config, ProjectConfig, Taxonomy
from opsloop.engine import Workspace
from opsloop.io import ingest
from opsloop.metrics import agreement, quality
from opsloop.monitor import Cube, review_week
from opsloop.monitor._agreement_series import _patterns, _patterns_by_column
from opsloop.rca import rater_expr
from opsloop.rca._inputs import rater_table
from opsloop.rca._workspace_inputs import workspace_rater_table
from opsloop.report import build_report, write_report
from opsloop.session import Session
from opsloop.views import annotation_view
from tests.helpers import run_cli

LABELS = ("none", "spam", "hate")
MONDAYS = (dt.date(2025, 1, 6), dt.date(2025, 1, 13), dt.date(2025, 1, 20))


def _write_csv(path: Path, table: pa.Table) -> Path:
    import pyarrow.csv as pcsv

    pcsv.write_csv(table, path)
    return path


def _operation(root: Path) -> Path:
    """240 items, each labelled by 3 of 6 raters (accuracy about 0.8), gold on even items."""
    rng = np.random.default_rng(11)
    items = [f"i{k:03d}" for k in range(240)]
    raters = [f"r{k}" for k in range(6)]
    truth = rng.choice(LABELS, size=len(items), p=[0.5, 0.3, 0.2])
    rows: dict[str, list[Any]] = {c: [] for c in ("item_id", "rater_id", "label", "submitted_at",
                                                  "duration_s", "queue")}  # fmt: skip
    for k, item in enumerate(items):
        week = MONDAYS[k % 3]
        for r in rng.choice(len(raters), size=3, replace=False):
            right = rng.random() < (0.9 if r < 3 else 0.7)
            label = truth[k] if right else rng.choice([x for x in LABELS if x != truth[k]])
            when = dt.datetime.combine(week, dt.time(9)) + dt.timedelta(
                hours=int(rng.integers(0, 120))
            )
            rows["item_id"].append(item)
            rows["rater_id"].append(raters[r])
            rows["label"].append(str(label))
            rows["submitted_at"].append(when.isoformat())
            rows["duration_s"].append(float(rng.integers(10, 90)))
            rows["queue"].append("escalation" if k % 5 == 0 else "standard")
    files = root / "files"
    files.mkdir(parents=True)
    _write_csv(files / "annotations.csv", pa.table(rows))
    _write_csv(
        files / "items.csv",
        pa.table(
            {"item_id": items, "locale": ["de" if k % 4 < 2 else "fr" for k in range(len(items))]}
        ),
    )
    _write_csv(
        files / "raters.csv",
        pa.table({"rater_id": raters, "vendor": ["Acme", "Acme", "Acme", "Beta", "Beta", "Beta"]}),
    )
    gold = [k for k in range(len(items)) if k % 2 == 0]
    _write_csv(files / "gold.csv", pa.table({
        "item_id": [items[k] for k in gold], "label": [str(truth[k]) for k in gold]}))  # fmt: skip
    ws = Workspace.init(
        root / "ws",
        Config(
            project=ProjectConfig(name="session"),
            taxonomy=Taxonomy(labels=LABELS, benign=("none",)),
        ),
    )
    for table in ("items", "raters", "annotations", "gold"):
        ingest(ws, table, [files / f"{table}.csv"])
    ws.close()
    return root / "ws"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _operation(tmp_path_factory.mktemp("session"))


@pytest.fixture(scope="module")
def report(workspace: Path) -> dict[str, Any]:
    ws = Workspace.open(workspace)
    files = write_report(ws)
    ws.close()
    loaded: dict[str, Any] = json.loads(files.json.read_text())
    return loaded


def _sql(workspace: Path, query: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(workspace / "opsloop.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_accuracy_by_locale_equals_quality_cli_and_sql(
    workspace: Path, report: dict[str, Any]
) -> None:
    week = report["week"]
    rows = {r["value"]: r for r in report["slices"]
            if r["kpi"] == "accuracy" and r["dimension"] == "locale"}  # fmt: skip
    assert set(rows) == {"de", "fr"}
    out = run_cli("-w", str(workspace), "quality", "--by", "locale,week", "-m", "accuracy",
                  "--format", "json").stdout  # fmt: skip
    cli = {r["slice"]["locale"]: r for r in json.loads(out) if r["slice"]["week"] == week["start"]}
    counts = dict(
        (locale, (k, n))
        for locale, k, n in _sql(
            workspace,
            f"""
            select i.locale, sum((a.label = g.label)::int), count(*)
            from annotations a join gold g using (item_id) join items i using (item_id)
            where a.submitted_at >= date '{week["start"]}'
              and a.submitted_at < date '{week["start"]}' + interval 7 day
            group by 1""",
        )
    )
    for locale, row in rows.items():
        k, n = counts[locale]
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert row["current_n"] == n == cli[locale]["extra"]["n"]
        assert row["current"] == pytest.approx(k / n, abs=1e-6)
        assert cli[locale]["value"] == pytest.approx(k / n, abs=1e-12)
        assert row["current_ci"] == pytest.approx([low, high], abs=1e-6)
        assert [cli[locale]["ci_low"], cli[locale]["ci_high"]] == pytest.approx([low, high])


def _alpha_reference(workspace: Path, monday: str) -> float:
    """Krippendorff's α of one week by the ``krippendorff`` package (reliability matrix)."""
    rows = _sql(
        workspace,
        f"""select rater_id, item_id, label from annotations
        where submitted_at >= date '{monday}' and submitted_at < date '{monday}' + interval 7 day""",
    )
    raters = sorted({r for r, _, _ in rows})
    items = sorted({i for _, i, _ in rows})
    matrix = np.full((len(raters), len(items)), np.nan)
    for r, i, label in rows:
        matrix[raters.index(r), items.index(i)] = LABELS.index(label)
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def test_alpha_per_week_equals_agreement_cli_and_krippendorff(
    workspace: Path, report: dict[str, Any]
) -> None:
    series = next(s for s in report["monitor"]["series"] if s["kpi"] == "krippendorff_alpha")
    out = run_cli("-w", str(workspace), "agreement", "--by", "week", "-m", "krippendorff_alpha",
                  "--format", "json").stdout  # fmt: skip
    cli = {r["slice"]["week"]: r for r in json.loads(out)}
    assert len(series["periods"]) == len(MONDAYS)
    for i, monday in enumerate(MONDAYS):
        day = monday.isoformat()
        assert series["value"][i] == pytest.approx(cli[day]["value"], abs=1e-12)
        assert series["ci_low"][i] == pytest.approx(cli[day]["ci_low"], abs=1e-12)
        assert series["ci_high"][i] == pytest.approx(cli[day]["ci_high"], abs=1e-12)
        assert series["value"][i] == pytest.approx(_alpha_reference(workspace, day), abs=1e-9)


def test_scorecard_equals_quality_and_sql(workspace: Path, report: dict[str, Any]) -> None:
    card = next(c for c in report["scorecards"] if c["rater_id"] == "r4")
    end = dt.date.fromisoformat(report["week"]["end"]) + dt.timedelta(days=1)
    start = end - dt.timedelta(days=28)
    ((k, n, handled),) = _sql(
        workspace,
        f"""
        select sum((a.label = g.label)::int) filter (where g.label is not null),
               count(g.label), count(*)
        from annotations a left join gold g using (item_id)
        where a.rater_id = 'r4' and a.submitted_at >= date '{start}'
          and a.submitted_at < date '{end}'""",
    )
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert (card["gold_n"], card["items_handled"], card["vendor"]) == (n, handled, "Beta")
    assert card["accuracy"] == pytest.approx(k / n, abs=1e-6)
    assert card["accuracy_ci"] == pytest.approx([low, high], abs=1e-6)
    ws = Workspace.open(workspace)
    try:
        view = annotation_view(ws)
        recent = view.filter(view.submitted_at >= dt.datetime.combine(start, dt.time()))
        rec = next(
            r
            for r in quality(
                recent, gold=ws.table("gold"), metrics=["accuracy"], by=["rater_id"]
            ).records
            if r.slice["rater_id"] == "r4"
        )
    finally:
        ws.close()
    assert rec.value == pytest.approx(k / n, abs=1e-12)
    assert (rec.ci_low, rec.ci_high) == pytest.approx((low, high), abs=1e-12)


def test_monitor_cli_shows_the_reports_statuses(workspace: Path, report: dict[str, Any]) -> None:
    proc = run_cli("-w", str(workspace), "monitor", "--format", "json", ok=False)
    assert proc.returncode in (0, 1), proc.stderr
    cli = json.loads(proc.stdout)["statuses"]
    key = ("kpi", "where", "scope", "period", "value", "ci_low", "ci_high", "n", "status")
    assert [tuple(str(s[k]) for k in key) for s in cli] == [
        tuple(str(s[k]) for k in key) for s in report["monitor"]["statuses"]
    ]


def test_a_run_builds_each_shared_aggregate_once(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"cube": 0, "raters": 0, "agreement": 0}

    def counted(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(session_module, "workspace_cube",
                        counted("cube", session_module.workspace_cube))  # fmt: skip
    monkeypatch.setattr(session_module, "workspace_rater_table",
                        counted("raters", session_module.workspace_rater_table))  # fmt: skip
    monkeypatch.setattr(session_module, "workspace_agreement",
                        counted("agreement", session_module.workspace_agreement))  # fmt: skip
    ws = Workspace.open(workspace)
    try:
        run = Session(ws)
        report = build_report(ws, session=run)
        inputs = run.rca_inputs()
        run.scorecards(None)
        run.monitor(as_of=report.monitor.as_of if report.monitor else None)
    finally:
        ws.close()
    assert calls == {"cube": 1, "raters": 1, "agreement": 1}
    assert inputs.cube is run.cube() and report.changes


def test_weekly_rater_table_equals_the_weekly_query(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    try:
        daily = workspace_rater_table(ws, ("label",), ["vendor"], grain="day").weekly()
        query = rater_expr(ws.table("annotations"), ws.config, gold=ws.table("gold"),
                           grain="week", tasks=("label",))  # fmt: skip
        weekly = rater_table(query.to_pyarrow(), (), "week")
    finally:
        ws.close()
    assert daily.rater_ids == weekly.rater_ids and daily.attributes["vendor"][4] == "Beta"

    def cells(t: Any) -> dict[tuple[int, int], tuple[float, ...]]:
        return {(int(r), int(d)): tuple(t.sums[m][i] for m in ("ann_n", "g_n", "g_k", "aht_s"))
                for i, (r, d) in enumerate(zip(t.rater, t.day, strict=True))}  # fmt: skip

    a, b = cells(daily), cells(weekly)
    assert a.keys() == b.keys()
    for key, values in a.items():
        assert values == pytest.approx(b[key], rel=1e-12)


def test_packed_patterns_equal_one_column_per_category() -> None:
    import ibis

    rng = np.random.default_rng(3)
    n = 400
    t = ibis.memtable(pa.table({
        "__p": rng.integers(0, 3, n), "__task": ["label"] * n,
        "item_id": [f"i{k}" for k in rng.integers(0, 60, n)],
        "label": rng.choice(["a", "b", "c", "d"], n)}))  # fmt: skip
    cats = ["a", "b", "c", "d"]

    def as_set(p: Any) -> set[tuple[Any, ...]]:
        periods, tasks, rows, mult = p
        return {(int(a), b, tuple(r), m) for a, b, r, m in zip(periods, tasks, rows.tolist(), mult,
                                                              strict=True)}  # fmt: skip

    assert as_set(_patterns(t, cats)) == as_set(_patterns_by_column(t, cats))
    # an item with more ratings in a period than a packed field holds: one column each
    many = ibis.memtable(
        pa.table(
            {
                "__p": [0] * 70000,
                "__task": ["label"] * 70000,
                "item_id": ["x"] * 70000,
                "label": ["a"] * 70000,
            }
        )
    )
    many_cats = [f"c{j}" for j in range(5)] + ["a"]
    _, _, rows, mult = _patterns(many, many_cats)
    assert rows.tolist() == [[0, 0, 0, 0, 0, 70000]] and mult.tolist() == [1.0]


def test_review_week_moved_below_the_report_keeps_its_rule() -> None:
    mondays = np.array([20094, 20101, 20108])  # 2025-W02 … W04
    cube = Cube((), {}, mondays, {}, {"ann_n": np.array([900.0, 880.0, 12.0])})
    r = review_week(cube)
    assert (r.week.label, r.skipped, r.stop) == ("2025-W03", (("2025-W04", 12),), 20108)


def test_agreement_by_slice_is_agreement_on_the_week(
    workspace: Path, report: dict[str, Any]
) -> None:
    week = report["week"]
    ws = Workspace.open(workspace)
    try:
        view = annotation_view(ws)
        start = dt.datetime.fromisoformat(week["start"])
        recent = view.filter(
            (view.submitted_at >= start) & (view.submitted_at < start + dt.timedelta(days=7))
        )
        direct = agreement(recent.select("item_id", "rater_id", "label", "vendor").to_pyarrow(),
                           metrics=["krippendorff_alpha"], by=["vendor"])  # fmt: skip
    finally:
        ws.close()
    shown = {r["slice_value"]: r for r in report["agreement_by_slice"]
             if r["dimension"] == "vendor" and r["metric"] == "krippendorff_alpha"}  # fmt: skip
    for rec in direct.records:
        row = shown[rec.slice["vendor"]]
        assert row["value"] == pytest.approx(rec.value, abs=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            (rec.ci_low, rec.ci_high), abs=1e-12
        )


def test_reading_reads_the_catalog_once_and_sees_derived_writes(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    ws = Workspace.open(root)
    asked = {"n": 0}
    real = type(ws.backend()).list_tables

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked["n"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(ws.backend()), "list_tables", counted)
    try:
        with ws.reading():
            names = [ws.has_table(t) for t in ("annotations", "gold", "audits")]
            ws.table("annotations"), ws.table("annotations")
            assert asked["n"] == 1 and names == [True, True, False]
            ws.write_derived("scratch_result", pa.table({"x": [1, 2]}))
            assert "scratch_result" in ws.derived_table_names()
            assert ws.row_count("scratch_result") == 2
        before = asked["n"]
        ws.has_table("gold"), ws.has_table("gold")
        assert asked["n"] == before + 2  # outside a reading block every ask is a query
    finally:
        ws.close()
