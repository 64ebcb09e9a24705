"""Label Studio exports read per table: items, annotations, predictions, gold.

tests/data/formats/labelstudio_export.json follows the task format documented at
https://labelstud.io/guide/task_format (the expected rows are read off that file).
"""

from __future__ import annotations

import json
from pathlib import Path

from opsloop.config import Taxonomy
from opsloop.io import read_table

from .formats_helpers import FORMATS, ingest_json, new_workspace, refused, sql_rows
from .helpers import write

EXPORT = FORMATS / "labelstudio_export.json"
TAXONOMY = Taxonomy(labels=("none", "spam", "hate", "violence"))


def test_items_keep_every_data_key() -> None:
    rows = read_table(EXPORT, "items").to_pylist()
    assert [(r["item_id"], r["text"], r["locale"], r["post_url"]) for r in rows] == [
        ("4101", "Limited offer!!! Click the link to win", "en", "https://example.org/p/4101"),
        ("4102", "Meet you at the cafe at 5", "en", "https://example.org/p/4102"),
        ("4103", "Ellos no merecen vivir aquí", "es", "https://example.org/p/4103"),
    ]


def test_predictions_with_model_version_and_score() -> None:
    rows = read_table(EXPORT, "predictions", taxonomy=TAXONOMY).to_pylist()
    got = {(r["item_id"], r["model_version"], r["task"], r["label"], r["score"]) for r in rows}
    assert got == {
        ("4101", "spam-clf-2024-04", "label", "spam", 0.94),
        ("4102", "spam-clf-2024-04", "label", "none", 0.81),
    }


def test_ground_truth_annotations_are_gold() -> None:
    rows = read_table(EXPORT, "gold", taxonomy=TAXONOMY).to_pylist()
    assert [(r["item_id"], r["task"], r["label"], r["source"]) for r in rows] == [
        ("4101", "label", "spam", "ground_truth")
    ]


def test_annotations_unchanged_with_a_hint_for_the_rest(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    report = ingest_json(ws, "annotations", EXPORT)
    assert report["rows_added"] == 4  # the cancelled annotation 9003 is left out
    hint = report["files"][0]["hint"]
    assert hint.startswith("skipped 1 cancelled annotation;")
    assert "3 items, 2 predictions and 1 ground-truth annotation" in hint
    assert f"`opsloop ingest items|predictions|gold {EXPORT}`" in hint
    rows = sql_rows(
        ws,
        "SELECT item_id, rater_id, label, duration_s FROM annotations ORDER BY item_id, rater_id",
    )
    assert [tuple(r.values()) for r in rows] == [
        ("4101", "12", "spam", 6.2),
        ("4101", "15", "spam", 11.8),
        ("4102", "12", "none", 3.9),
        ("4103", "15", "hate", 21.5),
    ]
    for table in ("items", "predictions", "gold"):
        ingest_json(ws, table, EXPORT)
    counts = sql_rows(
        ws,
        "SELECT (SELECT count(*) FROM items) AS i, (SELECT count(*) FROM predictions) AS p, "
        "(SELECT count(*) FROM gold) AS g",
    )
    assert counts == [{"i": 3, "p": 2, "g": 1}]


def test_no_predictions_asked_as_predictions(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    path = FORMATS / "labelstudio_no_predictions.json"
    line = refused(ws, "ingest", "predictions", str(path))
    assert f"{path}: the Label Studio export holds no predictions" in line
    assert f"`opsloop ingest annotations|items {path}`" in line


def test_a_table_no_export_holds(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    line = refused(ws, "ingest", "raters", str(EXPORT))
    assert "holds annotations, items, predictions, gold, not raters" in line


def test_several_controls_name_the_tasks_and_span_labels_are_read(tmp_path: Path) -> None:
    result = [
        {"from_name": "policy", "type": "choices", "value": {"choices": ["spam"]}},
        {"from_name": "region", "type": "rectanglelabels", "value": {"rectanglelabels": ["logo"]}},
    ]
    tasks = [
        {
            "id": 7,
            "data": {"image": "https://example.org/7.png"},
            "annotations": [{"id": 1, "completed_by": 2, "result": result}],
            "predictions": [{"model_version": "det-v1", "result": [{**result[1], "score": 0.6}]}],
        }
    ]
    path = write(tmp_path / "export.json", json.dumps(tasks))
    anns = read_table(path, "annotations").to_pylist()
    assert {(r["task"], r["label"]) for r in anns} == {("policy", "spam"), ("region", "logo")}
    preds = read_table(path, "predictions").to_pylist()
    assert [(r["model_version"], r["task"], r["label"], r["score"]) for r in preds] == [
        ("det-v1", "region", "logo", 0.6)
    ]
