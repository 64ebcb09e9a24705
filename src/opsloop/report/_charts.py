"""Plotly charts of the report, built from the JSON form of the results.

Each function takes the plain dicts that ``report.json`` holds and returns an
HTML ``<div>`` with the chart; the page embeds plotly.js once (from the
plotly package, so the report opens offline). Building charts from the JSON
twin keeps the HTML and JSON reports in step.

A figure is written as the plain dict plotly.js reads (traces, layout with
plotly's default template), which is what ``plotly.graph_objects.Figure``
would produce, without its per-property validation (the report draws forty
charts; validating them took longer than computing most of the report).
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

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
Figure = dict[str, Any]


def plotly_js() -> str:
    """The plotly.js bundle shipped inside the plotly package."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@functools.cache
def _template() -> dict[str, Any]:
    """Plotly's default template, as a figure carries it."""
    import plotly.graph_objects as go

    template: dict[str, Any] = go.Figure().to_dict()["layout"]["template"]
    return template


def _figure() -> Figure:
    return {"data": [], "layout": {"template": _template()}}


def _trace(kind: str, **props: Any) -> dict[str, Any]:
    return {**{k: v for k, v in props.items() if v is not None}, "type": kind}


def _axis(fig: Figure, name: str, **props: Any) -> None:
    fig["layout"].setdefault(name, {}).update(props)


def _hline(fig: Figure, y: float, line: dict[str, Any], label: str | None = None) -> None:
    """A horizontal line across the plot (``Figure.add_hline``), labelled top left."""
    fig["layout"].setdefault("shapes", []).append({
        "line": line, "type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y,
        "yref": "y"})  # fmt: skip
    if label is not None:
        fig["layout"].setdefault("annotations", []).append({
            "showarrow": False, "text": label, "x": 0, "xanchor": "left", "xref": "x domain",
            "y": y, "yanchor": "bottom", "yref": "y"})  # fmt: skip


def _vline(fig: Figure, x: float, line: dict[str, Any]) -> None:
    """A vertical line across the plot (``Figure.add_vline``)."""
    fig["layout"].setdefault("shapes", []).append({
        "line": line, "type": "line", "x0": x, "x1": x, "xref": "x", "y0": 0, "y1": 1,
        "yref": "y domain"})  # fmt: skip


def _div(fig: Figure, div_id: str, height: int) -> str:
    fig["layout"].update(
        height=height,
        margin={"l": 50, "r": 20, "t": 36, "b": 40},
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"family": "system-ui, sans-serif", "size": 12, "color": DARK},
        legend={"orientation": "h", "y": -0.18},
    )
    _axis(fig, "xaxis", showgrid=False, linecolor="#d0d5dc")
    _axis(fig, "yaxis", gridcolor="#eef0f3", zeroline=False)
    body = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                       config=_CONFIG, validate=False)  # fmt: skip
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
    fig = _figure()
    traces = fig["data"]
    low, high = _clean(series.get("ci_low", [])), _clean(series.get("ci_high", []))
    if any(v is not None for v in low):
        traces.append(_trace("scatter", hoverinfo="skip", line={"width": 0}, mode="lines",
                             showlegend=False, x=x, y=high))  # fmt: skip
        traces.append(_trace("scatter", fill="tonexty", fillcolor="rgba(59,111,216,0.15)",
                             hoverinfo="skip", line={"width": 0}, mode="lines", name="95% CI",
                             x=x, y=low))  # fmt: skip
    for key, name, dash, colour in (
        ("ucl", "control limits (3σ)", "dot", GREY),
        ("lcl", None, "dot", GREY),
        ("centre", "centre line", "dash", GREY),
        ("ewma", "EWMA", "solid", AMBER),
    ):
        raw = series.get(key)
        ys = _clean([raw] * len(x) if isinstance(raw, (int, float)) else (raw or []))
        if any(v is not None for v in ys):
            shape = "hv" if key in ("ucl", "lcl") else "linear"
            traces.append(_trace("scatter", line={"color": colour, "dash": dash, "shape": shape,
                                                  "width": 1.4},
                                 mode="lines", name=name or key, showlegend=name is not None,
                                 x=x, y=ys))  # fmt: skip
    values = _clean(series.get("value", []))
    flagged = {str(s.get("period")) for s in series.get("signals", []) if isinstance(s, Mapping)}
    colours = [RED if p in flagged else BLUE for p in x]
    traces.append(_trace("scatter", line={"color": BLUE, "width": 2},
                         marker={"color": colours, "size": 8}, mode="lines+markers", name=title,
                         x=x, y=values))  # fmt: skip
    if target is not None:
        _hline(fig, target, {"color": GREEN, "dash": "dash", "width": 1.5}, "target")
    fig["layout"]["title"] = {"font": {"size": 14}, "text": title}
    if share:
        _axis(fig, "yaxis", tickformat=".0%")
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
    fig = _figure()
    fig["data"].append(_trace("bar", error_x={"array": plus, "arrayminus": minus, "color": DARK,
                                              "thickness": 1.2, "type": "data"},
                              marker={"color": BLUE}, name="week under review", orientation="h",
                              x=cur, y=names))  # fmt: skip
    fig["data"].append(_trace("scatter", marker={"color": DARK, "line": {"width": 2},
                                                 "size": 14, "symbol": "line-ns-open"},
                              mode="markers", name="previous weeks",
                              x=_clean([r.get("baseline") for r in rows]), y=names))  # fmt: skip
    if target is not None:
        _vline(fig, target, {"color": GREEN, "dash": "dash"})
    fig["layout"].update(title={"font": {"size": 14}, "text": title}, bargap=0.35)
    if share:
        _axis(fig, "xaxis", tickformat=".0%")
    return _div(fig, div_id, max(220, 60 + 26 * len(rows)))


def scorecard_chart(cards: Sequence[Mapping[str, Any]], *, div_id: str,
                    target: float | None = None, task: str | None = None) -> str:  # fmt: skip
    """Raters: accuracy (on ``task``) against handling time, size by items handled, colour
    by vendor (or flag)."""
    group_key = "vendor" if cards and "vendor" in cards[0] else "flag"
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for c in cards:
        if c.get("accuracy") is None or c.get("avg_handling_time_s") is None:
            continue
        groups.setdefault(str(c.get(group_key) or "all"), []).append(c)
    fig = _figure()
    for name, rows in sorted(groups.items()):
        volume = [max(float(r.get("items_handled") or 0), 1.0) for r in rows]
        peak = max(volume)
        fig["data"].append(_trace(
            "scatter", hovertemplate="%{text}<br>accuracy %{y:.1%}<br>%{x:.0f} s<extra></extra>",
            marker={"opacity": 0.7, "size": [6 + 14 * math.sqrt(v / peak) for v in volume]},
            mode="markers", name=name, text=[str(r["rater_id"]) for r in rows],
            x=[r["avg_handling_time_s"] for r in rows], y=[r["accuracy"] for r in rows]))  # fmt: skip
    if target is not None:
        _hline(fig, target, {"color": GREEN, "dash": "dash"})
    title = "Raters: accuracy vs handling time" + (f" · task {task}" if task else "")
    fig["layout"]["title"] = {"font": {"size": 14}, "text": title}
    _axis(fig, "xaxis", title={"text": "average handling time (s)"})
    _axis(fig, "yaxis", tickformat=".0%", title={"text": "accuracy vs gold"})
    return _div(fig, div_id, 380)


def decomposition_chart(rows: Sequence[Mapping[str, Any]], *, title: str, div_id: str) -> str:
    """Rate and mix effects of a KPI change along each dimension (Kitagawa), in points."""
    dims = [str(r.get("dim", r.get("dimension"))) for r in rows]
    rate = [100 * float(r.get("rate_effect") or 0.0) for r in rows]
    mix = [100 * float(r.get("mix_effect") or 0.0) for r in rows]
    fig = _figure()
    fig["data"].append(_trace("bar", marker={"color": BLUE}, name="rate effect", orientation="h",
                              x=rate, y=dims))  # fmt: skip
    fig["data"].append(_trace("bar", marker={"color": AMBER}, name="mix effect", orientation="h",
                              x=mix, y=dims))  # fmt: skip
    fig["layout"].update(title={"font": {"size": 14}, "text": title}, barmode="group")
    _axis(fig, "xaxis", title={"text": "points"})
    return _div(fig, div_id, max(220, 70 + 34 * len(rows)))


def _bars(points: Sequence[Mapping[str, Any]], key: str) -> tuple[list[Any], list[Any], list[Any]]:
    """Values and their interval half-widths (above, below) of ``point[key]`` proportions."""
    vals, plus, minus = [], [], []
    for p in points:
        share = p.get(key) or {}
        v, lo, hi = share.get("value"), share.get("ci_low"), share.get("ci_high")
        vals.append(v)
        plus.append(None if v is None or hi is None else hi - v)
        minus.append(None if v is None or lo is None else v - lo)
    return vals, plus, minus


def version_chart(points: Sequence[Mapping[str, Any]], measures: Sequence[tuple[str, str]], *,
                  title: str, div_id: str) -> str:  # fmt: skip
    """Rates across model versions (x: versions in order), one line per ``(key, name)``
    measure, each point with its interval."""
    x = [str(p["model_version"]) for p in points]
    fig = _figure()
    for (key, name), colour in zip(measures, (RED, AMBER, BLUE), strict=False):
        vals, plus, minus = _bars(points, key)
        if all(v is None for v in vals):
            continue
        fig["data"].append(_trace("scatter", error_y={"array": plus, "arrayminus": minus,
                                                      "color": colour, "thickness": 1.2,
                                                      "type": "data"},
                                  line={"color": colour, "width": 2}, mode="lines+markers",
                                  name=name, x=x, y=_clean(vals)))  # fmt: skip
    fig["layout"]["title"] = {"font": {"size": 14}, "text": title}
    _axis(fig, "yaxis", tickformat=".0%", rangemode="tozero")
    _axis(fig, "xaxis", type="category")
    return _div(fig, div_id, 280)


def cost_chart(rows: Sequence[Mapping[str, Any]], *, metric: str, title: str,
               div_id: str) -> str:  # fmt: skip
    """A model metric (with its interval) against the labelling cost, one point per policy."""
    fig = _figure()
    xs = [r.get("cost") for r in rows]
    vals, plus, minus = _bars(rows, metric)
    fig["data"].append(_trace("scatter", error_y={"array": plus, "arrayminus": minus,
                                                  "color": DARK, "thickness": 1.2,
                                                  "type": "data"},
                              marker={"color": BLUE, "size": 9}, mode="markers+text",
                              name=metric, text=[str(r.get("policy")) for r in rows],
                              textposition="top center", x=_clean(xs),
                              y=_clean(vals)))  # fmt: skip
    fig["layout"]["title"] = {"font": {"size": 14}, "text": title}
    _axis(fig, "xaxis", title={"text": "labelling cost"}, showgrid=True, gridcolor="#eef0f3")
    _axis(fig, "yaxis", tickformat=".0%")
    return _div(fig, div_id, 340)
