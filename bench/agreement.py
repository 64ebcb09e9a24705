"""Agreement as users run it: ``opsloop agreement FILE`` against a pandas script, same files.

    .venv/bin/python bench/agreement.py             # 3M and 10M labels
    .venv/bin/python bench/agreement.py --quick     # 300k labels
    .venv/bin/python bench/agreement.py --items 1000000 --raters-per-item 3 --no-peer
    .venv/bin/python bench/agreement.py --metrics krippendorff_alpha,rater_peer_agreement

Data: items × k labels from 2,000 raters (accuracy 0.6–0.95), 5 classes with
skewed prevalence, written as one Parquet file. Each side runs in a fresh process
on that file, end to end:

- opsloop: ``opsloop agreement FILE -m krippendorff_alpha,fleiss_kappa,gwet_ac1
  --format json`` (reads and validates the file, every figure with its interval:
  bootstrap or standard error, as the command prints them; JSON only so the
  values can be compared);
- peer: a Python script that reads the same Parquet with pandas, builds the item ×
  category count table itself (``pd.factorize`` + ``np.bincount``, the fastest
  way we know) and calls ``krippendorff.alpha(value_counts=…)``, statsmodels'
  ``fleiss_kappa`` and Gwet's AC1 written in numpy after irrCAC's
  ``gwet.ac1.raw`` (Gwet 2008; unweighted). The peer computes no intervals.

Both print their three values; the table shows the largest difference. Targets
(issue "one analysis core, fast end to end"): 3M ≤ 2 s and ≥ 3× the peer; 10M
≤ 6 s and ≤ 2 GB. Time, peak memory and the runs kept: bench/_timing.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import _timing

METRICS = "krippendorff_alpha,fleiss_kappa,gwet_ac1"
N_RATERS = 2000
N_CLASSES = 5

PEER = r"""
import json, sys
import krippendorff
import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import fleiss_kappa
df = pd.read_parquet(sys.argv[1], columns=["item_id", "rater_id", "label"])
items, _ = pd.factorize(df["item_id"])
labels, categories = pd.factorize(df["label"])
q = len(categories)
counts = np.bincount(items * q + labels, minlength=(items.max() + 1) * q).reshape(-1, q)
alpha = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
kappa = fleiss_kappa(counts, method="fleiss")
# Gwet's AC1 (Gwet 2008), as irrCAC's gwet.ac1.raw without weights
r = counts.sum(axis=1)
two = r >= 2
pa_ = np.mean((counts[two] * (counts[two] - 1)).sum(axis=1) / (r[two] * (r[two] - 1)))
pi = (counts / r[:, None]).mean(axis=0)
pe = (pi * (1 - pi)).sum() / (q - 1)
ac1 = (pa_ - pe) / (1 - pe)
print(json.dumps({"krippendorff_alpha": alpha, "fleiss_kappa": kappa, "gwet_ac1": ac1}))
"""


def make(n_items: int, k: int, n_raters: int = N_RATERS, q: int = N_CLASSES,
         seed: int = 0) -> pa.Table:  # fmt: skip
    """``n_items × k`` labels: k distinct raters per item, each right with its own accuracy."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(q, size=n_items, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    base = rng.integers(0, n_raters, n_items)
    step = rng.integers(1, n_raters // k, size=(n_items, k))
    step[:, 0] = 0
    raters = ((base[:, None] + np.cumsum(step, axis=1)) % n_raters).ravel()
    acc = rng.uniform(0.6, 0.95, n_raters)
    correct = rng.random(n_items * k) < acc[raters]
    labels = np.where(correct, np.repeat(truth, k), rng.integers(0, q, n_items * k))
    items = np.repeat(np.arange(n_items), k)

    def strings(codes: np.ndarray, prefix: str, n: int) -> pa.Array:
        names = pa.array([f"{prefix}{i:07d}" for i in range(n)])
        dict_arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), names)
        return pc.cast(dict_arr, pa.string())

    return pa.table({"item_id": strings(items, "item", n_items),
                     "rater_id": strings(raters, "rater", n_raters),
                     "label": strings(labels, "class", q)})  # fmt: skip


def _opsloop_values(stdout: str) -> dict[str, float]:
    return {r["metric"]: r["value"] for r in json.loads(stdout)}


def compare(n_items: int, k: int, args: argparse.Namespace, folder: Path,
            report: _timing.Report) -> list[_timing.Run]:  # fmt: skip
    path = folder / f"labels-{n_items}x{k}.parquet"
    pq.write_table(make(n_items, k), path)
    commands: list[tuple[str, list[str]]] = [
        ("opsloop agreement",
         [_timing.OPSLOOP, "agreement", str(path), "-m", args.metrics, "--format", "json"]),
    ]  # fmt: skip
    peer = not args.no_peer
    if peer:
        commands.append(("pandas + krippendorff + statsmodels",
                         [_timing.PYTHON, "-c", PEER, str(path)]))  # fmt: skip
    runs = _timing.best_of(commands, args.repeats)
    ours = _opsloop_values(runs[0].stdout)
    extra = {
        runs[0].label: {m: ours.get(m) for m in ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1")}
    }
    notes = []
    if peer:
        theirs = json.loads(runs[1].stdout.strip().splitlines()[-1])
        extra[runs[1].label] = theirs
        diff = max(abs(ours[m] - theirs[m]) for m in theirs if m in ours)
        notes.append(f"largest difference between the two sides' values: {diff:.1e}")
    n = n_items * k
    title = (f"{n:,} labels ({n_items:,} items × {k} of {N_RATERS:,} raters, {N_CLASSES} "
             f"classes); metrics {args.metrics}")  # fmt: skip
    report.table(title, runs, extra, notes)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300k labels only")
    parser.add_argument("--items", type=int, help="one size: this many items …")
    parser.add_argument("--raters-per-item", type=int, default=3, help="… with this many labels")
    parser.add_argument("--metrics", default=METRICS, help=f"opsloop's -m (default {METRICS})")
    parser.add_argument("--no-peer", action="store_true", help="time opsloop only")
    _timing.common_args(parser)
    args = parser.parse_args()
    if args.items:
        sizes = [(args.items, args.raters_per_item)]
    elif args.quick:
        sizes = [(100_000, 3)]
    else:
        sizes = [(1_000_000, 3), (2_000_000, 5)]
    report = _timing.Report("bench/agreement.py", args.json)
    with tempfile.TemporaryDirectory(prefix="opsloop-bench-agreement-") as tmp:
        for n_items, k in sizes:
            report.say(f"\ngenerating {n_items * k:,} labels …")
            runs = compare(n_items, k, args, Path(tmp), report)
            ours = runs[0]
            if n_items * k == 3_000_000:
                report.target("3M ≤ 2 s", ours.seconds <= 2)
                if len(runs) > 1:
                    report.target(
                        "3M ≥ 3× faster than the peer", runs[1].seconds >= 3 * ours.seconds
                    )
            if n_items * k == 10_000_000:
                report.target("10M ≤ 6 s", ours.seconds <= 6)
                report.target("10M peak ≤ 2 GB", ours.peak_mb <= 2048)
    report.finish()


if __name__ == "__main__":
    main()
