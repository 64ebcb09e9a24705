"""Analyses that explain a slice's change: versions, cohorts, confusions and mix shifts.

(Raters are in :mod:`opsloop.rca._raters`.)

* :func:`version_change` — when a guideline version changed between the
  periods, the KPI per version inside the slice and elsewhere: a drop that
  arrives with the new version in one slice only points at that version's text.
* :func:`breakdown` — Kitagawa (1955) inside one slice along another
  dimension (``tenure``): which band carries the slice's drop.
* :func:`confusion_shifts` — which unordered label pair ``{a, b}`` (``a``
  given for ``b`` or the reverse) grew as a share of the KPI's denominator;
  the pairs' changes add up to the KPI's change in the slice. Pooled
  two-proportion z-tests, Benjamini & Hochberg (1995) across pairs.
* :func:`concentrate` — the rater attribute value (a vendor, a site) that
  carries most of a cohort's drop.
* :func:`mix_shifts` — dimensions whose Kitagawa mix effect is significant
  (BH across dimensions), harmful and material (at least a quarter of the
  change and of the rate effect, and twice the change's standard error);
  with rates that improved it is Simpson's paradox.

>>> cells = confusion_cells("accuracy", ("a", "b"), TaskTaxonomy())
>>> cells[1].tolist(), cells[2].tolist()
([[True, True], [True, True]], [[False, True], [True, False]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from opsloop.config import TaskTaxonomy
from opsloop.rca._frame import BoolArray, Frame, RatioSpec, changes, overall
from opsloop.rca._inputs import ConfusionTable
from opsloop.rca._kitagawa import DimensionDecomposition, LevelChange, level_changes
from opsloop.stats import bh_adjust, pooled_z, two_sided_p

FloatArray = npt.NDArray[np.float64]
DayRange = tuple[int, int]
CONFUSION_KPIS = (
    "accuracy",
    "wrong_policy",
    "leakage",
    "over_enforcement",
    "critical_error",
    "severity_weighted_error",
)
MIX_MATERIAL = 0.25  # a mix shift must explain this share of the change


def _rate(spec: RatioSpec, sums: Mapping[str, FloatArray]) -> FloatArray:
    den = sums[spec.denominator]
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(
            den > 0, sums[spec.numerator] / np.where(den > 0, den, 1), np.nan
        )
    return out


# --- guideline versions -------------------------------------------------------------


@dataclass(frozen=True)
class VersionChange:
    """The KPI under the old and new version of ``dim``, inside the slice and elsewhere."""

    dim: str
    old: str
    new: str
    slice_old: float
    slice_new: float
    rest_old: float
    rest_new: float
    n_old: float
    n_new: float

    @property
    def gap(self) -> float:
        """How much more the slice changed than the rest, from the old to the new version."""
        return (self.slice_new - self.slice_old) - (self.rest_new - self.rest_old)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "gap": self.gap}


def _region(
    frame: Frame, where: Mapping[str, str], excluding: Sequence[Mapping[str, str]]
) -> BoolArray:
    mask = frame.mask(where)
    for e in excluding:
        mask &= ~frame.mask(e)
    return mask


def version_change(
    frame: Frame,
    dim: str,
    where: Mapping[str, str],
    excluding: Sequence[Mapping[str, str]] = (),
) -> VersionChange | None:
    """Per version of ``dim`` (the periods' dominant ones), the KPI in ``where`` (outside the
    slices ``excluding``) and elsewhere."""
    if dim not in frame.dims:
        return None
    key, size = frame.key_of([dim])
    den = frame.group(key, size)[frame.spec.denominator]
    old, new = int(np.argmax(den[:, 0])), int(np.argmax(den[:, 1]))
    if old == new:
        return None
    mask = _region(frame, {d: v for d, v in where.items() if d != dim}, excluding)
    inside = {m: v.sum(axis=1) for m, v in frame.group(key, size, mask).items()}
    outside = {m: v.sum(axis=1) for m, v in frame.group(key, size, ~mask).items()}
    r_in, r_out = _rate(frame.spec, inside), _rate(frame.spec, outside)
    n_in = inside[frame.spec.rows]
    names = frame.levels[dim]
    return VersionChange(
        dim,
        names[old],
        names[new],
        float(r_in[old]),
        float(r_in[new]),
        float(r_out[old]),
        float(r_out[new]),
        float(n_in[old]),
        float(n_in[new]),
    )


# --- a slice's change along another dimension -------------------------------------------


@dataclass(frozen=True)
class Breakdown:
    """Kitagawa inside a slice along ``dim``: each value's part of the slice's change.

    ``top`` carries ``top_share`` of the slice's harmful change.
    """

    dim: str
    slice_change: float
    levels: tuple[LevelChange, ...]
    top: str
    top_share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "slice_change": self.slice_change,
            "top": self.top,
            "top_share": self.top_share,
            "levels": [lv.to_dict() for lv in self.levels],
        }


def breakdown(
    frame: Frame,
    where: Mapping[str, str],
    dim: str,
    excluding: Sequence[Mapping[str, str]] = (),
) -> Breakdown | None:
    """The slice's change (outside ``excluding``) split over the values of ``dim``."""
    if dim not in frame.dims or dim in where:
        return None
    mask = _region(frame, where, excluding)
    key, size = frame.key_of([dim])
    totals = frame.totals(mask)
    c = changes(frame.spec, frame.group(key, size, mask), totals)
    b, a = overall(frame.spec, totals)
    harm = -frame.spec.sign * c.contribution
    total_harm = -frame.spec.sign * (a - b)
    if not np.isfinite(total_harm) or total_harm <= 0:
        return None
    used = np.flatnonzero((c.z_before > 0) | (c.z_after > 0))
    top = int(used[np.argmax(harm[used])])
    levels = level_changes(frame.levels[dim], c)
    return Breakdown(dim, a - b, levels, frame.levels[dim][top], float(harm[top] / total_harm))


def concentrate(
    frame: Frame, where: Mapping[str, str], dims: Sequence[str], share: float = 0.5
) -> dict[str, str] | None:
    """``where`` narrowed to the value of one of ``dims`` that carries at least ``share`` of
    its harmful change (the coarsest dimension that does, or the most concentrated)."""
    best: tuple[float, int, str, str] | None = None
    for d in dims:
        bd = breakdown(frame, where, d)
        if bd is None or bd.top_share < share:
            continue
        top = next(lv for lv in bd.levels if lv.value == bd.top)
        if min(top.share_before, top.share_after) >= 0.99:  # the slice already implies it
            continue
        key = (round(bd.top_share, 1), -len(frame.levels[d]), d, bd.top)
        if best is None or key > best:
            best = key
    return None if best is None else {**where, best[2]: best[3]}


# --- confusion pairs ------------------------------------------------------------------


def confusion_cells(
    kpi: str, labels: Sequence[str], tax: TaskTaxonomy
) -> tuple[FloatArray, BoolArray, BoolArray] | None:
    """Cell weights, the KPI's denominator cells and its error cells (``truth × label``)."""
    if kpi not in CONFUSION_KPIS:
        return None
    k = len(labels)
    benign = np.array([x in set(tax.benign) for x in labels])
    sev = np.array(
        [float(tax.severity.get(x, 0.0 if b else 1.0)) for x, b in zip(labels, benign, strict=True)]
    )
    off = ~np.eye(k, dtype=bool)
    weight = np.ones((k, k))
    den = np.ones((k, k), dtype=bool)
    err = off.copy()
    if kpi in ("wrong_policy", "leakage", "over_enforcement") and not benign.any():
        return None
    if kpi == "wrong_policy":
        den = np.outer(~benign, ~benign)
        err = den & off
    elif kpi == "leakage":
        den = np.repeat(~benign[:, None], k, axis=1)
        err = den & benign[None, :]
    elif kpi == "over_enforcement":
        den = np.repeat(benign[:, None], k, axis=1)
        err = den & ~benign[None, :]
    elif kpi == "critical_error":
        if tax.critical_severity is None or not tax.severity:
            return None
        den = np.repeat((sev >= tax.critical_severity)[:, None], k, axis=1)
        err = den & off
    elif kpi == "severity_weighted_error":
        if not tax.severity:
            return None
        weight = np.repeat(sev[:, None], k, axis=1)
    return weight, den, err


@dataclass(frozen=True)
class PairShift:
    """An unordered label pair whose confusion grew, as a share of the KPI's denominator.

    ``given_before``/``given_after`` are ``(P(b | truth a), P(a | truth b))``.
    """

    labels: tuple[str, str]
    share_before: float
    share_after: float
    given_before: tuple[float, float]
    given_after: tuple[float, float]
    n_before: float
    n_after: float
    p_value: float
    q_value: float

    @property
    def change(self) -> float:
        return self.share_after - self.share_before

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "share_before": self.share_before,
            "share_after": self.share_after,
            "change": self.change,
            "given_before": list(self.given_before),
            "given_after": list(self.given_after),
            "n_before": self.n_before,
            "n_after": self.n_after,
            "p_value": self.p_value,
            "q_value": self.q_value,
        }


def _given(m: FloatArray, i: int, j: int) -> float:
    row = float(m[i].sum())
    return float(m[i, j] / row) if row > 0 else float("nan")


def confusion_shifts(
    conf: ConfusionTable,
    kpi: str,
    tax: TaskTaxonomy,
    where: Mapping[str, str],
    before: DayRange,
    after: DayRange,
    *,
    alpha: float = 0.05,
    excluding: Sequence[Mapping[str, str]] = (),
) -> tuple[PairShift, ...]:
    """Label pairs whose confusion grew significantly inside ``where`` (outside the slices
    ``excluding``), largest growth first."""
    cells = confusion_cells(kpi, conf.labels, tax)
    mask = conf.mask(where)
    for e in excluding:
        other = conf.mask(e)
        if mask is not None and other is not None:
            mask &= ~other
    if cells is None or mask is None:
        return ()
    weight, den, err = cells
    mb, ma = conf.matrix(mask, before), conf.matrix(mask, after)
    db, da = float((weight * mb)[den].sum()), float((weight * ma)[den].sum())
    if db <= 0 or da <= 0:
        return ()
    pairs = [
        (i, j)
        for i in range(len(conf.labels))
        for j in range(i + 1, len(conf.labels))
        if err[i, j] or err[j, i]
    ]
    if not pairs:
        return ()
    xb = np.array(
        [(weight * mb)[i, j] * err[i, j] + (weight * mb)[j, i] * err[j, i] for i, j in pairs]
    )
    xa = np.array(
        [(weight * ma)[i, j] * err[i, j] + (weight * ma)[j, i] * err[j, i] for i, j in pairs]
    )
    nb, na = np.full(len(pairs), db), np.full(len(pairs), da)
    p = two_sided_p(pooled_z(xb, nb, xa, na))
    q = bh_adjust(p)
    out = [
        PairShift(
            (conf.labels[i], conf.labels[j]),
            float(xb[t] / db),
            float(xa[t] / da),
            (_given(mb, i, j), _given(mb, j, i)),
            (_given(ma, i, j), _given(ma, j, i)),
            db,
            da,
            float(p[t]),
            float(q[t]),
        )
        for t, (i, j) in enumerate(pairs)
        if xa[t] / da > xb[t] / db and q[t] <= alpha
    ]
    return tuple(sorted(out, key=lambda s: -s.change))


# --- mix shifts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MixShift:
    """A dimension whose mix shifted harmfully; ``simpson`` when its rates improved."""

    dim: str
    mix_effect: float
    rate_effect: float
    mix_se: float
    p_value: float
    q_value: float
    simpson: bool
    levels: tuple[LevelChange, ...]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "levels": [lv.to_dict() for lv in self.levels]}


def _joint_mix(frame: Frame, dims: Sequence[str]) -> float:
    key, size = frame.key_of(dims)
    c = changes(frame.spec, frame.group(key, size), frame.totals())
    return float(c.mix_part.sum())


def mix_shifts(
    frame: Frame,
    decs: Sequence[DimensionDecomposition],
    *,
    alpha: float = 0.05,
    change_se: float = 0.0,
) -> tuple[MixShift, ...]:
    """Significant, harmful and material mix shifts, largest first.

    Material: at least a quarter of the change and of the rate effect, and at
    least twice ``change_se`` (the standard error of the KPI's change: a mix
    shift must move the KPI by more than its noise). A dimension whose shift
    adds less than half its own mix effect to a larger one's is redundant.
    """
    sign = frame.spec.sign
    cands = [d for d in decs if d.comparable and d.mix_se > 0]
    if not cands:
        return ()
    p = np.array([d.mix_p for d in cands])
    q = bh_adjust(p)
    out: list[MixShift] = []
    for d, pv, qv in sorted(zip(cands, p, q, strict=True), key=lambda t: sign * t[0].mix_effect):
        harm = -sign * d.mix_effect
        material = max(MIX_MATERIAL * max(abs(d.change), -sign * d.rate_effect), 2 * change_se)
        if harm <= 0 or qv > alpha or harm < material:
            continue
        if any(
            -sign * (_joint_mix(frame, [m.dim, d.dim]) - m.mix_effect) < 0.5 * harm for m in out
        ):
            continue
        levels = tuple(sorted(d.levels, key=lambda lv: sign * lv.mix_part))
        out.append(
            MixShift(
                d.dim,
                d.mix_effect,
                d.rate_effect,
                d.mix_se,
                float(pv),
                float(qv),
                -sign * d.rate_effect < 0,
                levels,
                harm,
            )
        )
    return tuple(out)
