"""KPI monitoring: the KPI cube, targets and RAG status, control charts, alerts; and the
analyses that are roll-ups of the cube or of per-rater sums: the week under review,
weekly change detection, KPIs by slice and rater scorecards."""

from opsloop.metrics._sums import with_submission_weights
from opsloop.monitor._agreement_series import (
    WHOLE_PERIOD,
    AgreementPoint,
    agreement_by_period,
    agreement_whole_period,
)
from opsloop.monitor._changes import ChangePoint, change_points, primary_kpi
from opsloop.monitor._cube import (
    MEASURES,
    TENURE_BANDS,
    TENURE_LAST,
    WORK_MEASURES,
    Cube,
    JudgedPairs,
    Rollup,
)
from opsloop.monitor._cube_arrays import merge_groups
from opsloop.monitor._cube_query import (
    audit_sums_by_key,
    audited_annotations,
    build_cube,
    has_dates,
    join_truth_and_verdict,
    judged_annotations,
    judged_view,
    task_names,
    tenure_expr,
    with_audit_sums,
    workspace_cube,
)
from opsloop.monitor._kpis import CUBE_KPIS, KPIS, Estimates, KpiDef, estimate, kpi_def
from opsloop.monitor._monitor import monitor
from opsloop.monitor._periods import (
    Period,
    day_from_number,
    parse_period,
    week_label,
    week_period,
    week_start,
)
from opsloop.monitor._results import Breach, KpiSeries, KpiStatus, MonitorResult, SeriesSignal
from opsloop.monitor._scorecards import Scorecard, scorecards
from opsloop.monitor._slices import (
    SLICE_DIMENSIONS,
    SLICE_KPIS,
    SliceRow,
    slice_table,
    slice_tables,
)
from opsloop.monitor._spc import (
    ControlChart,
    EwmaChart,
    Signal,
    beyond_limits,
    ewma_chart,
    p_chart,
    run_rule,
    xbar_chart,
)
from opsloop.monitor._status import kpi_status, worst_status
from opsloop.monitor._targets import series_target
from opsloop.monitor._weeks import WeekReview, review_week
from opsloop.monitor._workspace_monitor import (
    AgreementSource,
    monitor_cube,
    monitor_workspace,
    workspace_agreement,
)

__all__ = [
    "CUBE_KPIS",
    "KPIS",
    "MEASURES",
    "SLICE_DIMENSIONS",
    "SLICE_KPIS",
    "TENURE_BANDS",
    "TENURE_LAST",
    "WHOLE_PERIOD",
    "WORK_MEASURES",
    "AgreementPoint",
    "AgreementSource",
    "Breach",
    "ChangePoint",
    "ControlChart",
    "Cube",
    "Estimates",
    "EwmaChart",
    "JudgedPairs",
    "KpiDef",
    "KpiSeries",
    "KpiStatus",
    "MonitorResult",
    "Period",
    "Rollup",
    "Scorecard",
    "SeriesSignal",
    "Signal",
    "SliceRow",
    "WeekReview",
    "agreement_by_period",
    "agreement_whole_period",
    "audit_sums_by_key",
    "audited_annotations",
    "beyond_limits",
    "build_cube",
    "change_points",
    "day_from_number",
    "estimate",
    "ewma_chart",
    "has_dates",
    "join_truth_and_verdict",
    "judged_annotations",
    "judged_view",
    "kpi_def",
    "kpi_status",
    "merge_groups",
    "monitor",
    "monitor_cube",
    "monitor_workspace",
    "p_chart",
    "parse_period",
    "primary_kpi",
    "review_week",
    "run_rule",
    "scorecards",
    "series_target",
    "slice_table",
    "slice_tables",
    "task_names",
    "tenure_expr",
    "week_label",
    "week_period",
    "week_start",
    "with_audit_sums",
    "with_submission_weights",
    "workspace_agreement",
    "workspace_cube",
    "worst_status",
    "xbar_chart",
]
