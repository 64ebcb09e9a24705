"""The fast path for analyses on a file (io.read_labels) against the general reader.

``read_labels`` reads item, rater, label, task (and submitted_at) in one scan and
codes them once; these tests hold it to what ``read_table`` followed by coding
gives — the same codes, names, categories and count set aside, on the Zheng et al.
(2017) sets and on generated tables with repeats, tasks, blanks and timestamps —
and to the same located error for every bad input, in the library and through the
real command line.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.config import Taxonomy
from opsloop.errors import InputError
from opsloop.inference import infer_labels
from opsloop.io import read_labels, read_table, repeats_set_aside
from opsloop.io._labels import _Options, _read_fast
from opsloop.metrics import agreement
from opsloop.stats._encode import CodedAnnotations, encode_tasks

from .helpers import run_cli, write

ZHENG = (
    "d_Duck_Identification",
    "d_jn-product",
    "f201_Emotion_FULL",
    "s4_Dog_data",
    "s4_Face_Sentiment_Identification",
)
POLICIES = ("latest", "first", "keep-all", "error")


def _expected(path: Path, repeats: str, taxonomy: Taxonomy | None = None) -> CodedAnnotations:
    """What the general path gives: read_table, then each task coded."""
    table = read_table(path, "annotations", taxonomy=taxonomy, repeats=repeats)
    return encode_tasks(table, repeats=repeats, n_set_aside=repeats_set_aside(table))


def _fast(path: Path, repeats: str, taxonomy: Taxonomy | None = None) -> CodedAnnotations | None:
    return _read_fast(path, _Options({}, taxonomy or Taxonomy(), repeats, None, None, None))


def _assert_same_codes(got: CodedAnnotations, want: CodedAnnotations) -> None:
    assert got.task_names == want.task_names
    assert (got.n_set_aside, got.repeats, got.has_task) == (
        want.n_set_aside,
        want.repeats,
        want.has_task,
    )
    for name in want.task_names:
        a, b = got.tasks[name], want.tasks[name]
        assert a.items.tolist() == b.items.tolist()
        assert a.raters.tolist() == b.raters.tolist()
        assert a.labels.tolist() == b.labels.tolist()
        assert pa.array(a.item_names).to_pylist() == pa.array(b.item_names).to_pylist()
        assert (a.rater_names, a.categories, a.n_duplicates) == (
            b.rater_names,
            b.categories,
            b.n_duplicates,
        )


# -- the Zheng et al. (2017) sets: every estimator and the agreement suite ---------------


@pytest.mark.parametrize("name", ZHENG)
def test_zheng_codes_equal_the_general_reader(data_dir: Path, name: str) -> None:
    path = data_dir / "zheng2017" / name / "answer.csv"
    fast = _fast(path, "latest")
    assert fast is not None, "a plain CSV in the long layout takes the fast path"
    _assert_same_codes(fast, _expected(path, "latest"))


@pytest.mark.parametrize("name", ZHENG)
def test_zheng_inference_equal_from_codes(data_dir: Path, name: str) -> None:
    base = data_dir / "zheng2017" / name
    table = read_table(base / "answer.csv")
    coded = read_labels(base / "answer.csv")
    gold = read_table(base / "truth.csv", "gold")
    methods = ("mv", "wmv", "ds", "onecoin", "glad", "mace") if name == "d_Duck_Identification" else (
        "mv", "ds", "onecoin")  # fmt: skip
    for method in methods:
        want = infer_labels(table, method, gold)
        got = infer_labels(coded, method, gold)
        assert got.labels.equals(want.labels), method
        assert got.posteriors.select(["item_id", "label"]).equals(
            want.posteriors.select(["item_id", "label"])
        )
        p_got = got.posteriors["probability"].to_numpy()
        p_want = want.posteriors["probability"].to_numpy()
        np.testing.assert_allclose(p_got, p_want, rtol=0, atol=1e-12)
        assert got.summary()["accuracy"] == pytest.approx(want.summary()["accuracy"], abs=1e-12)
        assert got.n_iter == want.n_iter and got.notes == want.notes
        assert got.raters.column_names == want.raters.column_names
        for col in ("rater_id", "n_labels", "n_gold"):
            assert got.raters[col].equals(want.raters[col])
        np.testing.assert_allclose(
            got.raters["accuracy"].to_numpy(), want.raters["accuracy"].to_numpy(), atol=1e-12
        )


def _records_match(got: list[dict[str, object]], want: list[dict[str, object]]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for key, value in b.items():
            if isinstance(value, float):
                assert a[key] == pytest.approx(value, abs=1e-12, nan_ok=True), key
            else:
                assert a[key] == value, key


@pytest.mark.parametrize("name", ZHENG)
@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_zheng_agreement_equal_from_codes(data_dir: Path, name: str, level: str) -> None:
    path = data_dir / "zheng2017" / name / "answer.csv"
    want = agreement(read_table(path), level=level, n_boot=200)
    got = agreement(read_labels(path), level=level, n_boot=200)
    assert got.n_duplicates == want.n_duplicates
    _records_match([r.to_dict() for r in got.records], [r.to_dict() for r in want.records])


# -- generated tables: repeats, tasks, blanks, padded values, timestamps -------------------

_TIMES = (None, "", "2024-03-01T10:00:00Z", "2024-03-01 11:00:00", "2024-03-01T12:00:00+02:00")


@st.composite
def _tables(draw: st.DrawFn) -> dict[str, list[str | None]]:
    n = draw(st.integers(1, 30))
    cols: dict[str, list[str | None]] = {
        "item_id": draw(st.lists(st.sampled_from(["i1", "i2", " i1", "i3", "10"]), min_size=n, max_size=n)),
        "rater_id": draw(st.lists(st.sampled_from(["r1", "r2", "r2 ", "r3"]), min_size=n, max_size=n)),
        "label": draw(st.lists(st.sampled_from(["a", "b", " a", "c"]), min_size=n, max_size=n)),
    }  # fmt: skip
    if draw(st.booleans()):
        tasks = [None, "", "q", "label", " q"]
        cols["task"] = draw(st.lists(st.sampled_from(tasks), min_size=n, max_size=n))
    if draw(st.booleans()):
        cols["submitted_at"] = draw(st.lists(st.sampled_from(_TIMES), min_size=n, max_size=n))
    if draw(st.booleans()):
        cols["queue"] = draw(st.lists(st.sampled_from(["x", "y"]), min_size=n, max_size=n))
    return cols


def _write(folder: Path, cols: dict[str, list[str | None]], kind: str) -> Path:
    if kind == "parquet":
        path = folder / "a.parquet"
        pq.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()}), path)
        return path
    path = folder / "a.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(list(cols))
        out.writerows(zip(*cols.values(), strict=True))
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cols=_tables(), kind=st.sampled_from(["csv", "parquet"]), policy=st.sampled_from(POLICIES))
def test_generated_codes_equal_the_general_reader(
    cols: dict[str, list[str | None]], kind: str, policy: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), cols, kind)
        try:
            want = _expected(path, policy)
        except InputError as exc:  # only a repeat under "error" is bad in these tables
            assert policy == "error" and "refused by the repeat policy error" in str(exc)
            assert _fast(path, policy) is None
            with pytest.raises(InputError) as raised:
                read_labels(path, repeats=policy)
            assert str(raised.value) == str(exc)
            return
        fast = _fast(path, policy)
        assert fast is not None
        _assert_same_codes(fast, want)


@settings(max_examples=30, deadline=None)
@given(cols=_tables(), kind=st.sampled_from(["csv", "parquet"]), data=st.data())
def test_generated_missing_values_give_the_same_error(
    cols: dict[str, list[str | None]], kind: str, data: st.DataObject
) -> None:
    column = data.draw(st.sampled_from(["item_id", "rater_id", "label"]))
    row = data.draw(st.integers(0, len(cols["label"]) - 1))
    cols[column][row] = data.draw(st.sampled_from([None, "", "  "]))
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), cols, kind)
        with pytest.raises(InputError) as want:
            read_table(path)
        with pytest.raises(InputError) as got:
            read_labels(path)
        assert str(got.value) == str(want.value)
        assert "missing value" in str(got.value)


def test_taxonomy_checked_per_task(tmp_path: Path) -> None:
    text = "item_id,rater_id,label,task\ni1,r1,spam,label\ni1,r2,3,stars\ni2,r1,none,\n"
    path = write(tmp_path / "a.csv", text)
    tax = Taxonomy(labels=("spam", "none"))
    fast = _fast(path, "latest", tax)
    assert fast is not None and fast.task_names == ("label", "stars")
    _assert_same_codes(fast, _expected(path, "latest", tax))
    bad = write(tmp_path / "b.csv", text + "i2,r2,spma,label\n")
    assert _fast(bad, "latest", tax) is None
    with pytest.raises(InputError) as want:
        read_table(bad, taxonomy=tax)
    with pytest.raises(InputError) as got:
        read_labels(bad, taxonomy=tax)
    assert (
        str(got.value)
        == str(want.value)
        == (
            f"{bad}:5: label: unknown label 'spma' (did you mean 'spam'?); the taxonomy has: spam, none"
        )
    )


def test_other_formats_fall_back_to_the_general_reader(tmp_path: Path) -> None:
    rows = [
        {"item_id": "i1", "rater_id": "r1", "label": "a"},
        {"item_id": "i1", "rater_id": "r2", "label": "b"},
    ]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")  # fmt: skip
    assert _fast(path, "latest") is None
    _assert_same_codes(read_labels(path), _expected(path, "latest"))


def test_unused_columns_are_not_read(tmp_path: Path) -> None:
    """Only the columns an analysis uses are checked (ingest still checks every one)."""
    text = "item_id,rater_id,label,duration_s\ni1,r1,a,-3\ni1,r2,a,5\n"
    path = write(tmp_path / "a.csv", text)
    with pytest.raises(InputError, match="duration_s: '-3' is out of range"):
        read_table(path)
    coded = read_labels(path)
    assert coded.tasks["label"].categories == ("a",) and coded.n_rows == 2


# -- bad input: the same located error, in the library and on the command line -------------

BAD = {
    "missing label": "item_id,rater_id,label\ni1,r1,a\ni1,r2,\n",
    "blank item": "item_id,rater_id,label\ni1,r1,a\n   ,r2,b\n",
    "bad time": "item_id,rater_id,label,submitted_at\ni1,r1,a,2024-01-01\ni1,r2,a,yesterday\n",
    "missing column": "item_id,label\ni1,a\n",
    "too many fields": "item_id,rater_id,label\ni1,r1,a\ni1,r2,b,c\n",
    "header only": "item_id,rater_id,label\n",
    "clashing column": "item_id,worker,label,rater_id\ni1,w1,a,x\n",
    "not wide": "item_id,notes,score\ni1,hello,3\ni2,bye,4\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_same_error_as_read_table(tmp_path: Path, case: str) -> None:
    path = write(tmp_path / "bad.csv", BAD[case])
    column_map = {"rater_id": "worker"} if case == "clashing column" else {}
    with pytest.raises(InputError) as want:
        read_table(path, column_map=column_map)
    with pytest.raises(InputError) as got:
        read_labels(path, column_map=column_map)
    assert got.value.problems == want.value.problems and got.value.more == want.value.more


def _cli_lines(exc: InputError) -> list[str]:
    """What the command line prints for ``exc`` (cli.main)."""
    lines = [f"error: {exc}"] + [f"  also: {p}" for p in exc.problems[1:]]
    return lines + ([f"  … and {exc.more:,} more"] if exc.more else [])


@pytest.mark.parametrize("case", ["missing label", "bad time", "too many fields", "header only"])
def test_bad_input_same_lines_on_the_command_line(tmp_path: Path, case: str) -> None:
    path = write(tmp_path / "bad.csv", BAD[case])
    with pytest.raises(InputError) as want:
        read_table(path)
    for command in (("agreement",), ("infer", "--method", "mv"), ("relabel",)):
        proc = run_cli(*command, str(path), cwd=tmp_path, ok=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == _cli_lines(want.value), command


def test_parquet_null_and_refused_repeat_same_lines_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    table = {
        "item_id": ["i1", "i1", "i2"],
        "rater_id": ["r1", "r2", "r1"],
        "label": ["a", None, "b"],
    }
    pq.write_table(pa.table(table), path)
    with pytest.raises(InputError) as want:
        read_table(path)
    proc = run_cli("infer", str(path), "--method", "ds", cwd=tmp_path, ok=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == _cli_lines(want.value)
    assert proc.stderr.startswith(f"error: {path}:2: label: missing value")
    table["label"] = ["a", "b", "b"]
    table["rater_id"] = ["r1", "r1", "r1"]
    pq.write_table(pa.table(table), path)
    with pytest.raises(InputError) as refused:
        read_table(path, repeats="error")
    proc = run_cli("agreement", str(path), "--repeats", "error", cwd=tmp_path, ok=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == _cli_lines(refused.value)
    assert "refused by the repeat policy error: first given on line 1" in proc.stderr


# -- the command line on a file: outputs built from the codes -------------------------------


def test_infer_out_and_json_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 300
    truth = rng.integers(0, 3, n)
    items = np.repeat(np.arange(n), 3)
    noisy = np.where(rng.random(3 * n) < 0.8, truth[items], rng.integers(0, 3, 3 * n))
    table = pa.table({
        "item_id": [f"i{i}" for i in items],
        "rater_id": [f"r{r}" for r in rng.integers(0, 12, 3 * n)],
        "label": [f"c{v}" for v in noisy],
    })  # fmt: skip
    path = tmp_path / "a.parquet"
    pq.write_table(table, path)
    out = tmp_path / "labels.parquet"
    shown = run_cli("infer", str(path), "-m", "ds", "--out", str(out), cwd=tmp_path).stdout
    assert f"wrote {n:,} labels to {out}" in shown
    data = json.loads(
        run_cli("infer", str(path), "-m", "ds", "--format", "json", cwd=tmp_path).stdout
    )
    written = pq.read_table(out)
    assert written.column_names == ["item_id", "label", "task"]
    assert written.to_pylist() == data["labels"]
    want = infer_labels(read_table(path), "ds").labels
    assert written.equals(want)


def test_one_task_codes_are_accepted(data_dir: Path) -> None:
    """A table without a task column, coded by encode_labels, fits and agrees as the table."""
    from opsloop.stats._encode import encode_labels
    from tests.test_inference import load_zheng

    ans, truth = load_zheng(data_dir, "s4_Dog_data")
    coded = encode_labels(ans, repeats="keep-all")
    want, got = infer_labels(ans, "ds", truth), infer_labels(coded, "ds", truth)
    assert "task" not in got.labels.column_names and got.labels.equals(want.labels)
    np.testing.assert_allclose(
        got.posteriors["probability"].to_numpy(),
        want.posteriors["probability"].to_numpy(),
        atol=1e-12,
    )
    assert got.summary()["accuracy"] == pytest.approx(want.summary()["accuracy"], abs=1e-12)
    _records_match(
        [r.to_dict() for r in agreement(coded, n_boot=100).records],
        [r.to_dict() for r in agreement(ans, n_boot=100).records],
    )


def test_relabel_on_a_file_equals_the_table_path(data_dir: Path, tmp_path: Path) -> None:
    from opsloop.inference import rank_label_errors

    path = data_dir / "zheng2017" / "s4_Dog_data" / "answer.csv"
    out = run_cli("relabel", str(path), "--top", "5", "--format", "json", cwd=tmp_path).stdout
    want = rank_label_errors(read_table(path), method="ds", top=5).relabel.to_pylist()
    got = json.loads(out)
    assert [r["rank"] for r in got] == [1, 2, 3, 4, 5]
    assert [r["item_id"] for r in got] == [r["item_id"] for r in want]
    assert [r["quality"] for r in got] == pytest.approx([r["quality"] for r in want], abs=1e-12)


@pytest.mark.parametrize("policy", ["latest", "first", "keep-all"])
def test_read_relation_keeps_the_rows_read_table_keeps(tmp_path: Path, policy: str) -> None:
    """The rows left in DuckDB (``read_relation``) are the rows ``read_table`` returns, with
    the same count set aside, under each repeat policy."""
    import duckdb

    from opsloop.io._read import read_relation

    path = write(tmp_path / "a.csv", "item_id,rater_id,label,submitted_at\n"
                 "i1,r1,a,2025-01-01T10:00\ni1,r1,b,2025-01-02T10:00\ni2,r1,a,2025-01-01T10:00\n"
                 "i2,r2, b ,2025-01-03T10:00\ni1,r2,a,2025-01-01T09:00\n")  # fmt: skip
    table = read_table(path, "annotations", repeats=policy)
    con = duckdb.connect()
    try:
        rel, set_aside = read_relation(con, path, "annotations", repeats=policy)
        got = rel.select("item_id, rater_id, label, submitted_at").fetchall()
    finally:
        con.close()
    want = list(zip(*(table[c].to_pylist() for c in ("item_id", "rater_id", "label",
                                                      "submitted_at")), strict=True))  # fmt: skip
    assert sorted(got) == sorted(want)
    assert set_aside == repeats_set_aside(table) == (0 if policy == "keep-all" else 1)
