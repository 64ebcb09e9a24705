"""Read a label file straight into integer codes: the fast path of analyses on a file.

``opsloop infer FILE``, ``relabel FILE`` and ``agreement FILE`` use four columns
(item, rater, label, task) and, to order repeat labels, ``submitted_at``.
:func:`read_labels` reads only those, in one scan of the file — pyarrow's Parquet
reader (:mod:`opsloop.io._label_columns`: rater, label and task codes straight
from the file's dictionary pages), else DuckDB's scanner — checks them as
:func:`~opsloop.io.read_table` does — a missing item, rater or label, a timestamp
that does not parse, a label outside the task's taxonomy, repeats under the
repeat policy — and codes them once: each string column is dictionary-encoded
(one hash pass at most; none for a column in sorted order) and its dictionary
sorted, so codes do not depend on row order; trimming and "empty means missing"
are applied to the distinct values, not to every row. The other columns of the
file are not read (nor checked).

Anything the fast path does not handle — several files, the wide layout, a
format other than CSV/TSV/Parquet, a tool export, a bad value, a repeat refused
by ``error`` — goes through :func:`~opsloop.io.read_table` instead, which raises
the same located errors (``file:line: column: reason``) as ingestion; its rows
are then coded by :func:`~opsloop.stats._encode.encode_tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.config import REPEAT_POLICIES, Taxonomy
from opsloop.errors import OpsloopError
from opsloop.io._columns import resolve_columns
from opsloop.io._label_columns import (
    NO_TIME,
    TABLE,
    TEXT_COLUMNS,
    Codes,
    LabelColumns,
    code_label_columns,
    parquet_label_columns,
)
from opsloop.io._readers import detect_format, quote_ident
from opsloop.schema import CONTRACTS
from opsloop.stats._encode import (
    DEFAULT_TASK,
    CodedAnnotations,
    CodedLabels,
    arrow_mask,
    encode_tasks,
    numpy_ints,
    string_codes,
)

if TYPE_CHECKING:
    from opsloop.io._batch import Layout

# DuckDB, the ingest checks and read_table load only when a file needs them (start-up time)

FAST_FORMATS = ("csv", "tsv", "parquet")
_ALIASES = dict(zip(TEXT_COLUMNS, ("i", "r", "l", "t"), strict=True))
# characters that may be trimmed (Unicode white space and space separators): a
# dictionary value starting or ending with one is trimmed by DuckDB itself
_SPACES = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u180e\u200b\ufeff"


def read_labels(
    paths: Sequence[Path] | Path,
    *,
    column_map: Mapping[str, str] | None = None,
    taxonomy: Taxonomy | None = None,
    repeats: str = "latest",
    layout: Layout = "auto",
    fmt: str | None = None,
    delimiter: str | None = None,
    columns: Sequence[str] | None = None,
) -> CodedAnnotations:
    """Annotation files -> every task coded once, under the repeat policy (module docstring).

    The result holds what ``read_table(paths, "annotations", ...)`` followed by
    coding would: the same rows (one per (item, rater, task) unless
    ``repeats="keep-all"``), in file order, and ``n_set_aside`` equal to
    :func:`~opsloop.io.repeats_set_aside` of that table.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("question,worker,answer\\nq1,w1,yes\\nq1,w1,no\\nq1,w2,no\\n")
    >>> coded = read_labels(p)
    >>> task = coded.tasks["label"]
    >>> task.categories, task.labels.tolist(), coded.n_set_aside
    (('no',), [0, 0], 1)
    """
    policy = repeats if repeats in REPEAT_POLICIES else _check_policy(repeats)
    files = [paths] if isinstance(paths, Path) else list(paths)
    tax = taxonomy or Taxonomy()
    mapping = dict(column_map or {})
    if len(files) == 1 and layout != "wide":
        options = _Options(mapping, tax, policy, fmt, delimiter, columns)
        coded = _read_fast(files[0], options)
        if coded is not None:
            return coded
    from opsloop.io._read import read_table, repeats_set_aside

    table = read_table(files, TABLE, column_map=mapping, taxonomy=tax, layout=layout,
                       fmt=fmt, delimiter=delimiter, columns=columns, repeats=policy)  # fmt: skip
    return encode_tasks(table, repeats=policy, n_set_aside=repeats_set_aside(table))


def _check_policy(repeats: str) -> str:
    from opsloop.io._read import check_policy  # raises the engine's error naming the policies

    return check_policy(repeats)


@dataclass(frozen=True)
class _Options:
    column_map: dict[str, str]
    taxonomy: Taxonomy
    policy: str
    fmt: str | None
    delimiter: str | None
    columns: Sequence[str] | None


class _Scratch:
    """A scratch DuckDB connection, opened on first use (a Parquet file seldom needs one)."""

    def __init__(self) -> None:
        self._con: Any = None

    @property
    def con(self) -> Any:
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
            self._con.execute("SET enable_progress_bar = false")
            self._con.execute("SET TimeZone = 'UTC'")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def _read_fast(path: Path, opts: _Options) -> CodedAnnotations | None:
    """The coded rows, or ``None`` when :func:`read_table` must read (and judge) the file."""
    try:
        file_format = detect_format(path, opts.fmt)
    except OpsloopError:
        return None
    if file_format not in FAST_FORMATS:
        return None
    scratch = _Scratch()
    try:
        columns = None
        if file_format == "parquet":
            columns = parquet_label_columns(path, opts.column_map, opts.columns)
        if columns is None:
            columns = _scanned_columns(scratch.con, path, opts)
        if columns is None:
            return None
        return _coded_file(scratch, columns, opts)
    except OpsloopError:
        return None  # read_table says what is wrong, with its line
    finally:
        scratch.close()
        pa.default_memory_pool().release_unused()


def _scan(con: Any, path: Path, opts: _Options) -> pa.Table | None:
    """One scan of the file: the used columns as text (``s``: epoch µs, ``bad``: unparsed)."""
    from opsloop.io._batch import _check_extra_names
    from opsloop.io._normalize import _typed
    from opsloop.io._sources import open_source

    source = open_source(con, path, TABLE, "main.src0", fmt=opts.fmt,
                         delimiter=opts.delimiter, columns=opts.columns)  # fmt: skip
    if source.format not in FAST_FORMATS or source.n_rejected_records:
        return None
    res = resolve_columns(TABLE, list(source.columns), dict(opts.column_map))
    if any(c not in res.mapping for c in CONTRACTS[TABLE].required):
        return None  # the wide layout, or a missing column: read_table decides
    _check_extra_names(source.file, res)
    types = {r[0]: str(r[1]) for r in con.execute(f"DESCRIBE {source.name}").fetchall()}
    selects = []
    for canonical, alias in _ALIASES.items():
        if canonical in res.mapping:
            col = res.mapping[canonical]
            text = quote_ident(col) if types[col].upper() == "VARCHAR" else (
                f"CAST({quote_ident(col)} AS VARCHAR)")  # fmt: skip
            selects.append(f"{text} AS {alias}")
    if "submitted_at" in res.mapping:
        col = res.mapping["submitted_at"]
        spec = CONTRACTS[TABLE].column("submitted_at")
        if spec is None:  # pragma: no cover - the contract has it
            return None
        expr = _typed(spec, quote_ident(col), types[col], TABLE)
        selects.append(f"epoch_us({expr.value}) AS s")
        bad = " OR ".join(f"({cond})" for cond, _ in expr.problems) or "false"
        selects.append(f"coalesce({bad}, false) AS bad")
    result: pa.Table = con.execute(
        f"SELECT {', '.join(selects)} FROM {source.name}"
    ).to_arrow_table()
    return result


def _scanned_columns(con: Any, path: Path, opts: _Options) -> LabelColumns | None:
    """DuckDB's scan of the file, coded; ``None`` when read_table must judge it."""
    rows = _scan(con, path, opts)
    if rows is None or rows.num_rows == 0:
        return None
    if "bad" in rows.column_names and pc.any(rows["bad"]).as_py():
        return None  # a timestamp that does not parse
    times = None
    if "s" in rows.column_names:
        times = numpy_ints(rows["s"], fill=NO_TIME).astype(np.int64)
    task = rows["t"] if "t" in rows.column_names else None
    return code_label_columns(rows["i"], rows["r"], rows["l"], task, times)


def _coded_file(
    scratch: _Scratch, columns: LabelColumns, opts: _Options
) -> CodedAnnotations | None:
    """Check and code the columns under the policy; ``None`` at the first problem."""
    if columns.items is not None and len(columns.items[0]) == 0:
        return None  # no rows: read_table says so
    items = _trimmed(scratch, columns.items, None)
    raters = _trimmed(scratch, columns.raters, None)
    labels = _trimmed(scratch, columns.labels, None)
    tasks = _trimmed(scratch, columns.tasks, DEFAULT_TASK)
    if items is None or raters is None or labels is None or tasks is None:
        return None  # a missing item, rater or label
    if not _in_taxonomy(labels, tasks, opts.taxonomy):
        return None
    key = _pair_keys(items, raters, tasks)
    kept = None if key is None else _kept_rows(key, items[0], columns.times, opts.policy)
    if kept is None:
        return None  # a repeat the policy "error" refuses (read_table names each one)
    keep, n_set_aside = kept
    del key
    tasks_coded = _split_tasks(items, raters, labels, tasks, keep)
    return CodedAnnotations(tasks_coded, True, opts.policy, n_set_aside)


def _pair_keys(items: Codes, raters: Codes, tasks: Codes) -> np.ndarray | None:
    """One integer per (task, item, rater); ``None`` when that does not fit in 62 bits."""
    n_items, n_raters, n_tasks = len(items[1]), len(raters[1]), len(tasks[1])
    if n_tasks * n_items * n_raters >= 2**62:
        return None
    key = items[0] * n_raters
    key += raters[0]
    if n_tasks > 1:
        key += tasks[0] * (n_items * n_raters)
    return key


def _trimmed(scratch: _Scratch, coded: Codes | None, missing: str | None) -> Codes | None:
    """``coded`` with its values trimmed as DuckDB trims them, an empty value being missing.

    Only the distinct values are looked at; the rare column that needs it is
    trimmed by DuckDB itself, so the values equal read_table's row by row.
    """
    if coded is None or not len(coded[1]):
        return coded
    codes, names = coded
    size = pc.binary_length(names)  # trimming shortens a value or leaves it as it is
    untrimmed = pc.any(pc.not_equal(pc.binary_length(pc.utf8_trim(names, characters=_SPACES)),
                                    size)).as_py()  # fmt: skip
    if not untrimmed and pc.min(size).as_py() > 0:
        return coded
    con = scratch.con
    con.register("__opsloop_names", pa.table({"v": names}))
    try:
        clean = con.execute(
            "SELECT nullif(trim(v), '') AS v FROM __opsloop_names"
        ).to_arrow_table()["v"]
    finally:
        con.unregister("__opsloop_names")
    if clean.null_count and missing is None:
        return None
    remap, merged = string_codes(clean, missing=missing)
    return remap[codes], merged


def _in_taxonomy(labels: Codes, tasks: Codes, taxonomy: Taxonomy) -> bool:
    """Every (task, label) pair allowed by that task's taxonomy (tasks without one are open)."""
    checks = [(DEFAULT_TASK, taxonomy.labels)]
    checks += [(name, tt.labels) for name, tt in taxonomy.tasks.items()]
    checks = [(name, allowed) for name, allowed in checks if allowed]
    if not checks:
        return True
    task_names = tasks[1].to_pylist()
    label_names = labels[1].to_pylist()
    n_labels = max(len(label_names), 1)
    pair = labels[0] if len(task_names) == 1 else tasks[0] * n_labels + labels[0]
    if len(task_names) * n_labels <= 1 << 22:
        pairs = np.flatnonzero(np.bincount(pair, minlength=len(task_names) * n_labels))
    else:
        pairs = np.unique(pair)
    for code in pairs.tolist():
        task, label = task_names[code // n_labels], label_names[code % n_labels]
        if any(name == task and label not in allowed for name, allowed in checks):
            return False
    return True


def _kept_rows(
    key: np.ndarray, items: np.ndarray, times: np.ndarray | None, policy: str
) -> tuple[np.ndarray | None, int] | None:
    """(row mask the policy keeps, or None for all; rows set aside); None if refused.

    As :func:`read_table`: ``latest`` keeps the newest row of a key by time (a row
    without one is oldest), then the later row of the file; ``first`` the oldest,
    then the earlier row; ``keep-all`` every row; ``error`` refuses any repeat.
    """
    if policy == "keep-all" or not _any_repeat(key, items):
        return None, 0
    ordered = np.sort(key)
    repeated = ordered[1:] == ordered[:-1]
    if policy == "error":
        return None
    dup_keys = np.unique(ordered[1:][repeated])
    where = np.minimum(np.searchsorted(dup_keys, key), len(dup_keys) - 1)
    in_dup = dup_keys[where] == key
    rows = np.flatnonzero(in_dup)
    when = times[rows] if times is not None else np.zeros(len(rows), np.int64)
    order = np.lexsort((rows, when, key[rows]))
    grouped = key[rows][order]
    starts = np.r_[True, grouped[1:] != grouped[:-1]]
    ends = np.r_[grouped[1:] != grouped[:-1], True]
    winners = rows[order[ends if policy == "latest" else starts]]
    keep = ~in_dup
    keep[winners] = True
    return keep, len(rows) - len(winners)


_NEAR = 8  # rows of one item compared with each other, at most, before sorting instead


def _any_repeat(key: np.ndarray, items: np.ndarray) -> bool:
    """Whether a (task, item, rater) ``key`` occurs twice.

    In a file in item order the rows of an item are together, so a repeat lies
    within an item's ``r_i`` rows: comparing each row with the next ``max r_i − 1``
    ones decides (a few passes instead of a sort); otherwise the keys are sorted.
    """
    if len(key) < 2:
        return False
    if bool((items[1:] >= items[:-1]).all()):
        most = int(np.bincount(items).max())
        if most <= _NEAR:
            return any(bool((key[d:] == key[:-d]).any()) for d in range(1, most))
    ordered = np.sort(key)
    return bool((ordered[1:] == ordered[:-1]).any())


def _split_tasks(
    items: Codes, raters: Codes, labels: Codes, tasks: Codes, keep: np.ndarray | None
) -> dict[str, CodedLabels]:
    """One :class:`CodedLabels` per task, each with its own (sorted) dictionaries."""
    names = tasks[1].to_pylist()
    columns = [c[0] if keep is None else c[0][keep] for c in (items, raters, labels)]
    task_codes = tasks[0] if keep is None or len(names) == 1 else tasks[0][keep]
    # every value is used by some row until rows are set aside or split by task
    compact = _compact if keep is not None or len(names) > 1 else _as_is
    out: dict[str, CodedLabels] = {}
    for t, name in enumerate(names):
        sel = None if len(names) == 1 else np.flatnonzero(task_codes == t)
        parts = [c if sel is None else c[sel] for c in columns]
        item_codes, item_names = compact(parts[0], items[1])
        rater_codes, rater_names = compact(parts[1], raters[1])
        label_codes, categories = compact(parts[2], labels[1])
        out[str(name)] = CodedLabels(
            items=item_codes,
            raters=rater_codes,
            labels=label_codes,
            item_names=item_names,
            rater_names=tuple(rater_names.to_pylist()),
            categories=tuple(categories.to_pylist()),
            n_duplicates=0,
        )
    return out


def _as_is(codes: np.ndarray, names: pa.Array) -> Codes:
    return codes, names


def _compact(codes: np.ndarray, names: pa.Array) -> Codes:
    """Codes into only the values used (order kept)."""
    used = np.bincount(codes, minlength=len(names)) > 0
    if used.all():
        return codes, names
    new = np.cumsum(used) - 1
    return new[codes], names.filter(arrow_mask(used))
