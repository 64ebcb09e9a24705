"""Weekly changes and their root causes: change detection on the cube, then ``rca()``.

Change detection (:func:`opsloop.monitor.change_points`) finds the weeks whose
primary quality KPI (accuracy vs gold, else audit accuracy) moved
significantly the harmful way from the two weeks before, plus the latest
week's comparison; each one is then explained by :func:`opsloop.rca.rca` on
the same inputs ``opsloop rca`` reads. Per task when the annotations answer
several questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsloop.config import Config
from opsloop.errors import OpsloopError
from opsloop.monitor import Cube, Period, change_points, primary_kpi
from opsloop.rca import RcaInputs, RcaResult, rca


@dataclass(frozen=True)
class Change:
    """A significant week-over-week move of a KPI (on ``task``) and its root-cause analysis."""

    kpi: str
    before: Period
    after: Period
    change: float
    p_value: float
    analysis: RcaResult | None
    note: str = ""
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            **({"task": self.task} if self.task is not None else {}),
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "change": self.change,
            "p_value": self.p_value,
            "analysis": self.analysis.to_dict() if self.analysis is not None else None,
            "note": self.note,
        }


def weekly_changes(
    inputs: RcaInputs, config: Config, cube: Cube, stop: int
) -> tuple[list[Change], list[str]]:
    """Root causes of every significant weekly change before day ``stop``, per task; and
    notes on the tasks with no quality KPI to follow."""
    notes: list[str] = []
    changes: list[Change] = []
    upto = cube.before(stop)
    tasks = upto.tasks if upto.multitask else (None,)
    for task in tasks:
        part = upto.for_task(task) if task is not None else upto
        kpi = primary_kpi(part)
        if kpi is None:
            on = f" on task {task}" if task is not None else ""
            notes.append(f"no gold or audits{on}: no quality KPI to analyse for root causes")
            continue
        for c in change_points(part, kpi):
            try:
                why = rca(inputs, config, kpi=kpi, before=c.before, after=c.after, task=task)
                changes.append(Change(kpi, c.before, c.after, c.change, c.p_value, why, task=task))
            except OpsloopError as exc:
                changes.append(
                    Change(kpi, c.before, c.after, c.change, c.p_value, None, str(exc), task)
                )
    return changes, notes
