"""The weekly report on the 10M-annotation demo: wall time and peak memory, with a pandas peer.

    python bench/report.py                       # generates and ingests the 10m demo first
    python bench/report.py --workspace DIR       # an existing demo workspace (opsloop demo --scale 10m)
    python bench/report.py --quick               # the 1m demo

Times ``opsloop report`` in a fresh process (KPI cube, monitoring with control
charts and agreement per week, slices, rater scorecards, root-cause analysis
of every significant weekly change, model and preference checks, HTML and
JSON), and, as the everyday peer, a pandas script computing only a part of
it: weekly accuracy per locale, vendor and queue and per-rater accuracy,
from the same Parquet files. Peak memory is the child's maximum resident set
size (``wait4``). Target (issue 5): ≤ 90 s and ≤ 4 GB on 2 cores at 10M.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPSLOOP = str(Path(sys.executable).with_name("opsloop"))

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


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd[:3])} … failed: {err}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="the 1m demo instead of 10m")
    args = parser.parse_args()
    ws = args.workspace
    if ws is None:
        scale = "1m" if args.quick else "10m"
        ws = Path(tempfile.mkdtemp(prefix="opsloop-bench-report-")) / "demo"
        print(f"building the {scale} demo workspace in {ws} …", file=sys.stderr)
        subprocess.run([OPSLOOP, "demo", str(ws), "--scale", scale], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    rows = subprocess.run(
        [OPSLOOP, "sql", "select count(*) from annotations", "--format", "csv"],
        cwd=ws, capture_output=True, text=True, check=True,
    ).stdout.split()[-1]  # fmt: skip
    out = Path(tempfile.mkdtemp(prefix="opsloop-report-out-"))
    ours, ours_mb = timed([OPSLOOP, "report", "--out", str(out)], cwd=ws)
    peer, peer_mb = timed([sys.executable, "-c", PANDAS_PEER, str(ws)])
    size = (out / "report.html").stat().st_size / 1e6
    print(f"annotations: {int(rows):,}")
    print(f"{'':34} {'wall s':>8} {'peak MB':>9}")
    print(f"{'opsloop report (everything)':34} {ours:8.1f} {ours_mb:9.0f}")
    print(f"{'pandas: accuracy by week x 3 dims':34} {peer:8.1f} {peer_mb:9.0f}")
    print(f"ratio opsloop/pandas: time {ours / peer:.2f}x, memory {ours_mb / peer_mb:.2f}x")
    print(f"report.html {size:.1f} MB; target ≤ 90 s and ≤ 4096 MB: "
          f"{'met' if ours <= 90 and ours_mb <= 4096 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
