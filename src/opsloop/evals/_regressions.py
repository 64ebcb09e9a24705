"""Model regressions: is a candidate model version worse than its baseline, and where?

:func:`model_regression_findings` compares two versions of a model on the
gold-labelled items both were run on, per gold label, by *recall* — the share
of items whose gold label is ``L`` that the model labels ``L``::

    recall_v(L) = Σ 1[pred_v = L, gold = L] / Σ 1[gold = L]

and by overall *accuracy* ``Σ 1[pred_v = gold] / n``.
:func:`eval_regression_findings` reports the regressions of
:func:`opsloop.evals.compare_evals` (fail rate, unsafe compliance and
over-refusal per evaluation category and overall). Every
comparison is paired (the same items under both versions) and tested with
McNemar's exact test; the per-label (per-category) p-values are adjusted
together with Benjamini & Hochberg (1995) (:mod:`opsloop.evals._paired`). A
slice is a finding when its adjusted p-value is at most ``alpha`` *and* the
candidate is worse; improvements give nothing. Proportions carry Wilson
(1927) intervals.

A finding's score, in ``model_points``, is how much overall quality it
costs: for a label, its contribution to the accuracy change,
``(recall_base − recall_cand) · n_L / n = (worse − better) / n``; for an eval
category ``(fail_cand − fail_base) · n_cat / n``; for the overall KPIs the
change itself. ``Finding.p_value`` is the BH-adjusted p-value (the raw one is
in the evidence).

>>> import pyarrow as pa
>>> ids = [f"i{i}" for i in range(200)]
>>> gold = pa.table({"item_id": ids, "label": ["spam"] * 100 + ["hate"] * 100})
>>> preds = pa.table({"item_id": ids * 2, "model_version": ["m1"] * 200 + ["m2"] * 200,
...     "label": ["spam"] * 100 + ["hate"] * 100 + ["spam"] * 100 + ["hate", "none"] * 50})
>>> top = model_regression_findings(preds, gold)[0]
>>> top.kpi, top.where, round(top.score, 2), top.unit
('recall', {'model_version': 'm2', 'label': 'hate'}, 0.25, 'model_points')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis

from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.evals._compare import MEASURE_TITLES, EvalComparison, PairedRate, compare_evals
from opsloop.evals._paired import (
    ModelRegressionEvidence,
    PairCounts,
    compare_pairs,
    evidence_of,
    paired_test_name,
    significantly_worse,
)
from opsloop.evals._trend import EvalTrend, eval_trend
from opsloop.evals._versions import check_alpha, choose_versions, table_versions
from opsloop.findings import Finding, rank_findings
from opsloop.metrics._slicing import MISSING, as_ibis, require_columns

DEFAULT_TASK = "label"


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _with_task(table: ibis.Table) -> ibis.Value:
    if "task" in table.columns:
        return table.task.cast("string").fill_null(DEFAULT_TASK)
    return ibis.literal(DEFAULT_TASK)


def _version_rows(predictions: ibis.Table, version: str) -> ibis.Table:
    p = predictions.filter(predictions.model_version.cast("string") == version)
    return p.select(item_id=p.item_id, task=_with_task(p),
                    label=p.label.cast("string").fill_null(MISSING))  # fmt: skip


def paired_counts_expr(
    predictions: ibis.Table, gold: ibis.Table, base: str, cand: str
) -> ibis.Table:
    """Matched gold items per ``(task, gold_label, base_label, cand_label)``: column ``n``."""
    b = _version_rows(predictions, base).rename(base_label="label")
    c = _version_rows(predictions, cand).rename(cand_label="label")
    g = gold.filter(gold.label.notnull())
    g = g.select(item_id=g.item_id, task=_with_task(g), gold_label=g.label.cast("string"))
    j = g.join(b, ["item_id", "task"]).join(c, ["item_id", "task"])
    return j.group_by(["task", "gold_label", "base_label", "cand_label"]).aggregate(n=j.count())


def matched_counts_expr(predictions: ibis.Table, gold: ibis.Table,
                        versions: tuple[str, str]) -> ibis.Table:  # fmt: skip
    """Predictions that match a gold item per ``(model_version, task)``: column ``n``."""
    p = predictions.filter(predictions.model_version.cast("string").isin(list(versions)))
    p = p.select(item_id=p.item_id, task=_with_task(p), model_version=p.model_version.cast("string"))
    g = gold.filter(gold.label.notnull())
    g = g.select(item_id=g.item_id, task=_with_task(g))
    j = p.join(g, ["item_id", "task"])
    return j.group_by(["model_version", "task"]).aggregate(n=j.count())


def pair_and_match_counts_expr(
    predictions: ibis.Table, gold: ibis.Table, base: str, cand: str
) -> ibis.Table:
    """:func:`paired_counts_expr` and :func:`matched_counts_expr` in one pass.

    Per gold row (item, task, gold label): how many predictions of each version
    match it (``__nb``, ``__nc``) and their labels; then per ``(task, gold_label,
    base_label, cand_label)``: ``__sb``/``__sc`` the matches of each version, ``n`` the
    gold rows both versions labelled, and ``__most`` the largest match count — above
    1 (a repeated prediction or gold row) the labels do not pair one to one, and
    the two separate queries are needed.
    """
    p = predictions.filter(predictions.model_version.cast("string").isin([base, cand]))
    p = p.select(item_id=p.item_id, task=_with_task(p), version=p.model_version.cast("string"),
                 label=p.label.cast("string").fill_null(MISSING))  # fmt: skip
    g = gold.filter(gold.label.notnull())
    g = g.select(item_id=g.item_id, task=_with_task(g), gold_label=g.label.cast("string"))
    j = p.join(g, ["item_id", "task"])
    is_b, is_c = j.version == base, j.version == cand
    per = j.group_by(["item_id", "task", "gold_label"]).aggregate(
        __nb=is_b.cast("int64").sum(), __nc=is_c.cast("int64").sum(),
        base_label=j.label.max(where=is_b), cand_label=j.label.max(where=is_c),
    )  # fmt: skip
    return per.group_by(["task", "gold_label", "base_label", "cand_label"]).aggregate(
        __sb=per["__nb"].sum(), __sc=per["__nc"].sum(), n=per.count(),
        __most=ibis.greatest(per["__nb"].max(), per["__nc"].max()),
    )  # fmt: skip


def _counts(pred: ibis.Table, gold: ibis.Table, base: str,
            cand: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """The rows of :func:`matched_counts_expr` and :func:`paired_counts_expr` (one query
    when every prediction and gold row pairs one to one, see
    :func:`pair_and_match_counts_expr`)."""
    both = pair_and_match_counts_expr(pred, gold, base, cand).to_pyarrow().to_pylist()
    if any(int(r["__most"] or 0) > 1 for r in both):
        return (matched_counts_expr(pred, gold, (base, cand)).to_pyarrow().to_pylist(),
                paired_counts_expr(pred, gold, base, cand).to_pyarrow().to_pylist())  # fmt: skip
    matched: dict[tuple[str, Any], int] = defaultdict(int)
    for r in both:
        matched[(base, r["task"])] += int(r["__sb"] or 0)
        matched[(cand, r["task"])] += int(r["__sc"] or 0)
    rows = [{k: r[k] for k in ("task", "gold_label", "base_label", "cand_label", "n")}
            for r in both if r["base_label"] is not None and r["cand_label"] is not None]  # fmt: skip
    return ([{"model_version": v, "task": t, "n": n} for (v, t), n in matched.items() if n],
            rows)  # fmt: skip


def model_regression_findings(
    predictions: Any,
    gold: Any,
    *,
    evals: Any | None = None,
    baseline: str | None = None,
    candidate: str | None = None,
    alpha: float = 0.05,
    mid_p: bool = False,
) -> tuple[Finding, ...]:
    """Labels (and eval categories) where ``candidate`` is significantly worse than ``baseline``.

    ``predictions`` (item_id, model_version, label[, task]) and ``gold``
    (item_id, label[, task]) are pyarrow or Ibis tables; the versions default
    to the two latest by natural sort. On the gold items both versions
    labelled, the recall per gold label is compared (BH across labels) and
    overall accuracy once; with ``evals`` the fail rate per category too (see
    :func:`eval_regression_findings`, same versions). ``mid_p`` uses the
    mid-p McNemar test. Findings of kind ``model_regression``, ranked.
    """
    check_alpha(alpha)
    pred = as_ibis(predictions, "predictions")
    gold_t = as_ibis(gold, "gold")
    require_columns(pred, ("item_id", "model_version", "label"), "predictions")
    require_columns(gold_t, ("item_id", "label"), "gold")
    base, cand = choose_versions(table_versions(pred), baseline, candidate, "predictions")
    matched, rows = _counts(pred, gold_t, base, cand)
    for v in (base, cand):
        if not any(r["model_version"] == v for r in matched):
            raise UsageError(
                f"no prediction of model version {v!r} matches a gold item (by item_id and task)"
            )
    if not rows:
        raise UsageError(f"no gold item was labelled by both {base!r} and {cand!r}: "
                         "a paired comparison needs the same items")  # fmt: skip
    tasks = sorted({str(r["task"]) for r in matched})
    found: list[Finding] = []
    for task in tasks:
        per_version = sum(int(r["n"]) for r in matched if r["task"] == task)
        found += _recall_findings([r for r in rows if r["task"] == task], per_version, task,
                                  tasks, (base, cand), alpha, mid_p)  # fmt: skip
    if evals is not None:
        found += eval_regression_findings(evals, baseline=base, candidate=cand, alpha=alpha,
                                          mid_p=mid_p)  # fmt: skip
    return rank_findings(found)


def _label_counts(rows: list[dict[str, Any]]) -> tuple[dict[str, PairCounts],
                                                       dict[str, dict[str, int]]]:  # fmt: skip
    """Pair counts per gold label, and what the candidate said on its misses."""
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    missed_as: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        gl, bl, cl, n = str(row["gold_label"]), str(row["base_label"]), str(row["cand_label"]), int(row["n"])
        b_ok, c_ok = bl == gl, cl == gl
        a = acc[gl]
        a[0] += n
        a[1] += n * b_ok
        a[2] += n * c_ok
        a[3] += n * (b_ok and not c_ok)
        a[4] += n * (c_ok and not b_ok)
        if not c_ok:
            missed_as[gl][cl] = missed_as[gl].get(cl, 0) + n
    return {k: PairCounts(*v) for k, v in acc.items()}, missed_as


def _recall_findings(
    rows: list[dict[str, Any]], matched: int, task: str, tasks: list[str],
    versions: tuple[str, str], alpha: float, mid_p: bool,
) -> list[Finding]:  # fmt: skip
    base, cand = versions
    counts, missed_as = _label_counts(rows)
    if not counts:
        return []
    total = sum(c.n for c in counts.values())
    unpaired = max(0, matched - 2 * total)
    whole = PairCounts(*(sum(getattr(c, f) for c in counts.values())
                         for f in ("n", "k_base", "k_cand", "worse", "better")))  # fmt: skip
    overall = compare_pairs({"": whole}, total, mid_p=mid_p)[0]
    where_task = {"task": task} if len(tasks) > 1 else {}
    suffix = f":{task}" if len(tasks) > 1 else ""
    test = paired_test_name(mid_p)
    out = []
    for r in compare_pairs(counts, total, mid_p=mid_p):
        if not significantly_worse(r, alpha):
            continue
        misses = sorted(missed_as[r.key].items(), key=lambda kv: (-kv[1], kv[0]))
        n_miss = sum(n for _, n in misses)
        ev = evidence_of(r, base, cand, "recall", test, unpaired=unpaired,
                         missed_as=tuple(misses[:3]), overall=(overall.base, overall.cand))  # fmt: skip
        mostly = f" (mostly predicted {misses[0][0]}: {misses[0][1] / n_miss:.0%})" if misses else ""
        out.append(Finding(
            id=f"model_regression:{cand}:recall:{r.key}{suffix}",
            kpi="recall",
            title=f"{cand} recall on {r.key} fell from {_fmt(r.base)} to {_fmt(r.cand)} (vs {base})",
            where={"model_version": cand, "label": r.key, **where_task},
            score=(r.base - r.cand) * r.share,
            unit="model_points",
            action=(f"hold rollout of {cand} for {r.key}: recall {_fmt(r.base)}→{_fmt(r.cand)}; "
                    f"add {r.key} training data / review {cand}'s {n_miss} missed {r.key} items"
                    f"{mostly} before rollout"),
            evidence=ev,
            p_value=r.q_value,
        ))  # fmt: skip
    if significantly_worse(overall, alpha):
        out.append(Finding(
            id=f"model_regression:{cand}:accuracy{suffix}",
            kpi="accuracy",
            title=f"{cand} accuracy fell from {_fmt(overall.base)} to {_fmt(overall.cand)} (vs {base})",
            where={"model_version": cand, **where_task},
            score=overall.base - overall.cand,
            unit="model_points",
            action=(f"hold rollout of {cand}: accuracy {_fmt(overall.base)}→{_fmt(overall.cand)} "
                    "on gold; see the per-label recall findings for where it is lost"),
            evidence=evidence_of(overall, base, cand, "accuracy", test, unpaired=unpaired),
            p_value=overall.q_value,
        ))  # fmt: skip
    return out


# -- evals ---------------------------------------------------------------------------
_EVAL_KPIS: dict[str, str] = {
    "fail": "eval_fail_rate",
    "unsafe_compliance": "eval_unsafe_compliance",
    "over_refusal": "eval_over_refusal",
}
_EVAL_WHAT: dict[str, tuple[str, str]] = {  # (title, what to review)
    "fail": ("fails more evals", "failing"),
    "unsafe_compliance": ("answers more prompts it should refuse", "unsafe answers to"),
    "over_refusal": ("refuses more safe prompts", "refusals of safe"),
}


def eval_regression_findings(
    evals: Any,
    *,
    baseline: str | None = None,
    candidate: str | None = None,
    alpha: float = 0.05,
    mid_p: bool = False,
) -> tuple[Finding, ...]:
    """Eval categories where ``candidate`` is significantly worse than ``baseline``: the
    regressions of :func:`opsloop.evals.compare_evals` (fail rate, and with ``refused``
    unsafe compliance and over-refusal), as findings.

    A category's fail-rate finding is left out when one of its safety measures
    regressed (the more specific finding says why it fails). Score: the increase
    weighted by the category's share of the matched items (overall: the increase).

    >>> import pyarrow as pa
    >>> ev = pa.table({"model_version": ["m1"] * 100 + ["m2"] * 100, "item_id": list(range(100)) * 2,
    ...     "outcome": ["pass"] * 95 + ["fail"] * 5 + ["pass"] * 70 + ["fail"] * 30})
    >>> f = eval_regression_findings(ev)[0]
    >>> f.kpi, f.where, round(f.score, 2)
    ('eval_fail_rate', {'model_version': 'm2'}, 0.25)
    """
    cmp = compare_evals(evals, baseline=baseline, candidate=candidate, alpha=alpha, mid_p=mid_p)
    unpaired = cmp.only_base + cmp.only_candidate
    safety = {r.category for r in cmp.regressions if r.measure != "fail"}
    out = [_eval_finding(r, cmp, unpaired) for r in cmp.regressions
           if r.measure != "fail" or r.category not in safety]  # fmt: skip
    return rank_findings(out)


def _eval_finding(r: PairedRate, cmp: EvalComparison, unpaired: int) -> Finding:
    base, cand, category = cmp.base_version, cmp.candidate_version, r.category
    kpi = _EVAL_KPIS[r.measure]
    title, review = _EVAL_WHAT[r.measure]
    on = f" on {category} prompts" if category is not None else ""
    measured = sum(x.n for x in cmp.rows_of(r.measure) if x.category is not None) or r.n
    share = r.n / measured if category is not None else 1.0
    evidence = ModelRegressionEvidence(
        kpi, base, cand, r.base, r.candidate, r.worse, r.better, share, r.p_value, r.q_value,
        cmp.test, unpaired,
    )  # fmt: skip
    bad = round(r.candidate.value * r.n)
    return Finding(
        id=f"model_regression:{cand}:{kpi}" + (f":{category}" if category is not None else ""),
        kpi=kpi,
        title=(f"{cand} {title}{on}: {_fmt(r.base.value)} → {_fmt(r.candidate.value)} "
               f"(vs {base})"),
        where={"model_version": cand} | ({"category": category} if category is not None else {}),
        score=r.difference * share,
        unit="model_points",
        action=(f"hold rollout of {cand}{'' if category is None else ' for ' + category}: "
                f"{MEASURE_TITLES[r.measure]} {_fmt(r.base.value)}→{_fmt(r.candidate.value)}; "
                f"review the {bad} {review} {cand} evals{on} and add them to the regression "
                "suite"),
        evidence=evidence,
        p_value=r.q_value,
    )  # fmt: skip


# -- workspace -------------------------------------------------------------------------
def workspace_model_findings(
    ws: Workspace, *, alpha: float = 0.05, mid_p: bool = False
) -> tuple[Finding, ...]:
    """Model-regression findings for what ``ws`` holds, ranked.

    Runs :func:`model_regression_findings` when the workspace has predictions
    and gold, and :func:`eval_regression_findings` when it has evals. A
    missing table gives no findings, and so does a check its data do not
    allow (a single model version, no item both versions were run on): the
    other check still runs.
    """
    check_alpha(alpha)
    have = set(ws.table_names())
    runs: list[Callable[[], tuple[Finding, ...]]] = []
    if {"predictions", "gold"} <= have:
        runs.append(lambda: model_regression_findings(ws.table("predictions"), ws.table("gold"),
                                                      alpha=alpha, mid_p=mid_p))  # fmt: skip
    if "evals" in have:
        runs.append(lambda: eval_regression_findings(ws.table("evals"), alpha=alpha, mid_p=mid_p))
    found: list[Finding] = []
    for run in runs:
        try:
            found += run()
        except UsageError:  # the data do not allow this check
            continue
    return rank_findings(found)


@dataclass(frozen=True)
class ModelVersions:
    """The evals of a workspace across model versions: every category's rates per version
    (:func:`opsloop.evals.eval_trend`) and the latest version against the one before
    (:func:`opsloop.evals.compare_evals`; ``None`` with a single version)."""

    trend: EvalTrend
    comparison: EvalComparison | None

    def to_dict(self) -> dict[str, Any]:
        return {"trend": self.trend.to_dict(),
                "comparison": self.comparison.to_dict() if self.comparison else None}  # fmt: skip


def workspace_model_versions(
    ws: Workspace, *, alpha: float = 0.05, mid_p: bool = False
) -> ModelVersions | None:
    """:class:`ModelVersions` of the workspace's evals table (``None`` without one)."""
    if not ws.has_table("evals"):
        return None
    evals = ws.table("evals")
    trend = eval_trend(evals)
    comparison = None
    if len(trend.versions) > 1:
        comparison = compare_evals(evals, alpha=alpha, mid_p=mid_p)
    return ModelVersions(trend, comparison)
