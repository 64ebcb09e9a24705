"""Generation speed and peak memory of the demo generator.

    python bench/demo_gen.py --scale 10m --out /tmp/demo10m

Prints rows written, wall time, annotations per second and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from opsloop.demo import generate_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=("small", "1m", "10m"), default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="kept if given")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="opsloop-demo-"))

    def progress(done: int, total: int) -> None:
        print(f"\r  chunk {done}/{total}", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    data = generate_demo(out, scale=args.scale, seed=args.seed, progress=progress)
    elapsed = time.perf_counter() - t0
    print(file=sys.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = sum(p.stat().st_size for ps in data.files.values() for p in ps) / 1e6
    print(
        f"scale={args.scale} annotations={data.n_annotations:,} time={elapsed:.1f}s "
        f"rate={data.n_annotations / elapsed:,.0f}/s peak_rss={peak_mb:.0f}MB "
        f"parquet={size_mb:.0f}MB"
    )
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
