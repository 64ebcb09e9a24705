"""Typed evidence of preference-bias findings (position overall, position per rater, length)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from opsloop.findings import FindingKind, Proportion


@dataclass(frozen=True)
class PositionBiasEvidence:
    """The first-shown response's win rate over all non-tie judgements, tested against 0.5.

    ``shown_first_a_share`` is how often response ``a`` was shown first;
    ``order_randomised`` says it is within 5 points of one half.
    """

    kind: ClassVar[FindingKind] = "preference_bias"
    first_shown_win_rate: Proportion
    p_value: float
    test: str
    shown_first_a_share: float
    order_randomised: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_shown_win_rate": self.first_shown_win_rate.to_dict(),
            "p_value": self.p_value,
            "test": self.test,
            "shown_first_a_share": self.shown_first_a_share,
            "order_randomised": self.order_randomised,
        }


@dataclass(frozen=True)
class RaterPosition:
    """One rater whose first-shown win rate is significantly off 0.5."""

    rater_id: str
    favours: str  # "first" or "second"
    win_rate: Proportion
    p_value: float
    q_value: float

    def to_dict(self) -> dict[str, Any]:
        return {"rater_id": self.rater_id, "favours": self.favours, **self.win_rate.to_dict(),
                "p_value": self.p_value, "q_value": self.q_value}  # fmt: skip


@dataclass(frozen=True)
class RaterPositionBiasEvidence:
    """Raters who choose by position: the flagged ones (worst first, at most ``TOP_RATERS``
    listed), how many were flagged and tested, and their judgements."""

    kind: ClassVar[FindingKind] = "preference_bias"
    raters: tuple[RaterPosition, ...]
    flagged: int
    raters_tested: int
    judgements_flagged: int
    test: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "raters": [r.to_dict() for r in self.raters],
            "flagged": self.flagged,
            "raters_tested": self.raters_tested,
            "judgements_flagged": self.judgements_flagged,
            "test": self.test,
        }


@dataclass(frozen=True)
class LengthBiasEvidence:
    """The longer response's win rate among non-tie judgements whose lengths differ by more
    than ``length_ratio_above``, tested against 0.5; lengths from ``length_source``."""

    kind: ClassVar[FindingKind] = "preference_bias"
    longer_win_rate: Proportion
    p_value: float
    test: str
    judgements_with_lengths: int
    length_ratio_above: float
    length_source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "longer_win_rate": self.longer_win_rate.to_dict(),
            "p_value": self.p_value,
            "test": self.test,
            "judgements_with_lengths": self.judgements_with_lengths,
            "length_ratio_above": self.length_ratio_above,
            "length_source": self.length_source,
        }
