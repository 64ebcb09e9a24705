"""Which reader a file needs: one call from a path to a scratch relation of its records.

The format comes from ``--input-format`` or the file name (.csv .tsv .parquet .jsonl
.json .xlsx …). Labeling-tool exports are recognised by their content, whatever the
container: a JSON array of tasks with ``data`` and ``annotations``/``predictions`` is
Label Studio; records with Argilla's keys (``Q.responses``, ``fields`` +
``responses``, ``Q-suggestion`` …) in JSON, JSON Lines, CSV or Parquet are Argilla.
Such an export is read for the table asked (annotations, items, predictions, gold).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opsloop.errors import InputError
from opsloop.io._argilla import detect_argilla, looks_like_argilla_columns, read_argilla
from opsloop.io._excel import check_sheet_option, read_excel
from opsloop.io._exports import SAMPLE, key_shapes, stage_json, stage_rows_as_json
from opsloop.io._labelstudio import looks_like_labelstudio, read_labelstudio
from opsloop.io._readers import Format, SourceRelation, check_file, detect_format, read_source


def open_source(
    con: Any,
    path: Path,
    table: str,
    name: str,
    *,
    fmt: str | None,
    delimiter: str | None,
    sheet: str | None = None,
    columns: Sequence[str] | None = None,
) -> SourceRelation:
    """Read ``path`` (for contract ``table``) into scratch relation ``name``."""
    check_file(path)
    file_fmt = detect_format(path, fmt)
    container = _container(path, file_fmt)
    check_sheet_option(container, sheet, path)
    if container == "xlsx":
        if columns is not None:
            raise InputError.single(
                str(path), "--columns applies to CSV/TSV files; a sheet's first row is its header"
            )
        return read_excel(con, path, name, sheet=sheet)
    if container in ("json", "jsonl") and columns is None:
        tool = _sniff_json(con, path, container, name, file_fmt)
        if tool == "labelstudio":
            records = stage_json(con, path, container, f"{name}_records")
            return read_labelstudio(con, path, records, name, table)
        if tool == "argilla":
            records = stage_json(con, path, container, f"{name}_records")
            unit = "line" if container == "jsonl" else "row"
            return read_argilla(con, path, records, name, table, unit)
    source = read_source(con, path, container, name, delimiter=delimiter, columns=columns)
    if file_fmt == "argilla" or (
        container in ("csv", "tsv", "parquet") and looks_like_argilla_columns(source.columns)
    ):
        records = stage_rows_as_json(con, source, f"{name}_records")
        con.execute(f"DROP {'VIEW' if container == 'parquet' else 'TABLE'} {name}")
        return read_argilla(con, path, records, name, table, source.unit)
    return source


def _container(path: Path, fmt: Format) -> Format:
    """The file's own format when ``fmt`` names a tool (from its name, else JSON)."""
    if fmt not in ("labelstudio", "argilla"):
        return fmt
    try:
        inner = detect_format(path, None)
    except InputError:
        return "json"
    if fmt == "labelstudio" and inner not in ("json", "jsonl"):
        return "json"
    return inner


def _sniff_json(con: Any, path: Path, container: Format, name: str, asked: Format) -> str | None:
    """'labelstudio', 'argilla' or None (plain records), from the first records' keys."""
    if asked in ("labelstudio", "argilla"):
        return asked
    sample = stage_json(con, path, container, f"{name}_sample", limit=SAMPLE)
    shapes = key_shapes(con, sample)
    con.execute(f"DROP TABLE {sample}")
    if looks_like_labelstudio(set(shapes)):
        return "labelstudio"
    if detect_argilla(shapes) is not None:
        return "argilla"
    return None
