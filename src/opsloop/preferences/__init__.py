"""Pairwise preference data: position and length bias of the judgements.

Findings of kind ``preference_bias`` with typed evidence
(:class:`PositionBiasEvidence`, :class:`RaterPositionBiasEvidence`,
:class:`LengthBiasEvidence`), scored in ``bias_points``: how far a choice
rate is off the unbiased 50%.
"""

from opsloop.preferences._bias import (
    length_counts_expr,
    position_counts_expr,
    preference_bias_findings,
    workspace_preference_findings,
)
from opsloop.preferences._evidence import (
    LengthBiasEvidence,
    PositionBiasEvidence,
    RaterPosition,
    RaterPositionBiasEvidence,
)

__all__ = [
    "LengthBiasEvidence",
    "PositionBiasEvidence",
    "RaterPosition",
    "RaterPositionBiasEvidence",
    "length_counts_expr",
    "position_counts_expr",
    "preference_bias_findings",
    "workspace_preference_findings",
]
