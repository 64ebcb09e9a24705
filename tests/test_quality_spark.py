"""Backend parity: the quality metrics on local Spark equal those on DuckDB."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from opsloop.config import TaskTaxonomy
from opsloop.metrics import quality

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TAX = TaskTaxonomy(
    labels=("none", "spam", "hate", "self_harm"),
    benign=("none",),
    severity={"spam": 1, "hate": 3, "self_harm": 4},
    critical_severity=4,
)


def _tables() -> tuple[pa.Table, pa.Table, pa.Table]:
    rng = np.random.default_rng(2)
    labels = np.array(TAX.labels)
    n_items, per = 120, 3
    truth = rng.choice(labels, n_items, p=[0.5, 0.2, 0.2, 0.1])
    items = np.repeat(np.arange(n_items), per)
    raters = np.array([f"r{(i * 7 + j) % 9}" for i in range(n_items) for j in range(per)])
    given = np.where(rng.random(len(items)) < 0.25, rng.choice(labels, len(items)), truth[items])
    ann = pa.table(
        {
            "item_id": [f"i{i}" for i in items],
            "rater_id": raters,
            "label": given,
            "locale": np.where(items % 3 == 0, "de", "fr"),
            "is_gold_check": items % 10 == 0,
            "submitted_at": pa.array(
                (np.datetime64("2025-01-06") + items.astype("timedelta64[D]")).astype(
                    "datetime64[us]"
                )
            ),
        }
    )
    gold = pa.table({"item_id": [f"i{i}" for i in range(n_items)], "label": truth})
    audited = rng.random(len(items)) < 0.3
    audits = pa.table(
        {
            "item_id": ann["item_id"].filter(pa.array(audited)),
            "rater_id": ann["rater_id"].filter(pa.array(audited)),
            "verdict": np.where(given[audited] == truth[items][audited], "correct", "incorrect"),
            "inclusion_prob": np.where(given[audited] == "none", 0.2, 0.6),
        }
    )
    return ann, gold, audits


def test_quality_spark_parity(spark: Any) -> None:
    ann, gold, audits = _tables()
    by = ["locale", "week"]
    local = quality(ann, gold=gold, audits=audits, taxonomy=TAX, by=by)
    remote = quality(
        spark.create_table("ann", ann.to_pandas(), overwrite=True),
        gold=spark.create_table("gold", gold.to_pandas(), overwrite=True),
        audits=spark.create_table("audits", audits.to_pandas(), overwrite=True),
        taxonomy=TAX,
        by=by,
    )
    assert len(local.records) == len(remote.records) > 50
    for a, b in zip(local.records, remote.records, strict=True):
        assert (a.metric, a.slice, a.n_items, a.n_raters) == (
            b.metric,
            b.slice,
            b.n_items,
            b.n_raters,
        )
        assert a.value == pytest.approx(b.value, abs=1e-12, nan_ok=True)
        assert a.ci_low == pytest.approx(b.ci_low, abs=1e-12, nan_ok=True)
    for x, y in zip(local.confusion, remote.confusion, strict=True):
        assert x.labels == y.labels and (x.counts == y.counts).all()
