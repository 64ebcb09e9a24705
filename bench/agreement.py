"""Benchmark: opsloop's agreement suite vs krippendorff and statsmodels, same run.

    .venv/bin/python bench/agreement.py            # 3M and 10M annotations
    .venv/bin/python bench/agreement.py --quick    # 300k annotations

Data: items × k labels from 2,000 raters (accuracy 0.6–0.95), 5 classes with
skewed prevalence. Timed from a pyarrow table (including label coding). Peers
get the item × category count table (their dense rater × item matrices do not
fit at 1M items). Peak memory is the process's max RSS (resource.getrusage).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.metrics import agreement


def make(n_items: int, k: int, n_raters: int = 2000, q: int = 5, seed: int = 0) -> pa.Table:
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
                     "label": strings(labels, "class", q)})


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n_items: int, k: int) -> list[tuple[str, float, str]]:
    table = make(n_items, k)
    rows: list[tuple[str, float, str]] = []
    t0 = time.perf_counter()
    res = agreement(table, metrics=["krippendorff_alpha", "fleiss_kappa", "gwet_ac1",
                                    "rater_peer_agreement", "rater_consensus_agreement"],
                    n_boot=200, seed=0)
    ours = time.perf_counter() - t0
    alpha = res.get("krippendorff_alpha").value
    fleiss = res.get("fleiss_kappa").value
    rows.append(("opsloop suite (α, Fleiss, AC1, per-rater)", ours,
                 f"α={alpha:.5f} κ={fleiss:.5f}"))

    # peers, fed the item × category count table (built outside their timing)
    items = pc.dictionary_encode(table["item_id"]).combine_chunks().indices.to_numpy()
    labels = pc.dictionary_encode(table["label"]).combine_chunks().indices.to_numpy()
    counts = np.bincount(items * 5 + labels, minlength=n_items * 5).reshape(n_items, 5)
    try:
        import krippendorff

        t0 = time.perf_counter()
        ka = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
        rows.append(("krippendorff.alpha (value counts)", time.perf_counter() - t0,
                     f"α={ka:.5f} Δ={abs(ka - alpha):.1e}"))
    except ImportError:
        rows.append(("krippendorff (not installed)", float("nan"), ""))
    try:
        from statsmodels.stats.inter_rater import fleiss_kappa

        t0 = time.perf_counter()
        fk = fleiss_kappa(counts)
        rows.append(("statsmodels fleiss_kappa (counts)", time.perf_counter() - t0,
                     f"κ={fk:.5f} Δ={abs(fk - fleiss):.1e}"))
    except ImportError:
        rows.append(("statsmodels (not installed)", float("nan"), ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300k annotations only")
    args = parser.parse_args()
    sizes = [(100_000, 3)] if args.quick else [(1_000_000, 3), (2_000_000, 5)]
    for n_items, k in sizes:
        n = n_items * k
        print(f"\n{n:,} annotations ({n_items:,} items × {k}, 2,000 raters, 5 classes)")
        rows = run(n_items, k)
        ours = rows[0][1]
        print(f"{'':2}{'implementation':44}{'seconds':>9}{'vs ours':>9}  result")
        for name, secs, result in rows:
            ratio = secs / ours if ours else float("nan")
            print(f"{'':2}{name:44}{secs:9.2f}{ratio:8.2f}x  {result}")
        print(f"  peak memory so far (max RSS): {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
