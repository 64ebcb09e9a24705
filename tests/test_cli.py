"""The CLI through the real console-script entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import run_cli as run
from .helpers import tree_digest, write


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    run("init", "ws", "--labels", "none,spam,hate", "--benign", "none", cwd=tmp_path)
    return tmp_path / "ws"


def test_init_ingest_sql_export(ws: Path, tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "question,worker,answer\nq1,w1,spam\nq1,w2,none\nq2,w1,hate\n")
    out = run("ingest", "annotations", str(tmp_path / "a.csv"), cwd=ws).stdout
    assert "question → item_id" in out and "3 rows added" in out
    again = run("ingest", "annotations", str(tmp_path / "a.csv"), "--format", "json", cwd=ws)
    assert json.loads(again.stdout)["rows_added"] == 0
    rows = json.loads(
        run(
            "sql",
            "SELECT label, count(*) AS n FROM annotations GROUP BY 1 ORDER BY 1",
            "--format",
            "json",
            cwd=ws,
        ).stdout
    )
    assert rows == [{"label": "hate", "n": 1}, {"label": "none", "n": 1}, {"label": "spam", "n": 1}]
    csv_out = run(
        "sql", "SELECT item_id FROM annotations ORDER BY 1 LIMIT 1", "--format", "csv", cwd=ws
    )
    assert csv_out.stdout.splitlines() == ["item_id", "q1"]
    run("export", str(tmp_path / "out"), "--format", "parquet", cwd=ws)
    assert (tmp_path / "out" / "annotations.parquet").stat().st_size > 0
    run("export", str(tmp_path / "csv"), "--format", "csv", cwd=ws)
    assert (tmp_path / "csv" / "annotations.csv").read_text().startswith("item_id,rater_id,label")


def test_workspace_flag_from_elsewhere(ws: Path, tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "item_id,rater_id,label\ni,r,spam\n")
    run("--workspace", str(ws), "ingest", "annotations", str(tmp_path / "a.csv"), cwd=tmp_path)
    assert "annotations" in run("-w", str(ws), "tables", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "item_id,rater_id,label\ni1,r1,spma\n",
            "a.csv:2: label: unknown label 'spma' (did you mean 'spam'?)",
        ),
        ("item_id,rater_id,label\n", "a.csv: no rows (the file has a header but no records)"),
        (b"item_id,rater_id,label\ni1,r1,\xff\xfe\n", "a.csv:2: label: not UTF-8"),
        ("", "a.csv: file is empty"),
        ("item_id,rater_id,label,duration_s\ni1,r1,spam,-2\n", "a.csv:2: duration_s: '-2' is out"),
        ("item_id,label\ni1,spam\n", "missing required column(s) rater_id"),
    ],
)
def test_bad_input_one_line_no_traceback_workspace_unchanged(
    ws: Path, tmp_path: Path, content: str | bytes, expected: str
) -> None:
    write(tmp_path / "seed.csv", "item_id,rater_id,label\ns1,r1,none\n")
    run("ingest", "annotations", str(tmp_path / "seed.csv"), cwd=ws)
    before = tree_digest(ws)
    path = write(tmp_path / "a.csv", content)
    proc = run("ingest", "annotations", str(path), cwd=ws, ok=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: ") and expected in first
    assert tree_digest(ws) == before


def test_wrong_delimiter_is_named(ws: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "item_id;rater_id;label\ni1;r1;spam\n")
    proc = run("ingest", "annotations", str(path), "--delimiter", ",", cwd=ws, ok=False)
    assert proc.returncode == 2
    first = proc.stderr.splitlines()[0]
    assert "a.csv:1: missing required column(s) item_id, rater_id, label" in first
    assert "wrong delimiter?" in first


def test_truncated_parquet_and_config_typo(ws: Path, tmp_path: Path) -> None:
    write(tmp_path / "t.parquet", b"PAR1\x00\x01\x02garbage")
    proc = run("ingest", "annotations", str(tmp_path / "t.parquet"), cwd=ws, ok=False)
    assert proc.returncode == 2 and "Parquet" in proc.stderr and "Traceback" not in proc.stderr
    cfg = ws / "opsloop.toml"
    cfg.write_text(cfg.read_text().replace("[taxonomy]", "[taxonmy]"))
    proc = run("tables", cwd=ws, ok=False)
    assert proc.returncode == 2
    assert "taxonmy" in proc.stderr and "did you mean 'taxonomy'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_workspace_and_unknown_table(tmp_path: Path) -> None:
    proc = run("tables", cwd=tmp_path, ok=False)
    assert proc.returncode == 2 and "no workspace" in proc.stderr
    run("init", "w", cwd=tmp_path)
    write(tmp_path / "a.csv", "x\n1\n")
    proc = run("ingest", "nonsense", str(tmp_path / "a.csv"), cwd=tmp_path / "w", ok=False)
    assert "unknown table 'nonsense'" in proc.stderr


def test_sql_is_read_only(ws: Path, tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "item_id,rater_id,label\ni,r,spam\n")
    run("ingest", "annotations", str(tmp_path / "a.csv"), cwd=ws)
    proc = run("sql", "DELETE FROM annotations", cwd=ws, ok=False)
    assert proc.returncode == 2 and "read-only" in proc.stderr
    proc = run("sql", f"COPY annotations TO '{tmp_path / 'leak.csv'}'", cwd=ws, ok=False)
    assert proc.returncode == 2 and not (tmp_path / "leak.csv").exists()
    proc = run("sql", "SELEC 1", cwd=ws, ok=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: SQL:")
