"""What root-cause analysis reads: the KPI cube plus per-rater and confusion tables.

The cube (:func:`opsloop.monitor.workspace_cube`) has additive sums per day
and slice but nothing per rater and nothing per label pair. Two more
aggregates, built as Ibis expressions on the workspace's backend (DuckDB or
Spark) and pulled as small Arrow tables:

* the **rater table**: per period (week by default) and rater, the gold sums
  (``g_n, g_k``; leakage, over-enforcement and wrong-policy sums when the
  taxonomy names benign labels), handling-time sums and audit sums, with each
  rater's attributes (the rater columns of the annotation view) and hire day:
  rater drift compares raters with their peers;
* the **confusion table**: per period and combination of the cube's
  dimensions, the count of gold-judged annotations per gold label (truth) ×
  given label: which two labels are now confused, and where. A workspace's
  cube carries these counts per day (:class:`opsloop.monitor.JudgedPairs`, the
  counts behind its gold sums), so the table is their weekly sum, with no
  further query.

Sizes on the ten-million-annotation demo (2.9M gold-judged annotations, ten
dimensions): at the week grain the confusion table has 0.40M rows (0.20M
off the diagonal; 24 MB as arrays), about half its day-grain size; the rater
table has one row per rater and week (44k rows, 6 MB). A period that does
not cover whole weeks is matched by the weeks whose Thursday falls inside it
(every week it touches when it is shorter than a week).

>>> weeks = np.array([20094, 20101, 20108])  # Mondays 2025-01-06, -13, -20
>>> rows_in(weeks, "week", (20101, 20115)).tolist()
[False, True, True]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.config import Config, TaskTaxonomy
from opsloop.errors import UsageError
from opsloop.metrics import MISSING, gold_base
from opsloop.metrics._sums import (
    indicators,
    sums_annotations,
    sums_audits,
    sums_gold,
    task_taxonomies,
)
from opsloop.monitor import (
    Cube,
    JudgedPairs,
    join_truth_and_verdict,
    tenure_expr,
    with_submission_weights,
)
from opsloop.stats import week_monday

Grain = Literal["day", "week"]
IntArray = npt.NDArray[np.int64]
SmallInts = npt.NDArray[np.int32]  # codes of the confusion table (it is the largest input)
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
NO_DAY = -(2**31)  # hire day unknown
VERSION_HINTS = ("guideline",)
TASK = "task"


def rows_in(
    day: npt.NDArray[np.int64] | npt.NDArray[np.int32], grain: str, days: tuple[int, int]
) -> BoolArray:
    """Rows of a ``grain`` table (``day`` = the day, or the week's Monday) inside ``days``."""
    first, stop = days
    if grain == "day":
        out: BoolArray = (day >= first) & (day < stop)
        return out
    if stop - first < 7:
        touch: BoolArray = (day < stop) & (day + 7 > first)
        return touch
    mid = day + 3
    inside: BoolArray = (mid >= first) & (mid < stop)
    return inside


@dataclass(frozen=True)
class RaterTable:
    """Sums per period and rater, with each rater's attributes and hire day.

    ``rater[i]`` indexes ``rater_ids`` (and ``attributes[name]``, one value per
    rater); ``day[i]`` is the day number or the week's Monday; ``hired_day`` is
    :data:`NO_DAY` when unknown.
    """

    grain: Grain
    rater_ids: tuple[str, ...]
    attributes: dict[str, tuple[str, ...]]
    hired_day: IntArray
    rater: IntArray
    day: IntArray
    sums: dict[str, FloatArray]
    tasks: tuple[str, ...] = ()
    task: IntArray | None = None

    def __len__(self) -> int:
        return len(self.day)

    def for_task(self, task: str) -> RaterTable:
        """The rows of one task (itself when the table is not split by task)."""
        if self.task is None or task not in self.tasks:
            return self
        keep = self.task == self.tasks.index(task)
        return replace(
            self,
            rater=self.rater[keep],
            day=self.day[keep],
            sums={m: v[keep] for m, v in self.sums.items()},
            tasks=(task,),
            task=np.zeros(int(keep.sum()), dtype=np.int64),
        )

    def per_rater(
        self, days: tuple[int, int] | None, measures: Sequence[str]
    ) -> dict[str, FloatArray]:
        """Each measure summed per rater over ``days`` (``None``: every row), as arrays
        aligned with ``rater_ids``."""
        sel = (
            np.ones(len(self.day), dtype=bool)
            if days is None
            else rows_in(self.day, self.grain, days)
        )
        n = len(self.rater_ids)
        return {
            m: np.bincount(self.rater[sel], weights=self.sums[m][sel], minlength=n).astype(
                np.float64
            )
            for m in measures
        }

    def per_rater_task(
        self, days: tuple[int, int] | None, measures: Sequence[str]
    ) -> tuple[IntArray, IntArray, dict[str, FloatArray]]:
        """Each measure summed per (rater, task) over ``days``: rater codes, task codes
        (all 0 without a task split) and the sums of the pairs that have rows."""
        sel = (
            np.ones(len(self.day), dtype=bool)
            if days is None
            else rows_in(self.day, self.grain, days)
        )
        size = max(len(self.tasks), 1)
        task = np.zeros(len(self.day), np.int64) if self.task is None else self.task
        key = self.rater[sel] * size + task[sel]
        uniq, inverse = np.unique(key, return_inverse=True)
        sums = {
            m: np.bincount(inverse, weights=self.sums[m][sel], minlength=len(uniq)).astype(
                np.float64
            )
            for m in measures
        }
        return uniq // size, uniq % size, sums

    def keep_attributes(self, names: Sequence[str]) -> RaterTable:
        """The table with only the attributes ``names`` (the sums do not change: an
        attribute has one value per rater)."""
        return replace(self, attributes={a: self.attributes[a] for a in names})

    def weekly(self) -> RaterTable:
        """The day-grain table summed per ISO week (days become the weeks' Mondays)."""
        if self.grain == "week":
            return self
        size = max(len(self.tasks), 1)
        task = np.zeros(len(self.day), np.int64) if self.task is None else self.task
        monday = week_monday(self.day)
        origin = int(monday.min()) if len(monday) else 0
        span = (int(monday.max()) - origin) // 7 + 1 if len(monday) else 1
        key = (self.rater * size + task) * span + (monday - origin) // 7
        uniq, inverse = np.unique(key, return_inverse=True)
        sums = {
            m: np.bincount(inverse, weights=v, minlength=len(uniq)).astype(np.float64)
            for m, v in self.sums.items()
        }
        week = (uniq % span) * 7 + origin
        pair = uniq // span
        return replace(
            self, grain="week", rater=pair // size, day=week.astype(np.int64), sums=sums,
            task=None if self.task is None else pair % size,
        )  # fmt: skip


@dataclass(frozen=True)
class ConfusionTable:
    """Gold-judged annotations per period, combination of dimensions, truth and given label."""

    grain: Grain
    labels: tuple[str, ...]
    dims: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    codes: dict[str, SmallInts]
    day: SmallInts
    truth: SmallInts
    label: SmallInts
    n: FloatArray

    def __len__(self) -> int:
        return len(self.day)

    def for_task(self, task: str) -> ConfusionTable:
        """The rows of one task, without the ``task`` dimension (itself without one)."""
        if TASK not in self.levels:
            return self
        code = self.levels[TASK].index(task) if task in self.levels[TASK] else -1
        keep = self.codes[TASK] == code
        dims = tuple(d for d in self.dims if d != TASK)
        return ConfusionTable(
            self.grain, self.labels, dims, {d: self.levels[d] for d in dims},
            {d: self.codes[d][keep] for d in dims}, self.day[keep], self.truth[keep],
            self.label[keep], self.n[keep],
        )  # fmt: skip

    def mask(self, where: Mapping[str, str]) -> BoolArray | None:
        """Rows inside the slice; ``None`` when a dimension is not in the table."""
        out = np.ones(len(self.day), dtype=bool)
        for dim, value in where.items():
            if dim not in self.levels:
                return None
            if value not in self.levels[dim]:
                return np.zeros(len(self.day), dtype=bool)
            out &= self.codes[dim] == self.levels[dim].index(value)
        return out

    def matrix(self, mask: BoolArray | None, days: tuple[int, int]) -> FloatArray:
        """The ``truth × label`` count matrix of the rows in ``mask`` and ``days``."""
        sel = rows_in(self.day, self.grain, days)
        if mask is not None:
            sel &= mask
        k = len(self.labels)
        flat = np.bincount(
            self.truth[sel] * k + self.label[sel], weights=self.n[sel], minlength=k * k
        )
        out: FloatArray = flat.reshape(k, k).astype(np.float64)
        return out


@dataclass(frozen=True)
class RcaInputs:
    """The cube plus the rater and confusion tables (``None`` when the data lack them).

    ``rater_dims`` are the cube dimensions that describe raters (their
    attributes and ``tenure``); ``version_dims`` those that name a guideline
    version. When the annotations answer several questions the tables are
    split by task: :meth:`for_task` keeps one task (with its ``taxonomy``),
    :meth:`over_tasks` the work sums of all tasks together.
    """

    cube: Cube
    raters: RaterTable | None = None
    confusion: ConfusionTable | None = None
    rater_dims: tuple[str, ...] = ()
    version_dims: tuple[str, ...] = ()
    taxonomy: TaskTaxonomy | None = None

    def for_task(self, task: str, taxonomy: TaskTaxonomy | None = None) -> RcaInputs:
        """The inputs of one task's quality KPIs."""
        return RcaInputs(
            self.cube.for_task(task),
            None if self.raters is None else self.raters.for_task(task),
            None if self.confusion is None else self.confusion.for_task(task),
            self.rater_dims,
            self.version_dims,
            taxonomy if taxonomy is not None else self.taxonomy,
        )

    def over_tasks(self) -> RcaInputs:
        """The inputs of the work KPIs: the cube summed over tasks, raters over all rows."""
        return replace(self, cube=cube_over_tasks(self.cube), confusion=None)


def cube_over_tasks(cube: Cube) -> Cube:
    """``cube`` without its ``task`` dimension: each (day, slice) summed over the tasks."""
    if TASK not in cube.levels:
        return cube
    dims = tuple(d for d in cube.dims if d != TASK)
    r = cube.rollup(dims, period="day")
    return Cube(dims, {d: cube.levels[d] for d in dims}, r.keys["day"],
                {d: r.keys[d] for d in dims}, r.sums, cube.sources, cube.notes,
                cube.tasks, cube.dated)  # fmt: skip


# --- expressions ------------------------------------------------------------------


def _day(t: ibis.Table, grain: Grain) -> ibis.IntegerValue:
    day = (t.submitted_at.epoch_seconds() // 86400).cast("int64")
    return day if grain == "day" else week_monday(day)


SumsOf = Callable[[ibis.Table], dict[str, ibis.Scalar]]


def rater_grouped(
    t: ibis.Table,
    config: Config,
    sums_of: SumsOf,
    *,
    attributes: Sequence[str],
    grain: Grain,
    tasks: Sequence[str],
    dated: bool,
) -> ibis.Table:
    """``sums_of`` the rows of ``t`` per period and rater (and task, attributes, hire day)."""
    multitask = len(tasks) > 1
    if dated:
        t = t.filter(t.submitted_at.notnull())
    day = _day(t, grain) if dated else ibis.literal(0, "int64")
    ind: dict[str, ibis.Value] = {"__day": day}
    ind |= {c: t[c].cast("string").fill_null(MISSING) for c in attributes}
    if "hired_at" in t.columns:
        ind["__hired"] = (t.hired_at.epoch_seconds() // 86400).cast("int64")
    if multitask:
        ind[TASK] = t[TASK].cast("string")
    t = indicators(t.mutate(**ind), task_taxonomies(config, tuple(tasks)))
    keys = ["__day", "rater_id", *([TASK] if multitask else []), *attributes,
            *(["__hired"] if "__hired" in t.columns else [])]  # fmt: skip
    return t.group_by(keys).aggregate(**sums_of(t))


def _audit_sums(t: ibis.Table) -> dict[str, ibis.Scalar]:
    """The audit sums, with zero Hájek variance sums when audits have no inclusion_prob."""
    sums = sums_audits(t)
    if "aud_a" not in sums:
        sums |= {"aud_a": t["__aud"].sum() * 0.0, "aud_ay": t["__aud"].sum() * 0.0}
    return sums


def rater_expr(
    view: ibis.Table,
    config: Config,
    *,
    gold: ibis.Table | None = None,
    audits: ibis.Table | None = None,
    attributes: Sequence[str] = (),
    grain: Grain = "week",
    tasks: Sequence[str] = (),
    dated: bool = True,
) -> ibis.Table:
    """Sums per period and rater (with its ``attributes`` and ``__hired`` day) as one query.

    The sums are the KPI cube's (:mod:`opsloop.metrics._sums`); with several
    ``tasks`` they are also split by ``task`` (quality per task, work counted
    once per item handled). ``dated=False`` sums every annotation, dated or
    not, into day 0 (the whole period).
    """
    multitask = len(tasks) > 1
    t = join_truth_and_verdict(with_submission_weights(view, multitask), gold, audits)

    def sums_of(b: ibis.Table) -> dict[str, ibis.Scalar]:
        sums = sums_annotations(b, config, multitask)
        sums |= sums_gold(b) if gold is not None else {}
        return sums | (_audit_sums(b) if audits is not None else {})

    return rater_grouped(t, config, sums_of, attributes=attributes, grain=grain, tasks=tasks,
                          dated=dated)  # fmt: skip


def confusion_expr(
    view: ibis.Table, gold: ibis.Table | None, dims: Sequence[str], grain: Grain = "week"
) -> ibis.Table:
    """Gold-judged annotations per period, dimensions, ``truth`` and ``label`` (column ``n``).

    ``gold=None`` takes ``view`` as already joined with gold (a ``truth`` column): the
    annotations of gold items, joined with their attributes after the gold join
    (:func:`judged_view`), which spares the item join the rows without gold.
    """
    dated = view.filter(view.submitted_at.notnull())
    t = dated if gold is None else gold_base(dated, gold)
    cols: dict[str, ibis.Value] = {"__day": _day(t, grain)}
    for d in dims:
        col = tenure_expr(t) if d == "tenure" and "tenure" not in t.columns else t[d]
        cols[d] = col.cast("string").fill_null(MISSING)
    t = t.mutate(**cols)
    return t.group_by(["__day", *dims, "truth", "label"]).aggregate(n=t.count().cast("float64"))


# --- arrays ---------------------------------------------------------------------------


def _encode(
    values: pa.ChunkedArray | pa.Array, levels: tuple[str, ...] | None = None
) -> tuple[tuple[str, ...], IntArray]:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    arr = pc.fill_null(arr.cast(pa.string()), MISSING)
    if levels is None:
        levels = tuple(sorted(str(v) for v in pc.unique(arr).to_pylist()))
    index = pc.fill_null(pc.index_in(arr, value_set=pa.array(levels, pa.string())), -1)
    codes: IntArray = np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)
    return levels, codes


def int_column(table: pa.Table, name: str, fill: int) -> IntArray:
    col = pc.fill_null(table[name].combine_chunks(), fill)
    out: IntArray = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)
    return out


def _floats(table: pa.Table, name: str) -> FloatArray:
    col = pc.fill_null(table[name].combine_chunks().cast(pa.float64()), 0.0)
    out: FloatArray = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    return out


def rater_table(table: pa.Table, attributes: Sequence[str], grain: Grain) -> RaterTable:
    """The :class:`RaterTable` of the result of :func:`rater_expr`."""
    ids, rater = _encode(table["rater_id"])
    _, first = np.unique(rater, return_index=True)
    attrs = {a: tuple(table[a].take(pa.array(first)).to_pylist()) for a in attributes}
    hired = np.full(len(ids), NO_DAY, dtype=np.int64)
    if "__hired" in table.column_names:
        hired = int_column(table, "__hired", NO_DAY)[first]
    skip = {"__day", "rater_id", "__hired", TASK, *attributes}
    sums = {c: _floats(table, c) for c in table.column_names if c not in skip}
    tasks: tuple[str, ...] = ()
    task: IntArray | None = None
    if TASK in table.column_names:
        tasks, task = _encode(table[TASK])
    return RaterTable(grain, ids, attrs, hired, rater, int_column(table, "__day", 0), sums, tasks,
                      task)  # fmt: skip


def confusion_table(
    table: pa.Table, dims: Sequence[str], grain: Grain, levels: Mapping[str, tuple[str, ...]]
) -> ConfusionTable:
    """The :class:`ConfusionTable` of the result of :func:`confusion_expr`."""
    labels = tuple(
        sorted(
            {
                str(v)
                for v in pc.unique(table["truth"].combine_chunks()).to_pylist()
                if v is not None
            }
            | {
                str(v)
                for v in pc.unique(table["label"].combine_chunks()).to_pylist()
                if v is not None
            }
        )
    )
    _, truth = _encode(table["truth"], labels)
    _, label = _encode(table["label"], labels)
    keep = (truth >= 0) & (label >= 0)
    lv: dict[str, tuple[str, ...]] = {}
    codes: dict[str, SmallInts] = {}
    for d in dims:
        known = levels.get(d)
        got, c = _encode(table[d], known)
        if known is not None and (c < 0).any():
            got, c = _encode(table[d])
        lv[d], codes[d] = got, c[keep].astype(np.int32)
    day = int_column(table, "__day", 0)[keep].astype(np.int32)
    return ConfusionTable(
        grain,
        labels,
        tuple(dims),
        lv,
        codes,
        day,
        truth[keep].astype(np.int32),
        label[keep].astype(np.int32),
        _floats(table, "n")[keep],
    )


def confusion_from_pairs(
    pairs: JudgedPairs, levels: Mapping[str, tuple[str, ...]], grain: Grain
) -> ConfusionTable:
    """The :class:`ConfusionTable` of the cube's gold-judged pairs (``levels``: the cube's),
    summed per week for the week grain; pairs without a gold or given label are left out."""
    keep = (pairs.truth >= 0) & (pairs.label >= 0)
    rows = pairs.select(keep)
    rows = rows.weekly() if grain == "week" else rows
    dims = tuple(rows.codes)
    return ConfusionTable(
        grain, rows.labels, dims, {d: levels[d] for d in dims},
        {d: c.astype(np.int32) for d, c in rows.codes.items()}, rows.day.astype(np.int32),
        rows.truth.astype(np.int32), rows.label.astype(np.int32), rows.n,
    )  # fmt: skip


def build_rca_inputs(
    view: ibis.Table,
    config: Config,
    *,
    cube: Cube,
    gold: ibis.Table | None = None,
    audits: ibis.Table | None = None,
    rater_dims: Sequence[str] = (),
    grain: Grain = "week",
    rater_view: ibis.Table | None = None,
    judged: ibis.Table | None = None,
    raters: RaterTable | None = None,
) -> RcaInputs:
    """Build the rater and confusion tables from the annotation view (any Ibis backend).

    ``rater_dims`` names the view's rater attributes (and ``tenure``);
    ``rater_view`` (default ``view``) is what the rater table is read from: any
    table with the annotations' and those rater columns. ``judged`` (the
    annotations of gold items with ``truth``, see :func:`judged_view`) is what
    the confusion table is read from when given, unless the cube carries the
    gold-judged pairs (:class:`~opsloop.monitor.JudgedPairs`, from the same rows);
    ``raters`` is a rater table already built (day or week grain, with at least
    those attributes).
    """
    if grain not in ("day", "week"):
        raise UsageError(f"grain must be 'day' or 'week', not {grain!r}")
    dims = tuple(d for d in rater_dims if d in cube.dims)
    source = view if rater_view is None else rater_view
    attrs = [d for d in dims if d in source.columns]
    if raters is not None:
        raters = raters.keep_attributes([a for a in attrs if a in raters.attributes])
        raters = raters.weekly() if grain == "week" else raters
    elif "rater_id" in source.columns and "submitted_at" in source.columns:
        expr = rater_expr(source, config, gold=gold, audits=audits, attributes=attrs, grain=grain,
                          tasks=cube.tasks)  # fmt: skip
        raters = rater_table(expr.to_pyarrow(), attrs, grain)
    confusion = None
    base = judged if judged is not None else view
    if cube.pairs is not None and cube.dated:
        confusion = confusion_from_pairs(cube.pairs, cube.levels, grain)
    elif (gold is not None or judged is not None) and "submitted_at" in base.columns:
        usable = [d for d in cube.dims if d in base.columns or d == "tenure"]
        if "tenure" in usable and "hired_at" not in base.columns and "tenure" not in base.columns:
            usable.remove("tenure")
        expr = confusion_expr(base, None if judged is not None else gold, usable, grain)
        confusion = confusion_table(expr.to_pyarrow(), usable, grain, cube.levels)
    versions = tuple(d for d in cube.dims if any(h in d.lower() for h in VERSION_HINTS))
    return RcaInputs(cube, raters, confusion, dims, versions)
