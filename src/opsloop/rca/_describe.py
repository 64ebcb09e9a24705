"""From analyses to findings: one root cause, one finding, with evidence and an action.

A discovered slice becomes a finding whose kind follows its evidence:

* ``rater_cohort`` — the slice is (or its drop is carried by) raters in their
  first 30 days (``tenure`` = ``0-29 days``);
* ``guideline_gap`` — a guideline version changed between the periods, the
  slice fell more than the rest from the old to the new version, and a grown
  label confusion accounts for the drop;
* ``confusion_pair`` — a grown label confusion accounts for the drop, with no
  version change;
* ``rate_change`` — otherwise.

A grown pair accounts for a drop when its growth is at least half of the
slice's error growth and at least twice its share of the slice's errors
before (``CONFUSION_SHARE``, ``CONCENTRATION``): a uniform rise of every error
is a rate change, not a confusion.

Mix shifts of item or process dimensions are ``mix_shift`` findings ("no
quality action"); a mix shift of a rater dimension whose worst value is the
cohort of a slice finding (and grew mostly there) is merged into it, as are
drifting raters who sit in a finding's slice. A finding's score is the KPI
points it explains in the harmful direction.

>>> format_points(-0.0275, True)
'-2.75 pts'
>>> describe_where({"locale": "id", "queue": "standard"})
'locale=id, queue=standard'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from opsloop.findings import Finding
from opsloop.monitor import TENURE_BANDS, Period
from opsloop.rca._enrich import Breakdown, MixShift, PairShift, VersionChange
from opsloop.rca._evidence import (
    MAX_IDS,
    ConfusionEvidence,
    GuidelineGapEvidence,
    MixShiftEvidence,
    RateChangeEvidence,
    RaterCohortEvidence,
    RaterDriftEvidence,
    SliceFindingEvidence,
)
from opsloop.rca._frame import RatioSpec
from opsloop.rca._raters import NewRaters, RaterChange, RaterDrift
from opsloop.rca._slices import SliceChange

NEW_BAND = TENURE_BANDS[0][1]
CONFUSION_SHARE = 0.5  # a grown pair explains at least this share of a slice's drop
CONCENTRATION = 2.0  # ... and at least twice the pair's share of the errors before
COHORT_SHARE = 0.5  # the new-rater band carries at least this share of a slice's drop
MAX_DRIFTERS = 50  # drifting raters kept as evidence


def format_value(x: float, spec_unit: str) -> str:
    """A KPI value for text: shares as percentages, seconds and currency plainly."""
    if x != x:  # NaN
        return "n/a"
    if spec_unit == "share":
        return f"{100 * x:.1f}%"
    if spec_unit == "seconds":
        return f"{x:.1f} s"
    return f"{x:.4g}"


def format_points(x: float, is_share: bool) -> str:
    """A change: ``-2.75 pts`` for shares, the plain number otherwise."""
    return f"{100 * x:+.2f} pts".replace("+-", "-") if is_share else f"{x:+.4g}"


def describe_where(where: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in where.items()) or "all annotations"


@dataclass(frozen=True)
class SliceEnrichment:
    """What the enrichments found about one slice (the input of :func:`slice_finding`)."""

    slice: SliceChange
    cohort: Breakdown | None = None
    new_raters: NewRaters | None = None
    pairs: tuple[PairShift, ...] = ()
    version: VersionChange | None = None
    located: dict[str, str] = field(default_factory=dict)


def _harm(spec: RatioSpec, s: SliceChange) -> float:
    return -spec.sign * s.change


def _top_pair(spec: RatioSpec, ev: SliceEnrichment) -> PairShift | None:
    """The grown pair that explains the slice's drop: at least half of the error growth, and
    at least twice its share of the errors before (not a uniform rise of every error)."""
    if not ev.pairs or not spec.is_share:
        return None
    pair = ev.pairs[0]
    s = ev.slice
    err_before = 1 - s.value_before if spec.sign > 0 else s.value_before
    growth = _harm(spec, s)
    if growth <= 0 or pair.change < CONFUSION_SHARE * growth:
        return None
    before_share = pair.share_before / err_before if err_before > 0 else 0.0
    return pair if pair.change / growth >= CONCENTRATION * before_share else None


def is_cohort(ev: SliceEnrichment) -> bool:
    """Whether the slice is, or its drop is carried by, raters in their first 30 days."""
    return ev.slice.where.get("tenure") == NEW_BAND or (
        ev.cohort is not None and ev.cohort.top == NEW_BAND and ev.cohort.top_share >= COHORT_SHARE
    )


def _evidence(spec: RatioSpec, ev: SliceEnrichment) -> SliceFindingEvidence:
    """The typed evidence of a slice; its class is the finding's kind."""
    s, pairs, cohort, nr, located = ev.slice, ev.pairs, ev.cohort, ev.new_raters, dict(ev.located)
    if is_cohort(ev):
        return RaterCohortEvidence(slice=s, confusions=pairs, version=ev.version, tenure=cohort,
                                   new_raters=nr, located=located, band=NEW_BAND)  # fmt: skip
    pair = _top_pair(spec, ev)
    version = ev.version if ev.version is not None and -spec.sign * ev.version.gap > 0 else None
    if version is not None and pair is not None:
        return GuidelineGapEvidence(slice=s, confusions=pairs, version=version, tenure=cohort,
                                    new_raters=nr, located=located, pair=pair)  # fmt: skip
    if pair is not None:
        return ConfusionEvidence(slice=s, confusions=pairs, version=ev.version, tenure=cohort,
                                 new_raters=nr, located=located, pair=pair)  # fmt: skip
    return RateChangeEvidence(slice=s, confusions=pairs, version=ev.version, tenure=cohort,
                              new_raters=nr, located=located)  # fmt: skip


def _where(evidence: SliceFindingEvidence) -> dict[str, str]:
    where = dict(evidence.slice.where)
    if isinstance(evidence, RaterCohortEvidence):
        return {**where, **evidence.located, "tenure": evidence.band}
    if isinstance(evidence, GuidelineGapEvidence):
        return {**where, evidence.version.dim: evidence.version.new}
    return where


def _fid(kind: str, where: Mapping[str, str]) -> str:
    return f"{kind}:" + ("|".join(f"{k}={v}" for k, v in where.items()) or "all")


def _words(spec: RatioSpec, ev: SliceFindingEvidence, where: Mapping[str, str],
           after: Period) -> tuple[str, str]:  # fmt: skip
    """The title and action of a slice finding, by its kind."""
    s = ev.slice
    text = describe_where(s.where)
    values = f"{format_value(s.value_before, spec.unit)} → {format_value(s.value_after, spec.unit)}"
    if isinstance(ev, GuidelineGapEvidence):
        pair, v = ev.pair, ev.version
        labels = f": {pair.labels[0]} vs {pair.labels[1]}" if pair else ""
        title = f"Guideline {v.new} in {text}: {spec.kpi} {values}" + (
            f", {pair.labels[0]} ↔ {pair.labels[1]} confused" if pair else "")  # fmt: skip
        return title, f"clarify guideline {v.new} for {text}{labels}"
    if isinstance(ev, ConfusionEvidence):
        a, b = ev.pair.labels
        return (f"{a} ↔ {b} confused in {text}: {spec.kpi} {values}",
                f"clarify {a} vs {b} for {text}: add examples to the guideline and recalibrate "
                "the raters")  # fmt: skip
    if isinstance(ev, RaterCohortEvidence):
        base = {k: v for k, v in where.items() if k != "tenure"}
        who = describe_where(base) if base else "all vendors"
        nr = ev.new_raters
        title = f"New raters ({ev.band}) at {who}: {spec.kpi} {values}" + (
            f"; new raters {format_value(nr.value_new, spec.unit)} vs tenured "
            f"{format_value(nr.value_tenured, spec.unit)}" if nr else "")  # fmt: skip
        hired = f" ({nr.count} raters hired {nr.first_hired}..{nr.last_hired})" if nr else ""
        target = (f" until they reach the tenured raters' {format_value(nr.value_tenured, spec.unit)}"
                  if nr and nr.value_tenured == nr.value_tenured else "")  # fmt: skip
        return title, (f"coach and calibrate the new-rater cohort at {who}{hired}: pair them with "
                       f"tenured reviewers and raise their QA sampling{target}")  # fmt: skip
    title = f"{spec.kpi} {'fell' if spec.sign > 0 else 'rose'} in {text}: {values}"
    return title, (f"re-audit the {text} annotations from {after.label} and review the errors "
                   "with the team leads")  # fmt: skip


def slice_finding(spec: RatioSpec, ev: SliceEnrichment, after: Period) -> Finding:
    """The finding of one discovered slice, its kind and action chosen by its evidence."""
    evidence = _evidence(spec, ev)
    where = _where(evidence)
    title, action = _words(spec, evidence, where, after)
    return Finding(_fid(evidence.kind, where), spec.kpi, title, where, ev.slice.score,
                   "kpi_points", action, evidence, ev.slice.q_value, spec.unit)  # fmt: skip


def _level_text(m: MixShift) -> str:
    lv = m.levels[0]
    return f"{lv.value} {lv.share_before:.0%}→{lv.share_after:.0%}"


def mix_finding(spec: RatioSpec, m: MixShift, rater: bool) -> Finding:
    """A mix shift as a finding: the KPI moved because the mix of ``m.dim`` changed."""
    moved = _level_text(m)
    rates = "rates improved within every value" if m.simpson else "rates changed too"
    title = (
        f"Mix shift in {m.dim} ({moved}): {format_points(m.mix_effect, spec.is_share)} from "
        f"mix, {format_points(m.rate_effect, spec.is_share)} from rates ({rates})"
    )
    if rater:
        action = (
            f"staffing mix, not individual quality: {m.dim} {moved} of the work; review "
            "allocation and onboarding"
        )
    else:
        action = f"no quality action: mix shift in {m.dim} ({moved}); set per-{m.dim} targets"
    where = {m.dim: m.levels[0].value} if m.levels else {}
    return Finding(f"mix_shift:{m.dim}", spec.kpi, title, where, m.score, "kpi_points", action,
                   MixShiftEvidence(m, rater), m.q_value, spec.unit)  # fmt: skip


def drift_finding(spec: RatioSpec, drift: RaterDrift, ids: Sequence[str]) -> Finding:
    """Raters who got worse than their peers, as one finding."""
    flagged = [r for r in drift.flagged if r.rater_id in set(ids)]
    listed = ", ".join(
        f"{r.rater_id} ({format_points(r.excess, spec.is_share)})" for r in flagged[:MAX_IDS]
    )
    more = f" and {len(flagged) - MAX_IDS} more" if len(flagged) > MAX_IDS else ""
    common = {
        a: v
        for a, v in flagged[0].attributes.items()
        if all(r.attributes.get(a) == v for r in flagged)
    }
    title = f"{len(flagged)} rater(s) drifted below their peers on {spec.kpi}"
    evidence = RaterDriftEvidence(drift.tested, tuple(flagged[:MAX_DRIFTERS]))
    score = float(sum(r.points for r in flagged))
    q = min(r.q_value for r in flagged)
    fid = "rater_drift" + (":" + "|".join(f"{k}={v}" for k, v in common.items()) if common else "")
    return Finding(fid, spec.kpi, title, common, score, "kpi_points",
                   f"calibrate these raters: {listed}{more}", evidence, q, spec.unit)  # fmt: skip


def merge_mix(finding: Finding, m: MixShift) -> Finding:
    """``finding`` with the mix shift ``m`` folded into its evidence (one root cause)."""
    ev = finding.evidence
    if not isinstance(ev, SliceFindingEvidence):
        return finding
    return finding.with_evidence(replace(ev, mix_shift=m), score=max(finding.score, m.score))


def merge_drifter(finding: Finding, rater: RaterChange) -> Finding:
    """``finding`` with a drifting rater of its slice added to its evidence."""
    ev = finding.evidence
    if not isinstance(ev, SliceFindingEvidence):
        return finding
    return finding.with_evidence(replace(ev, drifting_raters=(*ev.drifting_raters, rater)))
