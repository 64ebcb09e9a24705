"""Accuracy by slice in the report's shape (:class:`SliceProportion`), from :func:`quality`.

Kept for the report: the figures come from the one implementation in
:mod:`opsloop.metrics._quality`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis

from opsloop.metrics._quality import quality
from opsloop.metrics._records import MetricRecord


@dataclass(frozen=True)
class SliceProportion:
    """A proportion on one slice with its 95% interval and ``n`` (annotations).

    >>> SliceProportion("accuracy", {"locale": "de"}, 0.9, 0.8, 0.95, 40).to_dict()["n"]
    40
    """

    metric: str
    slice: dict[str, str] = field(default_factory=dict)
    value: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    n: int = 0

    @classmethod
    def from_record(cls, r: MetricRecord) -> SliceProportion:
        return cls(r.metric, dict(r.slice), r.value, r.ci_low, r.ci_high, int(r.extra.get("n", 0)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "slice": dict(self.slice),
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
        }


def accuracy_vs_gold(
    annotations: ibis.Table,
    gold: ibis.Table,
    by: Sequence[str] = (),
    *,
    honeypot_only: bool = False,
) -> list[SliceProportion]:
    """``accuracy`` (or ``honeypot_accuracy``) per slice, as :class:`SliceProportion` rows."""
    metric = "honeypot_accuracy" if honeypot_only else "accuracy"
    result = quality(annotations, gold=gold, metrics=[metric], by=by)
    return [SliceProportion.from_record(r) for r in result.records]


def audit_accuracy(
    annotations: ibis.Table, audits: ibis.Table, by: Sequence[str] = ()
) -> list[SliceProportion]:
    """``audit_accuracy`` per slice (Hájek-weighted when audits carry ``inclusion_prob``)."""
    result = quality(annotations, audits=audits, metrics=["audit_accuracy"], by=by)
    return [SliceProportion.from_record(r) for r in result.records]
