"""Bias a rater pool brings into a model: train on one group's labels, then the other's.

Given a rater column (a group of raters: HS-Brexit's target-group annotators against
the control group, one vendor against another, a locale, a hiring cohort) and two of
its values ``A`` and ``B``, the items both pools labelled are dealt into ``folds``
folds (seeded). For each fold the model is trained twice — on the majority vote of
pool ``A``'s labels and on pool ``B``'s, each on the items outside the fold that the
pool labelled — and predicts the fold's items. Every common item so gets one
out-of-fold prediction from each pool's model, from the same content.

Per item group (an items column, e.g. topic or locale; ``all`` for every item) the
result gives each model's **predicted positive rate** (positive = a violating label)
and the difference ``B − A``, with a paired percentile bootstrap over the group's
items (Efron & Tibshirani, 1993), McNemar's (1947) exact test on the items the two
models disagree on, and, for context, the positive rate of the pools' own majority
labels on the same items.

The HS-Brexit data (Akhtar, Basile & Patti, 2021, "Whose opinions matter?
Perspective-aware models to identify opinions of hate speech victims in abusive language
detection") has six raters per tweet, three in a target group and three in a control
group: the case this analysis was written for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from opsloop.errors import UsageError
from opsloop.impact._data import ExperimentData, _index_of
from opsloop.impact._metrics import boot_means
from opsloop.impact._model import ModelFactory, class_probabilities, default_model
from opsloop.impact._results import Estimate, _num
from opsloop.impact._training import TrainingSide
from opsloop.stats import mcnemar_exact, percentile_interval

ALL_ITEMS = "all"
MIN_POOL_ITEMS = 20


@dataclass(frozen=True)
class GroupRates:
    """One item group: each pool's model's predicted positive rate and their difference."""

    item_group: str
    n_items: int
    label_rate_a: float
    label_rate_b: float
    model_rate_a: Estimate
    model_rate_b: Estimate
    difference: Estimate
    a_only: int
    b_only: int
    mcnemar_p: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_group": self.item_group,
            "n_items": self.n_items,
            "label_rate_a": _num(self.label_rate_a),
            "label_rate_b": _num(self.label_rate_b),
            "model_rate_a": self.model_rate_a.to_dict(),
            "model_rate_b": self.model_rate_b.to_dict(),
            "difference": self.difference.to_dict(),
            "a_only": self.a_only,
            "b_only": self.b_only,
            "mcnemar_p": _num(self.mcnemar_p),
        }


@dataclass(frozen=True)
class PoolBiasResult:
    """Pool ``A`` against pool ``B`` of rater column ``column`` (module docstring)."""

    column: str
    pool_a: str
    pool_b: str
    positive: tuple[str, ...]
    folds: int
    n_items: int
    groups: tuple[GroupRates, ...]
    confidence: float
    notes: tuple[str, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per item group (the table the CLI prints)."""
        out = []
        for g in self.groups:
            out.append(
                {
                    "item_group": g.item_group,
                    "n_items": g.n_items,
                    "label_rate_a": _num(g.label_rate_a),
                    "label_rate_b": _num(g.label_rate_b),
                    "model_rate_a": _num(g.model_rate_a.value),
                    "model_rate_b": _num(g.model_rate_b.value),
                    "difference": _num(g.difference.value),
                    "difference_low": _num(g.difference.low),
                    "difference_high": _num(g.difference.high),
                    "mcnemar_p": _num(g.mcnemar_p),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "pool_a": self.pool_a,
            "pool_b": self.pool_b,
            "positive": list(self.positive),
            "folds": self.folds,
            "n_items": self.n_items,
            "confidence": self.confidence,
            "notes": list(self.notes),
            "groups": [g.to_dict() for g in self.groups],
        }


def _pool_labels(side: TrainingSide, in_pool: np.ndarray) -> np.ndarray:
    """Majority vote of one pool's annotations per item (``-1`` where it gave none)."""
    items, labels = side.inferred(in_pool)
    out = np.full(side.data.n_items, -1, dtype=np.int64)
    out[items] = labels
    return out


def _item_groups(data: ExperimentData, item_group: Any) -> np.ndarray:
    """A group name per item from a table ``item_id, <group>`` (``None``: no groups)."""
    from opsloop.inference._base import to_arrow

    if item_group is None:
        return np.full(data.n_items, ALL_ITEMS, dtype=object)
    table = to_arrow(item_group, "item groups")
    other = [c for c in table.column_names if c != "item_id"]
    if "item_id" not in table.column_names or len(other) != 1:
        raise UsageError("item groups: expected a table with item_id and one group column")
    idx = _index_of(table["item_id"], data.item_ids)
    values = table[other[0]].cast(pa.string()).to_pylist()
    out = np.full(data.n_items, "(missing)", dtype=object)
    hit = idx >= 0
    out[idx[hit]] = np.array(["(missing)" if v is None else v for v in values], dtype=object)[hit]
    return out


def _cross_fit(
    data: ExperimentData,
    labels: np.ndarray,
    common: np.ndarray,
    fold: np.ndarray,
    folds: int,
    factory: ModelFactory,
) -> np.ndarray:
    """Out-of-fold predictions on the ``common`` items of a model trained on ``labels``."""
    pred = np.full(data.n_items, -1, dtype=np.int64)
    for f in range(folds):
        test = common[fold == f]
        train = np.flatnonzero(labels >= 0)
        train = train[~np.isin(train, test)]
        if len(np.unique(labels[train])) < 2:
            raise UsageError("a rater pool's labels hold one category only: nothing to learn")
        model = factory()
        model.fit(data.features[train], labels[train])
        proba = class_probabilities(model, data.features[test], data.n_classes)
        pred[test] = np.argmax(proba, axis=1)
    return pred


def rater_pool_bias(
    data: ExperimentData,
    column: str,
    pool_a: str,
    pool_b: str,
    *,
    item_group: Any = None,
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    model: ModelFactory | None = None,
) -> PoolBiasResult:
    """Train on pool ``A``'s labels and on pool ``B``'s; compare the models' positive rates.

    ``column`` is a group column of ``data`` (``prepare_experiment(group_columns=…)``);
    ``item_group`` a table ``item_id, <group>`` splitting the items (e.g. by topic).
    Positive means one of ``data.violating``.
    """
    if column not in data.groups:
        raise UsageError(f"rater group {column!r}: not among the group columns {list(data.groups)}")
    if folds < 2:
        raise UsageError(f"folds must be at least 2, got {folds}")
    codes, names = data.groups[column]
    for pool in (pool_a, pool_b):
        if pool not in names:
            raise UsageError(
                f"rater group {column} = {pool!r}: no annotation (values: {', '.join(names[:10])})"
            )
    side = TrainingSide(data, np.zeros(0, dtype=np.int64))
    label_a = _pool_labels(side, codes == names.index(pool_a))
    label_b = _pool_labels(side, codes == names.index(pool_b))
    common = np.flatnonzero((label_a >= 0) & (label_b >= 0))
    if len(common) < MIN_POOL_ITEMS:
        raise UsageError(
            f"{column}: {pool_a} and {pool_b} labelled {len(common)} item(s) in common "
            f"(at least {MIN_POOL_ITEMS} are needed)"
        )
    fold = (
        np.random.default_rng(np.random.SeedSequence([seed, 0xB1A5])).permutation(len(common))
        % folds
    )
    factory = model or default_model
    pred_a = _cross_fit(data, label_a, common, fold, folds, factory)[common]
    pred_b = _cross_fit(data, label_b, common, fold, folds, factory)[common]
    positive = np.isin(np.arange(data.n_classes), data.violating)
    groups = _item_groups(data, item_group)[common]
    values = np.vstack(
        [positive[pred_a], positive[pred_b], positive[label_a[common]], positive[label_b[common]]]
    ).astype(np.float64)
    rows = []
    for name in [ALL_ITEMS, *sorted(set(groups.tolist()) - {ALL_ITEMS})]:
        member = np.ones(len(common), dtype=bool) if name == ALL_ITEMS else groups == name
        rows.append(_group_rates(name, values[:, member], n_boot, seed, confidence))
    return PoolBiasResult(
        column=column,
        pool_a=pool_a,
        pool_b=pool_b,
        positive=tuple(data.categories[i] for i in data.violating),
        folds=folds,
        n_items=len(common),
        groups=tuple(rows),
        confidence=confidence,
        notes=data.notes,
    )


def _group_rates(
    name: str, values: np.ndarray, n_boot: int, seed: int, confidence: float
) -> GroupRates:
    reps = boot_means(values[:2], n_boot, seed)
    mean = values.mean(axis=1)
    a_only = int(np.sum((values[0] == 1) & (values[1] == 0)))
    b_only = int(np.sum((values[0] == 0) & (values[1] == 1)))

    def est(point: float, rep: np.ndarray) -> Estimate:
        low, high = percentile_interval(rep, confidence)
        return Estimate(float(point), low, high)

    return GroupRates(
        item_group=name,
        n_items=int(values.shape[1]),
        label_rate_a=float(mean[2]),
        label_rate_b=float(mean[3]),
        model_rate_a=est(mean[0], reps[:, 0]),
        model_rate_b=est(mean[1], reps[:, 1]),
        difference=est(mean[1] - mean[0], reps[:, 1] - reps[:, 0]),
        a_only=a_only,
        b_only=b_only,
        mcnemar_p=mcnemar_exact(a_only, b_only),
    )
