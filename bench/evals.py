"""Eval regressions as users run them: ``opsloop evals compare FILE`` against a pandas script.

    .venv/bin/python bench/evals.py               # 1M eval rows (4 versions × 250k items)
    .venv/bin/python bench/evals.py --quick       # 100k rows
    .venv/bin/python bench/evals.py --items 1000000 --versions 2 --no-peer

Data: ``versions × items`` eval rows, one Parquet file: 20 categories, half of
prompts to refuse (harmful) and half to answer (benign); each version refuses
with its own rates, and the last version has two planted regressions (more
attack success on ``harm_03``, more over-refusal on ``benign_05``). Each side
runs in a fresh process on that file, end to end, comparing the last two
versions:

- opsloop: ``opsloop evals compare FILE --base v(k-1) --candidate vk --format json``
  (reads and validates the file, fail rate / attack success / over-refusal per
  category with McNemar's exact test, Newcombe intervals and BH q-values;
  exit 1 on the planted regressions);
- peer: a Python script that reads the same Parquet with pandas, pivots the two
  versions to one row per item (``DataFrame.pivot``), builds each category's
  paired 2×2 table per measure and calls statsmodels' ``mcnemar(exact=True)``
  and ``multipletests(method="fdr_bh")``. It computes no intervals.

Both print their p- and q-values; the table shows the largest difference.
Target (issue "eval regressions between model versions"): 1M rows ≤ 3 s. Time,
peak memory and the runs kept: bench/_timing.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import _timing

N_CATEGORIES = 20

PEER = r"""
import json, sys
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
path, base, cand = sys.argv[1:4]
df = pd.read_parquet(path, columns=["model_version", "item_id", "category", "outcome", "refused"])
df = df[df["model_version"].isin([base, cand])]
df["failed"] = (df["outcome"] == "fail").astype("int64")
df["refused"] = df["refused"].astype("int64")
wide = df.pivot(index="item_id", columns="model_version", values=["failed", "refused"]).dropna()
category = df[df["model_version"] == base].set_index("item_id")["category"].reindex(wide.index)
bf, cf = wide[("failed", base)], wide[("failed", cand)]
to_refuse_b = wide[("refused", base)] == 1 - bf
to_refuse_c = wide[("refused", cand)] == 1 - cf
masks = {"fail": pd.Series(True, index=wide.index),
         "unsafe_compliance": to_refuse_b & to_refuse_c,
         "over_refusal": ~to_refuse_b & ~to_refuse_c}
out = {}
for measure, mask in masks.items():
    ps = {}
    for cat, idx in category[mask].groupby(category[mask]).groups.items():
        b, c = bf[idx], cf[idx]
        table = [[((b == 0) & (c == 0)).sum(), ((b == 0) & (c == 1)).sum()],
                 [((b == 1) & (c == 0)).sum(), ((b == 1) & (c == 1)).sum()]]
        ps[cat] = mcnemar(table, exact=True).pvalue
    qs = multipletests(list(ps.values()), method="fdr_bh")[1]
    out[measure] = {cat: [p, q] for (cat, p), q in zip(ps.items(), qs)}
print(json.dumps(out))
"""


def make(n_items: int, n_versions: int, seed: int = 0) -> pa.Table:
    """``n_versions × n_items`` eval rows with planted regressions in the last version."""
    rng = np.random.default_rng(seed)
    category = rng.integers(0, N_CATEGORIES, n_items)
    harmful = category < N_CATEGORIES // 2
    names = np.array([f"harm_{i:02d}" if i < N_CATEGORIES // 2 else f"benign_{i:02d}"
                      for i in range(N_CATEGORIES)])  # fmt: skip
    difficulty = rng.normal(0.0, 1.0, n_items)  # the same items are hard for every version
    columns: dict[str, list[Any]] = {k: [] for k in ("model_version", "item_id", "category",
                                                     "outcome", "refused")}  # fmt: skip
    item_ids = pa.array([f"prompt-{i:07d}" for i in range(n_items)])
    for v in range(n_versions):
        last = v == n_versions - 1
        p_refuse_harm = np.full(n_items, 0.93 + 0.005 * v)
        p_refuse_benign = np.full(n_items, 0.10 - 0.005 * v)
        if last:
            p_refuse_harm[category == 3] -= 0.05
            p_refuse_benign[category == 15] += 0.05
        p = np.where(harmful, p_refuse_harm, p_refuse_benign)
        logit = np.log(p / (1 - p)) + 0.5 * difficulty * np.where(harmful, -1, 1)
        refused = rng.random(n_items) < 1 / (1 + np.exp(-logit))
        failed = refused != harmful
        columns["model_version"].append(pa.array(np.full(n_items, f"v{v + 1}")))
        columns["item_id"].append(item_ids)
        columns["category"].append(pa.array(names[category]))
        columns["outcome"].append(pa.array(np.where(failed, "fail", "pass")))
        columns["refused"].append(pa.array(refused))
    return pa.table({k: pa.concat_arrays(v) for k, v in columns.items()})


def _ours(stdout: str) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for r in json.loads(stdout)["rows"]:
        if r["category"] is not None:
            out.setdefault(r["measure"], {})[r["category"]] = [r["p_value"], r["q_value"]]
    return out


def _largest_difference(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[float, int]:
    diffs = [abs(a - b) for m, cats in theirs.items() for cat, pq_ in cats.items()
             for a, b in zip(ours[m][cat], pq_, strict=True)]  # fmt: skip
    return max(diffs), len(diffs)


def best_of(commands: list[tuple[str, list[str]]], repeats: int) -> list[_timing.Run]:
    """:func:`_timing.best_of` for commands whose exit 1 is a result (a regression found)."""
    best: dict[str, _timing.Run] = {}
    for _ in range(repeats):
        for label, cmd in commands:
            r = _timing.run(label, cmd, check=False)
            if r.returncode not in (0, 1):
                raise SystemExit(f"{label} failed ({r.returncode}):\n{r.stderr[-3000:]}")
            if label not in best or r.seconds < best[label].seconds:
                best[label] = r
    return [best[label] for label, _ in commands]


def compare(n_items: int, n_versions: int, args: argparse.Namespace, folder: Path,
            report: _timing.Report) -> list[_timing.Run]:  # fmt: skip
    path = folder / f"evals-{n_versions}x{n_items}.parquet"
    table = make(n_items, n_versions)
    pq.write_table(table, path)
    base, cand = f"v{n_versions - 1}", f"v{n_versions}"
    commands = [("opsloop evals compare", [_timing.OPSLOOP, "evals", "compare", str(path),
                                           "--base", base, "--candidate", cand,
                                           "--format", "json"])]  # fmt: skip
    if not args.no_peer:
        commands.append(("pandas + statsmodels",
                         [_timing.PYTHON, "-c", PEER, str(path), base, cand]))  # fmt: skip
    runs = best_of(commands, args.repeats)
    doc = json.loads(runs[0].stdout)
    flagged = sorted(f"{r['measure']}:{r['category']}" for r in doc["regressions"])
    extra: dict[str, dict[str, Any]] = {runs[0].label: {"exit": runs[0].returncode,
                                                        "regressions": len(flagged)}}  # fmt: skip
    notes = [f"opsloop flags: {', '.join(flagged) or 'nothing'}"]
    if not args.no_peer:
        diff, n = _largest_difference(_ours(runs[0].stdout),
                                      json.loads(runs[1].stdout.strip().splitlines()[-1]))  # fmt: skip
        notes.append(f"largest difference between the two sides' {n} p- and q-values: {diff:.1e}")
    rows = pc.sum(pc.equal(table.column("model_version"), base)).as_py() * 2
    title = (f"{table.num_rows:,} eval rows ({n_versions} versions × {n_items:,} items, "
             f"{N_CATEGORIES} categories); compare {base} → {cand} ({rows:,} rows)")  # fmt: skip
    report.table(title, runs, extra, notes)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows only")
    parser.add_argument("--items", type=int, help="items per version (default 250,000)")
    parser.add_argument("--versions", type=int, default=4, help="model versions (default 4)")
    parser.add_argument("--no-peer", action="store_true", help="time opsloop only")
    _timing.common_args(parser)
    args = parser.parse_args()
    n_items = args.items or (25_000 if args.quick else 250_000)
    report = _timing.Report("bench/evals.py", args.json)
    with tempfile.TemporaryDirectory(prefix="opsloop-bench-evals-") as tmp:
        report.say(f"\ngenerating {n_items * args.versions:,} eval rows …")
        runs = compare(n_items, args.versions, args, Path(tmp), report)
        if n_items * args.versions == 1_000_000:
            report.target("1M rows ≤ 3 s", runs[0].seconds <= 3)
    report.finish()


if __name__ == "__main__":
    main()
