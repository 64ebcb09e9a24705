"""The KPI cube: additive sums per day and slice, from which every KPI is rolled up.

Monitoring, root-cause analysis and the report ask the same question many
times: what is KPI *k* on slice *s* in period *p*? Every KPI here is a ratio
of sums (``Σ num / Σ den``) or a mean, so one engine query can aggregate the
workspace to the finest grain once — a row per day and combination of
dimension values, with the sums of every measure — and every later question
is a cheap roll-up of that small table (:meth:`Cube.rollup`). The heavy work
runs as Ibis expressions on the workspace's backend (DuckDB or Spark); the
cube itself is a few hundred thousand rows of numpy arrays.

Measures (sums over the rows of a source):

======================  ==========================================================
annotations             ``ann_n`` labels; work: ``sub_n`` items handled, handling
                        time ``aht_n, aht_s, aht_s2``, cost ``cost_n, cost_s,
                        cost_s2``, SLA ``sla_n, sla_k`` (per item handled)
annotations × gold      ``g_n, g_k`` (accuracy) and ``hp_*, leak_*, over_*, wp_*,
                        crit_*`` (``_n`` denominator, ``_k`` hits); severity sums
                        ``sev_s, sev_se, sev_s2, sev_s2e``
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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.config import Config
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.metrics import MISSING, audit_base, gold_base
from opsloop.metrics._agreement import DEFAULT_TASK
from opsloop.metrics._sums import (
    indicators,
    sums_annotations,
    sums_audits,
    sums_gold,
    task_taxonomies,
    with_submission_weights,
)
from opsloop.stats import week_monday
from opsloop.views import annotation_view, with_attributes

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

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
class Cube:
    """Sums of every measure per day and combination of dimension values.

    ``codes[dim][i]`` indexes ``levels[dim]``; ``day[i]`` counts days since
    1970-01-01; ``sums[measure][i]`` is the sum over the source rows of cell ``i``.
    ``sources`` says which of annotations, gold and audits fed the cube and
    ``notes`` what could not be measured. ``tasks`` are the questions the
    annotations answer; with more than one, ``task`` is a dimension, quality
    sums are per task and work sums count each item handled once over all tasks
    (:mod:`opsloop.metrics._sums`). An undated cube (``dated`` false: no
    annotation has ``submitted_at``) holds the whole period in day 0.
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
        )

    def for_task(self, task: str) -> Cube:
        """The cells of one task, without the ``task`` dimension (itself when single-task)."""
        if not self.multitask:
            return self
        keep = self.mask({TASK: task})
        dims = tuple(d for d in self.dims if d != TASK)
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


# --- building the cube from a workspace ------------------------------------------


def tenure_expr(view: ibis.Table) -> ibis.StringValue:
    """The rater's tenure band when the annotation was submitted (from ``hired_at``)."""
    days = (view.submitted_at.epoch_seconds() - view.hired_at.epoch_seconds()) / 86400.0
    expr = ibis.cases(
        *[(days < limit, ibis.literal(name)) for limit, name in TENURE_BANDS],
        else_=ibis.literal(TENURE_LAST),
    )
    return ibis.ifelse(view.hired_at.isnull(), ibis.literal(MISSING), expr)


def candidate_dimensions(view: ibis.Table) -> list[str]:
    """String columns of the view that could be slice dimensions (before the level check)."""
    schema = view.schema()
    out = []
    for name, dtype in schema.items():
        if name in _NOT_DIMENSIONS or name.startswith(("_", "opsloop_")) or name.endswith("_id"):
            continue
        if dtype.is_string() or dtype.is_boolean():
            out.append(name)
    return out


def choose_dimensions(
    view: ibis.Table,
    wanted: Sequence[str] | None,
    max_levels: int = MAX_LEVELS,
    counts: Mapping[str, int] | None = None,
) -> tuple[list[str], list[str]]:
    """Dimensions for the cube and notes on the ones left out.

    ``counts`` (column -> approximate number of values) saves a scan of the
    view when the caller knows them from the smaller base tables.
    """
    notes: list[str] = []
    if wanted is not None:
        known = set(view.columns) | ({"tenure"} if "hired_at" in view.columns else set())
        for d in wanted:
            if d not in known:
                raise UsageError(
                    f"unknown dimension {d!r} (available: "
                    f"{', '.join(sorted(candidate_dimensions(view)))})"
                )
        return list(dict.fromkeys(wanted)), notes
    cands = candidate_dimensions(view)
    dims: list[str] = []
    if cands:
        if counts is None or any(c not in counts for c in cands):
            row = view.aggregate(**{c: view[c].approx_nunique() for c in cands}).to_pyarrow()
            counts = {c: int(row[c][0].as_py() or 0) for c in cands}
        for c in cands:
            k = counts[c]
            if k <= 1:
                continue
            if k > max_levels:
                notes.append(f"{c} has {k:,} values: not used as a slice dimension")
                continue
            dims.append(c)
    if "hired_at" in view.columns and "submitted_at" in view.columns:
        dims.append("tenure")
    return dims, notes


def _day(t: ibis.Table) -> ibis.IntegerValue:
    return (t.submitted_at.epoch_seconds() // 86400).cast("int64")


def _left_join(left: ibis.Table, right: ibis.Table, keys: Sequence[str]) -> ibis.Table:
    """``left`` with the non-key columns of ``right`` (at most one match per row)."""
    extra = [c for c in right.columns if c not in keys]
    joined = left.left_join(right, list(keys))
    return joined.select(*[joined[c] for c in left.columns], *[right[c] for c in extra])


def join_truth_and_verdict(
    annotations: ibis.Table, gold: ibis.Table | None, audits: ibis.Table | None
) -> ibis.Table:
    """Annotations with the gold label as ``truth`` and the audit ``verdict`` (left joins)."""
    t = annotations
    for clash in ("truth", "verdict", "inclusion_prob"):
        if clash in t.columns and (gold is not None or audits is not None):
            raise UsageError(f"the annotations already have a {clash!r} column; rename it")
    if gold is not None:
        keys = [k for k in ("item_id", "task") if k in t.columns and k in gold.columns]
        t = _left_join(t, gold.select(*keys, truth=gold.label), keys)
    if audits is not None:
        keys = [
            k for k in ("item_id", "rater_id", "task") if k in t.columns and k in audits.columns
        ]
        extra = [c for c in ("verdict", "inclusion_prob") if c in audits.columns]
        t = _left_join(t, audits.select(*keys, *extra), keys)
    return t


def _with_dims(t: ibis.Table, dims: Sequence[str], *, dated: bool = True) -> ibis.Table:
    """Dimensions as non-null strings; with ``dated`` also ``__day`` (undated rows dropped)."""
    cols: dict[str, ibis.Value] = {"__day": _day(t)} if dated else {}
    for d in dims:
        col = tenure_expr(t) if d == "tenure" and "tenure" not in t.columns else t[d]
        cols[d] = col.cast("string").fill_null(MISSING)
    out = t.mutate(**cols) if cols else t
    return out.filter(t.submitted_at.notnull()) if dated else out


def _to_arrays(
    tables: Sequence[pa.Table], dims: Sequence[str]
) -> tuple[dict[str, tuple[str, ...]], IntArray, dict[str, IntArray], dict[str, FloatArray]]:
    table = pa.concat_tables(tables, promote_options="default") if tables else pa.table({})
    levels: dict[str, tuple[str, ...]] = {}
    codes: dict[str, IntArray] = {}
    for d in dims:
        values = table[d].combine_chunks()
        uniq = pc.unique(values).to_pylist()
        ordered = tuple(sorted(str(v) for v in uniq))
        levels[d] = ordered
        index = pc.index_in(values, value_set=pa.array(ordered, pa.string()))
        codes[d] = index.to_numpy(zero_copy_only=False).astype(np.int64)
    day = (
        table["__day"].combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64)
        if len(table)
        else np.zeros(0, dtype=np.int64)
    )
    sums: dict[str, FloatArray] = {}
    for m in MEASURES:
        if m in table.column_names:
            col = pc.fill_null(table[m].combine_chunks().cast(pa.float64()), 0.0)
            sums[m] = col.to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            sums[m] = np.zeros(len(table), dtype=np.float64)
    return levels, day, codes, sums


def task_names(annotations: ibis.Table) -> tuple[str, ...]:
    """The tasks (questions) the annotations answer, sorted; ``("label",)`` without a column."""
    if TASK not in annotations.columns:
        return (DEFAULT_TASK,)
    col = annotations[TASK].cast("string").fill_null(DEFAULT_TASK)
    values = annotations.select(__t=col).distinct().to_pyarrow()["__t"].to_pylist()
    return tuple(sorted(str(v) for v in values)) or (DEFAULT_TASK,)


def has_dates(annotations: ibis.Table) -> bool:
    """Whether any annotation has a ``submitted_at`` date."""
    if "submitted_at" not in annotations.columns:
        return False
    return bool(annotations.submitted_at.notnull().any().to_pyarrow().as_py())


def judged_annotations(annotations: ibis.Table, gold: ibis.Table) -> ibis.Table:
    """The annotations of gold items with the gold label as ``truth`` (an inner join)."""
    return gold_base(annotations, gold)


def audited_annotations(annotations: ibis.Table, audits: ibis.Table) -> ibis.Table:
    """The audited annotations with ``verdict`` (and ``inclusion_prob``): an inner join."""
    return audit_base(annotations, audits)


def judged_view(ws: Workspace) -> ibis.Table | None:
    """The annotations of gold items (``truth``) with their item and rater attributes,
    joined with gold first so that the large item join runs on those rows only."""
    if not ws.has_table("gold"):
        return None
    return with_attributes(ws, judged_annotations(ws.table("annotations"), ws.table("gold")))


def audited_view(ws: Workspace) -> ibis.Table | None:
    """The audited annotations (``verdict``) with their item and rater attributes."""
    if not ws.has_table("audits"):
        return None
    return with_attributes(ws, audited_annotations(ws.table("annotations"), ws.table("audits")))


def merge_groups(parts: Sequence[pa.Table], group: Sequence[str]) -> pa.Table:
    """One row per group: the parts' sums added up (a measure missing from a part is 0)."""
    table = pa.concat_tables(parts, promote_options="default")
    measures = [c for c in table.column_names if c not in group]
    if len(parts) == 1:
        return table
    cols = {c: pc.fill_null(table[c].cast(pa.float64()), 0.0) for c in measures}
    table = pa.table({**{g: table[g] for g in group}, **cols})
    if not group:
        return pa.table({c: [pc.sum(cols[c]).as_py() or 0.0] for c in measures})
    out = table.group_by(list(group), use_threads=False).aggregate([(c, "sum") for c in measures])
    return out.rename_columns([f"{c}" if c in group else c.removesuffix("_sum")
                               for c in out.column_names])  # fmt: skip


def group_sums(
    annotations: ibis.Table,
    config: Config,
    *,
    gold: ibis.Table | None = None,
    audits: ibis.Table | None = None,
    keys: Sequence[str] = (),
    by_day: bool = False,
    tasks: Sequence[str] | None = None,
    judged: ibis.Table | None = None,
    audited: ibis.Table | None = None,
) -> pa.Table:
    """Every measure's sums per combination of ``keys`` (and per day with ``by_day``).

    ``keys`` are columns of the annotations (or ``tenure``); the day is the
    column ``__day`` (days since 1970-01-01). This is the cube's query, also
    used for other groupings (e.g. per rater). ``tasks`` (default: read from
    the annotations) are the questions answered: with several, quality sums
    follow each row's task taxonomy (group by ``task`` to keep them apart) and
    work sums count each (item, rater) submission once
    (:mod:`opsloop.metrics._sums`).

    Three queries, one per source of sums: the work sums over every annotation,
    the gold sums over the annotations of gold items and the audit sums over the
    audited ones (inner joins: the quality sums read only the rows they count).
    ``judged`` and ``audited`` are those two joins already made (e.g. gold
    first, then the item and rater attributes: :func:`judged_view`); by default
    they are joined from ``annotations``.
    """
    dims = list(keys)
    names = tuple(tasks) if tasks is not None else task_names(annotations)
    multitask = len(names) > 1
    dated = by_day or "tenure" in dims
    taxonomies = task_taxonomies(config, names)
    group = [*(["__day"] if by_day else []), *dims]

    def run(t: ibis.Table, sums_of: Callable[[ibis.Table], dict[str, ibis.Scalar]]) -> pa.Table:
        base = indicators(_with_dims(t, dims, dated=dated), taxonomies)
        out: pa.Table = (
            (base.group_by(group) if group else base).aggregate(**sums_of(base)).to_pyarrow()
        )
        return out

    weighted = with_submission_weights(annotations, multitask)
    parts = [run(weighted, lambda b: sums_annotations(b, config, multitask))]
    if gold is not None:
        parts.append(run(judged if judged is not None else judged_annotations(annotations, gold),
                         sums_gold))  # fmt: skip
    if audits is not None:
        source = audited if audited is not None else audited_annotations(annotations, audits)
        parts.append(run(source, sums_audits))
    return merge_groups(parts, group)


def build_cube(
    annotations: ibis.Table,
    config: Config,
    *,
    gold: ibis.Table | None = None,
    audits: ibis.Table | None = None,
    dims: Sequence[str] | None = None,
    max_levels: int = MAX_LEVELS,
    level_counts: Mapping[str, int] | None = None,
    dated: bool | None = True,
    tasks: Sequence[str] | None = None,
    judged: ibis.Table | None = None,
    audited: ibis.Table | None = None,
) -> Cube:
    """Aggregate annotations (joined with items and raters), gold and audits into a cube.

    ``dims`` defaults to every string column with 2 to ``max_levels`` values,
    plus ``tenure`` when raters have ``hired_at``; ``task`` is always one when
    the annotations answer several questions. With ``dated`` true, annotations
    without ``submitted_at`` cannot be placed in time and are left out (a
    :class:`UsageError` when none is dated); ``dated=False`` sums every
    annotation into one whole-period cell per slice (day 0, ``Cube.dated``
    false); ``dated=None`` chooses: dated when any annotation has a date.
    ``tasks`` (default: read from the annotations) are the questions answered;
    ``judged`` and ``audited`` the annotations already joined with gold and
    audits (see :func:`group_sums`).
    """
    if dated is None:
        dated = has_dates(annotations)
    if dated and "submitted_at" not in annotations.columns:
        raise UsageError("the annotations have no submitted_at column: KPIs need dates")
    tasks = tuple(tasks) if tasks is not None else task_names(annotations)
    chosen, notes = choose_dimensions(annotations, dims, max_levels, level_counts)
    if len(tasks) > 1 and TASK not in chosen:
        chosen.insert(0, TASK)
    if not dated:
        chosen = [d for d in chosen if d != "tenure"]
    table = group_sums(annotations, config, gold=gold, audits=audits, keys=chosen,
                       by_day=dated, tasks=tasks, judged=judged, audited=audited)  # fmt: skip
    if gold is None:
        notes.append("no gold labels: accuracy and the error KPIs are not measured")
    if audits is None:
        notes.append("no audits: audit accuracy and coverage are not measured")
    sources = ["annotations", *(["gold"] if gold is not None else []),
               *(["audits"] if audits is not None else [])]  # fmt: skip
    if not dated:
        table = table.append_column("__day", pa.array(np.zeros(table.num_rows, np.int64)))
    levels, day, codes, sums = _to_arrays([table], chosen)
    if len(day) == 0 and dated:
        raise UsageError("no annotation has a submitted_at date: KPIs over time need dates")
    return Cube(tuple(chosen), levels, day, codes, sums, tuple(sources), tuple(notes), tasks,
                dated)  # fmt: skip


def workspace_cube(
    ws: Workspace,
    *,
    dims: Sequence[str] | None = None,
    max_levels: int = MAX_LEVELS,
    dated: bool | None = True,
) -> Cube:
    """The cube of a workspace's annotations, gold and audits (``dated``: see
    :func:`build_cube`; ``None`` gives a whole-period cube when nothing is dated)."""
    if not ws.has_table("annotations"):
        raise UsageError(
            "the workspace has no annotations yet: run `opsloop ingest annotations FILE`"
        )
    view = annotation_view(ws)
    tasks, any_dated = _task_profile(ws.table("annotations"))
    return build_cube(
        view,
        ws.config,
        gold=ws.table("gold") if ws.has_table("gold") else None,
        audits=ws.table("audits") if ws.has_table("audits") else None,
        dims=dims,
        max_levels=max_levels,
        level_counts=_level_counts(ws, view),
        dated=any_dated if dated is None else dated,
        tasks=tasks,
        judged=judged_view(ws),
        audited=audited_view(ws),
    )


def _task_profile(annotations: ibis.Table) -> tuple[tuple[str, ...], bool]:
    """The tasks of the stored annotations and whether any is dated, in one scan of the
    base table (the annotation view's joins are not needed for either)."""
    a = annotations
    task = a[TASK].cast("string").fill_null(DEFAULT_TASK) if TASK in a.columns else None
    dated = a.submitted_at.count() if "submitted_at" in a.columns else ibis.literal(0)
    if task is None:
        row = a.aggregate(__d=dated).to_pyarrow().to_pylist()
        return (DEFAULT_TASK,), bool(row and row[0]["__d"])
    rows = a.mutate(__t=task).group_by("__t").aggregate(__d=dated).to_pyarrow().to_pylist()
    names = tuple(sorted(str(r["__t"]) for r in rows)) or (DEFAULT_TASK,)
    return names, any(r["__d"] for r in rows)


def _level_counts(ws: Workspace, view: ibis.Table) -> dict[str, int]:
    """Approximate distinct values per view column, counted on the base tables.

    Mirrors ``annotation_view``'s naming: an item or rater column whose name is
    taken gets the ``item_`` or ``rater_`` prefix.
    """
    cands = set(candidate_dimensions(view))
    out: dict[str, int] = {}
    taken: set[str] = set()
    for table, key, prefix in (
        ("annotations", "", ""),
        ("items", "item_id", "item_"),
        ("raters", "rater_id", "rater_"),
    ):
        if not ws.has_table(table):
            continue
        t = ws.table(table)
        names = {}
        for c in t.columns:
            if c == key:
                continue
            name = c if c not in taken else f"{prefix}{c}"
            taken.add(name)
            if name in cands:
                names[name] = c
        if names:
            row = t.aggregate(**{n: t[c].approx_nunique() for n, c in names.items()}).to_pyarrow()
            out |= {n: int(row[n][0].as_py() or 0) for n in names}
    return out
