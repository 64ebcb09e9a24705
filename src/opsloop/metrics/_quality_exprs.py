"""The quality metrics as Ibis expressions: joins with the truth and per-slice sums.

Every quality metric is a handful of sums per slice over one of two joined
tables, so it runs on any Ibis backend (DuckDB, Spark) and ``ibis.to_sql``
shows it:

* the *gold* base: annotations inner-joined with gold on ``item_id`` (and
  ``task`` when both tables have it); the gold label is the column ``truth``;
* the *audit* base: annotations inner-joined with audits on ``item_id``,
  ``rater_id`` (and ``task``); ``verdict = 'correct'`` is a hit.

For a proportion metric the sums are ``n`` (annotations in the denominator),
``k`` (hits among them) and the distinct items and raters of the denominator.

>>> import pyarrow as pa
>>> ann = pa.table({"item_id": ["a", "b"], "rater_id": ["x", "x"], "label": ["spam", "none"]})
>>> gold = pa.table({"item_id": ["a", "b"], "label": ["spam", "spam"]})
>>> e = metric_expr("accuracy", as_ibis(ann, "a"), as_ibis(gold, "g"), None, TaskTaxonomy(), ())
>>> e.to_pyarrow().select(["accuracy__n", "accuracy__k"]).to_pylist()
[{'accuracy__n': 2, 'accuracy__k': 1}]
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis

from opsloop.config import TaskTaxonomy
from opsloop.errors import UsageError
from opsloop.metrics._slicing import (
    as_ibis,
    check_dimensions,
    require_columns,
    with_dimensions,
)

__all__ = ["as_ibis", "metric_expr"]

GOLD_PROPORTIONS = (
    "accuracy",
    "honeypot_accuracy",
    "leakage",
    "over_enforcement",
    "wrong_policy",
    "critical_error",
)
PER_LABEL = ("precision", "recall", "f1")
BASE = "all"  # prefix of the slice-wide sums every query carries


def _keys(left: ibis.Table, right: ibis.Table, keys: Sequence[str]) -> list[str]:
    return [k for k in keys if k != "task" or ("task" in left.columns and "task" in right.columns)]


def gold_base(annotations: ibis.Table, gold: ibis.Table) -> ibis.Table:
    """Annotations of gold items with the gold label as ``truth``."""
    require_columns(gold, ["item_id", "label"], "the gold table")
    if "truth" in annotations.columns:
        raise UsageError("the annotations already have a 'truth' column; rename it")
    keys = _keys(annotations, gold, ["item_id", "task"])
    g = gold.select(*keys, truth=gold.label)
    return annotations.inner_join(g, keys)


def audit_base(annotations: ibis.Table, audits: ibis.Table) -> ibis.Table:
    """Audited annotations with ``verdict`` (and ``inclusion_prob`` when audits have it)."""
    require_columns(audits, ["item_id", "rater_id", "verdict"], "the audits table")
    keys = _keys(annotations, audits, ["item_id", "rater_id", "task"])
    extra = [c for c in ("verdict", "inclusion_prob") if c in audits.columns]
    clash = [c for c in extra if c in annotations.columns]
    if clash:
        raise UsageError(f"the annotations already have column(s) {', '.join(clash)}")
    a = audits.select(*keys, *extra)
    return annotations.inner_join(a, keys)


def severity(col: ibis.StringValue, tax: TaskTaxonomy) -> ibis.FloatingValue:
    """Severity of a label: the taxonomy's value; else 0 for benign and 1 for other labels."""
    default = ibis.ifelse(col.isin(list(tax.benign)), 0.0, 1.0) if tax.benign else 1.0
    if not tax.severity:
        return ibis.literal(1.0) if not tax.benign else default
    sev = {k: float(v) for k, v in tax.severity.items()}
    return col.substitute(sev, else_=default).cast("float64")


def unavailable(metric: str, columns: Sequence[str], tax: TaskTaxonomy) -> str | None:
    """Why ``metric`` cannot be computed on this data and taxonomy (``None`` if it can)."""
    if metric in ("leakage", "over_enforcement", "wrong_policy") and not tax.benign:
        return "the taxonomy names no benign labels (set taxonomy.benign)"
    if metric == "honeypot_accuracy" and "is_gold_check" not in columns:
        return "the annotations have no is_gold_check column"
    if metric == "severity_weighted_error" and not tax.severity:
        return "the taxonomy has no severities (set taxonomy.severity)"
    if metric == "critical_error" and (tax.critical_severity is None or not tax.severity):
        return "the taxonomy has no critical_severity and severities"
    return None


def _proportion(
    m: str, t: ibis.Table, cond: ibis.BooleanValue | None, hit: ibis.BooleanValue
) -> dict[str, ibis.Scalar]:
    if cond is None:
        return {
            f"{m}__n": t.count(),
            f"{m}__k": hit.cast("int64").sum(),
            f"{m}__items": t.item_id.nunique(),
            f"{m}__raters": t.rater_id.nunique(),
        }
    return {
        f"{m}__n": cond.cast("int64").sum(),
        f"{m}__k": (cond & hit).cast("int64").sum(),
        f"{m}__items": t.item_id.nunique(where=cond),
        f"{m}__raters": t.rater_id.nunique(where=cond),
    }


def gold_sums(m: str, t: ibis.Table, tax: TaskTaxonomy) -> dict[str, ibis.Scalar]:
    """The per-slice sums of a gold-based metric on the gold base ``t``."""
    wrong = t.label != t.truth
    benign = list(tax.benign)
    if m == "accuracy":
        return _proportion(m, t, None, ~wrong)
    if m == "honeypot_accuracy":
        return _proportion(m, t, t.is_gold_check.fill_null(False), ~wrong)
    if m == "leakage":
        return _proportion(m, t, ~t.truth.isin(benign), t.label.isin(benign))
    if m == "over_enforcement":
        return _proportion(m, t, t.truth.isin(benign), ~t.label.isin(benign))
    if m == "wrong_policy":
        both = ~t.truth.isin(benign) & ~t.label.isin(benign)
        return _proportion(m, t, both, wrong)
    if m == "critical_error":
        crit = float(tax.critical_severity if tax.critical_severity is not None else 0.0)
        return _proportion(m, t, severity(t.truth, tax) >= crit, wrong)
    if m == "severity_weighted_error":
        s = severity(t.truth, tax)
        e = wrong.cast("float64")
        return {
            f"{m}__n": (s > 0).cast("int64").sum(),
            f"{m}__s": s.sum(),
            f"{m}__se": (s * e).sum(),
            f"{m}__s2e": (s * s * e).sum(),
            f"{m}__s2": (s * s).sum(),
            f"{m}__items": t.item_id.nunique(where=s > 0),
            f"{m}__raters": t.rater_id.nunique(where=s > 0),
        }
    raise UsageError(f"{m!r} is not a gold-based quality metric")


def audit_sums(t: ibis.Table) -> dict[str, ibis.Scalar]:
    """Sums for audit accuracy; with ``inclusion_prob`` also the Hájek sums.

    ``w = 1/π`` and ``a = (1 − π)/π²`` (null π counts as 1: audited with certainty).
    """
    m = "audit_accuracy"
    y = t.verdict == "correct"
    out = _proportion(m, t, None, y)
    if "inclusion_prob" in t.columns:
        pi = t.inclusion_prob.cast("float64").fill_null(1.0)
        valid = (pi > 0) & (pi <= 1)
        w = ibis.ifelse(valid, 1.0 / pi, 0.0)
        a = ibis.ifelse(valid, (1.0 - pi) / (pi * pi), 0.0)
        yf = y.cast("float64")
        out |= {
            f"{m}__w": w.sum(),
            f"{m}__wy": (w * yf).sum(),
            f"{m}__a": a.sum(),
            f"{m}__ay": (a * yf).sum(),
            f"{m}__bad": (~valid).cast("int64").sum(),
        }
    return out


def base_sums(t: ibis.Table) -> dict[str, ibis.Scalar]:
    return {
        f"{BASE}__n": t.count(),
        f"{BASE}__items": t.item_id.nunique(),
        f"{BASE}__raters": t.rater_id.nunique(),
    }


def grouped(t: ibis.Table, by: Sequence[str], sums: dict[str, ibis.Scalar]) -> ibis.Table:
    return t.group_by(list(by)).aggregate(**sums) if by else t.aggregate(**sums)


def confusion_expr(base: ibis.Table, by: Sequence[str]) -> ibis.Table:
    """Counts per slice, truth and given label: the confusion matrix in long form."""
    keys = [*by, "truth", "label"]
    return base.group_by(keys).aggregate(n=base.count())


def metric_expr(
    metric: str,
    annotations: ibis.Table,
    gold: ibis.Table | None,
    audits: ibis.Table | None,
    tax: TaskTaxonomy,
    by: Sequence[str],
) -> ibis.Table:
    """The Ibis expression one metric is computed from (its per-slice sums).

    Precision, recall and F1 start from the long confusion matrix.
    """
    if metric == "audit_accuracy":
        if audits is None:
            raise UsageError("audit_accuracy needs audits (an audits table or --audits FILE)")
        base = audit_base(annotations, audits)
        check_dimensions(base.columns, by, "the annotations joined with audits")
        base = with_dimensions(base, by)
        return grouped(base, by, audit_sums(base))
    if gold is None:
        raise UsageError(f"{metric} needs gold labels (a gold table or --gold FILE)")
    base = gold_base(annotations, gold)
    check_dimensions(base.columns, by, "the annotations joined with gold")
    base = with_dimensions(base, by)
    if metric in PER_LABEL:
        return confusion_expr(base, by)
    reason = unavailable(metric, base.columns, tax)
    if reason:
        raise UsageError(f"{metric}: {reason}")
    return grouped(base, by, gold_sums(metric, base, tax))
