"""Typed evidence of root-cause findings, one frozen dataclass per finding kind.

A discovered slice becomes a ``rate_change``, ``confusion_pair``,
``guideline_gap`` or ``rater_cohort`` finding; all four carry the slice and
whatever the enrichments found about it (:class:`SliceFindingEvidence`), and
each adds what its kind rests on. A ``mix_shift`` finding carries the mix
shift, a ``rater_drift`` finding the drifting raters. ``to_dict()`` is the
JSON form (``report.json``, ``opsloop rca --format json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from opsloop.findings import FindingKind
from opsloop.rca._enrich import Breakdown, MixShift, PairShift, VersionChange
from opsloop.rca._raters import NewRaters, RaterChange
from opsloop.rca._slices import SliceChange

MAX_IDS = 12  # new raters listed by id
MAX_CONFUSIONS = 3


@dataclass(frozen=True, kw_only=True)
class SliceFindingEvidence:
    """A discovered slice and what the enrichments found about it.

    ``confusions`` are the label pairs whose confusion grew in the slice
    (largest first), ``version`` the guideline version change, ``tenure``
    the slice's change split by tenure band, ``new_raters`` the raters of
    the slice hired recently, ``located`` the rater attribute a cohort's drop
    concentrates in, ``mix_shift`` a rater mix shift merged into this
    finding and ``drifting_raters`` raters in the slice who drifted below
    their peers.
    """

    kind: ClassVar[FindingKind] = "rate_change"
    slice: SliceChange
    confusions: tuple[PairShift, ...] = ()
    version: VersionChange | None = None
    tenure: Breakdown | None = None
    new_raters: NewRaters | None = None
    located: dict[str, str] = field(default_factory=dict)
    mix_shift: MixShift | None = None
    drifting_raters: tuple[RaterChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"slice": self.slice.to_dict()}
        if self.confusions:
            out["confusions"] = [p.to_dict() for p in self.confusions[:MAX_CONFUSIONS]]
        if self.version is not None:
            out["version"] = self.version.to_dict()
        if self.tenure is not None:
            out["tenure"] = self.tenure.to_dict()
        if self.new_raters is not None:
            out["new_raters"] = {**self.new_raters.to_dict(),
                                 "rater_ids": list(self.new_raters.rater_ids[:MAX_IDS])}  # fmt: skip
        if self.located:
            out["located"] = dict(self.located)
        if self.mix_shift is not None:
            out["mix_shift"] = self.mix_shift.to_dict()
        if self.drifting_raters:
            out["drifting_raters"] = [r.to_dict() for r in self.drifting_raters]
        return out


@dataclass(frozen=True, kw_only=True)
class RateChangeEvidence(SliceFindingEvidence):
    """A slice whose rate got worse, with no cohort, confusion or version to pin it on."""

    kind: ClassVar[FindingKind] = "rate_change"


@dataclass(frozen=True, kw_only=True)
class ConfusionEvidence(SliceFindingEvidence):
    """A slice whose drop one grown label confusion, ``pair``, accounts for."""

    kind: ClassVar[FindingKind] = "confusion_pair"
    pair: PairShift

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "pair": self.pair.to_dict()}


@dataclass(frozen=True, kw_only=True)
class GuidelineGapEvidence(SliceFindingEvidence):
    """A slice that fell more than the rest when guideline ``version`` changed, with the grown
    confusion ``pair`` the new text leaves open."""

    kind: ClassVar[FindingKind] = "guideline_gap"
    version: VersionChange
    pair: PairShift | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.pair is not None:
            out["pair"] = self.pair.to_dict()
        return out


@dataclass(frozen=True, kw_only=True)
class RaterCohortEvidence(SliceFindingEvidence):
    """A slice that is, or whose drop is carried by, raters in their first 30 days
    (``band``)."""

    kind: ClassVar[FindingKind] = "rater_cohort"
    band: str

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "band": self.band}


@dataclass(frozen=True)
class MixShiftEvidence:
    """The KPI moved because the mix of a dimension changed (Kitagawa's mix effect)."""

    kind: ClassVar[FindingKind] = "mix_shift"
    mix: MixShift
    rater_dimension: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.mix.to_dict(), "rater_dimension": self.rater_dimension}


@dataclass(frozen=True)
class RaterDriftEvidence:
    """Raters whose change is significantly worse than their peers' (``tested`` were tested)."""

    kind: ClassVar[FindingKind] = "rater_drift"
    tested: int
    raters: tuple[RaterChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"tested": self.tested, "raters": [r.to_dict() for r in self.raters]}
