"""Render the weekly report as one self-contained HTML file from its JSON form.

The page embeds plotly.js once (shipped inside the plotly package), so it
opens offline; every chart and table is drawn from ``report.json``'s dict.
When the annotations answer several questions, every chart and table names
its task; without dates the page covers the whole period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opsloop.report import _charts as charts
from opsloop.report._format import (
    count,
    e,
    fmt,
    kpi_label,
    kpi_needs,
    missing,
    task_suffix,
    unit,
)
from opsloop.report._models import model_impact, model_versions
from opsloop.report._sections import all_findings, causes, inference, notes, pill, raters

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


def _cards(mon: Mapping[str, Any], scope: str) -> list[str]:
    cards = []
    for s in mon.get("statuses", []):
        where = s.get("where") or {}
        if set(where) - {"task"} or s.get("scope", "latest") != scope:
            continue
        kpi = str(s.get("kpi"))
        u = unit(kpi)
        ci = ""
        if not missing(s.get("ci_low")) and not missing(s.get("ci_high")):
            ci = f"95% CI {fmt(s['ci_low'], u)}–{fmt(s['ci_high'], u)}"
        target = f"target {fmt(s.get('target'), u)}" if s.get("target") is not None else "no target"
        task = where.get("task", "")
        n = "" if missing(s.get("n")) else f"n {count(s.get('n'))}"
        cards.append(
            f'<div class="kpi {e(s.get("status", "none"))}" data-kpi="{e(kpi)}" data-task="{e(task)}">'
            f'<div class="n">{e(kpi_label(kpi) + task_suffix(where))}</div>'
            f'<div class="v">{fmt(s.get("value"), u, kpi_needs(kpi))}</div>'
            f'<div class="n">{e(ci)}</div><div class="n">{e(" · ".join(x for x in (n, target, str(s.get("status"))) if x))}</div></div>'
        )
    return cards


def _review(data: Mapping[str, Any]) -> str:
    review = data.get("review") or {}
    lines = []
    if review:
        lines.append(f"Week under review: {e(review.get('label'))} "
                     f"({count(review.get('items_handled'))} items handled).")  # fmt: skip
    if review.get("message"):
        lines.append(f'<span class="note">{e(review["message"])}</span>')
    if not data.get("dated", True):
        lines.append('<span class="note">No annotation has a submitted_at date: every figure '
                     "covers the whole period; trends and weekly root causes need dates.</span>")  # fmt: skip
    return f'<p class="muted">{" ".join(lines)}</p>' if lines else ""


def _summary(data: Mapping[str, Any]) -> str:
    mon = data.get("monitor") or {}
    dated = data.get("dated", True)
    cards = _cards(mon, "latest" if dated else "window")
    breaches = "".join(
        f"<li>{pill('red' if b.get('kind') == 'red' else 'amber')} {e(b.get('message'))}</li>"
        for b in mon.get("breaches", [])[:12]
    )
    top = all_findings(data, data_loop=False)[:3]
    headline = "".join(f"<li><b>{e(f['title'])}</b> — {e(f['action'])}</li>" for f in top)
    week = data.get("week") or {}
    title = f"Executive summary · week {e(week.get('label', '–'))}" if dated else (
        "Executive summary · whole period (no dates)")  # fmt: skip
    return (
        f'<section id="summary"><h2>{title}</h2>{_review(data)}'
        f'<div class="kpis">{"".join(cards) or "<p class=note>no KPI targets or no data</p>"}</div>'
        + (f"<h3>Breaches and signals</h3><ul>{breaches}</ul>" if breaches else "")
        + (f"<h3>Top root causes</h3><ol>{headline}</ol>" if headline else "")
        + "</section>"
    )


def _target(mon: Mapping[str, Any], kpi: str, where: Mapping[str, Any]) -> Any:
    return next((s.get("target") for s in mon.get("statuses", [])
                 if s.get("kpi") == kpi and (s.get("where") or {}) == dict(where)), None)  # fmt: skip


def _trends(data: Mapping[str, Any]) -> str:
    head = '<section id="trends"><h2>Trends with control limits</h2>'
    if not data.get("dated", True):
        return head + ("<p class=note>Not computed: trends and control charts need "
                       "submitted_at dates.</p></section>")  # fmt: skip
    mon = data.get("monitor") or {}
    divs = []
    for i, s in enumerate(mon.get("series", [])):
        kpi, where = str(s.get("kpi")), s.get("where") or {}
        divs.append(charts.trend_chart(s, title=kpi_label(kpi) + task_suffix(where),
                                       share=unit(kpi) == "share",
                                       target=_target(mon, kpi, where), div_id=f"trend-{i}"))  # fmt: skip
    body = f'<div class="grid">{"".join(divs)}</div>' if divs else "<p class=note>no series</p>"
    return (
        head + '<p class="muted">Weekly values with 95% intervals; p-chart limits follow each '
        "week's n (3σ), EWMA (λ = 0.2) catches small sustained shifts; red points are signals.</p>"
        f"{body}</section>"
    )


def _slices(data: Mapping[str, Any]) -> str:
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in data.get("slices", []):
        key = (str(r["kpi"]), str(r.get("task") or ""), str(r["dimension"]))
        groups.setdefault(key, []).append(r)
    mon = data.get("monitor") or {}
    divs = []
    for i, ((kpi, task, dim), rows) in enumerate(groups.items()):
        where = {"task": task} if task else {}
        divs.append(charts.slice_chart(rows, title=f"{kpi_label(kpi)} by {dim}{task_suffix(where)}",
                                       share=unit(kpi) == "share", div_id=f"slice-{i}",
                                       target=_target(mon, kpi, where)))  # fmt: skip
    dated = data.get("dated", True)
    what = ("The week under review (bars, 95% CI) against the four weeks before (ticks)."
            if dated else "The whole period (bars, 95% CI); no dates, so no earlier weeks.")  # fmt: skip
    scope = "week under review" if dated else "whole period"
    return (
        '<section id="slices"><h2>Accuracy and agreement by slice</h2>'
        f'<p class="muted">{what}</p><div class="grid">{"".join(divs)}</div>'
        f'<h3 id="agreement">Agreement ({scope})</h3>'
        f"{_agreement_table(data.get('agreement_by_slice', []))}</section>"
    )


def _interval(r: Mapping[str, Any]) -> str:
    if missing(r.get("value")):
        return fmt(None, why=str(r.get("note") or "no data"))
    ci = ""
    if not missing(r.get("ci_low")) and not missing(r.get("ci_high")):
        ci = f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"
    return fmt(r.get("value")) + ci


def _agreement_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p class=note>no items with two or more raters</p>"
    tasks = any(r.get("task") for r in rows)
    by: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        key = (str(r.get("task") or ""), str(r.get("dimension")), str(r.get("slice_value")))
        by.setdefault(key, {})[str(r.get("metric"))] = r
    body = []
    for (task, dim, val), m in by.items():
        a, g = m.get("krippendorff_alpha", {}), m.get("gwet_ac1", {})
        body.append(
            "<tr>"
            + (f"<td>{e(task)}</td>" if tasks else "")
            + f"<td>{e(dim)}</td><td>{e(val)}</td>"
            f"<td class=num>{e(_interval(a))}</td><td>{e(a.get('level', ''))}</td>"
            f"<td class=num>{e(_interval(g))}</td>"
            f"<td class=num>{count(a.get('n_items', g.get('n_items')))}</td></tr>"
        )
    return (
        "<table><tr>"
        + ("<th>task</th>" if tasks else "")
        + "<th>dimension</th><th>value</th><th>Krippendorff α [95% CI]</th><th>level</th>"
        f"<th>Gwet AC1 [95% CI]</th><th>items</th></tr>{''.join(body)}</table>"
    )


def _header(data: Mapping[str, Any]) -> str:
    window = data.get("window") or {}
    c = data.get("counts") or {}
    parts = [f"{count(c.get(k))} {name}" for k, name in (("items", "items"),
             ("items_handled", "items handled"), ("labels", "labels"), ("raters", "raters"))
             if k in c]  # fmt: skip
    tasks = data.get("tasks") or []
    if len(tasks) > 1:
        parts.append(f"{len(tasks)} tasks ({', '.join(str(t) for t in tasks)})")
    repeats = data.get("repeats") or {}
    if repeats.get("set_aside"):
        parts.append(
            f"{count(repeats['set_aside'])} repeat labels set aside (the {repeats['policy']} "
            "of each rater, item and task is used)"
        )
    span = (f"data {window.get('first_day')} to {window.get('last_day')}"
            if window.get("first_day") else "undated data")  # fmt: skip
    return " · ".join([span, *parts])


def render_html(data: Mapping[str, Any]) -> str:
    """The report (its ``to_dict()`` form) as a standalone HTML document."""
    nav = "".join(
        f'<a href="#{s}">{t}</a>'
        for s, t in (
            ("summary", "Summary"),
            ("trends", "Trends"),
            ("slices", "Slices"),
            ("agreement", "Agreement"),
            ("raters", "Raters"),
            ("inference", "Inference"),
            ("root-causes", "Root causes"),
            ("data-loop", "Model & preferences"),
            ("models", "Model versions"),
            ("impact", "Model impact"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>opsloop weekly quality report · {e(data.get("project", ""))}</title><style>{_CSS}</style>
<script>{charts.plotly_js()}</script></head>
<body><header><h1>Weekly quality report · {e(data.get("project", ""))}</h1>
<p>{e(_header(data))} · generated {e(data.get("generated_at", ""))} by opsloop</p></header>
<nav>{nav}</nav>
<main>
{_summary(data)}
{_trends(data)}
{_slices(data)}
{raters(data)}
{inference(data)}
{causes(data)}
{model_versions(data)}
{model_impact(data)}
{notes(data)}
</main></body></html>
"""
