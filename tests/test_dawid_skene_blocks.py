"""Dawid–Skene EM on row blocks (two threads) against one block, and against crowd-kit.

From ``PARALLEL_ITEMS`` items the E-step and the M-step's soft counts run on two
halves of the items at once; only the order of two float64 sums changes, so the
fit must equal the one-block fit to rounding. The stopping rule is crowd-kit's
(Ustalov et al., 2021): stop when the per-annotation objective changes by less
than ``tol`` (1e-5); on planted data the labels match crowd-kit's within 0.002.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pytest

from opsloop.inference import _dawid_skene as ds
from opsloop.inference._base import TaskData
from opsloop.stats._encode import encode_labels

K = 4


def _planted(n_items: int, n_raters: int = 60, seed: int = 5) -> tuple[pa.Table, np.ndarray]:
    """Items × 3 labels from raters with planted confusion matrices (accuracy 0.4–0.9)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n_items)
    acc = rng.uniform(0.4, 0.9, n_raters)
    conf = rng.dirichlet(np.ones(K), size=(n_raters, K)) * (1 - acc)[:, None, None]
    conf[:, np.arange(K), np.arange(K)] += acc[:, None]
    items = np.repeat(np.arange(n_items), 3)
    raters = ((rng.integers(0, n_raters, (n_items, 1)) + np.arange(3)) % n_raters).ravel()
    u = rng.random(len(items))
    labels = (u[:, None] > conf[raters, truth[items]].cumsum(axis=1)).sum(axis=1).clip(0, K - 1)
    table = pa.table({
        "item_id": [f"i{i:06d}" for i in items],
        "rater_id": [f"r{r}" for r in raters],
        "label": [f"c{v}" for v in labels],
    })  # fmt: skip
    return table, truth


@pytest.mark.parametrize("one_coin", [False, True])
@pytest.mark.parametrize("with_gold", [False, True])
def test_two_blocks_equal_one(
    monkeypatch: pytest.MonkeyPatch, one_coin: bool, with_gold: bool
) -> None:
    table, truth = _planted(20_000)
    coded = encode_labels(table)
    gold = np.full(coded.n_items, -1)
    if with_gold:
        gold[::50] = truth[::50]  # item i000000.. sorted: code i is item i
    data = TaskData(coded=coded, gold=gold)
    kwargs = {"n_iter": 100, "tol": 1e-5, "smoothing": 0.01, "one_coin": one_coin}
    monkeypatch.setattr(ds, "PARALLEL_ITEMS", 10**9)
    one = ds.fit_dawid_skene(data, **kwargs)
    monkeypatch.setattr(ds, "PARALLEL_ITEMS", 1_000)
    two = ds.fit_dawid_skene(TaskData(coded=coded, gold=gold), **kwargs)
    assert len(data.row_blocks(2)) == 2
    assert two.n_iter == one.n_iter and two.converged == one.converged
    np.testing.assert_allclose(two.posteriors, one.posteriors, rtol=0, atol=1e-12)
    np.testing.assert_allclose(two.history, one.history, rtol=1e-12)
    np.testing.assert_allclose(two.confusion, one.confusion, rtol=0, atol=1e-12)
    assert two.unclamped is not None and one.unclamped is not None
    np.testing.assert_allclose(two.unclamped, one.unclamped, rtol=0, atol=1e-12)
    if with_gold:
        assert two.unclamped.shape == (int((gold >= 0).sum()), K)
        assert np.all(two.posteriors[gold >= 0].argmax(axis=1) == gold[gold >= 0])


@pytest.mark.slow
def test_labels_within_0_002_of_crowdkit(monkeypatch: pytest.MonkeyPatch) -> None:
    ck = pytest.importorskip("crowdkit.aggregation")
    table, truth = _planted(40_000)
    monkeypatch.setattr(ds, "PARALLEL_ITEMS", 1_000)  # the blocked path, as on large files
    ours = ds.DawidSkene().fit(table)
    df = table.to_pandas().rename(columns={"item_id": "task", "rater_id": "worker"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = ck.DawidSkene(n_iter=100, tol=1e-5).fit(df)
    want = np.array([f"c{v}" for v in truth])
    order = ours.labels_["item_id"].to_pylist()
    our_acc = float(np.mean(np.array(ours.labels_["label"].to_pylist()) == want))
    peer_acc = float(np.mean(peer.labels_.reindex(order).to_numpy() == want))
    assert abs(our_acc - peer_acc) <= 0.002
    assert abs(ours.n_iter_["label"] - len(peer.loss_history_)) <= 2
