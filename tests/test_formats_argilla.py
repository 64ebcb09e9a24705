"""Argilla exports (2.x flattened and nested records, 1.x layouts) through the CLI and the library.

The fixtures in tests/data/formats follow the layouts of the Argilla SDK (see the README
there); the expected rows below are read off those files by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opsloop.config import Taxonomy
from opsloop.errors import InputError
from opsloop.io import read_table

from .formats_helpers import FORMATS, ingest_json, new_workspace, refused, sql_rows
from .helpers import write

U1 = "6b1e2c3d-0f4a-4b5c-8d9e-0a1b2c3d4e5f"
U2 = "9c2f3e4d-1a5b-4c6d-9e0f-1a2b3c4d5e6f"
U3 = "0a7d8e9f-2b6c-4d7e-8f90-2b3c4d5e6f70"
TAXONOMY = Taxonomy(labels=("none", "spam", "hate", "violence"))

# argilla_v2_flat.*: post-001 has a discarded third response, post-003 only a draft
FLAT_ANNOTATIONS = {
    ("post-001", U1, "label", "spam"),
    ("post-001", U2, "label", "spam"),
    ("post-002", U1, "label", "none"),
    ("post-002", U3, "label", "none"),
}
FLAT_PREDICTIONS = {
    ("post-001", "policy-clf-v3", "spam", 0.93),
    ("post-002", "policy-clf-v3", "none", 0.88),
    ("post-003", "suggestion", "hate", 0.64),  # no agent
}


def _flat_parquet(tmp_path: Path) -> Path:
    """The flattened records as `rg.Dataset.records.to_datasets().to_parquet()` writes them."""
    records = json.loads((FORMATS / "argilla_v2_flat.json").read_text())
    path = tmp_path / "argilla_v2_flat.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def _flat_file(kind: str, tmp_path: Path) -> Path:
    return _flat_parquet(tmp_path) if kind == "parquet" else FORMATS / f"argilla_v2_flat.{kind}"


def _annotations(path: Path) -> set[tuple[str, str, str, str]]:
    rows = read_table(path, "annotations", taxonomy=TAXONOMY).to_pylist()
    return {(r["item_id"], r["rater_id"], r["task"], r["label"]) for r in rows}


def _predictions(path: Path) -> set[tuple[str, str, str, float | None]]:
    rows = read_table(path, "predictions", taxonomy=TAXONOMY).to_pylist()
    return {(r["item_id"], r["model_version"], r["label"], r["score"]) for r in rows}


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv", "parquet"])
def test_flattened_records_in_every_container(kind: str, tmp_path: Path) -> None:
    path = _flat_file(kind, tmp_path)
    assert _annotations(path) == FLAT_ANNOTATIONS
    assert _predictions(path) == FLAT_PREDICTIONS
    items = read_table(path, "items").to_pylist()
    assert [r["item_id"] for r in items] == ["post-001", "post-002", "post-003", "post-004"]
    first = items[0]
    assert first["text"] == "Buy 10k followers now, cheap!!! dm me"
    assert first["locale"] == "en"  # metadata `lang`, recognised as the locale
    assert first["queue_priority"] == 2
    assert "text_emb" not in first  # a vector, not a dimension
    assert not {"status", "_server_id"} & set(first)


def test_cli_reports_format_skipped_responses_and_what_else_the_export_holds(
    tmp_path: Path,
) -> None:
    ws = new_workspace(tmp_path)
    path = FORMATS / "argilla_v2_flat.json"
    table_out = ingest_json(ws, "annotations", path)
    report = table_out["files"][0]
    assert report["format"] == "argilla"
    assert table_out["rows_added"] == 4
    hint = report["hint"]
    assert "skipped 1 discarded and 1 draft responses" in hint
    assert "4 items and 3 predictions" in hint
    assert f"`opsloop ingest items|predictions {path}`" in hint
    ingest_json(ws, "items", path)
    ingest_json(ws, "predictions", path)
    counts = sql_rows(
        ws,
        "SELECT (SELECT count(*) FROM items) AS items, "
        "(SELECT count(*) FROM predictions) AS predictions, "
        "(SELECT count(DISTINCT rater_id) FROM annotations) AS raters",
    )
    assert counts == [{"items": 4, "predictions": 3, "raters": 3}]


def test_nested_records_several_questions() -> None:
    path = FORMATS / "argilla_v2_records.json"
    assert _annotations(path) == {
        ("msg-101", U1, "policy", "hate"),
        ("msg-101", U2, "policy", "none"),
        ("msg-102", U1, "policy", "none"),  # U3's answer is a draft
        ("msg-101", U1, "severity", "4"),
        ("msg-101", U2, "severity", "2"),
        ("msg-101", U1, "topics", "harassment|insult"),  # multi-label, joined
    }
    assert _predictions(path) == {
        ("msg-101", "tox-bert-2024-05", "hate", 0.71),
        ("msg-102", "tox-bert-2024-05", "none", 0.97),
        ("msg-101", "tox-bert-2024-05", "3", None),
    }
    items = {r["item_id"]: r for r in read_table(path, "items").to_pylist()}
    assert items["msg-101"]["channel"] == "dm" and items["msg-101"]["reports"] == 4
    assert items["msg-102"]["locale"] == "en"


def test_v1_feedback_records() -> None:
    path = FORMATS / "argilla_v1_feedback.json"
    raters = ("3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d")
    assert _annotations(path) == {
        ("rec-201", raters[0], "label", "spam"),
        ("rec-201", raters[1], "label", "spam"),
        ("rec-202", raters[0], "label", "none"),
    }
    assert _predictions(path) == {("rec-201", "setfit-v1", "spam", 0.82)}
    items = {r["item_id"]: r for r in read_table(path, "items").to_pylist()}
    got = {k: items["rec-202"][k] for k in ("text", "locale", "source")}
    assert got == {"text": "Happy birthday grandma!", "locale": "en", "source": "sample"}


def test_v1_one_list_per_question() -> None:
    path = FORMATS / "argilla_v1_per_question.jsonl"
    rater = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"
    assert _annotations(path) == {
        ("rec-301", rater, "label", "spam"),
        ("rec-301", "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d", "label", "spam"),
        ("rec-302", rater, "label", "violence"),
    }
    assert _predictions(path) == {
        ("rec-301", "setfit-v1", "spam", 0.77),
        ("rec-303", "setfit-v1", "none", 0.95),
    }
    items = {r["item_id"]: r for r in read_table(path, "items").to_pylist()}
    assert items["rec-302"]["locale"] == "es"  # metadata written as JSON text
    assert items["rec-301"]["source"] == "user_report"


def test_v1_text_classification_records() -> None:
    path = FORMATS / "argilla_v1_text_classification.jsonl"
    assert _annotations(path) == {
        ("sms-0001", "moderator_li", "label", "spam"),
        ("sms-0002", "moderator_li", "label", "none"),
    }  # sms-0003 discarded, sms-0004 only edited
    assert _predictions(path) == {
        ("sms-0001", "distilbert-spam-2023-09", "spam", 0.86),
        ("sms-0002", "distilbert-spam-2023-09", "none", 0.91),
        ("sms-0003", "distilbert-spam-2023-09", "spam", 0.58),
    }
    items = read_table(path, "items").to_pylist()
    assert [(r["item_id"], r["carrier"]) for r in items] == [
        ("sms-0001", "A"),
        ("sms-0002", "B"),
        ("sms-0003", "A"),
        ("sms-0004", "B"),
    ]
    assert items[0]["text"] == "WIN a free iPhone, reply YES"


def test_discarded_only_export_is_one_line(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    path = FORMATS / "argilla_discarded_only.json"
    line = refused(ws, "ingest", "annotations", str(path))
    assert "holds no annotations" in line
    assert "skipped 2 discarded and 1 draft responses" in line
    assert f"`opsloop ingest items {path}`" in line


def test_tables_an_argilla_export_does_not_hold(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    line = refused(ws, "ingest", "gold", str(FORMATS / "argilla_v2_records.json"))
    assert "holds annotations, items, predictions, not gold" in line


def test_unreadable_list_cell_is_located(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    path = write(
        tmp_path / "broken.csv",
        "id,text,label.responses,label.responses.users,label.responses.status\n"
        "p1,hello,['spam'],['u1'],['submitted']\n"
        "p2,world,['none',['u2'],['submitted']\n",
    )
    line = refused(ws, "ingest", "annotations", str(path))
    assert "broken.csv:3: label.responses: cannot read" in line
    assert "as a list" in line


def test_asked_format_that_does_not_fit(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.json", json.dumps([{"item_id": "i1", "text": "hi"}]))
    with pytest.raises(InputError, match="not an Argilla export"):
        read_table(path, "items", fmt="argilla")
    # without the flag a plain JSON array is read as plain records
    assert read_table(path, "items").to_pylist()[0]["text"] == "hi"
