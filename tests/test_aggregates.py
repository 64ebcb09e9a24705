"""The shared aggregates of an analysis run equal plain row-by-row counts.

The KPI cube is built from two queries (work and audit sums per day and slice;
gold-judged label pairs, from which the gold sums follow), the rater table from
two (work and audits; gold), with the item and rater attributes joined as codes;
the model regression check counts both versions in one pass when predictions
and gold pair one to one. Each is checked here against a count made row by row in
Python over the same input rows (never against opsloop's own output), including
inputs with several audits of one annotation, repeated predictions and gold rows,
and attributes that meet no annotation.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from opsloop.config import Config, ProjectConfig, Taxonomy
from opsloop.engine import Workspace, _memory_bytes
from opsloop.evals import model_regression_findings
from opsloop.evals._regressions import _counts
from opsloop.io import ingest
from opsloop.monitor import build_cube, judged_annotations, judged_view, workspace_cube
from opsloop.monitor._cube import dense_key
from opsloop.monitor._cube_arrays import merge_groups
from opsloop.rca._workspace_inputs import workspace_rater_table
from opsloop.session import Session, release_freed_memory
from opsloop.views import with_attributes

LABELS = ("none", "spam", "hate")
SEVERITY = {"spam": 1.0, "hate": 3.0}
FIRST = dt.datetime(2025, 1, 6, 8)  # a Monday
CONFIG = Config(
    project=ProjectConfig(name="aggregates"),
    taxonomy=Taxonomy(labels=LABELS, benign=("none",), severity=SEVERITY, critical_severity=3.0),
    sla_hours=24.0,
)


def _rows() -> dict[str, pa.Table]:
    """150 items rated by 2–3 of 8 raters over three weeks; gold on two items in three,
    audits (some annotations audited twice) with inclusion probabilities; one rater and
    one locale meet no annotation."""
    rng = np.random.default_rng(21)
    items = [f"i{k:03d}" for k in range(150)]
    raters = [f"r{k}" for k in range(8)]
    truth = rng.choice(LABELS, size=len(items), p=[0.5, 0.3, 0.2])
    ann: dict[str, list[Any]] = defaultdict(list)
    for k, item in enumerate(items):
        for r in rng.choice(7, size=int(rng.integers(2, 4)), replace=False):  # r7 rates nothing
            right = rng.random() < 0.8
            ann["item_id"].append(item)
            ann["rater_id"].append(raters[r])
            ann["label"].append(str(truth[k] if right else rng.choice(LABELS)))
            when = FIRST + dt.timedelta(hours=int(rng.integers(0, 21 * 24)))
            ann["submitted_at"].append(None if rng.random() < 0.03 else when)
            ann["duration_s"].append(float(rng.integers(5, 120)))
            ann["unit_cost_usd"].append(float(rng.integers(1, 30)) / 100)
            ann["queue"].append("escalation" if k % 5 == 0 else "standard")
            ann["is_gold_check"].append(bool(k % 7 == 0))
    annotations = pa.table(ann)
    item_rows = pa.table({
        "item_id": items,
        "locale": ["de" if k % 3 else "fr" for k in range(150)],
        "created_at": [FIRST - dt.timedelta(hours=int(h)) for h in rng.integers(0, 60, 150)],
    })  # fmt: skip
    item_rows = pa.concat_tables([item_rows, pa.table({
        "item_id": ["orphan"], "locale": ["it"], "created_at": [FIRST]})])  # fmt: skip
    rater_rows = pa.table({
        "rater_id": raters,
        "vendor": ["acme" if k < 4 else "bolt" for k in range(8)],
        "hired_at": [FIRST - dt.timedelta(days=int(d)) for d in (5, 40, 100, 400) * 2],
    })  # fmt: skip
    gold_items = [k for k in range(150) if k % 3]
    gold = pa.table({"item_id": [items[k] for k in gold_items],
                     "label": [str(truth[k]) for k in gold_items]})  # fmt: skip
    picked = rng.random(annotations.num_rows) < 0.25
    audited = annotations.filter(pa.array(picked))
    twice = audited.slice(0, 6)  # six annotations audited twice
    audits = pa.concat_tables([audited, twice]).select(["item_id", "rater_id", "label"])
    verdict = np.where(rng.random(audits.num_rows) < 0.85, "correct", "incorrect")
    audits = pa.table({"item_id": audits["item_id"], "rater_id": audits["rater_id"],
                       "verdict": verdict,
                       "inclusion_prob": rng.choice([0.1, 0.25, 0.5], audits.num_rows)})  # fmt: skip
    return {"annotations": annotations, "items": item_rows, "raters": rater_rows, "gold": gold,
            "audits": audits}  # fmt: skip


def _day(ts: dt.datetime) -> int:
    return (ts.date() - dt.date(1970, 1, 1)).days


def _reference(t: dict[str, pa.Table]) -> dict[tuple[str, int, str], float]:
    """Sums per (measure, day, vendor) and (measure, day, locale), row by row."""
    truth = dict(zip(t["gold"]["item_id"].to_pylist(), t["gold"]["label"].to_pylist(),
                     strict=True))  # fmt: skip
    locale = dict(zip(t["items"]["item_id"].to_pylist(), t["items"]["locale"].to_pylist(),
                      strict=True))  # fmt: skip
    created = dict(zip(t["items"]["item_id"].to_pylist(), t["items"]["created_at"].to_pylist(),
                       strict=True))  # fmt: skip
    vendor = dict(zip(t["raters"]["rater_id"].to_pylist(), t["raters"]["vendor"].to_pylist(),
                      strict=True))  # fmt: skip
    audits: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for a in t["audits"].to_pylist():
        audits[(a["item_id"], a["rater_id"])].append((a["verdict"], a["inclusion_prob"]))
    out: dict[tuple[str, int, str], float] = defaultdict(float)
    for row in t["annotations"].to_pylist():
        if row["submitted_at"] is None:
            continue
        day = _day(row["submitted_at"])
        sums: dict[str, float] = {"ann_n": 1.0, "aht_s": row["duration_s"]}
        sums["sla_k"] = float((row["submitted_at"] - created[row["item_id"]]).total_seconds()
                              <= 24 * 3600)  # fmt: skip
        gold = truth.get(row["item_id"])
        if gold is not None:
            sums["g_n"] = 1.0
            sums["g_k"] = float(gold == row["label"])
            sums["leak_k"] = float(gold != "none" and row["label"] == "none")
            sums["sev_s"] = SEVERITY.get(gold, 0.0)
            sums["crit_k"] = float(gold == "hate" and row["label"] != gold)
            sums["hp_k"] = float(row["is_gold_check"] and gold == row["label"])
        for verdict, pi in audits[(row["item_id"], row["rater_id"])]:
            sums["aud_n"] = sums.get("aud_n", 0.0) + 1.0
            sums["aud_k"] = sums.get("aud_k", 0.0) + float(verdict == "correct")
            sums["aud_w"] = sums.get("aud_w", 0.0) + 1.0 / pi
            sums["aud_a"] = sums.get("aud_a", 0.0) + (1.0 - pi) / pi**2
        for m, v in sums.items():
            out[(m, day, vendor[row["rater_id"]])] += v
            out[(m, day, locale[row["item_id"]])] += v
    return out


MEASURES = ("ann_n", "aht_s", "sla_k", "g_n", "g_k", "leak_k", "sev_s", "crit_k", "hp_k",
            "aud_n", "aud_k", "aud_w", "aud_a")  # fmt: skip


def _check_cube(cube: Any, ref: dict[tuple[str, int, str], float]) -> None:
    for dim in ("vendor", "locale"):
        r = cube.rollup([dim], period="day", measures=list(MEASURES))
        got = {(m, int(r.keys["day"][i]), cube.levels[dim][int(r.keys[dim][i])]): r.sums[m][i]
               for m in MEASURES for i in range(len(r))}  # fmt: skip
        keys = {k for k in ref if k[2] in cube.levels[dim]}
        assert keys, dim
        for key in keys:
            assert got[key] == pytest.approx(ref[key], rel=1e-12, abs=1e-12), key
        assert all(v == pytest.approx(0.0) for k, v in got.items() if k not in ref), dim
    assert "it" not in cube.levels["locale"]  # a value no annotation meets is no level


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return _rows()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, tables: dict[str, pa.Table]) -> Path:
    root = tmp_path_factory.mktemp("aggregates")
    ws = Workspace.init(root / "ws", CONFIG)
    for name in ("items", "raters", "annotations", "gold", "audits"):
        table = tables[name]
        if name == "audits":  # a repeated audit would be a re-review: keep the first of each
            seen: set[tuple[str, str]] = set()
            keep = []
            for a, r in zip(table["item_id"].to_pylist(), table["rater_id"].to_pylist(),
                            strict=True):  # fmt: skip
                keep.append((a, r) not in seen)
                seen.add((a, r))
            table = table.filter(pa.array(keep))
        pcsv.write_csv(table, root / f"{name}.csv")
        ingest(ws, name, [root / f"{name}.csv"])
    ws.close()
    return root / "ws"


@pytest.fixture()
def ws(workspace: Path) -> Iterator[Workspace]:
    w = Workspace.open(workspace)
    yield w
    w.close()


def _unique_audits(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    a = tables["audits"]
    first = {}
    for i, key in enumerate(zip(a["item_id"].to_pylist(), a["rater_id"].to_pylist(),
                                strict=True)):  # fmt: skip
        first.setdefault(key, i)
    return {**tables, "audits": a.take(pa.array(sorted(first.values())))}


def test_workspace_cube_equals_a_row_by_row_count(
    ws: Workspace, tables: dict[str, pa.Table]
) -> None:
    _check_cube(workspace_cube(ws), _reference(_unique_audits(tables)))


def test_cube_of_a_view_counts_every_audit_of_an_annotation(tables: dict[str, pa.Table]) -> None:
    t = {k: ibis.memtable(v) for k, v in tables.items()}
    view = t["annotations"].left_join(t["items"], "item_id").left_join(t["raters"], "rater_id")
    cube = build_cube(view, CONFIG, gold=t["gold"], audits=t["audits"], dims=["vendor", "locale"])
    _check_cube(cube, _reference(tables))


def test_cube_pairs_are_the_judged_annotations(ws: Workspace, tables: dict[str, pa.Table]) -> None:
    cube = workspace_cube(ws)
    pairs = cube.pairs
    assert pairs is not None
    truth = dict(zip(tables["gold"]["item_id"].to_pylist(), tables["gold"]["label"].to_pylist(),
                     strict=True))  # fmt: skip
    want: dict[tuple[int, str, str], int] = defaultdict(int)
    for row in tables["annotations"].to_pylist():
        if row["submitted_at"] is not None and row["item_id"] in truth:
            want[(_day(row["submitted_at"]), truth[row["item_id"]], row["label"])] += 1
    got: dict[tuple[int, str, str], float] = defaultdict(float)
    for d, t_, x, n in zip(pairs.day, pairs.truth, pairs.label, pairs.n, strict=True):
        got[(int(d), pairs.labels[t_], pairs.labels[x])] += n
    assert got == want
    stop = int(np.median(cube.day))
    early = cube.before(stop).pairs
    assert early is not None and early.n.sum() == sum(n for k, n in want.items() if k[0] < stop)
    weekly = pairs.weekly()
    assert weekly.n.sum() == pairs.n.sum() and len(weekly) < len(pairs)
    assert set((weekly.day + 3) % 7) == {0}  # Mondays (day 0, 1970-01-01, was a Thursday)


def test_rater_table_equals_a_row_by_row_count(ws: Workspace, tables: dict[str, pa.Table]) -> None:
    raters = workspace_rater_table(ws, ("label",), ["vendor"], grain="day")
    ref = _reference(_unique_audits(tables))
    vendor = dict(zip(tables["raters"]["rater_id"].to_pylist(),
                      tables["raters"]["vendor"].to_pylist(), strict=True))  # fmt: skip
    got: dict[tuple[str, int, str], float] = defaultdict(float)
    for m in ("ann_n", "aht_s", "g_n", "g_k", "sev_s", "aud_n", "aud_w", "aud_a"):
        for i in range(len(raters)):
            key = (m, int(raters.day[i]), vendor[raters.rater_ids[int(raters.rater[i])]])
            got[key] += raters.sums[m][i]
        for key, value in ref.items():
            if key[0] == m and key[2] in ("acme", "bolt"):
                assert got[key] == pytest.approx(value, rel=1e-12), key
    assert raters.attributes["vendor"] == tuple(vendor[r] for r in raters.rater_ids)


def test_judged_view_is_the_judged_annotations_with_attributes(ws: Workspace) -> None:
    fast = judged_view(ws)
    plain = with_attributes(ws, judged_annotations(ws.table("annotations"), ws.table("gold")))
    assert fast is not None and fast.columns == plain.columns
    order = list(fast.columns)
    a = fast.to_pyarrow().sort_by([(c, "ascending") for c in ("item_id", "rater_id")])
    b = plain.to_pyarrow().sort_by([(c, "ascending") for c in ("item_id", "rater_id")])
    assert a.select(order).equals(b.select(order))


def test_a_run_keeps_the_store_settings_outside_its_queries(ws: Workspace) -> None:
    con = ws.backend().con

    def setting(name: str) -> str:
        row = con.execute("SELECT current_setting(?)", [name]).fetchone()
        return str(row[0]) if row else ""

    before = (setting("disabled_optimizers"), setting("memory_limit"))
    with pytest.raises(RuntimeError), ws.analysis_settings():
        assert "build_side_probe_side" in setting("disabled_optimizers")
        assert setting("memory_limit") != before[1]
        raise RuntimeError("a step failed")
    assert (setting("disabled_optimizers"), setting("memory_limit")) == before
    run = Session(ws)
    run.cube()
    assert (setting("disabled_optimizers"), setting("memory_limit")) == before
    release_freed_memory()  # harmless at any time


def test_memory_limit_text() -> None:
    assert _memory_bytes("1536MB") == 1_536_000_000
    assert _memory_bytes("1.5 GiB") == 3 * 2**29
    assert _memory_bytes("80%") is None


def _brute_counts(preds: pa.Table, gold: pa.Table, base: str,
                  cand: str) -> tuple[dict[tuple[str, str], int],
                                      dict[tuple[str, str, str], int]]:  # fmt: skip
    """Matches per version and paired label triples, by a nested loop (the inner joins'
    meaning: every pair of rows with the same item)."""
    matched: dict[tuple[str, str], int] = defaultdict(int)
    paired: dict[tuple[str, str, str], int] = defaultdict(int)
    p = preds.to_pylist()
    for g in gold.to_pylist():
        for version in (base, cand):
            matched[(version, "label")] += sum(
                1 for r in p if r["item_id"] == g["item_id"] and r["model_version"] == version
            )
        bs = [r["label"] for r in p if r["item_id"] == g["item_id"] and r["model_version"] == base]
        cs = [r["label"] for r in p if r["item_id"] == g["item_id"] and r["model_version"] == cand]
        for b in bs:
            for c in cs:
                paired[(g["label"], b, c)] += 1
    return dict(matched), dict(paired)


@pytest.mark.parametrize("repeat", ["none", "prediction", "gold_other_label", "gold_same_label"])
def test_model_counts_equal_the_joins(repeat: str) -> None:
    rng = np.random.default_rng(4)
    ids = [f"m{k}" for k in range(60)]
    gold = pa.table({"item_id": ids, "label": rng.choice(LABELS, 60)})
    preds = pa.table({"item_id": ids[:50] + ids[10:60], "model_version": ["v1"] * 50 + ["v2"] * 50,
                      "label": rng.choice(LABELS, 100)})  # fmt: skip
    if repeat == "prediction":  # a repeated prediction with another label
        preds = pa.concat_tables([preds, pa.table({"item_id": [ids[12]], "model_version": ["v2"],
                                                   "label": ["spam"]})])  # fmt: skip
    if repeat.startswith("gold"):  # a repeated gold row, with another label or the same one
        other = next(x for x in LABELS if x != gold["label"][20].as_py())
        label = other if repeat == "gold_other_label" else gold["label"][20].as_py()
        gold = pa.concat_tables([gold, pa.table({"item_id": [ids[20]], "label": [label]})])
    matched, rows = _counts(ibis.memtable(preds), ibis.memtable(gold), "v1", "v2")
    want_matched, want_paired = _brute_counts(preds, gold, "v1", "v2")
    assert {(r["model_version"], r["task"]): r["n"] for r in matched} == want_matched
    assert {(r["gold_label"], r["base_label"], r["cand_label"]): r["n"] for r in rows} == (
        want_paired)  # fmt: skip
    model_regression_findings(preds, gold)  # the whole check runs on either path


def test_merge_groups_adds_the_parts() -> None:
    a = pa.table({"k": ["x", "y", "x"], "d": [1, 1, 2], "m": [1.0, 2.0, 3.0]})
    b = pa.table({"k": ["y", "z"], "d": [1, 1], "m": [10.0, 20.0], "n": [5.0, None]})
    out = merge_groups([a, b], ["k", "d"]).to_pylist()
    got = {(r["k"], r["d"]): (r["m"], r["n"]) for r in out}
    assert got == {("x", 1): (1.0, 0.0), ("y", 1): (12.0, 5.0), ("x", 2): (3.0, 0.0),
                   ("z", 1): (20.0, 0.0)}  # fmt: skip
    whole = merge_groups([a.select(["m"]), b.select(["m", "n"])], []).to_pylist()
    assert whole == [{"m": 36.0, "n": 5.0}]


def test_dense_key_stays_exact_beyond_64_bits() -> None:
    rng = np.random.default_rng(0)
    cols = [rng.integers(0, 2**20, 500) for _ in range(5)]  # 100 bits of combinations
    cols = [np.concatenate([c, c[:50]]) for c in cols]  # 50 repeated rows
    key = dense_key(cols)
    rows = list(zip(*(c.tolist() for c in cols), strict=True))
    same_rows = {(i, j) for i in range(550) for j in (i - 500,) if j >= 0}
    assert all(key[i] == key[j] for i, j in same_rows)
    assert len(set(key.tolist())) == len(set(rows))
