"""Read, map and normalise input files into one checked batch (no workspace writes).

Used both by ingestion (which then writes the batch atomically) and by
analyses run directly on files.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from opsloop.config import Taxonomy
from opsloop.errors import InputError, Problem, UsageError
from opsloop.io._columns import ColumnResolution, resolve_columns
from opsloop.io._normalize import infer_text_types, normalise
from opsloop.io._readers import LINE, SourceRelation, quote_ident
from opsloop.io._sources import open_source
from opsloop.io._wide import not_a_rater, rater_columns, unpivot_wide
from opsloop.schema import CONTRACTS

Layout = Literal["auto", "long", "wide"]
MAX_SHOWN = 5


@dataclass(frozen=True)
class FileReport:
    """What was read from one file and how its columns were mapped."""

    file: str
    format: str
    layout: str
    mapping: dict[str, str]
    extras: tuple[str, ...]
    rows_read: int
    hint: str | None = None  # e.g. what else a tool export holds, what was skipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "layout": self.layout,
            "mapping": self.mapping,
            "extras": list(self.extras),
            "rows_read": self.rows_read,
            "hint": self.hint,
        }


@dataclass
class Batch:
    """Scratch tables of one batch: ``rows`` (all rows) and ``bad`` (problems)."""

    table: str
    rows: str
    bad: str
    files: list[FileReport] = field(default_factory=list)
    extra_types: dict[str, str] = field(default_factory=dict)


def _missing_required(table: str, res: ColumnResolution, columns: Sequence[str]) -> list[str]:
    return [c for c in CONTRACTS[table].required if c not in res.mapping]


def _missing_message(
    table: str, missing: list[str], columns: Sequence[str], not_wide: str | None = None
) -> str:
    msg = (
        f"missing required column(s) {', '.join(missing)} for {table} (found: {', '.join(columns)})"
    )
    if len(columns) == 1 and any(d in columns[0] for d in (";", "|", "\t", ",")):
        msg += "; wrong delimiter? pass --delimiter"
    elif not_wide is not None:
        msg += (
            f"; not read as wide (one column per rater) because {not_wide}: pass --layout wide "
            "if every other column is a rater, or map the columns with --map CANONICAL=COLUMN"
        )
    else:
        msg += "; map them with --map CANONICAL=COLUMN"
    return msg


def build_batch(
    con: Any,
    table: str,
    paths: Sequence[Path],
    *,
    column_map: Mapping[str, str],
    taxonomy: Taxonomy,
    existing_types: Mapping[str, str],
    schema: str,
    layout: Layout = "auto",
    dimensions: Sequence[str] = (),
    fmt: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    columns: Sequence[str] | None = None,
    refuse_repeats: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Batch:
    """Read every file into ``{schema}.rows`` and record problems in ``{schema}.bad``.

    A key given twice is a problem for a table with one row per key (items, raters)
    and, with ``refuse_repeats``, for any table; otherwise repeat rows are kept.
    """
    if table not in CONTRACTS:
        raise UsageError(f"unknown table {table!r} (expected one of {', '.join(CONTRACTS)})")
    if not paths:
        raise UsageError("no input files given")
    say = progress or (lambda _msg: None)
    batch = Batch(table, f"{schema}.rows", f"{schema}.bad")
    con.execute(
        f"CREATE OR REPLACE TABLE {batch.bad} (__file_idx INTEGER, {LINE} BIGINT, "
        "col VARCHAR, reason VARCHAR)"
    )
    options = _ReadOptions(
        column_map, taxonomy, existing_types, schema, layout, dimensions, fmt, delimiter,
        sheet, columns,
    )
    parts: list[str] = []
    for k, path in enumerate(paths):
        say(f"reading {path.name}")
        parts.append(_read_file(con, batch, k, path, options, say))
    # views all the way: the rows are computed when checked and when written, never copied
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {p}" for p in parts)
    con.execute(f"CREATE OR REPLACE VIEW {batch.rows} AS {union}")
    if refuse_repeats or not CONTRACTS[table].is_event_table:
        say("checking for repeated keys")
        _check_duplicates(con, batch, refuse_repeats)
    return batch


@dataclass(frozen=True)
class _ReadOptions:
    column_map: Mapping[str, str]
    taxonomy: Taxonomy
    existing_types: Mapping[str, str]
    schema: str
    layout: Layout
    dimensions: Sequence[str]
    fmt: str | None
    delimiter: str | None
    sheet: str | None = None
    columns: Sequence[str] | None = None


def _layout_for(
    con: Any, source: SourceRelation, table: str, res: ColumnResolution, opts: _ReadOptions
) -> tuple[bool, str | None]:
    """(read as wide?, why a wide reading was not assumed)."""
    if opts.layout == "wide":
        return True, None
    missing = _missing_required(table, res, source.columns)
    if opts.layout != "auto" or table != "annotations" or set(missing) != {"rater_id", "label"}:
        return False, None
    candidates = rater_columns(source, res, opts.dimensions)
    why = not_a_rater(con, source, candidates, opts.taxonomy.for_task("label"))
    return why is None, why


def _read_file(
    con: Any, batch: Batch, k: int, path: Path, opts: _ReadOptions, say: Callable[[str], None]
) -> str:
    """Read, map and normalise file number ``k``; returns the name of its normalised view."""
    table = batch.table
    source = open_source(
        con,
        path,
        table,
        f"{opts.schema}.src{k}",
        fmt=opts.fmt,
        delimiter=opts.delimiter,
        sheet=opts.sheet,
        columns=opts.columns,
    )
    _record_rejects(con, batch, k, source)
    res = resolve_columns(table, list(source.columns), dict(opts.column_map))
    use_wide, not_wide = _layout_for(con, source, table, res, opts)
    # a tool export has its own layout (tasks with nested annotations)
    file_layout: str = source.format if source.format in ("labelstudio", "argilla") else "long"
    if use_wide:
        if table != "annotations":
            raise UsageError("the wide layout (one column per rater) applies to annotations")
        source = unpivot_wide(con, source, res, f"{opts.schema}.long{k}", opts.dimensions)
        res = resolve_columns(table, list(source.columns), dict(opts.column_map))
        file_layout = "wide"
    missing = _missing_required(table, res, source.columns)
    if missing:
        message = _missing_message(table, missing, source.columns, not_wide)
        raise InputError.single(source.file, message, line=1)
    _check_extra_names(source.file, res)
    text_extras = [
        c
        for c in res.extras
        if c not in opts.existing_types and _type_of(con, source, c) == "VARCHAR"
    ]
    extra_types = dict(opts.existing_types)
    if source.format != "parquet":
        extra_types.update(infer_text_types(con, source, text_extras))
    for col in res.extras:
        batch.extra_types.setdefault(col, extra_types.get(col) or _type_of(con, source, col))
    target = f"{opts.schema}.norm{k}"
    say(f"checking {path.name}")
    normalise(
        con,
        source,
        table=table,
        mapping=res.mapping,
        extras=list(res.extras),
        extra_types=batch.extra_types,
        taxonomy=opts.taxonomy,
        file_idx=k,
        target=target,
    )
    con.execute(
        f"INSERT INTO {batch.bad} SELECT __file_idx, {LINE}, __pcol, __preason "
        f"FROM {target} WHERE __pcol IS NOT NULL"
    )
    n = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
    if n == 0 and source.n_rejected_records == 0:
        raise InputError.single(source.file, "no rows (the file has a header but no records)")
    report = FileReport(
        source.file,
        source.format,
        file_layout,
        dict(res.mapping),
        res.extras,
        int(n) + source.n_rejected_records,
        source.hint,
    )
    batch.files.append(report)
    return target


def _type_of(con: Any, source: SourceRelation, col: str) -> str:
    for name, sql_type, *_ in con.execute(f"DESCRIBE {source.name}").fetchall():
        if name == col:
            return str(sql_type)
    return "VARCHAR"


def _check_extra_names(file: str, res: ColumnResolution) -> None:
    canonical = {c.lower() for c in res.mapping}
    for col in res.extras:
        if col.lower() in canonical or col.startswith("__"):
            raise InputError.single(
                file,
                f"column {col!r} clashes with the canonical column mapped from "
                f"{res.mapping.get(col.lower(), col)!r}; rename it or map it with --map",
                line=1,
                column=col,
            )


def _record_rejects(con: Any, batch: Batch, k: int, source: SourceRelation) -> None:
    for p in source.rejects:
        con.execute(f"INSERT INTO {batch.bad} VALUES (?, ?, ?, ?)", [k, p.line, p.column, p.reason])


def _check_duplicates(con: Any, batch: Batch, refuse_repeats: bool) -> None:
    key = CONTRACTS[batch.table].key
    cols = ", ".join(quote_ident(c) for c in key)
    desc = " || ', ' || ".join(f"'{c}=' || coalesce({quote_ident(c)}, '∅')" for c in key)
    # a hash aggregate finds repeated keys; only their rows are ranked
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE dup_keys AS
        SELECT {cols} FROM {batch.rows} WHERE __pcol IS NULL
        GROUP BY ALL HAVING count(*) > 1
    """)
    if not con.execute("SELECT count(*) FROM dup_keys").fetchone()[0]:
        return
    con.execute(f"""
        INSERT INTO {batch.bad}
        SELECT __file_idx, {LINE}, NULL,
               {"'repeat of (' || " + desc + " || ') refused by the repeat policy error'" if refuse_repeats else "'duplicate (' || " + desc + " || ')'"}
               || ': first given on line ' || CAST(first_line AS VARCHAR)
               || CASE WHEN first_file <> __file_idx THEN ' of file #' || CAST(first_file + 1 AS VARCHAR) ELSE '' END
        FROM (
            SELECT __file_idx, {LINE}, {cols},
                   row_number() OVER w AS k,
                   first_value({LINE}) OVER w AS first_line,
                   first_value(__file_idx) OVER w AS first_file
            FROM {batch.rows} SEMI JOIN dup_keys USING ({cols})
            WHERE __pcol IS NULL
            WINDOW w AS (PARTITION BY {cols} ORDER BY __file_idx, {LINE})
        ) WHERE k > 1
    """)


def collect_problems(con: Any, batch: Batch, taxonomy: Taxonomy) -> tuple[list[Problem], int]:
    """The first problems (by file and line) and how many more there are."""
    total = con.execute(f"SELECT count(*) FROM {batch.bad}").fetchone()[0]
    rows = con.execute(
        f"SELECT __file_idx, {LINE}, col, reason FROM {batch.bad} "
        f"ORDER BY __file_idx, {LINE} NULLS FIRST LIMIT {MAX_SHOWN}"
    ).fetchall()
    problems = []
    for idx, line, col, reason in rows:
        file = batch.files[idx].file if idx < len(batch.files) else "?"
        problems.append(
            Problem(file, None if line is None else int(line), col, _enrich(str(reason), taxonomy))
        )
    return problems, int(total) - len(problems)


def _enrich(reason: str, taxonomy: Taxonomy) -> str:
    if reason.startswith("unknown label '") and taxonomy.labels:
        value = reason[len("unknown label '") : -1]
        close = difflib.get_close_matches(value, list(taxonomy.labels), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = ", ".join(taxonomy.labels[:12])
        return f"{reason}{hint}; the taxonomy has: {shown}"
    return reason


def raise_if_problems(con: Any, batch: Batch, taxonomy: Taxonomy) -> None:
    problems, more = collect_problems(con, batch, taxonomy)
    if problems:
        raise InputError(problems, more)
