"""Dawid–Skene speed and memory: opsloop against crowd-kit, measured in the same run.

    .venv/bin/python bench/inference.py            # 3M annotations (+ 10M opsloop only)
    .venv/bin/python bench/inference.py --quick    # 300k annotations

Synthetic data: items × 3 labels from raters with planted confusion matrices
(5 classes). Each fit runs in a fresh subprocess that first loads the data
(pyarrow for opsloop, pandas for crowd-kit, as each library expects); the
time is the fit alone and the peak memory is the rise of the peak resident
set size above the loaded state (Linux ``/proc/self/clear_refs``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

K = 5
N_RATERS = 2000


def make_data(n_items: int, path: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n_items)
    acc = rng.uniform(0.35, 0.95, N_RATERS)
    conf = rng.dirichlet(np.ones(K), size=(N_RATERS, K)) * (1 - acc)[:, None, None]
    conf[:, np.arange(K), np.arange(K)] += acc[:, None]
    cum = conf.cumsum(axis=2)
    items = np.repeat(np.arange(n_items), 3)
    raters = (rng.integers(0, N_RATERS, (n_items, 1)) + np.array([0, 1, 2])) % N_RATERS
    raters = raters.ravel()
    u = rng.random(len(items))
    labels = (u[:, None] > cum[raters, truth[items]]).sum(axis=1).clip(0, K - 1)
    table = pa.table(
        {
            "item_id": pa.array([f"i{i}" for i in items]),
            "rater_id": pa.array([f"w{r}" for r in raters]),
            "label": pa.array([f"c{v}" for v in labels]),
        }
    )
    pq.write_table(table, path / "annotations.parquet")
    pq.write_table(
        pa.table({"item_id": [f"i{i}" for i in range(n_items)], "label": [f"c{v}" for v in truth]}),
        path / "truth.parquet",
    )


CHILD = r"""
import json, sys, time, warnings
import pyarrow.parquet as pq
warnings.filterwarnings("ignore")
which, folder = sys.argv[1], sys.argv[2]
truth = pq.read_table(folder + "/truth.parquet").to_pandas().set_index("item_id")["label"]
if which == "opsloop":
    from opsloop.inference import DawidSkene
    data = pq.read_table(folder + "/annotations.parquet")
else:
    from crowdkit.aggregation import DawidSkene
    data = pq.read_table(folder + "/annotations.parquet").to_pandas()
    data = data.rename(columns={"item_id": "task", "rater_id": "worker"})
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
base = rss("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")
t0 = time.perf_counter()
if which == "opsloop":
    est = DawidSkene(n_iter=100, tol=1e-5).fit(data)
    labels = est.labels_.to_pandas().set_index("item_id")["label"]
    n_iter = est.n_iter_["label"]
else:
    est = DawidSkene(n_iter=100, tol=1e-5)
    labels = est.fit_predict(data)
    n_iter = len(est.loss_history_)
seconds = time.perf_counter() - t0
peak = rss("VmHWM:") - base
acc = float((labels.reindex(truth.index) == truth).mean())
print(json.dumps({"seconds": seconds, "peak": peak, "accuracy": acc, "n_iter": n_iter}))
"""


def run(which: str, folder: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, which, str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"{which} failed:\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300k annotations, no 10M run")
    args = parser.parse_args()
    sizes = [100_000] if args.quick else [1_000_000]
    rows = []
    with tempfile.TemporaryDirectory(prefix="opsloop-bench-") as tmp:
        for n_items in sizes:
            folder = Path(tmp) / str(n_items)
            folder.mkdir()
            make_data(n_items, folder)
            ours = run("opsloop", folder)
            peer = run("crowdkit", folder)
            rows.append((n_items * 3, ours, peer))
        big = None
        if not args.quick:
            folder = Path(tmp) / "big"
            folder.mkdir()
            make_data(10_000_000 // 3, folder)
            big = run("opsloop", folder)
    print(
        f"\nDawid–Skene, {K} classes, {N_RATERS:,} raters, 3 labels per item "
        f"(n_iter ≤ 100, tol 1e-5)\n"
    )
    head = f"{'annotations':>12} {'library':>9} {'fit s':>8} {'iters':>6} {'peak MB':>8} {'accuracy':>9}"
    print(head)
    print("-" * len(head))
    for n, ours, peer in rows:
        for name, r in (("opsloop", ours), ("crowd-kit", peer)):
            print(
                f"{n:>12,} {name:>9} {r['seconds']:>8.2f} {int(r['n_iter']):>6} "
                f"{r['peak'] / 2**20:>8.0f} {r['accuracy']:>9.4f}"
            )
        print(
            f"{'':>12} {'ratio':>9} {peer['seconds'] / ours['seconds']:>7.1f}× "
            f"{'':>6} {ours['peak'] / max(peer['peak'], 1):>7.2f}× "
            f"{ours['accuracy'] - peer['accuracy']:>+9.4f}"
        )
        print(
            "  (ratio: crowd-kit time / opsloop time; opsloop peak / crowd-kit peak; "
            "accuracy difference)"
        )
    if big is not None:
        print(
            f"\n{10_000_000:>12,} {'opsloop':>9} {big['seconds']:>8.2f} {int(big['n_iter']):>6} "
            f"{big['peak'] / 2**20:>8.0f} {big['accuracy']:>9.4f}   (target ≤ 30 s)"
        )


if __name__ == "__main__":
    main()
