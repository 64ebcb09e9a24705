"""Findings shared by the analyses that report causes and risks (rca, evals, preferences).

One :class:`Finding` type with typed evidence (each analysis defines its
evidence classes), explicit score units and one ranking, :func:`rank_findings`.
It sits just above the numeric foundations so that every analysis layer can
produce findings and the report and CLI can rank and render them.
"""

from opsloop.findings._finding import (
    SCORE_UNITS,
    Evidence,
    Finding,
    FindingKind,
    Proportion,
    Scale,
    ScoreUnit,
    score_text,
)
from opsloop.findings._rank import UNIT_ORDER, rank_finding_dicts, rank_findings, rank_key

__all__ = [
    "SCORE_UNITS",
    "UNIT_ORDER",
    "Evidence",
    "Finding",
    "FindingKind",
    "Proportion",
    "Scale",
    "ScoreUnit",
    "rank_finding_dicts",
    "rank_findings",
    "rank_key",
    "score_text",
]
