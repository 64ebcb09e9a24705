"""The weekly quality report: computed from the workspace, rendered as HTML and JSON."""

from opsloop.report._html import render_html
from opsloop.report._run import ReportFiles, run_demo, write_report
from opsloop.report._scorecards import Scorecard, SliceRow, scorecards, slice_table
from opsloop.report._steps import Change, change_points
from opsloop.report._weekly import WeeklyReport, build_report
from opsloop.report._weeks import WeekReview, review_week

__all__ = [
    "Change",
    "ReportFiles",
    "Scorecard",
    "SliceRow",
    "WeekReview",
    "WeeklyReport",
    "build_report",
    "change_points",
    "render_html",
    "review_week",
    "run_demo",
    "scorecards",
    "slice_table",
    "write_report",
]
