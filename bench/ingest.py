"""Ingestion speed and peak memory: opsloop ingest against plain pandas loads, same run.

    python bench/ingest.py            # 10M annotations of the demo operation
    python bench/ingest.py --quick    # 1M
    python bench/ingest.py --json     # JSON on stdout

Generates the demo operation's annotations (Parquet parts), writes the same rows
as one CSV, then times, each in a fresh process and a fresh workspace:

- ``opsloop ingest annotations`` from Parquet and from CSV (read, map, validate
  every row against the contract and taxonomy, check duplicates, write to DuckDB);
- ``pandas.read_parquet`` / ``pandas.read_csv`` of the same files (load only, no
  validation, no store) as the everyday peer.

Each opsloop run gets a new empty workspace. Time, peak memory (the process
tree's) and the runs kept are explained in bench/_timing.py. Targets (issue 2):
Parquet ≤ 30 s, CSV ≤ 90 s, peak ≤ 2 GB at 10M on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb

import _timing
from opsloop.demo import generate_demo
from opsloop.engine import Workspace


def _stored_rows(ws_dir: Path) -> int:
    con = duckdb.connect(str(ws_dir / "opsloop.duckdb"), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM annotations").fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M annotations instead of 10M")
    _timing.common_args(parser)
    args = parser.parse_args()
    report = _timing.Report("bench/ingest.py", args.json)
    scale = "1m" if args.quick else "10m"
    work = Path(tempfile.mkdtemp(prefix="opsloop-bench-ingest-"))
    report.say(f"generating the {scale} demo operation in {work} …")
    data = generate_demo(work / "demo", scale=scale, seed=7)
    parquet = [str(p) for p in data.files["annotations"]]
    csv_path = work / "annotations.csv"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"COPY (SELECT * FROM read_parquet({parquet!r})) TO '{csv_path}' (HEADER)")
    row = con.execute(f"SELECT count(*) FROM read_parquet({parquet!r})").fetchone()
    con.close()
    n = int(row[0]) if row else 0
    csv_mb = csv_path.stat().st_size / 1e6
    report.say(f"{n:,} annotations ({csv_mb:,.0f} MB as CSV)")
    for fmt, files in (("parquet", parquet), ("csv", [str(csv_path)])):
        ws_dir = work / f"ws-{fmt}"
        loader = "read_parquet" if fmt == "parquet" else "read_csv"
        code = (
            f"import pandas as pd; files={files!r}; "
            f"df = pd.concat([pd.{loader}(f) for f in files]); print(len(df))"
        )
        ours = f"opsloop ingest ({fmt})"
        commands = [
            (ours, [_timing.OPSLOOP, "-w", str(ws_dir), "ingest", "annotations", *files]),
            (f"pandas {loader} (load only)", [sys.executable, "-c", code]),
        ]

        def fresh_workspace(label: str, ws_dir: Path = ws_dir, ours: str = ours) -> None:
            if label == ours:
                shutil.rmtree(ws_dir, ignore_errors=True)
                Workspace.init(ws_dir, data.config).close()

        runs = _timing.best_of(commands, args.repeats, before_each=fresh_workspace)
        stored = _stored_rows(ws_dir)
        if stored != n:
            raise SystemExit(f"opsloop stored {stored:,} rows of {n:,}")
        report.table(f"{n:,} annotations from {fmt} ({len(files)} file(s))", runs)
        limit = 30 if fmt == "parquet" else 90
        if scale == "10m":
            report.target(f"{fmt} ≤ {limit} s", runs[0].seconds <= limit)
            report.target(f"{fmt} peak ≤ 2 GB", runs[0].peak_mb <= 2048)
    shutil.rmtree(work, ignore_errors=True)
    report.finish()


if __name__ == "__main__":
    main()
