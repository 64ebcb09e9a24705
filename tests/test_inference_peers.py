"""Accuracy on the Zheng et al. (2017) data against crowd-kit's same estimators, same run."""

from __future__ import annotations

import warnings

import pytest

from opsloop.inference import GLAD, MACE, DawidSkene, MajorityVote, OneCoinDawidSkene
from tests.test_inference import accuracy, load_zheng

pytestmark = pytest.mark.slow
ck = pytest.importorskip("crowdkit.aggregation")

FOLDERS = [
    "d_jn-product",
    "d_Duck_Identification",
    "s4_Dog_data",
    "s4_Face_Sentiment_Identification",
    "f201_Emotion_FULL",
]
PAIRS = [
    (MajorityVote, "MajorityVote"),
    (DawidSkene, "DawidSkene"),
    (OneCoinDawidSkene, "OneCoinDawidSkene"),
    (GLAD, "GLAD"),
    (MACE, "MACE"),
]


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_at_least_crowdkit_minus_half_a_point(data_dir, folder, ours, theirs):
    ans, truth = load_zheng(data_dir, folder)
    df = ans.to_pandas().rename(columns={"item_id": "task", "rater_id": "worker"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = getattr(ck, theirs)().fit_predict(df)
    gt = truth.to_pandas().set_index("item_id")["label"]
    peer_acc = float((peer.reindex(gt.index) == gt).mean())
    assert accuracy(ours().fit(ans).labels_, truth) >= peer_acc - 0.005
