"""Dawid–Skene as users run it: ``opsloop infer`` against a crowd-kit script, same files, same run.

    .venv/bin/python bench/inference.py            # 3M labels, then 10M (opsloop only)
    .venv/bin/python bench/inference.py --quick    # 300k labels
    .venv/bin/python bench/inference.py --json     # the same, JSON on stdout

Data: items × 3 labels from 2,000 raters with planted confusion matrices (5
classes, accuracy 0.35–0.95), written as one Parquet file with the planted truth
beside it. Each side runs in a fresh process on that file, end to end:

- opsloop: ``opsloop infer FILE --method ds --out labels.parquet`` (reads and
  validates the file, fits Dawid–Skene, ranks label errors, writes the labels);
- peer: a Python script that ``pd.read_parquet``s the file, fits crowd-kit's
  ``DawidSkene`` with the same ``n_iter`` and ``tol`` as opsloop's defaults and
  writes the labels with ``to_parquet``.

The two ``tol`` mean slightly different things: opsloop stops when the mean
negative log-likelihood per label changes by less than ``tol``, crowd-kit when its
log-likelihood changes by less than ``tol``; both stop at ``n_iter`` at the latest.
Accuracy is each side's labels against the planted truth, read back from the
Parquet it wrote (the bar: within 0.002 of each other). Time, peak memory and the
runs kept are explained in bench/_timing.py.
"""

from __future__ import annotations

import argparse
import inspect
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import _timing
from opsloop.inference import DawidSkene

K = 5
N_RATERS = 2000
LABELS_PER_ITEM = 3

PEER = r"""
import sys
import pandas as pd
from crowdkit.aggregation import DawidSkene
src, out, n_iter, tol = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
df = pd.read_parquet(src, columns=["item_id", "rater_id", "label"])
df = df.rename(columns={"item_id": "task", "rater_id": "worker"})
labels = DawidSkene(n_iter=n_iter, tol=tol).fit_predict(df)
labels.rename("label").rename_axis("item_id").reset_index().to_parquet(out, index=False)
"""


def opsloop_ds_defaults() -> tuple[int, float]:
    """``n_iter`` and ``tol`` of opsloop's DawidSkene (what ``--method ds`` fits with)."""
    params = inspect.signature(DawidSkene.__init__).parameters
    return int(params["n_iter"].default), float(params["tol"].default)


def _strings(codes: np.ndarray, prefix: str, n: int) -> pa.Array:
    """``prefix + str(code)`` for each code, built through a dictionary of the ``n`` names."""
    names = pa.array([f"{prefix}{i}" for i in range(n)])
    return pc.cast(pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), names), pa.string())


def make_data(n_items: int, folder: Path, seed: int = 7) -> tuple[Path, Path]:
    """Write ``annotations.parquet`` (item_id, rater_id, label) and ``truth.parquet``."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n_items)
    acc = rng.uniform(0.35, 0.95, N_RATERS)
    conf = rng.dirichlet(np.ones(K), size=(N_RATERS, K)) * (1 - acc)[:, None, None]
    conf[:, np.arange(K), np.arange(K)] += acc[:, None]
    cum = conf.cumsum(axis=2)
    items = np.repeat(np.arange(n_items), LABELS_PER_ITEM)
    offsets = np.arange(LABELS_PER_ITEM)
    raters = ((rng.integers(0, N_RATERS, (n_items, 1)) + offsets) % N_RATERS).ravel()
    u = rng.random(len(items))
    labels = (u[:, None] > cum[raters, truth[items]]).sum(axis=1).clip(0, K - 1)
    table = pa.table(
        {
            "item_id": _strings(items, "i", n_items),
            "rater_id": _strings(raters, "w", N_RATERS),
            "label": _strings(labels, "c", K),
        }
    )
    ann, gold = folder / "annotations.parquet", folder / "truth.parquet"
    pq.write_table(table, ann)
    item_ids = _strings(np.arange(n_items), "i", n_items)
    pq.write_table(pa.table({"item_id": item_ids, "label": _strings(truth, "c", K)}), gold)
    return ann, gold


def accuracy(labels_file: Path, truth_file: Path) -> float:
    """Share of items whose written label equals the planted truth (missing items count wrong)."""
    truth = pq.read_table(truth_file)
    got = pq.read_table(labels_file, columns=["item_id", "label"])
    got = got.cast(pa.schema([("item_id", pa.string()), ("label", pa.string())]))
    joined = truth.join(got, "item_id", right_suffix="_got", join_type="left outer")
    same = pc.fill_null(pc.equal(joined["label"], joined["label_got"]), False)
    return float(pc.sum(same.cast(pa.int64())).as_py()) / truth.num_rows


def compare(n_items: int, folder: Path, report: _timing.Report, repeats: int, peer: bool) -> None:
    n_iter, tol = opsloop_ds_defaults()
    ann, truth = make_data(n_items, folder)
    ours_out, peer_out = folder / "opsloop-labels.parquet", folder / "crowdkit-labels.parquet"
    commands: list[tuple[str, list[str]]] = [
        ("opsloop infer --method ds",
         [_timing.OPSLOOP, "infer", str(ann), "--method", "ds", "--out", str(ours_out)]),
    ]  # fmt: skip
    if peer:
        commands.append(
            ("crowd-kit DawidSkene script",
             [_timing.PYTHON, "-c", PEER, str(ann), str(peer_out), str(n_iter), str(tol)])
        )  # fmt: skip

    outputs = {commands[0][0]: ours_out, commands[-1][0]: peer_out if peer else ours_out}
    # each run writes its labels afresh (both fits are deterministic: every round's are equal)
    runs = _timing.best_of(
        commands, repeats, before_each=lambda label: outputs[label].unlink(missing_ok=True)
    )
    extra = {runs[0].label: {"accuracy": accuracy(ours_out, truth)}}
    if peer:
        extra[runs[1].label] = {"accuracy": accuracy(peer_out, truth)}
    n = n_items * LABELS_PER_ITEM
    title = (f"{n:,} labels ({n_items:,} items × {LABELS_PER_ITEM} of {N_RATERS:,} raters, "
             f"{K} classes), Dawid–Skene n_iter={n_iter}, tol={tol:g}")  # fmt: skip
    notes = ["opsloop infer also rates the raters and ranks likely label errors (it prints "
             "both); the peer only fits and writes the labels"]  # fmt: skip
    report.table(title, runs, extra, notes)
    if peer:
        gap = abs(extra[runs[0].label]["accuracy"] - extra[runs[1].label]["accuracy"])
        report.target(f"accuracy within 0.002 of crowd-kit (gap {gap:.4f})", gap <= 0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300k labels only")
    parser.add_argument("--no-10m", action="store_true", help="skip the 10M opsloop-only run")
    _timing.common_args(parser)
    args = parser.parse_args()
    report = _timing.Report("bench/inference.py", args.json)
    with tempfile.TemporaryDirectory(prefix="opsloop-bench-infer-") as tmp:
        sizes = [(100_000, True)] if args.quick else [(1_000_000, True)]
        if not (args.quick or args.no_10m):
            sizes.append((10_000_000 // LABELS_PER_ITEM + 1, False))
        for n_items, peer in sizes:
            folder = Path(tmp) / str(n_items)
            folder.mkdir()
            report.say(f"\ngenerating {n_items * LABELS_PER_ITEM:,} labels …")
            compare(n_items, folder, report, args.repeats, peer)
    report.finish()


if __name__ == "__main__":
    main()
