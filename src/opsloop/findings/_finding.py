"""A finding: one ranked cause or risk, with typed evidence and a score in an explicit unit.

Root-cause analysis, model-regression checks and preference-bias checks all
report findings. What differs between them is the evidence (one frozen
dataclass per kind, defined beside the analysis that produces it) and the
unit of the score:

* ``kpi_points`` — KPI points a quality finding explains, in the harmful
  direction, in the KPI's own scale (``scale``: a share, so 0.027 = 2.7
  points; seconds; currency);
* ``model_points`` — points of a model's overall quality (accuracy on gold,
  eval pass rate) a model-version regression costs;
* ``bias_points`` — points a preference choice rate is off the unbiased 50%.

Scores in different units are never compared: :func:`~opsloop.findings.rank_findings`
orders by unit first, then by score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from opsloop.stats import wilson_interval

FindingKind = Literal[
    "rate_change",  # a slice's KPI got worse (the rate, not the mix)
    "mix_shift",  # the KPI moved because the mix of a dimension changed
    "guideline_gap",  # a guideline version made a slice worse / confused two labels
    "rater_cohort",  # a cohort of raters (e.g. new hires) explains the change
    "rater_drift",  # individual raters whose quality trends down
    "confusion_pair",  # two labels are confused more often than before
    "model_regression",  # a model version is worse than the previous one on a slice
    "preference_bias",  # preference judgements depend on position or length
]
ScoreUnit = Literal["kpi_points", "model_points", "bias_points"]
Scale = Literal["share", "seconds", "currency", "count", "score"]

SCORE_UNITS: dict[ScoreUnit, str] = {
    "kpi_points": "KPI points explained (in the harmful direction)",
    "model_points": "points of a model's overall quality lost (accuracy on gold, eval pass rate)",
    "bias_points": "points a preference choice rate is off the unbiased 50%",
}


class Evidence(Protocol):
    """The typed figures behind one kind of finding; ``to_dict()`` is its JSON form."""

    @property
    def kind(self) -> FindingKind: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Proportion:
    """``k/n`` with its Wilson (1927) 95% interval, as evidence.

    >>> p = Proportion.of(95, 100)
    >>> p.value, round(p.ci_low, 4), round(p.ci_high, 4)
    (0.95, 0.8882, 0.9785)
    """

    value: float
    ci_low: float
    ci_high: float
    k: float
    n: float

    @classmethod
    def of(cls, k: float, n: float, confidence: float = 0.95) -> Proportion:
        low, high = wilson_interval(k, n, confidence)
        return cls(k / n if n else math.nan, low, high, float(k), float(n))

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "k": self.k, "n": self.n}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One ranked finding.

    ``score`` is what the finding weighs, in ``unit`` (see the module
    docstring) and, for ``kpi_points``, in the KPI's ``scale``; it orders the
    findings of one unit. ``where`` is the slice (dimension -> value),
    ``evidence`` the typed figures behind it (its class fixes ``kind``) and
    ``action`` the suggested next step. ``p_value`` is the finding's
    (adjusted, where a family was tested) p-value.
    """

    id: str
    kpi: str
    title: str
    where: dict[str, str]
    score: float
    unit: ScoreUnit
    action: str
    evidence: Evidence
    p_value: float | None = None
    scale: Scale = "share"

    @property
    def kind(self) -> FindingKind:
        return self.evidence.kind

    def with_evidence(self, evidence: Evidence, score: float | None = None) -> Finding:
        """The same finding with other evidence (of the same kind) and optionally score."""
        if evidence.kind != self.kind:
            raise ValueError(f"evidence of kind {evidence.kind} for a {self.kind} finding")
        return replace(self, evidence=evidence, score=self.score if score is None else score)

    def score_text(self) -> str:
        """The score with its unit: ``2.75 KPI pts explained``, ``7.50 model pts lost``, …"""
        return score_text(self.score, self.unit, self.scale)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "kpi": self.kpi,
            "title": self.title,
            "where": dict(self.where),
            "score": self.score,
            "score_unit": self.unit,
            "score_scale": self.scale,
            "score_text": self.score_text(),
            "p_value": self.p_value,
            "action": self.action,
            "evidence": self.evidence.to_dict(),
        }


def score_text(score: float, unit: str, scale: str = "share") -> str:
    """A score with its unit, for tables and the report.

    >>> score_text(0.0275, "kpi_points"), score_text(3.2, "kpi_points", "seconds")
    ('2.75 KPI pts explained', '3.2 s explained')
    >>> score_text(0.075, "model_points"), score_text(0.2, "bias_points")
    ('7.50 model pts lost', '20.00 pts off 50%')
    """
    if score != score:  # NaN
        return "n/a"
    if unit == "model_points":
        return f"{100 * score:.2f} model pts lost"
    if unit == "bias_points":
        return f"{100 * score:.2f} pts off 50%"
    if scale == "share":
        return f"{100 * score:.2f} KPI pts explained"
    if scale == "seconds":
        return f"{score:.3g} s explained"
    return f"{score:.4g} explained"
