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
``n`` and ``k`` add up the KPI's per-row terms of :mod:`opsloop.metrics._sums`,
the very terms the KPI cube sums, so a figure has one definition.

>>> import pyarrow as pa
>>> ann = pa.table({"item_id": ["a", "b"], "rater_id": ["x", "x"], "label": ["spam", "none"]})
>>> gold = pa.table({"item_id": ["a", "b"], "label": ["spam", "spam"]})
>>> e = metric_expr("accuracy", as_ibis(ann, "a"), as_ibis(gold, "g"), None, TaskTaxonomy(), ())
>>> e.to_pyarrow().select(["accuracy__n", "accuracy__k"]).to_pylist()
[{'accuracy__n': 2.0, 'accuracy__k': 1.0}]
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis

from opsloop.config import TaskTaxonomy
from opsloop.errors import UsageError
from opsloop.metrics._agreement import DEFAULT_TASK
from opsloop.metrics._slicing import (
    as_ibis,
    check_dimensions,
    require_columns,
    with_dimensions,
)
from opsloop.metrics._sums import (
    MEASURE_PREFIX,
    Terms,
    gold_terms,
    indicators,
    severity,
    severity_terms,
    sums_audits,
)

__all__ = ["as_ibis", "metric_expr", "severity"]

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
    truth = gold.label
    if truth.type() != annotations.label.type():  # e.g. ratings read as numbers: compare as text
        truth = truth.cast("string")
        annotations = annotations.mutate(label=annotations.label.cast("string"))
    g = gold.select(*keys, truth=truth)
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


def _proportion(m: str, t: ibis.Table, terms: Terms) -> dict[str, ibis.Scalar]:
    """A proportion's per-slice sums: ``n``, ``k`` and the denominator's items and raters."""
    return {
        f"{m}__n": terms.n.sum(),
        f"{m}__k": terms.k.sum(),
        f"{m}__items": t.item_id.nunique(where=terms.n > 0),
        f"{m}__raters": t.rater_id.nunique(where=terms.n > 0),
    }


def with_indicators(t: ibis.Table, tax: TaskTaxonomy) -> ibis.Table:
    """A gold or audit base with the per-row indicators of :mod:`opsloop.metrics._sums`
    (every row under ``tax``)."""
    return indicators(t, {DEFAULT_TASK: tax})


def gold_sums(m: str, t: ibis.Table) -> dict[str, ibis.Scalar]:
    """The per-slice sums of a gold-based metric on the gold base ``t`` (with indicators):
    the KPI's terms of :mod:`opsloop.metrics._sums`, the cube's own."""
    if m == "severity_weighted_error":
        sev = severity_terms(t)
        if sev is None:
            raise UsageError(f"{m}: the taxonomy has no severities (set taxonomy.severity)")
        s, e = sev
        return {
            f"{m}__n": (s > 0).cast("int64").sum(),
            f"{m}__s": s.sum(),
            f"{m}__se": (s * e).sum(),
            f"{m}__s2e": (s * s * e).sum(),
            f"{m}__s2": (s * s).sum(),
            f"{m}__items": t.item_id.nunique(where=s > 0),
            f"{m}__raters": t.rater_id.nunique(where=s > 0),
        }
    prefix = MEASURE_PREFIX.get(m)
    terms = gold_terms(t).get(prefix or "")
    if terms is None:
        raise UsageError(f"{m!r} is not a gold-based quality metric this taxonomy allows")
    return _proportion(m, t, terms)


def audit_sums(t: ibis.Table) -> dict[str, ibis.Scalar]:
    """Sums for audit accuracy on the audit base ``t`` (with indicators); with
    ``inclusion_prob`` also the Hájek sums (``w = 1/π``, ``a = (1 − π)/π²``; a null π
    counts as 1: audited with certainty) and the count of π outside (0, 1]."""
    m = "audit_accuracy"
    out = _proportion(m, t, Terms(t["__aud"], t["__y"]))
    if "__w" in t.columns:
        cube = sums_audits(t)
        out |= {
            f"{m}__w": cube["aud_w"],
            f"{m}__wy": cube["aud_wy"],
            f"{m}__a": cube["aud_a"],
            f"{m}__ay": cube["aud_ay"],
            f"{m}__bad": t["__bad"].sum(),
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
        base = with_indicators(with_dimensions(base, by), tax)
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
    judged = with_indicators(base, tax)
    return grouped(judged, by, gold_sums(metric, judged))
