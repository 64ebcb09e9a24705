"""Each KPI's additive sums, defined once, as Ibis expressions over annotation rows.

Every quality and work KPI is a ratio of sums over annotation rows, so it is
defined here once — which per-row terms it adds up — and every consumer sums
the same terms: ``quality()`` per slice (on the annotations inner-joined with
gold or audits), the KPI cube per day and slice, the root-cause rater table
per rater and period, and through it the report's scorecards.

A row first gets 0/1 *indicators* (:func:`indicators`, under the taxonomy of
the row's task): ``__has`` gold known, ``__ok`` label equals gold, ``__tb`` /
``__lb`` gold / given label benign (``__bk``: the task names benign labels),
``__hp`` honeypot, ``__sev`` gold severity, ``__crit`` gold at or above the
critical severity, ``__aud`` audited, ``__y`` verdict correct, ``__w`` / ``__a``
the Hájek weight ``1/π`` and variance factor ``(1 − π)/π²`` (Horvitz &
Thompson 1952; Särndal, Swensson & Wretman 1992, §5.7). A proportion KPI is
then a pair of terms (:class:`Terms`): ``n`` (the row is in the denominator)
and ``k`` (the row is a hit), e.g. leakage ``n = has·bk·(1 − tb)``,
``k = n·lb``: violating content labelled benign. Its estimate is
``Σk / Σn`` with a Wilson (1927) interval.

Work is counted once per item handled: with several questions (tasks) per
item, each row weighs ``1/rows`` of its (item, rater) submission
(:func:`with_submission_weights`), and the submission's handling time and cost
are its largest ``duration_s`` and cost.

>>> import pyarrow as pa, ibis
>>> t = ibis.memtable(pa.table({"item_id": ["a", "b"], "rater_id": ["x", "x"],
...                             "label": ["none", "none"], "truth": ["spam", "none"]}))
>>> t = indicators(t, {"label": TaskTaxonomy(benign=("none",))})
>>> leak = gold_terms(t)["leak"]
>>> t.aggregate(n=leak.n.sum(), k=leak.k.sum()).to_pyarrow().to_pylist()
[{'n': 1.0, 'k': 1.0}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis

from opsloop.config import Config, TaskTaxonomy
from opsloop.metrics._agreement import DEFAULT_TASK, task_taxonomy

COST_COLUMNS = ("cost", "unit_cost", "unit_cost_usd", "cost_usd", "price")

#: quality metric id -> the prefix of its sums in the KPI cube (``g_n``, ``g_k`` …)
MEASURE_PREFIX: dict[str, str] = {
    "accuracy": "g",
    "honeypot_accuracy": "hp",
    "leakage": "leak",
    "over_enforcement": "over",
    "wrong_policy": "wp",
    "critical_error": "crit",
}


@dataclass(frozen=True)
class Terms:
    """A proportion's per-row terms: ``n`` counts the row in the denominator, ``k`` as a hit."""

    n: ibis.FloatingValue
    k: ibis.FloatingValue


def cost_column(columns: Sequence[str]) -> str | None:
    """The annotation column holding the cost of one annotation, if any."""
    return next((c for c in COST_COLUMNS if c in columns), None)


def task_taxonomies(config: Config, tasks: Sequence[str]) -> dict[str, TaskTaxonomy | None]:
    """Each task's taxonomy; the only task of a single-task table takes the root one
    when it has none of its own (``None``: the task has no taxonomy)."""
    tax = config.taxonomy
    if len(tasks) <= 1:
        only = tasks[0] if tasks else DEFAULT_TASK
        return {only: tax.tasks.get(only, tax)}
    return {t: task_taxonomy(tax, t) for t in tasks}


def severity(col: ibis.StringValue, tax: TaskTaxonomy) -> ibis.FloatingValue:
    """Severity of a label: the taxonomy's value; else 0 for benign and 1 for other labels."""
    default = ibis.ifelse(col.isin(list(tax.benign)), 0.0, 1.0) if tax.benign else 1.0
    if not tax.severity:
        return ibis.literal(1.0) if not tax.benign else default
    sev = {k: float(v) for k, v in tax.severity.items()}
    return col.substitute(sev, else_=default).cast("float64")


def _num(cond: ibis.BooleanValue) -> ibis.FloatingValue:
    return cond.fill_null(False).cast("float64")


def with_submission_weights(t: ibis.Table, multitask: bool) -> ibis.Table:
    """``t`` with ``__sw`` (1/rows of the row's (item, rater) submission), and with
    ``__dur``/``__cost``: the submission's largest duration and cost. Single task:
    ``__sw = 1`` and the row's own values."""
    cost = cost_column(t.columns)
    cols: dict[str, ibis.Value] = {}
    if multitask:
        w = ibis.window(group_by=[t.item_id, t.rater_id])
        cols["__sw"] = 1.0 / t.item_id.count().over(w).cast("float64")
        if "duration_s" in t.columns:
            cols["__dur"] = t.duration_s.cast("float64").max().over(w)
        if cost is not None:
            cols["__cost"] = t[cost].cast("float64").max().over(w)
    else:
        cols["__sw"] = ibis.literal(1.0)
        if "duration_s" in t.columns:
            cols["__dur"] = t.duration_s.cast("float64")
        if cost is not None:
            cols["__cost"] = t[cost].cast("float64")
    return t.mutate(**cols)


def _per_task(
    t: ibis.Table,
    taxonomies: Mapping[str, TaskTaxonomy | None],
    value: ibis.Value,
    pick: Mapping[str, ibis.Value],
) -> ibis.Value:
    """``pick[task]`` on the rows of each task in ``pick``, ``value`` elsewhere."""
    if len(taxonomies) <= 1:
        return next(iter(pick.values())) if pick else value
    if not pick:
        return value
    task = t.task.cast("string")
    return ibis.cases(*[(task == name, v) for name, v in pick.items()], else_=value)


def _gold_indicators(
    t: ibis.Table, taxonomies: Mapping[str, TaskTaxonomy | None]
) -> dict[str, ibis.Value]:
    cols: dict[str, ibis.Value] = {
        "__has": _num(t.truth.notnull()),
        "__ok": _num(t.label == t.truth),
    }
    known = {k: v for k, v in taxonomies.items() if v is not None}
    zero = ibis.literal(0.0)
    benign = {k: v for k, v in known.items() if v.benign}
    if benign:
        cols["__bk"] = _per_task(t, taxonomies, zero, {k: ibis.literal(1.0) for k in benign})
        truth = {k: _num(t.truth.isin(list(v.benign))) for k, v in benign.items()}
        given = {k: _num(t.label.isin(list(v.benign))) for k, v in benign.items()}
        cols["__tb"] = _per_task(t, taxonomies, zero, truth)
        cols["__lb"] = _per_task(t, taxonomies, zero, given)
    if "is_gold_check" in t.columns:
        cols["__hp"] = _num(t.is_gold_check)
    rated = {k: v for k, v in known.items() if v.severity}
    if rated:
        sev = {k: severity(t.truth, v).fill_null(0.0) for k, v in rated.items()}
        cols["__sev"] = _per_task(t, taxonomies, zero, sev)
        crit = {
            k: _num(sev[k] >= float(v.critical_severity))
            for k, v in rated.items()
            if v.critical_severity is not None
        }
        if crit:
            cols["__crit"] = _per_task(t, taxonomies, zero, crit)
    return cols


def _audit_indicators(t: ibis.Table) -> dict[str, ibis.Value]:
    has = t.verdict.notnull()
    cols: dict[str, ibis.Value] = {"__aud": _num(has), "__y": _num(t.verdict == "correct")}
    if "inclusion_prob" in t.columns:
        pi = t.inclusion_prob.cast("float64").fill_null(1.0)
        valid = has & (pi > 0) & (pi <= 1)
        cols["__w"] = ibis.ifelse(valid, 1.0 / pi, 0.0)
        cols["__a"] = ibis.ifelse(valid, (1.0 - pi) / (pi * pi), 0.0)
        cols["__bad"] = _num(has & ~valid)
    return cols


def indicators(t: ibis.Table, taxonomies: Mapping[str, TaskTaxonomy | None]) -> ibis.Table:
    """``t`` with the per-row 0/1 indicators (module docstring), computed once so that
    every sum is a plain product; gold ones need a ``truth`` column, audit ones ``verdict``.

    ``taxonomies`` maps each task to its taxonomy (one entry: every row's).
    """
    cols: dict[str, ibis.Value] = {}
    if "truth" in t.columns:
        cols |= _gold_indicators(t, taxonomies)
    if "verdict" in t.columns:
        cols |= _audit_indicators(t)
    return t.mutate(**cols) if cols else t


def gold_terms(t: ibis.Table) -> dict[str, Terms]:
    """The gold proportions' terms, keyed by measure prefix (:data:`MEASURE_PREFIX`):
    each one the data and taxonomy allow. ``t`` carries :func:`indicators`."""
    has, ok = t["__has"], t["__ok"]
    out = {"g": Terms(has, ok)}
    if "__hp" in t.columns:
        out["hp"] = Terms(t["__hp"] * has, t["__hp"] * ok)
    if "__tb" in t.columns:
        judged = has * t["__bk"]
        violating = judged * (1.0 - t["__tb"])
        benign = judged * t["__tb"]
        both = violating * (1.0 - t["__lb"])
        out["leak"] = Terms(violating, violating * t["__lb"])
        out["over"] = Terms(benign, benign * (1.0 - t["__lb"]))
        out["wp"] = Terms(both, both * (1.0 - ok))
    if "__crit" in t.columns:
        crit = t["__crit"] * has
        out["crit"] = Terms(crit, crit * (has - ok))
    return out


def severity_terms(t: ibis.Table) -> tuple[ibis.FloatingValue, ibis.FloatingValue] | None:
    """Severity-weighted error's per-row weight ``s`` (gold severity) and error ``e``
    (``Σ s·e / Σ s``); ``None`` without severities."""
    if "__sev" not in t.columns:
        return None
    has = t["__has"]
    return t["__sev"] * has, has - t["__ok"]


def sums_gold(t: ibis.Table) -> dict[str, ibis.Scalar]:
    """The cube's gold sums (``g_n, g_k, leak_n …``, ``sev_s, sev_se, sev_s2, sev_s2e``)."""
    out: dict[str, ibis.Scalar] = {}
    for prefix, terms in gold_terms(t).items():
        out |= {f"{prefix}_n": terms.n.sum(), f"{prefix}_k": terms.k.sum()}
    sev = severity_terms(t)
    if sev is not None:
        s, e = sev
        out |= {
            "sev_s": s.sum(),
            "sev_se": (s * e).sum(),
            "sev_s2": (s * s).sum(),
            "sev_s2e": (s * s * e).sum(),
        }
    return out


def sums_audits(t: ibis.Table) -> dict[str, ibis.Scalar]:
    """The cube's audit sums: ``aud_n, aud_k`` and the Hájek ``aud_w, aud_wy, aud_a, aud_ay``
    (``w = 1`` per audit without inclusion probabilities)."""
    aud, y = t["__aud"], t["__y"]
    w = t["__w"] if "__w" in t.columns else aud
    out: dict[str, ibis.Scalar] = {
        "aud_n": aud.sum(),
        "aud_k": y.sum(),
        "aud_w": w.sum(),
        "aud_wy": (w * y).sum(),
    }
    if "__a" in t.columns:
        out |= {"aud_a": t["__a"].sum(), "aud_ay": (t["__a"] * y).sum()}
    return out


def sums_annotations(t: ibis.Table, config: Config, multitask: bool) -> dict[str, ibis.Scalar]:
    """Volume (``ann_n`` labels, ``sub_n`` items handled), handling time, cost and SLA.

    ``t`` carries the columns of :func:`with_submission_weights`.
    """
    sw = t["__sw"]
    out: dict[str, ibis.Scalar] = {
        "ann_n": t.count().cast("float64"),
        "sub_n": sw.sum() if multitask else t.count().cast("float64"),
    }
    for col, prefix in (("__dur", "aht"), ("__cost", "cost")):
        if col in t.columns:
            x = t[col]
            out |= {
                f"{prefix}_n": (x.notnull().cast("float64") * sw).sum(),
                f"{prefix}_s": (x * sw).sum(),
                f"{prefix}_s2": (x * x * sw).sum(),
            }
    if config.sla_hours is not None and {"created_at", "submitted_at"} <= set(t.columns):
        hours = (t.submitted_at.epoch_seconds() - t.created_at.epoch_seconds()) / 3600.0
        known = t.created_at.notnull() & t.submitted_at.notnull()
        out |= {
            "sla_n": (_num(known) * sw).sum(),
            "sla_k": (_num(known & (hours <= config.sla_hours)) * sw).sum(),
        }
    return out
