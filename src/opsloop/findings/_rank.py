"""The one ranking of findings, for ``rca``, the data-loop checks, the report and the CLI.

Findings are ordered by the unit of their score first (``kpi_points``, then
``model_points``, then ``bias_points``: scores in different units are not
compared), then by score, highest first; on a tie the narrower slice (more
``where`` keys) and then the id come first, so the order is deterministic.
The same key orders :class:`~opsloop.findings.Finding` objects and their JSON
forms (``report.json``).

>>> rows = [{"id": "b", "score": 0.2, "score_unit": "bias_points", "where": {}},
...         {"id": "k", "score": 0.01, "score_unit": "kpi_points", "where": {}},
...         {"id": "j", "score": 0.03, "score_unit": "kpi_points", "where": {"x": "1"}}]
>>> [r["id"] for r in rank_finding_dicts(rows)]
['j', 'k', 'b']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opsloop.findings._finding import SCORE_UNITS, Finding

UNIT_ORDER: tuple[str, ...] = tuple(SCORE_UNITS)


def rank_key(unit: str, score: float, n_where: int, fid: str) -> tuple[int, float, int, str]:
    """The sort key of a finding: unit, score (highest first), narrower slice, id."""
    order = UNIT_ORDER.index(unit) if unit in UNIT_ORDER else len(UNIT_ORDER)
    value = score if score == score else float("-inf")  # NaN last
    return (order, -round(value, 12), -n_where, fid)


def rank_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Findings in rank order (see the module docstring)."""
    return tuple(
        sorted(findings, key=lambda f: rank_key(f.unit, f.score, len(f.where), f.id))
    )


def rank_finding_dicts(findings: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The JSON forms of findings (``Finding.to_dict()``) in the same rank order."""

    def key(f: Mapping[str, Any]) -> tuple[int, float, int, str]:
        unit = str(f.get("score_unit") or "kpi_points")
        return rank_key(unit, float(f.get("score") or 0.0), len(f.get("where") or {}),
                        str(f.get("id", "")))  # fmt: skip

    return sorted(findings, key=key)
