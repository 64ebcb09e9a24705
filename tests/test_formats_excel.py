"""Excel workbooks: the first sheet or --sheet, typed cells, Excel row numbers, clear refusals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from opsloop.config import Taxonomy
from opsloop.errors import InputError
from opsloop.io import read_table
from opsloop.io._excel import sheet_table

from .formats_helpers import FORMATS, ingest_json, new_workspace, refused, sql_rows

WORKBOOK = FORMATS / "annotations.xlsx"


def test_first_sheet_typed() -> None:
    rows = read_table(WORKBOOK, "annotations").to_pylist()
    assert [(r["item_id"], r["rater_id"], r["label"]) for r in rows] == [
        ("1001", "r1", "spam"),  # a numeric id stays 1001, not 1001.0
        ("1001", "r2", "spam"),
        ("1002", "r1", "none"),
        ("1003", "r3", "hate"),
        ("1003", "r2", "violence"),
    ]
    assert rows[0]["submitted_at"] == dt.datetime(2024, 3, 4, 9, 15)
    assert rows[3]["submitted_at"] == dt.datetime(2024, 3, 5)  # a date cell: midnight
    assert [r["duration_s"] for r in rows] == pytest.approx([12.5, 8, 4.25, 30, 41])
    assert rows[4]["queue"] == "escalation"


def test_problems_point_at_the_excel_row(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path, labels="none,spam,hate")
    line = refused(ws, "ingest", "annotations", str(WORKBOOK))
    assert f"{WORKBOOK}:6: label: unknown label 'violence'" in line
    with pytest.raises(InputError) as err:
        read_table(WORKBOOK, taxonomy=Taxonomy(labels=("none", "spam", "hate")))
    assert (err.value.first.line, err.value.first.column) == (6, "label")


def test_sheet_option(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    report = ingest_json(ws, "gold", WORKBOOK, "--sheet", "gold")
    assert report["files"][0]["format"] == "xlsx" and report["rows_added"] == 2
    assert sql_rows(ws, "SELECT item_id, label, source FROM gold ORDER BY item_id") == [
        {"item_id": "1001", "label": "spam", "source": "expert"},
        {"item_id": "1003", "label": "hate", "source": "expert"},
    ]
    line = refused(ws, "ingest", "gold", str(WORKBOOK), "--sheet", "Gold standard")
    assert "no sheet named 'Gold standard' (the workbook has: annotations, gold)" in line


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("encrypted.xlsx", "encrypted (password-protected)"),
        ("corrupt.xlsx", "not a readable Excel workbook (corrupt or truncated?)"),
    ],
)
def test_unreadable_workbooks(tmp_path: Path, name: str, needle: str) -> None:
    ws = new_workspace(tmp_path)
    line = refused(ws, "ingest", "annotations", str(FORMATS / name))
    assert f"{FORMATS / name}: " in line and needle in line


def test_options_that_do_not_apply(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path)
    csv_file = FORMATS / "headerless.csv"
    line = refused(ws, "ingest", "annotations", str(csv_file), "--sheet", "gold")
    assert "--sheet picks a sheet of an Excel workbook" in line
    line = refused(ws, "ingest", "annotations", str(WORKBOOK), "--columns", "a,b,c")
    assert "--columns applies to CSV/TSV files" in line


def test_cells_to_columns() -> None:
    """Cells as calamine yields them (from A1): kinds per column, blank rows and columns."""
    when = dt.datetime(2024, 5, 1, 8, 30)
    rows = [
        ["", "", "", "", "", ""],  # a blank first row: the header is the first filled row
        ["item_id", "score", "when", "flag", "", "mixed"],
        [1001.0, 1.5, when, True, "", 3.0],
        ["x-2", 2.0, dt.date(2024, 5, 2), False, "", "n/a"],
        ["", "", "", "", "", ""],
        [1003.0, "", when, "", "", dt.date(2024, 5, 3)],
        ["", "", "", "", "", ""],
    ]
    table = sheet_table(rows, "t.xlsx")
    assert table.column_names == ["item_id", "score", "when", "flag", "mixed", "__line"]
    assert table.column("item_id").to_pylist() == ["1001", "x-2", "1003"]
    assert str(table.schema.field("score").type) == "double"
    assert table.column("score").to_pylist() == [1.5, 2.0, None]
    assert table.column("when").to_pylist() == [when, dt.datetime(2024, 5, 2), when]
    assert table.column("flag").to_pylist() == [True, False, None]
    assert table.column("mixed").to_pylist() == ["3", "n/a", "2024-05-03"]
    assert table.column("__line").to_pylist() == [3, 4, 6]


def test_whole_numbers_are_integers() -> None:
    table = sheet_table([["n"], [1.0], [2.0], [None]], "t.xlsx")
    assert str(table.schema.field("n").type) == "int64"
    assert table.column("n").to_pylist() == [1, 2]


def test_empty_sheet() -> None:
    with pytest.raises(InputError, match="the sheet is empty"):
        sheet_table([["", ""], [None, None]], "t.xlsx")
