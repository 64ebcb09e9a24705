"""``quality()``: labeling quality against gold and QA audits, per slice, with intervals.

Metrics (stable ids; every proportion has its Wilson (1927) interval):

* ``accuracy`` — ``Σ 1[label = truth] / n`` over annotations of gold items;
  ``honeypot_accuracy`` the same over annotations flagged ``is_gold_check``.
* ``audit_accuracy`` — share of audited annotations with verdict ``correct``;
  when audits carry ``inclusion_prob`` the Hájek estimator with
  Horvitz–Thompson weights ``1/π`` (Horvitz & Thompson, 1952) and its
  design-based variance (see :func:`hajek_proportion`).
* ``precision``, ``recall``, ``f1`` — per label, from the confusion matrix.
* ``leakage`` — share labelled benign among annotations whose truth is
  violating (the false-negative rate of enforcement).
* ``over_enforcement`` — share labelled violating among benign-truth annotations.
* ``wrong_policy`` — share labelled a different violating label among
  annotations where both truth and label are violating.
* ``severity_weighted_error`` — ``Σ s(truth)·1[label ≠ truth] / Σ s(truth)``
  with the taxonomy's severities (benign labels without one weigh 0, other
  labels 1); delta-method interval (Cochran, 1977).
* ``critical_error`` — error rate on annotations whose truth has severity
  ``≥ critical_severity``.

Violating means "not one of ``taxonomy.benign``". Truth is the gold label;
``truth`` is also a slice dimension (besides every annotation column and the
derived ``week``/``day``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import ibis

from opsloop.config import TaskTaxonomy
from opsloop.errors import UsageError
from opsloop.metrics._confusion import ConfusionMatrix, confusion_from_rows, label_stats
from opsloop.metrics._quality_exprs import (
    BASE,
    GOLD_PROPORTIONS,
    PER_LABEL,
    audit_base,
    audit_sums,
    base_sums,
    confusion_expr,
    gold_base,
    gold_sums,
    grouped,
    metric_expr,
    unavailable,
    with_indicators,
)
from opsloop.metrics._records import MetricRecord, _Records
from opsloop.metrics._registry import get_metric, list_metrics
from opsloop.metrics._slicing import as_ibis, check_dimensions, slice_key, with_dimensions
from opsloop.metrics._survey import Interval, hajek_proportion, ratio_estimate, wilson

GOLD_METRICS = (*GOLD_PROPORTIONS, "severity_weighted_error", *PER_LABEL)
LEVEL = "nominal"


@dataclass(frozen=True)
class QualityResult(_Records):
    """Quality records (one per metric and slice; per label for P/R/F1) and confusion matrices.

    ``to_dict()`` is the JSON form: the list of record dicts.
    """

    records: tuple[MetricRecord, ...]
    confusion: tuple[ConfusionMatrix, ...] = field(default=())


def _num(row: dict[str, Any], key: str) -> float:
    v = row.get(key)
    return 0.0 if v is None else float(v)


def _record(
    metric: str,
    key: dict[str, str],
    est: Interval,
    n: float,
    k: float | None,
    items: float,
    raters: float,
    note: str | None = None,
) -> MetricRecord:
    extra = {"n": float(n)} | ({} if k is None else {"k": float(k)})
    reason = note or est.note
    return MetricRecord(
        metric,
        LEVEL,
        key,
        est.value,
        est.ci_low,
        est.ci_high,
        int(items),
        int(raters),
        se=est.se if est.se == est.se else None,
        note=reason,
        extra=extra,
    )


_EMPTY_NOTES = {
    "accuracy": "no annotations of gold items in this slice",
    "honeypot_accuracy": "no honeypot (is_gold_check) annotations in this slice",
    "leakage": "no annotations of violating content in this slice",
    "over_enforcement": "no annotations of benign content in this slice",
    "wrong_policy": "no violating content labelled violating in this slice",
    "critical_error": "no annotations of critical-severity content in this slice",
    "severity_weighted_error": "no annotations of content with a severity in this slice",
    "audit_accuracy": "no audited annotations in this slice",
}


def _proportion_record(
    m: str, row: dict[str, Any], key: dict[str, str], conf: float, reason: str | None
) -> MetricRecord:
    nan = Interval(float("nan"), float("nan"), float("nan"), float("nan"))
    if reason:
        return _record(m, key, nan, 0, None, 0, 0, reason)
    n = _num(row, f"{m}__n")
    items, raters = _num(row, f"{m}__items"), _num(row, f"{m}__raters")
    if n == 0:
        return _record(m, key, nan, 0, 0, 0, 0, _EMPTY_NOTES[m])
    if m == "severity_weighted_error":
        s, se_ = _num(row, f"{m}__s"), _num(row, f"{m}__se")
        est = ratio_estimate(int(n), s, se_, _num(row, f"{m}__s2e"), _num(row, f"{m}__s2"), conf)
        rec = _record(m, key, est, n, None, items, raters)
        return replace(rec, extra={"n": n, "weighted_errors": se_, "weight": s})
    k = _num(row, f"{m}__k")
    if m == "audit_accuracy" and f"{m}__w" in row:
        bad = _num(row, f"{m}__bad")
        est = hajek_proportion(
            int(n),
            _num(row, f"{m}__w"),
            _num(row, f"{m}__wy"),
            _num(row, f"{m}__a"),
            _num(row, f"{m}__ay"),
            conf,
        )
        note = "weighted by 1/inclusion_prob (Hájek)"
        if bad:
            note += f"; {int(bad)} audit(s) with inclusion_prob outside (0, 1] left out"
        rec = _record(m, key, est, n, k, items, raters, note)
        return replace(rec, extra={**rec.extra, "unweighted": k / n})
    return _record(m, key, wilson(k, n, conf), n, k, items, raters)


def _label_records(
    cm: ConfusionMatrix, chosen: Sequence[str], base: dict[str, Any], conf: float
) -> list[MetricRecord]:
    out = []
    items, raters = _num(base, f"{BASE}__items"), _num(base, f"{BASE}__raters")
    for st in label_stats(cm, conf):
        key = {**cm.slice, "label": st.label}
        parts = {
            "precision": (st.precision, st.tp + st.fp),
            "recall": (st.recall, st.tp + st.fn),
            "f1": (st.f1, st.tp + st.fp + st.fn),
        }
        for m in chosen:
            est, n = parts[m]
            out.append(_record(m, key, est, n, st.tp, items, raters))
    return out


def _rows(expr: ibis.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    return rows


def choose_quality_metrics(
    metrics: Sequence[str] | None, has_gold: bool, has_audits: bool
) -> tuple[str, ...]:
    """The metrics to compute: checked ``metrics``, or every one the truth at hand allows."""
    if metrics is None:
        ids = [s.id for s in list_metrics("quality")]
        return tuple(
            m
            for m in ids
            if (m in GOLD_METRICS and has_gold) or (m == "audit_accuracy" and has_audits)
        )
    chosen = tuple(dict.fromkeys(metrics))
    if not chosen:
        raise UsageError("no metrics requested")
    for m in chosen:
        if get_metric(m).family != "quality":
            raise UsageError(f"{m!r} is an agreement metric: use agreement() / opsloop agreement")
        if m in GOLD_METRICS and not has_gold:
            raise UsageError(f"{m} needs gold labels (a gold table or --gold FILE)")
        if m == "audit_accuracy" and not has_audits:
            raise UsageError("audit_accuracy needs audits (an audits table or --audits FILE)")
    return chosen


def quality(
    annotations: Any,
    *,
    gold: Any = None,
    audits: Any = None,
    taxonomy: TaskTaxonomy | None = None,
    metrics: Sequence[str] | None = None,
    by: Sequence[str] = (),
    confidence: float = 0.95,
) -> QualityResult:
    """Quality of annotations against gold labels and audit verdicts, per slice.

    ``annotations`` (item_id, rater_id, label, any dimension columns), ``gold``
    (item_id, label) and ``audits`` (item_id, rater_id, verdict, optional
    inclusion_prob) are pyarrow or Ibis tables; the work runs as Ibis
    expressions on their backend. ``metrics`` default to every quality metric
    the inputs allow. ``by`` names slice dimensions: annotation columns (join
    items and raters first, e.g. with ``annotation_view``), ``truth``, and
    ``week``/``day`` from ``submitted_at``. A metric that cannot be computed on
    a slice gives NaN with the reason in ``note``. ``extra['n']`` is the
    denominator (annotations); per-label records carry the slice's items and raters.

    >>> import pyarrow as pa
    >>> ann = pa.table({"item_id": ["a", "a", "b", "b"], "rater_id": ["x", "y", "x", "y"],
    ...                 "label": ["spam", "none", "none", "none"]})
    >>> gold = pa.table({"item_id": ["a", "b"], "label": ["spam", "none"]})
    >>> tax = TaskTaxonomy(labels=("none", "spam"), benign=("none",))
    >>> r = quality(ann, gold=gold, taxonomy=tax, metrics=["accuracy", "leakage"])
    >>> [(x.metric, x.value) for x in r.records]
    [('accuracy', 0.75), ('leakage', 0.5)]
    """
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, not {confidence}")
    tax = taxonomy or TaskTaxonomy()
    by = tuple(dict.fromkeys(by))
    chosen = choose_quality_metrics(metrics, gold is not None, audits is not None)
    ann = as_ibis(annotations, "the annotations")
    records: list[MetricRecord] = []
    confusion: list[ConfusionMatrix] = []
    gold_chosen = [m for m in chosen if m in GOLD_METRICS]
    if gold_chosen:
        base = gold_base(ann, as_ibis(gold, "the gold table"))
        check_dimensions(base.columns, by, "the annotations joined with gold")
        per_label = [m for m in gold_chosen if m in PER_LABEL]
        if per_label and "label" in by:
            raise UsageError("precision, recall and f1 are per label already: drop 'label' from by")
        base = with_dimensions(base, by)
        reasons = {m: unavailable(m, base.columns, tax) for m in gold_chosen}
        judged = with_indicators(base, tax)
        sums = base_sums(judged)
        for m in gold_chosen:
            if m not in PER_LABEL and reasons[m] is None:
                sums |= gold_sums(m, judged)
        rows = _rows(grouped(judged, by, sums))
        by_key: dict[tuple[str, ...], dict[str, Any]] = {}
        for row in rows:
            key = slice_key(row, by)
            by_key[tuple(key.values())] = row
            for m in gold_chosen:
                if m not in PER_LABEL:
                    records.append(_proportion_record(m, row, key, confidence, reasons[m]))
        if per_label:
            cells: dict[tuple[str, ...], list[tuple[str, str, int]]] = {}
            for row in _rows(confusion_expr(base, by)):
                k = tuple(slice_key(row, by).values())
                cells.setdefault(k, []).append((str(row["truth"]), str(row["label"]), row["n"]))
            for k in sorted(cells):
                cm = confusion_from_rows(dict(zip(by, k, strict=True)), cells[k], tax.labels)
                confusion.append(cm)
                records += _label_records(cm, per_label, by_key.get(k, {}), confidence)
    if "audit_accuracy" in chosen:
        base = audit_base(ann, as_ibis(audits, "the audits table"))
        check_dimensions(base.columns, by, "the annotations joined with audits")
        base = with_indicators(with_dimensions(base, by), tax)
        for row in _rows(grouped(base, by, audit_sums(base))):
            records.append(
                _proportion_record("audit_accuracy", row, slice_key(row, by), confidence, None)
            )
    order = {m: i for i, m in enumerate(chosen)}
    records.sort(
        key=lambda r: (
            tuple(r.slice.get(d, "") for d in by),
            order[r.metric],
            r.slice.get("label", ""),
        )
    )
    return QualityResult(tuple(records), tuple(confusion))


def quality_sql(
    metric: str,
    annotations: Any,
    *,
    gold: Any = None,
    audits: Any = None,
    taxonomy: TaskTaxonomy | None = None,
    by: Sequence[str] = (),
    dialect: str = "duckdb",
) -> str:
    """The SQL (``ibis.to_sql``) of the per-slice sums ``metric`` is computed from.

    >>> import pyarrow as pa
    >>> ann = pa.table({"item_id": ["a"], "rater_id": ["x"], "label": ["spam"]})
    >>> "GROUP BY" in quality_sql("accuracy", ann, gold=ann.select(["item_id", "label"]),
    ...                           by=["rater_id"])
    True
    """
    if get_metric(metric).family != "quality":
        raise UsageError(f"{metric!r} is not a quality metric")
    ann = as_ibis(annotations, "the annotations")
    g = None if gold is None else as_ibis(gold, "the gold table")
    a = None if audits is None else as_ibis(audits, "the audits table")
    by = tuple(dict.fromkeys(by))
    expr = metric_expr(metric, ann, g, a, taxonomy or TaskTaxonomy(), by)
    return to_sql(expr, dialect)


def to_sql(expr: ibis.Expr, dialect: str) -> str:
    try:
        return str(ibis.to_sql(expr, dialect=dialect))
    except ValueError as exc:
        raise UsageError(
            f"unknown SQL dialect {dialect!r} (e.g. duckdb, pyspark, postgres, snowflake, bigquery)"
        ) from exc
