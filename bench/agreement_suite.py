"""Time and peak memory of the agreement suite alone, in a fresh process.

    python bench/agreement_suite.py --items 1000000 --raters-per-item 3   # 3M annotations
    python bench/agreement_suite.py --items 2000000 --raters-per-item 5   # 10M

Generates a long string table (items × raters-per-item labels from 2,000 raters,
5 classes, 60 % of labels equal to a latent truth), then runs α, Fleiss' κ, AC1 and
per-rater agreement. Prints the suite's seconds, the RSS once the data is loaded and
the process's peak RSS (``ru_maxrss``); bench/agreement.py compares with the peers.
Targets (issue 3): 3M ≤ 3 s; 10M ≤ 10 s with peak ≤ 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pyarrow as pa

from opsloop.metrics import agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--raters-per-item", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    k = args.raters_per_item
    items = np.repeat(np.arange(args.items), k)
    raters = (items * 37 + np.tile(np.arange(k), args.items) * 401) % 2000
    truth = np.repeat(rng.integers(0, 5, args.items), k)
    labels = np.where(rng.random(items.size) < 0.6, truth, rng.integers(0, 5, items.size))
    table = pa.table(
        {
            "item_id": pa.array(items.astype(str)),
            "rater_id": pa.array(raters.astype(str)),
            "label": pa.array(labels.astype(str)),
        }
    )
    del items, raters, truth, labels
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    result = agreement(
        table,
        metrics=["krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "rater_peer_agreement"],
        n_boot=200,
        seed=0,
    )
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    alpha = result.get("krippendorff_alpha").value
    print(
        f"{table.num_rows:,} annotations: suite {seconds:.2f} s, α={alpha:.5f}, "
        f"RSS after load {loaded:,.0f} MB, peak {peak:,.0f} MB"
    )


if __name__ == "__main__":
    main()
