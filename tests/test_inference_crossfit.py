"""Accuracy on gold: cross-fitted when gold is clamped, held out with --no-clamp.

The reference for "honest" is the planted truth itself: raters with known
confusion matrices label items whose true class we drew, some items are
given as gold, and the accuracy a fit reaches on the items it was *not* given
is what a gold figure must estimate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from opsloop.inference import (
    DawidSkene,
    MajorityVote,
    cross_fitted_gold,
    infer_labels,
)
from opsloop.inference._crossfit import gold_folds
from opsloop.io import ingest

from .helpers import make_workspace, run_cli

LABELS = ("none", "spam", "hate")


def simulate(seed: int, *, n_items: int = 2000, n_raters: int = 200, n_gold: int = 800):
    """Raters with planted confusion (accuracy 0.45–0.85, errors Dirichlet), 3 labels per item.

    200 raters with about 30 labels each: a full confusion matrix per rater is
    learned from few labels, so clamping gold makes the fit lean on it.
    """
    rng = np.random.default_rng(seed)
    k = len(LABELS)
    truth = rng.integers(0, k, n_items)
    acc = rng.uniform(0.45, 0.85, n_raters)
    conf = rng.dirichlet(np.ones(k), size=(n_raters, k)) * (1 - acc)[:, None, None]
    conf[:, np.arange(k), np.arange(k)] += acc[:, None]
    items = np.repeat(np.arange(n_items), 3)
    raters = np.concatenate([rng.choice(n_raters, 3, replace=False) for _ in range(n_items)])
    cum = conf[raters, truth[items]].cumsum(axis=1)
    labels = np.minimum((rng.random(len(items))[:, None] > cum).sum(axis=1), k - 1)
    table = pa.table(
        {
            "item_id": [f"i{i}" for i in items],
            "rater_id": [f"r{r}" for r in raters],
            "label": [LABELS[v] for v in labels],
        }
    )
    gold_idx = np.sort(rng.choice(n_items, n_gold, replace=False))
    gold = pa.table(
        {"item_id": [f"i{i}" for i in gold_idx], "label": [LABELS[truth[i]] for i in gold_idx]}
    )
    truth_by_item = {f"i{i}": LABELS[v] for i, v in enumerate(truth)}
    return table, gold, truth_by_item


def accuracy_on(labels: pa.Table, truth: dict[str, str], items: set[str]) -> float:
    got = dict(zip(labels["item_id"].to_pylist(), labels["label"].to_pylist(), strict=True))
    return float(np.mean([got[i] == truth[i] for i in items]))


@pytest.fixture(scope="module")
def planted() -> tuple[pa.Table, pa.Table, dict[str, str]]:
    return simulate(0)


def test_full_clamp_scoring_is_optimistic_and_cross_fitting_is_not(planted):
    table, gold, truth = planted
    gold_items = set(gold["item_id"].to_pylist())
    non_gold = set(truth) - gold_items
    result = infer_labels(table, "ds", gold)
    # what a fit that clamps all gold reaches on the items it was not given
    target = accuracy_on(result.labels, truth, non_gold)
    # the old score: gold items' posteriors from parameters learned with them clamped
    est = DawidSkene().fit(table, gold)
    data, fit = est.data_["label"], est.fits_["label"]
    on_gold = data.gold[data.gold >= 0]
    optimistic = float(np.mean(np.argmax(fit.unclamped, axis=1) == on_gold))
    assert optimistic > target + 0.04
    assert result.accuracy_method == "cross-fitted (5 folds)" and result.gold_folds == 5
    assert result.n_gold == 800
    assert abs(result.gold_accuracy - target) < 0.03
    lo, hi = result.gold_ci
    assert lo < target < hi and not lo < optimistic < hi
    # the stored labels still come from the fit with every gold item clamped
    assert accuracy_on(result.labels, truth, gold_items) == 1.0


def test_cross_fitting_matches_refits_through_the_public_api(planted):
    table, gold, truth = planted
    est = DawidSkene().fit(table, gold)
    score = cross_fitted_gold(est, n_folds=5, seed=3)
    folds = gold_folds(est, 5, seed=3)["label"]
    names = est.data_["label"].coded.item_names
    fold_of = {str(names[i]): int(f) for i, f in enumerate(folds) if f >= 0}
    assert sorted(fold_of) == sorted(gold["item_id"].to_pylist())
    assert sorted(np.bincount(list(fold_of.values())).tolist()) == [160] * 5
    correct = 0
    for f in range(5):
        keep = pa.array([fold_of[i] != f for i in gold["item_id"].to_pylist()])
        labels = DawidSkene().fit(table, gold.filter(keep)).labels_
        held = {i for i, g in fold_of.items() if g == f}
        got = dict(zip(labels["item_id"].to_pylist(), labels["label"].to_pylist(), strict=True))
        correct += sum(got[i] == truth[i] for i in held)
    assert (score.n_gold, score.correct, score.n_folds) == (800, correct, 5)


def test_cross_fitting_does_not_depend_on_row_order(planted):
    table, gold, _ = planted
    perm = np.random.default_rng(1).permutation(table.num_rows)
    a = infer_labels(table, "ds", gold, seed=5)
    b = infer_labels(table.take(perm), "ds", gold.take(np.arange(gold.num_rows)[::-1]), seed=5)
    assert (a.n_gold, a.gold_accuracy) == (b.n_gold, b.gold_accuracy)


def test_no_clamp_scores_every_gold_item_held_out(planted):
    table, gold, truth = planted
    result = infer_labels(table, "ds", gold, clamp_gold=False)
    expected = accuracy_on(DawidSkene().fit(table).labels_, truth, set(gold["item_id"].to_pylist()))
    assert result.accuracy_method == "held out" and result.gold_folds == 0
    assert result.gold_accuracy == pytest.approx(expected, abs=1e-12)


def test_fewer_gold_items_than_folds():
    table, _, truth = simulate(2, n_items=300, n_raters=20, n_gold=0)
    three = pa.table({"item_id": ["i0", "i1", "i2"], "label": [truth[f"i{i}"] for i in range(3)]})
    r = infer_labels(table, "mv", three)
    assert r.accuracy_method == "cross-fitted (3 folds)" and r.gold_folds == 3
    assert any("3 gold items: 3-fold cross-fitting instead of 5-fold" in n for n in r.notes)
    # majority vote ignores other items' gold: each fold scores the plain vote
    plain = accuracy_on(MajorityVote().fit(table).labels_, truth, {"i0", "i1", "i2"})
    assert r.gold_accuracy == pytest.approx(plain)
    one = infer_labels(table, "ds", three.slice(0, 1))
    assert one.accuracy_method == "held out" and one.n_gold == 1
    assert any("one gold item" in n for n in one.notes)


def test_gold_of_several_tasks_is_pooled_and_single_class_tasks_count():
    table, gold, _ = simulate(4, n_items=400, n_raters=30, n_gold=100)
    both = pa.concat_tables(
        [
            table.append_column("task", pa.repeat("policy", table.num_rows)),
            table.set_column(2, "label", pa.repeat("ok", table.num_rows)).append_column(
                "task", pa.repeat("format", table.num_rows)
            ),
        ]
    )
    gold_both = pa.concat_tables(
        [
            gold.append_column("task", pa.repeat("policy", gold.num_rows)),
            gold.set_column(1, "label", pa.repeat("ok", gold.num_rows)).append_column(
                "task", pa.repeat("format", gold.num_rows)
            ),
        ]
    )
    r = infer_labels(both, "ds", gold_both)
    alone = infer_labels(table, "ds", gold)
    assert r.n_gold == 200 and r.accuracy_method == "cross-fitted (5 folds)"
    # the single-category task is right on every gold item; folds pool across tasks
    assert r.gold_accuracy * 200 == pytest.approx(100 + alone.gold_accuracy * 100, abs=6)


# -- through the command line ----------------------------------------------------------
def _write_csv(table: pa.Table, path: Path) -> Path:
    pcsv.write_csv(table, path)
    return path


def test_cli_states_how_accuracy_was_measured(planted, tmp_path):
    table, gold, _ = planted
    ann = _write_csv(table, tmp_path / "ann.csv")
    gold_f = _write_csv(gold, tmp_path / "gold.csv")
    proc = run_cli("infer", str(ann), "--gold", str(gold_f), "--method", "ds", "--top", "2")
    assert "accuracy on 800 gold items, 5-fold cross-fitted: " in proc.stdout
    proc = run_cli("infer", str(ann), "--gold", str(gold_f), "-m", "ds", "--format", "json")
    data = json.loads(proc.stdout)
    expected = infer_labels(table, "ds", gold)
    assert data["accuracy_method"] == "cross-fitted (5 folds)" and data["gold_folds"] == 5
    assert data["accuracy"] == pytest.approx(expected.gold_accuracy, abs=1e-12)
    assert data["gold_clamped"] is True
    proc = run_cli("infer", str(ann), "--gold", str(gold_f), "-m", "ds", "--no-clamp")
    assert "accuracy on 800 gold items, held out (fitted without gold): " in proc.stdout


def test_cli_on_a_workspace_cross_fits_and_stores_clamped_labels(planted, tmp_path):
    table, gold, _ = planted
    root = tmp_path / "ws"
    root.mkdir()
    ws = make_workspace(root, LABELS)
    try:
        ingest(ws, "annotations", [_write_csv(table, tmp_path / "ann.csv")])
        ingest(ws, "gold", [_write_csv(gold, tmp_path / "gold.csv")])
    finally:
        ws.close()
    proc = run_cli("-w", str(root), "infer", "--method", "ds")
    assert "accuracy on 800 gold items, 5-fold cross-fitted: " in proc.stdout
    proc = run_cli(
        "-w", str(root), "sql", "SELECT item_id, label FROM inferred_labels", "--format", "json"
    )
    stored = {r["item_id"]: r["label"] for r in json.loads(proc.stdout)}
    assert all(
        stored[i] == g
        for i, g in zip(gold["item_id"].to_pylist(), gold["label"].to_pylist(), strict=True)
    )
