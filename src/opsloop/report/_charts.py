"""Plotly charts of the report, built from the JSON form of the results.

Each function takes the plain dicts that ``report.json`` holds and returns an
HTML ``<div>`` with the chart; the page embeds plotly.js once (from the
plotly package, so the report opens offline). Building charts from the JSON
twin keeps the HTML and JSON reports in step.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

BLUE, RED, GREEN, AMBER, GREY, DARK = (
    "#3b6fd8",
    "#d64545",
    "#2e9e5b",
    "#e0a400",
    "#9aa3af",
    "#1d2330",
)
_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


def plotly_js() -> str:
    """The plotly.js bundle shipped inside the plotly package."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _div(fig: go.Figure, div_id: str, height: int) -> str:
    fig.update_layout(
        height=height,
        margin={"l": 50, "r": 20, "t": 36, "b": 40},
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"family": "system-ui, sans-serif", "size": 12, "color": DARK},
        legend={"orientation": "h", "y": -0.18},
    )
    fig.update_xaxes(showgrid=False, linecolor="#d0d5dc")
    fig.update_yaxes(gridcolor="#eef0f3", zeroline=False)
    body = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG)
    return f'<div class="chart" data-chart="{html.escape(div_id)}">{body}</div>'


def _clean(values: Sequence[Any]) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            out.append(float(v))
    return out


def trend_chart(series: Mapping[str, Any], *, title: str, share: bool, target: float | None,
                div_id: str) -> str:  # fmt: skip
    """A KPI per period: value with its 95% interval, control limits, EWMA and target."""
    x = [str(p) for p in series.get("periods", [])]
    fig = go.Figure()
    low, high = _clean(series.get("ci_low", [])), _clean(series.get("ci_high", []))
    if any(v is not None for v in low):
        fig.add_trace(go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, hoverinfo="skip",
                                 showlegend=False))  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor="rgba(59,111,216,0.15)", name="95% CI",
                                 hoverinfo="skip"))  # fmt: skip
    for key, name, dash, colour in (
        ("ucl", "control limits (3σ)", "dot", GREY),
        ("lcl", None, "dot", GREY),
        ("centre", "centre line", "dash", GREY),
        ("ewma", "EWMA", "solid", AMBER),
    ):
        raw = series.get(key)
        ys = _clean([raw] * len(x) if isinstance(raw, (int, float)) else (raw or []))
        if any(v is not None for v in ys):
            fig.add_trace(go.Scatter(x=x, y=ys, mode="lines", name=name or key,
                                     showlegend=name is not None,
                                     line={"color": colour, "dash": dash, "width": 1.4,
                                           "shape": "hv" if key in ("ucl", "lcl") else "linear"}))  # fmt: skip
    values = _clean(series.get("value", []))
    flagged = {str(s.get("period")) for s in series.get("signals", []) if isinstance(s, Mapping)}
    colours = [RED if p in flagged else BLUE for p in x]
    fig.add_trace(go.Scatter(x=x, y=values, mode="lines+markers", name=title,
                             line={"color": BLUE, "width": 2},
                             marker={"color": colours, "size": 8}))  # fmt: skip
    if target is not None:
        fig.add_hline(y=target, line={"color": GREEN, "dash": "dash", "width": 1.5},
                      annotation_text="target", annotation_position="top left")  # fmt: skip
    fig.update_layout(title={"text": title, "font": {"size": 14}})
    if share:
        fig.update_yaxes(tickformat=".0%")
    return _div(fig, div_id, 300)


def slice_chart(rows: Sequence[Mapping[str, Any]], *, title: str, share: bool, div_id: str,
                target: float | None = None) -> str:  # fmt: skip
    """Horizontal bars: the KPI per slice value this week with its interval, and the baseline."""
    names = [str(r["value"]) for r in rows]
    cur = _clean([r.get("current") for r in rows])
    lo = [r.get("current_ci", [None, None])[0] for r in rows]
    hi = [r.get("current_ci", [None, None])[1] for r in rows]
    plus = [
        (h - c) if h is not None and c is not None else None for c, h in zip(cur, hi, strict=True)
    ]
    minus = [
        (c - lo_) if lo_ is not None and c is not None else None
        for c, lo_ in zip(cur, lo, strict=True)
    ]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=cur, orientation="h", name="week under review",
                         marker={"color": BLUE},
                         error_x={"type": "data", "array": plus, "arrayminus": minus,
                                  "color": DARK, "thickness": 1.2}))  # fmt: skip
    fig.add_trace(go.Scatter(y=names, x=_clean([r.get("baseline") for r in rows]), mode="markers",
                             name="previous weeks", marker={"color": DARK, "symbol": "line-ns-open",
                                                            "size": 14, "line": {"width": 2}}))  # fmt: skip
    if target is not None:
        fig.add_vline(x=target, line={"color": GREEN, "dash": "dash"})
    fig.update_layout(title={"text": title, "font": {"size": 14}}, bargap=0.35)
    if share:
        fig.update_xaxes(tickformat=".0%")
    return _div(fig, div_id, max(220, 60 + 26 * len(rows)))


def scorecard_chart(cards: Sequence[Mapping[str, Any]], *, div_id: str,
                    target: float | None = None, task: str | None = None) -> str:  # fmt: skip
    """Raters: accuracy (on ``task``) against handling time, size by items handled, colour
    by vendor (or flag)."""
    fig = go.Figure()
    group_key = "vendor" if cards and "vendor" in cards[0] else "flag"
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for c in cards:
        if c.get("accuracy") is None or c.get("avg_handling_time_s") is None:
            continue
        groups.setdefault(str(c.get(group_key) or "all"), []).append(c)
    for name, rows in sorted(groups.items()):
        volume = [max(float(r.get("items_handled") or 0), 1.0) for r in rows]
        peak = max(volume)
        fig.add_trace(go.Scatter(
            x=[r["avg_handling_time_s"] for r in rows], y=[r["accuracy"] for r in rows],
            mode="markers", name=name, text=[str(r["rater_id"]) for r in rows],
            marker={"size": [6 + 14 * math.sqrt(v / peak) for v in volume], "opacity": 0.7},
            hovertemplate="%{text}<br>accuracy %{y:.1%}<br>%{x:.0f} s<extra></extra>"))  # fmt: skip
    if target is not None:
        fig.add_hline(y=target, line={"color": GREEN, "dash": "dash"})
    title = "Raters: accuracy vs handling time" + (f" · task {task}" if task else "")
    fig.update_layout(title={"text": title, "font": {"size": 14}})
    fig.update_xaxes(title="average handling time (s)")
    fig.update_yaxes(title="accuracy vs gold", tickformat=".0%")
    return _div(fig, div_id, 380)


def decomposition_chart(rows: Sequence[Mapping[str, Any]], *, title: str, div_id: str) -> str:
    """Rate and mix effects of a KPI change along each dimension (Kitagawa), in points."""
    dims = [str(r.get("dim", r.get("dimension"))) for r in rows]
    rate = [100 * float(r.get("rate_effect") or 0.0) for r in rows]
    mix = [100 * float(r.get("mix_effect") or 0.0) for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(y=dims, x=rate, orientation="h", name="rate effect", marker={"color": BLUE})
    )
    fig.add_trace(
        go.Bar(y=dims, x=mix, orientation="h", name="mix effect", marker={"color": AMBER})
    )
    fig.update_layout(title={"text": title, "font": {"size": 14}}, barmode="group")
    fig.update_xaxes(title="points")
    return _div(fig, div_id, max(220, 70 + 34 * len(rows)))
