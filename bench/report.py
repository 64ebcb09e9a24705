"""The weekly report on the 10M-annotation demo: wall time and peak memory, with a pandas peer.

    python bench/report.py                       # generates and ingests the 10m demo first
    python bench/report.py --workspace DIR       # an existing demo workspace (opsloop demo --scale 10m)
    python bench/report.py --quick               # the 1m demo
    python bench/report.py --json                # JSON on stdout

Times ``opsloop report`` in a fresh process (KPI cube, monitoring with control
charts and agreement per week, slices, rater scorecards, root-cause analysis
of every significant weekly change, model and preference checks, HTML and
JSON), and, as the everyday peer, a pandas script computing only a part of
it: weekly accuracy per locale, vendor and queue and per-rater accuracy,
from the same Parquet files. Time, peak memory (the process tree's) and the runs
kept are explained in bench/_timing.py. Targets: ≤ 15 s and ≤ 1.5 GB on 2
cores at 10M.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import _timing

OPSLOOP = _timing.OPSLOOP

PANDAS_PEER = r"""
import sys, glob
import pandas as pd
root = sys.argv[1]
def load(name, cols):
    files = sorted(glob.glob(f"{root}/data/{name}/*.parquet")) or [f"{root}/data/{name}.parquet"]
    return pd.concat([pd.read_parquet(f, columns=cols) for f in files], ignore_index=True)
ann = load("annotations", ["item_id", "rater_id", "label", "submitted_at", "queue"])
gold = load("gold", ["item_id", "label"]).rename(columns={"label": "truth"})
items = load("items", ["item_id", "locale"])
raters = load("raters", ["rater_id", "vendor"])
t = ann.merge(gold, on="item_id").merge(items, on="item_id").merge(raters, on="rater_id")
t["ok"] = (t["label"] == t["truth"]).astype("int8")
t["week"] = t["submitted_at"].dt.to_period("W").dt.start_time
out = [t.groupby(["week", d])["ok"].agg(["mean", "size"]) for d in ("locale", "vendor", "queue")]
per_rater = t.groupby("rater_id")["ok"].agg(["mean", "size"])
print(sum(len(o) for o in out), len(per_rater))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="the 1m demo instead of 10m")
    _timing.common_args(parser)
    args = parser.parse_args()
    report = _timing.Report("bench/report.py", args.json)
    ws = args.workspace
    built = None
    if ws is None:
        scale = "1m" if args.quick else "10m"
        built = Path(tempfile.mkdtemp(prefix="opsloop-bench-report-"))
        ws = built / "demo"
        report.say(f"building the {scale} demo workspace in {ws} …")
        subprocess.run([OPSLOOP, "demo", str(ws), "--scale", scale], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    rows = subprocess.run(
        [OPSLOOP, "sql", "select count(*) from annotations", "--format", "csv"],
        cwd=ws, capture_output=True, text=True, check=True,
    ).stdout.split()[-1]  # fmt: skip
    out = Path(tempfile.mkdtemp(prefix="opsloop-report-out-"))
    commands = [
        ("opsloop report (everything)", [OPSLOOP, "report", "--out", str(out)]),
        ("pandas: accuracy by week x 3 dims", [sys.executable, "-c", PANDAS_PEER, str(ws)]),
    ]
    runs = _timing.best_of(commands, args.repeats, cwd=ws)
    size = (out / "report.html").stat().st_size / 1e6
    report.table(f"weekly report on {int(rows):,} annotations (workspace {ws})", runs,
                 notes=[f"report.html {size:.1f} MB", "the peer computes only a part of the "
                        "report: weekly accuracy per locale, vendor and queue, per-rater accuracy"])  # fmt: skip
    if int(rows) >= 5_000_000:  # the targets are set for the 10m demo (about 10M rows)
        report.target("10M ≤ 15 s", runs[0].seconds <= 15)
        report.target("10M ≤ 1.5 GB", runs[0].peak_mb <= 1536)
    shutil.rmtree(out, ignore_errors=True)
    if built is not None:
        shutil.rmtree(built, ignore_errors=True)
    report.finish()


if __name__ == "__main__":
    main()
