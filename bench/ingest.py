"""Ingestion speed and peak memory: opsloop ingest against plain pandas loads, same run.

    python bench/ingest.py            # 10M annotations of the demo operation
    python bench/ingest.py --quick    # 1M

Generates the demo operation's annotations (Parquet parts), writes the same rows
as one CSV, then times, each in a fresh process and a fresh workspace:

- ``opsloop ingest annotations`` from Parquet and from CSV (read, map, validate
  every row against the contract and taxonomy, check duplicates, write to DuckDB);
- ``pandas.read_parquet`` / ``pandas.read_csv`` of the same files (load only, no
  validation, no store) as the everyday peer.

Peak memory is the child's maximum resident set size (``wait4``). Targets
(issue 2): Parquet ≤ 30 s, CSV ≤ 90 s, peak ≤ 2 GB at 10M on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from opsloop.demo import generate_demo
from opsloop.engine import Workspace

OPSLOOP = str(Path(sys.executable).with_name("opsloop"))


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd[:4])} … failed: {err}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M annotations instead of 10M")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    scale = "1m" if args.quick else "10m"
    work = Path(tempfile.mkdtemp(prefix="opsloop-bench-ingest-"))
    print(f"generating the {scale} demo operation in {work} …", file=sys.stderr)
    data = generate_demo(work / "demo", scale=scale, seed=7)
    parquet = [str(p) for p in data.files["annotations"]]
    csv_path = work / "annotations.csv"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"COPY (SELECT * FROM read_parquet({parquet!r})) TO '{csv_path}' (HEADER)")
    n = con.execute(f"SELECT count(*) FROM read_parquet({parquet!r})").fetchone()[0]  # type: ignore[index]
    con.close()
    csv_mb = csv_path.stat().st_size / 1e6
    results = []
    for fmt, files in (("parquet", parquet), ("csv", [str(csv_path)])):
        ws_dir = work / f"ws-{fmt}"
        Workspace.init(ws_dir, data.config).close()
        secs, peak = timed([OPSLOOP, "-w", str(ws_dir), "ingest", "annotations", *files])
        rows = (
            duckdb.connect(str(ws_dir / "opsloop.duckdb"), read_only=True)
            .execute("SELECT count(*) FROM annotations")
            .fetchone()[0]
        )  # type: ignore[index]
        if rows != n:
            raise SystemExit(f"opsloop stored {rows} rows of {n}")
        loader = "read_parquet" if fmt == "parquet" else "read_csv"
        code = (
            f"import pandas as pd; files={files!r}; "
            f"df = pd.concat([pd.{loader}(f) for f in files]); print(len(df))"
        )
        p_secs, p_peak = timed([sys.executable, "-c", code])
        results.append(
            {
                "format": fmt,
                "rows": n,
                "opsloop_s": secs,
                "opsloop_peak_mb": peak,
                "pandas_s": p_secs,
                "pandas_peak_mb": p_peak,
                "time_ratio": secs / p_secs,
                "memory_ratio": peak / p_peak,
            }
        )
    print(f"\n{n:,} annotations ({csv_mb:,.0f} MB as CSV), {os.cpu_count()} cores\n")
    print(
        f"{'format':8} {'opsloop ingest':>16} {'peak':>9} {'pandas load':>13} {'peak':>9} "
        f"{'time ×':>7} {'mem ×':>6}"
    )
    for r in results:
        print(
            f"{r['format']:8} {r['opsloop_s']:14.1f} s {r['opsloop_peak_mb']:6.0f} MB "
            f"{r['pandas_s']:11.1f} s {r['pandas_peak_mb']:6.0f} MB "
            f"{r['time_ratio']:7.2f} {r['memory_ratio']:6.2f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"ingest-{scale}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
