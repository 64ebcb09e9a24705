"""Typed, frozen results of a label-policy experiment and of a rater-pool comparison."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

METRICS = ("accuracy", "macro_f1", "violating_recall")


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% (or ``confidence``) interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        return {"value": _num(self.value), "low": _num(self.low), "high": _num(self.high)}


@dataclass(frozen=True)
class Comparison:
    """A policy against the baseline on the same evaluation items.

    Differences are policy − baseline with paired-bootstrap intervals;
    ``baseline_only`` / ``policy_only`` count the items only one of them classifies
    correctly (first seed), with McNemar's exact and mid-p p-values and the
    Benjamini–Hochberg ``q_value`` across the policies compared.
    """

    baseline: str
    accuracy: Estimate
    macro_f1: Estimate
    violating_recall: Estimate
    recall: Mapping[str, Estimate]
    baseline_only: int
    policy_only: int
    mcnemar_p: float
    mcnemar_mid_p: float
    q_value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "accuracy": self.accuracy.to_dict(),
            "macro_f1": self.macro_f1.to_dict(),
            "violating_recall": self.violating_recall.to_dict(),
            "recall": {k: v.to_dict() for k, v in self.recall.items()},
            "baseline_only": self.baseline_only,
            "policy_only": self.policy_only,
            "mcnemar_p": _num(self.mcnemar_p),
            "mcnemar_mid_p": _num(self.mcnemar_mid_p),
            "q_value": _num(self.q_value),
        }


@dataclass(frozen=True)
class PolicyResult:
    """One policy's model on the evaluation items, averaged over the seeds.

    ``n_train_items`` items trained on, ``n_labels`` labels the policy used (annotations,
    gold labels, relabels) and ``cost`` = Σ their unit costs. ``seed_sd`` is the
    standard deviation over seeds (0 for a policy that does not depend on the seed).
    """

    policy: str
    kind: str
    description: str
    n_train_items: int
    n_labels: int
    cost: float
    accuracy: Estimate
    macro_f1: Estimate
    violating_recall: Estimate
    recall: Mapping[str, Estimate]
    seed_sd: Mapping[str, float]
    comparison: Comparison | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "kind": self.kind,
            "description": self.description,
            "n_train_items": self.n_train_items,
            "n_labels": self.n_labels,
            "cost": _num(self.cost),
            "accuracy": self.accuracy.to_dict(),
            "macro_f1": self.macro_f1.to_dict(),
            "violating_recall": self.violating_recall.to_dict(),
            "recall": {k: v.to_dict() for k, v in self.recall.items()},
            "seed_sd": {k: _num(v) for k, v in self.seed_sd.items()},
            "vs_baseline": self.comparison.to_dict() if self.comparison else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ImpactResult:
    """Every policy's model measured on one fixed set of evaluation items.

    ``evaluation`` is ``gold`` (held-out gold items) or ``holdout`` (the majority
    vote of items held out of training); ``n_eval`` items. ``cost_unit`` is the
    annotations' cost column (``labels`` when there is none: cost = labels used).
    ``eval_items`` and ``eval_labels`` are the evaluation items and their targets;
    ``predictions`` maps each policy to its models' labels for them (seeds × items),
    so that any figure can be recomputed or drilled into (not part of :meth:`to_dict`).
    """

    policies: tuple[PolicyResult, ...]
    baseline: str
    evaluation: str
    n_eval: int
    n_items: int
    n_annotations: int
    seeds: tuple[int, ...]
    content: str
    model: str
    categories: tuple[str, ...]
    violating: tuple[str, ...]
    cost_unit: str
    n_boot: int
    confidence: float
    n_fits: int
    notes: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    eval_items: tuple[str, ...] = field(default=(), repr=False, compare=False)
    eval_labels: tuple[str, ...] = field(default=(), repr=False, compare=False)
    predictions: Mapping[str, tuple[tuple[str, ...], ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def get(self, policy: str) -> PolicyResult:
        for p in self.policies:
            if p.policy == policy:
                return p
        raise KeyError(policy)

    def rows(self) -> list[dict[str, Any]]:
        """The results table: one row per policy (metrics, intervals, differences, cost)."""
        out = []
        for p in self.policies:
            c = p.comparison
            row: dict[str, Any] = {
                "policy": p.policy,
                "n_train_items": p.n_train_items,
                "n_labels": p.n_labels,
                "cost": _num(p.cost),
            }
            for name in METRICS:
                est: Estimate = getattr(p, name)
                row |= {
                    name: _num(est.value),
                    f"{name}_low": _num(est.low),
                    f"{name}_high": _num(est.high),
                }
            for label, est in p.recall.items():
                row[f"recall_{label}"] = _num(est.value)
            if c is not None:
                for name in METRICS:
                    est = getattr(c, name)
                    row |= {
                        f"diff_{name}": _num(est.value),
                        f"diff_{name}_low": _num(est.low),
                        f"diff_{name}_high": _num(est.high),
                    }
                row |= {"mcnemar_p": _num(c.mcnemar_p), "q_value": _num(c.q_value)}
            out.append(row)
        return out

    def curve(self, metric: str = "macro_f1") -> list[dict[str, Any]]:
        """Model metric against labeling cost, one point per policy (for the chart)."""
        out = []
        for p in self.policies:
            est = p.recall[metric[7:]] if metric.startswith("recall_") else getattr(p, metric)
            out.append(
                {
                    "policy": p.policy,
                    "kind": p.kind,
                    "cost": _num(p.cost),
                    "n_labels": p.n_labels,
                    "metric": metric,
                    "value": _num(est.value),
                    "low": _num(est.low),
                    "high": _num(est.high),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "evaluation": self.evaluation,
            "n_eval": self.n_eval,
            "n_items": self.n_items,
            "n_annotations": self.n_annotations,
            "seeds": list(self.seeds),
            "content": self.content,
            "model": self.model,
            "categories": list(self.categories),
            "violating": list(self.violating),
            "cost_unit": self.cost_unit,
            "n_boot": self.n_boot,
            "confidence": self.confidence,
            "n_fits": self.n_fits,
            "notes": list(self.notes),
            "settings": dict(self.settings),
            "policies": [p.to_dict() for p in self.policies],
        }
