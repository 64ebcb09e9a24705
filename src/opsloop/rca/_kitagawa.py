"""Kitagawa's decomposition of a change in a rate into a rate effect and a mix effect.

For a ratio KPI and a dimension ``D`` whose values ``l`` carry shares ``w_l``
of the KPI's denominator and rates ``r_l`` in two periods, the overall rate
``R = Σ w_l r_l`` changes by exactly (Kitagawa, 1955, "Components of a
difference between two rates", JASA 50:1168–1194)::

    ΔR = Σ w̄_l Δr_l  +  Σ r̄_l Δw_l
         rate effect     mix effect

with ``w̄, r̄`` the averages of the two periods. The rate effect is what the
change would be had the mix stayed put; the mix effect what it would be had
every value's rate stayed put. A large harmful mix effect with rates that
improved is Simpson's paradox: the KPI fell although every slice got better.

Standard errors: the rate effect's is ``sqrt(Σ w̄_l² (se_l,1² + se_l,2²))``; the
mix effect's treats ``r̄`` as fixed and each period's ``Σ w_l r̄_l`` as the
mean of ``r̄`` over that period's ``N`` rows, ``sqrt(Σ_p V_p / N_p)`` with
``V_p = Σ_l w_p,l (r̄_l − Σ_l w_p,l r̄_l)²``.

The worked example (queue A 98% / B 80% at a 80/20 mix, then 99% / 82% at 50/50):

>>> k = kitagawa(np.array([0.8, 0.2]), np.array([0.98, 0.80]),
...              np.array([0.5, 0.5]), np.array([0.99, 0.82]))
>>> round(k.before, 4), round(k.after, 4), round(k.total, 4)
(0.944, 0.905, -0.039)
>>> round(k.rate_effect, 4), round(k.mix_effect, 4)
(0.0135, -0.0525)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from opsloop.monitor import Cube, Period
from opsloop.rca._frame import Changes, Frame, build_frame, changes, overall
from opsloop.stats import two_sided_p

FloatArray = npt.NDArray[np.float64]
SUPPORTED_SHARE = 0.9  # values present in both periods must carry this share to call it mix


@dataclass(frozen=True)
class Kitagawa:
    """A rate change split into ``rate_effect + mix_effect`` (and per value: ``rate_parts``, ``mix_parts``)."""

    before: float
    after: float
    rate_effect: float
    mix_effect: float
    rate_parts: FloatArray
    mix_parts: FloatArray

    @property
    def total(self) -> float:
        return self.after - self.before

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "change": self.total,
            "rate_effect": self.rate_effect,
            "mix_effect": self.mix_effect,
            "rate_parts": self.rate_parts.tolist(),
            "mix_parts": self.mix_parts.tolist(),
        }


def kitagawa(
    w_before: FloatArray, r_before: FloatArray, w_after: FloatArray, r_after: FloatArray
) -> Kitagawa:
    """Decompose ``Σ w_after r_after − Σ w_before r_before`` into rate and mix effects.

    Shares are normalised to sum to 1. A value absent from one period (share
    0) takes the other period's rate there, so its whole effect counts as mix.
    """
    wb = np.asarray(w_before, dtype=np.float64)
    wa = np.asarray(w_after, dtype=np.float64)
    rb = np.asarray(r_before, dtype=np.float64)
    ra = np.asarray(r_after, dtype=np.float64)
    wb = wb / wb.sum() if wb.sum() > 0 else wb
    wa = wa / wa.sum() if wa.sum() > 0 else wa
    rb = np.where((wb > 0) & ~np.isnan(rb), rb, ra)
    ra = np.where((wa > 0) & ~np.isnan(ra), ra, rb)
    rb, ra = np.nan_to_num(rb), np.nan_to_num(ra)
    rate_parts = (wb + wa) / 2 * (ra - rb)
    mix_parts = (rb + ra) / 2 * (wa - wb)
    return Kitagawa(
        float(wb @ rb),
        float(wa @ ra),
        float(rate_parts.sum()),
        float(mix_parts.sum()),
        rate_parts,
        mix_parts,
    )


@dataclass(frozen=True)
class LevelChange:
    """One value of a dimension: shares and rates in both periods and its two parts."""

    value: str
    share_before: float
    share_after: float
    value_before: float
    value_after: float
    n_before: float
    n_after: float
    rate_part: float
    mix_part: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DimensionDecomposition:
    """Kitagawa's decomposition of the KPI change along one dimension.

    ``common_support`` is the smallest (over the two periods) share of the
    denominator on values present in both periods: near 1 the dimension's
    mix can shift; near 0 the dimension changed wholesale (a new guideline
    version), and its "mix effect" is the whole change.
    """

    dim: str
    change: float
    rate_effect: float
    mix_effect: float
    rate_se: float
    mix_se: float
    common_support: float
    levels: tuple[LevelChange, ...]

    @property
    def mix_p(self) -> float:
        return (
            float(two_sided_p(np.array([self.mix_effect / self.mix_se]))[0])
            if self.mix_se > 0
            else 1.0
        )

    @property
    def rate_p(self) -> float:
        return (
            float(two_sided_p(np.array([self.rate_effect / self.rate_se]))[0])
            if self.rate_se > 0
            else 1.0
        )

    @property
    def comparable(self) -> bool:
        """Whether the dimension's values persist across the periods (a mix can shift)."""
        return self.common_support >= SUPPORTED_SHARE

    def to_dict(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "change": self.change,
            "rate_effect": self.rate_effect,
            "mix_effect": self.mix_effect,
            "rate_se": self.rate_se,
            "mix_se": self.mix_se,
            "rate_p": self.rate_p,
            "mix_p": self.mix_p,
            "common_support": self.common_support,
            "levels": [lv.to_dict() for lv in self.levels],
        }


def _mix_se(c: Changes) -> float:
    rbar = np.nan_to_num((c.r_before + c.r_after) / 2)
    out = 0.0
    for w, n in ((c.w_before, c.n_before.sum()), (c.w_after, c.n_after.sum())):
        if n <= 0:
            continue
        m = float(w @ rbar)
        out += float(w @ (rbar - m) ** 2) / float(n)
    return float(np.sqrt(out))


def level_changes(names: Sequence[str], c: Changes) -> tuple[LevelChange, ...]:
    """One :class:`LevelChange` per value present in either period."""
    used = np.flatnonzero((c.z_before > 0) | (c.z_after > 0))
    return tuple(
        LevelChange(
            names[int(i)],
            float(c.w_before[i]),
            float(c.w_after[i]),
            float(c.r_before[i]) if c.z_before[i] > 0 else float("nan"),
            float(c.r_after[i]) if c.z_after[i] > 0 else float("nan"),
            float(c.n_before[i]),
            float(c.n_after[i]),
            float(c.rate_part[i]),
            float(c.mix_part[i]),
        )
        for i in used
    )


def decompose_dimension(frame: Frame, dim: str) -> DimensionDecomposition:
    """Kitagawa's decomposition along ``dim`` on a two-period frame."""
    key, size = frame.key_of([dim])
    sums = frame.group(key, size)
    totals = frame.totals()
    c = changes(frame.spec, sums, totals)
    big_b, big_a = overall(frame.spec, totals)
    present = (c.z_before > 0) & (c.z_after > 0)
    support = min(float(c.w_before[present].sum()), float(c.w_after[present].sum()))
    rate_se = float(
        np.sqrt(np.sum(((c.w_before + c.w_after) / 2) ** 2 * (c.se_before**2 + c.se_after**2)))
    )
    levels = level_changes(frame.levels[dim], c)
    return DimensionDecomposition(
        dim,
        big_a - big_b,
        float(c.rate_part.sum()),
        float(c.mix_part.sum()),
        rate_se,
        _mix_se(c),
        support,
        levels,
    )


def decompose(
    cube: Cube,
    kpi: str,
    before: Period,
    after: Period,
    dims: Sequence[str] | None = None,
) -> tuple[DimensionDecomposition, ...]:
    """Kitagawa's decomposition of the change of ``kpi`` along each dimension of the cube."""
    frame = build_frame(cube, kpi, before.day_range, after.day_range, dims)
    return tuple(decompose_dimension(frame, d) for d in frame.dims)
