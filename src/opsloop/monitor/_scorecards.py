"""Rater scorecards from per-rater sums: quality, speed and cost, flagged against target.

A scorecard is one rater's quality (accuracy against gold with its Wilson
(1927) interval, audit accuracy, Hájek-weighted when audits carry inclusion
probabilities), speed (average handling time) and cost (unit cost, cost per
correct label) over a window, with the flag ``below target`` when the
rater's whole 95% accuracy interval lies below the accuracy target. Every
figure is a KPI estimate (:func:`opsloop.monitor.estimate`) of the rater's
additive sums — the KPI cube's sums (:mod:`opsloop.metrics._sums`), summed
per rater instead of per slice — so a scorecard agrees with the cube.

When items are asked several questions, a rater has one scorecard per task:
quality is that task's, while volume (items handled), speed and cost are the
rater's over all tasks, one item with two questions being one item of work;
the caller hands those work sums in with the task's quality sums.

>>> import numpy as np
>>> sums = {"g_n": np.array([10.0, 20.0]), "g_k": np.array([9.0, 10.0])}
>>> [(c.rater_id, round(c.accuracy, 2), c.flag) for c in scorecards(["r1", "r2"], sums,
...                                                                  accuracy_target=0.8)]
[('r2', 0.5, 'below target'), ('r1', 0.9, '')]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.monitor._cube import MEASURES, FloatArray
from opsloop.monitor._kpis import estimate

BELOW_TARGET = "below target"


@dataclass(frozen=True)
class Scorecard:
    """One rater's quality (on ``task``, when there are several), speed and cost."""

    rater_id: str
    attributes: dict[str, str]
    items_handled: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    gold_n: int
    audit_accuracy: float
    audit_n: int
    avg_handling_time_s: float
    unit_cost: float
    cost_per_correct_label: float
    flag: str
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rater_id": self.rater_id,
            **({"task": self.task} if self.task is not None else {}),
            **self.attributes,
            "items_handled": self.items_handled,
            "accuracy": rounded(self.accuracy),
            "accuracy_ci": [rounded(self.accuracy_low), rounded(self.accuracy_high)],
            "gold_n": self.gold_n,
            "audit_accuracy": rounded(self.audit_accuracy),
            "audit_n": self.audit_n,
            "avg_handling_time_s": rounded(self.avg_handling_time_s),
            "unit_cost": rounded(self.unit_cost),
            "cost_per_correct_label": rounded(self.cost_per_correct_label),
            "flag": self.flag,
        }


def rounded(x: float) -> float | None:
    """``x`` to six decimals for JSON; ``None`` for NaN."""
    return None if math.isnan(x) else round(float(x), 6)


def scorecards(
    rater_ids: Sequence[str],
    sums: Mapping[str, FloatArray],
    *,
    tasks: Sequence[str] | None = None,
    attributes: Mapping[str, Sequence[str]] | None = None,
    accuracy_target: float | None = None,
    targets: Mapping[str, float | None] | None = None,
) -> tuple[Scorecard, ...]:
    """Scorecards from per-rater sums (``sums[measure][i]`` for rater ``rater_ids[i]``).

    ``tasks`` (one per row) makes each row a rater's scorecard on that task;
    its work sums (``sub_n``, ``aht_*``, ``cost_*``) should then be the
    rater's over all tasks. ``targets`` (task -> accuracy target) flags per
    task, ``accuracy_target`` otherwise. A missing measure counts as zero.
    Sorted worst first: raters flagged below target, then by accuracy.
    """
    n = len(rater_ids)
    if n == 0:
        return ()
    arrays = {m: np.nan_to_num(np.asarray(sums.get(m, np.zeros(n)), np.float64)) for m in MEASURES}
    acc = estimate("accuracy", arrays)
    aud = estimate("audit_accuracy", arrays) if arrays["aud_n"].sum() > 0 else None
    aht = estimate("avg_handling_time_s", arrays)
    cost = estimate("unit_cost", arrays)
    cpc = estimate("cost_per_correct_label", arrays)
    attrs = dict(attributes or {})
    out = []
    for i, rid in enumerate(rater_ids):
        task = tasks[i] if tasks is not None else None
        target = targets.get(task) if task is not None and targets is not None else accuracy_target
        high = float(acc.ci_high[i])
        out.append(
            Scorecard(
                rater_id=str(rid),
                attributes={a: str(v[i]) for a, v in attrs.items()},
                items_handled=round(float(arrays["sub_n"][i])),
                accuracy=float(acc.value[i]),
                accuracy_low=float(acc.ci_low[i]),
                accuracy_high=high,
                gold_n=int(arrays["g_n"][i]),
                audit_accuracy=float(aud.value[i]) if aud is not None else math.nan,
                audit_n=int(arrays["aud_n"][i]),
                avg_handling_time_s=float(aht.value[i]),
                unit_cost=float(cost.value[i]),
                cost_per_correct_label=float(cpc.value[i]),
                flag=BELOW_TARGET if target is not None and high < target else "",
                task=task,
            )
        )
    out.sort(key=lambda c: (c.flag == "", math.inf if math.isnan(c.accuracy) else c.accuracy,
                            c.task or "", c.rater_id))  # fmt: skip
    return tuple(out)
