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

from opsloop.config import (
    CONFIG_FILE,
    REPEAT_POLICIES,
    Config,
    RepeatPolicy,
    load_config,
    write_config,
)
from opsloop.errors import UsageError, WorkspaceError
from opsloop.schema import (
    CONTRACTS,
    LATEST_COLUMN,
    MANAGED_COLUMNS,
    NTH_COLUMN,
    TABLE_NAMES,
)

DEFAULT_MEMORY_LIMIT = "1536MB"
#: DuckDB optimizers the analyses' aggregate queries run without, and their share of
#: the memory limit (see :meth:`Workspace.analysis_settings`)
ANALYSIS_DISABLED_OPTIMIZERS = ("build_side_probe_side",)
ANALYSIS_MEMORY_SHARE = 0.5
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip
INTERNAL_PREFIX = "_opsloop_"
META_TABLE = "_opsloop_meta"
DERIVED_LOG = "_opsloop_derived"
STAGE_PREFIX = "stage-"


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
        self._snapshot: dict[str, ibis.Table] | None = None  # see reading()
        self._snapshot_names: list[str] | None = None

    def with_repeats(self, policy: str | None) -> Workspace:
        """This workspace with analyses using repeat policy ``policy`` (None: as configured).

        The store connection is shared: close either one when done.
        """
        if policy is None:
            return self
        checked = check_repeat_policy(policy)
        repeats = self.config.repeats.model_copy(update={"analysis": checked})
        other = Workspace(self.root, self.config.model_copy(update={"repeats": repeats}))
        other._con, other._read_only = self._con, self._read_only
        return other

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

    @contextmanager
    def analysis_settings(self) -> Iterator[None]:
        """The store's settings for the analyses' aggregate queries, restored afterwards.

        * **Join sides.** The analyses left-join the annotations (ten million
          rows in the 10m demo) with the smaller tables (items, raters, gold,
          audits), the small table on the right: the hash table is built on it.
          DuckDB's build-side choice flips such a join when it underestimates the
          annotations — a filter on the repeat column counts as a fifth of the
          rows — and builds the hash table on the annotations instead: on the 10m
          demo twice the time and half a gigabyte more.
        * **Memory.** An analysis keeps its aggregates (numpy arrays) beside the
          engine, so the engine gets :data:`ANALYSIS_MEMORY_SHARE` of the memory
          limit; its aggregations then partition to stay within it (on the 10m
          demo no slower).

        Ingestion keeps the defaults (small batches against large tables are
        its common case).
        """
        con = self.backend().con
        disabled = _setting(con, "disabled_optimizers")
        names = dict.fromkeys([*(x.strip() for x in disabled.split(",") if x.strip()),
                               *ANALYSIS_DISABLED_OPTIMIZERS])  # fmt: skip
        configured = _memory_limit(self)
        limit = _memory_bytes(configured)
        con.execute(f"SET disabled_optimizers = '{','.join(names)}'")
        if limit is not None:
            con.execute(f"SET memory_limit = '{int(limit * ANALYSIS_MEMORY_SHARE) // 2**20}MiB'")
        try:
            yield
        finally:
            con.execute(f"SET disabled_optimizers = '{disabled}'")
            con.execute(f"SET memory_limit = '{configured}'")

    @contextmanager
    def reading(self) -> Iterator[Workspace]:
        """A read-only stretch of work (a report, an analysis run): the store's table list and
        table schemas are read once and reused until the block ends.

        An analysis run asks whether a table exists and opens it a hundred times; each
        ask is a catalog query (about 8 ms). Writes in the block (``write_derived``)
        clear what was read; ingestion does not run inside one.
        """
        outer = self._snapshot is not None
        if not outer:
            self._snapshot, self._snapshot_names = {}, None
        try:
            yield self
        finally:
            if not outer:
                self._snapshot, self._snapshot_names = None, None

    def _stored_names(self) -> list[str]:
        if self._snapshot is None:
            return list(self.backend().list_tables())
        if self._snapshot_names is None:
            self._snapshot_names = list(self.backend().list_tables())
        return self._snapshot_names

    def _stored(self, name: str) -> ibis.Table:
        if self._snapshot is None:
            return self.backend().table(name)
        if name not in self._snapshot:
            self._snapshot[name] = self.backend().table(name)
        return self._snapshot[name]

    def close(self) -> None:
        if self._snapshot is not None:  # what was read belongs to the closed connection
            self._snapshot, self._snapshot_names = {}, None
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
        names = self._stored_names()
        return sorted(n for n in names if n in TABLE_NAMES)

    def has_table(self, name: str) -> bool:
        return name in self.table_names()

    def raw_table(self, name: str) -> ibis.Table:
        """Every stored row of a contract table, managed columns included."""
        if not self.has_table(name):
            raise WorkspaceError(
                f"the workspace has no {name!r} table yet (run `opsloop ingest {name} FILE`)"
            )
        return self._stored(name)

    def table(
        self, name: str, *, repeats: str | None = None, event_order: bool = False
    ) -> ibis.Table:
        """A contract table as analyses see it, under the repeat policy.

        ``repeats`` (default: ``[repeats] analysis`` in opsloop.toml, ``latest``):
        ``latest``/``first`` give one row per key (the newest by the table's time
        column then arrival, or the oldest), ``keep-all`` every stored row,
        ``error`` refuses a table holding repeats. The managed columns
        (``opsloop_batch`` …) are left out, but for ``opsloop_nth`` (the rank of a
        row among the rows of its key) with ``event_order``.
        """
        raw = self.raw_table(name)
        policy = check_repeat_policy(repeats or self.config.repeats.analysis)
        if LATEST_COLUMN not in raw.columns:
            return raw
        if CONTRACTS[name].is_event_table:
            if policy == "latest":
                raw = raw.filter(raw[LATEST_COLUMN])
            elif policy == "first":
                raw = raw.filter(raw[NTH_COLUMN] == 1)
            elif policy == "error" and self.repeats_set_aside(name, "latest"):
                raise UsageError(_repeat_error(self, name))
        kept = (NTH_COLUMN,) if event_order else ()
        return raw.drop(*[c for c in MANAGED_COLUMNS if c in raw.columns and c not in kept])

    def repeats_set_aside(self, name: str, policy: str | None = None) -> int:
        """Stored rows of ``name`` that analyses under ``policy`` leave out (earlier labels)."""
        policy = check_repeat_policy(policy or self.config.repeats.analysis)
        if policy in ("keep-all", "error") or not self.has_table(name):
            return 0
        raw = self._stored(name)
        if LATEST_COLUMN not in raw.columns:
            return 0
        left_out = ~raw[LATEST_COLUMN] if policy == "latest" else raw[NTH_COLUMN] > 1
        return int(raw.filter(left_out).count().execute())

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
            con.execute(
                f"CREATE TABLE IF NOT EXISTS main.{DERIVED_LOG} "
                "(name VARCHAR PRIMARY KEY, data_version BIGINT, written_at TIMESTAMP)"
            )
            con.execute(
                f"INSERT OR REPLACE INTO main.{DERIVED_LOG} VALUES (?, ?, now()::TIMESTAMP)",
                [name, data_version(con)],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("__derived")
            if self._snapshot is not None:
                self._snapshot, self._snapshot_names = {}, None

    def derived_table_names(self) -> list[str]:
        if not self.store_path.exists():
            return []
        names = self._stored_names()
        return sorted(
            n for n in names if n not in TABLE_NAMES and not n.startswith(INTERNAL_PREFIX)
        )

    def stale_derived(self) -> list[str]:
        """Derived tables computed from another version of the data (an ingest or undo since)."""
        names = self.derived_table_names()
        if not names:
            return []
        con = self.backend().con
        version = data_version(con)
        written: dict[str, int] = {}
        if _has_table(con, DERIVED_LOG):
            written = dict(
                con.execute(f"SELECT name, data_version FROM main.{DERIVED_LOG}").fetchall()
            )
        return [n for n in names if written.get(n, -1) != version]

    def data_version(self) -> int:
        """Raised by every ingest and undo (see :func:`data_version`)."""
        if not self.store_path.exists():
            return 0
        return data_version(self.backend().con)

    def clean_stale_stages(self) -> list[Path]:
        """Remove scratch files left by an ingest that was killed (its process is gone)."""
        removed = []
        for path in self.scratch_dir.glob(f"{STAGE_PREFIX}*"):
            pid = _stage_pid(path)
            if pid is not None and pid != os.getpid() and not _process_alive(pid):
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def row_count(self, name: str) -> int:
        """Stored rows of a contract or derived table (every repeat label counted)."""
        if not self.store_path.exists() or name not in self._stored_names():
            return 0
        return int(self._stored(name).count().execute())


_DUCKDB_WORDING: tuple[tuple[str, str], ...] = (
    (r"Table with name (\S+) does not exist!?", "no table {0}"),
    (r"Referenced column \"?([^\"]+)\"? not found in FROM clause!?", "no column {0!r}"),
    (r"syntax error at or near (.+)", "syntax error at or near {0}"),
    (r"Could not convert string (.+) to (\w+)", "cannot read {0} as {1}"),
    (r"Permission Error: (.*)", "not allowed here: {0}"),
)


def explain_duckdb_error(exc: BaseException) -> str:
    """A DuckDB error in our words: one line, no engine class names.

    >>> explain_duckdb_error(Exception("Catalog Error: Table with name x does not exist!"))
    'no table x'
    """
    import re

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    body = re.sub(r"^[A-Z][A-Za-z ]* Error: ", "", first)
    for pattern, wording in _DUCKDB_WORDING:
        match = re.search(pattern, body)
        if match:
            body = wording.format(*match.groups())
            break
    hint = next((x for x in lines[1:] if x.startswith(("Did you mean", "Candidate bindings"))), "")
    if any(internal in hint for internal in ("pg_", "duckdb_", "information_schema", "sqlite_")):
        hint = ""  # the engine's own catalog is no help
    hint = hint.replace("Candidate bindings: ", "did you mean ").replace(
        "Did you mean", "did you mean"
    )
    return f"{body} ({hint})" if hint else body


def check_repeat_policy(policy: str) -> RepeatPolicy:
    """``policy`` if it is a repeat policy, else a :class:`UsageError` naming the choices."""
    if policy not in REPEAT_POLICIES:
        raise UsageError(f"--repeats {policy!r}: expected one of {', '.join(REPEAT_POLICIES)}")
    return policy  # type: ignore[return-value]


def _repeat_error(ws: Workspace, name: str) -> str:
    keys = CONTRACTS[name].key
    cols = ", ".join(f'"{k}"' for k in keys)
    rows = (
        ws.backend()
        .con.execute(
            f'SELECT {cols}, count(*) OVER () FROM main."{name}" WHERE NOT {LATEST_COLUMN} LIMIT 1'
        )
        .fetchall()
    )
    example, n = rows[0][:-1], rows[0][-1]
    shown = ", ".join(f"{k}={v}" for k, v in zip(keys, example, strict=True))
    return (
        f"{name}: {int(n):,} earlier row(s) repeat a key (e.g. {shown}) and the repeat "
        "policy 'error' refuses them; choose --repeats latest, first or keep-all"
    )


def _has_table(con: Any, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name = ? AND table_catalog = current_database()",
        [name],
    ).fetchone()
    return bool(row and row[0])


def data_version(con: Any) -> int:
    """A counter raised by every ingest and undo: results computed at another version are stale."""
    if not _has_table(con, META_TABLE):
        return 0
    row = con.execute(f"SELECT value FROM main.{META_TABLE} WHERE key = 'data_version'").fetchone()
    return int(row[0]) if row else 0


def bump_data_version(con: Any) -> int:
    """Raise the data version (inside the caller's transaction); returns the new version."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS main.{META_TABLE} (key VARCHAR PRIMARY KEY, value BIGINT)"
    )
    version = data_version(con) + 1
    con.execute(f"INSERT OR REPLACE INTO main.{META_TABLE} VALUES ('data_version', ?)", [version])
    return version


def stage_name(pid: int, tag: str) -> str:
    """Scratch file name of one ingest: the pid lets a later run tell it was abandoned."""
    return f"{STAGE_PREFIX}{pid}-{tag}.duckdb"


def _stage_pid(path: Path) -> int | None:
    parts = path.name[len(STAGE_PREFIX) :].split("-", 1)
    return int(parts[0]) if parts and parts[0].isdigit() else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _memory_limit(ws: Workspace) -> str:
    """The store's memory limit as configured (opsloop.toml, else the environment)."""
    return ws.config.engine.memory_limit or os.environ.get(
        "OPSLOOP_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT
    )


def _memory_bytes(text: str) -> int | None:
    """``"1536MB"`` as bytes (DuckDB's units); ``None`` for anything else (e.g. a share).

    >>> _memory_bytes("1536MB"), _memory_bytes("2 GiB"), _memory_bytes("80%")
    (1536000000, 2147483648, None)
    """
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _setting(con: Any, name: str) -> str:
    row = con.execute("SELECT current_setting(?)", [name]).fetchone()
    return "" if row is None or row[0] is None else str(row[0])


def _configure(con: Any, ws: Workspace) -> None:
    threads = ws.config.engine.threads or os.cpu_count() or 2
    memory = _memory_limit(ws)
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
