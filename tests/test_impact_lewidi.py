"""Bias a rater pool brings into a model, on LeWiDi's HS-Brexit (tests/data/lewidi2023).

HS-Brexit (Akhtar, Basile & Patti, 2021; SemEval-2023 Task 11, Leonardelli et al.,
2023): 1,120 tweets, each labelled hate speech (1) or not (0) by six raters, three in
a target group (``group1``: Muslim immigrants in the UK) and three in a control group
(``group2``). The raw label rates are recomputed here from the JSON with plain Python.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from opsloop.impact import prepare_experiment, rater_pool_bias

GROUPS = {"group1": "target", "group2": "control"}


def load(folder: Path) -> tuple[pa.Table, pa.Table, pa.Table, dict[str, dict[str, list[int]]]]:
    """Long annotations with each rater's group, the tweets, a topic per tweet, raw labels."""
    rows, items, raw = [], [], {}
    for split in ("train", "dev", "test"):
        data = json.loads((folder / f"HS-Brexit_{split}.json").read_text(encoding="utf-8"))
        for key, rec in data.items():
            item = f"{split}:{key}"
            items.append((item, rec["text"]))
            raw[item] = {"target": [], "control": []}
            groups = rec["other_info"]["annotators group"].split(",")
            for rater, label, group in zip(
                rec["annotators"].split(","), rec["annotations"].split(","), groups, strict=True
            ):
                pool = GROUPS[group.strip()]
                rows.append((item, rater.strip(), label.strip(), pool))
                raw[item][pool].append(int(label))
    ann = pa.table({name: [r[i] for r in rows]
                    for i, name in enumerate(("item_id", "rater_id", "label", "pool"))})  # fmt: skip
    tweets = pa.table({"item_id": [i for i, _ in items], "text": [t for _, t in items]})
    about = re.compile(r"islam|muslim", re.IGNORECASE)
    topic = pa.table({"item_id": [i for i, _ in items],
                      "topic": ["islam" if about.search(t) else "other" for _, t in items]})  # fmt: skip
    return ann, tweets, topic, raw


@pytest.fixture(scope="module")
def brexit(data_dir: Path):  # type: ignore[no-untyped-def]
    ann, tweets, topic, raw = load(data_dir / "lewidi2023")
    data = prepare_experiment(ann, tweets, benign=("0",), group_columns=["pool"])
    result = rater_pool_bias(data, "pool", "control", "target", item_group=topic, n_boot=2000)
    return result, raw, topic


def test_label_rates_are_each_pools_majority(brexit) -> None:  # type: ignore[no-untyped-def]
    result, raw, topic = brexit
    assert result.n_items == 1120 and result.positive == ("1",)
    groups = dict(zip(*(topic[c].to_pylist() for c in ("item_id", "topic")), strict=True))
    for row in result.groups:
        items = [i for i in raw if row.item_group in ("all", groups[i])]
        control = sum(sum(raw[i]["control"]) >= 2 for i in items) / len(items)
        target = sum(sum(raw[i]["target"]) >= 2 for i in items) / len(items)
        assert row.n_items == len(items)
        assert (row.label_rate_a, row.label_rate_b) == pytest.approx((control, target), abs=1e-12)
    # the control group calls five times as many tweets hate speech as the target group
    every = result.groups[0]
    assert (every.label_rate_a, every.label_rate_b) == pytest.approx((227 / 1120, 48 / 1120))


def test_the_pool_changes_the_model(brexit) -> None:  # type: ignore[no-untyped-def]
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    result, _, _ = brexit
    by = {g.item_group: g for g in result.groups}
    assert list(by) == ["all", "islam", "other"]
    for g in result.groups:
        d = g.difference
        assert d.value == pytest.approx(g.model_rate_b.value - g.model_rate_a.value, abs=1e-12)
        # disagreements: items only model a calls positive minus the reverse, over the items
        assert d.value == pytest.approx((g.b_only - g.a_only) / g.n_items, abs=1e-12)
        assert d.low <= d.value <= d.high
        ref = contingency.mcnemar([[0, g.a_only], [g.b_only, 0]], exact=True).pvalue
        assert g.mcnemar_p == pytest.approx(ref, abs=1e-12)
    # measured: trained on the target group's labels the model flags far fewer tweets,
    # most of all tweets about Islam or Muslims; every interval excludes 0
    assert by["all"].difference.high < 0 and by["islam"].difference.high < 0
    assert by["islam"].difference.value < by["other"].difference.value
