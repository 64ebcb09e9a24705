"""The KPI cube and KPI estimates against independent SQL over the demo's Parquet files.

Every expected value here is computed by DuckDB directly from the generated
files (not through opsloop), or is a published figure.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest

from opsloop.demo import DemoData, generate_demo
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.io import ingest
from opsloop.monitor import Cube, estimate, parse_period, workspace_cube
from opsloop.monitor._kpis import wilson_arrays
from opsloop.schema import INGEST_ORDER


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoData, Cube]:
    root = tmp_path_factory.mktemp("cube")
    data = generate_demo(root / "files", scale="small", seed=3)
    ws = Workspace.init(root / "ws", data.config)
    for table in INGEST_ORDER:
        if data.files.get(table):
            ingest(ws, table, list(data.files[table]))
    cube = workspace_cube(ws)
    ws.close()
    return data, cube


def _sql(data: DemoData) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table, files in data.files.items():
        paths = ", ".join(f"'{p}'" for p in files)
        con.execute(f"create view {table} as select * from read_parquet([{paths}])")
    return con


def test_wilson_matches_published_values() -> None:
    # Wilson (1927) intervals as listed in ../shared/data/README.md
    low, high = wilson_arrays(np.array([95.0, 0.0]), np.array([100.0, 50.0]))
    assert low[0] == pytest.approx(0.8882, abs=1e-4)
    assert high[0] == pytest.approx(0.9785, abs=1e-4)
    assert low[1] == pytest.approx(0.0, abs=1e-9)
    assert high[1] == pytest.approx(0.0713, abs=1e-4)


def test_weekly_accuracy_by_locale_matches_sql(demo: tuple[DemoData, Cube]) -> None:
    data, cube = demo
    expected = {
        (str(w), loc): (k, n)
        for w, loc, k, n in _sql(data)
        .execute(
            """select date_trunc('week', a.submitted_at)::date, i.locale,
                      sum((a.label = g.label)::int), count(*)
               from annotations a join gold g using (item_id, task) join items i using (item_id)
               group by all"""
        )
        .fetchall()
    }
    r = cube.rollup(["locale"], period="week", measures=["g_n", "g_k"])
    got = {}
    for i in range(len(r)):
        monday = dt.date(1970, 1, 1) + dt.timedelta(days=int(r.keys["day"][i]))
        got[(str(monday), cube.levels["locale"][int(r.keys["locale"][i])])] = (
            r.sums["g_k"][i],
            r.sums["g_n"][i],
        )
    got = {k: v for k, v in got.items() if v[1] > 0}
    assert set(got) == set(expected)
    for key, (k, n) in expected.items():
        assert got[key] == (pytest.approx(k), pytest.approx(n))


def test_overall_kpis_match_sql(demo: tuple[DemoData, Cube]) -> None:
    data, cube = demo
    con = _sql(data)
    sums = cube.rollup().sums
    tax = data.config.taxonomy
    sev = " ".join(f"when '{k}' then {v}" for k, v in tax.severity.items())
    row = con.execute(
        f"""select avg((a.label = g.label)::int),
                   avg((a.label = 'none')::int) filter (where g.label <> 'none'),
                   avg((a.label <> 'none')::int) filter (where g.label = 'none'),
                   sum((case g.label {sev} else 0 end) * (a.label <> g.label)::int)
                     / sum(case g.label {sev} else 0 end)
            from annotations a join gold g using (item_id, task)"""
    ).fetchone()
    assert row is not None
    for name, value in zip(
        ("accuracy", "leakage", "over_enforcement", "severity_weighted_error"), row, strict=True
    ):
        assert float(estimate(name, sums).value[0]) == pytest.approx(value, rel=1e-9), name
    aht, cost, n = con.execute(
        "select avg(duration_s), avg(unit_cost_usd), count(*) from annotations"
    ).fetchone() or (0, 0, 0)
    assert float(estimate("avg_handling_time_s", sums).value[0]) == pytest.approx(aht)
    assert float(estimate("unit_cost", sums).value[0]) == pytest.approx(cost)
    audited = con.execute(
        """select count(*) from audits u join annotations a using (item_id, rater_id, task)"""
    ).fetchone()
    assert audited is not None
    assert float(estimate("audit_coverage", sums).value[0]) == pytest.approx(audited[0] / n)
    hours = data.config.sla_hours
    sla = con.execute(
        f"""select avg((a.submitted_at - i.created_at <= to_microseconds(({hours} * 3600e6)::bigint))::int)
           from annotations a join items i using (item_id)"""
    ).fetchone()
    assert sla is not None
    assert float(estimate("sla_turnaround", sums).value[0]) == pytest.approx(sla[0])


def test_mean_interval_matches_t_free_normal_formula(demo: tuple[DemoData, Cube]) -> None:
    data, cube = demo
    sd, n = _sql(data).execute(
        "select stddev_samp(duration_s), count(*) from annotations"
    ).fetchone() or (0, 0)
    e = estimate("avg_handling_time_s", cube.rollup().sums)
    assert float(e.se[0]) == pytest.approx(sd / np.sqrt(n), rel=1e-6)


def test_tenure_dimension_follows_hire_dates(demo: tuple[DemoData, Cube]) -> None:
    data, cube = demo
    new = (
        _sql(data)
        .execute(
            """select count(*) from annotations a join raters r using (rater_id)
           where a.submitted_at - r.hired_at < interval 30 day"""
        )
        .fetchone()
    )
    assert new is not None
    mask = cube.mask({"tenure": "0-29 days"})
    assert cube.sums["ann_n"][mask].sum() == pytest.approx(new[0])


def test_unknown_dimension_and_value_are_clear(demo: tuple[DemoData, Cube]) -> None:
    _, cube = demo
    with pytest.raises(UsageError, match="unknown dimension 'planet'"):
        cube.rollup(["planet"])
    with pytest.raises(UsageError, match="locale has no value 'xx'"):
        cube.mask({"locale": "xx"})


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025-01-06", "2025-01-06", "2025-01-07"),
        ("2025-W02", "2025-01-06", "2025-01-13"),
        ("2025-W01..2025-W02", "2024-12-30", "2025-01-13"),
        ("2025-02", "2025-02-01", "2025-03-01"),
        ("2024-12..2025-01", "2024-12-01", "2025-02-01"),
    ],
)
def test_periods(text: str, start: str, end: str) -> None:
    p = parse_period(text)
    assert (p.start.isoformat(), p.end.isoformat()) == (start, end)


@pytest.mark.parametrize("text", ["2025-W60", "2025-13", "yesterday", "2025-W05..2025-W02"])
def test_bad_periods(text: str) -> None:
    with pytest.raises(UsageError, match="period"):
        parse_period(text)


def test_relative_periods() -> None:
    last = dt.date(2025, 4, 2)  # a Wednesday
    assert parse_period("latest-week", last).start == dt.date(2025, 3, 31)
    assert parse_period("previous-week", last).start == dt.date(2025, 3, 24)
    with pytest.raises(UsageError, match="no dated data"):
        parse_period("latest-week")


def test_cube_needs_dates(tmp_path: Path) -> None:
    from tests.helpers import make_workspace, write

    ws = make_workspace(tmp_path / "ws")
    f = write(tmp_path / "a.csv", "item_id,rater_id,label\ni1,r1,spam\n")
    ingest(ws, "annotations", [f])
    with pytest.raises(UsageError, match="submitted_at"):
        workspace_cube(ws)
