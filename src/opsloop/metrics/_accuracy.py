"""Accuracy of annotations against gold labels and QA audit verdicts, by slice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis

from opsloop.stats import wilson_interval


@dataclass(frozen=True)
class SliceProportion:
    """A proportion on one slice with its Wilson 95% interval."""

    metric: str
    slice: dict[str, str] = field(default_factory=dict)
    value: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "slice": dict(self.slice),
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
        }


def _proportions(
    metric: str, table: ibis.Table, hit: ibis.Value, by: Sequence[str]
) -> list[SliceProportion]:
    grouped = table.mutate(__hit=hit.cast("int64"))
    agg = (
        grouped.group_by(list(by)).aggregate(n=grouped.count(), k=grouped["__hit"].sum())
        if by
        else grouped.aggregate(n=grouped.count(), k=grouped["__hit"].sum())
    )
    rows = agg.to_pyarrow().to_pylist()
    out = []
    for row in rows:
        n = int(row["n"])
        k = int(row["k"] or 0)
        low, high = wilson_interval(k, n)
        out.append(
            SliceProportion(
                metric,
                {c: "∅" if row[c] is None else str(row[c]) for c in by},
                k / n if n else float("nan"),
                low,
                high,
                n,
            )
        )
    out.sort(key=lambda r: tuple(r.slice.values()))
    return out


def accuracy_vs_gold(
    annotations: ibis.Table,
    gold: ibis.Table,
    by: Sequence[str] = (),
    *,
    honeypot_only: bool = False,
) -> list[SliceProportion]:
    """Share of annotations whose label equals the gold label, per slice.

    ``accuracy = Σ 1[label = gold] / n`` over annotations of gold items, with the
    Wilson (1927) interval. With ``honeypot_only`` only annotations flagged
    ``is_gold_check`` count (honeypot accuracy).
    """
    g = gold.select(item_id=gold.item_id, task=gold.task, gold_label=gold.label)
    joined = annotations.inner_join(g, ["item_id", "task"])
    if honeypot_only:
        joined = joined.filter(joined.is_gold_check.fill_null(False))
    metric = "honeypot_accuracy" if honeypot_only else "accuracy"
    return _proportions(metric, joined, joined.label == joined.gold_label, by)


def audit_accuracy(
    annotations: ibis.Table, audits: ibis.Table, by: Sequence[str] = ()
) -> list[SliceProportion]:
    """Share of audited annotations with verdict ``correct``, per slice (unweighted)."""
    a = audits.select("item_id", "rater_id", "task", "verdict")
    joined = annotations.inner_join(a, ["item_id", "rater_id", "task"])
    return _proportions("audit_accuracy", joined, joined.verdict == "correct", by)
