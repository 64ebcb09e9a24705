"""Repeat labels through the real CLI: stored as events, the latest analysed, policies honoured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import OPSLOOP, tree_digest, write
from .helpers import run_cli as run

# r1 labels i1 twice (a re-review the next day) and i2 twice within one export
FIRST = (
    "item_id,rater_id,label,submitted_at\n"
    "i1,r1,spam,2024-03-01T10:00:00Z\n"
    "i1,r2,spam,2024-03-01T10:01:00Z\n"
    "i1,r3,none,2024-03-01T10:02:00Z\n"
    "i2,r1,none,2024-03-01T11:00:00Z\n"
    "i2,r2,hate,2024-03-01T11:01:00Z\n"
    "i2,r3,hate,2024-03-01T11:02:00Z\n"
    "i2,r1,hate,2024-03-02T09:00:00Z\n"
)
RELABEL = "item_id,rater_id,label,submitted_at\ni1,r3,spam,2024-03-03T08:00:00Z\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    run("init", "ws", "--labels", "none,spam,hate", "--benign", "none", cwd=tmp_path)
    return tmp_path / "ws"


def _json(*args: str, cwd: Path) -> object:
    return json.loads(run(*args, "--format", "json", cwd=cwd).stdout)


def test_ingest_keeps_every_label_and_analyses_use_the_latest(ws: Path, tmp_path: Path) -> None:
    out = run("ingest", "annotations", str(write(tmp_path / "a.csv", FIRST)), cwd=ws)
    assert "7 rows added as batch 1" in out.stdout
    assert "2 stored rows share their key" in out.stdout
    relabel = run("ingest", "annotations", str(write(tmp_path / "b.csv", RELABEL)), cwd=ws)
    assert "1 rows added as batch 2" in relabel.stdout
    tables = {r["table"]: r for r in _json("tables", cwd=ws)}  # type: ignore[union-attr]
    assert (tables["annotations"]["rows"], tables["annotations"]["earlier_repeats"]) == (8, 2)
    agree = run("agreement", "-m", "percent_agreement", "--format", "json", cwd=ws)
    assert "2 earlier repeat label(s) of the same (item, rater, task) set aside" in agree.stderr
    record = json.loads(agree.stdout)[0]
    # latest labels: i1 = spam, spam, spam (r3 re-labelled); i2 = hate, hate, hate (r1's re-review)
    assert record["value"] == pytest.approx(1.0)
    assert record["n_items"] == 2
    every = run(
        "agreement", "-m", "percent_agreement", "--repeats", "first", "--format", "json", cwd=ws
    )
    # first labels: i1 = spam, spam, none (1 of 3 pairs agree); i2 = none, hate, hate (1 of 3)
    assert json.loads(every.stdout)[0]["value"] == pytest.approx(1 / 3)
    refused = run("agreement", "--repeats", "error", cwd=ws, ok=False)
    assert refused.returncode == 2
    assert "2 earlier row(s) repeat a key" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_agreement_and_infer_on_a_file_with_repeats(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", FIRST)
    agree = run("agreement", str(path), "-m", "percent_agreement", "--format", "json", cwd=tmp_path)
    assert "1 earlier repeat label(s)" in agree.stderr
    # latest on the file: i1 = spam, spam, none; i2 = hate, hate, hate
    assert json.loads(agree.stdout)[0]["value"] == pytest.approx((1 / 3 + 1) / 2)
    infer = run("infer", str(path), "--method", "mv", "--format", "json", cwd=tmp_path)
    labels = {r["item_id"]: r["label"] for r in json.loads(infer.stdout)["labels"]}
    assert labels == {"i1": "spam", "i2": "hate"}
    refused = run("agreement", str(path), "--repeats", "error", cwd=tmp_path, ok=False)
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith(f"error: {path}:8:")
    assert "repeat of (item_id=i2, rater_id=r1, task=label)" in refused.stderr
    assert "first given on line 5" in refused.stderr


def test_ingest_repeats_error_and_first(ws: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", FIRST)
    before = tree_digest(ws)
    refused = run("ingest", "annotations", str(path), "--repeats", "error", cwd=ws, ok=False)
    assert refused.returncode == 2 and "a.csv:8" in refused.stderr
    assert tree_digest(ws) == before
    first = _json("ingest", "annotations", str(path), "--repeats", "first", cwd=ws)
    assert (first["rows_added"], first["rows_set_aside"]) == (6, 1)  # type: ignore[index]
    bad = run("ingest", "annotations", str(path), "--repeats", "newest", cwd=ws, ok=False)
    assert bad.returncode == 2
    assert "expected one of keep-all, latest, first, error" in bad.stderr


def test_batches_and_undo(ws: Path, tmp_path: Path) -> None:
    run("ingest", "annotations", str(write(tmp_path / "a.csv", FIRST)), cwd=ws)
    run("ingest", "annotations", str(write(tmp_path / "b.csv", RELABEL)), cwd=ws)
    gold = write(tmp_path / "g.csv", "item_id,label\ni1,spam\ni2,hate\n")
    run("ingest", "gold", str(gold), cwd=ws)
    run("infer", "--method", "mv", cwd=ws)
    batches = _json("batches", cwd=ws)
    assert [(b["batch"], b["table"], b["rows_added"], b["status"]) for b in batches] == [  # type: ignore[union-attr]
        (1, "annotations", 7, "stored"),
        (2, "annotations", 1, "stored"),
        (3, "gold", 2, "stored"),
    ]
    undone = _json("undo", "2", cwd=ws)
    assert (undone["rows_removed"], undone["table"]) == (1, "annotations")  # type: ignore[index]
    assert "inferred_labels" in undone["stale_derived"]  # type: ignore[index]
    # r3's first label of i1 is the latest again
    rows = _json(
        "sql",
        "SELECT label FROM annotations WHERE item_id = 'i1' AND rater_id = 'r3' AND opsloop_latest",
        cwd=ws,
    )
    assert rows == [{"label": "none"}]
    tables = {r["table"]: r for r in _json("tables", cwd=ws)}  # type: ignore[union-attr]
    assert tables["inferred_labels"]["note"].startswith("stale")
    again = run("undo", "2", cwd=ws, ok=False)
    assert again.returncode == 2 and "batch 2 was already undone" in again.stderr
    missing = run("undo", "9", cwd=ws, ok=False)
    assert missing.returncode == 2 and "no batch 9" in missing.stderr
    listed = _json("batches", cwd=ws)
    assert [b["status"] for b in listed] == ["stored", "undone", "stored"]  # type: ignore[union-attr]


def test_undo_refuses_to_orphan_audits(ws: Path, tmp_path: Path) -> None:
    run("ingest", "annotations", str(write(tmp_path / "a.csv", FIRST)), cwd=ws)
    audits = write(tmp_path / "au.csv", "item_id,rater_id,verdict\ni1,r2,correct\n")
    run("ingest", "audits", str(audits), cwd=ws)
    before = tree_digest(ws)
    refused = run("undo", "1", cwd=ws, ok=False)
    assert refused.returncode == 2
    assert "1 audits row(s) refer to (from batch 2); undo that batch first" in refused.stderr
    assert tree_digest(ws) == before
    run("undo", "2", cwd=ws)
    run("undo", "1", cwd=ws)
    assert _json("sql", "SELECT count(*) AS n FROM annotations", cwd=ws) == [{"n": 0}]


def test_a_killed_ingest_leaves_no_stage_file(ws: Path, tmp_path: Path) -> None:
    scratch = ws / ".opsloop"
    scratch.mkdir(exist_ok=True)
    gone = subprocess.run(["true"], check=True)  # a process that has exited: its pid is free
    dead = subprocess.Popen(["true"])
    dead.wait()
    for name in (f"stage-{dead.pid}-dead.duckdb", f"stage-{dead.pid}-dead.duckdb.wal"):
        (scratch / name).write_bytes(b"left behind")
    assert gone.returncode == 0
    run("ingest", "annotations", str(write(tmp_path / "a.csv", FIRST)), cwd=ws)
    assert not list(scratch.glob("stage-*"))


def test_ingest_killed_midway_is_cleaned_on_the_next_run(ws: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("w") as fh:
        fh.write("item_id,rater_id,label,queue\n")
        for i in range(600_000):
            fh.write(f"i{i},r{i % 97},{('none', 'spam', 'hate')[i % 3]},q{i % 5}\n")
    before = tree_digest(ws)
    proc = subprocess.Popen(
        [OPSLOOP, "ingest", "annotations", str(big)],
        cwd=ws,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scratch = ws / ".opsloop"
    deadline = time.monotonic() + 60
    while not list(scratch.glob("stage-*")) and proc.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.fail("the ingest finished before it could be killed; make the file bigger")
    assert list(scratch.glob("stage-*")), "the killed ingest should have left its stage file"
    assert tree_digest(ws) == before  # nothing half-written in the store
    run("ingest", "annotations", str(write(tmp_path / "a.csv", FIRST)), cwd=ws)
    assert not list(scratch.glob("stage-*"))


def test_intra_rater_reliability_from_stored_repeats(tmp_path: Path, data_dir: Path) -> None:
    """Dawid & Skene (1979): observer 1 assessed each of 45 patients three times."""
    import krippendorff
    import numpy as np

    source = data_dir / "reference_small" / "dawid_skene_1979_anaesthesia_long.csv"
    run("init", "ws", cwd=tmp_path)
    ws = tmp_path / "ws"
    out = run("ingest", "annotations", str(source), "--map", "item_id=patient",
              "--map", "rater_id=observer", cwd=ws).stdout  # fmt: skip
    assert "135 stored rows share their key" in out  # observer 1: 45 patients x 3
    result = _json("agreement", "--intra", "--level", "interval", cwd=ws)
    pool = {r["metric"]: r for r in result["records"] if "rater_id" not in r["slice"]}  # type: ignore[index]
    rows = [line.split(",") for line in source.read_text().splitlines()[1:]]
    matrix = np.full((3, 45), np.nan)
    for patient, observer, replicate, label in rows:
        if observer == "1":
            matrix[int(replicate) - 1, int(patient) - 1] = float(label)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval")
    assert pool["intra_krippendorff_alpha"]["value"] == pytest.approx(expected, abs=1e-9)
    assert pool["intra_krippendorff_alpha"]["n_items"] == 45
    table = run("agreement", "--intra", "--level", "interval", cwd=ws).stdout
    assert "intra-rater reliability" in table and "intra_cohen_kappa" in table


def test_keep_all_counts_each_label_as_a_vote(tmp_path: Path) -> None:
    text = "item_id,rater_id,label\ni1,r1,spam\ni1,r1,spam\ni1,r1,spam\ni1,r2,none\ni1,r3,none\n"
    path = write(tmp_path / "a.csv", text)

    def majority(*extra: str) -> str:
        out = run("infer", str(path), "--method", "mv", "--format", "json", *extra, cwd=tmp_path)
        return str(json.loads(out.stdout)["labels"][0]["label"])

    assert majority() == "none"  # latest: r1 counts once
    assert majority("--repeats", "keep-all") == "spam"  # every label a vote, as crowd-kit
    refused = run("infer", str(path), "--repeats", "error", cwd=tmp_path, ok=False)
    assert refused.returncode == 2 and "a.csv:3" in refused.stderr
