"""Write the report files and run the demo end to end."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsloop.config import CONFIG_FILE
from opsloop.engine import Workspace
from opsloop.errors import WorkspaceError
from opsloop.impact import store_impact, workspace_impact
from opsloop.inference import infer_workspace
from opsloop.io import ingest
from opsloop.report._html import render_html
from opsloop.report._weekly import Progress, WeeklyReport, build_report
from opsloop.schema import INGEST_ORDER

DEMO_MARKER = ".opsloop-demo"
# The demo's label-policy experiment: the baseline, what inference and gold buy, the planted
# guideline confusion and the raters in their first month (the vendor's new cohort among
# them) left out, and a relabel budget spent by the error ranking or at random.
DEMO_POLICIES = ("majority", "ds", "gold", "unflagged", "without:guideline_version=v2.1",
                 "without:tenure=0-29 days", "relabel:10", "relabel-random:10")  # fmt: skip


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path
    report: WeeklyReport


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(
    ws: Workspace,
    out_dir: Path | None = None,
    *,
    as_of: str | None = None,
    progress: Progress | None = None,
) -> ReportFiles:
    """Compute the weekly report and write ``report.html`` and ``report.json``.

    ``as_of`` (an ISO week such as ``2025-W11``, or a day) reviews that week and
    ignores later data; by default the last week with enough data is reviewed.
    """
    report = build_report(ws, as_of=as_of, progress=progress)
    out = (out_dir or ws.root).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = _finite(report.to_dict())
    html_path, json_path = out / "report.html", out / "report.json"
    _write_atomic(json_path, json.dumps(data, indent=2, default=str, allow_nan=False))
    _write_atomic(html_path, render_html(data))
    return ReportFiles(html_path, json_path, report)


def run_demo(
    directory: Path,
    *,
    scale: str = "small",
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
    report_progress: Progress | None = None,
) -> ReportFiles:
    """Generate the demo operation into ``directory``, ingest it, infer labels (Dawid–Skene),
    run a label-policy experiment (the small scale: :data:`DEMO_POLICIES`, stored) and write
    the report."""
    from opsloop.demo import generate_demo

    say = progress or (lambda _msg: None)
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        if not (directory / DEMO_MARKER).exists():
            raise WorkspaceError(
                f"{directory} exists and is not a demo workspace; choose another directory"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / DEMO_MARKER).write_text("created by `opsloop demo`; safe to delete\n")
    say(f"generating the {scale} demo operation")
    data = generate_demo(
        directory,
        scale=scale,  # type: ignore[arg-type]
        seed=seed,
        progress=lambda done, total: say(f"generating {done}/{total}"),
    )
    if (directory / CONFIG_FILE).exists():
        (directory / CONFIG_FILE).unlink()
    ws = Workspace.init(directory, data.config)
    try:
        for table in INGEST_ORDER:
            files = data.files.get(table)
            if files:
                say(f"ingesting {table}")
                ingest(ws, table, list(files))
        # Dawid–Skene rather than auto: the comparison of every estimator is the slow part,
        # and the demo is about the report; `opsloop infer` on the workspace runs auto
        say("inferring labels (Dawid–Skene)")
        infer_workspace(ws, "ds")
        if scale == "small":  # at 1m and 10m an experiment takes minutes: `opsloop impact`
            say("training a model on each label policy (opsloop impact)")
            store_impact(ws, workspace_impact(ws, DEMO_POLICIES, seeds=2))
        say("building the report")
        return write_report(ws, progress=report_progress)
    finally:
        ws.close()
