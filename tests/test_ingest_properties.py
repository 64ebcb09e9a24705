"""Property tests: valid tables round-trip; corruptions are located and change nothing."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.errors import InputError
from opsloop.io import ingest

from .helpers import LABELS, make_workspace, tree_digest

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=8)


@st.composite
def annotation_rows(draw: st.DrawFn) -> list[dict[str, object]]:
    keys = draw(st.lists(st.tuples(ids, ids), min_size=1, max_size=30, unique=True))
    rows = []
    for item, rater in keys:
        rows.append(
            {
                "item_id": item,
                "rater_id": rater,
                "label": draw(st.sampled_from(LABELS)),
                "duration_s": draw(
                    st.one_of(
                        st.none(), st.floats(0, 1e4, allow_nan=False).map(lambda x: round(x, 3))
                    )
                ),
                "queue": draw(st.one_of(st.none(), st.sampled_from(["a", "b", "ünï", "x y"]))),
            }
        )
    return rows


def _write(rows: list[dict[str, object]], fmt: str, path: Path) -> Path:
    cols = ["item_id", "rater_id", "label", "duration_s", "queue"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow(["" if r[c] is None else r[c] for c in cols])
        path.write_text(buf.getvalue(), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(
            pa.table(
                {
                    c: pa.array(
                        [r[c] for r in rows], pa.float64() if c == "duration_s" else pa.string()
                    )
                    for c in cols
                }
            ),
            path,
        )
    return path


_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@_SETTINGS
@given(rows=annotation_rows(), fmt=st.sampled_from(["csv", "jsonl", "parquet"]))
def test_valid_tables_round_trip(rows: list[dict[str, object]], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws")
        path = _write(rows, fmt, Path(tmp) / f"a.{fmt}")
        result = ingest(ws, "annotations", [path])
        assert result.rows_added == len(rows)
        got = (
            ws.backend()
            .table("annotations")
            .select("item_id", "rater_id", "label", "duration_s", "queue")
            .to_pyarrow()
            .to_pylist()
        )
        ws.close()
    key = lambda r: (r["item_id"], r["rater_id"])  # noqa: E731
    want = sorted(rows, key=key)
    got = sorted(got, key=key)
    assert [(r["item_id"], r["rater_id"], r["label"], r["queue"]) for r in got] == [
        (r["item_id"], r["rater_id"], r["label"], r["queue"]) for r in want
    ]
    for g, w in zip(got, want, strict=True):
        if w["duration_s"] is None:
            assert g["duration_s"] is None
        else:
            assert g["duration_s"] == pytest.approx(w["duration_s"])


CORRUPTIONS = {
    "unknown_label": ("label", "unknown label"),
    "missing_rater": ("rater_id", "missing value"),
    "bad_duration": ("duration_s", "not a number"),
    "negative_duration": ("duration_s", "out of range: must be ≥ 0"),
    "repeat_refused": (None, "refused by the repeat policy error"),
}


@_SETTINGS
@given(rows=annotation_rows(), kind=st.sampled_from(sorted(CORRUPTIONS)), data=st.data())
def test_corruptions_are_located_and_change_nothing(
    rows: list[dict[str, object]], kind: str, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(rows) - 1))
    if kind == "repeat_refused" and index == 0:
        index = len(rows)  # append a copy of row 0 at the end
    bad = [dict(r) for r in rows]
    if kind == "unknown_label":
        bad[index]["label"] = "not_a_label"
    elif kind == "missing_rater":
        bad[index]["rater_id"] = ""
    elif kind == "bad_duration":
        bad[index]["duration_s"] = "12,5 s"
    elif kind == "negative_duration":
        bad[index]["duration_s"] = "-0.5"
    else:
        bad.insert(index, dict(rows[0]))
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws")
        seed = _write(
            [
                {
                    "item_id": "seed",
                    "rater_id": "seed",
                    "label": "none",
                    "duration_s": 1.0,
                    "queue": "a",
                }
            ],
            "csv",
            Path(tmp) / "seed.csv",
        )
        ingest(ws, "annotations", [seed])
        ws.close()
        before = tree_digest(ws.root)
        path = _write(bad, "csv", Path(tmp) / "bad.csv")
        with pytest.raises(InputError) as info:
            ingest(ws, "annotations", [path], repeats="error")
        ws.close()
        assert tree_digest(ws.root) == before
    column, reason = CORRUPTIONS[kind]
    problem = info.value.first
    assert problem.file == str(path)
    assert problem.line == index + 2  # the header is line 1
    assert problem.column == column
    assert reason in problem.reason


@_SETTINGS
@given(rows=annotation_rows(), data=st.data())
def test_repeats_are_stored_and_the_latest_is_analysed(
    rows: list[dict[str, object]], data: st.DataObject
) -> None:
    """Re-labels in later files are kept; analyses see the last label of each key, once."""
    relabelled = data.draw(st.lists(st.sampled_from(range(len(rows))), unique=True))
    later = [dict(rows[i], label=data.draw(st.sampled_from(LABELS))) for i in relabelled]
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws")
        ingest(ws, "annotations", [_write(rows, "csv", Path(tmp) / "a.csv")])
        if later:
            ingest(ws, "annotations", [_write(later, "parquet", Path(tmp) / "b.parquet")])
            again = ingest(ws, "annotations", [_write(later, "parquet", Path(tmp) / "b.parquet")])
            assert again.rows_added == 0
        seen = ws.table("annotations").select("item_id", "rater_id", "label").to_pyarrow()
        stored = ws.row_count("annotations")
        set_aside = ws.repeats_set_aside("annotations")
        ws.close()
    expected = {(r["item_id"], r["rater_id"]): r["label"] for r in [*rows, *later]}
    got = {(r["item_id"], r["rater_id"]): r["label"] for r in seen.to_pylist()}
    assert seen.num_rows == len(rows) and got == expected
    changed = sum(1 for i, r in zip(relabelled, later, strict=True) if r["label"] != rows[i]["label"])
    assert stored == len(rows) + changed
    assert set_aside == changed
