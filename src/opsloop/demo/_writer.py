"""Parquet output: rotating part files for chunked tables, single files otherwise."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

COMPRESSION = "zstd"


class PartWriter:
    """Append chunks of one table to ``<dir>/part-NNNNN.parquet`` files.

    Each chunk becomes a row group; a new part starts once the current one
    holds ``rows_per_part`` rows, so memory stays bounded by one chunk.
    """

    def __init__(self, directory: Path, rows_per_part: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("part-*.parquet"):
            stale.unlink()
        self._dir = directory
        self._rows_per_part = rows_per_part
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_part = 0
        self._paths: list[Path] = []
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (one chunk) to the current part."""
        if self._writer is None:
            path = self._dir / f"part-{len(self._paths):05d}.parquet"
            self._writer = pq.ParquetWriter(path, table.schema, compression=COMPRESSION)
            self._paths.append(path)
        self._writer.write_table(table)
        self._rows_in_part += table.num_rows
        self.rows += table.num_rows
        if self._rows_in_part >= self._rows_per_part:
            self._close_part()

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self._rows_in_part = 0

    def close(self) -> tuple[Path, ...]:
        """Finish the last part; the paths written, in order."""
        self._close_part()
        return tuple(self._paths)


def write_single(table: pa.Table, path: Path) -> tuple[Path, ...]:
    """Write a small table to one Parquet file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression=COMPRESSION)
    return (path,)
