"""Ingestion: formats, mapping, validation errors, atomicity, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opsloop.engine import Workspace
from opsloop.errors import ConfigError, InputError
from opsloop.io import ingest

from .helpers import make_workspace, tree_digest, write

GOOD = (
    "item_id,rater_id,label,submitted_at,duration_s,locale\n"
    "i1,r1,spam,2024-03-01 10:00:00,12.5,th\n"
    "i1,r2,none,2024-03-01T10:05:00Z,8,th\n"
    "i2,r1,hate,2024-03-02 09:00:00,30,en\n"
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = make_workspace(tmp_path / "ws")
    yield w
    w.close()


def rows(ws: Workspace, table: str) -> list[dict]:
    return ws.backend().table(table).to_pyarrow().sort_by("item_id").to_pylist()


def test_csv_is_typed_and_keeps_extra_dimensions(ws: Workspace, tmp_path: Path) -> None:
    result = ingest(ws, "annotations", [write(tmp_path / "a.csv", GOOD)])
    assert result.rows_added == 3
    data = ws.backend().table("annotations")
    schema = dict(zip(data.columns, [str(t) for t in data.schema().types], strict=True))
    assert schema["submitted_at"].startswith("timestamp")
    assert schema["duration_s"] == "float64"
    assert "locale" in schema
    first = rows(ws, "annotations")[1]
    assert first["task"] == "label"
    # the Z offset is converted to UTC, the naive value kept as given
    assert str(first["submitted_at"]) == "2024-03-01 10:05:00"


def test_same_file_twice_adds_nothing(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", GOOD)
    ingest(ws, "annotations", [path])
    again = ingest(ws, "annotations", [path])
    assert (again.rows_added, again.rows_already_present) == (0, 3)
    assert ws.row_count("annotations") == 3


@pytest.mark.parametrize(
    ("name", "content", "line", "column", "needle"),
    [
        (
            "unknown_label.csv",
            "item_id,rater_id,label\ni1,r1,spma\n",
            2,
            "label",
            "did you mean 'spam'",
        ),
        (
            "missing_col.csv",
            "item_id,label\ni1,spam\n",
            1,
            None,
            "missing required column(s) rater_id",
        ),
        ("semicolon.csv", "item_id;rater_id;label\ni9;r1;spam\n", None, None, None),
        (
            "bad_time.csv",
            "item_id,rater_id,label,submitted_at\ni1,r1,spam,yesterday\n",
            2,
            "submitted_at",
            "cannot parse timestamp 'yesterday'",
        ),
        (
            "bad_number.csv",
            "item_id,rater_id,label,duration_s\ni1,r1,spam,12\ni2,r1,spam,abc\n",
            3,
            "duration_s",
            "not a number: 'abc'",
        ),
        (
            "dupe_items.csv",
            "item_id,rater_id,label,duration_s\nj1,r1,spam,-3\n",
            2,
            "duration_s",
            "'-3' is out of range: must be ≥ 0",
        ),
        ("empty_value.csv", "item_id,rater_id,label\ni1,,spam\n", 2, "rater_id", "missing value"),
        (
            "ragged.csv",
            "item_id,rater_id,label\ni1,r1,spam\ni2,r2,none,extra\n",
            3,
            None,
            "too many fields",
        ),
        ("header_only.csv", "item_id,rater_id,label\n", None, None, "no rows"),
        ("empty.csv", "", None, None, "file is empty"),
    ],
)
def test_bad_csv_is_rejected_with_location_and_workspace_unchanged(
    ws: Workspace,
    tmp_path: Path,
    name: str,
    content: str,
    line: int | None,
    column: str | None,
    needle: str | None,
) -> None:
    ingest(ws, "annotations", [write(tmp_path / "seed.csv", GOOD)])
    ws.close()
    before = tree_digest(ws.root)
    path = write(tmp_path / name, content)
    if needle is None:  # a semicolon file is read with the detected delimiter
        assert ingest(ws, "annotations", [path]).rows_added == 1
        return
    with pytest.raises(InputError) as info:
        ingest(ws, "annotations", [path])
    problem = info.value.first
    assert problem.file == str(path)
    assert problem.line == line
    assert problem.column == column
    assert needle in problem.reason
    ws.close()
    assert tree_digest(ws.root) == before
    assert ws.row_count("annotations") == 3


def test_non_utf8_bytes_are_located(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.csv", b"item_id,rater_id,label\ni1,r1,spam\ni2,r1,caf\xe9\n")
    with pytest.raises(InputError) as info:
        ingest(ws, "annotations", [path])
    assert info.value.first.line == 3
    assert "not UTF-8" in info.value.first.reason
    assert not ws.has_table("annotations")


def test_truncated_parquet_is_rejected(ws: Workspace, tmp_path: Path) -> None:
    good = tmp_path / "a.parquet"
    pq.write_table(
        pa.table(
            {
                "item_id": ["i1"] * 50,
                "rater_id": [f"r{i}" for i in range(50)],
                "label": ["spam"] * 50,
            }
        ),
        good,
    )
    cut = write(tmp_path / "cut.parquet", good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError) as info:
        ingest(ws, "annotations", [cut])
    assert "Parquet" in info.value.first.reason
    assert ingest(ws, "annotations", [good]).rows_added == 50


def test_many_errors_show_first_and_count_rest(ws: Workspace, tmp_path: Path) -> None:
    body = "".join(f"i{i},r1,bogus\n" for i in range(40))
    with pytest.raises(InputError) as info:
        ingest(ws, "annotations", [write(tmp_path / "a.csv", "item_id,rater_id,label\n" + body)])
    assert len(info.value.problems) == 5
    assert info.value.more == 35
    assert "(and 39 more problems)" in str(info.value)
    assert [p.line for p in info.value.problems] == [2, 3, 4, 5, 6]


def test_skip_quarantines_bad_rows(ws: Workspace, tmp_path: Path) -> None:
    text = "item_id,rater_id,label\ni1,r1,spam\ni2,r1,bogus\ni3,r1,x,y\ni4,r1,none\n"
    result = ingest(ws, "annotations", [write(tmp_path / "a.csv", text)], on_error="skip")
    assert (result.rows_added, result.rows_rejected) == (2, 2)
    rejects = ws.backend().table("_opsloop_rejects").to_pyarrow().sort_by("line").to_pylist()
    assert [r["line"] for r in rejects] == [3, 4]
    assert sorted(r["item_id"] for r in rows(ws, "annotations")) == ["i1", "i4"]


def test_line_numbers_after_scanner_rejects_in_skip_mode(ws: Workspace, tmp_path: Path) -> None:
    text = "item_id,rater_id,label\ni1,r1,spam\ni2,r1,x,y\ni3,r1,bogus\n"
    result = ingest(ws, "annotations", [write(tmp_path / "a.csv", text)], on_error="skip")
    assert sorted(p.line for p in result.problems) == [3, 4]


def test_changed_label_in_a_later_file_is_a_relabel(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, "annotations", [write(tmp_path / "a.csv", GOOD)])
    changed = GOOD.replace("i1,r1,spam,2024-03-01 10:00:00", "i1,r1,hate,2024-03-04 10:00:00")
    result = ingest(ws, "annotations", [write(tmp_path / "b.csv", changed)])
    assert (result.rows_added, result.rows_already_present, result.repeat_rows) == (1, 2, 2)
    assert ws.row_count("annotations") == 4  # stored: every label
    assert ws.table("annotations").count().execute() == 3  # analysed: one per key
    latest = ws.table("annotations").to_pyarrow().to_pylist()
    assert {(r["item_id"], r["rater_id"]): r["label"] for r in latest}[("i1", "r1")] == "hate"
    assert ws.repeats_set_aside("annotations") == 1
    every = ws.table("annotations", repeats="keep-all").count().execute()
    first = ws.table("annotations", repeats="first").to_pyarrow().to_pylist()
    assert every == 4
    assert {(r["item_id"], r["rater_id"]): r["label"] for r in first}[("i1", "r1")] == "spam"


def test_repeat_policy_error_refuses_a_relabel(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, "annotations", [write(tmp_path / "a.csv", GOOD)])
    ws.close()
    before = tree_digest(ws.root)
    changed = GOOD.replace("i1,r1,spam", "i1,r1,hate")
    with pytest.raises(InputError, match="repeats a key already in the workspace") as info:
        ingest(ws, "annotations", [write(tmp_path / "b.csv", changed)], repeats="error")
    assert (info.value.first.line, info.value.first.column) == (2, "label")
    ws.close()
    assert tree_digest(ws.root) == before


def test_repeat_within_a_file_under_each_policy(ws: Workspace, tmp_path: Path) -> None:
    text = "item_id,rater_id,label\nj1,r1,spam\nj2,r1,none\nj1,r1,hate\n"
    path = write(tmp_path / "dupe.csv", text)
    with pytest.raises(InputError) as info:
        ingest(ws, "annotations", [path], repeats="error")
    assert info.value.first.line == 4
    assert "repeat of (item_id=j1, rater_id=r1, task=label)" in info.value.first.reason
    assert "first given on line 2" in info.value.first.reason
    first = ingest(ws, "annotations", [path], repeats="first")
    assert (first.rows_added, first.rows_set_aside) == (2, 1)
    kept = ingest(ws, "annotations", [path])  # keep-all: the set-aside repeat is stored now
    assert (kept.rows_added, kept.rows_already_present) == (1, 2)
    assert ingest(ws, "annotations", [path]).rows_added == 0  # idempotent
    labels = ws.table("annotations", repeats="keep-all").to_pyarrow()
    assert sorted(labels["label"].to_pylist()) == ["hate", "none", "spam"]


def test_all_or_nothing_across_files(ws: Workspace, tmp_path: Path) -> None:
    good = write(tmp_path / "a.csv", GOOD)
    bad = write(tmp_path / "b.csv", "item_id,rater_id,label\ni9,r9,bogus\n")
    with pytest.raises(InputError):
        ingest(ws, "annotations", [good, bad])
    assert not ws.has_table("annotations")


def test_common_names_are_recognised(ws: Workspace, tmp_path: Path) -> None:
    crowdkit = write(tmp_path / "ck.csv", "task,worker,label\nt1,w1,spam\n")
    result = ingest(ws, "annotations", [crowdkit])
    assert result.files[0].mapping == {"item_id": "task", "rater_id": "worker", "label": "label"}
    zheng = write(tmp_path / "z.tsv", "question\tworker\tanswer\nq1\tw1\tnone\n")
    result = ingest(ws, "annotations", [zheng])
    assert result.files[0].mapping == {
        "item_id": "question",
        "rater_id": "worker",
        "label": "answer",
    }
    other = write(tmp_path / "o.csv", "instance_id,annotator_id,annotation\nx,y,hate\n")
    assert ingest(ws, "annotations", [other]).rows_added == 1


def test_explicit_map_and_config_map(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    path = write(tmp_path / "a.csv", "post,mod,decision_code\np1,m1,spam\n")
    with pytest.raises(InputError, match="missing required column"):
        ingest(ws, "annotations", [path])
    result = ingest(
        ws,
        "annotations",
        [path],
        column_map={"item_id": "post", "rater_id": "mod", "label": "decision_code"},
    )
    assert result.rows_added == 1
    with pytest.raises(ConfigError, match="no column 'nope'"):
        ingest(ws, "annotations", [path], column_map={"item_id": "nope"})
    ws.close()


def test_wide_layout_one_column_per_rater(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "w.csv", "item_id,alice,bob,carol\ni1,spam,spam,\ni2,none,hate,none\n")
    result = ingest(ws, "annotations", [path])
    assert result.files[0].layout == "wide"
    assert result.rows_added == 5
    got = {(r["item_id"], r["rater_id"]): r["label"] for r in rows(ws, "annotations")}
    assert got[("i2", "bob")] == "hate"
    assert ("i1", "carol") not in got


def test_jsonl_and_parquet(ws: Workspace, tmp_path: Path) -> None:
    lines = [
        {"item_id": "i1", "rater_id": "r1", "label": "spam", "score": 1},
        {"item_id": "i2", "rater_id": "r1", "label": "none", "score": 2},
    ]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    assert ingest(ws, "annotations", [path]).rows_added == 2
    pq.write_table(
        pa.table(
            {
                "item_id": ["i3"],
                "rater_id": ["r1"],
                "label": ["hate"],
                "submitted_at": pa.array([1_700_000_000_000_000], pa.timestamp("us")),
            }
        ),
        tmp_path / "b.parquet",
    )
    assert ingest(ws, "annotations", [tmp_path / "b.parquet"]).rows_added == 1


def test_labelstudio_export(ws: Workspace, tmp_path: Path) -> None:
    export = [
        {
            "id": 1,
            "data": {"text": "buy now"},
            "annotations": [
                {
                    "id": 11,
                    "completed_by": 3,
                    "lead_time": 4.5,
                    "created_at": "2024-03-01T10:00:00Z",
                    "result": [
                        {
                            "from_name": "policy",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["spam"]},
                        }
                    ],
                },
                {
                    "id": 12,
                    "completed_by": {"id": 4, "email": "b@example.com"},
                    "was_cancelled": False,
                    "result": [
                        {"from_name": "policy", "type": "choices", "value": {"choices": ["none"]}}
                    ],
                },
                {"id": 13, "completed_by": 5, "was_cancelled": True, "result": []},
            ],
        },
        {
            "id": 2,
            "data": {"text": "hi"},
            "annotations": [
                {
                    "id": 14,
                    "completed_by": 3,
                    "result": [
                        {"from_name": "policy", "type": "choices", "value": {"choices": ["none"]}}
                    ],
                }
            ],
        },
    ]
    path = write(tmp_path / "export.json", json.dumps(export))
    result = ingest(ws, "annotations", [path])
    assert result.files[0].layout == "labelstudio"
    got = {
        (r["item_id"], r["rater_id"]): (r["label"], r["duration_s"])
        for r in rows(ws, "annotations")
    }
    assert got == {
        ("1", "3"): ("spam", 4.5),
        ("1", "4"): ("none", None),
        ("2", "3"): ("none", None),
    }


def test_audit_must_reference_an_annotation(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, "annotations", [write(tmp_path / "a.csv", GOOD)])
    audit = write(tmp_path / "au.csv", "item_id,rater_id,verdict\ni1,r1,correct\ni7,r1,incorrect\n")
    with pytest.raises(InputError) as info:
        ingest(ws, "audits", [audit])
    assert info.value.first.line == 3
    assert "refers to no annotations row" in info.value.first.reason
    ok = write(tmp_path / "ok.csv", "item_id,rater_id,verdict\ni1,r1,pass\ni1,r2,FAIL\n")
    ingest(ws, "audits", [ok])
    assert {r["verdict"] for r in rows(ws, "audits")} == {"correct", "incorrect"}


def test_preference_choice_synonyms_and_bad_choice(ws: Workspace, tmp_path: Path) -> None:
    prefs = write(tmp_path / "p.csv", "pair_id,worker_id,label\np1,w1,a1\np1,w2,equal\np2,w1,a2\n")
    ingest(ws, "preferences", [prefs])
    assert [
        r["choice"]
        for r in ws.backend()
        .table("preferences")
        .to_pyarrow()
        .sort_by([("pair_id", "ascending"), ("rater_id", "ascending")])
        .to_pylist()
    ] == ["a", "tie", "b"]
    bad = write(tmp_path / "q.csv", "pair_id,rater_id,choice\np9,w1,maybe\n")
    with pytest.raises(InputError, match="'maybe' is not one of a, b, tie"):
        ingest(ws, "preferences", [bad])


def test_new_extra_columns_extend_the_table(ws: Workspace, tmp_path: Path) -> None:
    ingest(ws, "annotations", [write(tmp_path / "a.csv", GOOD)])
    more = write(tmp_path / "b.csv", "item_id,rater_id,label,vendor\ni5,r5,spam,acme\n")
    ingest(ws, "annotations", [more])
    got = {r["item_id"]: r for r in rows(ws, "annotations")}
    assert got["i5"]["vendor"] == "acme"
    assert got["i1"]["vendor"] is None
    assert got["i5"]["locale"] is None


def test_wide_reference_files_with_a_dimension(tmp_path: Path, data_dir: Path) -> None:
    # irrCAC's raw ratings: Group (a dimension), Units (the item), one column per rater
    ws = make_workspace(tmp_path / "open", labels=())  # no taxonomy: any label
    path = data_dir / "reference_small" / "irrCAC_raw_g1g2.csv"
    result = ingest(ws, "annotations", [path], dimensions=("Group",))
    assert result.files[0].layout == "wide"
    assert result.files[0].mapping["item_id"] == "Units"
    got = ws.backend().table("annotations").to_pyarrow()
    assert set(got["rater_id"].to_pylist()) == {"Rater1", "Rater2", "Rater3", "Rater4"}
    assert set(got["Group"].to_pylist()) == {"G1", "G2"}
    # blank cells are "not rated": the count equals the non-blank cells of the file
    lines = path.read_text().splitlines()[1:]
    cells = sum(1 for line in lines for v in line.split(",")[2:] if v.strip())
    assert result.rows_added == cells
    ws.close()
