"""The Parquet branch of the fast path (io._label_columns) and the coding pieces it uses.

``read_labels`` reads a Parquet file with pyarrow alone (rater, label and task codes
from the file's dictionary pages, items by one pass when the file is in item order);
these tests hold it to what DuckDB's general reader (``read_table``, then coding)
gives, on generated files with typed columns, several row groups, tasks with blanks,
repeats ordered by typed timestamps; to the same located error for bad bytes; and
check that it really is the branch taken (and that it is not where it should not
be). The count patterns, the string codes and the Student t quantile behind
``opsloop agreement FILE`` are checked against the plain computations they replace
(NumPy's ``unique``, SciPy's ``stdtrit``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import stdtrit

from opsloop.errors import InputError
from opsloop.io import read_labels, read_table
from opsloop.io._label_columns import parquet_label_columns
from opsloop.io._labels import _any_repeat
from opsloop.metrics import agreement
from opsloop.metrics._kernel import compress, count_matrix, item_patterns, t_quantile
from opsloop.stats._encode import arrow_mask, arrow_strings, numpy_ints, string_codes

from .helpers import OPSLOOP, run_cli
from .test_read_labels import POLICIES, _assert_same_codes, _expected, _fast

_UTC = dt.UTC
_STAMPS = (
    dt.datetime(2024, 3, 1, 10, 0, tzinfo=_UTC),
    dt.datetime(2024, 3, 1, 9, 0, tzinfo=_UTC),
    dt.datetime(2024, 3, 1, 10, 0, 0, 1000, tzinfo=_UTC),
    dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=_UTC),
)


@st.composite
def _typed_tables(draw: st.DrawFn) -> pa.Table:
    """Label tables with the column types Parquet files carry, repeats likely."""
    n = draw(st.integers(1, 40))
    item = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    if draw(st.booleans()):
        item.sort()  # a file in item order: the codes come from runs, not hashing
    cols: dict[str, pa.Array] = {}
    if draw(st.booleans()):
        cols["item_id"] = pa.array(item, pa.int64())
    else:
        cols["item_id"] = pa.array([f"i{v}" if v != 6 else " i1" for v in item], pa.string())
    raters = draw(st.lists(st.sampled_from(["r1", "r2", "r3", "r10"]), min_size=n, max_size=n))
    cols["rater_id"] = pa.array(raters, pa.string())
    labels = draw(st.lists(st.sampled_from(["b", "a", "c", "a "]), min_size=n, max_size=n))
    cols["label"] = pa.array(labels, pa.string())
    if draw(st.booleans()):
        cols["label"] = cols["label"].dictionary_encode()  # a categorical column
    if draw(st.booleans()):
        tasks = st.sampled_from([None, "q", "label", "z"])
        cols["task"] = pa.array(draw(st.lists(tasks, min_size=n, max_size=n)), pa.string())
    if draw(st.booleans()):
        unit = draw(st.sampled_from(["s", "ms", "us"]))
        tz = draw(st.sampled_from([None, "UTC", "Europe/Berlin"]))
        stamps = draw(st.lists(st.sampled_from((None, *_STAMPS)), min_size=n, max_size=n))
        values = [s if s is None or tz else s.replace(tzinfo=None) for s in stamps]
        times = pa.array(values, pa.timestamp("us", "UTC" if tz else None))
        cols["submitted_at"] = times.cast(pa.timestamp(unit, tz), safe=False)
    return pa.table(cols)


def _naive_utc(table: pa.Table) -> pa.Table:
    """Zoned times as the naive UTC times read_table takes them for. (DuckDB's reader
    converts a zoned time to Python with pytz, which is not installed: the general
    reader is given the same instants without a zone.)"""
    if "submitted_at" not in table.column_names or table["submitted_at"].type.tz is None:
        return table
    column = table["submitted_at"]
    naive = column.cast(pa.int64()).cast(pa.timestamp(column.type.unit))
    return table.set_column(table.column_names.index("submitted_at"), "submitted_at", naive)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=_typed_tables(), policy=st.sampled_from(POLICIES), rows=st.integers(1, 8))
def test_parquet_codes_equal_the_general_reader(table: pa.Table, policy: str, rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.parquet"
        pq.write_table(table, path, row_group_size=rows)  # chunks with their own dictionaries
        assert parquet_label_columns(path, {}, None) is not None  # the pyarrow branch reads it
        general = Path(tmp) / "general.parquet"
        pq.write_table(_naive_utc(table), general, row_group_size=rows)
        try:
            want = _expected(general, policy)
        except InputError as exc:  # only a repeat under "error" is bad in these tables
            assert policy == "error" and "refused by the repeat policy error" in str(exc)
            assert _fast(path, policy) is None
            return
        fast = _fast(path, policy)
        assert fast is not None
        _assert_same_codes(fast, want)


def test_columns_duckdb_must_judge_are_left_to_it(tmp_path: Path) -> None:
    """Nanosecond times, numbers and Argilla's columns go to DuckDB's scan: same codes."""
    base = {"item_id": ["i1", "i1", "i2"], "rater_id": ["r1", "r2", "r1"], "label": ["a", "b", "a"]}
    cases = {
        "ns": {**base, "submitted_at": pa.array([1, 2, 3], pa.timestamp("ns"))},
        "float": {**base, "label": pa.array([1.0, 2.5, 1.0])},
        "text time": {**base, "submitted_at": ["2024-01-01", "2024-01-02", None]},
    }
    for name, cols in cases.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table(cols), path)
        assert parquet_label_columns(path, {}, None) is None, name
        fast = _fast(path, "latest")
        assert fast is not None, name
        _assert_same_codes(fast, _expected(path, "latest"))
    argilla = tmp_path / "argilla.parquet"
    pq.write_table(pa.table({**base, "label.responses": ["a", "b", "a"]}), argilla)
    assert parquet_label_columns(argilla, {}, None) is None
    assert parquet_label_columns(tmp_path / "ns.parquet", {}, ["a", "b"]) is None  # --columns
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes((tmp_path / "ns.parquet").read_bytes()[:-20])
    assert parquet_label_columns(truncated, {}, None) is None


@pytest.mark.parametrize("case", ["bad bytes", "clashing column", "empty item"])
def test_bad_parquet_same_error_as_read_table(tmp_path: Path, case: str) -> None:
    items = pa.array(["i1", "i2", "i3"])
    if case == "bad bytes":  # not UTF-8: pyarrow reads it, DuckDB refuses it
        offsets = pa.py_buffer(np.array([0, 2, 4, 6], np.int32))
        items = pa.Array.from_buffers(
            pa.string(), 3, [None, offsets, pa.py_buffer(b"i1\xff\xfei3")]
        )
    if case == "empty item":
        items = pa.array(["i1", " ", "i3"])
    cols = {"item_id": items, "rater_id": ["r1", "r1", "r2"], "label": ["a", "b", "a"]}
    column_map = {}
    if case == "clashing column":  # rater_id mapped from worker, and a rater_id column too
        cols["worker"] = ["x", "y", "z"]
        column_map = {"rater_id": "worker"}
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(cols), path)
    with pytest.raises(InputError) as want:
        read_table(path, column_map=column_map)
    with pytest.raises(InputError) as got:
        read_labels(path, column_map=column_map)
    assert got.value.problems == want.value.problems and got.value.more == want.value.more


# -- the coding helpers -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.sampled_from(["b", "a", "", "é", "a ", "ab", "z"]), max_size=40),
    sort=st.booleans(),
    dictionary=st.booleans(),
    chunk=st.integers(1, 7),
    nulls=st.lists(st.integers(0, 39), max_size=4),
)
def test_string_codes_are_ranks_in_the_sorted_distinct_values(
    values: list[str], sort: bool, dictionary: bool, chunk: int, nulls: list[int]
) -> None:
    rows: list[str | None] = list(sorted(values) if sort else values)
    for i in nulls:
        if i < len(rows):
            rows[i] = None
    parts = [pa.array(rows[i : i + chunk], pa.string()) for i in range(0, len(rows), chunk)]
    if dictionary:
        parts = [p.dictionary_encode() for p in parts]
    column = pa.chunked_array(parts, parts[0].type if parts else pa.string())
    codes, names = string_codes(column, missing="(none)")
    filled = ["(none)" if v is None else v for v in rows]
    distinct = sorted(set(filled))
    assert names.to_pylist() == distinct
    assert codes.tolist() == [distinct.index(v) for v in filled]


def test_arrow_numpy_helpers_round_trip() -> None:
    ints = pa.array(list(range(-5, 20)), pa.int16()).slice(3, 15)
    assert numpy_ints(ints).tolist() == ints.to_pylist()
    with_nulls = pa.chunked_array([[1, None, 3], [None], [7]], pa.uint32())
    assert numpy_ints(with_nulls, fill=-1).tolist() == [1, -1, 3, -1, 7]
    with pytest.raises(ValueError, match="nulls"):
        numpy_ints(with_nulls)
    flags = pa.array([True, False, None, True, False, True, True, False, True]).slice(1)
    assert numpy_ints(flags, fill=False).tolist() == [v is True for v in flags.to_pylist()]
    mask = np.array([True, False, True, True, False, False, False, False, True, False])
    assert arrow_mask(mask).to_pylist() == mask.tolist()
    assert arrow_strings(["", "é", "abc"]).to_pylist() == ["", "é", "abc"]


@settings(max_examples=200, deadline=None)
@given(
    per_item=st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=12), min_size=1, max_size=9),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_repeat_check_equals_counting_pairs(
    per_item: list[list[int]], shuffle: bool, seed: int
) -> None:
    """Neighbour comparisons (rows of an item together) or sorting: a repeat iff a pair
    (item, rater) occurs twice."""
    items = np.repeat(np.arange(len(per_item)), [len(r) for r in per_item])
    raters = np.concatenate([np.array(r) for r in per_item])
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(items))
        items, raters = items[order], raters[order]
    pairs = list(zip(items.tolist(), raters.tolist(), strict=True))
    assert _any_repeat(items * 6 + raters, items) == (len(set(pairs)) < len(pairs))


@settings(max_examples=150, deadline=None)
@given(
    q=st.integers(1, 7),
    n_items=st.integers(1, 50),
    per_item=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_item_patterns_equal_the_compressed_count_matrix(
    q: int, n_items: int, per_item: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    r = rng.integers(0, per_item + 1, n_items)
    items = np.repeat(np.arange(n_items), r)
    labels = rng.integers(0, q, len(items))
    order = rng.permutation(len(items))
    got, counts_per_item = item_patterns(items[order], labels[order], n_items, q)
    want = compress(count_matrix(items, labels, n_items, q))
    assert got.rows.tolist() == want.rows.tolist()
    assert got.mult.tolist() == want.mult.tolist()
    assert counts_per_item.tolist() == r.tolist()


def test_item_patterns_past_float_precision_use_the_matrix() -> None:
    """Many ratings of one item over many categories: the pattern number would pass 2⁵²."""
    items = np.repeat([0, 1, 2], [5000, 3, 3])
    labels = np.arange(len(items)) % 9
    got, _ = item_patterns(items, labels, 3, 9)
    want = compress(count_matrix(items, labels, 3, 9))
    assert got.rows.tolist() == want.rows.tolist() and got.mult.tolist() == want.mult.tolist()


@pytest.mark.parametrize("df", [10_000, 10_001, 123_457, 999_999, 10**9])
@pytest.mark.parametrize("p", [0.5, 0.6, 0.9, 0.95, 0.975, 0.995, 0.9995, 1 - 1e-6])
def test_t_quantile_by_expansion_equals_scipy(df: int, p: float) -> None:
    """SciPy's stdtrit (an independent implementation) to a few units in the last place."""
    assert t_quantile(df, p) == pytest.approx(float(stdtrit(df, p)), rel=2e-15, abs=1e-15)


@pytest.mark.parametrize(
    ("df", "p", "table"),
    [(2, 0.975, 4.303), (29, 0.975, 2.045), (120, 0.995, 2.617), (10_000, 0.975, 1.960)],
)
def test_t_quantile_matches_printed_tables(df: int, p: float, table: float) -> None:
    """Student t critical values as printed (Fisher & Yates 1963, Table III; NIST/SEMATECH
    e-Handbook 1.3.6.7.2), to their three decimals."""
    assert t_quantile(df, p) == pytest.approx(table, abs=5e-4)


# -- the command line on a Parquet file -------------------------------------------------------


def test_agreement_on_parquet_loads_neither_duckdb_pandas_nor_scipy(tmp_path: Path) -> None:
    """Many items (the t quantile without SciPy), item order, repeats: the same figures as
    the general reader's table gives, and none of the libraries the fast path avoids."""
    rng = np.random.default_rng(3)
    n = 12_000
    items = np.repeat(np.arange(n), 3)
    raters = (items * 7 + np.tile([0, 1, 2], n)) % 40
    labels = rng.integers(0, 4, len(items))
    table = pa.table({
        "item_id": pa.array([f"item{i:06d}" for i in items]),
        "rater_id": pa.array([f"r{r}" for r in raters]),
        "label": pa.array([f"c{v}" for v in labels]),
    })  # fmt: skip
    path = tmp_path / "labels.parquet"
    pq.write_table(table, path, row_group_size=10_000)
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "COLUMNS": "200"}
    env.pop("OPSLOOP_WORKSPACE", None)
    metrics = "krippendorff_alpha,fleiss_kappa,gwet_ac1"
    proc = subprocess.run(
        [OPSLOOP, "agreement", str(path), "-m", metrics, "--format", "json"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-500:]
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}  # fmt: skip
    avoided = sorted(m for m in modules if m.split(".")[0] in ("duckdb", "pandas", "scipy"))
    assert avoided == []
    got = json.loads(proc.stdout)
    want = agreement(read_table(path), metrics=metrics.split(","))
    assert [r["metric"] for r in got] == [r.metric for r in want.records]
    for mine, theirs in zip(got, want.records, strict=True):
        for key in ("value", "ci_low", "ci_high", "se"):
            assert mine[key] == pytest.approx(getattr(theirs, key), rel=1e-12), key
    plain = run_cli("agreement", str(path), "-m", metrics, "--format", "json", cwd=tmp_path)
    assert json.loads(plain.stdout) == got
