"""Preference-data bias: do judgements depend on where or how long a response is?

For pairwise preference data (RLHF, LLM-as-a-judge) two well-known biases
are measured on the non-tie judgements (Zheng et al., 2023, "Judging
LLM-as-a-judge with MT-Bench and Chatbot Arena", §3.3; Dubois et al., 2024,
"Length-controlled AlpacaEval")::

    first_shown_win_rate = Σ 1[choice = shown_first] / n
    longer_win_rate      = Σ 1[choice = longer] / n   over pairs with max(len) > 1.2 · min(len)

With quality independent of order and length both are 0.5. Each is tested
against 0.5 with the exact two-sided binomial test and carries a Wilson
(1927) interval. Per rater, the first-shown win rate is tested the same way
and the p-values adjusted with Benjamini–Hochberg (1995); raters whose
adjusted p-value is at most ``alpha`` are listed. Lengths are ``len_a`` /
``len_b`` when the table has them, else the character lengths of
``response_a`` / ``response_b``.

A finding's ``score``, in ``bias_points``, is the excess over 0.5
(``|rate − 0.5|``); for the rater finding, the flagged raters' share of that
excess, ``Σ_r (n_r / n) · |rate_r − 0.5|``.

>>> import pyarrow as pa
>>> prefs = pa.table({"pair_id": [f"p{i}" for i in range(100)], "rater_id": ["r1"] * 100,
...     "choice": ["a", "b"] * 35 + ["b", "a"] * 15, "shown_first": ["a", "b"] * 50})
>>> [(f.id, round(f.score, 2)) for f in preference_bias_findings(prefs)]
[('preference_bias:position', 0.2), ('preference_bias:position_by_rater', 0.2)]
"""

from __future__ import annotations

from typing import Any

import ibis

from opsloop.engine import Workspace
from opsloop.errors import UsageError
from opsloop.findings import Finding, Proportion, rank_findings
from opsloop.metrics._slicing import MISSING, as_ibis, require_columns
from opsloop.preferences._evidence import (
    LengthBiasEvidence,
    PositionBiasEvidence,
    RaterPosition,
    RaterPositionBiasEvidence,
)
from opsloop.stats import bh_adjust, binomial_test

LENGTH_RATIO = 1.2  # pairs whose lengths differ by more than 20%
RANDOMISED_WITHIN = 0.05  # |share of 'a' shown first − 0.5| below this: order is randomised
TOP_RATERS = 10
TEST = "exact binomial vs 0.5"


def _choice(t: ibis.Table) -> ibis.Value:
    return t.choice.cast("string").lower()


def position_counts_expr(t: ibis.Table) -> ibis.Table:
    """Per rater: non-tie judgements ``n``, first-shown wins ``k``, 'a' shown first ``a_first``."""
    rater = (
        t.rater_id.cast("string").fill_null(MISSING)
        if "rater_id" in t.columns
        else ibis.literal(MISSING)
    )
    s = t.select(rater_id=rater, choice=_choice(t), first=t.shown_first.cast("string").lower())
    s = s.filter(s.choice.isin(["a", "b"]), s.first.isin(["a", "b"]))
    return s.group_by("rater_id").aggregate(
        n=s.count(),
        k=(s.choice == s.first).cast("int64").sum(),
        a_first=(s.first == "a").cast("int64").sum(),
    )


def _lengths(t: ibis.Table) -> tuple[ibis.Value, ibis.Value, str] | None:
    cols = set(t.columns)
    text = {"response_a", "response_b"} <= cols
    if {"len_a", "len_b"} <= cols:
        la, lb = t.len_a.cast("float64"), t.len_b.cast("float64")
        if text:
            la = la.coalesce(t.response_a.cast("string").length().cast("float64"))
            lb = lb.coalesce(t.response_b.cast("string").length().cast("float64"))
        return la, lb, "len_a/len_b"
    if text:
        la = t.response_a.cast("string").length().cast("float64")
        lb = t.response_b.cast("string").length().cast("float64")
        return la, lb, "characters of response_a/response_b"
    return None


def length_counts_expr(t: ibis.Table, len_a: ibis.Value, len_b: ibis.Value) -> ibis.Table:
    """One row: non-tie judgements with lengths ``pairs``, those whose lengths differ by more
    than 20% ``n``, and among them the ones the longer response won ``k``."""
    s = t.select(choice=_choice(t), la=len_a, lb=len_b)
    s = s.filter(s.choice.isin(["a", "b"]), s.la.notnull(), s.lb.notnull())
    differ = ibis.greatest(s.la, s.lb) > LENGTH_RATIO * ibis.least(s.la, s.lb)
    won = (s.choice == "a") == (s.la > s.lb)
    return s.aggregate(
        pairs=s.count(),
        n=differ.cast("int64").sum(),
        k=(differ & won).cast("int64").sum(),
    )


def preference_bias_findings(preferences: Any, *, alpha: float = 0.05) -> tuple[Finding, ...]:
    """Position and length bias in preference judgements, overall and per rater.

    ``preferences`` (pyarrow or Ibis) needs ``choice`` (a|b|tie) and
    ``shown_first`` (a|b) for position bias, and ``len_a``/``len_b`` or
    ``response_a``/``response_b`` for length bias; either is enough. Findings
    of kind ``preference_bias`` (kpi ``first_shown_win_rate`` or
    ``longer_win_rate``), ranked by score.
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}")
    t = as_ibis(preferences, "preferences")
    require_columns(t, ("choice",), "preferences")
    lengths = _lengths(t)
    if "shown_first" not in t.columns and lengths is None:
        raise UsageError(
            "preferences need shown_first (for position bias) or len_a/len_b or "
            f"response_a/response_b (for length bias); have: {', '.join(t.columns)}"
        )
    found: list[Finding] = []
    if "shown_first" in t.columns:
        rows = position_counts_expr(t).to_pyarrow().to_pylist()
        found += _position_findings(rows, alpha)
    if lengths is not None:
        la, lb, source = lengths
        row = length_counts_expr(t, la, lb).to_pyarrow().to_pylist()[0]
        found += _length_findings(row, source, alpha)
    return rank_findings(found)


def _position_findings(rows: list[dict[str, Any]], alpha: float) -> list[Finding]:
    n = sum(int(r["n"]) for r in rows)
    if n == 0:
        return []
    k = sum(int(r["k"] or 0) for r in rows)
    a_share = sum(int(r["a_first"] or 0) for r in rows) / n
    randomised = abs(a_share - 0.5) < RANDOMISED_WITHIN
    order = (
        "randomise order is already in place so discount position"
        if randomised
        else f"randomise the response order (a was shown first in {a_share:.0%} of judgements) "
        "and discount position"
    )
    rate, p = k / n, binomial_test(k, n)
    out: list[Finding] = []
    if p <= alpha and rate != 0.5:
        first = "first" if rate > 0.5 else "second"
        win = Proportion.of(k, n)
        out.append(
            Finding(
                id="preference_bias:position",
                kpi="first_shown_win_rate",
                title=(
                    f"Preference raters favour the response shown {first}: the first-shown "
                    f"response wins {rate:.1%} of {n:,} non-tie judgements "
                    f"(95% CI {win.ci_low:.1%}–{win.ci_high:.1%}; unbiased 50%)"
                ),
                where={"shown_first": "a|b"},
                score=abs(rate - 0.5),
                unit="bias_points",
                action=(
                    f"{order}: model the shown-first position as a covariate (or down-weight "
                    "position-decided judgements) when training on these preferences, and "
                    "retrain raters to read both responses before choosing"
                ),
                evidence=PositionBiasEvidence(win, p, TEST, a_share, randomised),
                p_value=p,
            )
        )
    raters = _rater_finding(rows, n, order, alpha)
    return out + ([raters] if raters else [])


def _rater_finding(
    rows: list[dict[str, Any]], total: int, order: str, alpha: float
) -> Finding | None:
    tested = [r for r in rows if int(r["n"]) > 0]
    ps = [binomial_test(int(r["k"] or 0), int(r["n"])) for r in tested]
    qs = bh_adjust(ps)
    flagged: list[RaterPosition] = []
    for r, p, q in zip(tested, ps, qs, strict=True):
        n_r, k_r = int(r["n"]), int(r["k"] or 0)
        if q <= alpha and 2 * k_r != n_r:
            favours = "first" if 2 * k_r > n_r else "second"
            flagged.append(RaterPosition(str(r["rater_id"]), favours, Proportion.of(k_r, n_r),
                                         p, float(q)))  # fmt: skip
    if not flagged:
        return None
    flagged.sort(key=lambda d: (-abs(d.win_rate.value - 0.5), d.rater_id))
    score = sum(d.win_rate.n / total * abs(d.win_rate.value - 0.5) for d in flagged)
    top = ", ".join(f"{d.rater_id} ({d.win_rate.value:.2f} of {int(d.win_rate.n)})"
                    for d in flagged[:5])  # fmt: skip
    more = f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
    return Finding(
        id="preference_bias:position_by_rater",
        kpi="first_shown_win_rate",
        title=(
            f"{len(flagged)} of {len(tested)} preference raters choose by position "
            "(first-shown win rate significantly off 0.5)"
        ),
        where={"rater_id": "|".join(d.rater_id for d in flagged)},
        score=score,
        unit="bias_points",
        action=(
            f"retrain/reweight raters {top}{more} whose first-shown win rate is significantly "
            f"off 0.5 (BH-adjusted, α = {alpha}); {order}"
        ),
        evidence=RaterPositionBiasEvidence(
            tuple(flagged[:TOP_RATERS]),
            len(flagged),
            len(tested),
            int(sum(d.win_rate.n for d in flagged)),
            f"{TEST}, Benjamini–Hochberg across raters",
        ),
        p_value=min(d.q_value for d in flagged),
    )


def _length_findings(row: dict[str, Any], source: str, alpha: float) -> list[Finding]:
    n, k, pairs = int(row["n"] or 0), int(row["k"] or 0), int(row["pairs"] or 0)
    if n == 0:
        return []
    rate, p = k / n, binomial_test(k, n)
    if p > alpha or rate == 0.5:
        return []
    longer = "longer" if rate > 0.5 else "shorter"
    win = Proportion.of(k, n)
    return [
        Finding(
            id="preference_bias:length",
            kpi="longer_win_rate",
            title=(
                f"Preference raters favour the {longer} response: the longer one wins "
                f"{rate:.1%} of {n:,} non-tie judgements whose lengths differ by more than 20% "
                f"(95% CI {win.ci_low:.1%}–{win.ci_high:.1%}; unbiased 50%)"
            ),
            where={"longer": "a|b"},
            score=abs(rate - 0.5),
            unit="bias_points",
            action=(
                "control for length: add a length term or length-matched pairs when training "
                "on these preferences (length-controlled win rates), brief raters to judge "
                "content rather than length, and check on a length-matched sample whether "
                "longer responses are in fact better"
            ),
            evidence=LengthBiasEvidence(win, p, TEST, pairs, LENGTH_RATIO, source),
            p_value=p,
        )
    ]


def workspace_preference_findings(ws: Workspace, *, alpha: float = 0.05) -> tuple[Finding, ...]:
    """Preference-bias findings for the workspace's ``preferences`` table, ranked.

    No table, or one without the columns a check needs, gives no findings.
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}")
    if "preferences" not in set(ws.table_names()):
        return ()
    try:
        return preference_bias_findings(ws.table("preferences"), alpha=alpha)
    except UsageError:  # the data do not allow this check
        return ()
