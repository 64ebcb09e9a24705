"""Acceptance on the demo operation: each planted cause is the top finding for its change.

The periods, slices, labels and sizes come from the demo's ``manifest.json``
(weeks are 1-based from its first Monday), never from our own output.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from opsloop.config import Config
from opsloop.demo import generate_demo
from opsloop.engine import Workspace
from opsloop.io import ingest
from opsloop.monitor import Period, workspace_cube
from opsloop.rca import (
    GuidelineGapEvidence,
    MixShiftEvidence,
    RaterCohortEvidence,
    RcaInputs,
    RcaResult,
    rca,
    rca_inputs,
)

TABLES = ("items", "raters", "annotations", "gold", "audits")


def _build(root: Path, scale: str, seed: int) -> tuple[RcaInputs, Config, dict[str, Any]]:
    data = generate_demo(root / "gen", scale=scale, seed=seed)  # type: ignore[arg-type]
    ws = Workspace.init(root / "ws", data.config)
    try:
        for table in TABLES:
            ingest(ws, table, list(data.files[table]))
        inputs = rca_inputs(ws, workspace_cube(ws))
    finally:
        ws.close()
    manifest = json.loads(data.manifest_path.read_text(encoding="utf-8"))
    return inputs, data.config, manifest


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[RcaInputs, Config, dict[str, Any]]:
    return _build(tmp_path_factory.mktemp("rca_demo"), "small", 7)


def _weeks(manifest: dict[str, Any], first: int, last: int) -> Period:
    start = dt.date.fromisoformat(manifest["period"]["start"])
    return Period(
        f"weeks {first}-{last}",
        start + dt.timedelta(days=7 * (first - 1)),
        start + dt.timedelta(days=7 * last),
    )


def _effect(manifest: dict[str, Any], effect_id: str) -> dict[str, Any]:
    return next(e for e in manifest["effects"] if e["id"] == effect_id)


def _run(
    demo: tuple[RcaInputs, Config, dict[str, Any]], weeks: tuple[int, int, int, int]
) -> RcaResult:
    inputs, config, manifest = demo
    before, after = _weeks(manifest, *weeks[:2]), _weeks(manifest, *weeks[2:])
    return rca(inputs, config, kpi="accuracy", before=before, after=after)


def check_guideline_confusion(demo: tuple[RcaInputs, Config, dict[str, Any]]) -> None:
    e = _effect(demo[2], "guideline_confusion")
    first, last = e["when"]["weeks"]
    result = _run(demo, (1, first - 1, first, last))
    assert result.change < 0
    top = result.findings[0]
    assert top.where.get("locale") == e["where"]["locale"], [f.to_dict() for f in result.findings]
    assert top.kind == "guideline_gap"
    assert top.where.get("guideline_version") == e["where"]["guideline_version"]
    assert isinstance(top.evidence, GuidelineGapEvidence)
    assert top.evidence.version.new == e["where"]["guideline_version"]
    assert top.evidence.pair is not None and set(top.evidence.pair.labels) == set(e["labels"])
    a, b = e["labels"]
    assert f"{a} vs {b}" in top.action or f"{b} vs {a}" in top.action


def check_vendor_new_raters(demo: tuple[RcaInputs, Config, dict[str, Any]]) -> None:
    e = _effect(demo[2], "vendor_new_raters")
    first, last = e["when"]["weeks"]
    base = e["when"]["baseline_weeks"]
    result = _run(demo, (min(base), max(base), first, last))
    top = result.findings[0]
    assert top.where.get("vendor") == e["where"]["vendor"], [f.to_dict() for f in result.findings]
    assert top.kind == "rater_cohort" and top.where.get("tenure") == "0-29 days"
    assert isinstance(top.evidence, RaterCohortEvidence) and top.evidence.new_raters is not None
    new = top.evidence.new_raters
    assert new.first_hired <= e["cause"]["hired_at"] <= new.last_hired
    assert new.value_new < new.value_tenured


def check_simpson_mix(demo: tuple[RcaInputs, Config, dict[str, Any]]) -> None:
    e = _effect(demo[2], "simpson_mix")
    b0, b1 = e["when"]["before"]["weeks"]
    a0, a1 = e["when"]["after"]["weeks"]
    result = _run(demo, (b0, b1, a0, a1))
    assert result.change < 0
    top = result.findings[0]
    assert top.kind == "mix_shift" and top.id == "mix_shift:queue", [
        f.to_dict() for f in result.findings
    ]
    assert top.where == e["where"]
    assert isinstance(top.evidence, MixShiftEvidence)
    mix = top.evidence.mix
    assert mix.simpson is True and mix.rate_effect > 0
    worst = mix.levels[0]
    assert worst.value == e["where"]["queue"]
    share = e["expected"]["escalation_share"]
    assert worst.share_before == pytest.approx(share["before"], abs=0.05)
    assert worst.share_after == pytest.approx(share["after"], abs=0.05)
    assert top.action.startswith("no quality action: mix shift in queue")
    queue = next(d for d in result.decomposition if d.dim == "queue")
    for level in queue.levels:  # within every queue accuracy rose
        assert level.value_after > level.value_before, level


def test_guideline_confusion(demo: tuple[RcaInputs, Config, dict[str, Any]]) -> None:
    check_guideline_confusion(demo)


def test_vendor_new_raters(demo: tuple[RcaInputs, Config, dict[str, Any]]) -> None:
    check_vendor_new_raters(demo)


def test_simpson_mix(demo: tuple[RcaInputs, Config, dict[str, Any]]) -> None:
    check_simpson_mix(demo)


def test_other_kpis_run(demo: tuple[RcaInputs, Config, dict[str, Any]]) -> None:
    """Every ratio KPI the demo measures can be explained (proportion, Hájek, ratio, mean)."""
    for kpi in ("wrong_policy", "audit_accuracy", "severity_weighted_error", "avg_handling_time_s"):
        inputs, config, manifest = demo
        result = rca(inputs, config, kpi=kpi, before=_weeks(manifest, 1, 2),
                     after=_weeks(manifest, 3, 5))  # fmt: skip
        json.dumps(result.to_dict())
        for d in result.decomposition:
            assert d.rate_effect + d.mix_effect == pytest.approx(d.change, abs=1e-9)
    wrong = rca(inputs, config, kpi="wrong_policy", before=_weeks(manifest, 1, 2),
                after=_weeks(manifest, 3, 5))  # fmt: skip
    assert wrong.findings and wrong.findings[0].where.get("locale") == "id"


@pytest.mark.slow
def test_planted_causes_at_1m_scale(tmp_path_factory: pytest.TempPathFactory) -> None:
    """At 1m annotations (another seed) the same causes come first."""
    demo = _build(tmp_path_factory.mktemp("rca_demo_1m"), "1m", 11)
    for check in (check_guideline_confusion, check_vendor_new_raters, check_simpson_mix):
        check(demo)
