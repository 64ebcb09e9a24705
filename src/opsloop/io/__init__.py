"""Reading, validating and writing the workspace tables.

The names are resolved on first use (PEP 562): reading a file
(:func:`read_table`, :func:`read_labels`) does not load the engine (Ibis) that
ingestion, batches and undo need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop._lazy import lazy_exports

if TYPE_CHECKING:
    from opsloop.io._batch import FileReport
    from opsloop.io._batches import BatchInfo, UndoResult, list_batches, undo
    from opsloop.io._columns import ColumnResolution, parse_map_flags, resolve_columns
    from opsloop.io._ingest import IngestResult, ingest
    from opsloop.io._labels import read_labels
    from opsloop.io._read import read_table, repeats_set_aside

# public name -> the module that defines it (imported when the name is first used)
_SOURCES: dict[str, str] = {
    "BatchInfo": "opsloop.io._batches",
    "ColumnResolution": "opsloop.io._columns",
    "FileReport": "opsloop.io._batch",
    "IngestResult": "opsloop.io._ingest",
    "UndoResult": "opsloop.io._batches",
    "ingest": "opsloop.io._ingest",
    "list_batches": "opsloop.io._batches",
    "parse_map_flags": "opsloop.io._columns",
    "read_labels": "opsloop.io._labels",
    "read_table": "opsloop.io._read",
    "repeats_set_aside": "opsloop.io._read",
    "resolve_columns": "opsloop.io._columns",
    "undo": "opsloop.io._batches",
}

__all__ = [
    "BatchInfo",
    "ColumnResolution",
    "FileReport",
    "IngestResult",
    "UndoResult",
    "ingest",
    "list_batches",
    "parse_map_flags",
    "read_labels",
    "read_table",
    "repeats_set_aside",
    "resolve_columns",
    "undo",
]


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
