"""Render the weekly report as one self-contained HTML file from its JSON form.

The page embeds plotly.js once (shipped inside the plotly package), so it
opens offline; every chart and table is drawn from ``report.json``'s dict.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from opsloop.monitor import KPIS
from opsloop.report import _charts as charts

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#b8c0cc;font-size:13px}
nav{background:#fff;border-bottom:1px solid #e3e6eb;padding:8px 32px;font-size:13px;position:sticky;top:0;z-index:5}
nav a{margin-right:16px;color:#3b6fd8;text-decoration:none}
main{max-width:1180px;margin:0 auto;padding:16px 32px 48px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
h2{font-size:17px;margin:0 0 12px}h3{font-size:14px;margin:16px 0 8px}
.kpis{display:flex;flex-wrap:wrap;gap:10px}
.kpi{border:1px solid #e3e6eb;border-radius:6px;padding:8px 12px;min-width:150px;flex:0 0 auto}
.kpi .v{font-size:20px;font-weight:600}.kpi .n{font-size:12px;color:#5b6472}
.kpi.green{border-left:5px solid #2e9e5b}.kpi.amber{border-left:5px solid #e0a400}
.kpi.red{border-left:5px solid #d64545}.kpi.none{border-left:5px solid #c5cad3}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{color:#5b6472;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;color:#fff}
.pill.red{background:#d64545}.pill.amber{background:#e0a400}.pill.green{background:#2e9e5b}.pill.none{background:#9aa3af}
.finding{border-left:4px solid #3b6fd8;padding:6px 12px;margin:8px 0;background:#f8f9fb}
.finding .t{font-weight:600}.finding .a{color:#1f6d3d;margin-top:4px}.finding .e{color:#5b6472;font-size:12px}
.note{color:#8a5a00;font-size:13px}.muted{color:#5b6472;font-size:13px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _fmt(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    v = float(value)
    if unit == "share":
        return f"{100 * v:.1f}%"
    if unit == "currency":
        return f"${v:,.3f}"
    if unit == "seconds":
        return f"{v:,.1f} s"
    if unit == "count":
        return f"{v:,.0f}"
    return f"{v:,.3f}"


def _unit(kpi: str) -> str:
    return KPIS[kpi].unit if kpi in KPIS else ""


def _pill(status: str) -> str:
    return f'<span class="pill {_e(status)}">{_e(status)}</span>'


def _summary(data: Mapping[str, Any]) -> str:
    mon = data.get("monitor") or {}
    cards = []
    for s in mon.get("statuses", []):
        if s.get("where") or s.get("scope", "latest") != "latest":
            continue
        kpi = str(s.get("kpi"))
        unit = _unit(kpi)
        ci = ""
        if s.get("ci_low") is not None and s.get("ci_high") is not None:
            ci = f"95% CI {_fmt(s['ci_low'], unit)}–{_fmt(s['ci_high'], unit)}"
        target = f"target {_fmt(s.get('target'), unit)}" if s.get("target") is not None else ""
        label = KPIS[kpi].label if kpi in KPIS else kpi
        cards.append(
            f'<div class="kpi {_e(s.get("status", "none"))}" data-kpi="{_e(kpi)}">'
            f'<div class="n">{_e(label)}</div><div class="v">{_fmt(s.get("value"), unit)}</div>'
            f'<div class="n">{_e(ci)}</div><div class="n">{_e(target)} · {_e(s.get("status"))}</div></div>'
        )
    breaches = "".join(
        f"<li>{_pill('red' if b.get('kind') == 'red' else 'amber')} {_e(b.get('message'))}</li>"
        for b in mon.get("breaches", [])[:12]
    )
    top = _all_findings(data, data_loop=False)[:3]
    headline = "".join(f"<li><b>{_e(f['title'])}</b> — {_e(f['action'])}</li>" for f in top)
    week = data.get("week") or {}
    return (
        f'<section id="summary"><h2>Executive summary · week {_e(week.get("label", "–"))}</h2>'
        f'<div class="kpis">{"".join(cards) or "<p class=note>no KPI targets or no data</p>"}</div>'
        + (f"<h3>Breaches and signals</h3><ul>{breaches}</ul>" if breaches else "")
        + (f"<h3>Top root causes</h3><ol>{headline}</ol>" if headline else "")
        + "</section>"
    )


def _targets(mon: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(s.get("kpi")): s.get("target") for s in mon.get("statuses", []) if not s.get("where")
    }


def _trends(data: Mapping[str, Any]) -> str:
    mon = data.get("monitor") or {}
    targets = _targets(mon)
    divs = []
    for i, s in enumerate(mon.get("series", [])):
        kpi = str(s.get("kpi"))
        label = KPIS[kpi].label if kpi in KPIS else kpi
        divs.append(
            charts.trend_chart(
                s,
                title=label,
                share=_unit(kpi) == "share",
                target=targets.get(kpi),
                div_id=f"trend-{i}",
            )
        )
    body = f'<div class="grid">{"".join(divs)}</div>' if divs else "<p class=note>no series</p>"
    return (
        '<section id="trends"><h2>Trends with control limits</h2>'
        '<p class="muted">Weekly values with 95% intervals; p-chart limits follow each week\'s n '
        "(3σ), EWMA (λ = 0.2) catches small sustained shifts; red points are signals.</p>"
        f"{body}</section>"
    )


def _slices(data: Mapping[str, Any]) -> str:
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in data.get("slices", []):
        groups.setdefault((str(r["kpi"]), str(r["dimension"])), []).append(r)
    mon = data.get("monitor") or {}
    targets = _targets(mon)
    divs = []
    for i, ((kpi, dim), rows) in enumerate(groups.items()):
        label = KPIS[kpi].label if kpi in KPIS else kpi
        divs.append(
            charts.slice_chart(
                rows,
                title=f"{label} by {dim}",
                share=_unit(kpi) == "share",
                div_id=f"slice-{i}",
                target=targets.get(kpi),
            )
        )
    atable = _agreement_table(data.get("agreement_by_slice", []))
    return (
        '<section id="slices"><h2>Accuracy and agreement by slice</h2>'
        '<p class="muted">The week under review (bars, 95% CI) against the four weeks before '
        "(ticks).</p>"
        f'<div class="grid">{"".join(divs)}</div>'
        f"<h3>Agreement by slice (week under review)</h3>{atable}</section>"
    )


def _agreement_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p class=note>no items with two or more raters in the week</p>"
    by: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        key = (str(r.get("dimension")), str(r.get("slice_value")))
        by.setdefault(key, {})[str(r.get("metric"))] = r
    body = []
    for (dim, val), m in by.items():
        a, g = m.get("krippendorff_alpha", {}), m.get("gwet_ac1", {})
        body.append(
            f"<tr><td>{_e(dim)}</td><td>{_e(val)}</td>"
            f"<td class=num>{_fmt(a.get('value'))}</td><td class=num>{_fmt(g.get('value'))}</td>"
            f"<td class=num>{_e(g.get('n_items', a.get('n_items', '')))}</td></tr>"
        )
    return (
        "<table><tr><th>dimension</th><th>value</th><th>Krippendorff α</th><th>Gwet AC1</th>"
        f"<th>items</th></tr>{''.join(body)}</table>"
    )


def _raters(data: Mapping[str, Any]) -> str:
    cards = data.get("scorecards", [])
    if not cards:
        return '<section id="raters"><h2>Rater scorecards</h2><p class=note>no raters</p></section>'
    mon = data.get("monitor") or {}
    target = next(
        (s.get("target") for s in mon.get("statuses", []) if s.get("kpi") == "accuracy"), None
    )
    attrs = [c for c in ("vendor", "site") if c in cards[0]]
    head = "".join(f"<th>{a}</th>" for a in attrs)
    body = []
    for c in cards[:30]:
        ci = c.get("accuracy_ci") or [None, None]
        body.append(
            f"<tr><td>{_e(c['rater_id'])}</td>"
            + "".join(f"<td>{_e(c.get(a, ''))}</td>" for a in attrs)
            + f"<td class=num>{c['annotations']:,}</td>"
            f"<td class=num>{_fmt(c.get('accuracy'), 'share')}</td>"
            f"<td class=num>{_fmt(ci[0], 'share')}–{_fmt(ci[1], 'share')}</td>"
            f"<td class=num>{_fmt(c.get('audit_accuracy'), 'share')}</td>"
            f"<td class=num>{_fmt(c.get('avg_handling_time_s'), 'seconds')}</td>"
            f"<td class=num>{_fmt(c.get('unit_cost'), 'currency')}</td>"
            f"<td class=num>{_fmt(c.get('cost_per_correct_label'), 'currency')}</td>"
            f"<td>{_e(c.get('flag', ''))}</td></tr>"
        )
    flagged = sum(1 for c in cards if c.get("flag"))
    return (
        '<section id="raters"><h2>Rater scorecards (last four weeks)</h2>'
        f'<p class="muted">{len(cards):,} raters; {flagged:,} with accuracy wholly below target '
        "(95% CI). Worst 30 shown; all in report.json.</p>"
        + charts.scorecard_chart(cards, div_id="raters-scatter", target=target)
        + f"<table><tr><th>rater</th>{head}<th>annotations</th><th>accuracy</th><th>95% CI</th>"
        "<th>audit acc.</th><th>AHT</th><th>unit cost</th><th>cost / correct</th><th>flag</th></tr>"
        + "".join(body)
        + "</table></section>"
    )


def _all_findings(data: Mapping[str, Any], *, data_loop: bool = True) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for c in data.get("changes", []):
        analysis = c.get("analysis") or {}
        for f in analysis.get("findings", []):
            key = f"{f.get('id')}|{c['after']['label']}"
            if key not in seen:
                seen.add(key)
                out.append({**f, "title": f"{c['after']['label']}: {f.get('title')}"})
    if data_loop:
        out += data.get("data_loop", [])
    return sorted(out, key=lambda f: -float(f.get("score") or 0.0))


def _short(text: str, limit: int = 60) -> str:
    if len(text) <= limit:
        return text
    parts = text.split("|")
    more = f" … ({len(parts)} values)" if len(parts) > 1 else " …"
    return text[:limit].rsplit("|", 1)[0] + more


def _finding(f: Mapping[str, Any]) -> str:
    ev = f.get("evidence") or {}
    parts = []
    for k, v in list(ev.items())[:8]:
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, (list, dict)):
            v = str(v)[:120]
        parts.append(f"{k}: {v}")
    where = ", ".join(f"{k}={_short(str(v))}" for k, v in (f.get("where") or {}).items())
    return (
        f'<div class="finding" data-kind="{_e(f.get("kind"))}"><div class="t">{_e(f.get("title"))}</div>'
        f'<div class="e">{_e(f.get("kind"))} · {_e(where)} · explains '
        f"{100 * float(f.get('score') or 0):.2f} pts · {_e('; '.join(parts))}</div>"
        f'<div class="a">→ {_e(f.get("action"))}</div></div>'
    )


def _causes(data: Mapping[str, Any]) -> str:
    blocks = []
    for i, c in enumerate(data.get("changes", [])):
        kpi = str(c.get("kpi"))
        unit = _unit(kpi)
        delta = float(c["change"])
        moved = f"{100 * delta:+.1f} pts" if unit == "share" else f"{delta:+.4g}"
        head = (
            f"<h3>{_e(KPIS[kpi].label if kpi in KPIS else kpi)}: {_e(c['before']['label'])} → "
            f"{_e(c['after']['label'])} ({moved}, p = {float(c['p_value']):.2g})</h3>"
        )
        a = c.get("analysis")
        if not a:
            blocks.append(head + f"<p class=note>{_e(c.get('note') or 'not analysed')}</p>")
            continue
        deco = a.get("decomposition") or a.get("kitagawa") or []
        chart = (
            charts.decomposition_chart(deco, title="Mix versus rate (Kitagawa)", div_id=f"deco-{i}")
            if deco
            else ""
        )
        findings = "".join(_finding(f) for f in a.get("findings", [])[:5])
        blocks.append(head + chart + (findings or "<p class=muted>no significant finding</p>"))
    loop = "".join(_finding(f) for f in data.get("data_loop", []))
    return (
        '<section id="root-causes"><h2>Root causes and recommended actions</h2>'
        + ("".join(blocks) or "<p class=muted>no significant change to analyse</p>")
        + "</section>"
        + '<section id="data-loop"><h2>Model and preference data</h2>'
        + (loop or "<p class=muted>no model or preference findings</p>")
        + "</section>"
    )


def _notes(data: Mapping[str, Any]) -> str:
    notes = data.get("notes", [])
    if not notes:
        return ""
    items = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return f'<section id="notes"><h2>What could not be computed</h2><ul class="note">{items}</ul></section>'


def render_html(data: Mapping[str, Any]) -> str:
    """The report (its ``to_dict()`` form) as a standalone HTML document."""
    window = data.get("window") or {}
    tables = ", ".join(f"{k} {v:,}" for k, v in (data.get("tables") or {}).items())
    nav = "".join(
        f'<a href="#{s}">{t}</a>'
        for s, t in (
            ("summary", "Summary"),
            ("trends", "Trends"),
            ("slices", "Slices"),
            ("raters", "Raters"),
            ("root-causes", "Root causes"),
            ("data-loop", "Model & preferences"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>opsloop weekly quality report · {_e(data.get("project", ""))}</title><style>{_CSS}</style>
<script>{charts.plotly_js()}</script></head>
<body><header><h1>Weekly quality report · {_e(data.get("project", ""))}</h1>
<p>data {_e(window.get("first_day") or "–")} to {_e(window.get("last_day") or "–")} · {_e(tables)} · generated {_e(data.get("generated_at", ""))} by opsloop</p></header>
<nav>{nav}</nav>
<main>
{_summary(data)}
{_trends(data)}
{_slices(data)}
{_raters(data)}
{_causes(data)}
{_notes(data)}
</main></body></html>
"""
