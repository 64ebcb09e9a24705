"""KPI definitions over the cube's sums, and their estimates with 95% intervals.

Each cube KPI is one of four kinds, all computed from additive sums so any
slice or period is a roll-up:

* ``proportion`` ``k/n`` with the Wilson (1927) score interval;
* ``hajek`` — a weighted proportion ``Σwy/Σw`` under Poisson sampling (audits
  with ``inclusion_prob``), variance by linearisation (Särndal, Swensson &
  Wretman 1992, §5.7), Wilson interval at the effective sample size (Kish 1965);
* ``ratio`` ``Σx/Σz`` (severity-weighted error ``Σ s·e / Σ s``) with the
  linearised variance ``Σ(x − R z)² / (Σz)²`` and a normal interval;
* ``mean`` ``Σx/n`` (handling time, unit cost) with ``s²/n`` and a normal interval.

``cost_per_correct_label`` is unit cost divided by accuracy, its relative
variance the sum of the two (delta method); ``throughput`` is items handled
per day (no interval): distinct (item, rater) submissions, so a rater who
answers two questions about one item did one item of work. The agreement KPIs
(α, AC1) are not sums and are computed per period from the annotations
themselves.

Quality KPIs are measured per task (``KpiDef.per_task``); the work KPIs —
throughput, handling time, unit cost and SLA — count items handled over all
tasks.

>>> sums = {"g_n": np.array([100.0]), "g_k": np.array([95.0])}
>>> e = estimate("accuracy", sums)
>>> round(float(e.value[0]), 2), round(float(e.ci_low[0]), 4), round(float(e.ci_high[0]), 4)
(0.95, 0.8882, 0.9785)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from opsloop.errors import UsageError
from opsloop.stats import Z95, wilson_arrays

FloatArray = npt.NDArray[np.float64]
Kind = Literal["proportion", "hajek", "ratio", "mean", "composite", "rate", "agreement"]


@dataclass(frozen=True)
class KpiDef:
    """How a KPI is measured: its kind, the sums it needs, its good direction and unit.

    ``per_task`` is true for quality KPIs (measured on each task's labels) and
    false for the work KPIs (items handled, over all tasks).
    """

    name: str
    kind: Kind
    direction: Literal["higher", "lower"]
    sums: tuple[str, ...]
    unit: Literal["share", "seconds", "currency", "count", "score"]
    label: str
    needs: str = ""
    per_task: bool = True

    @property
    def is_share(self) -> bool:
        return self.unit == "share"


def _prop(name: str, n: str, k: str, direction: Literal["higher", "lower"], label: str,
          needs: str, *, per_task: bool = True) -> KpiDef:  # fmt: skip
    return KpiDef(name, "proportion", direction, (n, k), "share", label, needs, per_task)


KPIS: dict[str, KpiDef] = {
    d.name: d
    for d in (
        _prop("accuracy", "g_n", "g_k", "higher", "Accuracy vs gold", "gold labels"),
        _prop(
            "honeypot_accuracy",
            "hp_n",
            "hp_k",
            "higher",
            "Honeypot accuracy",
            "gold labels and an is_gold_check column",
        ),
        KpiDef(
            "audit_accuracy",
            "hajek",
            "higher",
            ("aud_n", "aud_w", "aud_wy", "aud_a", "aud_ay"),
            "share",
            "Audit accuracy",
            "audits",
        ),
        _prop(
            "leakage",
            "leak_n",
            "leak_k",
            "lower",
            "Leakage (violations missed)",
            "gold labels and taxonomy.benign",
        ),
        _prop(
            "over_enforcement",
            "over_n",
            "over_k",
            "lower",
            "Over-enforcement",
            "gold labels and taxonomy.benign",
        ),
        _prop(
            "wrong_policy",
            "wp_n",
            "wp_k",
            "lower",
            "Wrong policy",
            "gold labels and taxonomy.benign",
        ),
        KpiDef(
            "severity_weighted_error",
            "ratio",
            "lower",
            ("sev_s", "sev_se", "sev_s2", "sev_s2e"),
            "share",
            "Severity-weighted error",
            "gold labels and taxonomy.severity",
        ),
        _prop(
            "critical_error",
            "crit_n",
            "crit_k",
            "lower",
            "Critical error",
            "gold labels, taxonomy.severity and taxonomy.critical_severity",
        ),
        KpiDef(
            "krippendorff_alpha",
            "agreement",
            "higher",
            (),
            "score",
            "Krippendorff's α",
            "items labelled by two or more raters",
        ),
        KpiDef(
            "gwet_ac1",
            "agreement",
            "higher",
            (),
            "score",
            "Gwet's AC1",
            "items labelled by two or more raters",
        ),
        KpiDef(
            "avg_handling_time_s",
            "mean",
            "lower",
            ("aht_n", "aht_s", "aht_s2"),
            "seconds",
            "Average handling time",
            "a duration_s column",
            per_task=False,
        ),
        KpiDef(
            "throughput",
            "rate",
            "higher",
            ("sub_n",),
            "count",
            "Throughput (items handled per day)",
            "annotations with submitted_at",
            per_task=False,
        ),
        KpiDef(
            "unit_cost",
            "mean",
            "lower",
            ("cost_n", "cost_s", "cost_s2"),
            "currency",
            "Unit cost",
            "a cost column (cost, unit_cost or unit_cost_usd)",
            per_task=False,
        ),
        KpiDef(
            "cost_per_correct_label",
            "composite",
            "lower",
            ("cost_n", "cost_s", "cost_s2", "g_n", "g_k"),
            "currency",
            "Cost per correct label",
            "a cost column and gold labels",
        ),
        _prop("audit_coverage", "ann_n", "aud_n", "higher", "Audit coverage", "audits"),
        _prop(
            "sla_turnaround",
            "sla_n",
            "sla_k",
            "higher",
            "Within SLA",
            "items.created_at, submitted_at and sla_hours in opsloop.toml",
            per_task=False,
        ),
    )
}
CUBE_KPIS = tuple(k for k, d in KPIS.items() if d.kind != "agreement")


@dataclass(frozen=True)
class Estimates:
    """Vectorised KPI estimates: value, 95% interval, standard error and support ``n``."""

    value: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    se: FloatArray
    n: FloatArray


def kpi_def(name: str) -> KpiDef:
    if name not in KPIS:
        import difflib

        close = difflib.get_close_matches(name, list(KPIS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"unknown KPI {name!r}{hint}; KPIs: {', '.join(KPIS)}")
    return KPIS[name]


def _div(a: FloatArray, b: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)
    return out


def _normal(value: FloatArray, se: FloatArray, n: FloatArray, z: float) -> Estimates:
    return Estimates(value, value - z * se, value + z * se, se, n)


def estimate(name: str, sums: Mapping[str, FloatArray], *, days: FloatArray | None = None,
             z: float = Z95) -> Estimates:  # fmt: skip
    """Estimate KPI ``name`` from arrays of sums (one entry per group).

    ``days`` is the number of days each group spans (``throughput`` only).
    Groups without support give NaN.
    """
    d = kpi_def(name)
    if d.kind == "agreement":
        raise UsageError(f"{name} is an agreement KPI: it is computed from the annotations")
    get = {s: np.asarray(sums[s], dtype=np.float64) for s in d.sums}
    if d.kind == "proportion":
        n, k = get[d.sums[0]], get[d.sums[1]]
        p = _div(k, n)
        low, high = wilson_arrays(k, n, z)
        se = np.sqrt(np.maximum(p * (1 - p), 0.0) / np.where(n > 0, n, np.nan))
        return Estimates(p, low, high, se, n)
    if d.kind == "hajek":
        n, w, wy, a, ay = (get[s] for s in d.sums)
        p = _div(wy, w)
        var = _div(ay * (1 - p) ** 2 + (a - ay) * p * p, w * w)
        var = np.where(var > 0, var, 0.0)
        neff = np.where((var > 0) & (p > 0) & (p < 1), _div(p * (1 - p), var), n)
        low, high = wilson_arrays(p * neff, neff, z)
        return Estimates(p, low, high, np.sqrt(var), n)
    if d.kind == "ratio":
        s, se_, s2, s2e = (get[x] for x in d.sums)
        r = _div(se_, s)
        # Σ(x − R z)² with x = s·e, z = s, e ∈ {0, 1}: Σs²e − 2RΣs²e + R²Σs²
        resid = s2e * (1 - 2 * r) + r * r * s2
        se = np.sqrt(np.maximum(_div(resid, s * s), 0.0))
        return _normal(r, se, s, z)
    if d.kind == "mean":
        n, total, total2 = (get[x] for x in d.sums)
        m = _div(total, n)
        var = _div(total2 - n * m * m, n - 1)
        se = np.sqrt(np.maximum(_div(var, n), 0.0))
        return _normal(m, se, n, z)
    if d.kind == "composite":
        cost = estimate("unit_cost", sums, z=z)
        acc = estimate("accuracy", sums, z=z)
        v = _div(cost.value, acc.value)
        rel = np.sqrt(_div(cost.se, cost.value) ** 2 + _div(acc.se, acc.value) ** 2)
        return _normal(v, v * rel, acc.n, z)
    # rate: items handled per day
    n = get[d.sums[0]]
    span = np.ones_like(n) if days is None else np.asarray(days, dtype=np.float64)
    v = _div(n, span)
    nan = np.full_like(v, np.nan)
    return Estimates(v, nan, nan, nan, n)


def available(name: str, sums: Mapping[str, FloatArray]) -> bool:
    """Whether the cube has any support for KPI ``name``."""
    d = kpi_def(name)
    if d.kind == "agreement":
        return True
    first = d.sums[0]
    return first in sums and float(np.asarray(sums[first]).sum()) > 0
