"""Reading, validating and writing the workspace tables."""

from opsloop.io._batch import FileReport
from opsloop.io._batches import BatchInfo, UndoResult, list_batches, undo
from opsloop.io._columns import ColumnResolution, parse_map_flags, resolve_columns
from opsloop.io._ingest import IngestResult, ingest
from opsloop.io._read import read_table, repeats_set_aside

__all__ = [
    "BatchInfo",
    "ColumnResolution",
    "FileReport",
    "IngestResult",
    "UndoResult",
    "ingest",
    "list_batches",
    "parse_map_flags",
    "read_table",
    "repeats_set_aside",
    "resolve_columns",
    "undo",
]
