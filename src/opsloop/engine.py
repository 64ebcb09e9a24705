"""The one place that knows backends.

A :class:`Workspace` is a directory with ``opsloop.toml`` and the embedded
DuckDB store. Analyses receive Ibis tables from it; ingestion writes through
its DuckDB connection. Spark (local or a cluster) is reached with
:func:`connect_spark` and takes the same Ibis expressions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ibis
from ibis.backends.duckdb import Backend as DuckDBBackend

from opsloop.config import CONFIG_FILE, Config, load_config, write_config
from opsloop.errors import WorkspaceError
from opsloop.schema import TABLE_NAMES

DEFAULT_MEMORY_LIMIT = "1536MB"
INTERNAL_PREFIX = "_opsloop_"


def find_workspace_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding ``opsloop.toml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise WorkspaceError(
        f"no workspace: {CONFIG_FILE} not found in {here} or any parent "
        "(run `opsloop init DIR` or pass --workspace)"
    )


class Workspace:
    """A project directory: configuration plus the embedded store.

    >>> ws = Workspace.init(Path(tempfile.mkdtemp()) / "ws")
    >>> ws.table_names(), ws.store_path.name
    ([], 'opsloop.duckdb')
    >>> ws.close()
    """

    def __init__(self, root: Path, config: Config) -> None:
        self.root = root
        self.config = config
        self._con: DuckDBBackend | None = None
        self._read_only = False

    # -- construction -------------------------------------------------------
    @classmethod
    def init(cls, root: Path, config: Config | None = None, *, exist_ok: bool = False) -> Workspace:
        root = root.resolve()
        cfg_path = root / CONFIG_FILE
        if cfg_path.exists() and not exist_ok:
            raise WorkspaceError(f"{cfg_path} already exists (a workspace is already here)")
        root.mkdir(parents=True, exist_ok=True)
        config = config or Config()
        write_config(config, cfg_path)
        ws = cls(root, config)
        with ws.connection() as con:
            con.execute("CHECKPOINT")
        return ws

    @classmethod
    def open(cls, root: Path | None = None) -> Workspace:
        """Open the workspace at ``root`` or the nearest one above the current directory."""
        base = find_workspace_root(root) if root is None else root.resolve()
        if not (base / CONFIG_FILE).is_file():
            raise WorkspaceError(f"{base}: not a workspace ({CONFIG_FILE} is missing)")
        return cls(base, load_config(base / CONFIG_FILE))

    # -- store --------------------------------------------------------------
    @property
    def store_path(self) -> Path:
        return self.root / self.config.engine.path

    @property
    def scratch_dir(self) -> Path:
        path = self.root / ".opsloop"
        path.mkdir(exist_ok=True)
        return path

    def backend(self, *, read_only: bool = False) -> DuckDBBackend:
        """An Ibis DuckDB backend on the workspace store (kept open)."""
        if self._con is not None and (self._read_only == read_only or not read_only):
            return self._con
        self.close()
        if read_only and not self.store_path.exists():
            raise WorkspaceError(f"{self.store_path}: the store does not exist yet")
        try:
            con: DuckDBBackend = ibis.duckdb.connect(str(self.store_path), read_only=read_only)
        except Exception as exc:  # duckdb.IOException and friends: a locked or foreign file
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise WorkspaceError(f"cannot open the store {self.store_path}: {first}") from None
        _configure(con.con, self)
        self._con = con
        self._read_only = read_only
        return con

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[Any]:
        """The raw DuckDB connection (for ingestion and SQL access)."""
        yield self.backend(read_only=read_only).con

    def close(self) -> None:
        if self._con is not None:
            self._con.disconnect()
            self._con = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tables -------------------------------------------------------------
    def table_names(self) -> list[str]:
        if not self.store_path.exists():
            return []
        names = self.backend().list_tables()
        return sorted(n for n in names if n in TABLE_NAMES)

    def has_table(self, name: str) -> bool:
        return name in self.table_names()

    def table(self, name: str) -> ibis.Table:
        if not self.has_table(name):
            raise WorkspaceError(
                f"the workspace has no {name!r} table yet (run `opsloop ingest {name} FILE`)"
            )
        return self.backend().table(name)

    def write_derived(self, name: str, table: Any) -> None:
        """Store an analysis result (a pyarrow Table) as workspace table ``name``, replacing it.

        Derived tables (inferred labels, rater reliability, relabel queues …) are
        readable with ``opsloop sql`` and exported like the contract tables.
        """
        if name in TABLE_NAMES or name.startswith(INTERNAL_PREFIX):
            raise WorkspaceError(f"{name!r} is reserved; derived tables need another name")
        con = self.backend().con
        con.register("__derived", table)
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM __derived')
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("__derived")

    def derived_table_names(self) -> list[str]:
        if not self.store_path.exists():
            return []
        names = self.backend().list_tables()
        return sorted(
            n for n in names if n not in TABLE_NAMES and not n.startswith(INTERNAL_PREFIX)
        )

    def row_count(self, name: str) -> int:
        if not self.has_table(name):
            return 0
        return int(self.backend().table(name).count().execute())


def _configure(con: Any, ws: Workspace) -> None:
    threads = ws.config.engine.threads or os.cpu_count() or 2
    memory = ws.config.engine.memory_limit or os.environ.get(
        "OPSLOOP_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT
    )
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{memory}'")
    tmp = ws.root / ".opsloop" / "spill"
    con.execute(f"SET temp_directory = '{tmp.as_posix()}'")


def connect_spark(app_name: str = "opsloop") -> Any:
    """An Ibis backend on a local Spark session (scale-out engine).

    Needs the ``spark`` extra (pyspark) and Java 17.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise WorkspaceError("Spark needs pyspark: pip install 'opsloop[spark]'") from exc
    import sys

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warehouse = tempfile.mkdtemp(prefix="opsloop-spark-")
    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.sql.warehouse.dir", warehouse)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    return ibis.pyspark.connect(session)
