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
