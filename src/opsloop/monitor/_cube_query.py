"""Building the KPI cube (:class:`~opsloop.monitor._cube.Cube`): its engine queries.

Two queries, Ibis expressions on the workspace's backend (DuckDB or Spark),
aggregate the annotation view to one row per day and slice:

1. **work and audits**, over every annotation: ``ann_n … sla_k``
   (:func:`opsloop.metrics._sums.sums_annotations`) and the audit sums. The
   audits' terms (:func:`opsloop.metrics._sums.sums_audits`) are summed per
   annotation key first and joined on (a left join), so each annotation
   carries the total of its audits — the sum the inner join of annotations and
   audits gives, also when a key has several audits.
2. **gold-judged pairs**, over the annotations of gold items (gold joined
   first, then the item and rater attributes, so the large item join runs on
   those rows only): a count per day, slice, gold label, given label and
   honeypot flag (:class:`~opsloop.monitor._cube.JudgedPairs`).

A row's gold terms (:func:`opsloop.metrics._sums.gold_terms`: accuracy,
leakage, severity …) depend only on its truth, label, task and honeypot flag,
so a cell's gold sum is ``Σ_pairs n · term(pair)``: the terms are evaluated
once per distinct pair, with the expressions ``quality()`` sums
(:func:`opsloop.metrics._sums.sums_gold`). The pair counts stay in the cube:
they are the confusion matrices root-cause analysis compares, without another
pass over the annotations.

Dimensions are low-cardinality string columns of the annotation view (item
and rater attributes joined), plus ``tenure``; see :func:`choose_dimensions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import ibis
import numpy as np
import pyarrow as pa

from opsloop.config import Config, TaskTaxonomy
from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.metrics import MISSING, audit_base, gold_base
from opsloop.metrics._agreement import DEFAULT_TASK
from opsloop.metrics._slicing import require_columns
from opsloop.metrics._sums import (
    indicators,
    sums_annotations,
    sums_audits,
    sums_gold,
    task_taxonomies,
    with_submission_weights,
)
from opsloop.monitor._cube import (
    _NOT_DIMENSIONS,
    GOLD_MEASURES,
    MAX_LEVELS,
    TASK,
    TENURE_BANDS,
    TENURE_LAST,
    Cube,
    FloatArray,
    IntArray,
    dense_key,
)
from opsloop.monitor._cube_arrays import as_floats, cube_arrays, value_codes
from opsloop.views import (
    Transform,
    annotation_view,
    attribute_sources,
    attributes_of,
    with_attributes,
)

HONEYPOT = "is_gold_check"


def _tenure_days(view: ibis.Table) -> ibis.FloatingValue:
    """Days from ``hired_at`` to ``submitted_at``; read from ``__tenure_days`` when the
    view holds it (:func:`_with_dims` computes it once per row, not once per band)."""
    if "__tenure_days" in view.columns:
        return view["__tenure_days"]
    return (view.submitted_at.epoch_seconds() - view.hired_at.epoch_seconds()) / 86400.0


def tenure_expr(view: ibis.Table) -> ibis.StringValue:
    """The rater's tenure band when the annotation was submitted (from ``hired_at``)."""
    days = _tenure_days(view)
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


def audit_sums_by_key(annotations: ibis.Table, audits: ibis.Table) -> tuple[ibis.Table, list[str]]:
    """The audit sums (``aud_n, aud_k, aud_w …``) of the audits of each annotation key
    (item, rater, and task when both tables have one), and the key columns."""
    require_columns(audits, ["item_id", "rater_id", "verdict"], "the audits table")
    extra = [c for c in ("verdict", "inclusion_prob") if c in audits.columns]
    clash = [c for c in extra if c in annotations.columns]
    if clash:  # as the inner join of annotations and audits (audit_base) says
        raise UsageError(f"the annotations already have column(s) {', '.join(clash)}")
    keys = ["item_id", "rater_id", *([TASK] if TASK in annotations.columns and TASK in
                                     audits.columns else [])]  # fmt: skip
    terms = indicators(audits.select(*keys, *extra), {})
    return terms.group_by(keys).aggregate(**sums_audits(terms)), keys


def with_audit_sums(annotations: ibis.Table, audits: ibis.Table) -> tuple[ibis.Table, list[str]]:
    """``annotations`` with their audits' sums as ``__aud_n …`` (null: not audited), and
    the measure names."""
    per_key, keys = audit_sums_by_key(annotations, audits)
    names = [c for c in per_key.columns if c not in keys]
    renamed = per_key.select(*keys, **{f"__{m}": per_key[m] for m in names})
    return _left_join(annotations, renamed, keys), names


def tenure_levels() -> tuple[str, ...]:
    """The tenure dimension's values, sorted (the order of its codes)."""
    return tuple(sorted({MISSING, TENURE_LAST, *(name for _, name in TENURE_BANDS)}))


def _tenure_code(view: ibis.Table) -> ibis.IntegerValue:
    """:func:`tenure_expr` as the index of its value in :func:`tenure_levels`."""
    order = tenure_levels()
    days = _tenure_days(view)
    expr = ibis.cases(
        *[(days < limit, ibis.literal(order.index(name))) for limit, name in TENURE_BANDS],
        else_=ibis.literal(order.index(TENURE_LAST)),
    )
    return ibis.ifelse(view.hired_at.isnull(), ibis.literal(order.index(MISSING)), expr)


def level_code(col: ibis.Value, levels: Sequence[str]) -> ibis.IntegerValue:
    """The index in ``levels`` of the column's value as text (null: :data:`MISSING`)."""
    return ibis.array(list(levels)).index(col.cast("string").fill_null(MISSING))


def _with_dims(
    t: ibis.Table,
    dims: Sequence[str],
    *,
    dated: bool = True,
    coded: Mapping[str, Sequence[str]] | None = None,
) -> ibis.Table:
    """Dimensions as non-null strings, or for those in ``coded`` non-null codes (the
    view holds them as codes, null where a join found nothing; tenure is coded here);
    with ``dated`` also ``__day`` (undated rows dropped)."""
    coded = coded or {}
    if "tenure" in dims and "tenure" not in t.columns:
        t = t.mutate(__tenure_days=_tenure_days(t))
    cols: dict[str, ibis.Value] = {"__day": _day(t)} if dated else {}
    for d in dims:
        computed = d == "tenure" and "tenure" not in t.columns
        if d in coded:
            code = _tenure_code(t) if computed else t[d]
            cols[d] = code.fill_null(list(coded[d]).index(MISSING))
        else:
            col = tenure_expr(t) if computed else t[d]
            cols[d] = col.cast("string").fill_null(MISSING)
    out = t.mutate(**cols) if cols else t
    return out.filter(t.submitted_at.notnull()) if dated else out


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


def judged_view(
    ws: Workspace, transform: Mapping[str, Transform] | None = None
) -> ibis.Table | None:
    """The annotations of gold items (``truth``) with their item and rater attributes:
    ``with_attributes(ws, judged_annotations(annotations, gold), transform)``, the item
    attributes joined to the gold items first (the item join then builds on the gold
    items alone, and runs once per gold item, not once per annotation)."""
    if not ws.has_table("gold"):
        return None
    ann, gold = ws.table("annotations"), ws.table("gold")
    require_columns(gold, ["item_id", "label"], "the gold table")
    if "truth" in ann.columns:
        raise UsageError("the annotations already have a 'truth' column; rename it")
    keys = ["item_id", *([TASK] if TASK in ann.columns and TASK in gold.columns else [])]
    truth = gold.label
    if truth.type() != ann.label.type():  # as judged_annotations: compare as text
        truth = truth.cast("string")
        ann = ann.mutate(label=ann.label.cast("string"))
    items = attributes_of(ws, "items", [*ann.columns, "truth"], transform)
    if items is None or "truth" in items.columns:
        return with_attributes(ws, judged_annotations(ws.table("annotations"), gold), transform)
    judged_items = _left_join(gold.select(*keys, truth=truth), items, ["item_id"])
    out = ann.inner_join(judged_items, keys)
    raters = attributes_of(ws, "raters", out.columns, transform)
    return out if raters is None else _left_join(out, raters, ["rater_id"])


# --- the two queries ------------------------------------------------------------------


def work_sums(
    annotations: ibis.Table,
    config: Config,
    *,
    audits: ibis.Table | None,
    dims: Sequence[str],
    dated: bool,
    multitask: bool,
    coded: Mapping[str, Sequence[str]] | None = None,
) -> pa.Table:
    """Work and audit sums per (``__day`` and) combination of ``dims`` (query 1)."""
    t = with_submission_weights(annotations, multitask)
    audit_names: list[str] = []
    if audits is not None:
        t, audit_names = with_audit_sums(t, audits)
    base = _with_dims(t, dims, dated=dated, coded=coded)
    group = [*(["__day"] if dated else []), *dims]
    sums = sums_annotations(base, config, multitask)
    sums |= {m: base[f"__{m}"].sum() for m in audit_names}
    out: pa.Table = (base.group_by(group) if group else base).aggregate(**sums).to_pyarrow()
    return out


def pair_counts(
    judged: ibis.Table,
    dims: Sequence[str],
    *,
    dated: bool,
    coded: Mapping[str, Sequence[str]] | None = None,
) -> pa.Table:
    """Gold-judged annotations per (``__day``,) ``dims``, ``truth``, ``label`` and honeypot
    flag: column ``__n`` (query 2)."""
    base = _with_dims(judged, dims, dated=dated, coded=coded)
    group = [*(["__day"] if dated else []), *dims, "truth", "label",
             *([HONEYPOT] if HONEYPOT in base.columns else [])]  # fmt: skip
    out: pa.Table = base.group_by(group).aggregate(__n=base.count()).to_pyarrow()
    return out


def gold_terms_of_pairs(
    pairs: pa.Table, columns: Sequence[str], taxonomies: Mapping[str, TaskTaxonomy | None]
) -> tuple[IntArray, dict[str, FloatArray]]:
    """Each pair row's index among the distinct ``columns`` values, and every gold measure's
    per-row term for each of them (``sums_gold`` of one row)."""
    codes = [value_codes(pairs[c]) for c in columns]
    key = dense_key(codes)
    uniq, first, which = np.unique(key, return_index=True, return_inverse=True)
    rows = pairs.select(list(columns)).take(pa.array(first))
    distinct = rows.append_column("__k", pa.array(np.arange(len(uniq), dtype=np.int64)))
    t = indicators(ibis.memtable(distinct), taxonomies)
    terms = t.group_by("__k").aggregate(**sums_gold(t)).to_pyarrow().sort_by("__k")
    out = {m: as_floats(terms[m]) for m in terms.column_names if m != "__k"}
    return which.astype(np.int64), out


# --- the cube ------------------------------------------------------------------------------


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
    coded: Mapping[str, Sequence[str]] | None = None,
) -> Cube:
    """Aggregate annotations (joined with items and raters), gold and audits into a cube.

    ``dims`` defaults to every string column with 2 to ``max_levels`` values,
    plus ``tenure`` when raters have ``hired_at``; ``task`` is always one when
    the annotations answer several questions. With ``dated`` true, annotations
    without ``submitted_at`` cannot be placed in time and are left out (a
    :class:`UsageError` when none is dated); ``dated=False`` sums every
    annotation into one whole-period cell per slice (day 0, ``Cube.dated``
    false); ``dated=None`` chooses: dated when any annotation has a date.
    ``tasks`` (default: read from the annotations) are the questions answered
    (with several, quality sums follow each row's task taxonomy and work sums
    count each (item, rater) submission once, :mod:`opsloop.metrics._sums`);
    ``judged`` the annotations already joined with gold (default: joined here;
    see :func:`judged_view`); ``coded`` the dimensions that ``annotations`` and
    ``judged`` hold as codes into the given levels (see :func:`coded_attributes`;
    ``tenure`` is then coded too).
    """
    if dated is None:
        dated = has_dates(annotations)
    if dated and "submitted_at" not in annotations.columns:
        raise UsageError("the annotations have no submitted_at column: KPIs need dates")
    tasks = tuple(tasks) if tasks is not None else task_names(annotations)
    chosen, notes = choose_dimensions(annotations, dims, max_levels, level_counts)
    multitask = len(tasks) > 1
    if multitask and TASK not in chosen:
        chosen.insert(0, TASK)
    if not dated:
        chosen = [d for d in chosen if d != "tenure"]
    work = work_sums(annotations, config, audits=audits, dims=chosen, dated=dated,
                     multitask=multitask, coded=coded)  # fmt: skip
    pairs = None
    gold_sums: dict[str, FloatArray] = {}
    if gold is not None:
        source = judged if judged is not None else judged_annotations(annotations, gold)
        pairs = pair_counts(source, chosen, dated=dated, coded=coded)
        columns = ["truth", "label", *([HONEYPOT] if HONEYPOT in pairs.column_names else []),
                   *([TASK] if multitask else [])]  # fmt: skip
        which, terms = gold_terms_of_pairs(pairs, columns, task_taxonomies(config, tasks))
        n = as_floats(pairs["__n"])
        gold_sums = {m: n * v[which] for m, v in terms.items() if m in GOLD_MEASURES}
    else:
        notes.append("no gold labels: accuracy and the error KPIs are not measured")
    if audits is None:
        notes.append("no audits: audit accuracy and coverage are not measured")
    sources = ["annotations", *(["gold"] if gold is not None else []),
               *(["audits"] if audits is not None else [])]  # fmt: skip
    levels, day, codes, sums, judged_pairs = cube_arrays(work, pairs, chosen, gold_sums, coded)
    if len(day) == 0 and dated:
        raise UsageError("no annotation has a submitted_at date: KPIs over time need dates")
    return Cube(tuple(chosen), levels, day, codes, sums, tuple(sources), tuple(notes), tasks,
                dated, judged_pairs)  # fmt: skip


def workspace_cube(
    ws: Workspace,
    *,
    dims: Sequence[str] | None = None,
    max_levels: int = MAX_LEVELS,
    dated: bool | None = True,
) -> Cube:
    """The cube of a workspace's annotations, gold and audits (``dated``: see
    :func:`build_cube`; ``None`` gives a whole-period cube when nothing is dated).

    The item and rater attributes among the dimensions are joined as codes
    (:func:`coded_attributes`): the joins carry small integers, not text, and
    the queries group by them."""
    if not ws.has_table("annotations"):
        raise UsageError(
            "the workspace has no annotations yet: run `opsloop ingest annotations FILE`"
        )
    view = annotation_view(ws)
    tasks, any_dated, counts = _profile(ws, view)
    chosen, notes = choose_dimensions(view, dims, max_levels, counts)
    coded = coded_attributes(ws, chosen)
    codes = {d: (lambda col, lv=lv: level_code(col, lv)) for d, lv in coded.items()}
    if "tenure" in chosen:
        coded["tenure"] = tenure_levels()
    ann = ws.table("annotations")
    gold = ws.table("gold") if ws.has_table("gold") else None
    cube = build_cube(
        with_attributes(ws, ann, codes),
        ws.config,
        gold=gold,
        audits=ws.table("audits") if ws.has_table("audits") else None,
        dims=chosen,
        dated=any_dated if dated is None else dated,
        tasks=tasks,
        judged=judged_view(ws, codes),
        coded=coded,
    )
    return replace(cube, notes=(*notes, *cube.notes))


def coded_attributes(ws: Workspace, dims: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The item and rater attributes among ``dims`` with their values (as text, and
    :data:`MISSING`), sorted: a value's code is its index. Read from the items and
    raters tables, one query each."""
    sources = attribute_sources(ws)
    by_table: dict[str, dict[str, str]] = {}
    for d in dims:
        table, column = sources.get(d, ("", ""))
        if table in ("items", "raters"):
            by_table.setdefault(table, {})[d] = column
    out: dict[str, tuple[str, ...]] = {}
    for table, columns in by_table.items():
        t = ws.table(table)
        row = t.aggregate(**{d: t[c].cast("string").collect(distinct=True)
                             for d, c in columns.items()}).to_pyarrow().to_pylist()[0]  # fmt: skip
        out |= {d: tuple(sorted({MISSING, *(str(v) for v in row[d] or ())})) for d in columns}
    return out


def _profile(ws: Workspace, view: ibis.Table) -> tuple[tuple[str, ...], bool, dict[str, int]]:
    """The tasks of the stored annotations, whether any is dated, and the approximate
    number of values of each candidate dimension of the view: one scan of each base
    table (:func:`opsloop.views.attribute_sources` names their columns as the view
    does; the view's joins are not needed)."""
    cands = set(candidate_dimensions(view))
    by_table: dict[str, dict[str, str]] = {"annotations": {}}
    for name, (table, column) in attribute_sources(ws).items():
        if name in cands:
            by_table.setdefault(table, {})[name] = column
    counts: dict[str, int] = {}
    tasks: tuple[str, ...] = (DEFAULT_TASK,)
    dated = False
    for table, names in by_table.items():
        t = ws.table(table)
        aggs: dict[str, ibis.Scalar] = {n: t[c].approx_nunique() for n, c in names.items()}
        if table == "annotations":
            if TASK in t.columns:
                aggs["__tasks"] = t[TASK].cast("string").fill_null(DEFAULT_TASK).collect(
                    distinct=True)  # fmt: skip
            aggs["__dated"] = t.submitted_at.count() if "submitted_at" in t.columns else (
                ibis.literal(0))  # fmt: skip
        row = t.aggregate(**aggs).to_pyarrow().to_pylist()[0]
        counts |= {n: int(row[n] or 0) for n in names}
        if table == "annotations":
            tasks = tuple(sorted(str(v) for v in row.get("__tasks") or ())) or tasks
            dated = bool(row["__dated"])
    return tasks, dated, counts
