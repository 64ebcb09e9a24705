"""Engine (Ibis) estimators against the numpy kernels, on every backend.

The ``backend`` fixture runs each test on DuckDB (ordinary suite) and on a local
Spark session (marked ``spark`` and ``slow``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from opsloop.errors import UsageError
from opsloop.inference import (
    GLAD,
    MACE,
    DawidSkene,
    EngineDawidSkene,
    EngineGLAD,
    EngineMACE,
    EngineMajorityVote,
    EngineOneCoinDawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
)
from tests.conftest import Backend
from tests.test_inference import planted


def _data() -> tuple[pa.Table, pa.Table]:
    table, truth, _ = planted(3, n_items=120, n_raters=5, k=3, per_item=3)
    gold = pa.table(
        {"item_id": [f"i{i}" for i in range(15)], "label": [f"c{truth[i]}" for i in range(15)]}
    )
    return table, gold


def _by_key(table: pa.Table, keys: list[str], value: str) -> dict[tuple[Any, ...], Any]:
    cols = [table[k].to_pylist() for k in keys]
    return dict(zip(zip(*cols, strict=True), table[value].to_pylist(), strict=True))


def check_parity(backend: Backend, n_iter: int) -> None:
    table, gold = _data()
    t = backend(table)
    g = backend(gold)
    for engine_gold, local_gold in ((None, None), (g, gold)):
        ours = EngineDawidSkene(n_iter=n_iter, tol=1e-5).fit(t, engine_gold)
        ref = DawidSkene(n_iter=n_iter, tol=1e-5).fit(table, local_gold)
        assert ours.n_iter_ == ref.n_iter_
        assert np.allclose(ours.loss_history_["label"], ref.loss_history_["label"], atol=1e-10)
        got = _by_key(ours.probas_.to_pyarrow(), ["item_id", "label"], "probability")
        want = _by_key(ref.probas_, ["item_id", "label"], "probability")
        assert got.keys() == want.keys()
        assert max(abs(got[k] - want[k]) for k in want) < 1e-9
        labels = _by_key(ours.labels_.to_pyarrow(), ["item_id"], "label")
        assert labels == _by_key(ref.labels_, ["item_id"], "label")
        conf = ref.fits_["label"].confusion
        names = ref.data_["label"].coded.rater_names
        cats = ref.data_["label"].coded.categories
        for (r, k, lab), p in _by_key(
            ours.errors_.to_pyarrow(), ["rater_id", "true_label", "label"], "probability"
        ).items():
            assert p == pytest.approx(
                conf[names.index(r), cats.index(k), cats.index(lab)], abs=1e-9
            )
    mv = EngineMajorityVote().fit(t)
    ref_mv = MajorityVote().fit(table)
    assert ref_mv.labels_["tie"].to_numpy().any()  # the tie rule is exercised
    assert _by_key(mv.labels_.to_pyarrow(), ["item_id"], "label") == _by_key(
        ref_mv.labels_, ["item_id"], "label"
    )


# Spark runs fewer EM iterations: every one is a round of distributed queries
def _iters(backend: Backend, full: int, spark: int) -> int:
    return full if backend.name == "duckdb" else spark


def test_dawid_skene_and_majority_vote(backend: Backend) -> None:
    check_parity(backend, n_iter=_iters(backend, 30, 8))


def check_more_parity(backend: Backend, n_iter: int) -> None:
    """One-coin Dawid–Skene and MACE (one majority-vote start) against the numpy kernels."""
    table, gold = _data()
    t = backend(table)
    g = backend(gold)
    pairs: list[tuple[Any, Any]] = [
        (EngineOneCoinDawidSkene(n_iter=n_iter), OneCoinDawidSkene(n_iter=n_iter)),
        (EngineMACE(n_iter=n_iter), MACE(n_iter=n_iter, n_restarts=1)),
    ]
    for ours_est, ref_est in pairs:
        for engine_gold, local_gold in ((None, None), (g, gold)):
            ours = ours_est.fit(t, engine_gold)
            ref = ref_est.fit(table, local_gold)
            assert ours.n_iter_ == ref.n_iter_
            assert np.allclose(
                ours.loss_history_["label"], ref.loss_history_["label"], rtol=0, atol=1e-12
            )
            got = _by_key(ours.probas_.to_pyarrow(), ["item_id", "label"], "probability")
            want = _by_key(ref.probas_, ["item_id", "label"], "probability")
            assert got.keys() == want.keys()
            assert max(abs(got[k] - want[k]) for k in want) < 1e-12
            labels = _by_key(ours.labels_.to_pyarrow(), ["item_id"], "label")
            assert labels == _by_key(ref.labels_, ["item_id"], "label")
            names = ref.data_["label"].coded.rater_names
            skills = ref.fits_["label"].skills
            for (r,), s in _by_key(ours.skills_.to_pyarrow(), ["rater_id"], "skill").items():
                assert s == pytest.approx(skills[names.index(r)], abs=1e-12)


def test_one_coin_and_mace(backend: Backend) -> None:
    check_more_parity(backend, n_iter=_iters(backend, 30, 6))


def check_glad_parity(backend: Backend, n_iter: int) -> None:
    """GLAD: Fisher-scoring M-step against the kernel's L-BFGS, within 1e-3."""
    table, gold = _data()
    t = backend(table)
    g = backend(gold)
    for engine_gold, local_gold, learn in ((None, None, False), (g, gold, True)):
        ours = EngineGLAD(n_iter=n_iter, learn_prior=learn).fit(t, engine_gold)
        ref = GLAD(n_iter=n_iter, learn_prior=learn).fit(table, local_gold)
        assert ours.n_iter_ == ref.n_iter_
        assert np.allclose(ours.loss_history_["label"], ref.loss_history_["label"], atol=1e-3)
        got = _by_key(ours.probas_.to_pyarrow(), ["item_id", "label"], "probability")
        want = _by_key(ref.probas_, ["item_id", "label"], "probability")
        assert got.keys() == want.keys()
        assert max(abs(got[k] - want[k]) for k in want) < 1e-3
        labels = _by_key(ours.labels_.to_pyarrow(), ["item_id"], "label")
        assert labels == _by_key(ref.labels_, ["item_id"], "label")
        names = ref.data_["label"].coded.rater_names
        skills = ref.fits_["label"].skills
        for (r,), s in _by_key(ours.skills_.to_pyarrow(), ["rater_id"], "skill").items():
            assert s == pytest.approx(skills[names.index(r)], abs=1e-3)


def test_glad(backend: Backend) -> None:
    check_glad_parity(backend, n_iter=_iters(backend, 30, 2))


def test_engine_tasks_and_bad_input() -> None:
    a = pa.table(
        {
            "item_id": ["x", "x", "x", "y", "y", "y"],
            "rater_id": ["1", "2", "3"] * 2,
            "label": ["p", "p", "q", "q", "q", "q"],
        }
    )
    both = pa.concat_tables(
        [
            a.append_column("task", pa.array(["t1"] * 6)),
            a.append_column("task", pa.array(["t2"] * 6)),
        ]
    )
    est = EngineDawidSkene(n_iter=5).fit(both)
    labels = est.labels_.to_pyarrow().sort_by([("task", "ascending"), ("item_id", "ascending")])
    assert labels["label"].to_pylist() == ["p", "q", "p", "q"]
    assert set(est.n_iter_) == {"t1", "t2"}
    with pytest.raises(UsageError, match="missing column"):
        EngineDawidSkene().fit(pa.table({"item": ["a"], "rater_id": ["1"], "label": ["x"]}))
    with pytest.raises(UsageError, match="n_iter"):
        EngineDawidSkene(n_iter=0).fit(a)
    for est_more in (EngineOneCoinDawidSkene(n_iter=5), EngineMACE(n_iter=5), EngineGLAD(n_iter=5)):
        got = est_more.fit(both).labels_.to_pyarrow()
        got = got.sort_by([("task", "ascending"), ("item_id", "ascending")])
        assert got["label"].to_pylist() == ["p", "q", "p", "q"]
    with pytest.raises(UsageError, match="n_iter"):
        EngineMACE(n_iter=0).fit(a)
    with pytest.raises(UsageError, match="m_step_iter"):
        EngineGLAD(m_step_iter=0).fit(a)
