"""Label-policy experiments: metrics, intervals and tests against independent implementations,
and what each policy trains on, on small hand-built tables.

References: scikit-learn's ``accuracy_score``, ``f1_score`` and ``recall_score`` (with
``sample_weight`` for a bootstrap replicate's resampling counts), statsmodels' exact
McNemar test, SciPy's binomial distribution for the mid-p value (Fagerland, Lydersen &
Laake, 2013), scikit-learn's ``HashingVectorizer`` applied to whole texts, and a
percentile bootstrap over evaluation items written here with NumPy alone.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from opsloop.errors import UsageError
from opsloop.impact import (
    parse_policies,
    policy_labels,
    prepare_experiment,
    run_experiment,
    text_features,
)
from opsloop.impact._metrics import BOOT_BLOCK, confusion, confusion_metrics
from opsloop.stats import multinomial_weights

sklearn_metrics = pytest.importorskip("sklearn.metrics")

CATS = ("none", "spam", "hate")
WORDS = {
    "none": "nice sunny day at the beach with friends",
    "spam": "click the link free cash bonus now",
    "hate": "those people are vermin deport them all",
}


def synthetic(n_items: int = 1000, seed: int = 1, noise: float = 0.25) -> dict[str, pa.Table]:
    """Items whose text carries their true label, three raters each (one a spammer), gold."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, size=n_items, p=[0.5, 0.3, 0.2])
    filler = np.array(["a", "an", "the", "of", "to", "in", "is", "it", "we", "you"])
    texts = [
        f"{WORDS[CATS[t]]} {' '.join(rng.choice(filler, 4))}"
        if rng.random() > 0.2
        else " ".join(rng.choice(filler, 6))
        for t in truth
    ]
    ids = [f"i{i:04d}" for i in range(n_items)]
    rows = []
    for i, t in enumerate(truth):
        for r in ("good1", "good2", "spammer"):
            if r == "spammer":
                label = int(rng.integers(0, 3))
            else:
                label = int(t) if rng.random() > noise else int(rng.integers(0, 3))
            vendor = "Acme" if r == "good1" else "Beta"
            rows.append((ids[i], r, CATS[label], vendor, 0.1 if vendor == "Acme" else 0.2))
    ann = pa.table(
        {
            "item_id": [r[0] for r in rows],
            "rater_id": [r[1] for r in rows],
            "label": [r[2] for r in rows],
            "vendor": [r[3] for r in rows],
            "cost": [r[4] for r in rows],
        }
    )
    gold_rows = [i for i in range(n_items) if i % 2 == 0]
    return {
        "annotations": ann,
        "items": pa.table({"item_id": ids, "text": texts}),
        "gold": pa.table(
            {"item_id": [ids[i] for i in gold_rows], "label": [CATS[truth[i]] for i in gold_rows]}
        ),
    }


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return synthetic()


@pytest.fixture(scope="module")
def data(tables: dict[str, pa.Table]):  # type: ignore[no-untyped-def]
    return prepare_experiment(
        tables["annotations"],
        tables["items"],
        gold=tables["gold"],
        categories=CATS,
        benign=("none",),
        group_columns=["vendor"],
        cost_column="cost",
    )


@pytest.fixture(scope="module")
def result(data):  # type: ignore[no-untyped-def]
    return run_experiment(
        data, ["majority", "random", "gold", "without:vendor=Acme"], seeds=3, n_boot=4000
    )


# --- metrics ----------------------------------------------------------------------------


def test_confusion_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.integers(0, 4, 60)
        pred = np.where(rng.random(60) < 0.6, y, rng.integers(0, 3, 60))  # class 3 never predicted
        got = confusion_metrics(confusion(y, pred, 4)[None], (1, 2, 3))
        assert got["accuracy"][0] == pytest.approx(sklearn_metrics.accuracy_score(y, pred))
        assert got["macro_f1"][0] == pytest.approx(
            sklearn_metrics.f1_score(y, pred, average="macro", zero_division=0)
        )
        ref = sklearn_metrics.recall_score(y, pred, labels=[1, 2, 3], average=None)
        assert got["recall"][0] == pytest.approx(ref)
        pooled = sklearn_metrics.recall_score(y, pred, labels=[1, 2, 3], average="micro")
        assert got["violating_recall"][0] == pytest.approx(pooled)


def test_policy_figures_match_scikit_learn_on_the_predictions(result) -> None:  # type: ignore[no-untyped-def]
    y = np.array(result.eval_labels)
    for p in result.policies:
        preds = [np.array(row) for row in result.predictions[p.policy]]
        acc = np.mean([sklearn_metrics.accuracy_score(y, q) for q in preds])
        f1 = np.mean([sklearn_metrics.f1_score(y, q, average="macro") for q in preds])
        rec = np.mean(
            [
                sklearn_metrics.recall_score(y, q, labels=["spam", "hate"], average=None)
                for q in preds
            ],
            axis=0,
        )
        assert p.accuracy.value == pytest.approx(acc, abs=1e-12)
        assert p.macro_f1.value == pytest.approx(f1, abs=1e-12)
        assert [p.recall["spam"].value, p.recall["hate"].value] == pytest.approx(rec, abs=1e-12)
        assert p.accuracy.low <= p.accuracy.value <= p.accuracy.high


def test_intervals_are_the_percentile_bootstrap_of_the_resampled_metric(result) -> None:  # type: ignore[no-untyped-def]
    """The documented resampling (seeded blocks of multinomial counts), scored by scikit-learn
    with the counts as sample weights, and the percentiles taken with NumPy."""
    y = np.array(result.eval_labels)
    n = len(y)
    weights = np.vstack(
        [
            multinomial_weights(
                np.ones(n),
                min(BOOT_BLOCK, result.n_boot - start),
                int(np.random.SeedSequence([0, j]).generate_state(1)[0]),
            )
            for j, start in enumerate(range(0, result.n_boot, BOOT_BLOCK))
        ]
    )[:400]  # the first 400 replicates are enough to pin the scheme down
    base = [np.array(r) for r in result.predictions["majority"]]
    gold = [np.array(r) for r in result.predictions["gold"]]

    def f1(preds: list[np.ndarray], w: np.ndarray) -> float:
        return float(
            np.mean(
                [sklearn_metrics.f1_score(y, q, average="macro", sample_weight=w) for q in preds]
            )
        )

    from opsloop.impact._experiment import _figures, choose_evaluation

    # the same replicates through opsloop's vectorised path, for the first 400
    data = prepare_experiment(
        *(synthetic()[k] for k in ("annotations", "items")),
        gold=synthetic()["gold"],
        categories=CATS,
        benign=("none",),
    )
    ev = choose_evaluation(data)
    codes = {c: i for i, c in enumerate(CATS)}
    preds = np.array([[[codes[v] for v in row] for row in result.predictions[p]]
                      for p in ("majority", "gold")])  # fmt: skip
    fig = _figures(ev, preds, data, 400, 0.95, 0)
    ours = fig.reps["macro_f1"]
    ref = np.array([[f1(base, w), f1(gold, w)] for w in weights])
    assert ours == pytest.approx(ref, abs=1e-9)
    lo, hi = np.percentile(ref[:, 1] - ref[:, 0], [2.5, 97.5])
    diff = fig.estimate("macro_f1", 1, minus=0)
    assert (diff.low, diff.high) == pytest.approx((lo, hi), abs=1e-9)


def test_intervals_agree_with_an_independent_numpy_bootstrap(result) -> None:  # type: ignore[no-untyped-def]
    y = np.array(result.eval_labels)
    rng = np.random.default_rng(12345)
    idx = rng.integers(0, len(y), size=(4000, len(y)))
    base = np.array([np.array(r) == y for r in result.predictions["majority"]])
    gold = np.array([np.array(r) == y for r in result.predictions["gold"]])
    acc_gold = gold[:, idx].mean(axis=2).mean(axis=0)
    acc_base = base[:, idx].mean(axis=2).mean(axis=0)
    g = result.get("gold")
    # the Monte Carlo error of a 2.5% percentile with 4,000 replicates is about 0.001 here;
    # accuracy on 250 items moves in steps of 0.004, so allow a step and a half
    tol = 1.5 / len(y)
    assert (g.accuracy.low, g.accuracy.high) == pytest.approx(
        tuple(np.percentile(acc_gold, [2.5, 97.5])), abs=tol
    )
    assert g.comparison is not None
    assert (g.comparison.accuracy.low, g.comparison.accuracy.high) == pytest.approx(
        tuple(np.percentile(acc_gold - acc_base, [2.5, 97.5])), abs=tol
    )


def test_mcnemar_matches_statsmodels_and_scipy(result) -> None:  # type: ignore[no-untyped-def]
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    from scipy.stats import binom

    y = np.array(result.eval_labels)
    ok_base = np.array(result.predictions["majority"][0]) == y
    for p in result.policies[1:]:
        ok = np.array(result.predictions[p.policy][0]) == y
        b, c = int(np.sum(ok_base & ~ok)), int(np.sum(~ok_base & ok))
        table = [[np.sum(ok_base & ok), b], [c, np.sum(~ok_base & ~ok)]]
        assert p.comparison is not None
        assert (p.comparison.baseline_only, p.comparison.policy_only) == (b, c)
        ref = contingency.mcnemar(table, exact=True).pvalue
        assert p.comparison.mcnemar_p == pytest.approx(ref, abs=1e-12)
        m, n = min(b, c), b + c
        mid = 2 * binom.cdf(m, n, 0.5) - binom.pmf(m, n, 0.5) if n else 1.0
        assert p.comparison.mcnemar_mid_p == pytest.approx(min(1.0, mid), abs=1e-12)


def test_text_features_equal_hashing_vectorizer_on_whole_texts() -> None:
    from scipy import sparse
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.preprocessing import normalize

    texts = ["Hello  World hello", "ÀB  cd\tEF gh x", "", "one", "free CASH click free", None]
    docs = ["" if t is None else t for t in texts]
    common = {"n_features": 2**20, "alternate_sign": False, "norm": None}
    ref = sparse.hstack(
        [
            HashingVectorizer(ngram_range=(1, 2), **common).transform(docs),
            HashingVectorizer(analyzer="char_wb", ngram_range=(3, 3), **common).transform(docs),
        ],
        format="csr",
    )
    ref.data = np.log1p(ref.data)
    ref = normalize(ref)
    ref = ref[:, np.unique(ref.indices)]
    got = text_features(texts)
    assert got.shape == ref.shape
    assert abs(got - ref).max() == pytest.approx(0.0, abs=1e-6)


# --- what each policy trains on ------------------------------------------------------------


def small() -> dict[str, pa.Table]:
    ann = pa.table(
        {
            "item_id": ["a", "a", "a", "b", "b", "c", "c", "d"],
            "rater_id": ["x", "y", "z", "x", "y", "x", "z", "z"],
            "label": ["spam", "spam", "none", "hate", "none", "none", "none", "hate"],
            "vendor": ["V1", "V2", "V2", "V1", "V2", "V1", "V2", "V2"],
            "cost": [1.0, 2.0, 2.0, 1.0, 2.0, 1.0, 2.0, 2.0],
        }
    )
    items = pa.table({"item_id": ["a", "b", "c", "d"], "text": ["w1", "w2", "w3", "w4"]})
    gold = pa.table({"item_id": ["b", "d"], "label": ["hate", "none"]})
    return {"annotations": ann, "items": items, "gold": gold}


@pytest.fixture
def tiny():  # type: ignore[no-untyped-def]
    t = small()
    return prepare_experiment(
        t["annotations"], t["items"], gold=t["gold"], categories=CATS,
        benign=("none",), group_columns=["vendor"], cost_column="cost",
    )  # fmt: skip


def _by_item(data, ts) -> dict[str, str]:  # type: ignore[no-untyped-def]
    ids = data.item_ids.to_pylist()
    return {ids[i]: CATS[int(lab)] for i, lab in zip(ts.items, ts.labels, strict=True)}


def test_majority_policy_gives_exactly_the_majority_vote(tiny) -> None:  # type: ignore[no-untyped-def]
    ts = policy_labels(tiny, "majority")
    # a: spam 2-1; b: hate/none tie -> the label more frequent in the task (none: 4 of 8)
    assert _by_item(tiny, ts) == {"a": "spam", "b": "none", "c": "none", "d": "hate"}
    assert ts.weights is None
    assert (ts.n_labels, ts.cost) == (8, pytest.approx(13.0))


def test_leave_group_out_drops_exactly_that_groups_annotations(tiny) -> None:  # type: ignore[no-untyped-def]
    ts = policy_labels(tiny, "without:vendor=V2")
    assert _by_item(tiny, ts) == {"a": "spam", "b": "hate", "c": "none"}  # d had V2 labels only
    assert (ts.n_labels, ts.cost) == (3, pytest.approx(3.0))
    only = policy_labels(tiny, "only:vendor=V2")
    assert only.n_labels == 5 and only.cost == pytest.approx(10.0)


def test_held_out_items_never_reach_training(tiny) -> None:  # type: ignore[no-untyped-def]
    ts = policy_labels(tiny, "majority", held_out=["a", "d"])
    assert set(_by_item(tiny, ts)) == {"b", "c"}
    assert ts.n_labels == 4
    gold = policy_labels(tiny, "gold", held_out=["d"])
    assert _by_item(tiny, gold) == {"b": "hate"}
    assert gold.cost == pytest.approx(tiny.gold_unit_cost)


def test_random_policy_takes_one_of_each_items_labels(tiny) -> None:  # type: ignore[no-untyped-def]
    given: dict[str, set[str]] = {}
    t = small()["annotations"]
    for i, lab in zip(t["item_id"].to_pylist(), t["label"].to_pylist(), strict=True):
        given.setdefault(i, set()).add(lab)
    seen = set()
    for seed in range(12):
        labels = _by_item(tiny, policy_labels(tiny, "random", seed=seed))
        assert set(labels) == {"a", "b", "c", "d"}
        assert all(lab in given[i] for i, lab in labels.items())
        seen.add(tuple(sorted(labels.items())))
        again = _by_item(tiny, policy_labels(tiny, "random", seed=seed))
        assert again == labels
    assert len(seen) > 1


def test_soft_policy_weights_are_the_posteriors(tiny) -> None:  # type: ignore[no-untyped-def]
    ts = policy_labels(tiny, "soft:mv")
    assert ts.weights is not None
    per_item = np.bincount(ts.items, weights=ts.weights, minlength=4)
    assert per_item == pytest.approx(np.ones(4))
    a = [w for i, lab, w in zip(ts.items, ts.labels, ts.weights, strict=True) if i == 0]
    assert sorted(a) == pytest.approx([1 / 3, 2 / 3])


def test_without_flagged_raters_drops_the_planted_spammer(data) -> None:  # type: ignore[no-untyped-def]
    from opsloop.impact._training import TrainingSide

    side = TrainingSide(data, np.zeros(0, dtype=np.int64))
    flagged, _ = side.flagged_raters()
    assert [data.rater_names[i] for i in flagged] == ["spammer"]
    ts = policy_labels(data, "unflagged")
    assert ts.n_labels == 2 * data.n_items


def test_relabel_spends_the_budget_on_the_top_of_the_error_ranking(data) -> None:  # type: ignore[no-untyped-def]
    from opsloop.inference import DawidSkene, rank_label_errors

    base = policy_labels(data, "majority")
    top = policy_labels(data, "relabel:10")
    rand = policy_labels(data, "relabel-random:10", seed=3)
    n = round(0.10 * len(base.items))
    assert top.n_labels == rand.n_labels == base.n_labels + n
    assert top.cost == pytest.approx(base.cost + n * data.gold_unit_cost)
    ann = synthetic()["annotations"]
    ranking = rank_label_errors(ann, estimator=DawidSkene().fit(ann, categories=list(CATS)))
    gold_ids = set(synthetic()["gold"]["item_id"].to_pylist())
    order = [i for i in ranking.relabel["item_id"].to_pylist() if i in gold_ids][:n]
    ids = data.item_ids.to_pylist()
    changed = {ids[i] for i, a, b in zip(top.items, top.labels, base.labels, strict=True) if a != b}
    assert changed <= set(order)
    gold = dict(
        zip(*(synthetic()["gold"][c].to_pylist() for c in ("item_id", "label")), strict=True)
    )
    relabelled = {ids[i]: CATS[int(lab)] for i, lab in zip(top.items, top.labels, strict=True)}
    assert all(relabelled[i] == gold[i] for i in order)


def test_policy_specs() -> None:
    names = [
        p.name for p in parse_policies(["mv", "soft", "relabel", "without:vendor=A B"], ks=(5, 20))
    ]
    assert names == ["majority", "soft", "relabel:5", "relabel:20", "without:vendor=A B"]
    for bad in ("nonsense", "relabel:0", "relabel:x", "only:vendor", "gold:3", "soft:zz"):
        with pytest.raises(UsageError):
            parse_policies([bad])


def test_deterministic_policies_are_fitted_once(result) -> None:  # type: ignore[no-untyped-def]
    # majority, gold and without:vendor=Acme once each, random once per seed
    assert result.n_fits == 3 + 3
    assert result.get("majority").seed_sd["accuracy"] == 0.0


def test_experiments_are_reproducible(data) -> None:  # type: ignore[no-untyped-def]
    a = run_experiment(data, ["majority", "random"], seeds=2, n_boot=200)
    b = run_experiment(data, ["majority", "random"], seeds=2, n_boot=200, n_jobs=1)
    assert a.to_dict() == b.to_dict()
    assert a.predictions == b.predictions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policies": ["gold"], "baseline": "gold", "eval_share": 0.97}, "leaves 15 training item"),
        ({"policies": ["majority"], "evaluation": "nope"}, "expected gold or holdout"),
        ({"policies": ["majority"], "seeds": 0}, "at least one seed"),
        ({"policies": ["without:site=x"]}, "no group column 'site'"),
        ({"policies": ["without:vendor=Nobody"]}, "no annotation has vendor = 'Nobody'"),
    ],
)  # fmt: skip
def test_bad_requests_are_one_clear_error(data, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=message):
        run_experiment(data, n_boot=50, **kwargs)


def test_a_class_absent_from_training_is_refused() -> None:
    t = synthetic(200)
    ann = t["annotations"]
    # no rater ever says hate, but gold (the evaluation target) does
    ann = ann.set_column(
        2, "label", pa.array(["none" if v == "hate" else v for v in ann["label"].to_pylist()])
    )
    data = prepare_experiment(ann, t["items"], gold=t["gold"], categories=CATS)
    with pytest.raises(UsageError, match="no training item is labelled 'hate'"):
        run_experiment(data, ["majority"], seeds=1, n_boot=50)


def test_bad_tables_are_one_clear_error(tables) -> None:  # type: ignore[no-untyped-def]
    ann, items = tables["annotations"], tables["items"]
    with pytest.raises(UsageError, match="no content column 'body'"):
        prepare_experiment(ann, items, content="body")
    with pytest.raises(UsageError, match=r"annotations: .*'rater_id' not found"):
        prepare_experiment(ann.drop(["rater_id"]), items)
    with pytest.raises(UsageError, match="label 'spam' is not one of the categories"):
        prepare_experiment(ann, items, categories=("none", "hate"))
    data = prepare_experiment(ann, items)
    with pytest.raises(UsageError, match="no evaluation target: no item with content has a gold"):
        run_experiment(data, ["majority"], n_boot=50)


def test_holdout_evaluation_uses_held_out_raters_majority(data) -> None:  # type: ignore[no-untyped-def]
    r = run_experiment(data, ["majority"], seeds=1, evaluation="holdout", n_boot=100)
    assert r.evaluation == "holdout" and r.n_eval == round(0.2 * data.n_items)
    ids = set(r.eval_items)
    ts = policy_labels(data, "majority", held_out=sorted(ids))
    assert not ids & {data.item_ids[int(i)].as_py() for i in ts.items}


def test_numeric_feature_content() -> None:
    t = synthetic(300)
    rng = np.random.default_rng(0)
    gold = dict(zip(*(t["gold"][c].to_pylist() for c in ("item_id", "label")), strict=True))
    truth = {i: gold.get(i) for i in t["items"]["item_id"].to_pylist()}
    emb = [
        [float(CATS.index(v) if v else 0) + rng.normal(0, 0.3), rng.normal()]
        for v in truth.values()
    ]
    items = pa.table({"item_id": list(truth), "emb": emb})
    data = prepare_experiment(
        t["annotations"], items, content="emb", gold=t["gold"], categories=CATS
    )
    assert data.content == "features:emb" and data.features.shape == (300, 2)
    r = run_experiment(data, ["gold"], seeds=1, n_boot=50)
    assert r.model.startswith("numeric features")
