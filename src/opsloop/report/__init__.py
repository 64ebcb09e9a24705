"""The weekly quality report: computed from the workspace, rendered as HTML and JSON."""

from opsloop.report._html import render_html
from opsloop.report._run import ReportFiles, run_demo, write_report
from opsloop.report._scorecards import Scorecard, SliceRow, scorecards, slice_table
from opsloop.report._weekly import Change, WeeklyReport, build_report, change_points

__all__ = [
    "Change",
    "ReportFiles",
    "Scorecard",
    "SliceRow",
    "WeeklyReport",
    "build_report",
    "change_points",
    "render_html",
    "run_demo",
    "scorecards",
    "slice_table",
    "write_report",
]
