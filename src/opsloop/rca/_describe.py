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
from dataclasses import dataclass, field
from typing import Any

from opsloop.monitor import TENURE_BANDS, Period
from opsloop.rca._enrich import Breakdown, MixShift, PairShift, VersionChange
from opsloop.rca._findings import Finding, FindingKind
from opsloop.rca._frame import RatioSpec
from opsloop.rca._raters import NewRaters, RaterDrift
from opsloop.rca._slices import SliceChange

NEW_BAND = TENURE_BANDS[0][1]
CONFUSION_SHARE = 0.5  # a grown pair explains at least this share of a slice's drop
CONCENTRATION = 2.0  # ... and at least twice the pair's share of the errors before
COHORT_SHARE = 0.5  # the new-rater band carries at least this share of a slice's drop
MAX_IDS = 12


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
class SliceEvidence:
    """What the enrichments found about one slice."""

    slice: SliceChange
    cohort: Breakdown | None = None
    new_raters: NewRaters | None = None
    pairs: tuple[PairShift, ...] = ()
    version: VersionChange | None = None
    located: dict[str, str] = field(default_factory=dict)


def _harm(spec: RatioSpec, s: SliceChange) -> float:
    return -spec.sign * s.change


def _top_pair(spec: RatioSpec, ev: SliceEvidence) -> PairShift | None:
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


def is_cohort(ev: SliceEvidence) -> bool:
    """Whether the slice is, or its drop is carried by, raters in their first 30 days."""
    return ev.slice.where.get("tenure") == NEW_BAND or (
        ev.cohort is not None and ev.cohort.top == NEW_BAND and ev.cohort.top_share >= COHORT_SHARE
    )


def _kind(spec: RatioSpec, ev: SliceEvidence) -> tuple[FindingKind, dict[str, str]]:
    where = dict(ev.slice.where)
    if is_cohort(ev):
        return "rater_cohort", {**where, **ev.located, "tenure": NEW_BAND}
    pair = _top_pair(spec, ev)
    version = ev.version if ev.version is not None and -spec.sign * ev.version.gap > 0 else None
    if version is not None and pair is not None:
        return "guideline_gap", {**where, version.dim: version.new}
    if pair is not None:
        return "confusion_pair", where
    return "rate_change", where


def _fid(kind: str, where: Mapping[str, str]) -> str:
    return f"{kind}:" + ("|".join(f"{k}={v}" for k, v in where.items()) or "all")


def slice_finding(spec: RatioSpec, ev: SliceEvidence, after: Period) -> Finding:
    """The finding of one discovered slice, its kind and action chosen by its evidence."""
    s = ev.slice
    kind, where = _kind(spec, ev)
    base = {k: v for k, v in where.items() if k != "tenure"} if kind == "rater_cohort" else where
    text = describe_where({k: v for k, v in s.where.items()})
    values = f"{format_value(s.value_before, spec.unit)} → {format_value(s.value_after, spec.unit)}"
    pair = _top_pair(spec, ev)
    evidence: dict[str, Any] = {"slice": s.to_dict()}
    if ev.pairs:
        evidence["confusions"] = [p.to_dict() for p in ev.pairs[:3]]
    if ev.version is not None:
        evidence["version"] = ev.version.to_dict()
    if ev.cohort is not None:
        evidence["tenure"] = ev.cohort.to_dict()
    if ev.new_raters is not None:
        evidence["new_raters"] = {
            **ev.new_raters.to_dict(),
            "rater_ids": list(ev.new_raters.rater_ids[:MAX_IDS]),
        }
    if ev.located:
        evidence["located"] = dict(ev.located)
    if kind == "guideline_gap" and ev.version is not None:
        v = ev.version
        labels = f": {pair.labels[0]} vs {pair.labels[1]}" if pair else ""
        title = f"Guideline {v.new} in {text}: {spec.kpi} {values}" + (
            f", {pair.labels[0]} ↔ {pair.labels[1]} confused" if pair else ""
        )
        action = f"clarify guideline {v.new} for {text}{labels}"
    elif kind == "confusion_pair" and pair is not None:
        title = f"{pair.labels[0]} ↔ {pair.labels[1]} confused in {text}: {spec.kpi} {values}"
        action = (
            f"clarify {pair.labels[0]} vs {pair.labels[1]} for {text}: add examples to the "
            "guideline and recalibrate the raters"
        )
    elif kind == "rater_cohort":
        who = describe_where(base) if base else "all vendors"
        nr = ev.new_raters
        title = f"New raters ({NEW_BAND}) at {who}: {spec.kpi} {values}" + (
            f"; new raters {format_value(nr.value_new, spec.unit)} vs tenured "
            f"{format_value(nr.value_tenured, spec.unit)}"
            if nr
            else ""
        )
        hired = f" ({nr.count} raters hired {nr.first_hired}..{nr.last_hired})" if nr else ""
        target = (
            f" until they reach the tenured raters' {format_value(nr.value_tenured, spec.unit)}"
            if nr and nr.value_tenured == nr.value_tenured
            else ""
        )
        action = (
            f"coach and calibrate the new-rater cohort at {who}{hired}: pair them with "
            f"tenured reviewers and raise their QA sampling{target}"
        )
    else:
        title = f"{spec.kpi} {'fell' if spec.sign > 0 else 'rose'} in {text}: {values}"
        action = f"re-audit the {text} annotations from {after.label} and review the errors with the team leads"
    return Finding(
        _fid(kind, where), kind, spec.kpi, title, where, s.score, action, evidence, s.q_value
    )


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
    evidence = m.to_dict()
    where = {m.dim: m.levels[0].value} if m.levels else {}
    return Finding(
        f"mix_shift:{m.dim}", "mix_shift", spec.kpi, title, where, m.score, action, evidence,
        m.q_value,
    )  # fmt: skip


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
    evidence = {"tested": drift.tested, "raters": [r.to_dict() for r in flagged[:50]]}
    score = float(sum(r.points for r in flagged))
    q = min(r.q_value for r in flagged)
    return Finding(
        "rater_drift" + (":" + "|".join(f"{k}={v}" for k, v in common.items()) if common else ""),
        "rater_drift",
        spec.kpi,
        title,
        common,
        score,
        f"calibrate these raters: {listed}{more}",
        evidence,
        q,
    )


def merge_mix(finding: Finding, m: MixShift) -> Finding:
    """``finding`` with the mix shift ``m`` folded into its evidence (one root cause)."""
    evidence = {**finding.evidence, "mix_shift": m.to_dict()}
    return Finding(
        finding.id,
        finding.kind,
        finding.kpi,
        finding.title,
        finding.where,
        max(finding.score, m.score),
        finding.action,
        evidence,
        finding.p_value,
    )
