"""The weekly report end to end: JSON content, planted causes, and the page in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from opsloop.engine import Workspace
from opsloop.io import ingest
from opsloop.report import run_demo, write_report
from tests.helpers import make_workspace, run_cli, write

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = run_demo(tmp_path_factory.mktemp("demo") / "ws", scale="small", seed=7)
    return files.html


@pytest.fixture(scope="module")
def data(demo_report: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(demo_report.with_name("report.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def manifest(demo_report: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(demo_report.with_name("manifest.json").read_text())
    return loaded


def _effect(manifest: dict[str, Any], effect_id: str) -> dict[str, Any]:
    return next(e for e in manifest["effects"] if e["id"] == effect_id)


def test_report_json_holds_every_section(data: dict[str, Any]) -> None:
    for key in ("monitor", "slices", "agreement_by_slice", "scorecards", "changes", "data_loop"):
        assert data[key], key
    statuses = {s["kpi"]: s for s in data["monitor"]["statuses"] if not s["where"]}
    acc = statuses["accuracy"]
    assert acc["ci_low"] < acc["value"] < acc["ci_high"]
    assert acc["status"] in {"red", "amber", "green"}
    series = {s["kpi"]: s for s in data["monitor"]["series"]}
    assert len(series["accuracy"]["periods"]) == 13  # the demo spans 13 weeks
    assert {"locale", "vendor", "queue"} <= {r["dimension"] for r in data["slices"]}


def test_demo_week_is_the_last_week(data: dict[str, Any], manifest: dict[str, Any]) -> None:
    assert data["week"]["end"] == manifest["period"]["end"]


def _top_where(data: dict[str, Any], after_week_start: str) -> dict[str, Any]:
    change = next(c for c in data["changes"] if c["after"]["start"] == after_week_start)
    return change["analysis"]["findings"][0]


def test_planted_causes_rank_first_for_their_weeks(
    data: dict[str, Any], manifest: dict[str, Any]
) -> None:
    g = _effect(manifest, "guideline_confusion")
    top = _top_where(data, g["when"]["start"])
    assert top["where"].get("locale") == g["where"]["locale"], top
    v = _effect(manifest, "vendor_new_raters")
    top = _top_where(data, v["when"]["start"])
    assert top["where"].get("vendor") == v["where"]["vendor"], top


def test_model_and_preference_effects_are_reported(
    data: dict[str, Any], manifest: dict[str, Any]
) -> None:
    m = _effect(manifest, "model_regression")
    models = [f for f in data["data_loop"] if f["kind"] == "model_regression"]
    # the evals and the recall both regress on the planted label (and so, overall), and
    # nothing else
    assert models and all(
        m["where"]["label"] in (f["where"].get("label"), f["where"].get("category"))
        or set(f["where"]) == {"model_version"}
        for f in models
    )
    kpis = {f["kpi"] for f in data["data_loop"] if f["kind"] == "preference_bias"}
    assert {"first_shown_win_rate", "longer_win_rate"} <= kpis


def test_model_versions_match_sql(demo_report: Path, data: dict[str, Any]) -> None:
    """Each version's rates per category as SQL counts them, and the planted regression of
    the demo's m2 on self-harm prompts (unsafe compliance) flagged in the comparison."""
    mv = data["model_versions"]
    con = duckdb.connect(str(demo_report.parent / "opsloop.duckdb"), read_only=True)
    rows = con.execute("""
        select model_version, category, count(*),
               count(*) filter (where outcome = 'fail'),
               count(*) filter (where refused = (outcome = 'pass')),
               count(*) filter (where refused = (outcome = 'pass') and outcome = 'fail')
        from evals where opsloop_latest group by all""").fetchall()
    con.close()
    points = {(p["model_version"], p["category"]): p for p in mv["trend"]["points"]}
    assert len(points) == len(rows)
    for version, category, n, failed, to_refuse, complied in rows:
        p = points[(version, category)]
        assert p["n"] == n and p["fail"]["value"] == pytest.approx(failed / n, abs=1e-12)
        if to_refuse:
            assert p["unsafe_compliance"]["value"] == pytest.approx(complied / to_refuse,
                                                                    abs=1e-12)  # fmt: skip
    comparison = mv["comparison"]
    assert (comparison["base"], comparison["candidate"]) == ("m1", "m2")
    assert {"measure": "unsafe_compliance", "category": "self_harm"} in comparison["regressions"]
    html = demo_report.read_text()
    assert 'id="models"' in html and "chart-model-versions" in html


def test_model_impact_section_is_the_stored_run(demo_report: Path, data: dict[str, Any]) -> None:
    """The demo stores one label-policy experiment; the report shows it as stored, and the
    gold-trained model beats the majority-trained one on violating labels (the planted label
    noise costs recall)."""
    from opsloop.report._run import DEMO_POLICIES

    imp = data["impact"]
    assert imp["run"]["run_id"] == 1 and not imp["stale"]
    con = duckdb.connect(str(demo_report.parent / "opsloop.duckdb"), read_only=True)
    stored = con.execute("""select policy, value, diff, diff_low from impact_results
                            where run_id = 1 and metric = 'violating_recall'
                              and label is null""").fetchall()
    con.close()
    assert {p for p, _, _, _ in stored} == set(DEMO_POLICIES)
    shown = {r["policy"]: r for r in imp["results"]
             if r["metric"] == "violating_recall" and r["label"] is None}  # fmt: skip
    for policy, value, diff, diff_low in stored:
        assert shown[policy]["value"] == pytest.approx(value, abs=1e-12)
        if policy == "gold":
            assert diff_low > 0
        if policy in ("without:guideline_version=v2.1", "without:tenure=0-29 days"):
            assert diff > 0, policy  # the planted confusion and new cohort cost recall
    html = demo_report.read_text()
    assert 'id="impact"' in html and "chart-impact" in html


def test_scorecards_match_sql(demo_report: Path, data: dict[str, Any]) -> None:
    ws = demo_report.parent
    card = next(c for c in data["scorecards"] if c["gold_n"] >= 20)
    con = duckdb.connect(str(ws / "opsloop.duckdb"), read_only=True)
    start = data["week"]["start"]
    k, n = con.execute(
        f"""select sum((a.label = g.label)::int), count(*) from annotations a
            join gold g using (item_id, task)
            where a.rater_id = ? and a.submitted_at >= date '{start}' - interval 21 day""",
        [card["rater_id"]],
    ).fetchone() or (0, 0)
    con.close()
    assert card["gold_n"] == n
    assert card["accuracy"] == pytest.approx(k / n, abs=1e-6)


def test_report_without_gold_or_dates_still_renders(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    f = write(tmp_path / "a.csv", "item_id,rater_id,label\ni1,r1,spam\ni1,r2,spam\n")
    ingest(ws, "annotations", [f])
    files = write_report(ws)
    ws.close()
    notes = " ".join(json.loads(files.json.read_text())["notes"])
    assert "submitted_at" in notes
    assert '<section id="summary">' in files.html.read_text()


def test_report_notes_a_kpi_it_cannot_measure(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    (tmp_path / "ws" / "opsloop.toml").write_text(
        (tmp_path / "ws" / "opsloop.toml").read_text()
        + '\n[kpis.unit_cost]\ntarget = 0.1\ndirection = "lower"\n'
    )
    f = write(
        tmp_path / "a.csv",
        "item_id,rater_id,label,submitted_at\ni1,r1,spam,2025-01-06T10:00:00\n"
        "i1,r2,none,2025-01-07T10:00:00\n",
    )
    ws = Workspace.open(tmp_path / "ws")
    ingest(ws, "annotations", [f])
    ws.close()
    proc = run_cli("report", cwd=tmp_path / "ws")
    assert "Traceback" not in proc.stderr
    notes = " ".join(json.loads((tmp_path / "ws" / "report.json").read_text())["notes"])
    assert "unit_cost" in notes


@pytest.mark.browser
def test_report_renders_in_chromium(demo_report: Path, data: dict[str, Any]) -> None:
    from playwright import sync_api as playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM} (scripts/test installs it)")
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: errors.append(f"network: {req.url}")
                if not req.url.startswith(("file:", "data:", "blob:")) else None)  # fmt: skip
        page.goto(demo_report.as_uri())
        for section in ("summary", "trends", "slices", "raters", "root-causes", "data-loop",
                        "models", "impact"):
            assert page.locator(f"section#{section}").is_visible(), section
        assert page.locator("[data-kpi=accuracy]").count() == 1
        charts = page.locator("div.chart")
        n = charts.count()
        assert n >= len(data["monitor"]["series"]) + 3
        page.wait_for_function(
            f"document.querySelectorAll('div.chart .js-plotly-plot .main-svg').length >= {n}",
            timeout=20_000,
        )
        assert page.locator(".finding").count() >= 3
        out = ROOT / "artifacts"
        out.mkdir(exist_ok=True)
        page.screenshot(path=str(out / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert (ROOT / "artifacts" / "report.png").stat().st_size > 10_000
