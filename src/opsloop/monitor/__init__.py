"""KPI monitoring: the KPI cube, targets and RAG status, control charts, alerts."""

from opsloop.monitor._agreement_series import (
    WHOLE_PERIOD,
    AgreementPoint,
    agreement_by_period,
    agreement_whole_period,
)
from opsloop.monitor._cube import (
    MEASURES,
    TENURE_BANDS,
    TENURE_LAST,
    WORK_MEASURES,
    Cube,
    Rollup,
    build_cube,
    group_sums,
    has_dates,
    join_truth_and_verdict,
    task_names,
    tenure_expr,
    workspace_cube,
)
from opsloop.monitor._kpis import CUBE_KPIS, KPIS, Estimates, KpiDef, estimate, kpi_def
from opsloop.monitor._monitor import monitor, monitor_workspace, workspace_agreement
from opsloop.monitor._periods import (
    Period,
    day_from_number,
    parse_period,
    week_label,
    week_start,
)
from opsloop.monitor._results import Breach, KpiSeries, KpiStatus, MonitorResult, SeriesSignal
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
from opsloop.monitor._sums import with_submission_weights
from opsloop.monitor._targets import series_target

__all__ = [
    "CUBE_KPIS",
    "KPIS",
    "MEASURES",
    "TENURE_BANDS",
    "TENURE_LAST",
    "WHOLE_PERIOD",
    "WORK_MEASURES",
    "AgreementPoint",
    "Breach",
    "ControlChart",
    "Cube",
    "Estimates",
    "EwmaChart",
    "KpiDef",
    "KpiSeries",
    "KpiStatus",
    "MonitorResult",
    "Period",
    "Rollup",
    "SeriesSignal",
    "Signal",
    "agreement_by_period",
    "agreement_whole_period",
    "beyond_limits",
    "build_cube",
    "day_from_number",
    "estimate",
    "ewma_chart",
    "group_sums",
    "has_dates",
    "join_truth_and_verdict",
    "kpi_def",
    "kpi_status",
    "monitor",
    "monitor_workspace",
    "p_chart",
    "parse_period",
    "run_rule",
    "series_target",
    "task_names",
    "tenure_expr",
    "week_label",
    "week_start",
    "with_submission_weights",
    "workspace_agreement",
    "workspace_cube",
    "worst_status",
    "xbar_chart",
]
