"""File readers: each turns one input file into a DuckDB relation of strings.

Every reader goes through DuckDB's own scanners (``read_csv``,
``read_parquet``, ``read_json``) — no Python row loops — and yields a SQL
``SELECT`` with the file's columns plus ``__line``: the 1-based line of the
record (a CSV header is line 1; a quoted field with embedded newlines counts
as one record) or the 1-based row of a Parquet file.

A CSV without a header takes its column names from ``columns`` (``--columns``);
its first line is then data, line 1. A CSV whose lines end partly in CRLF and
partly in LF (files pasted together from two systems) stops DuckDB's CSV
sniffer; such a file is read from a copy with every CRLF turned into LF, which
keeps the line numbers.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opsloop.errors import InputError, Problem, UsageError

Format = Literal["csv", "tsv", "parquet", "jsonl", "json", "labelstudio", "argilla", "xlsx"]

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
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
FORMATS: tuple[str, ...] = (
    "csv",
    "tsv",
    "parquet",
    "jsonl",
    "json",
    "xlsx",
    "labelstudio",
    "argilla",
)
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
    hint: str | None = None  # what else the file holds, what was skipped


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
        endings = " ".join(sorted(_SUFFIXES))
        raise InputError.single(
            str(path),
            f"cannot tell the format from the file name: give it one of the endings {endings}, "
            f"or name the format with `opsloop ingest --input-format {'|'.join(FORMATS)}`",
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
    con: Any,
    path: Path,
    fmt: Format,
    name: str,
    *,
    delimiter: str | None,
    columns: Sequence[str] | None = None,
) -> SourceRelation:
    """Materialise ``path`` as scratch table ``name`` (all columns VARCHAR but Parquet's)."""
    file = str(path)
    if columns is not None and fmt not in ("csv", "tsv"):
        raise UsageError(
            f"--columns names the columns of a CSV or TSV file without a header; "
            f"{path.name} is read as {fmt}"
        )
    if fmt in ("csv", "tsv"):
        return _read_csv(con, path, fmt, name, delimiter=delimiter, columns=columns)
    lit = sql_string(path.as_posix())
    if fmt == "parquet":
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
    return SourceRelation(file, fmt, name, relation_columns(con, name), unit, (), 0)


def relation_columns(con: Any, name: str) -> tuple[str, ...]:
    """The columns of scratch relation ``name`` but ``__line``."""
    return tuple(r[0] for r in con.execute(f"DESCRIBE {name}").fetchall() if r[0] != LINE)


def _read_csv(
    con: Any,
    path: Path,
    fmt: Format,
    name: str,
    *,
    delimiter: str | None,
    columns: Sequence[str] | None,
) -> SourceRelation:
    file = str(path)
    delim = delimiter or ("\t" if fmt == "tsv" else None)
    tag = name.replace(".", "_")
    options = (
        f"header = {'false' if columns is not None else 'true'}, all_varchar = true, "
        f"store_rejects = true, rejects_table = {sql_string(tag + '_rej')}, "
        f"rejects_scan = {sql_string(tag + '_scan')}"
    )
    if delim is not None:
        options += f", delim = {sql_string(delim)}"
    offset = 0 if columns is not None else 1  # the first record's line is offset + 1
    if columns is not None:
        _check_column_names(columns)

    def create(source: Path) -> None:
        named = options
        if columns is not None:
            _check_field_count(con, source, file, options, columns)
            named += ", names = [" + ", ".join(sql_string(c) for c in columns) + "]"
        for suffix in ("_rej", "_scan"):
            con.execute(f"DROP TABLE IF EXISTS {tag}{suffix}")
        con.execute(
            f"CREATE OR REPLACE TABLE {name} AS SELECT *, "
            f"CAST(row_number() OVER () + {offset} AS BIGINT) AS {LINE} "
            f"FROM read_csv({sql_string(source.as_posix())}, {named})"
        )

    try:
        try:
            create(path)
        except InputError:
            raise
        except Exception:
            if not _has_mixed_newlines(path):
                raise
            with _lf_copy(path) as copy:
                create(copy)
    except InputError:
        raise
    except Exception as exc:  # duckdb raises many types; all mean unreadable input
        line, reason = duckdb_reason(exc)
        raise InputError.single(file, reason, line=line) from None
    rows = con.execute(
        f"SELECT line, column_name, error_type, error_message FROM {tag}_rej ORDER BY line"
    ).fetchall()
    rejects = tuple(
        Problem(file, int(line), column, _reject_reason(error_type, message))
        for line, column, error_type, message in rows
    )
    n_rejected = len({r[0] for r in rows})
    if n_rejected:
        _renumber_after_rejects(con, name, sorted({int(r[0]) for r in rows}), offset + 1)
    return SourceRelation(file, fmt, name, relation_columns(con, name), "line", rejects, n_rejected)


def _check_column_names(columns: Sequence[str]) -> None:
    """``--columns`` must name each field once."""
    if any(not c.strip() for c in columns):
        raise UsageError("--columns: a column name is empty (expected e.g. --columns a,b,c)")
    seen = [c for c in columns if columns.count(c) > 1]
    if seen:
        raise UsageError(f"--columns: {seen[0]!r} is given twice")


def _check_field_count(
    con: Any, source: Path, file: str, options: str, columns: Sequence[str]
) -> None:
    """``--columns`` must name every field of a line (DuckDB drops or adds names silently).

    The fields are counted by DuckDB's sniffer with the options of the read itself
    (rejects stored), so one odd line does not hide the file's shape.
    """
    found = con.execute(
        f"DESCRIBE SELECT * FROM read_csv({sql_string(source.as_posix())}, {options})"
    ).fetchall()
    if len(found) != len(columns):
        raise InputError.single(
            file,
            f"--columns names {len(columns)} columns ({', '.join(columns)}) but the lines "
            f"have {len(found)} fields",
            line=1,
        )


_CHUNK = 1 << 22


def _has_mixed_newlines(path: Path) -> bool:
    """True when an uncompressed file has both CRLF and bare LF line ends."""
    if path.suffix.lower() in (".gz", ".zst"):
        return False
    crlf = lf = 0
    last = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            lf += chunk.count(b"\n")
            crlf += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
            last = chunk[-1:]
            if 0 < crlf < lf:
                return True
    return False


@contextmanager
def _lf_copy(path: Path) -> Iterator[Path]:
    """A temporary copy of ``path`` with every CRLF turned into LF, removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="opsloop-lf-", suffix=path.suffix)
    os.close(fd)
    copy = Path(name)
    try:
        pending = b""
        with path.open("rb") as src, copy.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                data = pending + chunk
                pending = b"\r" if data.endswith(b"\r") else b""
                dst.write(data[: len(data) - len(pending)].replace(b"\r\n", b"\n"))
            dst.write(pending)
        yield copy
    finally:
        copy.unlink(missing_ok=True)


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


def _renumber_after_rejects(con: Any, name: str, reject_lines: list[int], first: int) -> None:
    """Shift ``__line`` of accepted CSV records past the records the scanner rejected.

    With the first record on line ``first`` (2 after a header, else 1), accepted
    record k (0-based) sits on line ``k + first + #{j : r_j - first + 1 - j <= k}``
    for rejected lines ``r_1 < r_2 < …`` (1-based j).
    """
    thresholds = [r - first + 1 - j for j, r in enumerate(reject_lines, start=1)]
    values = ", ".join(f"({t})" for t in thresholds)
    thr = name.replace(".", "_") + "_thr"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {thr} AS SELECT * FROM (VALUES {values}) v(t)")
    con.execute(
        f"UPDATE {name} SET {LINE} = {LINE} + "
        f"(SELECT count(*) FROM {thr} WHERE t <= {name}.{LINE} - {first})"
    )
