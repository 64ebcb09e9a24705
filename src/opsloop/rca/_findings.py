"""Findings: what root-cause analysis reports, ranked, with evidence and an action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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


@dataclass(frozen=True)
class Finding:
    """One ranked root-cause finding.

    ``score`` is what the finding explains, in KPI points in the harmful
    direction (e.g. 0.027 = it accounts for 2.7 points of accuracy lost); it
    orders the findings. ``where`` is the slice (dimension -> value), ``evidence``
    the figures behind it and ``action`` the suggested next step.
    """

    id: str
    kind: FindingKind
    kpi: str
    title: str
    where: dict[str, str]
    score: float
    action: str
    evidence: dict[str, Any] = field(default_factory=dict)
    p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "kpi": self.kpi,
            "title": self.title,
            "where": dict(self.where),
            "score": self.score,
            "p_value": self.p_value,
            "action": self.action,
            "evidence": dict(self.evidence),
        }
