"""Backend parity: the same table through Ibis on local Spark gives the numpy values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from opsloop.metrics import agreement
from tests.test_agreement_reference import long_from_wide

pytestmark = [pytest.mark.spark, pytest.mark.slow]
METRICS = [
    "percent_agreement",
    "fleiss_kappa",
    "conger_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
    "brennan_prediger",
]


def test_spark_parity(spark: Any, data_dir: Path) -> None:
    t = long_from_wide(data_dir / "reference_small" / "irrCAC_raw_4raters.csv")
    t = t.append_column(
        "locale", pa.array(["de", "fr"] * (t.num_rows // 2) + ["de"] * (t.num_rows % 2))
    )
    local = agreement(t, metrics=METRICS, by=["locale"], n_boot=0)
    remote = agreement(
        spark.create_table("ann", t.to_pandas(), overwrite=True),
        metrics=METRICS,
        by=["locale"],
        n_boot=0,
    )
    assert len(local.records) == len(remote.records)
    for a, b in zip(local.records, remote.records, strict=True):
        assert (a.metric, a.slice) == (b.metric, b.slice)
        assert a.value == pytest.approx(b.value, abs=1e-12, nan_ok=True)
