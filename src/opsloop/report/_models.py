"""The report page's model sections: eval categories across model versions, and the
latest version against its baseline (HTML from the report's JSON form)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opsloop.report import _charts as charts
from opsloop.report._format import e, fmt

_MEASURES = (
    ("fail", "fail rate"),
    ("unsafe_compliance", "attack success"),
    ("over_refusal", "over-refusal"),
)


def _share(p: Mapping[str, Any] | None) -> str:
    if not p or p.get("value") is None:
        return ""
    return (f'{fmt(p["value"], "share")} <span class=muted>'
            f'[{fmt(p.get("ci_low"), "share")}–{fmt(p.get("ci_high"), "share")}]</span>')  # fmt: skip


def _measures(trend: Mapping[str, Any]) -> list[tuple[str, str]]:
    if trend.get("has_refusals"):
        return list(_MEASURES[1:])
    return [_MEASURES[0]]


def _pts(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):+.1f}"


def _delta(row: Mapping[str, Any] | None) -> str:
    """The candidate minus the baseline, in percentage points, its interval, q and verdict."""
    if not row:
        return ""
    verdict = ("worse" if row.get("regression") else
               "better" if row.get("improvement") else "")  # fmt: skip
    pill = f' <span class="pill {"red" if verdict == "worse" else "green"}">{verdict}</span>'
    q = row.get("q_value")
    q_text = "<0.0001" if q is not None and q < 1e-4 else fmt(q)
    return (f'{_pts(row.get("difference"))} pts <span class=muted>[{_pts(row.get("ci_low"))}, '
            f'{_pts(row.get("ci_high"))}] q {q_text} · {row.get("n", 0):,} pairs</span>'
            + (pill if verdict else ""))  # fmt: skip


def _rows_by_key(comparison: Mapping[str, Any] | None) -> dict[tuple[str, Any], Mapping[str, Any]]:
    rows = (comparison or {}).get("rows", [])
    return {(r["measure"], r.get("category")): r for r in rows}


def _table(trend: Mapping[str, Any], comparison: Mapping[str, Any] | None) -> str:
    versions: Sequence[str] = trend.get("versions", [])
    measures = _measures(trend)
    paired = _rows_by_key(comparison)
    head = "".join(f"<th>{e(v)}</th>" for v in versions)
    cmp_head = (f'<th>{e(comparison["base"])} → {e(comparison["candidate"])}</th>'
                if comparison else "")  # fmt: skip
    by_cat: dict[Any, dict[str, Mapping[str, Any]]] = {}
    for p in [*trend.get("points", []), *trend.get("overall", [])]:
        by_cat.setdefault(p.get("category"), {})[p["model_version"]] = p
    body = []
    for cat in [*trend.get("categories", []), None]:
        if cat not in by_cat:
            continue
        for key, name in measures:
            shares = [by_cat[cat].get(v, {}).get(key) for v in versions]
            if not any(shares):  # no prompt of this kind in the category
                continue
            cells = "".join(f"<td class=num>{_share(x)}</td>" for x in shares)
            delta = f"<td>{_delta(paired.get((key, cat)))}</td>" if comparison else ""
            label = "all categories" if cat is None else cat
            body.append(f"<tr><td>{e(label)}</td><td>{e(name)}</td>{cells}{delta}</tr>")
    return (f"<table><thead><tr><th>category</th><th>measure</th>{head}{cmp_head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")  # fmt: skip


def _verdict(comparison: Mapping[str, Any]) -> str:
    base, cand = e(comparison["base"]), e(comparison["candidate"])
    items = comparison.get("items", {})
    found = comparison.get("regressions", [])
    names = dict(_MEASURES)
    if found:
        where = ", ".join(f"{names.get(r['measure'], r['measure'])} on "
                          f"{r['category'] if r.get('category') else 'all categories'}"
                          for r in found)  # fmt: skip
        text = f'<span class="pill red">regression</span> {cand} is worse than {base}: {e(where)}'
    else:
        text = f'<span class="pill green">no regression</span> {cand} against {base}'
    return (f"<p>{text}. Paired on {items.get('paired', 0):,} items "
            f"({e(comparison.get('test', ''))}, Benjamini–Hochberg across categories, "
            f"α = {comparison.get('alpha')}; intervals {e(comparison.get('interval', ''))}). "
            f"The same check gates a release: <code>opsloop evals compare --base {base} "
            f"--candidate {cand}</code> exits 1 on a regression.</p>")  # fmt: skip


def model_versions(data: Mapping[str, Any]) -> str:
    """Eval categories across model versions, with the latest comparison."""
    mv = data.get("model_versions")
    head = '<section id="models"><h2>Model versions</h2>'
    if not mv:
        return (head + "<p class=muted>no evals table: ingest model evaluations "
                "(<code>opsloop ingest evals FILE</code>) to follow safety categories across "
                "model versions</p></section>")  # fmt: skip
    trend, comparison = mv["trend"], mv.get("comparison")
    measures = _measures(trend)
    chart = charts.version_chart(trend.get("overall", []), measures,
                                 title="all categories, by model version",
                                 div_id="chart-model-versions")  # fmt: skip
    verdict = _verdict(comparison) if comparison else (
        "<p class=muted>one model version: nothing to compare yet</p>")  # fmt: skip
    side = (" Attack success is the share of prompts to refuse that the model answered; "
            "over-refusal the share of safe prompts it refused. Fixing one often breaks the "
            "other, so they are shown side by side." if trend.get("has_refusals") else "")
    return (head + verdict + chart + f"<p class=muted>Rates with Wilson 95% intervals on the "
            f"items each version was run on.{side}</p>" + _table(trend, comparison)
            + "</section>")  # fmt: skip


def _policy_rows(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per policy (in stored order): labels, cost and each overall metric."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.get("label") is not None:
            continue
        row = rows.setdefault(r["policy"], {"policy": r["policy"], "cost": r.get("cost"),
                                            "n_labels": r.get("n_labels")})  # fmt: skip
        row[r["metric"]] = {"value": r.get("value"), "ci_low": r.get("ci_low"),
                            "ci_high": r.get("ci_high")}  # fmt: skip
        row[f"{r['metric']}_diff"] = (r.get("diff"), r.get("diff_low"), r.get("diff_high"))
        if r["metric"] == "accuracy":
            row["q_value"] = r.get("q_value")
    return list(rows.values())


def _diff(d: tuple[Any, Any, Any] | None) -> str:
    if not d or d[0] is None:
        return "<span class=muted>baseline</span>"
    return f"{_pts(d[0])} <span class=muted>[{_pts(d[1])}, {_pts(d[2])}]</span>"


def _impact_headline(rows: Sequence[Mapping[str, Any]], baseline: str) -> str:
    """What the experiment says, in points of violating recall against the baseline."""
    def gain(policy: str) -> tuple[Any, Any, Any] | None:
        row = next((r for r in rows if r["policy"] == policy), None)
        d = row.get("violating_recall_diff") if row else None
        return d if d and d[0] is not None else None

    parts = []
    others = [r for r in rows if r["policy"] != baseline and gain(r["policy"])]
    if others:
        best = max(others, key=lambda r: gain(r["policy"])[0])  # type: ignore[index]
        d = gain(best["policy"])
        parts.append(f"the best policy, <b>{e(best['policy'])}</b>, changes recall on "
                     f"violating labels by {_diff(d)} points against {e(baseline)}")  # fmt: skip
    for r in rows:
        if r["policy"].startswith("relabel:"):
            k = r["policy"].split(":", 1)[1]
            top, rnd = gain(r["policy"]), gain(f"relabel-random:{k}")
            if top and rnd:
                parts.append(f"relabelling the top {e(k)}% of the label-error ranking gives "
                             f"{_pts(top[0])} points, the same budget at random "
                             f"{_pts(rnd[0])}")  # fmt: skip
    return ("<p>" + "; ".join(parts) + ".</p>") if parts else ""


def model_impact(data: Mapping[str, Any]) -> str:
    """The latest label-policy experiment (``opsloop impact --save``)."""
    imp = data.get("impact")
    head = '<section id="impact"><h2>Model impact of labelling policies</h2>'
    if not imp:
        return (head + "<p class=muted>no stored experiment: <code>opsloop impact --save</code> "
                "trains the same model on the labels of each policy (majority, Dawid–Skene, "
                "gold, without flagged raters, a relabel budget …) and shows what each does "
                "to the model</p></section>")  # fmt: skip
    run = imp["run"]
    rows = _policy_rows(imp["results"])
    baseline = str(run.get("baseline"))
    stale = (" <span class=\"pill amber\">data changed since</span> rerun "
             "<code>opsloop impact --save</code>" if imp.get("stale") else "")  # fmt: skip
    when = str(run.get("created_at", ""))[:16].replace("T", " ")
    about = (f"<p class=muted>Run {run.get('run_id')} ({e(when)}){stale}: "
             f"{e(run.get('model', ''))}, trained on each policy's labels and measured on the "
             f"same {run.get('n_eval', 0):,} held-out items ({e(run.get('evaluation', ''))}), "
             f"seeds {e(run.get('seeds', ''))}; 95% bootstrap intervals over the evaluation "
             f"items; differences are paired, against {e(baseline)}. Cost is labels × unit "
             f"cost ({e(run.get('cost_unit', ''))}); gold and relabels are costed at the mean "
             "unit cost of an annotation unless the run set another.</p>")  # fmt: skip
    body = "".join(
        f"<tr><td>{e(r['policy'])}</td><td class=num>{r.get('n_labels') or 0:,}</td>"
        f"<td class=num>{fmt(r.get('cost'), 'count')}</td>"
        f"<td class=num>{_share(r.get('accuracy'))}</td>"
        f"<td class=num>{_share(r.get('macro_f1'))}</td>"
        f"<td class=num>{_share(r.get('violating_recall'))}</td>"
        f"<td>{_diff(r.get('violating_recall_diff'))}</td></tr>"
        for r in rows
    )
    table = ("<table><thead><tr><th>policy</th><th>labels</th><th>cost</th><th>accuracy</th>"
             "<th>macro-F1</th><th>violating recall</th><th>Δ violating recall, pts</th></tr>"
             f"</thead><tbody>{body}</tbody></table>")  # fmt: skip
    chart = charts.cost_chart(rows, metric="violating_recall",
                              title="recall on violating labels against labelling cost",
                              div_id="chart-impact")  # fmt: skip
    return head + _impact_headline(rows, baseline) + about + chart + table + "</section>"
