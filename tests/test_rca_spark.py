"""Backend parity: the rater and confusion tables built on local Spark equal DuckDB's."""

from __future__ import annotations

from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pytest

from opsloop.config import Config, Taxonomy
from opsloop.monitor import build_cube
from opsloop.rca import build_rca_inputs

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CONFIG = Config(taxonomy=Taxonomy(labels=("none", "spam", "hate"), benign=("none",)))


def _tables() -> tuple[pa.Table, pa.Table, pa.Table]:
    rng = np.random.default_rng(5)
    n = 600
    labels = np.array(["none", "spam", "hate"])
    truth = rng.choice(labels, n, p=[0.6, 0.25, 0.15])
    given = np.where(rng.random(n) < 0.2, rng.choice(labels, n), truth)
    days = rng.integers(0, 28, n)
    rater = rng.integers(0, 12, n)
    hired = np.datetime64("2024-12-01") + (rater * 5).astype("timedelta64[D]")
    view = pa.table(
        {
            "item_id": [f"i{i}" for i in range(n)],
            "rater_id": [f"r{r}" for r in rater],
            "label": given,
            "submitted_at": pa.array(
                (np.datetime64("2025-01-06") + days.astype("timedelta64[D]")).astype(
                    "datetime64[us]"
                )
            ),
            "duration_s": rng.gamma(2.0, 10.0, n),
            "market": np.where(rng.random(n) < 0.4, "BR", "US"),
            "agency": np.where(rater % 3 == 0, "Harbor", "Orbit"),
            "hired_at": pa.array(hired.astype("datetime64[us]")),
        }
    )
    gold = pa.table({"item_id": [f"i{i}" for i in range(0, n, 2)], "label": truth[::2]})
    audited = rng.random(n) < 0.3
    audits = pa.table(
        {
            "item_id": view["item_id"].filter(pa.array(audited)),
            "rater_id": view["rater_id"].filter(pa.array(audited)),
            "verdict": np.where(given[audited] == truth[audited], "correct", "incorrect"),
            "inclusion_prob": np.full(int(audited.sum()), 0.3),
        }
    )
    return view, gold, audits


def test_rca_inputs_spark_parity(spark: Any) -> None:
    view, gold, audits = _tables()
    local_view, local_gold, local_audits = (ibis.memtable(t) for t in (view, gold, audits))
    cube = build_cube(local_view, CONFIG, gold=local_gold, audits=local_audits)
    local = build_rca_inputs(local_view, CONFIG, cube=cube, gold=local_gold,
                             audits=local_audits, rater_dims=("agency", "tenure"))  # fmt: skip
    remote = build_rca_inputs(
        spark.create_table("rca_view", view.to_pandas(), overwrite=True),
        CONFIG,
        cube=cube,
        gold=spark.create_table("rca_gold", gold.to_pandas(), overwrite=True),
        audits=spark.create_table("rca_audits", audits.to_pandas(), overwrite=True),
        rater_dims=("agency", "tenure"),
    )
    assert local.raters is not None and remote.raters is not None
    assert local.raters.rater_ids == remote.raters.rater_ids
    assert local.raters.attributes == remote.raters.attributes
    assert (local.raters.hired_day == remote.raters.hired_day).all()
    for name in ("g_n", "g_k", "wp_k", "aht_s", "aud_n", "aud_wy"):
        a = np.bincount(local.raters.rater, weights=local.raters.sums[name])
        b = np.bincount(remote.raters.rater, weights=remote.raters.sums[name])
        assert a == pytest.approx(b, rel=1e-9), name
    assert local.confusion is not None and remote.confusion is not None
    assert local.confusion.dims == remote.confusion.dims
    for weeks in ((20094, 20108), (20108, 20122)):
        m1 = local.confusion.matrix(local.confusion.mask({"market": "BR"}), weeks)
        m2 = remote.confusion.matrix(remote.confusion.mask({"market": "BR"}), weeks)
        assert local.confusion.labels == remote.confusion.labels
        assert (m1 == m2).all() and m1.sum() > 0
