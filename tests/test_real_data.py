"""Ingestion of the public datasets (tests/data; the large ones in ../shared/data).

Counts from ../shared/data/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opsloop.config import Config
from opsloop.engine import Workspace
from opsloop.errors import InputError
from opsloop.io import ingest

# (folder, answers, items, workers) — Zheng et al. 2017, as listed in shared/data/README.md
ZHENG = [
    ("d_jn-product", 24_945, 8_315, 176),
    ("d_Duck_Identification", 4_212, 108, 39),
    ("s4_Dog_data", 8_070, 807, 109),
    ("s4_Face_Sentiment_Identification", 5_242, 584, 27),
    ("f201_Emotion_FULL", 7_000, 700, 38),
]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.init(tmp_path / "ws", Config())
    yield w
    w.close()


@pytest.mark.parametrize(("folder", "answers", "items", "workers"), ZHENG)
def test_zheng2017_answers_and_truth(
    ws: Workspace, data_dir: Path, folder: str, answers: int, items: int, workers: int
) -> None:
    base = data_dir / "zheng2017" / folder
    result = ingest(ws, "annotations", [base / "answer.csv"])
    assert result.files[0].mapping == {
        "item_id": "question",
        "rater_id": "worker",
        "label": "answer",
    }
    assert result.rows_added == answers
    t = ws.table("annotations")
    assert t.item_id.nunique().execute() == items
    assert t.rater_id.nunique().execute() == workers
    gold = ingest(ws, "gold", [base / "truth.csv"])
    assert gold.files[0].mapping == {"item_id": "question", "label": "truth"}
    assert gold.rows_added > 0
    # ingesting the same files again adds nothing
    assert ingest(ws, "annotations", [base / "answer.csv"]).rows_added == 0


# (set, items, labels) — LeWiDi 2023 as listed in shared/data/README.md (train+dev+test);
# HS-Brexit ships in tests/data, the larger sets (≈ 7 MB) stay in ../shared/data
LEWIDI = [
    ("HS-Brexit", 1_120, 6_720),
    pytest.param("ArMIS", 943, 2_829, marks=pytest.mark.realdata),
    pytest.param("MD-Agreement", 10_753, 53_765, marks=pytest.mark.realdata),
]


def lewidi_long(root: Path, name: str, out: Path) -> Path:
    """Turn LeWiDi's JSON (item -> annotators/annotations strings) into a long Parquet file."""
    item_ids, raters, labels, splits = [], [], [], []
    for split in ("train", "dev", "test"):
        data = json.loads((root / "lewidi2023" / f"{name}_{split}.json").read_text())
        for key, rec in data.items():
            anns = str(rec["annotations"]).split(",")
            who = str(rec["annotators"]).split(",")
            for rater, label in zip(who, anns, strict=True):
                if label.strip() in ("", "NA", "nan"):
                    continue
                item_ids.append(f"{split}-{key}")
                raters.append(rater.strip())
                labels.append(label.strip())
                splits.append(split)
    pq.write_table(
        pa.table({"item_id": item_ids, "annotator": raters, "label": labels, "split": splits}), out
    )
    return out


@pytest.mark.parametrize(("name", "items", "labels"), LEWIDI)
def test_lewidi_long(
    ws: Workspace, public_data: Path, tmp_path: Path, name: str, items: int, labels: int
) -> None:
    path = lewidi_long(public_data, name, tmp_path / f"{name}.parquet")
    table = pq.read_table(path)
    pairs = list(zip(table["item_id"].to_pylist(), table["annotator"].to_pylist(), strict=True))
    repeats = len(pairs) - len(set(pairs))  # a rater listed twice on one item
    assert len(pairs) == labels
    # a second label by the same rater is a repeat: stored, and analyses use the latest
    result = ingest(ws, "annotations", [path])
    assert (result.rows_added, result.rows_rejected) == (labels, 0)
    assert result.repeat_rows == 2 * repeats  # each repeated pair: both rows share a key
    assert ws.table("annotations").count().execute() == labels - repeats
    assert ws.repeats_set_aside("annotations") == repeats
    assert result.files[0].mapping["rater_id"] == "annotator"
    assert "split" in result.files[0].extras
    assert ws.table("annotations").item_id.nunique().execute() == items
    if repeats:  # the repeat policy error refuses the file, naming the line of each repeat
        with pytest.raises(InputError, match="refused by the repeat policy error") as info:
            ingest(ws, "annotations", [path], repeats="error")
        assert info.value.n_problems == repeats


@pytest.mark.realdata  # 84,445 judgements (18 MB): the count below needs the full file
def test_ukpconvarg1_as_preferences(ws: Workspace, shared_data: Path) -> None:
    path = shared_data / "ukpconvarg1" / "ukpconvarg1_full_annotations.csv"
    result = ingest(ws, "preferences", [path])
    assert result.files[0].mapping["rater_id"] == "worker_id"
    assert result.files[0].mapping["choice"] == "label"
    # 84,445 judgements on 16,927 pairs by 3,815 workers (Habernal & Gurevych 2016)
    assert result.rows_added == 84_445
    prefs = ws.table("preferences")
    assert prefs.pair_id.nunique().execute() == 16_927
    assert prefs.rater_id.nunique().execute() == 3_815
    assert set(prefs.choice.to_pyarrow().unique().to_pylist()) == {"a", "b", "tie"}
