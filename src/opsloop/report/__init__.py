"""The quality report: computed from the workspace, rendered as HTML and JSON."""

from opsloop.report._html import render_html
from opsloop.report._overview import Kpi, Overview, build_overview
from opsloop.report._run import ReportFiles, run_demo, write_report

__all__ = [
    "Kpi",
    "Overview",
    "ReportFiles",
    "build_overview",
    "render_html",
    "run_demo",
    "write_report",
]
