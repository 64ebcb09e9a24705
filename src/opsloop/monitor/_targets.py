"""Which target a monitored series is judged against, when items are asked several questions.

With one task nothing changes: ``[kpis.NAME] target`` judges the KPI, and each
``slices`` entry judges its slice. With several tasks (a policy choice and a
1–5 quality rating about the same item), quality KPIs are monitored per task
and the rule is:

* a slice target whose ``where`` is exactly ``{ task = "NAME" }`` is that
  task's target (``slices = [{ where = { task = "quality" }, target = 0.6 }]``);
* otherwise ``[kpis.NAME] target`` applies to the **default task** ``label``;
  when the annotations have no task ``label`` (every question is named, as in
  a Label Studio project with several controls) it applies to every task;
  a task it does not reach is shown with status *none*;
* another slice target is read the same way: on the task it names, else on
  the default task (on every task when there is none).

Work KPIs (throughput, handling time, unit cost, SLA) count items handled
over all tasks: their target applies to the whole, and a slice by task is not
evaluated. Agreement KPIs are monitored per task only.

>>> from opsloop.config import KpiTarget, SliceTarget
>>> t = KpiTarget(target=0.9, slices=(SliceTarget(where={"task": "quality"}, target=0.6),))
>>> tasks = ("label", "policy", "quality")
>>> [series_target(t, task, tasks) for task in tasks]
[0.9, None, 0.6]
>>> [series_target(t, task, ("policy", "quality")) for task in ("policy", "quality")]
[0.9, 0.6]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opsloop.config import KpiTarget
from opsloop.metrics._agreement import DEFAULT_TASK
from opsloop.monitor._kpis import KpiDef

TASK = "task"


def where_text(where: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in where.items()) or "all"


def series_target(target: KpiTarget | None, task: str | None, tasks: Sequence[str]) -> float | None:
    """The target of a KPI series on ``task`` (``None``: the series is not per task)."""
    if target is None:
        return None
    if task is None:
        return target.target
    for sl in target.slices:
        if dict(sl.where) == {TASK: task}:
            return sl.target
    return target.target if task == DEFAULT_TASK or DEFAULT_TASK not in tasks else None


@dataclass(frozen=True)
class SliceGoal:
    """A slice target as monitored: the slice (task made explicit) and its target."""

    where: dict[str, str]
    target: float


def slice_goals(
    d: KpiDef, target: KpiTarget, tasks: Sequence[str]
) -> tuple[list[SliceGoal], list[str]]:
    """The slice targets of ``d`` to monitor as slices, and notes on those that are not.

    Task-only slice targets of a multi-task workspace are not here: they are
    the task series' targets (:func:`series_target`).
    """
    multitask = len(tasks) > 1
    goals: list[SliceGoal] = []
    notes: list[str] = []
    for sl in target.slices:
        where = dict(sl.where)
        text = where_text(where)
        if d.kind == "agreement":
            if not (multitask and set(where) == {TASK}):
                notes.append(f"{d.name}: slice target {text} not evaluated "
                             "(agreement KPIs are monitored per task only)")  # fmt: skip
            elif where[TASK] not in tasks:
                notes.append(f"{d.name}: slice target {text}: task has no value {where[TASK]!r}")
            continue
        if not multitask:
            goals.append(SliceGoal(where, sl.target))
        elif not d.per_task:
            if TASK in where:
                notes.append(f"{d.name}: slice target {text} not evaluated ({d.name} counts "
                             "items handled over all tasks)")  # fmt: skip
            else:
                goals.append(SliceGoal(where, sl.target))
        elif set(where) == {TASK}:
            if where[TASK] not in tasks:
                notes.append(f"{d.name}: slice target {text}: task has no value {where[TASK]!r}")
        elif TASK in where:
            goals.append(SliceGoal(where, sl.target))
        else:
            reach = [DEFAULT_TASK] if DEFAULT_TASK in tasks else list(tasks)
            goals += [SliceGoal({TASK: t, **where}, sl.target) for t in reach]
    return goals, notes
