"""The confusion matrix and per-label precision, recall and F1 with intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.metrics._survey import Interval, wilson


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of annotations by true label (rows) and given label (columns) on one slice.

    >>> cm = ConfusionMatrix({}, ("a", "b"), np.array([[3, 1], [0, 2]]))
    >>> cm.to_dict()["counts"], cm.n
    ([[3, 1], [0, 2]], 6)
    """

    slice: dict[str, str]
    labels: tuple[str, ...]
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "slice": dict(self.slice),
            "labels": list(self.labels),
            "counts": self.counts.astype(int).tolist(),
        }


def confusion_from_rows(
    slice_key: dict[str, str], rows: Sequence[tuple[str, str, int]], labels: Sequence[str]
) -> ConfusionMatrix:
    """Build the matrix from (truth, given, n) rows; ``labels`` first, then any others seen."""
    seen = sorted({r[0] for r in rows} | {r[1] for r in rows})
    order = list(dict.fromkeys([*labels, *seen]))
    index = {lab: i for i, lab in enumerate(order)}
    counts = np.zeros((len(order), len(order)), dtype=np.int64)
    for truth, given, n in rows:
        counts[index[truth], index[given]] += int(n)
    return ConfusionMatrix(dict(slice_key), tuple(order), counts)


def f1_interval(tp: int, fp: int, fn: int, confidence: float = 0.95) -> Interval:
    """F1 ``= 2TP / (2TP + FP + FN)`` (van Rijsbergen, 1979) with an interval via Jaccard.

    F1 is a monotone function of the Jaccard index ``J = TP / (TP + FP + FN)``:
    ``F1 = 2J / (1 + J)``. Every annotation that has the label as truth or as
    answer is exactly one of TP, FP, FN, so given their number ``m``,
    ``TP ~ Binomial(m, J)``; the Wilson (1927) interval of ``J`` mapped through
    ``2J/(1 + J)`` is the interval of F1. The standard error is the delta-method
    one, ``se(F1) = 2/(1 + J)² · se(J)``.

    >>> r = f1_interval(6, 2, 2)
    >>> round(r.value, 4), round(r.ci_low, 4), round(r.ci_high, 4)
    (0.75, 0.4764, 0.9082)
    """
    m = tp + fp + fn
    if m == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, "label neither given nor true")
    j = wilson(tp, m, confidence)

    def f(x: float) -> float:
        return 2 * x / (1 + x)

    return Interval(f(j.value), 2 / (1 + j.value) ** 2 * j.se, f(j.ci_low), f(j.ci_high))


@dataclass(frozen=True)
class LabelStats:
    label: str
    tp: int
    fp: int
    fn: int
    precision: Interval
    recall: Interval
    f1: Interval


def label_stats(cm: ConfusionMatrix, confidence: float = 0.95) -> list[LabelStats]:
    """Per label: precision ``TP/(TP + FP)``, recall ``TP/(TP + FN)`` (Wilson CIs) and F1.

    >>> cm = ConfusionMatrix({}, ("a", "b"), np.array([[3, 1], [0, 2]]))
    >>> [(s.label, round(s.precision.value, 3), round(s.recall.value, 3)) for s in label_stats(cm)]
    [('a', 1.0, 0.75), ('b', 0.667, 1.0)]
    """
    out = []
    c = cm.counts
    for i, lab in enumerate(cm.labels):
        tp = int(c[i, i])
        fp = int(c[:, i].sum()) - tp
        fn = int(c[i, :].sum()) - tp
        if tp + fp + fn == 0:
            continue
        prec = wilson(tp, tp + fp, confidence)
        rec = wilson(tp, tp + fn, confidence)
        if tp + fp == 0:
            prec = Interval(math.nan, math.nan, math.nan, math.nan, "label never given")
        if tp + fn == 0:
            rec = Interval(math.nan, math.nan, math.nan, math.nan, "label never true")
        out.append(LabelStats(lab, tp, fp, fn, prec, rec, f1_interval(tp, fp, fn, confidence)))
    return out
