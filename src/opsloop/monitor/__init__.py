"""KPI monitoring: the KPI cube, targets and RAG status, control charts, alerts."""

from opsloop.monitor._cube import Cube, Rollup, build_cube, group_sums, workspace_cube
from opsloop.monitor._kpis import CUBE_KPIS, KPIS, Estimates, KpiDef, estimate, kpi_def
from opsloop.monitor._periods import Period, parse_period

__all__ = [
    "CUBE_KPIS",
    "KPIS",
    "Cube",
    "Estimates",
    "KpiDef",
    "Period",
    "Rollup",
    "build_cube",
    "estimate",
    "group_sums",
    "kpi_def",
    "parse_period",
    "workspace_cube",
]
