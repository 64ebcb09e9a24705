"""Inputs users have: no guessed wide layout, timestamps in UTC, values in their domains."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from .helpers import run_cli as run
from .helpers import tree_digest, write


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    run("init", "ws", "--labels", "none,spam,hate", "--benign", "none", cwd=tmp_path)
    return tmp_path / "ws"


def _refused(ws: Path, *args: str) -> str:
    """Run a command that must fail cleanly: exit 2, one error line, workspace unchanged."""
    before = tree_digest(ws)
    proc = run(*args, cwd=ws, ok=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    assert tree_digest(ws) == before
    return proc.stderr.splitlines()[0]


def test_an_items_file_is_not_taken_for_wide_annotations(ws: Path, tmp_path: Path) -> None:
    items = write(tmp_path / "items.csv", "id,text,category\n1,hello there,spam\n2,buy now,none\n")
    line = _refused(ws, "ingest", "annotations", str(items))
    assert "items.csv:1: missing required column(s) rater_id, label for annotations" in line
    assert "not read as wide (one column per rater) because column 'text' holds 'buy now'" in line
    assert "--layout wide" in line


def test_tool_metadata_columns_are_not_raters(tmp_path: Path) -> None:
    """Without a taxonomy: columns with their own vocabularies are not raters."""
    run("init", "ws", cwd=tmp_path)
    ws = tmp_path / "ws"
    body = "".join(f"{i},submitted,{1000 + i},{'ab'[i % 2]}\n" for i in range(8))
    export = write(tmp_path / "export.csv", "id,status,_server_id,answer_hint\n" + body)
    line = _refused(ws, "ingest", "annotations", str(export))
    assert "not read as wide" in line and "'status'" in line


def test_wide_file_is_still_recognised(ws: Path, tmp_path: Path) -> None:
    wide = write(tmp_path / "w.csv", "item_id,alice,bob,carol\ni1,spam,spam,\ni2,none,hate,none\n")
    out = json.loads(run("ingest", "annotations", str(wide), "--format", "json", cwd=ws).stdout)
    assert out["files"][0]["layout"] == "wide" and out["rows_added"] == 5
    # numeric labels without a taxonomy: a shared 0/1 vocabulary is a wide file
    run("init", "ws2", cwd=tmp_path)
    binary = write(tmp_path / "b.csv", "item,r1,r2,r3\na,0,1,1\nb,1,1,0\nc,0,0,0\n")
    out = json.loads(
        run("ingest", "annotations", str(binary), "--format", "json", cwd=tmp_path / "ws2").stdout
    )
    assert out["files"][0]["layout"] == "wide" and out["rows_added"] == 9


def test_iso_offsets_dst_edges_and_z_become_utc(ws: Path, tmp_path: Path) -> None:
    stamps = {
        "a": ("2024-03-01T12:00:00+02:00", "2024-03-01 10:00:00"),
        "b": ("2024-03-01T12:00:00-05:00", "2024-03-01 17:00:00"),
        "c": ("2024-03-01T12:00:00Z", "2024-03-01 12:00:00"),
        "d": ("2024-03-01 12:00:00", "2024-03-01 12:00:00"),  # no offset: taken as UTC
        # Central European DST starts 2024-03-31 at 01:00 UTC: one second apart in UTC
        "e": ("2024-03-31T01:59:59+01:00", "2024-03-31 00:59:59"),
        "f": ("2024-03-31T03:00:00+02:00", "2024-03-31 01:00:00"),
        # ... and ends 2024-10-27 at 01:00 UTC: the same wall time twice, an hour apart
        "g": ("2024-10-27T02:30:00+02:00", "2024-10-27 00:30:00"),
        "h": ("2024-10-27T02:30:00+01:00", "2024-10-27 01:30:00"),
        "i": ("2024-03-01T12:00:00.250+0530", "2024-03-01 06:30:00.25"),
        "j": ("2024-03-01T12:00+02", "2024-03-01 10:00:00"),
    }
    body = "".join(f"{k},r1,spam,{v[0]}\n" for k, v in stamps.items())
    run(
        "ingest",
        "annotations",
        str(write(tmp_path / "t.csv", "item_id,rater_id,label,submitted_at\n" + body)),
        cwd=ws,
    )
    rows = json.loads(
        run(
            "sql",
            "SELECT item_id, CAST(submitted_at AS VARCHAR) AS t FROM annotations",
            "--format",
            "json",
            cwd=ws,
        ).stdout
    )
    got = {r["item_id"]: datetime.fromisoformat(r["t"]) for r in rows}
    assert got == {k: datetime.fromisoformat(v[1]) for k, v in stamps.items()}
    assert (got["f"] - got["e"]).total_seconds() == 1
    assert (got["h"] - got["g"]).total_seconds() == 3600


@pytest.mark.parametrize(
    ("table", "content", "expected"),
    [
        (
            "annotations",
            "item_id,rater_id,label,duration_s\ni1,r1,spam,-4\n",
            "a.csv:2: duration_s: '-4' is out of range: must be ≥ 0",
        ),
        (
            "annotations",
            "item_id,rater_id,label,started_at,submitted_at\n"
            "i1,r1,spam,2024-03-01T10:05:00Z,2024-03-01T10:00:00Z\n",
            "a.csv:2: started_at: started 2024-03-01 10:05:00, after it was submitted",
        ),
        (
            "annotations",
            "item_id,rater_id,label,cost\ni1,r1,spam,-0.1\n",
            "a.csv:2: cost: '-0.1' is out of range: must be ≥ 0",
        ),
        (
            "audits",
            "item_id,rater_id,verdict,inclusion_prob\ni1,r1,correct,1.5\n",
            "a.csv:2: inclusion_prob: '1.5' is out of range: must be in (0, 1]",
        ),
        (
            "audits",
            "item_id,rater_id,verdict,inclusion_prob\ni1,r1,correct,0\n",
            "a.csv:2: inclusion_prob: '0' is out of range: must be in (0, 1]",
        ),
        (
            "predictions",
            "item_id,model_version,label,score\ni1,m1,spam,1.2\n",
            "a.csv:2: score: '1.2' is out of range: must be in [0, 1]",
        ),
        (
            "preferences",
            "pair_id,rater_id,choice,strength\np1,r1,a,-1\n",
            "a.csv:2: strength: '-1' is out of range: must be ≥ 0",
        ),
    ],
)
def test_values_outside_their_domain(
    ws: Path, tmp_path: Path, table: str, content: str, expected: str
) -> None:
    seed = write(tmp_path / "seed.csv", "item_id,rater_id,label\ni1,r1,spam\n")
    run("ingest", "annotations", str(seed), cwd=ws)
    line = _refused(ws, "ingest", table, str(write(tmp_path / "a.csv", content)))
    assert line.startswith(f"error: {tmp_path / expected}")


def test_severity_must_be_one_the_taxonomy_names(tmp_path: Path) -> None:
    run("init", "ws", "--labels", "none,spam", cwd=tmp_path)
    ws = tmp_path / "ws"
    config = ws / "opsloop.toml"
    text = config.read_text().replace(
        "[taxonomy]", '[taxonomy]\nseverity_levels = ["low", "high", "critical"]'
    )
    config.write_text(text)
    run(
        "ingest",
        "annotations",
        str(write(tmp_path / "s.csv", "item_id,rater_id,label\ni1,r1,spam\n")),
        cwd=ws,
    )
    bad = write(tmp_path / "a.csv", "item_id,rater_id,verdict,severity\ni1,r1,incorrect,sever\n")
    line = _refused(ws, "ingest", "audits", str(bad))
    assert (
        "a.csv:2: severity: 'sever' is not a severity of the taxonomy (low, high, critical)" in line
    )
    good = write(tmp_path / "b.csv", "item_id,rater_id,verdict,severity\ni1,r1,incorrect,High\n")
    run("ingest", "audits", str(good), cwd=ws)


def test_sql_errors_in_our_words(ws: Path, tmp_path: Path) -> None:
    line = _refused(ws, "sql", "SELECT * FROM annotations")
    assert line == "error: SQL: no table annotations"
    run(
        "ingest",
        "annotations",
        str(write(tmp_path / "a.csv", "item_id,rater_id,label\ni1,r1,spam\n")),
        cwd=ws,
    )
    line = _refused(ws, "sql", "SELECT labl FROM annotations")
    assert line.startswith("error: SQL: no column 'labl' (did you mean \"label\"")
    assert "Catalog Error" not in line and "Binder Error" not in line


def test_metric_lists_name_their_family(ws: Path) -> None:
    line = _refused(ws, "agreement", "-m", "foo")
    assert line.startswith("error: unknown agreement metric 'foo'; known: brennan_prediger")
    assert "accuracy" not in line
    line = _refused(ws, "quality", "-m", "fleiss_kappa")
    assert "'fleiss_kappa' is an agreement metric, not a quality one" in line
    assert "the quality metrics are: accuracy" in line
