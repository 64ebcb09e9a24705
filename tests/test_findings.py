"""One ranking of findings with explicit score units, and their rendering in the report.

Orders are written out by hand from the rule (unit first, then score, then
the narrower slice, then id); the report's side-by-side section and evidence
lines are read from real findings' JSON forms.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest

from opsloop.config import Config
from opsloop.evals import eval_regression_findings
from opsloop.findings import Finding, Proportion, rank_finding_dicts, rank_findings, score_text
from opsloop.monitor import Cube, Period
from opsloop.preferences import LengthBiasEvidence, PositionBiasEvidence
from opsloop.rca import RateChangeEvidence, RcaInputs, rca
from opsloop.report._sections import all_findings, evidence_text, finding, ranked


def _bias(fid: str, score: float, where: dict[str, str]) -> Finding:
    ev = PositionBiasEvidence(Proportion.of(60, 100), 0.05, "exact binomial vs 0.5", 0.5, True)
    return Finding(fid, "first_shown_win_rate", fid, where, score, "bias_points", "act", ev)


def _rca_result() -> tuple[Finding, ...]:
    """Queue b's accuracy falls from 0.90 to 0.60 (500 judged rows per queue and week)."""
    cube = Cube(("queue",), {"queue": ("a", "b")}, np.array([0, 0, 7, 7]),
                {"queue": np.array([0, 1, 0, 1])},
                {"g_n": np.array([500.0, 500, 500, 500]),
                 "g_k": np.array([450.0, 450, 450, 300])})  # fmt: skip
    p1 = Period("w1", dt.date(1970, 1, 1), dt.date(1970, 1, 8))
    p2 = Period("w2", dt.date(1970, 1, 8), dt.date(1970, 1, 15))
    return rca(RcaInputs(cube), Config(), kpi="accuracy", before=p1, after=p2).findings


def _eval_findings() -> tuple[Finding, ...]:
    ev = pa.table({"model_version": ["m1"] * 100 + ["m2"] * 100,
                   "item_id": list(range(100)) * 2, "category": ["x"] * 200,
                   "outcome": ["pass"] * 100 + ["fail"] * 20 + ["pass"] * 80})  # fmt: skip
    return eval_regression_findings(ev)


def test_rank_orders_by_unit_then_score_then_slice_then_id() -> None:
    (quality,) = _rca_result()  # kpi_points, 0.15
    (model,) = _eval_findings()  # model_points, 0.20
    big_bias = _bias("b2", 0.30, {})
    tie_wide, tie_narrow = _bias("b1", 0.10, {}), _bias("b0", 0.10, {"rater_id": "r"})
    order = rank_findings([tie_wide, big_bias, model, tie_narrow, quality])
    # kpi_points before model_points before bias_points, whatever the scores
    assert [f.id for f in order] == [quality.id, model.id, "b2", "b0", "b1"]
    dicts = rank_finding_dicts([f.to_dict() for f in reversed(order)])
    assert [d["id"] for d in dicts] == [f.id for f in order]


def test_units_are_explicit() -> None:
    (quality,) = _rca_result()
    (model,) = _eval_findings()
    assert (quality.unit, quality.scale, model.unit) == ("kpi_points", "share", "model_points")
    assert quality.score == pytest.approx(0.15)  # 0.5 · (0.9 − 0.6)
    assert quality.score_text() == "15.00 KPI pts explained"
    assert model.score_text() == "20.00 model pts lost"  # 20 of 100 items pass → fail
    assert score_text(2.5, "kpi_points", "seconds") == "2.5 s explained"
    d = quality.to_dict()
    assert (d["score_unit"], d["score_text"], d["kind"]) == ("kpi_points",
                                                             "15.00 KPI pts explained", "rate_change")  # fmt: skip
    assert isinstance(quality.evidence, RateChangeEvidence)
    assert d["evidence"]["slice"]["where"] == {"queue": "b"}
    json.dumps(d)


def test_evidence_must_keep_the_kind() -> None:
    f = _bias("b", 0.1, {})
    length = LengthBiasEvidence(Proportion.of(7, 10), 0.3, "t", 10, 1.2, "len_a/len_b")
    assert f.with_evidence(length, score=0.2).score == 0.2  # same kind: preference_bias
    (quality,) = _rca_result()
    with pytest.raises(ValueError, match="evidence of kind preference_bias"):
        quality.with_evidence(length)


def test_report_shows_units_side_by_side() -> None:
    (quality,) = _rca_result()
    (model,) = _eval_findings()
    bias = _bias("preference_bias:position", 0.1, {"shown_first": "a|b"})
    data = {
        "changes": [{"after": {"label": "w2"}, "task": None,
                     "analysis": {"findings": [quality.to_dict()]}}],
        "data_loop": [bias.to_dict(), model.to_dict()],
    }  # fmt: skip
    rows = all_findings(data)
    assert [r["id"] for r in rows] == [quality.id, model.id, bias.id]
    assert rows[0]["title"].startswith("w2: ")
    html = ranked(data)
    heads = ["Quality (KPI points explained)", "Models (points of model quality lost)",
             "Preference data (points off 50%)"]  # fmt: skip
    assert [html.index(h) for h in heads] == sorted(html.index(h) for h in heads)
    for text in ("15.00 KPI pts explained", "20.00 model pts lost", "10.00 pts off 50%"):
        assert text in html
    # evidence lines read each kind's fields
    assert "100.0% → 80.0%" not in evidence_text(model.to_dict())  # rates are the fail rates
    assert "0.0% [" in evidence_text(model.to_dict()) and "items worse 20" in evidence_text(
        model.to_dict())  # fmt: skip
    assert "90.0% → 60.0%" in evidence_text(quality.to_dict())
    assert "60.0% [" in evidence_text(bias.to_dict())
    assert "15.00 KPI pts explained" in finding(quality.to_dict())
