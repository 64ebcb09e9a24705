"""The typer application, shared options and rendering. No analysis logic here."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from opsloop.engine import Workspace

# Start-up: this module, like every command module, imports only typer, rich and the
# standard library at module level; the engine and the analyses load inside commands.

app = typer.Typer(
    name="opsloop",
    help="Quality operations for labeling, moderation and model-evaluation teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# piped output is not squeezed to 80 columns (tables stay one row per record)
_PIPE_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(soft_wrap=True, width=_PIPE_WIDTH)
err_console = Console(stderr=True, soft_wrap=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class _State:
    workspace: Path | None = None


state = _State()


@app.callback()
def _root(
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        "-w",
        envvar="OPSLOOP_WORKSPACE",
        help="Workspace directory (default: the nearest one holding opsloop.toml).",
    ),
) -> None:
    state.workspace = workspace


def one_blas_thread() -> None:
    """Let NumPy start its BLAS (OpenBLAS) with one thread, unless the user set a number.

    For commands whose arithmetic is on small arrays (agreement works on count
    patterns, a few dozen rows): there BLAS threads never help, yet starting them
    and their spinning cost a tenth of a second of CPU on the shared cores. Takes
    effect only when called before NumPy is first imported.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def split_list(value: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: the comma-separated options of every command."""
    return tuple(x.strip() for x in value.split(",") if x.strip()) if value else ()


REPEATS_HELP = (
    "Repeat labels (one rater, item and task more than once): latest (default: the newest "
    "of each), first, keep-all (each label counts) or error."
)


def repeats_option() -> Any:
    """The ``--repeats`` option of every analysis command."""
    return typer.Option(None, "--repeats", help=REPEATS_HELP)


def open_workspace(repeats: str | None = None) -> Workspace:
    """The workspace (``--workspace`` or the nearest one), analysed under ``repeats``."""
    from opsloop.engine import Workspace

    return Workspace.open(state.workspace).with_repeats(repeats)


def note_set_aside(n: int, policy: str) -> None:
    """Tell on stderr how many earlier (or later) repeat labels an analysis left out."""
    if n <= 0:
        return
    which = "earlier" if policy == "latest" else "later"
    err_console.print(
        f"note: {n:,} {which} repeat label(s) of the same (item, rater, task) set aside; "
        f"analysed the {policy} of each (--repeats keep-all counts every label)",
        highlight=False,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _count(k, _jsonable(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _count(key: Any, value: Any) -> Any:
    if isinstance(value, float) and isinstance(key, str) and is_count_column(key):
        return int(value) if value.is_integer() else value
    return value


def dumps(data: Any) -> str:
    return json.dumps(_jsonable(data), indent=2, ensure_ascii=False)


def is_count_column(name: str) -> bool:
    """Columns that hold counts print as integers (``n``, ``n_items``, ``rows_added`` …)."""
    return name == "n" or name.startswith(("n_", "rows")) or name.endswith(("_count", "_n"))


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "—"  # the row's note says why
        if is_count_column(column) and value.is_integer():
            return f"{int(value):,}"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def render_rows(
    rows: Sequence[dict[str, Any]],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Print records as a rich table, JSON (a list of records) or CSV."""
    cols = list(columns) if columns else (list(rows[0]) if rows else [])
    if fmt is OutputFormat.json:
        typer.echo(dumps([{c: r.get(c) for c in cols} for r in rows]))
        return
    if fmt is OutputFormat.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow(
                ["" if r.get(c) is None else _count(c, _jsonable(r.get(c))) for c in cols]
            )
        sys.stdout.write(buf.getvalue())
        return
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for i, c in enumerate(cols):
        numeric = bool(rows) and isinstance(rows[0].get(c), int | float)
        table.add_column(c, overflow="fold", no_wrap=i == 0, justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*(_cell(r.get(c), c) for c in cols))
    console.print(table)


@contextmanager
def progress_status(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner whose text follows the steps of long work (stderr, so stdout stays clean)."""
    if not err_console.is_terminal:
        yield lambda _msg: None
        return
    with err_console.status(message) as status:
        yield lambda msg: status.update(msg)


@contextmanager
def progress_bar(message: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar on stderr fed with ``(done, total, step)``; silent when not a terminal."""
    if not err_console.is_terminal:
        yield lambda _done, _total, _msg: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(message, total=None)

        def update(done: int, total: int, step: str) -> None:
            bar.update(task, completed=done, total=total or None, description=f"{message}: {step}")

        yield update
