"""The root-cause inputs of a workspace: its rater table (sums per period and rater,
then each rater's attributes and hire day from the raters table) and
:func:`rca_inputs`, which builds everything :func:`opsloop.rca.rca` reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import ibis
import numpy as np
import pyarrow as pa

from opsloop.engine import Workspace
from opsloop.metrics import MISSING
from opsloop.metrics._sums import sums_annotations, sums_gold
from opsloop.monitor import (
    Cube,
    judged_annotations,
    judged_view,
    merge_groups,
    with_audit_sums,
    with_submission_weights,
    workspace_cube,
)
from opsloop.rca._inputs import (
    NO_DAY,
    TASK,
    Grain,
    RaterTable,
    RcaInputs,
    SumsOf,
    build_rca_inputs,
    int_column,
    rater_grouped,
    rater_table,
)
from opsloop.views import rater_columns, rater_view, with_attributes


def workspace_rater_dims(ws: Workspace) -> list[str]:
    """The annotation view's rater attributes root-cause analysis compares (and tenure)."""
    return [d for d in rater_columns(ws) if d != "hired_at"] + ["tenure"]


def _rater_lookup(ws: Workspace, attributes: Sequence[str]) -> pa.Table | None:
    """One row per rater: its ``attributes`` (as named in the annotation view) and hire day
    (``__hired``); ``None`` without a raters table."""
    names = rater_columns(ws)
    if not names:
        return None
    r = ws.table("raters")
    cols: dict[str, ibis.Value] = {
        a: r[names[a]].cast("string").fill_null(MISSING) for a in attributes if a in names
    }
    if names.get("hired_at") == "hired_at":
        cols["__hired"] = (r.hired_at.epoch_seconds() // 86400).cast("int64")
    out: pa.Table = r.select(rater_id=r.rater_id.cast("string"), **cols).to_pyarrow()
    return out


def with_rater_attributes(table: RaterTable, lookup: pa.Table | None) -> RaterTable:
    """``table`` with each rater's attributes and hire day from ``lookup`` (the columns
    besides ``rater_id`` and ``__hired`` are attributes; a rater not in it has
    :data:`MISSING` attributes and an unknown hire day)."""
    if lookup is None:
        return table
    row = {str(r): i for i, r in enumerate(lookup["rater_id"].to_pylist())}
    where = np.array([row.get(r, -1) for r in table.rater_ids], dtype=np.int64)
    found = where >= 0
    attrs = {}
    for a in (c for c in lookup.column_names if c not in ("rater_id", "__hired")):
        values = lookup[a].to_pylist()
        attrs[a] = tuple(values[i] if i >= 0 else MISSING for i in where)
    hired = table.hired_day
    if "__hired" in lookup.column_names:
        days = np.append(int_column(lookup, "__hired", NO_DAY), NO_DAY)
        hired = np.where(found, days[where], NO_DAY).astype(np.int64)
    return replace(table, attributes=attrs, hired_day=hired)


def workspace_rater_table(
    ws: Workspace,
    tasks: Sequence[str],
    attributes: Sequence[str],
    *,
    grain: Grain = "day",
    dated: bool = True,
) -> RaterTable:
    """The rater table of a workspace: sums per ``grain`` and rater (and task), with
    ``attributes`` (rater columns, as named in the annotation view) and hire days.
    ``dated=False``: one whole-period row per rater.

    The sums of :func:`rater_expr`, in two queries grouped by period and rater
    alone: work and audit sums over the stored annotations (each annotation
    carrying its audits' sums, :func:`opsloop.monitor.with_audit_sums`), gold sums
    over the annotations of gold items. The attributes, one value per rater,
    come from the raters table afterwards (grouping ten million rows by them cost
    more than the rest of the query).
    """
    ann, config = ws.table("annotations"), ws.config
    multitask = len(tasks) > 1
    work = with_submission_weights(ann, multitask)
    audit_names: list[str] = []
    if ws.has_table("audits"):
        work, audit_names = with_audit_sums(work, ws.table("audits"))

    def work_and_audits(b: ibis.Table) -> dict[str, ibis.Scalar]:
        sums = sums_annotations(b, config, multitask)
        sums |= {m: b[f"__{m}"].sum() for m in audit_names}
        if audit_names and "aud_a" not in audit_names:  # no inclusion_prob: zero variance
            sums |= {m: b["__aud_n"].sum() * 0.0 for m in ("aud_a", "aud_ay")}
        return sums

    def grouped(t: ibis.Table, sums_of: SumsOf) -> ibis.Table:
        return rater_grouped(t, config, sums_of, attributes=(), grain=grain, tasks=tasks,
                              dated=dated)  # fmt: skip

    exprs = [grouped(work, work_and_audits)]
    if ws.has_table("gold"):
        exprs.append(grouped(judged_annotations(ann, ws.table("gold")), sums_gold))
    keys = ["__day", "rater_id", *([TASK] if multitask else [])]
    table = merge_groups([e.to_pyarrow() for e in exprs], keys)
    return with_rater_attributes(rater_table(table, (), grain), _rater_lookup(ws, attributes))


def rca_inputs(ws: Workspace, cube: Cube | None = None, *, grain: Grain = "week") -> RcaInputs:
    """The inputs of :func:`opsloop.rca.rca` for a workspace (the cube is built when not given)."""
    if cube is None:
        cube = workspace_cube(ws)
    dims = workspace_rater_dims(ws)
    raters = workspace_rater_table(ws, cube.tasks, [d for d in dims if d in cube.dims])
    return build_rca_inputs(
        with_attributes(ws, ws.table("annotations")),
        ws.config,
        cube=cube,
        gold=ws.table("gold") if ws.has_table("gold") else None,
        audits=ws.table("audits") if ws.has_table("audits") else None,
        rater_dims=dims,
        grain=grain,
        rater_view=rater_view(ws),
        judged=judged_view(ws),
        raters=raters,
    )
