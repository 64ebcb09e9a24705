"""RAG status, monitor() and the agreement series.

Expected values come from the status rule written out case by case, from small
hand-built cubes whose answers follow from arithmetic, or — on the demo
operation — from the demo's manifest (which effect was planted where) and from
independent DuckDB SQL over the generated Parquet files; agreement is checked
against the ``krippendorff`` package (peers extra) and ``metrics.agreement()``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pytest

from opsloop.config import Config, KpiTarget, SliceTarget
from opsloop.demo import DemoData, generate_demo
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.io import ingest
from opsloop.metrics import agreement
from opsloop.monitor import (
    AgreementPoint,
    Cube,
    MonitorResult,
    agreement_by_period,
    kpi_status,
    monitor,
    monitor_workspace,
    parse_period,
    worst_status,
)
from opsloop.monitor._cube import MEASURES
from opsloop.schema import INGEST_ORDER

# --- the status rule -------------------------------------------------------------------

H, L = "higher", "lower"


@pytest.mark.parametrize(
    ("value", "low", "high", "target", "direction", "margin", "expected"),
    [
        # higher is better, target 0.90, warning band 0.02
        (0.95, 0.93, 0.97, 0.90, H, 0.02, "green"),  # all above, beyond the band
        (0.915, 0.905, 0.925, 0.90, H, 0.02, "amber"),  # all above, inside the band
        (0.92, 0.90, 0.94, 0.90, H, 0.02, "green"),  # ci_low == target counts as above
        (0.92, 0.899, 0.94, 0.90, H, 0.02, "amber"),  # straddles the target
        (0.88, 0.86, 0.90, 0.90, H, 0.02, "amber"),  # ci_high == target: not all below
        (0.88, 0.86, 0.8999, 0.90, H, 0.02, "red"),  # the whole interval below
        (0.90, 0.90, 0.90, 0.90, H, 0.0, "green"),  # no band: on the target is green
        # lower is better, target 0.05, warning band 0.01
        (0.03, 0.02, 0.04, 0.05, L, 0.01, "green"),
        (0.045, 0.041, 0.049, 0.05, L, 0.01, "amber"),  # inside the band
        (0.04, 0.03, 0.05, 0.05, L, 0.01, "green"),  # ci_high == target counts as below
        (0.06, 0.05, 0.07, 0.05, L, 0.01, "amber"),  # ci_low == target: not all above
        (0.06, 0.0501, 0.07, 0.05, L, 0.01, "red"),
        # no interval (throughput): the value decides
        (120.0, None, None, 100.0, H, 50.0, "amber"),
        (150.0, None, None, 100.0, H, 50.0, "green"),
        (99.0, None, None, 100.0, H, 50.0, "red"),
        (100.0, math.nan, math.nan, 100.0, H, 0.0, "green"),
        (100.0, math.nan, math.nan, 100.0, H, 1.0, "amber"),
        (40.0, None, None, 50.0, L, 5.0, "green"),
        (47.0, None, None, 50.0, L, 5.0, "amber"),
        (51.0, None, None, 50.0, L, 5.0, "red"),
        # nothing to judge
        (0.9, 0.8, 1.0, None, H, 0.0, "none"),
        (None, None, None, 0.9, H, 0.0, "none"),
        (math.nan, math.nan, math.nan, 0.9, L, 0.0, "none"),
    ],
)
def test_kpi_status_rule(
    value: float | None,
    low: float | None,
    high: float | None,
    target: float | None,
    direction: Any,
    margin: float,
    expected: str,
) -> None:
    assert kpi_status(value, low, high, target, direction, margin) == expected


def test_kpi_status_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        kpi_status(0.9, 0.8, 1.0, 0.9, "up", 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kpi_status(0.9, 0.8, 1.0, 0.9, "higher", -0.1)


def test_worst_status() -> None:
    assert worst_status(["green", "red", "amber"]) == "red"
    assert worst_status(["none", "green"]) == "green"


# --- monitor() on hand-built cubes ---------------------------------------------------------

MON = dt.date(2025, 1, 6)  # Monday of 2025-W02


def _cube(rows: list[tuple[dt.date, str, dict[str, float]]]) -> Cube:
    """A cube (annotations and gold, no audits) with one dimension ``queue``."""
    levels = ("escalation", "standard")
    day = np.array([(d - dt.date(1970, 1, 1)).days for d, _, _ in rows], dtype=np.int64)
    codes = np.array([levels.index(q) for _, q, _ in rows], dtype=np.int64)
    sums = {m: np.array([s.get(m, 0.0) for _, _, s in rows], dtype=np.float64) for m in MEASURES}
    return Cube(("queue",), {"queue": levels}, day, {"queue": codes}, sums, ("annotations", "gold"))


def _acc(n: float, k: float, ann: float | None = None) -> dict[str, float]:
    return {"g_n": n, "g_k": k, "ann_n": n if ann is None else ann}


def _config(**targets: KpiTarget) -> Config:
    return Config(kpis=targets)


def _wilson(k: float, n: float) -> tuple[float, float]:
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_weekly_series_gap_and_statuses() -> None:
    cube = _cube(
        [
            (MON, "standard", _acc(100, 95)),
            (MON + dt.timedelta(days=3), "escalation", _acc(100, 85)),
            # no data in the week of 2025-01-13 (2025-W03)
            (MON + dt.timedelta(days=14), "standard", _acc(200, 150)),
        ]
    )
    cfg = _config(accuracy=KpiTarget(target=0.85, direction="higher", amber_margin=0.02))
    r = monitor(cube, cfg)
    (s,) = r.series
    assert s.periods == ("2025-W02", "2025-W03", "2025-W04")
    assert s.value[0] == pytest.approx(180 / 200) and math.isnan(s.value[1])
    assert s.value[2] == pytest.approx(0.75)
    assert s.n == (200.0, 0.0, 200.0)
    assert s.chart == "p" and s.centre == pytest.approx(330 / 400)
    assert any("no data in 1 period(s): 2025-W03" in n for n in r.notes)
    latest = next(x for x in r.statuses if x.scope == "latest")
    window = next(x for x in r.statuses if x.scope == "window")
    assert (latest.period, window.period) == ("2025-W04", "2025-W02..2025-W04")
    lo, hi = _wilson(150, 200)
    assert (latest.ci_low, latest.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert latest.status == "red"  # 0.75, CI ≈ 0.69–0.80, all below 0.85
    assert window.value == pytest.approx(330 / 400)
    assert window.status == kpi_status(330 / 400, *_wilson(330, 400), 0.85, "higher", 0.02)
    assert r.has_red
    assert r.breaches[0].kind == "red" and "below its target" in r.breaches[0].message
    json.dumps(r.to_dict(), allow_nan=False)


def test_throughput_divides_by_days_with_data() -> None:
    # data from a Wednesday to the Tuesday two weeks later: 5, 7 and 2 days
    wed = MON + dt.timedelta(days=2)
    rows = [(wed + dt.timedelta(days=i), "standard", {"ann_n": 10.0}) for i in range(14)]
    r = monitor(_cube(rows), _config(throughput=KpiTarget(target=5, amber_margin=2)))
    (s,) = r.series
    assert s.value == pytest.approx((10.0, 10.0, 10.0))
    assert s.chart == "none" and math.isnan(s.ucl[0]) and s.signals == ()
    statuses = {x.scope: x for x in r.statuses}
    assert statuses["window"].value == pytest.approx(140 / 14)
    assert statuses["latest"].n == 20.0 and statuses["latest"].status == "green"


def test_slice_targets_and_their_problems() -> None:
    cube = _cube(
        [
            (MON, "standard", _acc(100, 95)),
            (MON, "escalation", _acc(50, 30)),
        ]
    )
    target = KpiTarget(
        target=0.8,
        slices=(
            SliceTarget(where={"queue": "escalation"}, target=0.7),
            SliceTarget(where={"planet": "mars"}, target=0.7),
            SliceTarget(where={"queue": "vip"}, target=0.7),
        ),
    )
    r = monitor(cube, _config(accuracy=target))
    esc = [s for s in r.statuses if s.where == {"queue": "escalation"}]
    assert {s.scope for s in esc} == {"latest", "window"}
    assert esc[0].value == pytest.approx(0.6) and esc[0].target == 0.7
    assert esc[0].status == kpi_status(0.6, *_wilson(30, 50), 0.7, "higher", 0.0)
    assert any("unknown dimension 'planet'" in n for n in r.notes)
    assert any("queue has no value 'vip'" in n for n in r.notes)
    assert {tuple(s.where) for s in r.statuses} == {(), ("queue",)}


def test_targets_the_data_cannot_measure_become_notes() -> None:
    cube = _cube([(MON, "standard", _acc(10, 9))])
    cfg = _config(
        accuracy=KpiTarget(target=0.5),
        audit_accuracy=KpiTarget(target=0.9),
        gwet_ac1=KpiTarget(target=0.6),
    )
    r = monitor(cube, cfg)
    assert [s.kpi for s in r.series] == ["accuracy"]
    assert any(n.startswith("audit_accuracy: has a target") and "audits" in n for n in r.notes)
    assert any(n.startswith("gwet_ac1: not computed") for n in r.notes)
    assert not r.has_red


def test_kpi_choice_and_usage_errors() -> None:
    cube = _cube([(MON, "standard", _acc(10, 9))])
    with pytest.raises(UsageError, match="did you mean 'accuracy'"):
        monitor(cube, Config(), kpis=["acuracy"])
    with pytest.raises(UsageError, match="period"):
        monitor(cube, Config(), period="month")
    empty = _cube([])
    with pytest.raises(UsageError, match="submitted_at"):
        monitor(empty, Config())
    # no targets: every KPI the cube can measure, with status "none"
    r = monitor(cube, Config())
    assert {s.kpi for s in r.series} == {"accuracy", "throughput"}
    assert {s.status for s in r.statuses} == {"none"} and not r.has_red


def test_as_of_restricts_to_earlier_periods() -> None:
    cube = _cube(
        [(MON + dt.timedelta(days=7 * w), "standard", _acc(100, 90 - w)) for w in range(4)]
    )
    cfg = _config(accuracy=KpiTarget(target=0.5))
    by_period = monitor(cube, cfg, as_of=parse_period("2025-W03"))
    by_day = monitor(cube, cfg, as_of=dt.date(2025, 1, 15))
    for r in (by_period, by_day):
        assert r.latest == "2025-W03" and r.series[0].periods == ("2025-W02", "2025-W03")
        assert r.series[0].value[-1] == pytest.approx(0.89)
    # a day mid-week keeps only the data up to that day
    assert by_day.as_of == dt.date(2025, 1, 13)
    with pytest.raises(UsageError, match="before the as-of"):
        monitor(cube, cfg, as_of=dt.date(2024, 1, 1))


def test_daily_periods_and_an_x_bar_chart() -> None:
    rows = []
    for i in range(10):
        x = 30.0 if i < 9 else 60.0  # the last day is much slower
        rows.append((MON + dt.timedelta(days=i), "standard",
                     {"aht_n": 100.0, "aht_s": 100 * x, "aht_s2": 100 * (x * x + 25.0)}))  # fmt: skip
    r = monitor(_cube(rows), _config(avg_handling_time_s=KpiTarget(target=45.0)), period="day")
    (s,) = r.series
    assert s.periods[0] == "2025-01-06" and len(s.periods) == 10
    assert s.chart == "xbar" and s.centre == pytest.approx(33.0)
    # per day: n = 100, s² = (Σx² − n·x̄²)/(n − 1) = 2500/99, se = sqrt(s²/n)
    assert s.ucl[0] == pytest.approx(33.0 + 3 * math.sqrt(2500 / 99 / 100))
    kinds = {b.kind for b in r.breaches}
    assert {"red", "spc_beyond_limits"} <= kinds
    signal = next(b for b in r.breaches if b.kind == "spc_beyond_limits")
    assert signal.period == "2025-01-15" and "above its upper control limit" in signal.message


def test_agreement_points_are_monitored_per_task() -> None:
    cube = _cube([(MON + dt.timedelta(days=7 * w), "standard", _acc(10, 9)) for w in range(3)])
    pts = [
        AgreementPoint("gwet_ac1", f"2025-W0{w + 2}", MON + dt.timedelta(days=7 * w),
                       0.8 - 0.1 * w, 0.75 - 0.1 * w, 0.85 - 0.1 * w, 0.025, 100, 5, {"task": t})
        for w in range(3) for t in ("a", "b")
    ]  # fmt: skip
    r = monitor(cube, _config(gwet_ac1=KpiTarget(target=0.7)), agreement={"gwet_ac1": pts})
    assert [s.where for s in r.series] == [{"task": "a"}, {"task": "b"}]
    assert all(s.chart == "none" and not math.isnan(s.ewma[0]) for s in r.series)
    latest = [s for s in r.statuses if s.scope == "latest"]
    assert [s.status for s in latest] == ["red", "red"]  # 0.6 (0.55–0.65) < 0.7


# --- the demo operation -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoData, MonitorResult, Path]:
    root = tmp_path_factory.mktemp("monitor")
    data = generate_demo(root / "files", scale="small", seed=7)
    ws = Workspace.init(root / "ws", data.config)
    try:
        for table in INGEST_ORDER:
            if data.files.get(table):
                ingest(ws, table, list(data.files[table]))
        result = monitor_workspace(ws)
    finally:
        ws.close()
    return data, result, root / "ws"


def _sql(data: DemoData) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table, files in data.files.items():
        paths = ", ".join(f"'{p}'" for p in files)
        con.execute(f"create view {table} as select * from read_parquet([{paths}])")
    return con


def _iso(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _manifest(data: DemoData) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data.manifest_path.read_text())
    return loaded


def _series(result: MonitorResult, kpi: str) -> Any:
    return next(s for s in result.series if s.kpi == kpi and not s.where)


def test_demo_weekly_accuracy_matches_sql_and_flags_the_new_cohort(
    demo: tuple[DemoData, MonitorResult, Path],
) -> None:
    data, result, _ = demo
    rows = (
        _sql(data)
        .execute(
            """select date_trunc('week', a.submitted_at)::date as w,
                  sum((a.label = g.label)::int) as k, count(*) as n
           from annotations a join gold g using (item_id, task)
           group by w order by w"""
        )
        .fetchall()
    )
    s = _series(result, "accuracy")
    assert s.periods == tuple(_iso(w) for w, _, _ in rows)
    k = np.array([r[1] for r in rows], dtype=float)
    n = np.array([r[2] for r in rows], dtype=float)
    assert np.allclose(s.value, k / n, rtol=0, atol=1e-12)
    assert s.n == pytest.approx(tuple(n))
    # p-chart limits from the SQL counts (Montgomery §7.2.2)
    pbar = k.sum() / n.sum()
    ucl = pbar + 3 * np.sqrt(pbar * (1 - pbar) / n)
    lcl = pbar - 3 * np.sqrt(pbar * (1 - pbar) / n)
    assert s.centre == pytest.approx(pbar)
    assert np.allclose(s.ucl, ucl) and np.allclose(s.lcl, lcl)
    p = k / n
    expected = {(s.periods[i], "below" if p[i] < lcl[i] else "above")
                for i in range(len(p)) if p[i] < lcl[i] or p[i] > ucl[i]}  # fmt: skip
    got = {(x.period, x.side) for x in s.signals if x.rule == "beyond_limits"}
    assert got == expected
    # the manifest: a vendor onboarded a new cohort from the week of 2025-03-10 on
    effect = next(e for e in _manifest(data)["effects"] if e["id"] == "vendor_new_raters")
    onboarded = _iso(dt.date.fromisoformat(effect["when"]["start"]))
    assert effect["expected"]["accuracy"]["direction"] == "decrease"
    after = [x for x in s.signals if x.period >= onboarded and x.side == "below" and x.worse]
    assert any(x.rule == "beyond_limits" for x in after)


def test_demo_latest_week_statuses_match_sql(demo: tuple[DemoData, MonitorResult, Path]) -> None:
    data, result, _ = demo
    con = _sql(data)
    last = con.execute("select max(submitted_at)::date from annotations").fetchone()
    assert last is not None
    monday = last[0] - dt.timedelta(days=last[0].weekday())
    assert result.latest == _iso(monday)
    esc = con.execute(
        """select avg((a.label = g.label)::int), count(*)
           from annotations a join gold g using (item_id, task)
           where a.queue = 'escalation' and a.submitted_at >= ?""",
        [monday],
    ).fetchone()
    assert esc is not None
    got = next(s for s in result.statuses
               if s.kpi == "accuracy" and s.where == {"queue": "escalation"} and s.scope == "latest")  # fmt: skip
    assert (got.value, got.n) == (pytest.approx(esc[0]), esc[1])
    target = data.config.kpis["accuracy"].slices[0].target
    assert got.status == kpi_status(esc[0], *_wilson(esc[0] * esc[1], esc[1]), target, "higher",
                                    data.config.kpis["accuracy"].amber_margin)  # fmt: skip
    aht = con.execute(
        "select avg(duration_s), count(*) from annotations where submitted_at >= ?", [monday]
    ).fetchone()
    assert aht is not None
    st = next(s for s in result.statuses if s.kpi == "avg_handling_time_s" and s.scope == "latest")
    assert (st.value, st.n) == (pytest.approx(aht[0]), aht[1])
    audited = con.execute(
        """select count(*) from audits u join annotations a using (item_id, rater_id, task)
           where a.submitted_at >= ?""",
        [monday],
    ).fetchone()
    assert audited is not None
    st = next(s for s in result.statuses if s.kpi == "audit_accuracy" and s.scope == "latest")
    assert st.n == audited[0]
    # every red status is a breach; the run exits non-zero in the CLI
    reds = {(s.kpi, s.period) for s in result.statuses if s.status == "red" and not s.where}
    assert reds <= {(b.kpi, b.period) for b in result.breaches if b.kind == "red"}
    json.dumps(result.to_dict(), allow_nan=False)


def test_demo_agreement_series_matches_krippendorff_and_agreement(
    demo: tuple[DemoData, MonitorResult, Path],
) -> None:
    kd = pytest.importorskip("krippendorff")
    data, result, ws_root = demo
    con = _sql(data)
    monday = dt.date(2025, 2, 3)  # 2025-W06
    counts = con.execute(
        """select item_id, label, count(*) from annotations
           where submitted_at >= ? and submitted_at < ? group by all""",
        [monday, monday + dt.timedelta(days=7)],
    ).fetchall()
    items = sorted({c[0] for c in counts})
    labels = sorted({c[1] for c in counts})
    vc = np.zeros((len(items), len(labels)))
    for item, label, n in counts:
        vc[items.index(item), labels.index(label)] = n
    expected_alpha = kd.alpha(value_counts=vc, level_of_measurement="nominal")
    series = _series(result, "krippendorff_alpha")
    i = series.periods.index("2025-W06")
    assert series.value[i] == pytest.approx(expected_alpha, abs=1e-9)
    # the same week through metrics.agreement() on that week's rows
    ws = Workspace.open(ws_root)
    try:
        ann = ws.table("annotations")
        start = dt.datetime.combine(monday, dt.time())
        week = ann.filter(
            (ann.submitted_at >= start) & (ann.submitted_at < start + dt.timedelta(days=7))
        )
        rec = agreement(week, metrics=["gwet_ac1"], n_boot=0).records[0]
    finally:
        ws.close()
    ac1 = _series(result, "gwet_ac1")
    assert ac1.value[i] == pytest.approx(rec.value, abs=1e-12)
    assert (ac1.ci_low[i], ac1.ci_high[i]) == (
        pytest.approx(rec.ci_low),
        pytest.approx(rec.ci_high),
    )
    assert ac1.n[i] == rec.n_items


def test_agreement_by_period_small_table() -> None:
    d1, d2 = dt.datetime(2025, 1, 6, 9), dt.datetime(2025, 1, 14, 9)
    t = pa.table(
        {
            "item_id": ["a", "a", "b", "b", "c", "c", "d", "d", "e"],
            "rater_id": ["x", "y", "x", "y", "x", "y", "x", "y", "x"],
            "label": ["1", "1", "0", "0", "1", "0", "1", "1", "0"],
            "submitted_at": [d1] * 6 + [d2] * 3,
            "task": ["t"] * 9,
        }
    )
    out = agreement_by_period(ibis.memtable(t), n_boot=0)
    alpha = out["krippendorff_alpha"]
    assert [p.period for p in alpha] == ["2025-W02", "2025-W03"]
    first = agreement(t.slice(0, 6), metrics=["krippendorff_alpha", "gwet_ac1"], n_boot=0)
    assert alpha[0].value == pytest.approx(first.records[0].value)
    assert out["gwet_ac1"][0].value == pytest.approx(first.records[1].value)
    assert alpha[0].n_items == 3 and alpha[0].n_raters == 2 and alpha[0].where == {}
    # week 3: one pairable item, all in one category: α is undefined
    assert math.isnan(alpha[1].value) and alpha[1].note
    with pytest.raises(UsageError, match="agreement KPIs"):
        agreement_by_period(ibis.memtable(t), metrics=["fleiss_kappa"])
    with pytest.raises(UsageError, match="submitted_at"):
        agreement_by_period(ibis.memtable(t.drop(["submitted_at"])))


def test_agreement_by_period_per_task_matches_agreement() -> None:
    d = dt.datetime(2025, 3, 3, 12)
    t = pa.table(
        {
            "item_id": ["a", "a", "a", "b", "b", "c", "c", "a", "a", "b", "b", "c", "c", "d", "d"],
            "rater_id": ["x", "y", "z", "x", "y", "x", "z", "x", "y", "x", "y", "x", "y", "x", "y"],
            "label": ["1", "2", "2", "0", "0", "1", "0", "3", "3", "1", "2", "2", "2", "3", "1"],
            "submitted_at": [d] * 15,
            "task": ["t1"] * 7 + ["t2"] * 8,
        }
    )
    out = agreement_by_period(ibis.memtable(t), n_boot=0, level="ordinal")
    ref = agreement(t, metrics=["krippendorff_alpha", "gwet_ac1"], level="ordinal", n_boot=0)
    for metric in ("krippendorff_alpha", "gwet_ac1"):
        got = {p.where["task"]: p.value for p in out[metric]}
        want = {r.slice["task"]: r.value for r in ref.records if r.metric == metric}
        assert got == pytest.approx(want)
        assert all(p.period == "2025-W10" for p in out[metric])
