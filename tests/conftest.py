from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public reference data beside the project (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session (through Ibis) per test process, shared by the parity tests."""
    from opsloop.engine import connect_spark

    con = connect_spark("opsloop-parity")
    yield con
    con._session.stop()
