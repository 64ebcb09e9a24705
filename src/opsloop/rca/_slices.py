"""Slice discovery: which conjunctions of dimension values explain a KPI change.

Every slice ``s`` (a conjunction of up to ``max_depth`` dimension values, and
the whole population) is scored by its contribution to the overall change::

    c_s = w̄_s Δr_s + (r̄_s − R̄) Δw_s        (rate part + centred mix part)

which, within one partition of the rows, sums exactly to ``ΔR`` (Kitagawa,
1955); ``c_s / ΔR`` is the slice's explanatory power (Bhagwan et al., 2014,
"Adtributor: revenue debugging in advertising systems", NSDI). Slices are
ranked by the KPI points they lose in the harmful direction, so a regression
inside an overall improvement is still found. The score is the harmful rate
part ``−sign · w̄_s Δr_s`` plus the mix part when that is harmful too (a
worse slice that also grew, e.g. a new cohort of raters taking more work).

A slice is a candidate when it has minimum support in both periods (a share
``min_support`` of the denominator and ``min_rows`` judged rows; MacroBase's
support, Abuzaid et al., 2018, "DIFF: a relational interface for large-scale
data explanation", VLDB) and its rate change is harmful and significant (a
two-proportion z-test, or the linearised standard error for other ratios)
after the Benjamini & Hochberg (1995) adjustment over all supported slices.
The risk ratio (the slice's error rate over the rest's in the later period)
and Adtributor's surprise (Jensen–Shannon divergence of the slice's share of
the errors) are reported as evidence.

Redundant slices are pruned greedily in score order: a slice inside a
reported one is dropped unless its change differs significantly from the
rest of the reported region it lies in (Bonferroni over the candidates inside
it); a slice containing or overlapping reported ones is dropped when what
remains outside them shows no significant harmful change (Bonferroni over
the candidates pruned: these tests follow a selection), and otherwise keeps
only the remainder's score. The intersection of two reported slices is no
new cause.

With ``stratify`` dimensions (whose mix shifted), every change is measured
within their values by direct standardisation (:func:`~opsloop.rca._frame.standardise`):
a slice whose drop vanishes within the strata is mix, not quality.

>>> from opsloop.monitor import Cube, Period
>>> import datetime as dt
>>> cube = Cube(("queue",), {"queue": ("a", "b")}, np.array([0, 0, 7, 7]),
...     {"queue": np.array([0, 1, 0, 1])},
...     {"g_n": np.array([500.0, 500, 500, 500]), "g_k": np.array([450.0, 450, 450, 300])})
>>> p1 = Period("w1", dt.date(1970, 1, 1), dt.date(1970, 1, 8))
>>> p2 = Period("w2", dt.date(1970, 1, 8), dt.date(1970, 1, 15))
>>> [(s.where, round(s.score, 2)) for s in discover_slices(cube, "accuracy", p1, p2)]
[({'queue': 'b'}, 0.15)]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from opsloop.monitor import Cube, Period
from opsloop.rca._frame import (
    BoolArray,
    Changes,
    Frame,
    Strata,
    build_frame,
    changes,
    overall,
    standardise,
    strata_of,
)
from opsloop.stats import bh_adjust, two_sided_p, wald_z

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
CONTAIN_TOLERANCE = 0.01  # a slice is inside another when ≤ 1% of its weight is outside
MAX_PRUNE = 120  # candidates considered by the redundancy pruning


@dataclass(frozen=True)
class SliceChange:
    """A discovered slice: its values in both periods, parts of the change and tests."""

    where: dict[str, str]
    value_before: float
    value_after: float
    share_before: float
    share_after: float
    n_before: float
    n_after: float
    adjusted_change: float
    rate_part: float
    mix_part: float
    explanatory_power: float
    risk_ratio: float
    surprise: float
    p_value: float
    q_value: float
    score: float
    excluding: tuple[dict[str, str], ...] = field(default=())

    @property
    def change(self) -> float:
        return self.value_after - self.value_before

    @property
    def contribution(self) -> float:
        return self.rate_part + self.mix_part

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "excluding"}
        out["where"] = dict(self.where)
        out["change"] = self.change
        out["contribution"] = self.contribution
        out["excluding"] = [dict(e) for e in self.excluding]
        return out


@dataclass(frozen=True)
class _Candidates:
    """Supported slices of every combination, as parallel arrays."""

    combo: IntArray
    codes: IntArray  # (N, max_depth), −1 padded
    c: Changes
    q: FloatArray
    explained: int  # harmful and significant before standardising, not after


def _concat(parts: Sequence[Changes]) -> Changes:
    names = Changes.__dataclass_fields__
    return Changes(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in names})


def _take(c: Changes, idx: IntArray) -> Changes:
    return Changes(**{f: getattr(c, f)[idx] for f in Changes.__dataclass_fields__})


def _score(frame: Frame, c: Changes) -> FloatArray:
    """Points lost: the harmful rate part plus the mix part when that is harmful too."""
    sign = frame.spec.sign
    out: FloatArray = -sign * c.rate_part + np.maximum(-sign * c.mix_part, 0.0)
    return out


def _supported(frame: Frame, c: Changes, min_support: float, min_rows: float) -> BoolArray:
    den = frame.total[frame.spec.denominator]
    out: BoolArray = (
        (c.z_before >= min_support * den[0])
        & (c.z_after >= min_support * den[1])
        & (c.n_before >= min_rows)
        & (c.n_after >= min_rows)
    )
    return out


def _enumerate(
    frame: Frame,
    dims: Sequence[str],
    max_depth: int,
    min_support: float,
    min_rows: float,
    strata: Strata | None,
    alpha: float,
) -> tuple[list[tuple[str, ...]], _Candidates]:
    combos: list[tuple[str, ...]] = [()]
    for depth in range(1, max_depth + 1):
        combos.extend(itertools.combinations(dims, depth))
    totals = frame.totals()
    parts: list[Changes] = []
    raw: list[Changes] = []
    combo_idx: list[IntArray] = []
    code_rows: list[IntArray] = []
    width = max(max_depth, 1)
    for ci, combo in enumerate(combos):
        key, size = frame.key_of(combo)
        codes = None
        if size > 4 * len(frame) + 1024:
            uniq, first, key = np.unique(key, return_index=True, return_inverse=True)
            size = len(uniq)
            codes = np.stack([frame.codes[d][first] for d in combo], axis=1)
        key = key.astype(np.int64)
        c = changes(frame.spec, frame.group(key, size), totals)
        ok = np.flatnonzero(_supported(frame, c, min_support, min_rows))
        if not len(ok):
            continue
        block = np.full((len(ok), width), -1, dtype=np.int64)
        if codes is not None:
            block[:, : len(combo)] = codes[ok]
        elif combo:
            rest = ok.copy()
            for j in range(len(combo) - 1, -1, -1):
                k = len(frame.levels[combo[j]])
                block[:, j] = rest % k
                rest = rest // k
        adjusted = c if strata is None else standardise(frame, c, key, size, strata, totals)
        parts.append(_take(adjusted, ok))
        raw.append(_take(c, ok))
        combo_idx.append(np.full(len(ok), ci, dtype=np.int64))
        code_rows.append(block)
    allc, allraw = _concat(parts), _concat(raw)
    q = bh_adjust(allc.p)
    sign = frame.spec.sign
    explained = 0
    if strata is not None:
        before = (-sign * allraw.delta > 0) & (bh_adjust(allraw.p) <= alpha)
        after = (-sign * allc.delta > 0) & (q <= alpha)
        explained = int((before & ~after).sum())
    return combos, _Candidates(
        np.concatenate(combo_idx), np.concatenate(code_rows), allc, q, explained
    )


class _Pruner:
    """Masks and the tests of the redundancy pruning (within strata when given)."""

    def __init__(
        self, frame: Frame, alpha: float, cutoff: float, min_rows: float, strata: Strata | None
    ) -> None:
        self.frame = frame
        self.alpha = alpha
        self.cutoff = cutoff
        self.min_rows = min_rows
        self.strata = strata
        self.totals = frame.totals()
        self.z = frame.sums[frame.spec.denominator]
        self.masks: dict[int, BoolArray] = {}
        self.where: dict[int, dict[str, str]] = {}
        self._rows: dict[int, IntArray] = {}
        self._weight: dict[int, float] = {}
        self._relations: dict[tuple[int, int], str] = {}
        self._children: dict[int, int] = {}

    def add(self, i: int, where: dict[str, str]) -> None:
        self.where[i] = where
        self.masks[i] = self.frame.mask(where)
        self._rows[i] = np.flatnonzero(self.masks[i])
        self._weight[i] = float(self.z[self._rows[i]].sum())

    def stats(self, rows: IntArray) -> Changes:
        """The change of the frame rows ``rows`` (within strata when given)."""
        t = self.frame.totals(rows)
        c = changes(self.frame.spec, {m: v[None, :] for m, v in t.items()}, self.totals)
        if self.strata is None:
            return c
        return standardise(self.frame, c, None, 1, self.strata, self.totals, rows)

    def relation(self, s: int, c: int) -> str:
        """``inside``, ``contains``, ``overlaps`` or ``apart`` (by the KPI's denominator)."""
        if (s, c) in self._relations:
            return self._relations[(s, c)]
        small, big = (s, c) if len(self._rows[s]) <= len(self._rows[c]) else (c, s)
        rows = self._rows[small]
        inter = float(self.z[rows[self.masks[big][rows]]].sum())
        ws, wc = self._weight[s], self._weight[c]
        if ws - inter <= CONTAIN_TOLERANCE * ws:
            out = "inside"
        elif wc - inter <= CONTAIN_TOLERANCE * wc:
            out = "contains"
        else:
            out = "overlaps" if inter > CONTAIN_TOLERANCE * min(ws, wc) else "apart"
        self._relations[(s, c)] = out
        return out

    def _enough(self, c: Changes) -> bool:
        return bool(c.n_before[0] >= self.min_rows and c.n_after[0] >= self.min_rows)

    def children(self, parent: int, order: Sequence[int]) -> int:
        """How many candidates lie inside ``parent`` (the family of its ``differs`` tests)."""
        if parent not in self._children:
            self._children[parent] = sum(
                1 for s in order if s != parent and self.relation(s, parent) == "inside"
            )
        return self._children[parent]

    def differs(
        self, s: int, parents: Sequence[int], level: float, exclude: Sequence[int] = ()
    ) -> bool:
        """Whether slice ``s`` got significantly worse (at ``level``) than the rest of the
        intersection of the reported slices it lies in (the intersection of two causes
        itself is no new cause), both outside the reported slices in ``exclude`` that
        overlap it.

        For a proportion (without strata) the difference must also hold on the
        log-odds scale, so that a change that is uniform in logits (e.g. new
        raters in an easy and a hard queue) does not split the parent.
        """
        region = np.ones(len(self.frame), dtype=bool)
        for p in parents:
            region &= self.masks[p]
        for c in exclude:
            region &= ~self.masks[c]
        ms = self._rows[s][region[self._rows[s]]]
        rest = np.flatnonzero(region & ~self.masks[s])
        a, b = self.stats(ms), self.stats(rest)
        if not (self._enough(a) and self._enough(b)):
            return False
        sign = self.frame.spec.sign
        dd = a.delta - b.delta
        z = wald_z(dd, a.se_delta, b.se_delta)
        if -sign * float(dd[0]) <= 0 or float(two_sided_p(z)[0]) > level:
            return False
        if self.frame.spec.kind != "proportion" or self.strata is not None:
            return True
        la, va = self._log_odds_ratio(ms)
        lb, vb = self._log_odds_ratio(rest)
        zl = (la - lb) / math.sqrt(va + vb)
        return -sign * (la - lb) > 0 and float(two_sided_p(np.array([zl]))[0]) <= level

    def _log_odds_ratio(self, mask: IntArray) -> tuple[float, float]:
        """Log odds ratio after/before of a proportion and its variance (Woolf, 1955).

        Half a count is added to every cell (Haldane, 1956).
        """
        t = self.frame.totals(mask)
        n, k = t[self.frame.spec.denominator] + 1.0, t[self.frame.spec.numerator] + 0.5
        lo = np.log(k / (n - k))
        return float(lo[1] - lo[0]), float(np.sum(1 / k + 1 / (n - k)))

    def remainder(self, s: int, others: Sequence[int]) -> float | None:
        """The score of ``s`` outside the union of ``others`` when that change is significant
        and harmful (``None`` otherwise: the others explain ``s``)."""
        covered = np.zeros(len(self.frame), dtype=bool)
        for c in others:
            covered |= self.masks[c]
        r = self.stats(self._rows[s][~covered[self._rows[s]]])
        sign = self.frame.spec.sign
        if not self._enough(r) or -sign * float(r.delta[0]) <= 0:
            return None
        if float(r.p[0]) > self.cutoff:
            return None
        return float(_score(self.frame, r)[0])


def _prune(
    pr: _Pruner, order: list[int], score: dict[int, float]
) -> list[tuple[int, float, list[int]]]:
    """Greedy pruning in score order, repeated while reported slices get explained away.

    Two kept slices that overlap each keep the score of what lies outside the other.
    """
    removed: set[int] = set()
    result: list[tuple[int, float, list[int]]] = []
    for _ in range(8):
        kept: dict[int, tuple[float, list[int]]] = {}
        changed = False
        for s in order:
            if s in removed:
                continue
            rel = {c: pr.relation(s, c) for c in kept}
            parents = [c for c, r in rel.items() if r == "inside"]
            touching = [c for c, r in rel.items() if r in ("contains", "overlaps")]
            if parents:
                level = pr.alpha / max(max(pr.children(c, order) for c in parents), 1)
                if not pr.differs(s, parents, level, touching):
                    continue
            own = score[s]
            if touching:
                rem = pr.remainder(s, touching)
                if rem is None:
                    continue
                own = min(own, rem)
            for p in list(kept):
                rel_p = pr.relation(p, s)
                if rel_p == "inside":
                    outer = [c for c in [*kept, s] if c != p and pr.relation(p, c) == "inside"]
                    level = pr.alpha / max(max(pr.children(c, order) for c in outer), 1)
                    if not pr.differs(p, outer, level, kept[p][1]):
                        del kept[p]
                        removed.add(p)
                        changed = True
                    continue
                if rel_p not in ("contains", "overlaps"):
                    continue
                inner = [*kept[p][1], s]
                rem = pr.remainder(p, inner)
                if rem is None:
                    del kept[p]
                    removed.add(p)
                    changed = True
                else:
                    kept[p] = (min(kept[p][0], rem), inner)
            kept[s] = (own, touching)
        result = [(i, sc, ex) for i, (sc, ex) in kept.items()]
        if not changed:
            break
    return sorted(result, key=lambda t: -t[1])


def _evidence_stats(frame: Frame, mask: BoolArray) -> tuple[float, float]:
    """Risk ratio in the later period and the surprise of the slice's share of errors."""
    spec = frame.spec
    inside, outside = frame.totals(mask), frame.totals(~mask)
    r_in = overall(spec, inside)
    r_out = overall(spec, outside)
    if spec.is_share:
        bad_in = [(1 - r) if spec.sign > 0 else r for r in r_in]
        bad_out = [(1 - r) if spec.sign > 0 else r for r in r_out]
        rr = bad_in[1] / bad_out[1] if bad_out[1] > 0 else math.inf
    else:
        bad_in, bad_out = list(r_in), list(r_out)
        rr = (r_out[1] / r_in[1] if spec.sign > 0 else r_in[1] / r_out[1]) if r_in[1] else math.nan
    z_in, z_out = inside[spec.denominator], outside[spec.denominator]
    mass_in = [bad_in[j] * float(z_in[j]) for j in (0, 1)]
    mass_all = [mass_in[j] + bad_out[j] * float(z_out[j]) for j in (0, 1)]
    p = mass_in[0] / mass_all[0] if mass_all[0] > 0 else 0.0
    q = mass_in[1] / mass_all[1] if mass_all[1] > 0 else 0.0
    js = 0.0
    for x in (p, q):
        if x > 0:
            js += 0.5 * x * math.log(2 * x / (p + q))
    return float(rr), float(js)


def find_slices(
    frame: Frame,
    *,
    dims: Sequence[str] | None = None,
    max_depth: int = 3,
    min_support: float = 0.01,
    min_rows: float = 30,
    alpha: float = 0.05,
    stratify: Sequence[str] = (),
    limit: int = MAX_PRUNE,
) -> tuple[tuple[SliceChange, ...], int]:
    """Discovered slices on a frame, best first, and how many slices' drops vanished within
    the ``stratify`` dimensions (mix, not quality)."""
    use = tuple(
        d for d in (frame.dims if dims is None else dims) if len(np.unique(frame.codes[d])) > 1
    )
    strata = strata_of(frame, [d for d in stratify if d in frame.dims])
    combos, cand = _enumerate(frame, use, max_depth, min_support, min_rows, strata, alpha)
    score = _score(frame, cand.c)
    sign = frame.spec.sign
    ok = (-sign * cand.c.delta > 0) & (cand.q <= alpha) & (score > 0)
    idx = np.flatnonzero(ok)
    depth = np.array([len(c) for c in combos])[cand.combo[idx]]
    scale = float(np.max(score[idx])) if len(idx) else 1.0
    idx = idx[np.lexsort((depth, -np.round(score[idx] / scale, 9)))][:limit]
    # remainders are tested after selection: Bonferroni over the candidates pruned
    pr = _Pruner(frame, alpha, alpha / max(len(idx), 1), min_rows, strata)
    order: list[int] = []
    for pick in idx:
        i = int(pick)
        combo = combos[int(cand.combo[i])]
        pr.add(i, {d: frame.levels[d][int(cand.codes[i, j])] for j, d in enumerate(combo)})
        order.append(i)
    kept = _prune(pr, order, {i: float(score[i]) for i in order})
    b, a = overall(frame.spec, frame.totals())
    delta = a - b
    out = []
    c = cand.c
    for i, sc, excl in kept:
        rr, js = _evidence_stats(frame, pr.masks[i])
        contrib = float(c.rate_part[i] + c.mix_part[i])
        out.append(
            SliceChange(
                where=pr.where[i],
                value_before=float(c.r_before[i]),
                value_after=float(c.r_after[i]),
                share_before=float(c.w_before[i]),
                share_after=float(c.w_after[i]),
                n_before=float(c.n_before[i]),
                n_after=float(c.n_after[i]),
                adjusted_change=float(c.delta[i]),
                rate_part=float(c.rate_part[i]),
                mix_part=float(c.mix_part[i]),
                explanatory_power=contrib / delta if delta else math.nan,
                risk_ratio=rr,
                surprise=js,
                p_value=float(c.p[i]),
                q_value=float(cand.q[i]),
                score=sc,
                excluding=tuple(pr.where[e] for e in excl),
            )
        )
    return tuple(out), cand.explained


def discover_slices(
    cube: Cube,
    kpi: str,
    before: Period,
    after: Period,
    *,
    dims: Sequence[str] | None = None,
    max_depth: int = 3,
    min_support: float = 0.01,
    min_rows: float = 30,
    alpha: float = 0.05,
    stratify: Sequence[str] = (),
) -> tuple[SliceChange, ...]:
    """The non-redundant slices that explain the change of ``kpi``, best first.

    ``stratify`` names dimensions whose mix shifted: slice changes are then
    measured within their values.
    """
    frame = build_frame(cube, kpi, before.day_range, after.day_range, dims)
    found, _ = find_slices(
        frame,
        max_depth=max_depth,
        min_support=min_support,
        min_rows=min_rows,
        alpha=alpha,
        stratify=stratify,
    )
    return found
