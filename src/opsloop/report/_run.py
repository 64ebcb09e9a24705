"""Write the report files and run the demo end to end."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opsloop.config import CONFIG_FILE
from opsloop.engine import Workspace
from opsloop.errors import WorkspaceError
from opsloop.io import ingest
from opsloop.report._html import render_html
from opsloop.report._overview import Overview, build_overview
from opsloop.schema import INGEST_ORDER

DEMO_MARKER = ".opsloop-demo"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path
    overview: Overview


def write_report(ws: Workspace, out_dir: Path | None = None) -> ReportFiles:
    """Compute the overview and write ``report.html`` and ``report.json``."""
    out = (out_dir or ws.root).resolve()
    out.mkdir(parents=True, exist_ok=True)
    overview = build_overview(ws)
    html_path, json_path = out / "report.html", out / "report.json"
    for path, text in (
        (html_path, render_html(overview)),
        (json_path, json.dumps(overview.to_dict(), indent=2, default=str)),
    ):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return ReportFiles(html_path, json_path, overview)


def run_demo(
    directory: Path,
    *,
    scale: str = "small",
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> ReportFiles:
    """Generate the demo operation into ``directory``, ingest it and write the report."""
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
        say("building the report")
        return write_report(ws)
    finally:
        ws.close()
