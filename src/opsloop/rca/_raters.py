"""Raters: drift against peers, and the new raters of a slice.

* :func:`rater_drift` — raters whose change is worse than their peers' (raters
  with the same attributes)::

      excess = Δr_rater − Δr_peers,   z = excess / sqrt(se_rater² + se_peers²)

  tested with the Wald z-test and adjusted with Benjamini & Hochberg (1995)
  across raters; a rater's cost is ``w̄_rater · excess`` in KPI points (its
  average share of the KPI's denominator). A whole team getting worse is a
  slice, not drift.
* :func:`new_raters` — the raters of a slice hired within 30 days before or
  during the later period, and how they do against the rest.

>>> import numpy as np
>>> from opsloop.rca._frame import ratio_spec
>>> table = RaterTable("day", ("a", "b"), {"team": ("x", "x")}, np.array([0, 10]),
...     np.array([0, 1, 0, 1]), np.array([0, 0, 20, 20]),
...     {"g_n": np.array([100.0, 100, 100, 100]), "g_k": np.array([90.0, 90, 90, 50])})
>>> d = rater_drift(table, ratio_spec("accuracy"), (0, 10), (10, 30))
>>> [(r.rater_id, round(r.excess, 2)) for r in d.flagged]
[('b', -0.4)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from opsloop.monitor import estimate
from opsloop.rca._frame import RatioSpec
from opsloop.rca._inputs import RaterTable
from opsloop.stats import bh_adjust, day_from_number, two_sided_p, wald_z

FloatArray = npt.NDArray[np.float64]
DayRange = tuple[int, int]
NEW_DAYS = 30  # a rater is new for the first 30 days (the first tenure band)


def _rate(spec: RatioSpec, sums: Mapping[str, FloatArray]) -> FloatArray:
    den = sums[spec.denominator]
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(
            den > 0, sums[spec.numerator] / np.where(den > 0, den, 1), np.nan
        )
    return out


@dataclass(frozen=True)
class RaterChange:
    """One rater's change against their peers', and the KPI points it costs overall."""

    rater_id: str
    attributes: dict[str, str]
    value_before: float
    value_after: float
    n_before: float
    n_after: float
    peers_change: float
    excess: float
    p_value: float
    q_value: float
    points: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "attributes": dict(self.attributes)}


@dataclass(frozen=True)
class RaterDrift:
    """Raters tested (enough rows in both periods) and those flagged, worst first."""

    tested: int
    flagged: tuple[RaterChange, ...]

    @property
    def points(self) -> float:
        return float(sum(r.points for r in self.flagged))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tested": self.tested,
            "points": self.points,
            "flagged": [r.to_dict() for r in self.flagged],
        }


def rater_drift(
    raters: RaterTable,
    spec: RatioSpec,
    before: DayRange,
    after: DayRange,
    *,
    alpha: float = 0.05,
    min_rows: float = 20,
) -> RaterDrift | None:
    """Raters whose KPI changed significantly more (harmfully) than their peers'."""
    if any(m not in raters.sums for m in spec.measures):
        return None
    sb = raters.per_rater(before, spec.measures)
    sa = raters.per_rater(after, spec.measures)
    names = list(raters.attributes)
    groups: dict[tuple[str, ...], int] = {}
    gid = np.array(
        [
            groups.setdefault(tuple(raters.attributes[a][i] for a in names), len(groups))
            for i in range(len(raters.rater_ids))
        ],
        dtype=np.int64,
    )
    g = len(groups)
    gb = {m: np.bincount(gid, weights=v, minlength=g)[gid] for m, v in sb.items()}
    ga = {m: np.bincount(gid, weights=v, minlength=g)[gid] for m, v in sa.items()}
    rest_b = {m: gb[m] - sb[m] for m in sb}
    rest_a = {m: ga[m] - sa[m] for m in sa}
    thin = (rest_b[spec.rows] < min_rows) | (rest_a[spec.rows] < min_rows)
    for m in sb:
        rest_b[m] = np.where(thin, sb[m].sum() - sb[m], rest_b[m])
        rest_a[m] = np.where(thin, sa[m].sum() - sa[m], rest_a[m])
    eb, ea = estimate(spec.kpi, sb), estimate(spec.kpi, sa)
    pb, pa = estimate(spec.kpi, rest_b), estimate(spec.kpi, rest_a)
    ok = (sb[spec.rows] >= min_rows) & (sa[spec.rows] >= min_rows)
    ok &= np.isfinite(pb.value) & np.isfinite(pa.value)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return RaterDrift(0, ())
    own = (ea.value - eb.value)[idx]
    peers = (pa.value - pb.value)[idx]
    excess = own - peers
    se_own = np.hypot(eb.se[idx], ea.se[idx])
    se_peer = np.hypot(pb.se[idx], pa.se[idx])
    p = two_sided_p(wald_z(excess, np.nan_to_num(se_own), np.nan_to_num(se_peer)))
    q = bh_adjust(p)
    zb, za = sb[spec.denominator].sum(), sa[spec.denominator].sum()
    share = (sb[spec.denominator][idx] / zb + sa[spec.denominator][idx] / za) / 2
    points = -spec.sign * share * excess
    flagged = [
        RaterChange(
            raters.rater_ids[i],
            {a: raters.attributes[a][i] for a in names},
            float(eb.value[i]),
            float(ea.value[i]),
            float(sb[spec.rows][i]),
            float(sa[spec.rows][i]),
            float(peers[t]),
            float(excess[t]),
            float(p[t]),
            float(q[t]),
            float(points[t]),
        )
        for t, i in enumerate(idx)
        if q[t] <= alpha and points[t] > 0
    ]
    return RaterDrift(len(idx), tuple(sorted(flagged, key=lambda r: -r.points)))


@dataclass(frozen=True)
class NewRaters:
    """Raters of a slice hired within 30 days before or during the later period."""

    count: int
    tenured: int
    first_hired: str
    last_hired: str
    rater_ids: tuple[str, ...]
    value_new: float
    value_tenured: float
    n_new: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rater_ids": list(self.rater_ids)}


def new_raters(
    raters: RaterTable, spec: RatioSpec, where: Mapping[str, str], after: DayRange
) -> NewRaters | None:
    """The new raters among those matching the slice's rater attributes (other dimensions
    describe items and do not select raters)."""
    if any(m not in raters.sums for m in spec.measures) or (raters.hired_day < -(2**30)).all():
        return None
    match = np.ones(len(raters.rater_ids), dtype=bool)
    for dim, value in where.items():
        if dim in raters.attributes:
            match &= np.array([v == value for v in raters.attributes[dim]])
    sa = raters.per_rater(after, spec.measures)
    active = match & (sa[spec.rows] > 0)
    hired = raters.hired_day
    new = active & (hired > after[0] - NEW_DAYS) & (hired < after[1])
    old = active & ~new
    if not new.any():
        return None
    vn = _rate(spec, {m: np.array([v[new].sum()]) for m, v in sa.items()})[0]
    vo = _rate(spec, {m: np.array([v[old].sum()]) for m, v in sa.items()})[0]
    order = np.flatnonzero(new)[np.argsort(hired[new], kind="stable")]
    first = day_from_number(int(hired[order[0]]))
    last = day_from_number(int(hired[order[-1]]))
    return NewRaters(
        int(new.sum()),
        int(old.sum()),
        first.isoformat(),
        last.isoformat(),
        tuple(raters.rater_ids[i] for i in order),
        float(vn),
        float(vo),
        float(sa[spec.rows][new].sum()),
    )
