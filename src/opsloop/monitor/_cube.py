"""The KPI cube: additive sums per day and slice, from which every KPI is rolled up.

Monitoring, root-cause analysis and the report ask the same question many
times: what is KPI *k* on slice *s* in period *p*? Every KPI here is a ratio
of sums (``Σ num / Σ den``) or a mean, so one engine query can aggregate the
workspace to the finest grain once — a row per day and combination of
dimension values, with the sums of every measure — and every later question
is a cheap roll-up of that small table (:meth:`Cube.rollup`). The heavy work
runs as Ibis expressions on the workspace's backend (DuckDB or Spark,
:mod:`opsloop.monitor._cube_query`); the cube itself is a few hundred thousand
rows of numpy arrays.

Measures (sums over the rows of a source):

======================  ==========================================================
annotations             ``ann_n`` labels; work: ``sub_n`` items handled, handling
                        time ``aht_n, aht_s, aht_s2``, cost ``cost_n, cost_s,
                        cost_s2``, SLA ``sla_n, sla_k`` (per item handled)
annotations × gold      ``g_n, g_k`` (accuracy) and ``hp_*, leak_*, over_*, wp_*,
                        crit_*`` (``_n`` denominator, ``_k`` hits); severity sums
                        ``sev_s, sev_se, sev_s2, sev_s2e``; and the counts behind
                        them, per gold label × given label (:class:`JudgedPairs`)
annotations × audits    ``aud_n, aud_k``; Hájek sums ``aud_w, aud_wy, aud_a, aud_ay``
======================  ==========================================================

Dimensions are low-cardinality string columns of the annotation view (item
and rater attributes joined), plus ``tenure``: the rater's time since
``hired_at`` when the annotation was submitted, in bands. When the annotations
answer several questions, ``task`` is always a dimension: quality sums are
per task, and work sums count each (item, rater) submission once over all
tasks (:mod:`opsloop.metrics._sums`). Without any ``submitted_at`` the cube
can hold the whole period in one day (``dated=False``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from opsloop.errors import UsageError
from opsloop.stats import week_monday

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_INT64_MAX = int(np.iinfo(np.int64).max)

TENURE_BANDS: tuple[tuple[int, str], ...] = (
    (30, "0-29 days"),
    (90, "30-89 days"),
    (180, "90-179 days"),
)
TENURE_LAST = "180+ days"
# columns that are never dimensions: keys, labels, free text, timestamps, numbers
_NOT_DIMENSIONS = {
    "item_id",
    "rater_id",
    "annotation_id",
    "label",
    "text",
    "truth",
    "verdict",
    "correct_label",
    "auditor_id",
    "is_gold_check",
}
MAX_LEVELS = 60

GOLD_MEASURES = (
    "g_n", "g_k", "hp_n", "hp_k", "leak_n", "leak_k", "over_n", "over_k",
    "wp_n", "wp_k", "crit_n", "crit_k", "sev_s", "sev_se", "sev_s2", "sev_s2e",
)  # fmt: skip
AUDIT_MEASURES = ("aud_n", "aud_k", "aud_w", "aud_wy", "aud_a", "aud_ay")
ANNOTATION_MEASURES = (
    "ann_n", "sub_n", "aht_n", "aht_s", "aht_s2", "cost_n", "cost_s", "cost_s2", "sla_n", "sla_k",
)  # fmt: skip
#: Measures of work (per item handled, over all tasks); the others are per task.
WORK_MEASURES = ANNOTATION_MEASURES[1:]
TASK = "task"
MEASURES = ANNOTATION_MEASURES + GOLD_MEASURES + AUDIT_MEASURES


@dataclass(frozen=True)
class Rollup:
    """Sums per group: ``keys[dim]`` codes (or day numbers under ``"day"``) and ``sums``."""

    keys: dict[str, IntArray]
    sums: dict[str, FloatArray]

    def __len__(self) -> int:
        return len(next(iter(self.sums.values()))) if self.sums else 0


@dataclass(frozen=True)
class JudgedPairs:
    """Gold-judged annotations per day, slice, gold label (truth) and given label.

    Every gold sum of the cube is a function of these counts (a row's gold terms
    depend only on its truth, label, task and honeypot flag), and they are the
    confusion matrices root-cause analysis compares. ``codes[dim]`` index the
    cube's ``levels[dim]``; ``truth`` and ``label`` index ``labels`` (−1: no
    value); ``n`` counts annotations.
    """

    labels: tuple[str, ...]
    day: IntArray
    codes: dict[str, IntArray]
    truth: IntArray
    label: IntArray
    n: FloatArray

    def __len__(self) -> int:
        return len(self.day)

    def select(self, keep: BoolArray, dims: Sequence[str] | None = None) -> JudgedPairs:
        """The rows ``keep`` (with only the dimensions ``dims``, default all)."""
        names = self.codes if dims is None else dims
        return JudgedPairs(self.labels, self.day[keep], {d: self.codes[d][keep] for d in names},
                           self.truth[keep], self.label[keep], self.n[keep])  # fmt: skip

    def weekly(self) -> JudgedPairs:
        """The counts summed per ISO week (days become the weeks' Mondays), one row per
        week, slice and pair."""
        day = week_monday(self.day)
        origin = int(day.min()) if len(day) else 0
        cols = [day - origin, *self.codes.values(), self.truth + 1, self.label + 1]
        uniq, first, row = np.unique(dense_key(cols), return_index=True, return_inverse=True)
        n = np.bincount(row, weights=self.n, minlength=len(uniq)).astype(np.float64)
        return JudgedPairs(self.labels, day[first], {d: c[first] for d, c in self.codes.items()},
                           self.truth[first], self.label[first], n)  # fmt: skip


def dense_key(columns: Sequence[IntArray]) -> IntArray:
    """One int64 per row, equal exactly when every column is (columns of non-negative
    codes); re-ranked whenever the next column would overflow 64 bits.

    >>> dense_key([np.array([0, 1, 1]), np.array([2, 0, 2])]).tolist()
    [2, 3, 5]
    """
    n = len(columns[0]) if columns else 0
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for col in columns:
        width = int(col.max()) + 1 if len(col) else 1
        if size > _INT64_MAX // width:
            uniq, rank = np.unique(key, return_inverse=True)
            key, size = rank.astype(np.int64), len(uniq)
        key = key * width + col
        size *= width
    return key


@dataclass(frozen=True)
class Cube:
    """Sums of every measure per day and combination of dimension values.

    ``codes[dim][i]`` indexes ``levels[dim]``; ``day[i]`` counts days since
    1970-01-01; ``sums[measure][i]`` is the sum over the source rows of cell ``i``.
    ``sources`` says which of annotations, gold and audits fed the cube and
    ``notes`` what could not be measured. ``tasks`` are the questions the
    annotations answer; with more than one, ``task`` is a dimension, quality
    sums are per task and work sums count each item handled once over all tasks
    (:mod:`opsloop.metrics._sums`). An undated cube (``dated`` false: no
    annotation has ``submitted_at``) holds the whole period in day 0. ``pairs``
    (when built from gold) are the gold-judged counts behind the gold sums.
    """

    dims: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    day: IntArray
    codes: dict[str, IntArray]
    sums: dict[str, FloatArray]
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    tasks: tuple[str, ...] = ()
    dated: bool = True
    pairs: JudgedPairs | None = None

    def __post_init__(self) -> None:
        sub = self.sums.get("sub_n")
        if "ann_n" in self.sums and (sub is None or not np.asarray(sub).any()):
            # a cube built by hand without items handled: one label per item handled
            # (a real cube has sub_n > 0 wherever it has labels)
            object.__setattr__(self, "sums", {**self.sums, "sub_n": self.sums["ann_n"]})

    def __len__(self) -> int:
        return len(self.day)

    @property
    def first_day(self) -> int | None:
        return int(self.day.min()) if len(self.day) and self.dated else None

    @property
    def last_day(self) -> int | None:
        return int(self.day.max()) if len(self.day) and self.dated else None

    @property
    def multitask(self) -> bool:
        """Whether the annotations answer several questions (``task`` is a dimension)."""
        return len(self.tasks) > 1 and TASK in self.levels

    def before(self, stop: int) -> Cube:
        """The cells of the days before ``stop`` (days since 1970-01-01)."""
        keep = self.day < stop
        return replace(
            self,
            day=self.day[keep],
            codes={d: c[keep] for d, c in self.codes.items()},
            sums={m: v[keep] for m, v in self.sums.items()},
            pairs=None if self.pairs is None else self.pairs.select(self.pairs.day < stop),
        )

    def for_task(self, task: str) -> Cube:
        """The cells of one task, without the ``task`` dimension (itself when single-task)."""
        if not self.multitask:
            return self
        keep = self.mask({TASK: task})
        dims = tuple(d for d in self.dims if d != TASK)
        pairs = self.pairs
        if pairs is not None:
            pairs = pairs.select(pairs.codes[TASK] == self.code_of(TASK, task), dims)
        return Cube(
            dims,
            {d: self.levels[d] for d in dims},
            self.day[keep],
            {d: self.codes[d][keep] for d in dims},
            {m: v[keep] for m, v in self.sums.items()},
            self.sources,
            self.notes,
            (task,),
            self.dated,
            pairs,
        )

    def check_dimensions(self, dims: Sequence[str]) -> None:
        for d in dims:
            if d not in self.levels:
                raise UsageError(
                    f"unknown dimension {d!r} (available: {', '.join(self.dims) or 'none'})"
                )

    def code_of(self, dim: str, value: str) -> int:
        self.check_dimensions([dim])
        try:
            return self.levels[dim].index(value)
        except ValueError:
            known = ", ".join(self.levels[dim][:12])
            raise UsageError(f"{dim} has no value {value!r} (values: {known})") from None

    def mask(
        self,
        where: Mapping[str, str] | None = None,
        days: tuple[int, int] | None = None,
    ) -> npt.NDArray[np.bool_]:
        """Cells inside the slice ``where`` (dim -> value) and day range ``[first, stop)``."""
        out = np.ones(len(self.day), dtype=bool)
        for dim, value in (where or {}).items():
            out &= self.codes[dim] == self.code_of(dim, value)
        if days is not None:
            out &= (self.day >= days[0]) & (self.day < days[1])
        return out

    def rollup(
        self,
        by: Sequence[str] = (),
        *,
        mask: npt.NDArray[np.bool_] | None = None,
        period: str | None = None,
        measures: Sequence[str] | None = None,
    ) -> Rollup:
        """Sum the measures per combination of ``by`` (and ``period``: "day" or "week").

        Keys come back in ``keys``: dimension codes, and under ``"day"`` the
        day number (for weeks, the Monday's).
        """
        self.check_dimensions(by)
        names = list(measures or self.sums)
        sel = np.arange(len(self.day)) if mask is None else np.flatnonzero(mask)
        parts: list[IntArray] = []
        sizes: list[int] = []
        for d in by:
            parts.append(self.codes[d][sel])
            sizes.append(len(self.levels[d]))
        if period is not None:
            day = self.day[sel]
            if period == "week":
                day = week_monday(day)
            elif period != "day":
                raise UsageError(f"period must be 'day' or 'week', not {period!r}")
            origin = int(day.min()) if len(day) else 0
            parts.append(day - origin)
            sizes.append(int(day.max()) - origin + 1 if len(day) else 1)
        if not parts:
            return Rollup({}, {m: np.array([self.sums[m][sel].sum()]) for m in names})
        key = np.zeros(len(sel), dtype=np.int64)
        for codes, size in zip(parts, sizes, strict=True):
            key = key * size + codes
        uniq, inverse = np.unique(key, return_inverse=True)
        sums: dict[str, FloatArray] = {
            m: np.bincount(inverse, weights=self.sums[m][sel], minlength=len(uniq)).astype(
                np.float64
            )
            for m in names
        }
        keys: dict[str, IntArray] = {}
        rest = uniq.copy()
        names_k = [*by, *(["day"] if period is not None else [])]
        for name, size in zip(reversed(names_k), reversed(sizes), strict=True):
            keys[name] = rest % size
            rest = rest // size
        if period is not None:
            keys["day"] = keys["day"] + origin
        return Rollup({k: keys[k] for k in names_k}, sums)
