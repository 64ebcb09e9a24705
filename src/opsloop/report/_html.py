"""Render the report as one self-contained HTML file (no network, no external assets)."""

from __future__ import annotations

import html
import math
from typing import Any

from opsloop.metrics import SliceProportion
from opsloop.report._overview import Kpi, Overview

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#b8c0cc;font-size:13px}
main{max-width:1100px;margin:0 auto;padding:16px 32px 48px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
h2{font-size:17px;margin:0 0 12px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{border:1px solid #e3e6eb;border-radius:6px;padding:10px 14px;min-width:150px}
.kpi .v{font-size:22px;font-weight:600}.kpi .n{font-size:12px;color:#5b6472}
.kpi.green{border-left:5px solid #2e9e5b}.kpi.amber{border-left:5px solid #e0a400}.kpi.red{border-left:5px solid #d64545}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef0f3}th{color:#5b6472;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{position:relative;height:12px;background:#eef0f3;border-radius:3px;min-width:160px}
.bar span{position:absolute;top:0;bottom:0;background:#5b8def;border-radius:3px}
.bar i{position:absolute;top:-2px;bottom:-2px;border-left:2px solid #1d2330;border-right:2px solid #1d2330;opacity:.45}
.note{color:#8a5a00;font-size:13px}
"""


def _fmt(value: float | int | None, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if pct:
        return f"{100 * float(value):.1f}%"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}"


def _is_share(name: str) -> bool:
    return "accuracy" in name or name.startswith("share")


def _kpi_card(k: Kpi) -> str:
    pct = _is_share(k.name)
    ci = (
        f"95% CI {_fmt(k.ci_low, pct)}–{_fmt(k.ci_high, pct)}, n={k.n:,}"
        if k.ci_low is not None and k.n
        else ""
    )
    target = f" · target {_fmt(k.target, pct)}" if k.target is not None else ""
    return (
        f'<div class="kpi {k.status}" data-kpi="{html.escape(k.name)}"><div class="n">{html.escape(k.name.replace("_", " "))}</div>'
        f'<div class="v">{_fmt(k.value, pct)}</div><div class="n">{ci}{target}</div></div>'
    )


def _bar(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return ""
    return (
        f'<div class="bar"><span style="width:{100 * value:.1f}%"></span>'
        f'<i style="left:{100 * low:.1f}%;width:{max(100 * (high - low), 0.3):.1f}%"></i></div>'
    )


def _slice_table(title: str, rows: tuple[SliceProportion, ...]) -> str:
    if not rows:
        return ""
    dims = list(rows[0].slice)
    head = "".join(f"<th>{html.escape(d)}</th>" for d in dims)
    body = []
    for r in sorted(rows, key=lambda x: x.value):
        cells = "".join(f"<td>{html.escape(v)}</td>" for v in r.slice.values())
        body.append(
            f"<tr>{cells}<td class='num'>{_fmt(r.value, True)}</td>"
            f"<td class='num'>{_fmt(r.ci_low, True)}–{_fmt(r.ci_high, True)}</td>"
            f"<td class='num'>{r.n:,}</td><td>{_bar(r.value, r.ci_low, r.ci_high)}</td></tr>"
        )
    return (
        f"<h3>{html.escape(title)}</h3><table><tr>{head}<th>value</th><th>95% CI</th><th>n</th><th></th></tr>"
        + "".join(body)
        + "</table>"
    )


def _volume_chart(weekly: tuple[dict[str, Any], ...]) -> str:
    if not weekly:
        return "<p class='note'>no dated annotations</p>"
    peak = max(int(w["annotations"]) for w in weekly) or 1
    width, height, gap = 900, 160, 4
    bw = (width - gap * len(weekly)) / len(weekly)
    bars = []
    for i, w in enumerate(weekly):
        h = height * int(w["annotations"]) / peak
        x = i * (bw + gap)
        bars.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="#5b8def">'
            f"<title>{html.escape(str(w['week']))}: {int(w['annotations']):,}</title></rect>"
        )
    return (
        f'<svg class="chart" role="img" aria-label="weekly volume" viewBox="0 0 {width} {height + 18}" width="100%">'
        + "".join(bars)
        + f'<text x="0" y="{height + 14}" font-size="11">{html.escape(str(weekly[0]["week"]))}</text>'
        + f'<text x="{width}" y="{height + 14}" font-size="11" text-anchor="end">{html.escape(str(weekly[-1]["week"]))}</text></svg>'
    )


def render_html(report: Overview) -> str:
    """The report as a standalone HTML document."""
    kpis = "".join(_kpi_card(k) for k in report.kpis)
    tables = "".join(
        f"<tr><td>{html.escape(t)}</td><td class='num'>{n:,}</td></tr>"
        for t, n in report.table_rows.items()
    )
    labels = "".join(
        f"<tr><td>{html.escape(str(r['label']))}</td><td class='num'>{r['n']:,}</td>"
        f"<td class='num'>{_fmt(r['share'], True)}</td><td>{_bar(r['share'], r['share'], r['share'])}</td></tr>"
        for r in report.label_distribution
    )
    acc = "".join(
        _slice_table(name.replace("_", " "), rows) for name, rows in report.accuracy.items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>opsloop quality report · {html.escape(report.project)}</title><style>{_CSS}</style></head>
<body><header><h1>Quality report · {html.escape(report.project)}</h1><p>generated {html.escape(report.generated_at)} by opsloop</p></header>
<main>
<section id="summary"><h2>Summary</h2><div class="kpis">{kpis}</div></section>
<section id="volume"><h2>Weekly volume</h2>{_volume_chart(report.weekly_volume)}
<table><tr><th>table</th><th>rows</th></tr>{tables}</table></section>
<section id="labels"><h2>Label distribution</h2><table><tr><th>label</th><th>n</th><th>share</th><th></th></tr>{labels}</table></section>
<section id="accuracy"><h2>Accuracy by slice</h2>{acc or "<p class='note'>no gold or audits to measure accuracy against</p>"}</section>
{f'<section id="notes"><h2>What could not be computed</h2><ul class="note">{notes}</ul></section>' if notes else ""}
</main></body></html>
"""
