"""Shared pieces of the labeling-tool readers (Label Studio, Argilla).

A tool export holds several tables at once: the items (with their fields and
metadata), the raters' answers (annotations), the model's pre-labels
(predictions) and sometimes reference answers (gold). Its records are staged once
as JSON values — ``(__line, rec)`` — through DuckDB's JSON scanner, and each table
is then one SQL query over them. This module has the staging, the SQL that turns
an answer value into a label, and the messages: what else the file holds and what
was skipped (the ``hint`` of the file report), and the error when the asked table
has no rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsloop.errors import InputError
from opsloop.io._readers import (
    LINE,
    Format,
    SourceRelation,
    duckdb_reason,
    quote_ident,
    relation_columns,
    sql_string,
)

SAMPLE = 200  # records looked at to tell a file's layout

# how each table is named in messages
_NOUNS = {
    "items": ("item", "items"),
    "annotations": ("annotation", "annotations"),
    "predictions": ("prediction", "predictions"),
    "gold": ("ground-truth annotation", "ground-truth annotations"),
}


def stage_json(con: Any, path: Path, fmt: Format, name: str, *, limit: int | None = None) -> str:
    """Records of a JSON array or JSON Lines file as ``name(__line, rec JSON)``.

    ``__line`` is the record's position in the array (JSON) or its line (JSON Lines).
    """
    layout = "newline_delimited" if fmt == "jsonl" else "array"
    cap = "" if limit is None else f" LIMIT {limit}"
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {name} AS SELECT "
            f"CAST(row_number() OVER () AS BIGINT) AS {LINE}, json AS rec "
            f"FROM (SELECT json FROM read_json_objects({sql_string(path.as_posix())}, "
            f"format = '{layout}'){cap})"
        )
    except Exception as exc:  # duckdb raises many types; all mean unreadable input
        line, reason = duckdb_reason(exc)
        raise InputError.single(str(path), reason, line=line) from None
    return name


def stage_rows_as_json(con: Any, source: SourceRelation, name: str) -> str:
    """Rows of a table already read (CSV, Parquet) as ``name(__line, rec JSON)``."""
    pairs = ", ".join(f"{sql_string(c)}, {quote_ident(c)}" for c in source.columns)
    con.execute(
        f"CREATE OR REPLACE TABLE {name} AS "
        f"SELECT {LINE}, json_object({pairs}) AS rec FROM {source.name}"
    )
    return name


@dataclass(frozen=True)
class KeyShape:
    """How one top-level key of the records looks: its JSON types and list contents."""

    types: frozenset[str]
    answer_list: bool  # a list of objects with user_id and value: one question's answers
    list_text: bool  # every value is a list, or a list written as text ('[0.1, 0.2]' in a CSV)

    @property
    def scalar(self) -> bool:
        return not self.types & {"ARRAY", "OBJECT"} and not self.list_text


def key_shapes(con: Any, records: str, *, of: str = "rec") -> dict[str, KeyShape]:
    """Top-level keys of JSON ``of`` over the records, with their shapes."""
    rows = con.execute(f"""
        SELECT k, list(DISTINCT json_type(v)),
               bool_or(json_type(v) = 'ARRAY' AND json_exists(v, '$[0].user_id')
                       AND json_exists(v, '$[0].value')),
               bool_and(json_type(v) = 'ARRAY' OR starts_with(v ->> '$', '['))
                   FILTER (WHERE json_type(v) <> 'NULL')
        FROM (SELECT k, json_extract(j, '$."' || replace(k, '"', '\\"') || '"') AS v
              FROM (SELECT j, unnest(json_keys(j)) AS k FROM
                    (SELECT {of} AS j FROM {records} WHERE json_type({of}) = 'OBJECT')))
        GROUP BY k
    """).fetchall()
    return {
        str(k): KeyShape(frozenset(str(t) for t in types if t is not None), bool(ans), bool(lst))
        for k, types, ans, lst in rows
    }


def path_of(*keys: str) -> str:
    """A JSON path literal for nested keys: ``path_of("a.b", "c")`` -> ``'$."a.b"."c"'``."""
    quoted = ".".join('"' + k.replace('"', '\\"') + '"' for k in keys)
    return sql_string("$." + quoted)


def text_list(text_sql: str) -> str:
    """SQL: a list written as text (JSON, or Python/NumPy repr from a CSV) -> VARCHAR[]."""
    text_sql = f"({text_sql})"
    return (
        f"coalesce(TRY_CAST(TRY_CAST({text_sql} AS JSON) AS VARCHAR[]), "
        f"TRY_CAST(regexp_replace({text_sql}, '([''\"])\\s+([''\"])', '\\1, \\2', 'g') "
        "AS VARCHAR[]))"
    )


def element_label(elem_sql: str) -> str:
    """SQL: one element of an answer list -> label text (a nested list joined with ``|``)."""
    elem_sql = f"({elem_sql})"
    return (
        f"CASE WHEN {elem_sql} IS NULL OR {elem_sql} IN ('', 'None', 'null', 'nan') THEN NULL "
        f"WHEN starts_with({elem_sql}, '[') "
        f"THEN coalesce(array_to_string({text_list(elem_sql)}, '|'), {elem_sql}) "
        f"ELSE {elem_sql} END"
    )


def value_label(json_sql: str) -> str:
    """SQL: an answer value (JSON) -> label text; several choices are joined with ``|``."""
    json_sql = f"({json_sql})"
    text = f"({json_sql} ->> '$')"
    return (
        f"CASE json_type({json_sql}) WHEN 'NULL' THEN NULL "
        f"WHEN 'ARRAY' THEN nullif(array_to_string(list_transform("
        f"CAST({json_sql} AS VARCHAR[]), x -> {element_label('x')}), '|'), '') "
        f"WHEN 'VARCHAR' THEN {element_label(text)} "
        f"ELSE {json_sql} ->> '$' END"
    )


def json_list(json_sql: str) -> str:
    """SQL: a list value (JSON array, or its text in a CSV cell) -> VARCHAR[]."""
    json_sql = f"({json_sql})"
    text = f"({json_sql} ->> '$')"
    return (
        f"CASE json_type({json_sql}) WHEN 'ARRAY' THEN CAST({json_sql} AS VARCHAR[]) "
        f"WHEN 'VARCHAR' THEN {text_list(text)} END"
    )


def score_text(json_sql: str) -> str:
    """SQL: a single score as text (a list of scores, one per chosen label, gives NULL)."""
    json_sql = f"({json_sql})"
    return (
        f"CASE WHEN json_type({json_sql}) IN ('ARRAY', 'OBJECT', 'NULL') THEN NULL "
        f"WHEN starts_with({json_sql} ->> '$', '[') THEN NULL "
        f"ELSE nullif(trim({json_sql} ->> '$'), '') END"
    )


def column_names(keys: Sequence[str], taken: Sequence[str], prefix: str) -> dict[str, str]:
    """Output column per key: the key itself, or ``prefix.key`` when the name is taken."""
    used = set(taken)
    out: dict[str, str] = {}
    for key in keys:
        name = key if key not in used and not key.startswith("__") else f"{prefix}.{key}"
        used.add(name)
        out[key] = name
    return out


def materialise(con: Any, name: str, query: str, file: str, what: str) -> None:
    """``CREATE TABLE name AS query``; a DuckDB failure is one located line."""
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {query}")
    except Exception as exc:  # duckdb raises many types; all mean unreadable input
        line, reason = duckdb_reason(exc)
        raise InputError.single(file, f"not a readable {what}: {reason}", line=line) from None


def count_rows(con: Any, name: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    return int(row[0]) if row else 0


def _count(n: int, table: str) -> str:
    one, many = _NOUNS[table]
    return f"{n:,} {one if n == 1 else many}"


def also_holds(path: Path, table: str, counts: Mapping[str, int]) -> str | None:
    """'the export also holds 12 predictions …: ingest them with `opsloop ingest …`'."""
    others = [(t, n) for t, n in counts.items() if t != table and n > 0]
    if not others:
        return None
    parts = [_count(n, t) for t, n in others]
    held = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    tables = "|".join(t for t, _ in others)
    return f"the export also holds {held}: ingest them with `opsloop ingest {tables} {path}`"


def join_notes(*notes: str | None) -> str | None:
    present = [n for n in notes if n]
    return "; ".join(present) if present else None


@dataclass(frozen=True)
class ExportRead:
    """One table read from a tool export, with what the export holds besides."""

    table: str
    counts: Mapping[str, int]  # rows each table would get from this export
    skipped: str | None  # e.g. "skipped 3 discarded and 1 draft responses"


def finish(
    con: Any, path: Path, name: str, fmt: Format, unit: str, read: ExportRead, tool: str
) -> SourceRelation:
    """The SourceRelation of ``name``, or one clear line when the asked table is empty."""
    hint = also_holds(path, read.table, read.counts)
    if read.counts.get(read.table, 0) == 0:
        what = _NOUNS[read.table][1]
        reason = f"the {tool} export holds no {what}"
        raise InputError.single(str(path), join_notes(reason, read.skipped, hint) or reason)
    return SourceRelation(
        str(path),
        fmt,
        name,
        relation_columns(con, name),
        unit,
        (),
        0,
        join_notes(read.skipped, hint),
    )


def refuse_table(path: Path, table: str, tool: str, counts: Mapping[str, int]) -> InputError:
    held = [t for t, n in counts.items() if n > 0] or list(counts)
    return InputError.single(
        str(path),
        f"the {tool} export holds {', '.join(held)}, not {table}: "
        f"ingest it with `opsloop ingest {'|'.join(held)} {path}`",
    )
