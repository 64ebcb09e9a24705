"""One verb per job, the same shape everywhere: ``verb(source, …) -> typed result``.

``source`` is what the job runs on:

- a :class:`~opsloop.engine.Workspace`: its tables, its configuration (taxonomy,
  targets, repeat policy) and, for monitoring, root causes and the report, one
  :class:`~opsloop.session.Session`, so the shared joins and the KPI cube are
  built once per call;
- a file path (``str`` or ``Path``; CSV, TSV, Parquet, JSONL, Excel, tool
  exports): read and checked as ``opsloop ingest`` would
  (:func:`~opsloop.io.read_table`), errors located by file, line and column;
- a table (pyarrow, or an Ibis expression on any backend) in the annotations
  contract.

The verbs that need a workspace's joins (:func:`monitor`, :func:`rca`,
:func:`report`) run a file or table in a temporary workspace (ingested with the
same checks, removed afterwards); ``gold``, ``audits``, ``items`` and
``raters`` add those tables, ``config`` sets taxonomy and targets. The CLI
commands are thin over these verbs and their subpackages' functions.

>>> import pyarrow as pa, opsloop
>>> ann = pa.table({"item_id": ["a", "a", "b", "b"], "rater_id": ["x", "y", "x", "y"],
...                 "label": ["spam", "none", "none", "none"]})
>>> gold = pa.table({"item_id": ["a", "b"], "label": ["spam", "none"]})
>>> [(r.metric, r.value) for r in opsloop.quality(ann, gold=gold, metrics=["accuracy"]).records]
[('accuracy', 0.75)]
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, Union

from opsloop.errors import UsageError

if TYPE_CHECKING:
    from opsloop.config import Config, TaskTaxonomy
    from opsloop.engine import Workspace
    from opsloop.inference import WorkspaceInference
    from opsloop.metrics import AgreementResult, QualityResult
    from opsloop.monitor import MonitorResult, Period
    from opsloop.rca import RcaResult
    from opsloop.report import ReportFiles

Source = Union["Workspace", str, "os.PathLike[str]", Any]
"""A workspace, a file path, or a table (pyarrow or Ibis) in the annotations contract."""

_EXTRA_TABLES = ("gold", "audits", "items", "raters")


def _is_workspace(value: Any) -> TypeGuard[Workspace]:
    """Whether ``value`` is a workspace (without importing the engine when it cannot be)."""
    engine = sys.modules.get("opsloop.engine")
    return engine is not None and isinstance(value, engine.Workspace)


def _is_path(value: Any) -> TypeGuard[str | os.PathLike[str]]:
    return isinstance(value, str | os.PathLike)


def _read(value: Any, table: str, repeats: str) -> Any:
    """A path read and checked into ``table``'s contract; a table as it is."""
    if _is_path(value):
        from opsloop.io import read_table

        return read_table(Path(value), table, repeats=repeats)
    return value


def _check_no_extras(source: Any, **extras: Any) -> None:
    given = [name for name, value in extras.items() if value is not None]
    if _is_workspace(source) and given:
        raise UsageError(
            f"{', '.join(given)}: the workspace uses its own tables and configuration; "
            "pass these with a file or table"
        )


def _write_parquet(table: Any, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = table if isinstance(table, pa.Table) else table.to_pyarrow()
    pq.write_table(arrow, path)
    return path


@contextmanager
def _workspace_of(
    source: Source, config: Config | None, tables: Mapping[str, Any]
) -> Iterator[Workspace]:
    """``source`` itself, or a temporary workspace holding it and ``tables``."""
    if _is_workspace(source):
        yield source
        return
    from opsloop.engine import Workspace
    from opsloop.io import ingest

    with tempfile.TemporaryDirectory(prefix="opsloop-") as tmp:
        root = Path(tmp)
        ws = Workspace.init(root / "workspace", config)
        try:
            for name, value in {"annotations": source, **tables}.items():
                if value is None:
                    continue
                path = (
                    Path(value)
                    if _is_path(value)
                    else _write_parquet(value, root / f"{name}.parquet")
                )
                ingest(ws, name, [path])
            yield ws
        finally:
            ws.close()


def quality(
    source: Source,
    *,
    gold: Any = None,
    audits: Any = None,
    taxonomy: TaskTaxonomy | None = None,
    metrics: Sequence[str] | None = None,
    by: Sequence[str] = (),
    confidence: float = 0.95,
    repeats: str | None = None,
) -> QualityResult:
    """Quality against gold and audits per slice (:func:`opsloop.metrics.quality`).

    On a workspace: annotations joined with items and raters
    (:func:`~opsloop.views.annotation_view`), against its gold and audits
    tables, under its taxonomy and repeat policy (``repeats`` overrides it).
    """
    from opsloop.metrics import quality as quality_of

    _check_no_extras(source, gold=gold, audits=audits, taxonomy=taxonomy)
    if _is_workspace(source):
        from opsloop.views import annotation_view

        ws = source.with_repeats(repeats)
        g = ws.table("gold") if ws.has_table("gold") else None
        a = ws.table("audits") if ws.has_table("audits") else None
        if g is None and a is None:
            raise UsageError("quality needs truth: ingest a gold or audits table")
        return quality_of(annotation_view(ws), gold=g, audits=a, taxonomy=ws.config.taxonomy,
                          metrics=metrics, by=by, confidence=confidence)  # fmt: skip
    policy = repeats or "latest"
    if gold is None and audits is None:
        raise UsageError("quality needs truth: gold= and/or audits= (a file or a table)")
    return quality_of(
        _read(source, "annotations", policy),
        gold=None if gold is None else _read(gold, "gold", policy),
        audits=None if audits is None else _read(audits, "audits", policy),
        taxonomy=taxonomy,
        metrics=metrics,
        by=by,
        confidence=confidence,
    )


def agreement(
    source: Source,
    *,
    metrics: Sequence[str] | None = None,
    by: Sequence[str] = (),
    levels: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    repeats: str | None = None,
) -> AgreementResult:
    """Inter-rater agreement per slice and task (:func:`opsloop.metrics.agreement`).

    Each task's level (nominal, ordinal, interval, ratio) is its taxonomy's on a
    workspace (``levels`` overrides it per task: ``{"quality": "ordinal"}``),
    nominal otherwise. A file without slices is read by the fast path
    (:func:`~opsloop.io.read_labels`: four columns, coded once).
    """
    from opsloop.metrics import agreement as agreement_of
    from opsloop.metrics._agreement import agreement_levels

    if _is_workspace(source):
        from opsloop.views import annotation_view

        ws = source.with_repeats("latest" if repeats == "keep-all" else repeats)
        table: Any = annotation_view(ws)
        taxonomy = ws.config.taxonomy
    else:
        from opsloop.config import Taxonomy

        policy = "latest" if repeats in (None, "keep-all") else repeats
        if _is_path(source) and not by:
            from opsloop.io import read_labels

            table = read_labels(Path(source), repeats=policy)
        else:
            table = _read(source, "annotations", policy)
        taxonomy = Taxonomy()
    tl = agreement_levels(taxonomy, task_names_of(table), dict(levels or {}))
    return agreement_of(table, metrics=metrics, level=tl.default, levels=tl.levels,
                        task_categories=tl.categories, by=by, n_boot=n_boot,
                        seed=seed)  # fmt: skip


def task_names_of(table: Any) -> tuple[str, ...]:
    """The tasks (questions) a table of annotations answers, sorted; ``("label",)``
    without a task column. ``table``: pyarrow, Ibis, or coded by :func:`~opsloop.io.read_labels`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from opsloop.stats._encode import CodedAnnotations

    if isinstance(table, CodedAnnotations):
        return table.task_names or ("label",)
    if isinstance(table, pa.Table):
        if "task" not in table.column_names:
            return ("label",)
        values = pc.unique(pc.fill_null(table["task"].cast(pa.string()), "label")).to_pylist()
        return tuple(sorted(str(v) for v in values)) or ("label",)
    from opsloop.monitor import task_names

    return task_names(table)


def monitor(
    source: Source,
    *,
    period: str = "week",
    kpis: Sequence[str] | None = None,
    as_of: Period | dt.date | str | None = None,
    config: Config | None = None,
    gold: Any = None,
    audits: Any = None,
    items: Any = None,
    raters: Any = None,
) -> MonitorResult:
    """Every KPI against its target per period, control charts and breaches
    (:meth:`opsloop.session.Session.monitor`)."""
    from opsloop.session import Session

    extras = {"gold": gold, "audits": audits, "items": items, "raters": raters}
    _check_no_extras(source, config=config, **extras)
    with _workspace_of(source, config, extras) as ws:
        return Session(ws).monitor(period=period, kpis=kpis, as_of=as_of)


def _period(value: Period | str, last: dt.date | None) -> Period:
    from opsloop.monitor import parse_period

    return parse_period(value, last) if isinstance(value, str) else value


def rca(
    source: Source,
    *,
    kpi: str,
    before: Period | str,
    after: Period | str,
    config: Config | None = None,
    gold: Any = None,
    audits: Any = None,
    items: Any = None,
    raters: Any = None,
    **options: Any,
) -> RcaResult:
    """Why ``kpi`` changed from ``before`` to ``after`` (ISO weeks such as
    ``"2025-W10"``, days, or :class:`~opsloop.monitor.Period`): ranked findings
    with typed evidence (:func:`opsloop.rca.rca`; ``options``: ``dims``,
    ``max_depth``, ``min_support``, ``alpha``, ``top``, ``task``)."""
    from opsloop.monitor import day_from_number
    from opsloop.session import Session

    extras = {"gold": gold, "audits": audits, "items": items, "raters": raters}
    _check_no_extras(source, config=config, **extras)
    with _workspace_of(source, config, extras) as ws:
        run = Session(ws)
        last = run.cube().last_day
        last_day = None if last is None else day_from_number(last)
        return run.rca(kpi=kpi, before=_period(before, last_day),
                       after=_period(after, last_day), **options)  # fmt: skip


def infer(
    source: Source,
    method: str = "auto",
    *,
    gold: Any = None,
    clamp_gold: bool = True,
    seed: int = 0,
    repeats: str | None = None,
    top: int = 20,
) -> WorkspaceInference:
    """True labels, rater reliability and the label-error ranking
    (:func:`opsloop.inference.infer_labels`, :func:`~opsloop.inference.rank_label_errors`).

    On a workspace the results are also stored (inferred_labels,
    rater_reliability, label_error_ranking, label_error_annotations), as
    ``opsloop infer`` does; on a file or table nothing is written
    (``stored`` is empty).
    """
    from opsloop.inference import (
        WorkspaceInference,
        infer_labels,
        infer_workspace,
        rank_label_errors,
    )

    _check_no_extras(source, gold=gold)
    if _is_workspace(source):
        return infer_workspace(source, method, clamp_gold=clamp_gold, seed=seed,
                               repeats=repeats)  # fmt: skip
    policy = repeats or "latest"
    table = _read(source, "annotations", policy)
    g = None if gold is None else _read(gold, "gold", policy)
    result = infer_labels(table, method, g, clamp_gold=clamp_gold, seed=seed, repeats=policy)
    ranking = rank_label_errors(table, estimator=result.estimator, method=result.method, top=top)
    return WorkspaceInference(result, ranking, {}, None)


def report(
    source: Source,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    as_of: str | None = None,
    config: Config | None = None,
    gold: Any = None,
    audits: Any = None,
    items: Any = None,
    raters: Any = None,
) -> ReportFiles:
    """Write the weekly report (``report.html`` and ``report.json``) into ``out_dir``
    (default: the workspace's folder; required for a file or table) and return it
    with its paths (:func:`opsloop.report.write_report`)."""
    from opsloop.report import write_report

    extras = {"gold": gold, "audits": audits, "items": items, "raters": raters}
    _check_no_extras(source, config=config, **extras)
    if out_dir is None and not _is_workspace(source):
        raise UsageError("the report of a file or table needs out_dir: where to write it")
    out = None if out_dir is None else Path(out_dir)
    with _workspace_of(source, config, extras) as ws:
        return write_report(ws, out, as_of=as_of)
