"""File readers: each turns one input file into a DuckDB relation of strings.

Every reader goes through DuckDB's own scanners (``read_csv``,
``read_parquet``, ``read_json``) — no Python row loops — and yields a SQL
``SELECT`` with the file's columns plus ``__line``: the 1-based line of the
record (a CSV header is line 1; a quoted field with embedded newlines counts
as one record) or the 1-based row of a Parquet file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opsloop.errors import InputError, Problem

Format = Literal["csv", "tsv", "parquet", "jsonl", "json", "labelstudio"]

_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "jsonl", "json", "labelstudio")
LINE = "__line"


@dataclass(frozen=True)
class SourceRelation:
    """A file read into a scratch table ``name`` with a ``__line`` column."""

    file: str
    format: Format
    name: str
    columns: tuple[str, ...]
    unit: str  # "line" or "row": how __line counts
    rejects: tuple[Problem, ...]  # records the scanner itself could not read
    n_rejected_records: int


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def detect_format(path: Path, explicit: str | None) -> Format:
    if explicit:
        if explicit not in FORMATS:
            raise InputError.single(
                str(path), f"unknown format {explicit!r} (expected one of {', '.join(FORMATS)})"
            )
        return explicit  # type: ignore[return-value]
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst"):
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise InputError.single(
            str(path),
            f"cannot tell the format from the name; pass --format ({', '.join(FORMATS)})",
        )
    return fmt


def check_file(path: Path) -> None:
    if not path.exists():
        raise InputError.single(str(path), "no such file")
    if path.is_dir():
        raise InputError.single(str(path), "is a directory, not a file")
    if path.stat().st_size == 0:
        raise InputError.single(str(path), "file is empty (0 bytes)")


_DUCK_LINE = re.compile(r"(?:Line|line)[: ]+(\d+)")


def duckdb_reason(exc: Exception) -> tuple[int | None, str]:
    """The line (if any) and the first meaningful line of a DuckDB error."""
    text = str(exc)
    match = _DUCK_LINE.search(text)
    line = int(match.group(1)) if match else None
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    reason = lines[0] if lines else type(exc).__name__
    for prefix in (
        "Invalid Input Error: ",
        "IO Error: ",
        "Conversion Error: ",
        "Binder Error: ",
        "Parser Error: ",
        "Invalid Error: ",
    ):
        reason = reason.removeprefix(prefix)
    for extra in lines[1:]:
        if extra.startswith(("Invalid unicode", "Expected Number", "Value with unterminated")):
            reason = extra
            break
    return line, reason


def read_source(
    con: Any, path: Path, fmt: Format, name: str, *, delimiter: str | None
) -> SourceRelation:
    """Materialise ``path`` as scratch table ``name`` (all columns VARCHAR but Parquet's)."""
    file = str(path)
    lit = sql_string(path.as_posix())
    if fmt in ("csv", "tsv"):
        delim = delimiter or ("\t" if fmt == "tsv" else None)
        tag = name.replace(".", "_")
        options = (
            "header = true, all_varchar = true, store_rejects = true, "
            f"rejects_table = {sql_string(tag + '_rej')}, "
            f"rejects_scan = {sql_string(tag + '_scan')}"
        )
        if delim is not None:
            options += f", delim = {sql_string(delim)}"
        query = f"SELECT * FROM read_csv({lit}, {options})"
        unit, offset = "line", 1
    elif fmt == "parquet":
        query = (
            f"SELECT * EXCLUDE (file_row_number), CAST(file_row_number + 1 AS BIGINT) AS {LINE} "
            f"FROM read_parquet({lit}, file_row_number = true)"
        )
        unit, offset = "row", -1
    elif fmt == "jsonl":
        query = f"SELECT * FROM read_json({lit}, format = 'newline_delimited', records = true)"
        unit, offset = "line", 0
    elif fmt == "json":
        query = f"SELECT * FROM read_json({lit}, format = 'array', records = true)"
        unit, offset = "row", 0
    else:
        raise InputError.single(file, f"format {fmt!r} has its own reader")
    if offset < 0:  # the scanner numbers rows itself: a view, read once by normalisation
        statement = f"CREATE OR REPLACE VIEW {name} AS {query}"
    else:
        statement = (
            f"CREATE OR REPLACE TABLE {name} AS SELECT *, "
            f"CAST(row_number() OVER () + {offset} AS BIGINT) AS {LINE} FROM ({query})"
        )
    try:
        con.execute(statement)
        if offset < 0:
            con.execute(f"SELECT * FROM {name} LIMIT 1").fetchall()  # surface unreadable files now
    except Exception as exc:  # duckdb raises many types; all mean unreadable input
        line, reason = duckdb_reason(exc)
        if fmt == "parquet":
            reason = f"not a readable Parquet file (truncated or corrupt?): {reason}"
        raise InputError.single(file, reason, line=line) from None
    rejects: list[Problem] = []
    n_rejected = 0
    if fmt in ("csv", "tsv"):
        tag = name.replace(".", "_")
        rows = con.execute(
            f"SELECT line, column_name, error_type, error_message FROM {tag}_rej ORDER BY line"
        ).fetchall()
        n_rejected = len({r[0] for r in rows})
        for line, column, error_type, message in rows:
            rejects.append(Problem(file, int(line), column, _reject_reason(error_type, message)))
        if n_rejected:
            _renumber_after_rejects(con, name, sorted({int(r[0]) for r in rows}))
    columns = tuple(r[0] for r in con.execute(f"DESCRIBE {name}").fetchall() if r[0] != LINE)
    return SourceRelation(file, fmt, name, columns, unit, tuple(rejects), n_rejected)


def _reject_reason(error_type: str, message: str) -> str:
    kinds = {
        "TOO MANY COLUMNS": "too many fields for the header",
        "MISSING COLUMNS": "too few fields for the header",
        "INVALID ENCODING": "not UTF-8 text (invalid byte sequence)",
        "UNQUOTED VALUE": "unquoted value",
        "LINE SIZE OVER MAXIMUM": "line too long",
        "CAST": "value does not fit the column type",
    }
    base = kinds.get(error_type, error_type.lower())
    detail = message.split("\n")[0]
    return f"{base} ({detail})" if detail and error_type != "INVALID ENCODING" else base


def _renumber_after_rejects(con: Any, name: str, reject_lines: list[int]) -> None:
    """Shift ``__line`` of accepted CSV records past the records the scanner rejected.

    Accepted record k (0-based) sits on line ``k + 2 + #{j : r_j - 1 - j <= k}``
    for rejected lines ``r_1 < r_2 < …`` (1-based j).
    """
    thresholds = [r - 1 - j for j, r in enumerate(reject_lines, start=1)]
    values = ", ".join(f"({t})" for t in thresholds)
    thr = name.replace(".", "_") + "_thr"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {thr} AS SELECT * FROM (VALUES {values}) v(t)")
    con.execute(
        f"UPDATE {name} SET {LINE} = {LINE} + "
        f"(SELECT count(*) FROM {thr} WHERE t <= {name}.{LINE} - 2)"
    )
