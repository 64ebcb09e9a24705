"""Text files users actually have: no header (--columns), mixed line endings, odd names."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.config import Taxonomy
from opsloop.errors import InputError, UsageError
from opsloop.io import read_table

from .formats_helpers import FORMATS, ingest_json, new_workspace, refused, sql_rows
from .helpers import write

TAXONOMY = Taxonomy(labels=("none", "spam", "hate", "violence"))


def test_headerless_csv_first_line_is_data(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    path = FORMATS / "headerless.csv"
    report = ingest_json(ws, "annotations", path, "--columns", "item_id,rater_id,label")
    assert report["rows_added"] == 4
    rows = sql_rows(ws, "SELECT item_id, rater_id, label FROM annotations ORDER BY 1, 2")
    assert [tuple(r.values()) for r in rows] == [
        ("i1", "r1", "spam"),
        ("i1", "r2", "spam"),
        ("i2", "r1", "none"),
        ("i2", "r3", "hate"),
    ]


def test_headerless_tsv_and_names_with_synonyms() -> None:
    rows = read_table(
        FORMATS / "headerless.tsv", columns=("question", "worker", "answer", "submitted_at")
    ).to_pylist()
    assert [(r["item_id"], r["rater_id"], r["label"]) for r in rows] == [
        ("i1", "r1", "spam"),
        ("i1", "r2", "none"),
        ("i2", "r1", "hate"),
    ]
    assert str(rows[2]["submitted_at"]) == "2024-03-04 09:31:00"


def test_headerless_lines_count_from_one(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "i1,r1,spma\ni2,r2,none,extra\ni3,r3,hate\ni4,r4,spma\n")
    with pytest.raises(InputError) as err:
        read_table(path, taxonomy=TAXONOMY, columns=("item_id", "rater_id", "label"))
    located = [(p.line, p.column) for p in err.value.problems]
    assert located == [(1, "label"), (2, None), (4, "label")]
    assert "too many fields" in err.value.problems[1].reason


def test_column_count_mismatch_is_one_line(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    path = FORMATS / "headerless.tsv"
    line = refused(ws, "ingest", "annotations", str(path), "--columns", "item_id,rater_id,label")
    assert f"{path}:1: --columns names 3 columns (item_id, rater_id, label)" in line
    assert "the lines have 4 fields" in line


@pytest.mark.parametrize(
    ("columns", "needle"),
    [("item_id,,label", "a column name is empty"), ("a,a,label", "'a' is given twice")],
)
def test_bad_column_names(tmp_path: Path, columns: str, needle: str) -> None:
    ws = new_workspace(tmp_path)
    line = refused(
        ws, "ingest", "annotations", str(FORMATS / "headerless.csv"), "--columns", columns
    )
    assert needle in line


def test_columns_only_for_text_tables() -> None:
    with pytest.raises(UsageError, match="--columns names the columns of a CSV or TSV"):
        read_table(FORMATS / "argilla_v2_flat.jsonl", columns=("a", "b"))


def test_mixed_line_endings_read_with_right_lines(tmp_path: Path) -> None:
    """LF and CRLF in turn (files pasted together): DuckDB's sniffer stops on such a file,
    so it is read from a copy with CRLF turned into LF (the quoted line break too)."""
    raw = (FORMATS / "mixed_newlines.csv").read_bytes()
    assert b"note\n" in raw and b"i1,r1,spam,\r\n" in raw  # both endings really are there
    ws = new_workspace(tmp_path)
    path = FORMATS / "mixed_newlines.csv"
    line = refused(ws, "ingest", "annotations", str(path))
    assert f"{path}:7: label: unknown label 'spma'" in line
    report = ingest_json(ws, "annotations", path, "--on-error", "skip")
    assert (report["rows_added"], report["rows_rejected"]) == (6, 1)
    rejects = sql_rows(ws, "SELECT line, column_name FROM _opsloop_rejects")
    assert rejects == [{"line": 7, "column_name": "label"}]
    note = sql_rows(ws, "SELECT note FROM annotations WHERE rater_id = 'r2' AND item_id = 'i1'")
    assert note == [{"note": "two-line\nnote"}]


def test_mixed_line_endings_in_a_large_file(tmp_path: Path) -> None:
    lines = ["item_id,rater_id,label\r\n"]
    ends = ("\r\n", "\n", "\n")
    lines += [f"i{k},r{k % 7},spam" + ends[k % 3] for k in range(1, 5001)]
    lines[4321] = "i4321,r2,spma\n"
    path = write(tmp_path / "big.csv", "".join(lines).encode())
    with pytest.raises(InputError) as err:
        read_table(path, taxonomy=TAXONOMY)
    assert [(p.line, p.column) for p in err.value.problems] == [(4322, "label")]


def test_unknown_file_name_names_the_real_flag(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    path = write(tmp_path / "labels.export", "item_id,rater_id,label\ni1,r1,spam\n")
    line = refused(ws, "ingest", "annotations", str(path))
    assert "--input-format" in line and "pass --format" not in line
    assert ".csv" in line and ".xlsx" in line
    report = ingest_json(ws, "annotations", path, "--input-format", "csv")
    assert report["rows_added"] == 1
