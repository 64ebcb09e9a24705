"""Start-up time of the command line: the median of N fresh runs of each command.

    .venv/bin/python bench/startup.py             # 11 runs of each
    .venv/bin/python bench/startup.py --runs 21 --json

Times, each in a fresh process (bench/_timing.py), the median of ``--runs`` runs of:

- ``python -c pass``: the interpreter alone, for scale;
- ``opsloop --help`` and ``opsloop agreement --help``;
- ``opsloop tables`` on a tiny workspace (4 labels): start-up plus opening the store;
- ``opsloop agreement FILE`` and ``opsloop infer FILE`` up to the moment the command
  calls a file reader (``opsloop.io._read.read_table`` or
  ``opsloop.io._labels.read_labels``), where a small wrapper ends the process: the start-up a command pays before it begins reading data.
  The wrapper runs ``opsloop.cli.main`` as the console script does.

Targets (issue "one analysis core, fast end to end"): ``opsloop --help`` ≤ 0.3 s;
a command's own start-up before its work (``agreement --help``, start-up until
the data are read) ≤ 0.5 s. Bytecode must be compiled (scripts/_env.sh does it at
install; ``python -m compileall -q .venv/lib`` for an older environment), or the
first runs pay for it.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import _timing

# the functions a command reads its data with: the file readers of opsloop.io
READERS = {"opsloop.io._read": "read_table", "opsloop.io._labels": "read_labels"}
READERS_TEXT = " or ".join(f"{m}.{f}" for m, f in READERS.items())

# ends the process when the command calls a reader: start-up until the data are read
STOP_AT_READ = rf"""
import importlib.machinery, os, sys

READERS = {READERS!r}

class StopAtRead:  # a meta path finder (importlib.abc itself is slow to import)
    def find_spec(self, name, path=None, target=None):
        if name not in READERS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run_module = spec.loader.exec_module
        def exec_module(module):
            run_module(module)
            setattr(module, READERS[name], lambda *args, **kwargs: os._exit(0))
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, StopAtRead())
sys.argv = ["opsloop", *sys.argv[1:]]
from opsloop.cli import main
main()
sys.exit("the command finished without calling {READERS_TEXT}")
"""

TINY_CSV = "item_id,rater_id,label\ni1,r1,a\ni1,r2,a\ni2,r1,b\ni2,r2,a\n"


def _tiny_workspace(root: Path) -> tuple[Path, Path]:
    """A workspace holding 4 labels, and the same labels as a CSV file."""
    csv = root / "labels.csv"
    csv.write_text(TINY_CSV, encoding="utf-8")
    ws = root / "ws"
    subprocess.run([_timing.OPSLOOP, "init", str(ws), "--labels", "a,b"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([_timing.OPSLOOP, "-w", str(ws), "ingest", "annotations", str(csv)],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return ws, csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs of each command (median)")
    _timing.common_args(parser)
    args = parser.parse_args()
    report = _timing.Report("bench/startup.py", args.json)
    py, ops = _timing.PYTHON, _timing.OPSLOOP
    with tempfile.TemporaryDirectory(prefix="opsloop-bench-startup-") as tmp:
        ws, csv = _tiny_workspace(Path(tmp))
        commands = [
            ("python -c pass", [py, "-c", "pass"], None),
            ("opsloop --help", [ops, "--help"], 0.3),
            ("opsloop agreement --help", [ops, "agreement", "--help"], 0.5),
            ("opsloop tables (tiny workspace)", [ops, "-w", str(ws), "tables"], None),
            ("agreement FILE until read", [py, "-c", STOP_AT_READ, "agreement", str(csv)], 0.5),
            ("infer FILE until read", [py, "-c", STOP_AT_READ, "infer", str(csv)], 0.5),
        ]
        runs = [_timing.median_of(label, cmd, args.runs) for label, cmd, _ in commands]
    report.table(f"start-up: median of {args.runs} fresh runs (× first: × the bare interpreter)",
                 runs, notes=[f"'until read': the wrapper ends the process when the command "
                              f"calls {READERS_TEXT}"])  # fmt: skip
    for (label, _, limit), r in zip(commands, runs, strict=True):
        if limit is not None:
            report.target(f"{label} ≤ {limit} s (median {r.seconds:.3f} s)", r.seconds <= limit)
    report.finish()


if __name__ == "__main__":
    main()
