"""Intra-rater (test–retest) reliability against independent implementations.

Reference data: Dawid & Skene (1979), JRSS C 28(1):20-28, the anaesthesia
data: 45 patients, 5 observers, observer 1 rated every patient three times.
No published test–retest coefficient for observer 1 was found, so the values
are checked against independent implementations: the ``krippendorff``
package (α on the 3×45 reliability matrix), scikit-learn and statsmodels
(Cohen's κ between the first and second rating), a direct pair count
(percent agreement) and statsmodels' Wilson interval. None is copied from
opsloop's own output.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import ibis
import krippendorff
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from opsloop.errors import UsageError
from opsloop.metrics import (
    IntraRaterResult,
    MetricRecord,
    agreement,
    get_metric,
    intra_rater_agreement,
)
from opsloop.metrics._intra import INTRA_METRICS
from opsloop.metrics._intra_kernel import bootstrap_by_row, kappa_features, kappa_from_sums

HERE = Path(__file__).parent
SHARED_REFERENCE = HERE.parent.parent / "shared" / "data" / "reference_small"
DS_FILE = "dawid_skene_1979_anaesthesia_long.csv"
PA, KAPPA, ALPHA = INTRA_METRICS
Level = Literal["nominal", "ordinal", "interval"]
Row = tuple[Any, ...]


def reference_file(name: str, data_dir: Path) -> Path:
    """tests/data/reference_small when the file is there, else the shared copy; never a skip."""
    for folder in (data_dir / "reference_small", SHARED_REFERENCE):
        if (folder / name).is_file():
            return folder / name
    pytest.fail(f"{name} found neither in {data_dir / 'reference_small'} nor {SHARED_REFERENCE}")


@pytest.fixture(scope="module")
def ds_rows(data_dir: Path) -> list[dict[str, str]]:
    with reference_file(DS_FILE, data_dir).open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def ds_table(ds_rows: list[dict[str, str]]) -> pa.Table:
    return pa.table({
        "item_id": [r["patient"] for r in ds_rows],
        "rater_id": [r["observer"] for r in ds_rows],
        "label": [r["label"] for r in ds_rows],
        "opsloop_nth": [int(r["replicate"]) for r in ds_rows],
    })


@pytest.fixture(scope="module")
def observer1(ds_rows: list[dict[str, str]]) -> np.ndarray:
    """Observer 1's 3 × 45 reliability matrix (rows: first, second, third rating)."""
    patients = sorted({int(r["patient"]) for r in ds_rows})
    m = np.full((3, len(patients)), np.nan)
    for r in ds_rows:
        if r["observer"] == "1":
            m[int(r["replicate"]) - 1, patients.index(int(r["patient"]))] = float(r["label"])
    assert not np.isnan(m).any()
    return m


def test_dawid_skene_observer1_alpha(ds_table: pa.Table, observer1: np.ndarray) -> None:
    # krippendorff 0.9.0 on the 3×45 matrix: nominal 0.695986, ordinal 0.817928,
    # interval 0.840680 (computed live below, not copied)
    for level in ("nominal", "ordinal", "interval", "ratio"):
        res = intra_rater_agreement(ds_table, level=level, n_boot=200)
        want = krippendorff.alpha(reliability_data=observer1, level_of_measurement=level)
        for key in ({}, {"rater_id": "1"}):
            rec = res.get(ALPHA, **key)
            assert rec.value == pytest.approx(want, abs=1e-9), (level, key)
            assert rec.ci_low < rec.value < rec.ci_high
            assert rec.n_items == 45 and rec.extra["n_labels"] == 135


def test_dawid_skene_observer1_kappa(ds_table: pa.Table, observer1: np.ndarray) -> None:
    first, second = observer1[0].astype(int), observer1[1].astype(int)
    table = np.zeros((4, 4))
    for a, b in zip(first, second, strict=True):
        table[a - 1, b - 1] += 1
    for level, weights, sm_wt in (("nominal", None, None), ("ordinal", "linear", "linear"),
                                  ("interval", "quadratic", "quadratic")):
        res = intra_rater_agreement(ds_table, level=level, n_boot=200)
        want = cohen_kappa_score(first, second, weights=weights)
        statsmodels_kappa = cohens_kappa(table, wt=sm_wt).kappa
        assert want == pytest.approx(statsmodels_kappa, abs=1e-12)
        rec = res.get(KAPPA, rater_id="1")
        assert rec.value == pytest.approx(want, abs=1e-9), level
        assert res.get(KAPPA).value == pytest.approx(want, abs=1e-9)
        assert rec.ci_low < rec.value < rec.ci_high


def test_dawid_skene_observer1_percent_agreement(
    ds_table: pa.Table, observer1: np.ndarray
) -> None:
    # direct count: each patient's three pairs of ratings, agreeing share, mean over patients
    shares = []
    for col in observer1.T:
        pairs = [(0, 1), (0, 2), (1, 2)]
        shares.append(sum(col[i] == col[j] for i, j in pairs) / 3)
    want = float(np.mean(shares))
    lo, hi = proportion_confint(want * 45, 45, alpha=0.05, method="wilson")
    res = intra_rater_agreement(ds_table, n_boot=0)
    for key in ({}, {"rater_id": "1"}):
        rec = res.get(PA, **key)
        assert rec.value == pytest.approx(want, abs=1e-12)
        assert (rec.ci_low, rec.ci_high) == pytest.approx((lo, hi), abs=1e-9)
    assert res.order_by == "opsloop_nth"
    assert res.n_single_units == 4 * 45  # observers 2–5 rated each patient once
    assert res.flagged() == ()  # one rater with 45 repeats: nothing to flag


def _long(rows: list[tuple[str, str, str]], nth: bool = True) -> pa.Table:
    """Rows (item, rater, label) in order of labelling → table with opsloop_nth."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    nths = []
    for item, rater, _ in rows:
        seen[(item, rater)] += 1
        nths.append(seen[(item, rater)])
    cols: dict[str, list[Any]] = {"item_id": [r[0] for r in rows], "rater_id": [r[1] for r in rows],
            "label": [r[2] for r in rows]}
    if nth:
        cols["opsloop_nth"] = nths
    return pa.table(cols)


@st.composite
def repeated_rows(draw: st.DrawFn, max_repeats: int = 4) -> list[tuple[str, str, str]]:
    rows = []
    for r in range(draw(st.integers(1, 4))):
        for i in range(draw(st.integers(1, 8))):
            m = draw(st.integers(1, max_repeats))
            rows += [(f"i{i}", f"r{r}", draw(st.sampled_from("abc"))) for _ in range(m)]
    return rows


def _values(res: IntraRaterResult) -> dict[tuple[str, tuple[tuple[str, str], ...]], Row]:
    out = {}
    for rec in res.records:
        out[(rec.metric, tuple(sorted(rec.slice.items())))] = (
            rec.value, rec.ci_low, rec.ci_high, rec.n_items, rec.note)
    return out


def _same(a: Row, b: Row) -> bool:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float):
            if not ((math.isnan(x) and math.isnan(y)) or abs(x - y) < 1e-9):
                return False
        elif x != y:
            return False
    return True


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_constant_repeats_give_one(data: st.DataObject) -> None:
    n_items = data.draw(st.integers(2, 10))
    rows = []
    for i in range(n_items):
        label = data.draw(st.sampled_from("abcd"))
        rows += [(f"i{i}", "r", label)] * data.draw(st.integers(2, 4))
    res = intra_rater_agreement(_long(rows), n_boot=20)
    assert res.get(PA, rater_id="r").value == 1.0
    used = {r[2] for r in rows}
    for metric in (KAPPA, ALPHA):
        rec = res.get(metric, rater_id="r")
        if len(used) > 1:
            assert rec.value == pytest.approx(1.0)
        else:  # one category: undefined, and said so
            assert math.isnan(rec.value) and rec.note


@settings(max_examples=40, deadline=None)
@given(repeated_rows(), st.randoms(use_true_random=False))
def test_relabelling_and_row_order_change_nothing(
    rows: list[tuple[str, str, str]], rnd: object
) -> None:
    base = intra_rater_agreement(_long(rows), n_boot=30, min_units=2)
    raters = sorted({r[1] for r in rows})
    new_names = [f"z{k}" for k in range(len(raters))]
    rnd.shuffle(new_names)  # type: ignore[attr-defined]
    rename = dict(zip(raters, new_names, strict=True))
    items = sorted({r[0] for r in rows})
    item_names = [f"x{k}" for k in range(len(items))]
    rnd.shuffle(item_names)  # type: ignore[attr-defined]
    item_map = dict(zip(items, item_names, strict=True))
    table = _long([(item_map[r[0]], rename[r[1]], r[2]) for r in rows]).to_pylist()
    rnd.shuffle(table)  # type: ignore[attr-defined]
    other = intra_rater_agreement(pa.Table.from_pylist(table), n_boot=30, min_units=2)
    got = _values(other)
    for (metric, key), v in _values(base).items():
        mapped = tuple((k, rename[x] if k == "rater_id" else x) for k, x in key)
        mapped = tuple(sorted(mapped))
        assert _same(v, got[(metric, mapped)]), (metric, key)
    assert {rename[f.rater_id] for f in base.flags} == {f.rater_id for f in other.flags}


@settings(max_examples=40, deadline=None)
@given(repeated_rows(max_repeats=2), st.sampled_from(["nominal", "ordinal", "interval"]))
def test_alpha_two_labels_matches_krippendorff(
    rows: list[tuple[str, str, str]], level: Level
) -> None:
    mapped = [(i, r, {"a": "1", "b": "2", "c": "5"}[x]) for i, r, x in rows]
    res = intra_rater_agreement(_long(mapped), level=level, n_boot=0)
    units: dict[tuple[str, str], list[float]] = defaultdict(list)
    for i, r, x in mapped:
        units[(i, r)].append(float(x))
    pairs = [v for v in units.values() if len(v) == 2]
    rec = res.get(ALPHA)
    if not pairs:
        assert math.isnan(rec.value) and rec.note
        return
    matrix = np.array(pairs).T  # 2 × n reliability matrix
    if len(np.unique(matrix)) < 2:
        assert math.isnan(rec.value) and rec.note
        return
    want = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    assert rec.value == pytest.approx(want, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(repeated_rows(max_repeats=5), st.sampled_from(["nominal", "ordinal", "interval"]))
def test_alpha_any_repeats_matches_krippendorff(
    rows: list[tuple[str, str, str]], level: Level
) -> None:
    # units with 2–5 labels: krippendorff on the (max repeats) × units matrix, NaN = missing
    mapped = [(i, r, {"a": "1", "b": "2", "c": "5"}[x]) for i, r, x in rows]
    units: dict[tuple[str, str], list[float]] = defaultdict(list)
    for i, r, x in mapped:
        units[(i, r)].append(float(x))
    repeated = [v for v in units.values() if len(v) >= 2]
    rec = intra_rater_agreement(_long(mapped), level=level, n_boot=0).get(ALPHA)
    if not repeated or len({x for v in repeated for x in v}) < 2:
        assert math.isnan(rec.value) and rec.note
        return
    matrix = np.full((max(map(len, repeated)), len(repeated)), np.nan)
    for j, v in enumerate(repeated):
        matrix[: len(v), j] = v
    want = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    assert rec.value == pytest.approx(want, abs=1e-9)


def test_one_category_alpha_is_undefined_at_scale() -> None:
    # 50,000 units all in one category: no rounding residue passes for an α
    n = 50_000
    table = pa.table({"item_id": [f"i{k}" for k in range(n) for _ in (1, 2)],
                      "rater_id": ["x"] * (2 * n), "label": ["3"] * (2 * n)})
    for level in ("ordinal", "interval"):
        rec = intra_rater_agreement(table, level=level, n_boot=0).get(ALPHA)
        assert math.isnan(rec.value) and "one category" in (rec.note or "")


@settings(max_examples=30, deadline=None)
@given(repeated_rows())
def test_pool_matches_agreement_on_units_as_items(rows: list[tuple[str, str, str]]) -> None:
    # the pool's α and percent agreement are opsloop's inter-rater figures with
    # unit = (item, rater) as item and the repeat number as "rater"
    table = _long(rows)
    res = intra_rater_agreement(table, n_boot=0)
    as_items = pa.table({
        "item_id": [f"{i}|{r}" for i, r in zip(table["item_id"].to_pylist(),
                                                table["rater_id"].to_pylist(), strict=True)],
        "rater_id": [str(n) for n in table["opsloop_nth"].to_pylist()],
        "label": table["label"],
    })
    inter = agreement(as_items, metrics=["percent_agreement", "krippendorff_alpha"], n_boot=0)
    for mine, theirs in ((PA, "percent_agreement"), (ALPHA, "krippendorff_alpha")):
        a, b = res.get(mine).value, inter.get(theirs).value
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


def _planted(seed: int, random_rater: str = "r07") -> pa.Table:
    """50 raters × 40 items × 2 labels, 4 categories. Consistent raters repeat their
    label with probability 0.9; ``random_rater`` answers its repeats at random."""
    rng = np.random.default_rng(seed)
    items, raters, labels, nth = [], [], [], []
    for r in range(50):
        name = f"r{r:02d}"
        for i in rng.choice(400, size=40, replace=False):
            first = int(rng.integers(4))
            keep = rng.random() < 0.9 and name != random_rater
            second = first if keep else int(rng.integers(4))
            items += [f"i{i}", f"i{i}"]
            raters += [name, name]
            labels += [str(first), str(second)]
            nth += [1, 2]
    return pa.table({"item_id": items, "rater_id": raters, "label": labels, "opsloop_nth": nth})


def test_planted_random_rater_is_the_only_one_flagged() -> None:
    table = _planted(seed=11)
    res = intra_rater_agreement(table, n_boot=200)
    assert res.flagged() == ("r07",)
    (flag,) = res.flags
    assert flag.reason == "below_pool" and flag.ci_high < flag.reference
    assert flag.reference == pytest.approx(res.get(PA).value)
    rec = res.get(PA, rater_id="r07")
    assert "flagged" in (rec.note or "") and rec.extra["flag_ci_high"] == flag.ci_high
    # the flag rests on the rater's data, not on a chance draw: seven other data sets
    for seed in range(7):
        assert intra_rater_agreement(_planted(seed), n_boot=0).flagged() == ("r07",), seed


def test_threshold_and_too_few_repeats() -> None:
    table = _planted(seed=3).to_pylist()
    table += [{"item_id": f"i{k}", "rater_id": "new", "label": "0", "opsloop_nth": n}
              for k in range(3) for n in (1, 2)]
    res = intra_rater_agreement(pa.Table.from_pylist(table), n_boot=0, threshold=0.95)
    few = [f for f in res.flags if f.reason == "too_few_repeats"]
    assert [f.rater_id for f in few] == ["new"] and few[0].n_units == 3
    for metric in INTRA_METRICS:
        assert "too few repeats" in (res.get(metric, rater_id="new").note or "")
    assert res.get(PA, rater_id="new").value == 1.0  # figures still given
    # at 0.95 every rater repeating with probability 0.9 over 40 items may fall below;
    # the random rater certainly does
    assert "r07" in res.flagged("below_threshold")


def test_order_from_submitted_at_then_row_order() -> None:
    # rater x: item a labelled "p" at 10:00 and "q" at 09:00 → first q, second p
    rows = {"item_id": ["a", "a", "b", "b", "c", "c"], "rater_id": ["x"] * 6,
            "label": ["p", "q", "p", "p", "q", "q"],
            "submitted_at": pa.array([10, 9, 1, 2, 3, 4], pa.int64()).cast(
                pa.timestamp("s", tz="UTC"))}
    res = intra_rater_agreement(pa.table(rows), n_boot=0)
    assert res.order_by == "submitted_at"
    want = cohen_kappa_score(["q", "p", "q"], ["p", "p", "q"])  # first, second by time
    assert res.get(KAPPA).value == pytest.approx(want)
    del rows["submitted_at"]
    res = intra_rater_agreement(pa.table(rows), n_boot=0)
    assert res.order_by == "row order"
    assert res.get(KAPPA).value == pytest.approx(cohen_kappa_score(["p", "p", "q"],
                                                                   ["q", "p", "q"]))


def test_per_rater_bootstrap_matches_a_plain_resampling_loop() -> None:
    # the vectorised draws are the bootstrap over units: their standard error agrees
    # with a plain loop that resamples one rater's units 4000 times (with sklearn's κ),
    # for a rater resampled unit by unit (60 units) and one drawn as a multinomial (600)
    rng = np.random.default_rng(5)
    w = np.eye(3)
    first = rng.integers(3, size=600)
    second = np.where(rng.random(600) < 0.7, first, rng.integers(3, size=600))
    cells = np.arange(9)
    basis = kappa_features(cells // 3, cells % 3, w)  # one class per (first, second) cell
    rows, loop_se, point = [], [], []
    for n in (60, 600):
        reps = []
        for _ in range(4000):
            idx = rng.integers(n, size=n)
            reps.append(cohen_kappa_score(first[idx], second[idx], labels=[0, 1, 2]))
        rows.append(np.bincount(first[:n] * 3 + second[:n], minlength=9))
        loop_se.append(float(np.std(reps, ddof=1)))
        point.append(cohen_kappa_score(first[:n], second[:n]))
    (ci,) = bootstrap_by_row(np.array(rows), [basis], [lambda t: kappa_from_sums(t, w)[0]],
                             n_boot=4000, seed=1, confidence=0.95)
    assert ci.se == pytest.approx(loop_se, rel=0.08)
    assert (ci.ci_low < np.array(point)).all() and (np.array(point) < ci.ci_high).all()
    assert kappa_from_sums(np.array(rows) @ basis, w)[0] == pytest.approx(point, abs=1e-12)


def test_tasks_levels_and_slices() -> None:
    rows = []
    for task, labels in (("severity", "123"), ("policy", "xyz")):
        for r in ("a", "b"):
            for i in range(12):
                one = labels[i % 3]
                two = one if i % 4 else labels[(i + 1) % 3]
                locale = "de" if i < 6 else "fr"
                rows += [{"item_id": f"i{i}", "rater_id": r, "label": lab, "task": task,
                          "locale": locale, "opsloop_nth": n} for n, lab in ((1, one), (2, two))]
    table = pa.Table.from_pylist(rows)
    res = intra_rater_agreement(table, levels={"severity": "ordinal"}, by=["locale"], n_boot=50)
    keys = {tuple(sorted(r.slice.items())) for r in res.records if "rater_id" not in r.slice}
    assert keys == {(("locale", loc), ("task", t)) for loc in ("de", "fr")
                    for t in ("policy", "severity")}
    assert res.get(ALPHA, task="severity", locale="de").level == "ordinal"
    assert res.get(ALPHA, task="policy", locale="de").level == "nominal"
    assert res.get(PA, task="policy", locale="fr", rater_id="a").n_items == 6
    json.dumps(res.to_dict(), allow_nan=False)
    with pytest.raises(UsageError, match="interval and ratio levels need numeric"):
        intra_rater_agreement(table, level="interval")


def test_ibis_table_gives_the_same_records(ds_table: pa.Table) -> None:
    a = intra_rater_agreement(ds_table, n_boot=50)
    b = intra_rater_agreement(ibis.memtable(ds_table), n_boot=50)
    assert [r.to_dict() for r in a.records] == [r.to_dict() for r in b.records]


@settings(max_examples=30, deadline=None)
@given(repeated_rows(max_repeats=3))
def test_never_nan_without_a_reason(rows: list[tuple[str, str, str]]) -> None:
    res = intra_rater_agreement(_long(rows), n_boot=10)
    for rec in res.records:
        for x in (rec.value, rec.ci_low, rec.ci_high):
            assert not math.isnan(x) or rec.note, rec
    json.dumps(res.to_dict(), allow_nan=False)


def test_no_repeats_and_empty_tables() -> None:
    once = pa.table({"item_id": ["a", "b"], "rater_id": ["x", "x"], "label": ["1", "2"]})
    res = intra_rater_agreement(once)
    assert len(res.records) == 3 and res.n_single_units == 2
    assert all(math.isnan(r.value) and "more than once" in (r.note or "") for r in res.records)
    empty = intra_rater_agreement(once.slice(0, 0))
    assert [r.metric for r in empty.records] == list(INTRA_METRICS)
    assert all(isinstance(r, MetricRecord) and r.note == "no labels" for r in empty.records)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "fancy"}, "unknown level"),
        ({"levels": {"t": "fancy"}}, "unknown level"),
        ({"confidence": 1.5}, "confidence"),
        ({"n_boot": -1}, "n_boot"),
        ({"threshold": 2.0}, "threshold"),
        ({"min_units": 0}, "min_units"),
        ({"flag_adjust": "holm"}, "flag_adjust"),
        ({"categories": "abc"}, "categories"),
        ({"categories": ["1"]}, "not one of the categories"),
        ({"by": ["rater_id"]}, "defines the units"),
        ({"by": ["locale"]}, "not found"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    t = pa.table({"item_id": ["a", "a"], "rater_id": ["x", "x"], "label": ["1", "2"]})
    with pytest.raises(UsageError, match=message):
        intra_rater_agreement(t, **kwargs)  # type: ignore[arg-type]


def test_metric_ids_are_registered() -> None:
    for metric in INTRA_METRICS:
        spec = get_metric(metric)
        assert spec.family == "intra_rater" and spec.per == "rater"
