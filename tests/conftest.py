from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "tests" / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"
MISSING_SHARED_DATA = (
    f"realdata: ../shared/data not found at {SHARED_DATA}; these tests need the full public "
    "sets (CI has them); run `pytest -m 'not realdata'` to leave them out"
)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """A `realdata` test fails (never skips) where ../shared/data is missing."""
    if item.get_closest_marker("realdata") is not None and not SHARED_DATA.is_dir():
        pytest.fail(MISSING_SHARED_DATA, pytrace=False)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The small public files shipped with the tests (tests/data; sources in its README)."""
    return DATA_DIR


@pytest.fixture
def shared_data(request: pytest.FixtureRequest) -> Path:
    """The full public sets beside the project (../shared/data): only for `realdata` tests."""
    if request.node.get_closest_marker("realdata") is None:
        pytest.fail(
            f"{request.node.nodeid}: shared_data is only for tests marked realdata; "
            "use data_dir for the files in tests/data",
            pytrace=False,
        )
    return SHARED_DATA


@pytest.fixture
def public_data(request: pytest.FixtureRequest) -> Path:
    """tests/data, or ../shared/data for a test (or parameter) marked realdata."""
    if request.node.get_closest_marker("realdata") is not None:
        return Path(request.getfixturevalue("shared_data"))
    return DATA_DIR


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session (through Ibis) per test process, shared by the parity tests."""
    from opsloop.engine import connect_spark

    con = connect_spark("opsloop-parity")
    yield con
    con._session.stop()


class Backend:
    """Loads an Arrow table into one engine, for the one suite run on every backend.

    ``backend(table)`` is the table as that engine's Ibis table (``duckdb``: a DuckDB
    connection; ``spark``: local Spark).
    """

    def __init__(self, name: str, con: Any) -> None:
        self.name = name
        self._con = con
        self._n = 0

    def __call__(self, table: Any) -> Any:
        self._n += 1
        name = f"t{self._n}_{id(table) & 0xFFFF:x}"
        if self.name == "spark":
            return self._con.create_table(name, table.to_pandas(), overwrite=True)
        return self._con.create_table(name, table, overwrite=True)

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(scope="session")
def _duckdb_backend() -> Any:
    import ibis

    return ibis.duckdb.connect()


@pytest.fixture(
    params=["duckdb", pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow])]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every backend: DuckDB in the default run, local Spark in the `spark` (slow) run."""
    if request.param == "spark":
        return Backend("spark", request.getfixturevalue("spark"))
    return Backend("duckdb", request.getfixturevalue("_duckdb_backend"))
