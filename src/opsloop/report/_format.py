"""How the report writes figures: units, integer counts, and why a figure is missing.

A missing figure is never printed as "NaN": it is a dash with its reason,
``— (no gold)``. Counts are integers with thousands separators.

>>> fmt(0.9123, "share"), fmt(None, "share", "no gold"), count(1234.0)
('91.2%', '— (no gold)', '1,234')
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

from opsloop.monitor import KPIS

DASH = "—"


def e(x: Any) -> str:
    return html.escape(str(x))


def missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def fmt(value: Any, unit: str = "", why: str = "") -> str:
    """``value`` in its unit; a dash (with ``why`` in brackets) when it is missing."""
    if missing(value):
        return f"{DASH} ({why})" if why else DASH
    v = float(value)
    if unit == "share":
        return f"{100 * v:.1f}%"
    if unit == "currency":
        return f"${v:,.3f}"
    if unit == "seconds":
        return f"{v:,.1f} s"
    if unit == "count":
        return f"{v:,.0f}"
    return f"{v:,.3f}"


def count(value: Any) -> str:
    """An integer count (``0`` when missing)."""
    return "0" if missing(value) else f"{round(float(value)):,}"


def unit(kpi: str) -> str:
    return KPIS[kpi].unit if kpi in KPIS else ""


def kpi_label(kpi: str) -> str:
    return KPIS[kpi].label if kpi in KPIS else kpi


def task_suffix(where: Mapping[str, Any] | None) -> str:
    """`` · task NAME`` when a figure belongs to one of several tasks."""
    task = (where or {}).get("task")
    return f" · task {task}" if task else ""


def kpi_needs(kpi: str) -> str:
    """Why a KPI has no value: what it needs."""
    return f"needs {KPIS[kpi].needs}" if kpi in KPIS and KPIS[kpi].needs else "no data"
