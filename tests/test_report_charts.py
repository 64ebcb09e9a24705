"""The report's charts, written as plain figure dicts, are what plotly's own Figure writes.

Each chart is drawn again here with ``plotly.graph_objects`` (plotly validates every
property and fills in its default template) and the ``Plotly.newPlot`` arguments of
both pages are compared as parsed JSON.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from opsloop.report import _charts as charts


def _plot_args(div: str) -> tuple[Any, Any, Any]:
    """The data, layout and config handed to ``Plotly.newPlot``, parsed."""
    m = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*', div)
    assert m is not None
    decoder, at, out = json.JSONDecoder(), m.end(), []
    for _ in range(3):
        value, at = decoder.raw_decode(div, at)
        out.append(value)
        at = re.compile(r"\s*,?\s*").match(div, at).end()  # type: ignore[union-attr]
    return out[0], out[1], out[2]


def _finish(fig: go.Figure, div_id: str, height: int) -> str:
    fig.update_layout(height=height, margin={"l": 50, "r": 20, "t": 36, "b": 40},
                      paper_bgcolor="white", plot_bgcolor="white",
                      font={"family": "system-ui, sans-serif", "size": 12, "color": charts.DARK},
                      legend={"orientation": "h", "y": -0.18})  # fmt: skip
    fig.update_xaxes(showgrid=False, linecolor="#d0d5dc")
    fig.update_yaxes(gridcolor="#eef0f3", zeroline=False)
    return str(pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                           config=charts._CONFIG))  # fmt: skip


def test_trend_chart() -> None:
    series = {"periods": ["2025-W01", "2025-W02", "2025-W03"], "value": [0.8, math.nan, 0.7],
              "ci_low": [0.75, None, 0.65], "ci_high": [0.85, None, 0.75], "ucl": 0.9,
              "lcl": [0.6, 0.61, 0.62], "centre": 0.75, "ewma": [0.8, 0.79, 0.76],
              "signals": [{"period": "2025-W03"}]}  # fmt: skip
    got = charts.trend_chart(series, title="accuracy", share=True, target=0.85, div_id="t")
    x = series["periods"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=[0.85, None, 0.75], mode="lines", line={"width": 0},
                             hoverinfo="skip", showlegend=False))  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=[0.75, None, 0.65], mode="lines", line={"width": 0},
                             fill="tonexty", fillcolor="rgba(59,111,216,0.15)", name="95% CI",
                             hoverinfo="skip"))  # fmt: skip
    for ys, name, key, dash, colour, shape in (
        ([0.9] * 3, "control limits (3σ)", "ucl", "dot", charts.GREY, "hv"),
        ([0.6, 0.61, 0.62], None, "lcl", "dot", charts.GREY, "hv"),
        ([0.75] * 3, "centre line", "centre", "dash", charts.GREY, "linear"),
        ([0.8, 0.79, 0.76], "EWMA", "ewma", "solid", charts.AMBER, "linear"),
    ):
        fig.add_trace(go.Scatter(x=x, y=ys, mode="lines", name=name or key,
                                 showlegend=name is not None,
                                 line={"color": colour, "dash": dash, "width": 1.4,
                                       "shape": shape}))  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=[0.8, None, 0.7], mode="lines+markers", name="accuracy",
                             line={"color": charts.BLUE, "width": 2},
                             marker={"color": [charts.BLUE, charts.BLUE, charts.RED],
                                     "size": 8}))  # fmt: skip
    fig.add_hline(y=0.85, line={"color": charts.GREEN, "dash": "dash", "width": 1.5},
                  annotation_text="target", annotation_position="top left")  # fmt: skip
    fig.update_layout(title={"text": "accuracy", "font": {"size": 14}})
    fig.update_yaxes(tickformat=".0%")
    assert _plot_args(got) == _plot_args(_finish(fig, "t", 300))
    assert got.startswith('<div class="chart" data-chart="t">')


def test_slice_and_decomposition_charts() -> None:
    rows = [{"value": "de", "current": 0.8, "current_ci": [0.7, 0.9], "baseline": 0.82},
            {"value": "fr", "current": None, "current_ci": [None, None], "baseline": None}]  # fmt: skip
    got = charts.slice_chart(rows, title="accuracy by locale", share=True, div_id="s",
                             target=0.85)  # fmt: skip
    fig = go.Figure()
    fig.add_trace(go.Bar(y=["de", "fr"], x=[0.8, None], orientation="h",
                         name="week under review", marker={"color": charts.BLUE},
                         error_x={"type": "data", "array": [0.9 - 0.8, None],
                                  "arrayminus": [0.8 - 0.7, None], "color": charts.DARK,
                                  "thickness": 1.2}))  # fmt: skip
    fig.add_trace(go.Scatter(y=["de", "fr"], x=[0.82, None], mode="markers",
                             name="previous weeks",
                             marker={"color": charts.DARK, "symbol": "line-ns-open", "size": 14,
                                     "line": {"width": 2}}))  # fmt: skip
    fig.add_vline(x=0.85, line={"color": charts.GREEN, "dash": "dash"})
    fig.update_layout(title={"text": "accuracy by locale", "font": {"size": 14}}, bargap=0.35)
    fig.update_xaxes(tickformat=".0%")
    assert _plot_args(got) == _plot_args(_finish(fig, "s", 220))

    deco = [{"dim": "vendor", "rate_effect": -0.02, "mix_effect": 0.005}]
    got = charts.decomposition_chart(deco, title="Mix versus rate", div_id="d")
    fig = go.Figure()
    fig.add_trace(go.Bar(y=["vendor"], x=[-2.0], orientation="h", name="rate effect",
                         marker={"color": charts.BLUE}))  # fmt: skip
    fig.add_trace(go.Bar(y=["vendor"], x=[0.5], orientation="h", name="mix effect",
                         marker={"color": charts.AMBER}))  # fmt: skip
    fig.update_layout(title={"text": "Mix versus rate", "font": {"size": 14}}, barmode="group")
    fig.update_xaxes(title="points")
    assert _plot_args(got) == _plot_args(_finish(fig, "d", 220))


def test_scorecard_chart() -> None:
    cards = [{"rater_id": "r1", "vendor": "acme", "accuracy": 0.9, "avg_handling_time_s": 40.0,
              "items_handled": 100},
             {"rater_id": "r2", "vendor": "acme", "accuracy": 0.7, "avg_handling_time_s": 20.0,
              "items_handled": 25},
             {"rater_id": "r3", "vendor": "bolt", "accuracy": None, "avg_handling_time_s": 9.0,
              "items_handled": 5}]  # fmt: skip
    got = charts.scorecard_chart(cards, div_id="c", target=0.85, task="policy")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[40.0, 20.0], y=[0.9, 0.7], mode="markers", name="acme",
                             text=["r1", "r2"],
                             marker={"size": [20.0, 6 + 14 * math.sqrt(0.25)], "opacity": 0.7},
                             hovertemplate="%{text}<br>accuracy %{y:.1%}<br>%{x:.0f} s"
                                           "<extra></extra>"))  # fmt: skip
    fig.add_hline(y=0.85, line={"color": charts.GREEN, "dash": "dash"})
    fig.update_layout(title={"text": "Raters: accuracy vs handling time · task policy",
                             "font": {"size": 14}})  # fmt: skip
    fig.update_xaxes(title="average handling time (s)")
    fig.update_yaxes(title="accuracy vs gold", tickformat=".0%")
    assert _plot_args(got) == _plot_args(_finish(fig, "c", 380))
