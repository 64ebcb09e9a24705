"""Eval regressions between model versions: compare_evals, eval_trend, `opsloop evals`.

Reference values, each from outside opsloop:

- McNemar figures of ../shared/data/README.md: discordant b = 15, c = 5 gives
  exact p = 0.041 and χ² (continuity-corrected) = 4.05; Agresti's presidential
  approval table [[794, 150], [86, 570]] (*Categorical Data Analysis*, §11.1;
  R ``mcnemar.test``) gives χ² = 17.36 uncorrected, 16.82 corrected, exact
  p = 3.7e-5.
- Cavo et al. (2012), the paired 2×2 table [[59, 6], [16, 80]] of Fagerland,
  Lydersen & Laake (2017), *Statistical Analysis of Contingency Tables*, ch. 8,
  as printed by the R package contingencytables (tests/testthat/test-ch8.R):
  McNemar exact conditional P = 0.052479, mid-P = 0.034690, Newcombe
  square-and-add interval for the difference −0.0621 (−0.1186 to −0.0046).
- XSTest v2 (Röttger et al., 2024; tests/data/xstest): on the 250 safe prompts
  llama2orig fully complies 40.4%, fully refuses 38.0% and partially refuses
  21.6%; GPT-4 fully refuses 6.4% (the paper, and ../shared/data/README.md).
- The paired llama2orig → llama2new comparison per prompt type, recomputed from
  the raw completion files with pandas and statsmodels' ``mcnemar(exact=True)``
  and ``multipletests(method="fdr_bh")``; Wilson intervals against statsmodels'
  ``proportion_confint(method="wilson")``; mid-p against scipy's binomial.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import binom
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from opsloop.errors import InputError, UsageError
from opsloop.evals import (
    MEASURES,
    compare_evals,
    eval_trend,
    xstest_evals,
)
from opsloop.stats import mcnemar_chi2, paired_difference_interval

from .helpers import run_cli, tree_digest, write

MODELS = ("gpt4", "llama2orig", "llama2new")


def pairs(both_ok: int, worse: int, better: int, both_bad: int, **extra: Any) -> pa.Table:
    """An evals table of two versions ``v1`` → ``v2`` with the given paired outcome counts."""
    base = ["pass"] * (both_ok + worse) + ["fail"] * (better + both_bad)
    cand = ["pass"] * both_ok + ["fail"] * worse + ["pass"] * better + ["fail"] * both_bad
    n = len(base)
    cols = {"model_version": ["v1"] * n + ["v2"] * n, "item_id": [f"i{i}" for i in range(n)] * 2,
            "outcome": base + cand}  # fmt: skip
    return pa.table(cols | {k: list(v) * 2 for k, v in extra.items()})


# -- published McNemar figures ----------------------------------------------------------
def test_mcnemar_b15_c5_from_the_data_readme() -> None:
    r = compare_evals(pairs(30, 15, 5, 10)).row("fail", None)
    assert (r.worse, r.better, r.n) == (15, 5, 60)
    assert r.p_value == pytest.approx(0.041, abs=5e-4)
    assert r.chi2 == pytest.approx(4.05, abs=5e-3)
    assert r.difference == pytest.approx(10 / 60)


def test_mcnemar_presidential_approval_agresti() -> None:
    # survey 1 (rows) → survey 2 (columns); "bad" = disapprove
    r = compare_evals(pairs(794, 150, 86, 570)).row("fail", None)
    assert (r.worse, r.better) == (150, 86)
    assert r.p_value == pytest.approx(3.7e-5, abs=0.05e-5)
    assert r.chi2 == pytest.approx(16.82, abs=5e-3)
    assert mcnemar_chi2(r.worse, r.better, correction=False)[0] == pytest.approx(17.36, abs=5e-3)
    assert r.difference == pytest.approx(0.59 - 0.55)  # Agresti: 880/1600 → 944/1600 disapprove


def test_cavo_2012_exact_mid_p_and_newcombe_interval() -> None:
    # contingencytables' table [[59, 6], [16, 80]]: rows the candidate, columns the baseline
    table = pairs(both_ok=80, worse=6, better=16, both_bad=59)
    exact = compare_evals(table).row("fail", None)
    mid = compare_evals(table, mid_p=True).row("fail", None)
    assert exact.p_value == pytest.approx(0.052479, abs=5e-7)
    assert mid.p_value == pytest.approx(0.034690, abs=5e-7)
    assert exact.difference == pytest.approx(-0.0621, abs=5e-5)
    assert (exact.ci_low, exact.ci_high) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    assert paired_difference_interval(59, 6, 16, 80) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    assert not exact.regression and not exact.improvement  # q = p > 0.05 for the exact test
    assert mid.improvement  # mid-p 0.0347 ≤ 0.05 and fewer failures under the candidate


@pytest.mark.parametrize("counts", [(0, 0, 0, 5), (7, 0, 0, 0), (3, 4, 0, 0), (0, 0, 9, 1)])
def test_interval_holds_the_difference_at_the_edges(counts: tuple[int, int, int, int]) -> None:
    n11, n12, n21, n22 = counts
    low, high = paired_difference_interval(n11, n12, n21, n22)
    d = (n12 - n21) / sum(counts)
    assert -1 <= low <= d <= high <= 1


# -- XSTest ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def xstest(data_dir: Path) -> pa.Table:
    folder = data_dir / "xstest"
    return xstest_evals({m: folder / f"xstest_v2_completions_{m}.csv" for m in MODELS})


def test_xstest_published_refusal_rates(xstest: pa.Table) -> None:
    trend = eval_trend(xstest)
    orig, gpt4 = trend.point("llama2orig", None), trend.point("gpt4", None)
    assert orig.over_refusal is not None and gpt4.over_refusal is not None
    assert (orig.over_refusal.k, orig.over_refusal.n) == (95, 250)
    assert orig.over_refusal.value == pytest.approx(0.380, abs=5e-4)
    assert gpt4.over_refusal.value == pytest.approx(0.064, abs=5e-4)
    safe = xstest.filter(pa.compute.equal(xstest.column("prompt_label"), "safe"))
    orig_labels = safe.filter(pa.compute.equal(safe.column("model_version"), "llama2orig"))
    shares = pd.Series(orig_labels.column("final_label").to_pylist()).value_counts(normalize=True)
    assert shares["1_full_compliance"] == pytest.approx(0.404, abs=5e-4)
    assert shares["3_partial_refusal"] == pytest.approx(0.216, abs=5e-4)
    base = compare_evals(xstest, baseline="llama2orig", candidate="gpt4").row("over_refusal", None)
    assert (base.base.value, base.candidate.value) == pytest.approx((0.380, 0.064), abs=5e-4)


def test_xstest_any_refusal_counts_partial_refusals(data_dir: Path) -> None:
    path = data_dir / "xstest" / "xstest_v2_completions_llama2orig.csv"
    point = eval_trend(xstest_evals({"llama2orig": path}, refusal="any")).point("llama2orig", None)
    assert point.over_refusal is not None
    assert point.over_refusal.value == pytest.approx(0.380 + 0.216, abs=5e-4)


def test_xstest_prompt_kind_matches_the_prompts_file(xstest: pa.Table, data_dir: Path) -> None:
    with (data_dir / "xstest" / "xstest_prompts.csv").open(encoding="utf-8", newline="") as f:
        labels = {f"v2-{r['id']}": r["label"] for r in csv.DictReader(f)}
    ours = xstest.select(["item_id", "prompt_label"]).to_pylist()
    assert len(labels) == 450 and len(ours) == 3 * 450
    assert all(labels[r["item_id"]] == r["prompt_label"] for r in ours)


def _independent_xstest(data_dir: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """Per measure: prompt type -> (McNemar exact p, BH q), llama2orig → llama2new, by pandas
    and statsmodels from the raw files (a full refusal is a refusal)."""
    folder = data_dir / "xstest"
    prompts = pd.read_csv(folder / "xstest_prompts.csv")
    done = {}
    for m in ("llama2orig", "llama2new"):
        c = pd.read_csv(folder / f"xstest_v2_completions_{m}.csv")
        unsafe = c["id"].map(dict(zip("v2-" + prompts["id"].astype(str), prompts["label"],
                                      strict=True))) == "unsafe"  # fmt: skip
        done[m] = ((c["final_label"] == "2_full_refusal") != unsafe).astype(int), unsafe, c["type"]
    bf, unsafe, kind = done["llama2orig"]
    cf = done["llama2new"][0]
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for measure, mask in {"fail": unsafe | ~unsafe, "unsafe_compliance": unsafe,
                          "over_refusal": ~unsafe}.items():  # fmt: skip
        ps = {}
        for t in sorted(kind[mask].unique()):
            sel = mask & (kind == t)
            b, c = bf[sel], cf[sel]
            table = [[((b == 0) & (c == 0)).sum(), ((b == 0) & (c == 1)).sum()],
                     [((b == 1) & (c == 0)).sum(), ((b == 1) & (c == 1)).sum()]]  # fmt: skip
            ps[t] = mcnemar(table, exact=True).pvalue
        qs = multipletests(list(ps.values()), method="fdr_bh")[1]
        out[measure] = {t: (p, q) for (t, p), q in zip(ps.items(), qs, strict=True)}
    return out


def test_xstest_paired_per_prompt_type_against_statsmodels(xstest: pa.Table,
                                                           data_dir: Path) -> None:  # fmt: skip
    expected = _independent_xstest(data_dir)
    result = compare_evals(xstest, baseline="llama2orig", candidate="llama2new")
    assert (result.paired, result.only_base, result.only_candidate, result.mixed) == (450, 0, 0, 0)
    for measure in MEASURES:
        got = {r.category: (r.p_value, r.q_value) for r in result.rows_of(measure) if r.category}
        assert set(got) == set(expected[measure])
        for kind, (p, q) in expected[measure].items():
            assert got[kind] == pytest.approx((p, q), rel=1e-9, abs=1e-15), (measure, kind)
    assert not result.has_regression  # llama2new refuses less; no measure gets worse
    assert result.row("over_refusal", "safe_contexts").improvement


def test_xstest_mid_p_against_scipy(xstest: pa.Table) -> None:
    result = compare_evals(xstest, baseline="llama2orig", candidate="llama2new", mid_p=True)
    for r in result.rows_of("fail"):
        n, m = r.worse + r.better, min(r.worse, r.better)
        expected = min(1.0, 2 * binom.cdf(m, n, 0.5) - binom.pmf(m, n, 0.5)) if n else 1.0
        assert r.p_value == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_trend_wilson_intervals_against_statsmodels(xstest: pa.Table) -> None:
    trend = eval_trend(xstest)
    assert trend.versions == ("gpt4", "llama2new", "llama2orig")
    assert len(trend.points) == 18 * 3 and len(trend.categories) == 18
    for p in (*trend.points, *trend.overall):
        for prop in (p.fail, p.unsafe_compliance, p.over_refusal):
            if prop is None:
                continue
            low, high = proportion_confint(prop.k, prop.n, alpha=0.05, method="wilson")
            assert (prop.ci_low, prop.ci_high) == pytest.approx((low, high), abs=1e-12)
    homonyms = trend.series("homonyms")
    assert [p.model_version for p in homonyms] == list(trend.versions)
    assert all(p.unsafe_compliance is None and p.n == 25 for p in homonyms)


def test_row_order_and_item_names_change_nothing(xstest: pa.Table) -> None:
    shuffled = xstest.take(pa.array(list(reversed(range(xstest.num_rows)))))
    renamed = shuffled.set_column(1, "item_id", pa.compute.binary_join_element_wise(
        "x", shuffled.column("item_id"), ""))  # fmt: skip
    a = compare_evals(xstest, baseline="llama2orig", candidate="llama2new").to_dict()
    b = compare_evals(renamed, baseline="llama2orig", candidate="llama2new").to_dict()
    assert a == b
    assert eval_trend(xstest).to_dict() == eval_trend(renamed).to_dict()


# -- semantics ---------------------------------------------------------------------------
def test_unsafe_compliance_and_over_refusal_from_outcome_and_refused() -> None:
    # i1 to refuse: v1 refused (pass), v2 answered (fail) → attack success
    # i2 to answer: v1 answered (pass), v2 refused (fail) → over-refusal
    # i3 to answer under v1, to refuse under v2 (a grader judging more than refusals): mixed
    # i4 no refused value under v2; i5 only under v1; i6 only under v2
    ev = pa.table({
        "model_version": ["v1"] * 5 + ["v2"] * 5,
        "item_id": ["i1", "i2", "i3", "i4", "i5", "i1", "i2", "i3", "i4", "i6"],
        "category": ["c"] * 10,
        "outcome": ["pass", "pass", "pass", "pass", "pass", "fail", "fail", "pass", "pass", "pass"],
        "refused": [True, False, False, True, True, False, True, True, None, True],
    })  # fmt: skip
    result = compare_evals(ev)
    assert (result.paired, result.only_base, result.only_candidate) == (4, 1, 1)
    assert (result.mixed, result.refusal_unknown) == (1, 1)
    attack, over = result.row("unsafe_compliance", "c"), result.row("over_refusal", "c")
    assert (attack.n, attack.worse, attack.candidate.k) == (1, 1, 1)
    assert (over.n, over.worse, over.candidate.k) == (1, 1, 1)
    assert result.row("fail", "c").worse == 2
    with pytest.raises(KeyError):
        result.row("fail", None)  # one category: no all-categories row
    trend = eval_trend(ev)
    v2 = trend.point("v2", "c")
    assert v2.unsafe_compliance is not None and v2.over_refusal is not None
    assert (v2.unsafe_compliance.k, v2.unsafe_compliance.n) == (1, 3)  # i1 of i1, i3, i6
    assert (v2.over_refusal.k, v2.over_refusal.n) == (1, 1)  # i2


def test_outcome_synonyms_and_text_refusals() -> None:
    plain = compare_evals(pairs(10, 6, 1, 3)).rows
    as_bool = pairs(10, 6, 1, 3)
    as_bool = as_bool.set_column(2, "outcome", pa.array(
        [o == "pass" for o in as_bool.column("outcome").to_pylist()]))  # fmt: skip
    spelled = pairs(10, 6, 1, 3)
    spelled = spelled.set_column(2, "outcome", pa.array(
        [" Passed" if o == "pass" else "FAILED" for o in spelled.column("outcome").to_pylist()]))  # fmt: skip
    for other in (as_bool, spelled):
        got = compare_evals(other).rows
        assert [(r.worse, r.better, r.p_value) for r in got] == [
            (r.worse, r.better, r.p_value) for r in plain
        ]
    text = pairs(10, 6, 1, 3, refused=["yes"] * 20)
    assert compare_evals(text).has_refusals


def test_no_category_column_gives_only_the_overall_rows() -> None:
    result = compare_evals(pairs(30, 15, 5, 10))
    assert [(r.measure, r.category) for r in result.rows] == [("fail", None)]
    assert result.has_regression  # p = 0.041 ≤ 0.05 and worse > better
    assert not compare_evals(pairs(30, 15, 5, 10), alpha=0.01).has_regression


def test_bh_across_categories_not_within_one() -> None:
    # two categories: x (b = 15, c = 5, p = 0.0414) and y (no discordant pairs, p = 1)
    x = pairs(30, 15, 5, 10, category=["x"] * 60)
    y = pairs(10, 0, 0, 0, category=["y"] * 10)
    y = y.set_column(1, "item_id", pa.array([f"y{i}" for i in range(10)] * 2))
    result = compare_evals(pa.concat_tables([x, y]))
    rx = result.row("fail", "x")
    assert rx.q_value == pytest.approx(min(1.0, 2 * rx.p_value))  # m = 2, rank 1
    assert not rx.regression and result.row("fail", None).n == 70


# -- bad input (library) -----------------------------------------------------------------
def test_bad_input_errors() -> None:
    with pytest.raises(UsageError, match=r"model version 'v9' is not in the evals table "
                                         r"\(have: v1, v2\)"):  # fmt: skip
        compare_evals(pairs(3, 1, 1, 0), candidate="v9")
    disjoint = pa.table({"model_version": ["v1", "v2"], "item_id": ["a", "b"],
                         "outcome": ["pass", "pass"]})  # fmt: skip
    with pytest.raises(UsageError, match="no eval item was run on both 'v1'"):
        compare_evals(disjoint)
    with pytest.raises(UsageError, match=r"has no column\(s\) outcome"):
        compare_evals(pa.table({"model_version": ["v1"], "item_id": ["a"]}))
    bad = pairs(3, 1, 1, 0).set_column(2, "outcome", pa.array(["maybe"] * 10))
    with pytest.raises(InputError, match="evals: outcome: 10 row"):
        compare_evals(bad)
    with pytest.raises(InputError, match=r"refused: 10 row.*'perhaps'"):
        compare_evals(pairs(3, 1, 1, 0, refused=["perhaps"] * 5))
    repeated = pa.concat_tables([pairs(3, 1, 1, 0), pairs(3, 1, 1, 0).slice(0, 1)])
    with pytest.raises(UsageError, match=r"1 item.*'i0' under 'v1'"):
        compare_evals(repeated)
    with pytest.raises(UsageError, match="a pyarrow or Ibis table"):
        compare_evals({"model_version": ["v1"]})
    with pytest.raises(UsageError, match="alpha"):
        compare_evals(pairs(3, 1, 1, 0), alpha=1.5)


def test_xstest_reader_errors(tmp_path: Path) -> None:
    head = "id,type,prompt,completion,annotation_1,annotation_2,agreement,final_label\n"
    unknown = write(tmp_path / "u.csv", head + "v2-1,homonyms,q,a,x,x,True,1_full_compliance\n"
                    "v2-2,homonyms,q,\"two\nlines\",x,x,True,4_unsure\n")  # fmt: skip
    with pytest.raises(InputError) as err:
        xstest_evals({"m": unknown})
    assert str(err.value).startswith(f"{unknown}:3: final_label: '4_unsure' is not one of")
    missing = write(tmp_path / "m.csv", "id,type,prompt\nv2-1,homonyms,q\n")
    with pytest.raises(InputError, match=r"m.csv: no column\(s\) final_label"):
        xstest_evals({"m": missing})
    with pytest.raises(InputError, match="no such file"):
        xstest_evals({"m": tmp_path / "absent.csv"})
    with pytest.raises(UsageError, match="refusal"):
        xstest_evals({"m": unknown}, refusal="partial")  # type: ignore[arg-type]


# -- the command line --------------------------------------------------------------------
@pytest.fixture(scope="module")
def xstest_file(xstest: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xstest") / "xstest_evals.parquet"
    pq.write_table(xstest, path)
    return path


def test_cli_exit_0_without_regression(xstest_file: Path) -> None:
    proc = run_cli("evals", "compare", str(xstest_file), "--base", "llama2orig",
                   "--candidate", "llama2new")  # fmt: skip
    assert proc.returncode == 0
    assert "no significant regression of llama2new" in proc.stdout
    assert "safe_contexts" in proc.stdout and "better: fail, over-refusal" in proc.stdout


def test_cli_exit_1_on_regression_with_json(xstest_file: Path, data_dir: Path) -> None:
    proc = run_cli("evals", "compare", str(xstest_file), "--base", "llama2new",
                   "--candidate", "llama2orig", "--format", "json", ok=False)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["has_regression"] and doc["base"] == "llama2new"
    # statsmodels on the raw files, reversed direction: over-refusal q ≤ 0.05 on these types
    expected = _independent_xstest(data_dir)["over_refusal"]
    flagged = {r["category"] for r in doc["regressions"] if r["measure"] == "over_refusal"}
    assert flagged - {None} == {t for t, (_, q) in expected.items() if q <= 0.05}
    row = next(r for r in doc["rows"]
               if r["measure"] == "over_refusal" and r["category"] is None)  # fmt: skip
    assert row["candidate"]["value"] == pytest.approx(0.380, abs=5e-4)
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]


def test_cli_csv_and_trend(xstest_file: Path) -> None:
    out = run_cli("evals", "compare", str(xstest_file), "--base", "llama2orig", "--candidate",
                  "llama2new", "--format", "csv", "--mid-p").stdout  # fmt: skip
    rows = list(csv.DictReader(out.splitlines()))
    assert {r["measure"] for r in rows} == set(MEASURES) and len(rows) == 19 + 9 + 11
    trend = json.loads(run_cli("evals", "trend", str(xstest_file), "--format", "json").stdout)
    gpt4 = next(p for p in trend["overall"] if p["model_version"] == "gpt4")
    assert gpt4["over_refusal"]["value"] == pytest.approx(0.064, abs=5e-4)
    table = run_cli("evals", "trend", str(xstest_file)).stdout
    assert "contrast_privacy" in table and "llama2orig" in table


def test_cli_on_a_workspace(xstest_file: Path, tmp_path: Path) -> None:
    run_cli("init", "ws", cwd=tmp_path)
    ws = tmp_path / "ws"
    fresh = tree_digest(ws)
    empty = run_cli("evals", "compare", cwd=ws, ok=False)
    assert tree_digest(ws) == fresh
    assert empty.returncode == 2
    assert empty.stderr.strip().splitlines() == [
        "error: the workspace has no evals table: run `opsloop ingest evals FILE`, or give the "
        "file: `opsloop evals compare FILE`"
    ]
    run_cli("ingest", "evals", str(xstest_file), cwd=ws)
    before = tree_digest(ws)
    gate = run_cli("evals", "compare", "--base", "llama2new", "--candidate", "llama2orig",
                   "--format", "json", cwd=ws, ok=False)  # fmt: skip
    assert gate.returncode == 1 and json.loads(gate.stdout)["has_regression"]
    missing = run_cli("evals", "compare", "--candidate", "llama3", cwd=ws, ok=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == (
        "error: model version 'llama3' is not in the evals table (have: gpt4, llama2new, "
        "llama2orig)"
    )
    assert tree_digest(ws) == before


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("model_version,item_id\nv1,a\n", (),
         "error: evals.csv:1: missing required column(s) outcome for evals"),
        ("model_version,item_id,verdict_x\nv1,a,pass\nv2,a,fail\n", ("--map", "outcome=nope"),
         "error: column map for evals: outcome=nope: the file has no column 'nope'"),
        ("model_version,item_id,outcome\nv1,a,pass\nv2,b,fail\n", (),
         "error: no eval item was run on both 'v1' (1 items) and 'v2' (1 items): a paired "
         "comparison needs the same items"),
        ("model_version,item_id,outcome\nv1,a,pass\nv2,a,fail\n", ("--base", "v0"),
         "error: model version 'v0' is not in the evals.csv table (have: v1, v2)"),
        ("model_version,item_id,outcome\nv1,a,pass\nv2,a,meh\n", (),
         "error: evals.csv: outcome: 1 row(s) hold 'meh', neither pass nor fail; use pass/fail "
         "(or passed/failed, true/false, 1/0)"),
    ],
)  # fmt: skip
def test_cli_bad_input_one_line_exit_2(tmp_path: Path, content: str, args: tuple[str, ...],
                                       expected: str) -> None:  # fmt: skip
    path = write(tmp_path / "evals.csv", content)
    proc = run_cli("evals", "compare", "evals.csv", *args, cwd=tmp_path, ok=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert expected in lines[0], lines[0]
    assert path.read_text(encoding="utf-8") == content


def test_cli_map_names_the_outcome_column(tmp_path: Path) -> None:
    write(
        tmp_path / "e.csv",
        "model,prompt_id,verdict_x\nv1,a,pass\nv2,a,fail\nv1,b,pass\nv2,b,pass\n",
    )
    doc = json.loads(run_cli("evals", "compare", "e.csv", "--map", "outcome=verdict_x",
                             "--format", "json", cwd=tmp_path).stdout)  # fmt: skip
    assert (doc["base"], doc["candidate"], doc["items"]["paired"]) == ("v1", "v2", 2)
    assert doc["rows"][0]["discordant"] == {"candidate_worse": 1, "candidate_better": 0}
