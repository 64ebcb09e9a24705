"""The data behind the quality report: volumes, label mix, accuracy by slice.

Pure: reads workspace tables through Ibis and returns a frozen result; the
HTML and JSON renderers only format it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis

from opsloop.engine import Workspace
from opsloop.metrics import SliceProportion, accuracy_vs_gold, audit_accuracy
from opsloop.views import annotation_view

SLICE_DIMENSIONS = ("locale", "vendor")


@dataclass(frozen=True)
class Kpi:
    name: str
    value: float | int | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    target: float | None = None
    direction: str | None = None

    @property
    def status(self) -> str:
        if self.target is None or self.value is None:
            return "none"
        value = float(self.value)
        low = self.ci_low if self.ci_low is not None else value
        high = self.ci_high if self.ci_high is not None else value
        if self.direction == "lower":
            return "green" if high <= self.target else ("red" if low > self.target else "amber")
        return "green" if low >= self.target else ("red" if high < self.target else "amber")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "target": self.target,
            "direction": self.direction,
            "status": self.status,
        }


@dataclass(frozen=True)
class Overview:
    """Everything the report shows, JSON-serialisable through ``to_dict``."""

    project: str
    generated_at: str
    table_rows: dict[str, int]
    kpis: tuple[Kpi, ...]
    weekly_volume: tuple[dict[str, Any], ...]
    label_distribution: tuple[dict[str, Any], ...]
    accuracy: dict[str, tuple[SliceProportion, ...]]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "generated_at": self.generated_at,
            "tables": self.table_rows,
            "kpis": [k.to_dict() for k in self.kpis],
            "weekly_volume": list(self.weekly_volume),
            "label_distribution": list(self.label_distribution),
            "accuracy": {k: [r.to_dict() for r in v] for k, v in self.accuracy.items()},
            "notes": list(self.notes),
        }


def _kpi(ws: Workspace, name: str, rows: list[SliceProportion]) -> Kpi:
    target = ws.config.kpis.get(name)
    row = rows[0] if rows else None
    return Kpi(
        name,
        row.value if row else None,
        row.ci_low if row else None,
        row.ci_high if row else None,
        row.n if row else 0,
        target.target if target else None,
        (target.direction or ("lower" if name in {"leakage", "over_enforcement"} else "higher"))
        if target
        else None,
    )


def build_overview(ws: Workspace) -> Overview:
    """Compute the report's figures from the workspace tables."""
    notes: list[str] = []
    counts = {name: ws.row_count(name) for name in ws.table_names()}
    kpis: list[Kpi] = []
    accuracy: dict[str, tuple[SliceProportion, ...]] = {}
    weekly: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    if not ws.has_table("annotations"):
        notes.append("no annotations yet: ingest them with `opsloop ingest annotations FILE`")
        return Overview(ws.config.project.name, _now(), counts, (), (), (), {}, tuple(notes))
    view = annotation_view(ws)
    dims = [d for d in SLICE_DIMENSIONS if d in view.columns]
    missing = [d for d in SLICE_DIMENSIONS if d not in view.columns]
    if missing:
        notes.append(f"no {', '.join(missing)} column: accuracy is not sliced by it")
    n_items = int(view.item_id.nunique().execute())
    n_raters = int(view.rater_id.nunique().execute())
    kpis += [
        Kpi("annotations", counts["annotations"]),
        Kpi("items", n_items),
        Kpi("raters", n_raters),
    ]
    per_item = view.group_by("item_id").aggregate(k=view.count())
    overlap = per_item.aggregate(m=(per_item.k > 1).cast("int64").mean()).to_pyarrow()
    kpis.append(Kpi("share_of_items_with_overlap", float(overlap["m"][0].as_py() or 0.0)))
    if "duration_s" in view.columns:
        med = view.aggregate(m=view.duration_s.median()).to_pyarrow()["m"][0].as_py()
        kpis.append(Kpi("median_handling_time_s", None if med is None else float(med)))
    if ws.has_table("gold"):
        gold = ws.table("gold")
        kpis.append(_kpi(ws, "accuracy", accuracy_vs_gold(view, gold)))
        if "is_gold_check" in view.columns:
            kpis.append(
                _kpi(ws, "honeypot_accuracy", accuracy_vs_gold(view, gold, honeypot_only=True))
            )
        for dim in dims:
            accuracy[f"gold_by_{dim}"] = tuple(accuracy_vs_gold(view, gold, [dim]))
    else:
        notes.append("no gold table: accuracy against gold is not computed")
    if ws.has_table("audits"):
        audits = ws.table("audits")
        kpis.append(_kpi(ws, "audit_accuracy", audit_accuracy(view, audits)))
        for dim in dims:
            accuracy[f"audit_by_{dim}"] = tuple(audit_accuracy(view, audits, [dim]))
    else:
        notes.append("no audits table: audit accuracy is not computed")
    if "submitted_at" in view.columns:
        wk = view.filter(view.submitted_at.notnull())
        wk = wk.mutate(week=wk.submitted_at.truncate("W").date().cast("string"))
        weekly = (
            wk.group_by("week")
            .aggregate(annotations=wk.count())
            .order_by("week")
            .to_pyarrow()
            .to_pylist()
        )
    else:
        notes.append("no submitted_at column: no weekly volume")
    dist = (
        view.group_by("label")
        .aggregate(n=view.count())
        .order_by([ibis.desc("n")])
        .to_pyarrow()
        .to_pylist()
    )
    total = sum(int(r["n"]) for r in dist) or 1
    labels = [{"label": r["label"], "n": int(r["n"]), "share": int(r["n"]) / total} for r in dist]
    return Overview(
        ws.config.project.name,
        _now(),
        counts,
        tuple(kpis),
        tuple(weekly),
        tuple(labels),
        accuracy,
        tuple(notes),
    )


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
