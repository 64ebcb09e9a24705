"""The two-period frame every root-cause analysis works on, and per-group changes.

A KPI the analyses can explain is a ratio of sums ``R = ΣX / ΣZ`` (accuracy
``Σk/Σn``, the Hájek audit accuracy ``Σwy/Σw``, severity-weighted error
``Σse/Σs``, a mean ``Σx/n``). For a partition of the rows into slices ``s``
with denominator shares ``w_s = Z_s / Z`` and rates ``r_s = X_s / Z_s`` the
overall rate is ``R = Σ w_s r_s``, which is what makes Kitagawa's
decomposition and slice contributions exact.

:func:`build_frame` collapses the KPI cube to one row per period (before /
after) and combination of dimension values, keeping only the sums the KPI
needs: a few thousand rows even for a ten-million-annotation cube, so every
later roll-up is a ``numpy.bincount``. :func:`changes` turns per-group sums of
the two periods into shares, rates, their changes and each group's
contribution to the overall change (see :mod:`opsloop.rca._kitagawa`).

>>> spec = ratio_spec("accuracy")
>>> spec.numerator, spec.denominator, spec.rows, spec.sign
('g_k', 'g_n', 'g_n', 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from opsloop.errors import UsageError
from opsloop.findings import Scale
from opsloop.monitor import Cube, estimate, kpi_def
from opsloop.stats import pooled_z, two_sided_p, wald_z

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Selection = BoolArray | IntArray  # frame rows: a mask or row numbers
DayRange = tuple[int, int]
_KEY_LIMIT = 2**40


@dataclass(frozen=True)
class RatioSpec:
    """Which cube sums make KPI ``kpi`` a ratio ``numerator / denominator``.

    ``rows`` counts the judged rows (the support of a slice); ``measures`` are
    every sum :func:`opsloop.monitor.estimate` needs for the KPI's intervals;
    ``sign`` is +1 when higher is better and −1 when lower is better.
    """

    kpi: str
    kind: str
    numerator: str
    denominator: str
    rows: str
    measures: tuple[str, ...]
    sign: int
    is_share: bool
    label: str
    unit: Scale


def ratio_spec(kpi: str) -> RatioSpec:
    """The ratio form of a cube KPI; a :class:`UsageError` for KPIs that are not ratios."""
    d = kpi_def(kpi)
    if d.kind == "proportion":
        num, den, rows = d.sums[1], d.sums[0], d.sums[0]
    elif d.kind == "hajek":
        num, den, rows = "aud_wy", "aud_w", "aud_n"
    elif d.kind == "ratio":
        num, den, rows = d.sums[1], d.sums[0], "g_n"
    elif d.kind == "mean":
        num, den, rows = d.sums[1], d.sums[0], d.sums[0]
    else:
        why = {
            "agreement": "an agreement statistic, not a ratio of sums",
            "composite": "a ratio of two KPIs; analyse unit_cost and accuracy separately",
            "rate": "a count per day; compare volumes instead",
        }[d.kind]
        raise UsageError(f"root-cause analysis cannot explain {kpi}: it is {why}")
    measures = tuple(dict.fromkeys([*d.sums, num, den, rows]))
    sign = 1 if d.direction == "higher" else -1
    return RatioSpec(kpi, d.kind, num, den, rows, measures, sign, d.is_share, d.label, d.unit)


def combine_codes(parts: Sequence[tuple[IntArray, int]], n: int) -> tuple[IntArray, int]:
    """One integer key per row from several ``(codes, size)`` columns, and its range.

    The key is the mixed-radix number of the codes; when the range would get
    too large the key is re-numbered densely (``numpy.unique``) first.

    >>> key, size = combine_codes([(np.array([0, 1, 1]), 2), (np.array([2, 0, 2]), 3)], 3)
    >>> key.tolist(), size
    ([2, 3, 5], 6)
    """
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for codes, k in parts:
        if size * max(k, 1) > _KEY_LIMIT:
            uniq, inverse = np.unique(key, return_inverse=True)
            key, size = inverse.astype(np.int64), len(uniq)
        key = key * max(k, 1) + codes
        size *= max(k, 1)
    return key, size


@dataclass(frozen=True)
class Frame:
    """The KPI's sums per period (0 = before, 1 = after) and combination of dimension values."""

    spec: RatioSpec
    dims: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    codes: dict[str, IntArray]
    period: IntArray
    sums: dict[str, FloatArray]
    before: DayRange
    after: DayRange
    total: dict[str, FloatArray]

    def __len__(self) -> int:
        return len(self.period)

    def mask(self, where: Mapping[str, str]) -> BoolArray:
        """Rows inside the slice ``where`` (dimension -> value)."""
        out = np.ones(len(self.period), dtype=bool)
        for dim, value in where.items():
            if dim not in self.levels:
                raise UsageError(f"unknown dimension {dim!r} (available: {', '.join(self.dims)})")
            try:
                code = self.levels[dim].index(value)
            except ValueError:
                return np.zeros(len(self.period), dtype=bool)
            out &= self.codes[dim] == code
        return out

    def totals(self, mask: Selection | None = None) -> dict[str, FloatArray]:
        """Each measure's sum per period (arrays of shape ``(2,)``), optionally inside ``mask``."""
        if mask is None:
            return {m: v.copy() for m, v in self.total.items()}
        return _period_sums(self.period[mask], {m: v[mask] for m, v in self.sums.items()})

    def group(
        self, key: IntArray, size: int, mask: Selection | None = None
    ) -> dict[str, FloatArray]:
        """Each measure's sums per group ``key`` (``0 … size−1``) and period: shape ``(size, 2)``."""
        k = key * 2 + self.period
        if mask is not None:
            k = k[mask]
        out: dict[str, FloatArray] = {}
        for m, values in self.sums.items():
            v = values if mask is None else values[mask]
            out[m] = (
                np.bincount(k, weights=v, minlength=2 * size).astype(np.float64).reshape(size, 2)
            )
        return out

    def key_of(self, dims: Sequence[str]) -> tuple[IntArray, int]:
        return combine_codes([(self.codes[d], len(self.levels[d])) for d in dims], len(self))


def _period_sums(period: IntArray, sums: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    return {
        m: np.bincount(period, weights=v, minlength=2).astype(np.float64) for m, v in sums.items()
    }


def period_ranges(before: DayRange, after: DayRange) -> None:
    """Reject periods that are empty, equal or overlapping."""
    for name, (a, b) in (("before", before), ("after", after)):
        if b <= a:
            raise UsageError(f"the {name} period is empty")
    if before == after:
        raise UsageError("the two periods are the same: compare two different periods")
    if before[0] < after[1] and after[0] < before[1]:
        raise UsageError("the two periods overlap: compare two separate periods")


def build_frame(
    cube: Cube,
    kpi: str,
    before: DayRange,
    after: DayRange,
    dims: Sequence[str] | None = None,
) -> Frame:
    """Collapse the cube to the two periods, the chosen dimensions and the KPI's sums."""
    spec = ratio_spec(kpi)
    period_ranges(before, after)
    chosen = tuple(cube.dims if dims is None else dims)
    cube.check_dimensions(chosen)
    missing = [m for m in spec.measures if m not in cube.sums]
    if missing:
        raise UsageError(f"the cube has no {', '.join(missing)} sums for {kpi}")
    period = np.full(len(cube.day), -1, dtype=np.int64)
    period[(cube.day >= before[0]) & (cube.day < before[1])] = 0
    period[(cube.day >= after[0]) & (cube.day < after[1])] = 1
    keep = (period >= 0) & (cube.sums[spec.rows] > 0)
    idx = np.flatnonzero(keep)
    parts = [(cube.codes[d][idx], len(cube.levels[d])) for d in chosen]
    key, _ = combine_codes([*parts, (period[idx], 2)], len(idx))
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    sums = {
        m: np.bincount(inverse, weights=cube.sums[m][idx], minlength=len(uniq)).astype(np.float64)
        for m in spec.measures
    }
    rows = idx[first]
    codes = {d: cube.codes[d][rows].astype(np.int64) for d in chosen}
    levels = {d: cube.levels[d] for d in chosen}
    period = period[rows]
    return Frame(spec, chosen, levels, codes, period, sums, before, after,
                 _period_sums(period, sums))  # fmt: skip


@dataclass(frozen=True)
class Changes:
    """Per-group changes between the periods (arrays, one entry per group).

    ``w`` shares of the KPI's denominator, ``r`` rates (a group missing in one
    period takes the other period's rate, so its whole effect is mix),
    ``rate_part = w̄ Δ``, ``mix_part = (r̄ − R̄) Δw``, ``contribution`` their
    sum; ``delta`` is the rate change tested (``Δr``, or the change within
    strata after :func:`standardise`), ``se_delta`` its standard error and
    ``z``/``p`` the test.
    """

    z_before: FloatArray
    z_after: FloatArray
    n_before: FloatArray
    n_after: FloatArray
    r_before: FloatArray
    r_after: FloatArray
    se_before: FloatArray
    se_after: FloatArray
    w_before: FloatArray
    w_after: FloatArray
    rate_part: FloatArray
    mix_part: FloatArray
    delta: FloatArray
    se_delta: FloatArray
    z: FloatArray
    p: FloatArray

    @property
    def delta_r(self) -> FloatArray:
        out: FloatArray = self.r_after - self.r_before
        return out

    @property
    def contribution(self) -> FloatArray:
        out: FloatArray = self.rate_part + self.mix_part
        return out


def _at(sums: Mapping[str, FloatArray], j: int) -> dict[str, FloatArray]:
    return {m: np.atleast_2d(v)[:, j] for m, v in sums.items()}


def overall(spec: RatioSpec, totals: Mapping[str, FloatArray]) -> tuple[float, float]:
    """The KPI in the two periods from per-period totals."""
    z = totals[spec.denominator]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(z > 0, totals[spec.numerator] / np.where(z > 0, z, 1.0), np.nan)
    return float(r[0]), float(r[1])


def changes(
    spec: RatioSpec, sums: Mapping[str, FloatArray], totals: Mapping[str, FloatArray]
) -> Changes:
    """Shares, rates, changes and contributions of groups with sums of shape ``(G, 2)``."""
    b, a = _at(sums, 0), _at(sums, 1)
    eb, ea = estimate(spec.kpi, b), estimate(spec.kpi, a)
    zb, za = b[spec.denominator], a[spec.denominator]
    tb, ta = float(totals[spec.denominator][0]), float(totals[spec.denominator][1])
    rb = np.where(zb > 0, eb.value, ea.value)
    ra = np.where(za > 0, ea.value, rb)
    rb = np.where(np.isnan(rb), ra, rb)
    wb = zb / tb if tb > 0 else np.zeros_like(zb)
    wa = za / ta if ta > 0 else np.zeros_like(za)
    big_b, big_a = overall(spec, totals)
    rbar, wbar, rr = (ra + rb) / 2, (wa + wb) / 2, (big_a + big_b) / 2
    rate_part = np.nan_to_num(wbar * (ra - rb))
    mix_part = np.nan_to_num((rbar - rr) * (wa - wb))
    if spec.kind == "proportion":
        z = pooled_z(b[spec.numerator], zb, a[spec.numerator], za)
    else:
        z = wald_z(ra - rb, np.nan_to_num(eb.se), np.nan_to_num(ea.se))
    z = np.where((zb > 0) & (za > 0), z, 0.0)
    nb, na = b[spec.rows], a[spec.rows]
    se_b, se_a = np.nan_to_num(eb.se), np.nan_to_num(ea.se)
    return Changes(
        zb, za, nb, na, rb, ra, se_b, se_a, wb, wa, rate_part, mix_part, ra - rb,
        np.hypot(se_b, se_a), z, two_sided_p(z),
    )  # fmt: skip


@dataclass(frozen=True)
class Strata:
    """Joint codes (per frame row) of the dimensions whose mix shifted."""

    dims: tuple[str, ...]
    code: IntArray
    size: int


def strata_of(frame: Frame, dims: Sequence[str]) -> Strata | None:
    """The strata of ``dims`` on the frame (``None`` without dimensions)."""
    if not dims:
        return None
    key, _ = frame.key_of(dims)
    uniq, inverse = np.unique(key, return_inverse=True)
    return Strata(tuple(dims), inverse.astype(np.int64), len(uniq))


def standardise(
    frame: Frame,
    c: Changes,
    key: IntArray | None,
    size: int,
    strata: Strata,
    totals: Mapping[str, FloatArray],
    mask: Selection | None = None,
) -> Changes:
    """``c`` with the rate change measured within strata (direct standardisation).

    For group ``s`` and stratum ``l`` present in both periods::

        Δ_s = Σ_l v_l Δr_sl,   v_l = ½ (z_sl,1 / Σ_l z_sl,1 + z_sl,2 / Σ_l z_sl,2)

    with variance ``Σ_l v_l² (se_sl,1² + se_sl,2²)``: the change the group
    would show had its mix over the strata stayed put. ``rate_part``, ``z``
    and ``p`` follow; shares, rates and ``mix_part`` are unchanged. ``key=None`` is
    one group.
    """
    cell = strata.code if key is None else key * strata.size + strata.code
    cc = changes(frame.spec, frame.group(cell, size * strata.size, mask), totals)
    valid = (cc.z_before > 0) & (cc.z_after > 0)
    group = np.repeat(np.arange(size), strata.size)
    zb = np.where(valid, cc.z_before, 0.0)
    za = np.where(valid, cc.z_after, 0.0)
    tb = np.bincount(group, weights=zb, minlength=size)[group]
    ta = np.bincount(group, weights=za, minlength=size)[group]
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(valid, (zb / tb + za / ta) / 2, 0.0)
    dr = np.nan_to_num(cc.r_after - cc.r_before)
    delta = np.bincount(group, weights=v * dr, minlength=size).astype(np.float64)
    var = np.bincount(group, weights=v * v * (cc.se_before**2 + cc.se_after**2), minlength=size)
    se = np.sqrt(var)
    z = wald_z(delta, se, np.zeros_like(se))
    wbar = (c.w_before + c.w_after) / 2
    return replace(c, rate_part=wbar * delta, delta=delta, se_delta=se, z=z, p=two_sided_p(z))
