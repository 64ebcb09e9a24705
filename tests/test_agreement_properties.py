"""Invariants, bad input and the registry contract of the agreement metrics."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.errors import OpsloopError, UsageError
from opsloop.metrics import agreement, list_metrics

NOMINAL = [
    "percent_agreement",
    "fleiss_kappa",
    "conger_kappa",
    "brennan_prediger",
    "krippendorff_alpha",
    "gwet_ac1",
]


@st.composite
def label_tables(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    n_items = draw(st.integers(2, 12))
    rows = []
    for i in range(n_items):
        raters = draw(
            st.lists(st.sampled_from(["r0", "r1", "r2", "r3"]), min_size=1, max_size=4, unique=True)
        )
        rows += [(f"i{i}", r, draw(st.sampled_from("abc"))) for r in raters]
    return rows


def to_table(rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.table(
        {
            "item_id": [r[0] for r in rows],
            "rater_id": [r[1] for r in rows],
            "label": [r[2] for r in rows],
        }
    )


def values(rows: list[tuple[str, str, str]]) -> list[float]:
    res = agreement(to_table(rows), metrics=NOMINAL, n_boot=0)
    return [r.value for r in res.records]


def same(a: list[float], b: list[float]) -> bool:
    return all(
        (math.isnan(x) and math.isnan(y)) or abs(x - y) < 1e-9 for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=40, deadline=None)
@given(label_tables(), st.randoms(use_true_random=False))
def test_row_order_and_renaming_change_nothing(
    rows: list[tuple[str, str, str]], rnd: object
) -> None:
    shuffled = rows[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert same(values(rows), values(shuffled))
    renamed = [(i, {"r0": "zz", "r1": "aa", "r2": "r9", "r3": "m"}[r], lab) for i, r, lab in rows]
    assert same(values(rows), values(renamed))


@settings(max_examples=40, deadline=None)
@given(label_tables())
def test_relabelling_categories_changes_nothing(rows: list[tuple[str, str, str]]) -> None:
    relabelled = [(i, r, {"a": "spam", "b": "ok", "c": "abuse"}[lab]) for i, r, lab in rows]
    assert same(values(rows), values(relabelled))


@settings(max_examples=30, deadline=None)
@given(label_tables())
def test_perfect_agreement_gives_one(rows: list[tuple[str, str, str]]) -> None:
    # every item gets one label from all its raters; at least two categories in use
    perfect = [(i, r, "a" if int(i[1:]) % 2 else "b") for i, r, _ in rows]
    perfect += [("x1", "r0", "a"), ("x1", "r1", "a"), ("x2", "r0", "b"), ("x2", "r1", "b")]
    for v in values(perfect):
        assert v == pytest.approx(1.0)


def test_single_rater_gives_nan_with_reason() -> None:
    t = to_table([("i1", "r1", "a"), ("i2", "r1", "b")])
    for rec in agreement(t, metrics=NOMINAL).records:
        assert math.isnan(rec.value) and "single rater" in (rec.note or "")


def test_items_with_one_label_are_excluded_and_counted() -> None:
    t = to_table(
        [
            ("i1", "r1", "a"),
            ("i1", "r2", "a"),
            ("i2", "r1", "b"),
            ("i2", "r2", "b"),
            ("i3", "r1", "a"),
        ]
    )
    rec = agreement(t, metrics=["krippendorff_alpha"], n_boot=0).records[0]
    assert rec.n_items == 2 and "1 item(s) with a single rating" in (rec.note or "")


def test_empty_table_and_no_pairable_items() -> None:
    empty = to_table([])
    rec = agreement(empty, metrics=["fleiss_kappa"]).records[0]
    assert math.isnan(rec.value) and "empty" in (rec.note or "")
    lone = to_table([("i1", "r1", "a"), ("i2", "r2", "b")])
    rec = agreement(lone, metrics=["fleiss_kappa"]).records[0]
    assert math.isnan(rec.value) and rec.note


def test_unknown_metric_level_weights_raise_usage_error() -> None:
    t = to_table([("i1", "r1", "a"), ("i1", "r2", "a")])
    for kw in ({"metrics": ["kappa_of_doom"]}, {"level": "cardinal"}, {"weights": "cubic"}):
        with pytest.raises(UsageError):
            agreement(t, **kw)  # type: ignore[arg-type]


def test_non_numeric_labels_for_interval_raise() -> None:
    t = to_table([("i1", "r1", "spam"), ("i1", "r2", "ok")])
    with pytest.raises(OpsloopError, match="not a number"):
        agreement(t, level="interval")


def test_two_rater_metric_on_many_raters_is_nan_with_reason() -> None:
    t = to_table([("i1", "r1", "a"), ("i1", "r2", "a"), ("i1", "r3", "b")])
    rec = agreement(t, metrics=["cohen_kappa"]).records[0]
    assert math.isnan(rec.value) and "exactly two raters" in (rec.note or "")


def test_slices_and_tasks() -> None:
    t = pa.table(
        {
            "item_id": ["1", "1", "2", "2", "1", "1", "2", "2"],
            "rater_id": ["x", "y"] * 4,
            "label": ["a", "a", "b", "b", "yes", "no", "no", "no"],
            "task": ["topic"] * 4 + ["toxic"] * 4,
            "locale": ["de", "de", "fr", "fr"] * 2,
        }
    )
    res = agreement(t, metrics=["percent_agreement"], by=["locale"], n_boot=0)
    got = {tuple(sorted(r.slice.items())): r.value for r in res.records}
    assert got == {
        (("locale", "de"), ("task", "topic")): 1.0,
        (("locale", "fr"), ("task", "topic")): 1.0,
        (("locale", "de"), ("task", "toxic")): 0.0,
        (("locale", "fr"), ("task", "toxic")): 1.0,
    }
    json.dumps(res.to_dict())  # NaN-free JSON


def test_duplicate_rows_last_wins() -> None:
    t = to_table([("i1", "r1", "a"), ("i1", "r2", "b"), ("i1", "r2", "a")])
    res = agreement(t, metrics=["percent_agreement"], n_boot=0)
    assert res.records[0].value == 1.0 and res.n_duplicates == 1


def test_bootstrap_is_seeded() -> None:
    t = to_table(
        [
            (f"i{i}", r, "ab"[i % 2 if r == "r1" or i % 5 == 0 else 0])
            for i in range(30)
            for r in ("r1", "r2")
        ]
    )
    a = agreement(t, metrics=["krippendorff_alpha"], seed=3, n_boot=200).records[0]
    b = agreement(t, metrics=["krippendorff_alpha"], seed=3, n_boot=200).records[0]
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high) and a.ci_low < a.value < a.ci_high


def test_every_registered_metric_has_a_reference_case() -> None:
    here = Path(__file__).parent
    defined: set[str] = set()
    for path in here.glob("test_*.py"):
        tree = ast.parse(path.read_text())
        defined |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    for spec in list_metrics():
        assert spec.references, f"{spec.id} names no reference case"
        for ref in spec.references:
            assert ref in defined, f"{spec.id}: reference test {ref!r} not found"


def test_groupings_give_the_records_of_one_call_per_grouping() -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    n = 600
    t = pa.table({
        "item_id": [f"i{k}" for k in rng.integers(0, 150, n)],
        "rater_id": [f"r{k}" for k in rng.integers(0, 8, n)],
        "label": rng.choice(["a", "b", "c"], n).tolist(),
        "task": rng.choice(["x", "y"], n).tolist(),
        "vendor": rng.choice(["v1", "v2"], n).tolist(),
        "locale": rng.choice(["de", "fr", "en"], n).tolist(),
    })  # fmt: skip
    metrics = ["krippendorff_alpha", "gwet_ac1"]
    together = agreement(t, metrics=metrics, groupings=[(), ("vendor",), ("locale",)], n_boot=50)
    apart = [r for by in ([], ["vendor"], ["locale"])
             for r in agreement(t, metrics=metrics, by=by, n_boot=50).records]  # fmt: skip

    def key(r: object) -> tuple[object, ...]:
        d = r.to_dict()  # type: ignore[attr-defined]
        return tuple(sorted((k, str(v)) for k, v in d.items()))

    assert sorted(map(key, together.records)) == sorted(map(key, apart))
    with pytest.raises(UsageError, match="either by or groupings"):
        agreement(t, by=["vendor"], groupings=[("locale",)])
