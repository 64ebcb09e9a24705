"""Shared timing for the benchmarks: each command in a fresh process, as a user runs it.

Every figure is the wall time of one child process from ``Popen`` to its exit
(interpreter start-up, imports, reading the files and writing the output all
included) and its peak memory, taken as the larger of two readings:

- ``ru_maxrss`` of the child from ``os.wait4``: exact for a single process (it
  covers waited-for grandchildren only one at a time, not their sum);
- the process tree's resident set, summed over the child and every descendant and
  sampled from ``/proc`` every 20 ms (``/proc/<pid>/statm``; descendants found from
  the parent pids in ``/proc/*/stat`` every 100 ms, since this kernel has no
  ``/proc/<pid>/task/<tid>/children``; psutil is not installed). Pages shared
  between processes are counted once per process; a peak shorter than 20 ms can be
  missed, which ``ru_maxrss`` covers for the child itself.

The machine is shared: each measurement records the 1-minute load average
(``os.getloadavg``, the first figure of ``uptime``) at its start and the child's
CPU seconds (user + system, from ``wait4``; it includes every thread, so it can
exceed the wall time, and it moves less with the load than the wall time), and
:func:`best_of` runs a command several times, interleaved with its peer, and keeps
the fastest run (the one least disturbed by other work).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OPSLOOP = str(Path(sys.executable).with_name("opsloop"))
PYTHON = sys.executable
SAMPLE_S = 0.02
RESCAN_S = 0.1
_PAGE = os.sysconf("SC_PAGE_SIZE")
_MB = 2**20

PEAK_METHOD = (
    "peak RSS = max(child's ru_maxrss from wait4, process tree's summed RSS sampled "
    "from /proc every 20 ms)"
)


@dataclass(frozen=True)
class Run:
    """One fresh-process run of one command."""

    label: str
    cmd: tuple[str, ...]
    seconds: float
    cpu_seconds: float
    peak_mb: float
    tree_peak_mb: float
    child_maxrss_mb: float
    load_1min: float
    returncode: int
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cmd"] = shlex.join(self.cmd)
        del d["stdout"], d["stderr"]
        return d


def _ppids() -> dict[int, int]:
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        out[int(name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    return out


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppids().items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in tree:
                tree.add(child)
                todo.append(child)
    return tree


def _rss_bytes(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue  # the process has just exited
    return total


def run(
    label: str,
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> Run:
    """Run ``cmd`` in a fresh process: wall seconds and peak RSS of its process tree."""
    load = os.getloadavg()[0]
    # output to files, not pipes: a child writing more than a pipe holds never blocks on us
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out_file, stderr=err_file)
        tree, peak, last_scan = {proc.pid}, 0, 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                seconds = time.perf_counter() - t0
                break
            now = time.perf_counter()
            if now - last_scan >= RESCAN_S:
                tree, last_scan = _descendants(proc.pid), now
            peak = max(peak, _rss_bytes(tree))
            time.sleep(SAMPLE_S)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = _read_back(out_file), _read_back(err_file)
    child_mb = usage.ru_maxrss / 1024  # kB on Linux
    cpu = usage.ru_utime + usage.ru_stime  # the child's and its waited-for children's
    result = Run(label, tuple(cmd), seconds, cpu, max(peak / _MB, child_mb), peak / _MB,
                 child_mb, load, proc.returncode, stdout, stderr)  # fmt: skip
    if check and proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return result


def _read_back(file: Any) -> str:
    file.seek(0)
    text: str = file.read().decode("utf-8", "replace")
    return text


def best_of(
    commands: Sequence[tuple[str, Sequence[str]]],
    repeats: int,
    *,
    cwd: Path | None = None,
    before_each: Any = None,
) -> list[Run]:
    """Run every command ``repeats`` times, interleaved; the fastest run of each, in order.

    ``before_each(label)``, when given, runs before each run (e.g. to remove an output).
    """
    best: dict[str, Run] = {}
    for _ in range(repeats):
        for label, cmd in commands:
            if before_each is not None:
                before_each(label)
            r = run(label, cmd, cwd=cwd)
            if label not in best or r.seconds < best[label].seconds:
                best[label] = r
    return [best[label] for label, _ in commands]


def median_of(label: str, cmd: Sequence[str], repeats: int, *, cwd: Path | None = None) -> Run:
    """The run of median wall time among ``repeats`` runs (``repeats`` odd gives a real run)."""
    runs = sorted((run(label, cmd, cwd=cwd) for _ in range(repeats)), key=lambda r: r.seconds)
    return runs[len(runs) // 2]


def uptime() -> str:
    """The load averages as ``uptime`` prints them (1, 5 and 15 minutes)."""
    one, five, fifteen = os.getloadavg()
    return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cores)"


class Report:
    """Collects runs, prints them for people (stderr with ``--json``) and as JSON."""

    def __init__(self, bench: str, as_json: bool) -> None:
        self.bench = bench
        self.as_json = as_json
        self.sections: list[dict[str, Any]] = []
        self.started = uptime()
        self.say(f"{bench}: {self.started}")
        self.say(PEAK_METHOD)

    def say(self, text: str = "") -> None:
        print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    def commands(self, runs: Sequence[Run]) -> None:
        for r in runs:
            self.say(f"  $ {shlex.join(r.cmd)}")

    def table(self, title: str, runs: Sequence[Run], extra: dict[str, dict[str, Any]] | None = None,
              notes: Sequence[str] = ()) -> None:  # fmt: skip
        """Print ``runs`` (the first is opsloop) with ratios to the first; keep them for JSON."""
        extra = extra or {}
        self.say(f"\n{title}")
        self.commands(runs)
        keys = list(dict.fromkeys(k for r in runs for k in extra.get(r.label, {})))
        width = max([len(r.label) for r in runs] + [10]) + 2
        widths = {k: max(len(k), 10) + 2 for k in keys}
        head = f"  {'':{width}}{'seconds':>9}{'× first':>9}{'cpu s':>8}{'peak MB':>9}{'load':>6}"
        self.say(head + "".join(f"{k:>{widths[k]}}" for k in keys))
        base = runs[0].seconds if runs else float("nan")
        for r in runs:
            values = extra.get(r.label, {})
            cells = "".join(f"{_fmt(values.get(k)):>{widths[k]}}" for k in keys)
            self.say(f"  {r.label:{width}}{r.seconds:9.2f}{r.seconds / base:8.2f}x"
                     f"{r.cpu_seconds:8.2f}{r.peak_mb:9.0f}{r.load_1min:6.2f}" + cells)  # fmt: skip
        for r in runs[1:]:
            self.say(f"  ratio: '{r.label}' takes {r.seconds / base:.2f}× the time of "
                     f"'{runs[0].label}'; '{runs[0].label}' peaks at "
                     f"{runs[0].peak_mb / r.peak_mb:.2f}× its memory")  # fmt: skip
        for note in notes:
            self.say(f"  note: {note}")
        self.sections.append({
            "title": title,
            "runs": [r.to_dict() | {"extra": extra.get(r.label, {})} for r in runs],
            "notes": list(notes),
        })  # fmt: skip

    def target(self, what: str, met: bool) -> None:
        self.say(f"  target {what}: {'met' if met else 'NOT met'}")
        if self.sections:
            self.sections[-1].setdefault("targets", {})[what] = met

    def finish(self) -> None:
        ended = uptime()
        self.say(f"\ndone: {ended}")
        if self.as_json:
            doc = {"bench": self.bench, "started": self.started, "ended": ended,
                   "peak_method": PEAK_METHOD, "python": sys.version.split()[0],
                   "sections": self.sections}  # fmt: skip
            print(json.dumps(doc, indent=2))


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.5f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def common_args(parser: argparse.ArgumentParser) -> None:
    """Options every benchmark takes."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON on stdout (the table goes to stderr)",
    )
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each command, interleaved with its peer; the fastest "
                             "is reported (default 2)")  # fmt: skip
