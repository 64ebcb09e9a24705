"""The root-cause tables (per-rater sums, the gold confusion table) on every backend equal a
plain numpy count of the same rows (DuckDB by default, local Spark in the slow run)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from opsloop.config import Config, Taxonomy
from opsloop.monitor import build_cube
from opsloop.rca import build_rca_inputs
from tests.conftest import Backend

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


def _reference(view: pa.Table, gold: pa.Table, audits: pa.Table) -> dict[str, Any]:
    """Per-rater gold-judged, correct, handling-time and audit counts, and the BR confusion
    matrix per two-week window, counted row by row."""
    truth = dict(zip(gold["item_id"].to_pylist(), gold["label"].to_pylist(), strict=True))
    audited = {(i, r) for i, r in zip(audits["item_id"].to_pylist(),
                                      audits["rater_id"].to_pylist(), strict=True)}  # fmt: skip
    per: dict[str, dict[str, float]] = {}
    confusion: dict[tuple[int, str, str], int] = {}
    for row in view.to_pylist():
        sums = per.setdefault(row["rater_id"], dict.fromkeys(("g_n", "g_k", "aht_s", "aud_n"), 0.0))
        sums["aht_s"] += row["duration_s"]
        sums["aud_n"] += (row["item_id"], row["rater_id"]) in audited
        t = truth.get(row["item_id"])
        if t is not None:
            sums["g_n"] += 1
            sums["g_k"] += t == row["label"]
            if row["market"] == "BR":
                window = (row["submitted_at"].date() - dt.date(2025, 1, 6)).days // 14
                key = (window, t, row["label"])
                confusion[key] = confusion.get(key, 0) + 1
    return {"raters": per, "confusion": confusion}


def test_rca_inputs_equal_a_row_by_row_count(backend: Backend) -> None:
    view, gold, audits = _tables()
    v, g, a = backend(view), backend(gold), backend(audits)
    cube = build_cube(v, CONFIG, gold=g, audits=a)
    inputs = build_rca_inputs(v, CONFIG, cube=cube, gold=g, audits=a,
                              rater_dims=("agency", "tenure"))  # fmt: skip
    ref = _reference(view, gold, audits)
    raters = inputs.raters
    assert raters is not None
    assert sorted(raters.rater_ids) == sorted(ref["raters"])
    agency = dict(zip(view["rater_id"].to_pylist(), view["agency"].to_pylist(), strict=True))
    assert [raters.attributes["agency"][i] for i in range(len(raters.rater_ids))] == [
        agency[r] for r in raters.rater_ids
    ]
    for name in ("g_n", "g_k", "aht_s", "aud_n"):
        got = np.bincount(raters.rater, weights=raters.sums[name], minlength=len(raters.rater_ids))
        want = [ref["raters"][r][name] for r in raters.rater_ids]
        assert got == pytest.approx(want, rel=1e-9), name
    confusion = inputs.confusion
    assert confusion is not None
    labels = confusion.labels
    for window, weeks in enumerate(((20094, 20108), (20108, 20122))):
        matrix = confusion.matrix(confusion.mask({"market": "BR"}), weeks)
        want = np.array([[ref["confusion"].get((window, t, x), 0) for x in labels]
                         for t in labels])  # fmt: skip
        assert want.sum() > 0
        assert (matrix == want).all()
