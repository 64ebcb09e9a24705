"""The additive sums behind every cube KPI, as Ibis aggregations over annotation rows.

Three sources feed them: the annotations themselves (volume, handling time,
cost, SLA), the annotations joined with gold (``truth``) and with audits
(``verdict``). Two things make them right when an item is asked several
questions (several *tasks*, e.g. a policy choice and a 1–5 quality rating):

* **Work is counted once per item handled.** A rater who answers two
  questions about one item did one item of work. The workload sums
  (``sub_n`` items handled, handling time, cost, SLA) give each annotation row
  the weight ``1/k``, ``k`` being the number of rows of its (item, rater)
  submission, so summed over all tasks each submission counts once; its
  handling time and cost are the largest ``duration_s`` and cost among its
  rows (Label Studio repeats an annotation's lead time on every question). With
  one task ``k = 1`` and the sums are plain counts and sums.
* **Quality is measured per task**, each with its own taxonomy (benign labels,
  severities, critical severity): ``[taxonomy.tasks.NAME]``, the root
  ``[taxonomy]`` for the default task ``label`` (and for the only task of a
  single-task workspace); a further task the configuration does not describe
  has no benign labels or severities, so leakage and the severity KPIs do not
  count its rows. ``ann_n`` stays the number of annotation rows (labels): audit
  coverage is audited labels over labels, per task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ibis

from opsloop.config import Config, TaskTaxonomy
from opsloop.metrics import severity_expr
from opsloop.metrics._agreement import DEFAULT_TASK, task_taxonomy

COST_COLUMNS = ("cost", "unit_cost", "unit_cost_usd", "cost_usd", "price")


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


def indicators(t: ibis.Table, taxonomies: Mapping[str, TaskTaxonomy | None]) -> ibis.Table:
    """Per-row 0/1 indicators computed once, so the sums are plain products.

    ``__has`` gold known, ``__ok`` label equals gold, ``__bk`` the row's task
    names benign labels, ``__tb``/``__lb`` gold/given label benign, ``__hp``
    honeypot, ``__sev`` gold severity and ``__crit`` gold at or above the
    critical severity (each under the row's task taxonomy), ``__aud`` audited,
    ``__y`` audit verdict correct, ``__w``/``__a`` Hájek weight and variance factor.
    """
    cols: dict[str, ibis.Value] = {}
    known = {k: v for k, v in taxonomies.items() if v is not None}
    if "truth" in t.columns:
        cols["__has"] = _num(t.truth.notnull())
        cols["__ok"] = _num(t.label == t.truth)
        benign = {k: v for k, v in known.items() if v.benign}
        if benign:
            cols["__bk"] = _per_task(t, taxonomies, ibis.literal(0.0),
                                     {k: ibis.literal(1.0) for k in benign})  # fmt: skip
            cols["__tb"] = _per_task(t, taxonomies, ibis.literal(0.0),
                                     {k: _num(t.truth.isin(list(v.benign))) for k, v in benign.items()})  # fmt: skip
            cols["__lb"] = _per_task(t, taxonomies, ibis.literal(0.0),
                                     {k: _num(t.label.isin(list(v.benign))) for k, v in benign.items()})  # fmt: skip
        if "is_gold_check" in t.columns:
            cols["__hp"] = _num(t.is_gold_check)
        rated = {k: v for k, v in known.items() if v.severity}
        if rated:
            sev = {k: severity_expr(t.truth, v).fill_null(0.0) for k, v in rated.items()}
            cols["__sev"] = _per_task(t, taxonomies, ibis.literal(0.0), sev)
            crit = {
                k: _num(sev[k] >= float(v.critical_severity))
                for k, v in rated.items()
                if v.critical_severity is not None
            }
            if crit:
                cols["__crit"] = _per_task(t, taxonomies, ibis.literal(0.0), crit)
    if "verdict" in t.columns:
        has = t.verdict.notnull()
        cols["__aud"] = _num(has)
        cols["__y"] = _num(t.verdict == "correct")
        if "inclusion_prob" in t.columns:
            pi = t.inclusion_prob.cast("float64").fill_null(1.0)
            valid = has & (pi > 0) & (pi <= 1)
            cols["__w"] = ibis.ifelse(valid, 1.0 / pi, 0.0)
            cols["__a"] = ibis.ifelse(valid, (1.0 - pi) / (pi * pi), 0.0)
    return t.mutate(**cols) if cols else t


def sums_gold(t: ibis.Table) -> dict[str, ibis.Scalar]:
    """Gold sums over the rows whose gold label (``truth``) is known."""
    has, ok = t["__has"], t["__ok"]
    out: dict[str, ibis.Scalar] = {"g_n": has.sum(), "g_k": ok.sum()}
    if "__hp" in t.columns:
        out |= {"hp_n": (t["__hp"] * has).sum(), "hp_k": (t["__hp"] * ok).sum()}
    if "__tb" in t.columns:
        judged = has * t["__bk"]
        violating = judged * (1.0 - t["__tb"])
        both = violating * (1.0 - t["__lb"])
        out |= {
            "leak_n": violating.sum(),
            "leak_k": (violating * t["__lb"]).sum(),
            "over_n": (judged * t["__tb"]).sum(),
            "over_k": (judged * t["__tb"] * (1.0 - t["__lb"])).sum(),
            "wp_n": both.sum(),
            "wp_k": (both * (1.0 - ok)).sum(),
        }
    if "__sev" in t.columns:
        sev = t["__sev"] * has
        err = has - ok
        out |= {
            "sev_s": sev.sum(),
            "sev_se": (sev * err).sum(),
            "sev_s2": (sev * sev).sum(),
            "sev_s2e": (sev * sev * err).sum(),
        }
        if "__crit" in t.columns:
            crit = t["__crit"] * has
            out |= {"crit_n": crit.sum(), "crit_k": (crit * err).sum()}
    return out


def sums_audits(t: ibis.Table) -> dict[str, ibis.Scalar]:
    """Audit sums over the rows that were audited."""
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
