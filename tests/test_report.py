"""The report end to end on the demo operation: JSON content and the page in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from opsloop.report import run_demo

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = run_demo(tmp_path_factory.mktemp("demo") / "ws", scale="small", seed=7)
    return files.html


def test_report_json_holds_the_sections(demo_report: Path) -> None:
    data = json.loads(demo_report.with_name("report.json").read_text())
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["annotations"]["value"] == data["tables"]["annotations"]
    acc = kpis["accuracy"]
    assert acc["ci_low"] < acc["value"] < acc["ci_high"]
    assert set(data["accuracy"]) == {
        "gold_by_locale",
        "gold_by_vendor",
        "audit_by_locale",
        "audit_by_vendor",
    }
    # the manifest's guideline-confusion locale is the least accurate locale over the quarter
    manifest = json.loads(demo_report.with_name("manifest.json").read_text())
    effect = next(e for e in manifest["effects"] if e["id"] == "guideline_confusion")
    worst = min(data["accuracy"]["gold_by_locale"], key=lambda r: r["value"])
    assert worst["slice"]["locale"] == effect["where"]["locale"]
    assert sum(r["n"] for r in data["label_distribution"]) == data["tables"]["annotations"]


@pytest.mark.browser
def test_report_renders_in_chromium(demo_report: Path) -> None:
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
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(demo_report.as_uri())
        for section in ("summary", "volume", "labels", "accuracy"):
            assert page.locator(f"section#{section}").is_visible(), section
        assert page.locator("[data-kpi=accuracy]").count() == 1
        assert page.locator("svg.chart rect").count() >= 10
        out = ROOT / "artifacts"
        out.mkdir(exist_ok=True)
        page.screenshot(path=str(out / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert (ROOT / "artifacts" / "report.png").stat().st_size > 10_000
