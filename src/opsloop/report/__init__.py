"""The weekly quality report: one analysis run's results, rendered as HTML and JSON.

The analyses it shows live below it (the week under review, change detection,
KPIs by slice and scorecards in :mod:`opsloop.monitor`; the run itself in
:mod:`opsloop.session`); their names are re-exported here for convenience.
"""

from opsloop.monitor import (
    Scorecard,
    SliceRow,
    WeekReview,
    change_points,
    review_week,
    scorecards,
    slice_table,
)
from opsloop.report._html import render_html
from opsloop.report._run import ReportFiles, run_demo, write_report
from opsloop.report._weekly import WeeklyReport, build_report
from opsloop.session import Change

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
