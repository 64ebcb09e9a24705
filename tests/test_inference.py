"""Truth inference: estimators, published figures, properties, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.errors import OpsloopError, UsageError
from opsloop.inference import (
    GLAD,
    MACE,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    WeightedMajorityVote,
    infer_labels,
    rank_label_errors,
    rater_confusion,
    rater_reliability,
    spammer_score,
)

ESTIMATORS = [MajorityVote, WeightedMajorityVote, DawidSkene, OneCoinDawidSkene, GLAD, MACE]


def load_zheng(root: Path, folder: str) -> tuple[pa.Table, pa.Table]:
    base = root / "zheng2017" / folder
    types = {c: pa.string() for c in ("question", "worker", "answer", "truth")}
    opts = pcsv.ConvertOptions(column_types=types)
    ans = pcsv.read_csv(base / "answer.csv", convert_options=opts)
    truth = pcsv.read_csv(base / "truth.csv", convert_options=opts)
    return (
        ans.rename_columns(["item_id", "rater_id", "label"]),
        truth.rename_columns(["item_id", "label"]),
    )


def accuracy(labels: pa.Table, truth: pa.Table) -> float:
    got = dict(zip(labels["item_id"].to_pylist(), labels["label"].to_pylist(), strict=True))
    pairs = zip(truth["item_id"].to_pylist(), truth["label"].to_pylist(), strict=True)
    return float(np.mean([got.get(i) == lab for i, lab in pairs]))


# -- published figures (Zheng et al. 2017 data; Ustalov et al. crowd-kit paper) --------
@pytest.mark.parametrize(
    ("folder", "expected", "tol"),
    [
        ("d_jn-product", 0.940, 0.003),
        ("s4_Dog_data", 0.8426, 0.003),
        ("s4_Face_Sentiment_Identification", 0.6404, 0.003),
    ],
)
def test_dawid_skene_reaches_published_accuracy(data_dir, folder, expected, tol):
    ans, truth = load_zheng(data_dir, folder)
    assert accuracy(DawidSkene().fit(ans).labels_, truth) == pytest.approx(expected, abs=tol)


def test_majority_vote_reaches_published_accuracy(data_dir):
    ans, truth = load_zheng(data_dir, "d_jn-product")
    assert accuracy(MajorityVote().fit(ans).labels_, truth) == pytest.approx(0.897, abs=0.001)


# -- properties ------------------------------------------------------------------------
def planted(seed: int, n_items: int = 3000, n_raters: int = 6, k: int = 3, per_item: int = 4):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    conf = rng.dirichlet(np.ones(k) * 2, size=(n_raters, k)) * 0.4
    conf[:, np.arange(k), np.arange(k)] += 0.6
    rows = []
    for i in range(n_items):
        for r in rng.choice(n_raters, per_item, replace=False):
            rows.append((f"i{i}", f"r{r}", f"c{rng.choice(k, p=conf[r, truth[i]])}"))
    items, raters, labels = zip(*rows, strict=True)
    table = pa.table({"item_id": items, "rater_id": raters, "label": labels})
    return table, truth, conf


def test_dawid_skene_recovers_planted_confusion():
    table, _, conf = planted(1)
    est = DawidSkene().fit(table)
    fit = est.fits_["label"]
    order = [est.data_["label"].coded.rater_names.index(f"r{r}") for r in range(conf.shape[0])]
    assert np.abs(fit.confusion[order] - conf).max() < 0.06


def test_one_coin_recovers_planted_accuracy():
    table, _, conf = planted(2)
    est = OneCoinDawidSkene().fit(table)
    names = est.data_["label"].coded.rater_names
    # truth uniform: the planted accuracy is the mean diagonal
    planted_acc = conf.diagonal(axis1=1, axis2=2).mean(axis=1)
    got = dict(zip(names, est.fits_["label"].skills, strict=True))
    for r, acc in enumerate(planted_acc):
        assert got[f"r{r}"] == pytest.approx(acc, abs=0.04)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_noiseless_raters_give_the_truth(cls):
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 200)
    items = np.repeat(np.arange(200), 3)
    table = pa.table(
        {
            "item_id": [f"i{i}" for i in items],
            "rater_id": [
                f"r{(i + j) % 7}" for i, j in zip(items, np.tile([0, 1, 2], 200), strict=True)
            ],
            "label": [f"c{truth[i]}" for i in items],
        }
    )
    labels = cls().fit(table).labels_
    assert labels["label"].to_pylist() == [
        f"c{truth[int(i[1:])]}" for i in labels["item_id"].to_pylist()
    ]


def _canonical(labels: pa.Table) -> dict[str, str]:
    return dict(zip(labels["item_id"].to_pylist(), labels["label"].to_pylist(), strict=True))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_permuting_rows_and_renaming_raters_changes_nothing(seed):
    table, _, _ = planted(seed % 50, n_items=80, n_raters=5, k=3, per_item=3)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(table.num_rows)
    names = {f"r{r}": f"zz{rng.integers(1e9)}_{r}" for r in range(5)}
    shuffled = table.take(pa.array(perm))
    renamed = shuffled.set_column(
        1, "rater_id", pa.array([names[r] for r in shuffled["rater_id"].to_pylist()])
    )
    for cls in (MajorityVote, DawidSkene, OneCoinDawidSkene, MACE, GLAD):
        a = cls().fit(table)
        b = cls().fit(renamed)
        assert _canonical(a.labels_) == _canonical(b.labels_)
        pa_, pb = a.fits_["label"].posteriors, b.fits_["label"].posteriors
        assert np.allclose(pa_, pb, atol=1e-8)


# -- gold, tasks, API ----------------------------------------------------------------
def test_gold_is_clamped_and_scored(data_dir):
    ans, truth = load_zheng(data_dir, "s4_Dog_data")
    half = truth.slice(0, truth.num_rows // 2)
    est = DawidSkene().fit(ans, gold=half)
    got = _canonical(est.labels_)
    assert all(
        got[i] == lab
        for i, lab in zip(half["item_id"].to_pylist(), half["label"].to_pylist(), strict=True)
    )
    rest = truth.slice(truth.num_rows // 2)
    # semi-supervised fitting stays in the range of the unsupervised fit on the other items
    held_out = accuracy(est.labels_, rest)
    assert held_out >= accuracy(DawidSkene().fit(ans).labels_, rest) - 0.02
    assert held_out > accuracy(MajorityVote().fit(ans).labels_, rest)
    result = infer_labels(ans, method="ds", gold=half)
    assert result.n_gold == half.num_rows
    assert 0.7 < result.gold_accuracy <= 1.0
    assert result.to_dict()["n_gold"] == half.num_rows


def test_tasks_are_inferred_separately():
    a = pa.table(
        {"item_id": ["x", "x", "x"], "rater_id": ["1", "2", "3"], "label": ["p", "p", "q"]}
    )
    both = pa.concat_tables(
        [
            a.append_column("task", pa.array(["t1"] * 3)),
            a.set_column(2, "label", pa.array(["u", "v", "v"])).append_column(
                "task", pa.array(["t2"] * 3)
            ),
        ]
    )
    labels = MajorityVote().fit(both).labels_
    assert sorted(zip(labels["task"].to_pylist(), labels["label"].to_pylist(), strict=True)) == [
        ("t1", "p"),
        ("t2", "v"),
    ]


def test_majority_tie_rule_and_flag():
    t = pa.table(
        {
            "item_id": ["a", "a", "b", "b", "b", "c", "c"],
            "rater_id": ["1", "2", "1", "2", "3", "1", "2"],
            "label": ["x", "y", "y", "y", "x", "x", "y"],
        }
    )
    # y is the most frequent label overall (4 of 7): it wins ties
    out = MajorityVote().fit(t).labels_.to_pydict()
    assert out == {"item_id": ["a", "b", "c"], "label": ["y", "y", "y"], "tie": [True, False, True]}


def test_infer_labels_and_ranking_shapes():
    table, truth, _ = planted(5, n_items=300)
    r = infer_labels(table, method="ds")
    assert r.labels.num_rows == 300 and r.gold_accuracy is None
    assert set(r.raters.column_names) >= {"rater_id", "accuracy", "spammer_score", "gold_accuracy"}
    ranking = rank_label_errors(table, method="ds", top=10)
    assert ranking.relabel.num_rows == 10
    q = ranking.relabel["quality"].to_pylist()
    assert q == sorted(q)
    preds = pa.table({"item_id": [f"i{i}" for i in range(300)], "label": [f"c{v}" for v in truth]})
    with_model = rank_label_errors(table, method="ds", predictions=preds)
    assert with_model.uses_predictions
    bad = [
        i
        for i, c in zip(
            ranking.items["item_id"].to_pylist(),
            ranking.items["consensus"].to_pylist(),
            strict=True,
        )
        if c != f"c{truth[int(i[1:])]}"
    ]
    if bad:
        mean_q = dict(
            zip(
                ranking.items["item_id"].to_pylist(),
                ranking.items["quality"].to_pylist(),
                strict=True,
            )
        )
        assert np.mean([mean_q[i] for i in bad]) < np.mean(list(mean_q.values()))


def test_spammer_score_values():
    assert spammer_score(np.eye(4)[None])[0] == pytest.approx(1.0)
    assert spammer_score(np.full((1, 3, 3), 1 / 3))[0] == pytest.approx(0.0)
    # binary: (sensitivity + specificity - 1)^2
    m = np.array([[[0.8, 0.2], [0.3, 0.7]]])
    assert spammer_score(m)[0] == pytest.approx((0.8 + 0.7 - 1) ** 2)


def test_reliability_flags_a_spammer():
    table, _, _ = planted(6, n_items=600, n_raters=6)
    labels = table["label"].to_pylist()
    raters = table["rater_id"].to_pylist()
    rng = np.random.default_rng(0)
    spam = [
        f"c{rng.integers(3)}" if r == "r0" else lab for r, lab in zip(raters, labels, strict=True)
    ]
    est = DawidSkene().fit(table.set_column(2, "label", pa.array(spam)))
    rel = rater_reliability(est).to_pydict()
    scores = dict(zip(rel["rater_id"], rel["spammer_score"], strict=True))
    assert scores["r0"] == min(scores.values()) and scores["r0"] < 0.1
    lows = dict(zip(rel["rater_id"], rel["spammer_low"], strict=True))
    assert all(lows[r] <= scores[r] for r in scores)
    assert rater_confusion(est).num_rows == 6 * 9


# -- bad input ----------------------------------------------------------------------
def test_bad_input_is_reported():
    one = pa.table({"item_id": ["a", "b"], "rater_id": ["1", "1"], "label": ["x", "x"]})
    r = infer_labels(one, method="ds")
    assert r.labels["label"].to_pylist() == ["x", "x"] and any("one category" in n for n in r.notes)
    single = pa.table(
        {"item_id": ["a", "b", "c"], "rater_id": ["1", "2", "3"], "label": ["x", "y", "x"]}
    )
    for method in ("mv", "wmv", "ds", "onecoin", "glad", "mace"):
        res = infer_labels(single, method=method)
        assert not np.isnan(res.posteriors["probability"].to_numpy()).any()
    with pytest.raises(UsageError, match="not one of the categories"):
        infer_labels(single, categories=["x"])
    gold = pa.table({"item_id": ["a", "zz"], "label": ["x", "y"]})
    r = infer_labels(single, gold=gold)
    assert r.n_gold == 1 and any("no annotations" in n for n in r.notes)
    with pytest.raises(UsageError, match="missing column"):
        infer_labels(pa.table({"item": ["a"], "rater_id": ["1"], "label": ["x"]}))
    with pytest.raises(UsageError, match="unknown inference method"):
        infer_labels(single, method="nope")
    with pytest.raises(OpsloopError):
        DawidSkene(n_iter=-1).fit(single)
    with pytest.raises(UsageError, match="not fitted"):
        _ = DawidSkene().labels_
