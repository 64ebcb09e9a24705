"""Model regressions: is a candidate model version worse than its baseline, and where?

:func:`model_regression_findings` compares two versions of a model on the
gold-labelled items, per gold label, by *recall* — the share of items whose
gold label is ``L`` that the model labels ``L``::

    recall_v(L) = Σ 1[pred_v = L, gold = L] / Σ 1[gold = L]

and overall *accuracy* ``Σ 1[pred_v = gold] / n``. :func:`eval_regression_findings`
compares the *fail rate* ``Σ 1[outcome = 'fail'] / n`` per evaluation
category. Each difference is tested with the pooled two-proportion z-test,
or Fisher's exact test when an expected cell count is below 5 (Fisher, 1922),
and the per-label (per-category) p-values are adjusted together with the
Benjamini–Hochberg step-up procedure (Benjamini & Hochberg, 1995). A slice
is a finding when its adjusted p-value is at most ``alpha`` *and* the
candidate is worse; improvements give nothing. Proportions carry Wilson
(1927) intervals.

A finding's ``score`` is how much overall quality it costs: the drop in
points weighted by the slice's share, ``(recall_base − recall_cand) · n_L / n``
(the label's contribution to the accuracy change); for the eval fail rate
``(fail_cand − fail_base) · n_cat / n``; for the overall KPIs the change itself.
``Finding.p_value`` is the BH-adjusted p-value (the raw one is in the
evidence). The test treats the two versions' samples as independent; when
both versions scored the same items and their errors are positively
correlated, as they usually are, it is conservative (McNemar's test would be
the paired alternative).

:func:`data_loop_findings` runs these and the preference-data checks on a
workspace, whichever its tables allow.

>>> import pyarrow as pa
>>> ids = [f"i{i}" for i in range(200)]
>>> gold = pa.table({"item_id": ids, "label": ["spam"] * 100 + ["hate"] * 100})
>>> preds = pa.table({"item_id": ids * 2, "model_version": ["m1"] * 200 + ["m2"] * 200,
...     "label": ["spam"] * 100 + ["hate"] * 100 + ["spam"] * 100 + ["hate", "none"] * 50})
>>> top = model_regression_findings(preds, gold)[0]
>>> top.kpi, top.where, round(top.score, 2)
('recall', {'model_version': 'm2', 'label': 'hate'}, 0.25)
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ibis

from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.metrics._slicing import MISSING, as_ibis, require_columns
from opsloop.rca._findings import Finding
from opsloop.stats import wilson_interval

DEFAULT_TASK = "label"
FISHER_BELOW = 5.0  # smallest expected cell count for the z-test


# -- tests ------------------------------------------------------------------
def bh_adjust(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg (1995) adjusted p-values (q-values), in the input order.

    For ``m`` p-values sorted ascending, ``q_(i) = min_{j ≥ i} min(1, m · p_(j) / j)``;
    rejecting every hypothesis with ``q ≤ α`` controls the false discovery rate at ``α``.

    >>> [round(q, 4) for q in bh_adjust([0.01, 0.04, 0.03, 0.5])]
    [0.04, 0.0533, 0.0533, 0.5]
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, m * p_values[i] / rank)
        out[i] = min(1.0, running)
    return out


def binomial_test_half(k: int, n: int) -> float:
    """Exact two-sided binomial p-value of ``k`` successes in ``n`` trials against ``p = 0.5``.

    The distribution is symmetric, so the outcomes at most as likely as ``k``
    are the two tails beyond ``m = min(k, n − k)``::

        p = min(1, 2 · P(X ≤ m)),  X ~ Binomial(n, 1/2)

    (the "minimum likelihood" two-sided p-value of the exact binomial test).

    >>> binomial_test_half(9, 10)  # 2 · (1 + 10) / 2**10
    0.021484375
    >>> binomial_test_half(5, 10)
    1.0
    """
    if n <= 0:
        return 1.0
    from scipy.special import bdtr  # only the special functions: scipy.stats imports slowly

    m = min(k, n - k)
    if 2 * m >= n:
        return 1.0
    return min(1.0, 2.0 * float(bdtr(m, n, 0.5)))


def _fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact p-value of the 2×2 table ``[[k1, n1−k1], [k2, n2−k2]]``."""
    total, hits = n1 + n2, k1 + k2
    lo, hi = max(0, hits - n2), min(hits, n1)

    def logp(x: int) -> float:  # hypergeometric log-pmf with the margins fixed
        return _log_comb(n1, x) + _log_comb(n2, hits - x) - _log_comb(total, hits)

    observed = logp(k1)
    p = sum(math.exp(lp) for lp in map(logp, range(lo, hi + 1)) if lp <= observed + 1e-7)
    return min(1.0, p)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> tuple[float, str]:
    """Two-sided p-value for ``k1/n1 = k2/n2`` and the name of the test used.

    The pooled z-test (Agresti, 2013, §2.1)::

        p̄ = (k1 + k2)/(n1 + n2),  z = (k1/n1 − k2/n2) / sqrt(p̄(1 − p̄)(1/n1 + 1/n2))

    with ``p = 2(1 − Φ(|z|))``; Fisher's exact test when an expected count
    ``n_i p̄`` or ``n_i (1 − p̄)`` is below 5.

    >>> p, how = two_proportion_test(60, 100, 40, 100)  # z = 0.2 / sqrt(.5 · .5 · .02)
    >>> round(p, 6), how
    (0.004678, 'two-proportion z')
    >>> round(two_proportion_test(3, 3, 0, 3)[0], 4), two_proportion_test(3, 3, 0, 3)[1]
    (0.1, 'Fisher exact')
    """
    if n1 <= 0 or n2 <= 0:
        return 1.0, "none (an empty sample)"
    pooled = (k1 + k2) / (n1 + n2)
    expected = min(n1, n2) * min(pooled, 1 - pooled)
    if expected < FISHER_BELOW:
        return _fisher_exact(k1, n1, k2, n2), "Fisher exact"
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (k1 / n1 - k2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2)), "two-proportion z"


def proportion_summary(k: float, n: float, confidence: float = 0.95) -> dict[str, float]:
    """``k/n`` with its Wilson (1927) interval, as evidence."""
    low, high = wilson_interval(k, n, confidence)
    return {
        "value": k / n if n else math.nan,
        "ci_low": low,
        "ci_high": high,
        "k": float(k),
        "n": float(n),
    }


def rank_findings(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """Highest score first; on a tie the narrower slice (more ``where`` keys), then by id."""
    return tuple(sorted(findings, key=lambda f: (-round(f.score, 12), -len(f.where), f.id)))


def _fmt(x: float) -> str:
    return f"{x:.2f}"


# -- versions -----------------------------------------------------------------
def _natural_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Digits compare as numbers: ``m9 < m10``, ``v1.9 < v1.10``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", version) if p)


def _versions(table: ibis.Table) -> list[str]:
    col = table.model_version.cast("string")
    rows = table.select(v=col).filter(col.notnull()).distinct().to_pyarrow().column("v")
    return sorted((str(v) for v in rows.to_pylist()), key=_natural_key)


def choose_versions(
    versions: Sequence[str], baseline: str | None, candidate: str | None, what: str
) -> tuple[str, str]:
    """``(baseline, candidate)``: the given ones, checked, or the two latest by natural sort."""
    have = ", ".join(versions) or "none"
    for v in (baseline, candidate):
        if v is not None and v not in versions:
            raise UsageError(f"model version {v!r} is not in the {what} (have: {have})")
    if len(versions) < 2:
        raise UsageError(
            f"the {what} hold {len(versions)} model version(s) ({have}); "
            "a regression check compares two model versions"
        )
    cand = candidate if candidate is not None else [v for v in versions if v != baseline][-1]
    if baseline is None:
        others = [v for v in versions if v != cand]
        before = [v for v in others if _natural_key(v) < _natural_key(cand)]
        base = (before or others)[-1]
    else:
        base = baseline
    if base == cand:
        raise UsageError(f"baseline and candidate are the same model version ({base!r})")
    return base, cand


# -- comparing two versions ----------------------------------------------------
@dataclass(frozen=True)
class _Compared:
    key: str  # label, category or "" for the overall KPI
    k_base: int
    n_base: int
    k_cand: int
    n_cand: int
    share: float  # of the slice in the candidate's sample (1 for the overall KPI)
    p_value: float
    test: str
    q_value: float = 1.0

    @property
    def base(self) -> float:
        return self.k_base / self.n_base if self.n_base else math.nan

    @property
    def cand(self) -> float:
        return self.k_cand / self.n_cand if self.n_cand else math.nan


def _compare(counts: dict[str, tuple[int, int, int, int]], total_cand: int) -> list[_Compared]:
    """Test every slice (``key -> (k_base, n_base, k_cand, n_cand)``) and BH-adjust together."""
    rows = []
    for key in sorted(counts):
        kb, nb, kc, nc = counts[key]
        if nb == 0 or nc == 0:
            continue
        p, test = two_proportion_test(kb, nb, kc, nc)
        rows.append(_Compared(key, kb, nb, kc, nc, nc / total_cand if total_cand else 0.0, p, test))
    qs = bh_adjust([r.p_value for r in rows])
    return [
        _Compared(r.key, r.k_base, r.n_base, r.k_cand, r.n_cand, r.share, r.p_value, r.test, q)
        for r, q in zip(rows, qs, strict=True)
    ]


def _evidence(r: _Compared, base: str, cand: str, metric: str) -> dict[str, Any]:
    return {
        "metric": metric,
        "baseline": {"model_version": base, **proportion_summary(r.k_base, r.n_base)},
        "candidate": {"model_version": cand, **proportion_summary(r.k_cand, r.n_cand)},
        "change": r.cand - r.base,
        "share": r.share,
        "p_value": r.p_value,
        "q_value": r.q_value,
        "test": r.test,
    }


def _worse(r: _Compared, higher_is_better: bool, alpha: float) -> bool:
    if r.q_value > alpha:
        return False
    return r.cand < r.base if higher_is_better else r.cand > r.base


# -- predictions against gold --------------------------------------------------
def _with_task(table: ibis.Table) -> ibis.Value:
    if "task" in table.columns:
        return table.task.cast("string").fill_null(DEFAULT_TASK)
    return ibis.literal(DEFAULT_TASK)


def confusion_counts_expr(
    predictions: ibis.Table, gold: ibis.Table, versions: Sequence[str]
) -> ibis.Table:
    """Counts per ``(model_version, task, gold_label, pred_label)`` for ``versions``."""
    p = predictions.filter(predictions.model_version.cast("string").isin(list(versions)))
    p = p.select(
        item_id=p.item_id,
        task=_with_task(p),
        model_version=p.model_version.cast("string"),
        pred_label=p.label.cast("string").fill_null(MISSING),
    )
    g = gold.filter(gold.label.notnull())
    g = g.select(item_id=g.item_id, task=_with_task(g), gold_label=g.label.cast("string"))
    j = p.join(g, ["item_id", "task"])
    return j.group_by(["model_version", "task", "gold_label", "pred_label"]).aggregate(n=j.count())


def model_regression_findings(
    predictions: Any,
    gold: Any,
    *,
    evals: Any | None = None,
    baseline: str | None = None,
    candidate: str | None = None,
    alpha: float = 0.05,
) -> tuple[Finding, ...]:
    """Labels (and eval categories) where ``candidate`` is significantly worse than ``baseline``.

    ``predictions`` (item_id, model_version, label[, task]) and ``gold``
    (item_id, label[, task]) are pyarrow or Ibis tables; the versions default
    to the two latest by natural sort. Per gold label the recall of the two
    versions is compared (BH across labels), and overall accuracy once; with
    ``evals`` the fail rate per category too (see :func:`eval_regression_findings`,
    for the same two versions). Findings of kind ``model_regression``, ranked
    by score (the points of overall quality the slice costs).
    """
    _check_alpha(alpha)
    pred = as_ibis(predictions, "predictions")
    gold_t = as_ibis(gold, "gold")
    require_columns(pred, ("item_id", "model_version", "label"), "predictions")
    require_columns(gold_t, ("item_id", "label"), "gold")
    base, cand = choose_versions(_versions(pred), baseline, candidate, "predictions")
    rows = confusion_counts_expr(pred, gold_t, (base, cand)).to_pyarrow().to_pylist()
    for v in (base, cand):
        if not any(r["model_version"] == v for r in rows):
            raise UsageError(
                f"no prediction of model version {v!r} matches a gold item (by item_id and task)"
            )
    tasks = sorted({str(r["task"]) for r in rows})
    found: list[Finding] = []
    for task in tasks:
        found += _recall_findings(
            [r for r in rows if r["task"] == task], task, tasks, base, cand, alpha
        )
    if evals is not None:
        found += eval_regression_findings(evals, baseline=base, candidate=cand, alpha=alpha)
    return rank_findings(found)


def _recall_findings(
    rows: list[dict[str, Any]], task: str, tasks: list[str], base: str, cand: str, alpha: float
) -> list[Finding]:
    hits: dict[tuple[str, str], int] = defaultdict(int)  # (version, gold label) -> correct
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    missed_as: dict[str, dict[str, int]] = defaultdict(dict)  # candidate's misses per gold label
    for row in rows:
        v, gl, pl, n = (
            str(row["model_version"]),
            str(row["gold_label"]),
            str(row["pred_label"]),
            int(row["n"]),
        )
        sizes[v, gl] += n
        if pl == gl:
            hits[v, gl] += n
        elif v == cand:
            missed_as[gl][pl] = missed_as[gl].get(pl, 0) + n
    labels = sorted({gl for _, gl in sizes})
    counts = {
        lab: (hits[base, lab], sizes[base, lab], hits[cand, lab], sizes[cand, lab])
        for lab in labels
    }
    total = (sum(sizes[base, lab] for lab in labels), sum(sizes[cand, lab] for lab in labels))
    acc_counts = {
        "": (
            sum(hits[base, lab] for lab in labels),
            total[0],
            sum(hits[cand, lab] for lab in labels),
            total[1],
        )
    }
    overall = _compare(acc_counts, total[1])[0]
    where_task = {"task": task} if len(tasks) > 1 else {}
    suffix = f":{task}" if len(tasks) > 1 else ""
    accuracy = {"baseline": overall.base, "candidate": overall.cand}
    out = []
    for r in _compare(counts, total[1]):
        if not _worse(r, True, alpha):
            continue
        misses = sorted(missed_as[r.key].items(), key=lambda kv: (-kv[1], kv[0]))
        n_miss = sum(n for _, n in misses)
        ev = _evidence(r, base, cand, "recall") | {
            "missed_as": {lab: n for lab, n in misses[:3]},
            "overall_accuracy": accuracy,
        }
        drop = f"recall {_fmt(r.base)}→{_fmt(r.cand)}"
        mostly = (
            f" (mostly predicted {misses[0][0]}: {misses[0][1] / n_miss:.0%})" if misses else ""
        )
        out.append(
            Finding(
                id=f"model_regression:{cand}:recall:{r.key}{suffix}",
                kind="model_regression",
                kpi="recall",
                title=f"{cand} recall on {r.key} fell from {_fmt(r.base)} to {_fmt(r.cand)} (vs {base})",
                where={"model_version": cand, "label": r.key, **where_task},
                score=(r.base - r.cand) * r.share,
                action=(
                    f"hold rollout of {cand} for {r.key}: {drop}; add {r.key} training data / "
                    f"review {cand}'s {n_miss} missed {r.key} items{mostly} before rollout"
                ),
                evidence=ev,
                p_value=r.q_value,
            )
        )
    if _worse(overall, True, alpha):
        out.append(
            Finding(
                id=f"model_regression:{cand}:accuracy{suffix}",
                kind="model_regression",
                kpi="accuracy",
                title=f"{cand} accuracy fell from {_fmt(overall.base)} to {_fmt(overall.cand)} (vs {base})",
                where={"model_version": cand, **where_task},
                score=overall.base - overall.cand,
                action=(
                    f"hold rollout of {cand}: accuracy {_fmt(overall.base)}→{_fmt(overall.cand)} "
                    f"on gold; see the per-label recall findings for where it is lost"
                ),
                evidence=_evidence(overall, base, cand, "accuracy"),
                p_value=overall.q_value,
            )
        )
    return out


# -- evals ------------------------------------------------------------------
def eval_counts_expr(evals: ibis.Table, versions: Sequence[str]) -> ibis.Table:
    """Evaluations and fails per ``(model_version, category)`` for ``versions``."""
    e = evals.filter(evals.model_version.cast("string").isin(list(versions)))
    cat = (
        e.category.cast("string").fill_null(MISSING)
        if "category" in e.columns
        else ibis.literal(MISSING)
    )
    fail = (e.outcome.cast("string").lower() == "fail").fill_null(False)
    e = e.select(
        model_version=e.model_version.cast("string"), category=cat, fail=fail.cast("int64")
    )
    return e.group_by(["model_version", "category"]).aggregate(n=e.count(), k=e.fail.sum())


def eval_regression_findings(
    evals: Any,
    *,
    baseline: str | None = None,
    candidate: str | None = None,
    alpha: float = 0.05,
) -> tuple[Finding, ...]:
    """Eval categories where ``candidate`` fails significantly more often than ``baseline``.

    ``evals`` (model_version, item_id, outcome[, category]); the fail rate is
    the share of ``outcome = 'fail'``, compared per category (BH across
    categories) and overall. Score: the increase weighted by the category's
    share of the candidate's evaluations.

    >>> import pyarrow as pa
    >>> ev = pa.table({"model_version": ["m1"] * 100 + ["m2"] * 100, "item_id": list(range(100)) * 2,
    ...     "outcome": ["pass"] * 95 + ["fail"] * 5 + ["pass"] * 70 + ["fail"] * 30})
    >>> f = eval_regression_findings(ev)[0]
    >>> f.kpi, f.where, round(f.score, 2)
    ('eval_fail_rate', {'model_version': 'm2'}, 0.25)
    """
    _check_alpha(alpha)
    t = as_ibis(evals, "evals")
    require_columns(t, ("model_version", "outcome"), "evals")
    base, cand = choose_versions(_versions(t), baseline, candidate, "evals")
    rows = eval_counts_expr(t, (base, cand)).to_pyarrow().to_pylist()
    by: dict[tuple[str, str], tuple[int, int]] = {
        (str(r["model_version"]), str(r["category"])): (int(r["k"] or 0), int(r["n"])) for r in rows
    }
    cats = sorted({c for _, c in by})
    counts = {c: (*by.get((base, c), (0, 0)), *by.get((cand, c), (0, 0))) for c in cats}
    total = sum(counts[c][3] for c in cats)
    out: list[Finding] = []
    if "category" in t.columns:
        out += [
            _eval_finding(r, base, cand, r.key)
            for r in _compare(counts, total)
            if _worse(r, False, alpha)
        ]
    if len(cats) != 1 or "category" not in t.columns:
        sums = [sum(counts[c][i] for c in cats) for i in range(4)]
        overall = _compare({"": (sums[0], sums[1], sums[2], sums[3])}, total)
        out += [_eval_finding(r, base, cand, None) for r in overall if _worse(r, False, alpha)]
    return rank_findings(out)


def _eval_finding(r: _Compared, base: str, cand: str, category: str | None) -> Finding:
    rates = f"eval fail rate {_fmt(r.base)}→{_fmt(r.cand)}"
    on = f" on {category} prompts" if category is not None else ""
    return Finding(
        id=f"model_regression:{cand}:eval_fail_rate"
        + (f":{category}" if category is not None else ""),
        kind="model_regression",
        kpi="eval_fail_rate",
        title=f"{cand} fails more evals{on}: {_fmt(r.base)} → {_fmt(r.cand)} (vs {base})",
        where={"model_version": cand} | ({"category": category} if category is not None else {}),
        score=(r.cand - r.base) * (r.share if category is not None else 1.0),
        action=(
            f"hold rollout of {cand}{'' if category is None else ' for ' + category}: {rates}; "
            f"review the {r.k_cand} failing {cand} evals{on} and add them to the regression suite"
        ),
        evidence=_evidence(r, base, cand, "eval_fail_rate"),
        p_value=r.q_value,
    )


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}")


# -- workspace ------------------------------------------------------------------
def data_loop_findings(ws: Workspace, *, alpha: float = 0.05) -> tuple[Finding, ...]:
    """Model-regression and preference-bias findings for what ``ws`` holds, ranked by score.

    Runs :func:`model_regression_findings` when the workspace has predictions
    and gold, :func:`eval_regression_findings` when it has evals and
    :func:`preference_bias_findings` when it has preferences. A missing table
    gives no findings, and so does a check its data do not allow (a single
    model version, no prediction on a gold item, preferences without
    ``shown_first`` or lengths): the other checks still run.
    """
    from opsloop.rca._preference_checks import preference_bias_findings  # uses this module

    _check_alpha(alpha)
    have = set(ws.table_names())
    runs: list[Callable[[], tuple[Finding, ...]]] = []
    if {"predictions", "gold"} <= have:
        runs.append(
            lambda: model_regression_findings(
                ws.table("predictions"), ws.table("gold"), alpha=alpha
            )
        )
    if "evals" in have:
        runs.append(lambda: eval_regression_findings(ws.table("evals"), alpha=alpha))
    if "preferences" in have:
        runs.append(lambda: preference_bias_findings(ws.table("preferences"), alpha=alpha))
    found: list[Finding] = []
    for run in runs:
        try:
            found += run()
        except UsageError:  # the data do not allow this check
            continue
    return rank_findings(found)
