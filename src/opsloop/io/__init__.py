"""Reading, validating and writing the workspace tables."""

from opsloop.io._batch import FileReport
from opsloop.io._columns import ColumnResolution, parse_map_flags, resolve_columns
from opsloop.io._ingest import IngestResult, ingest
from opsloop.io._read import read_table

__all__ = [
    "ColumnResolution",
    "FileReport",
    "IngestResult",
    "ingest",
    "parse_map_flags",
    "read_table",
    "resolve_columns",
]
