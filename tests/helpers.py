"""Small builders shared by tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsloop.config import Config, ProjectConfig, Taxonomy
from opsloop.engine import Workspace

LABELS = ("none", "spam", "hate", "violence")


def make_workspace(root: Path, labels: tuple[str, ...] = LABELS) -> Workspace:
    config = Config(
        project=ProjectConfig(name="test"),
        taxonomy=Taxonomy(labels=labels, benign=("none",) if "none" in labels else ()),
    )
    return Workspace.init(root, config)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """Content hash of every file under ``root`` (but the scratch dir): unchanged means untouched."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".opsloop" not in p.parts:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


OPSLOOP = str(Path(sys.executable).with_name("opsloop"))


def run_cli(
    *args: str, cwd: Path | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``opsloop`` console script; with ``ok`` a failure fails the test."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("OPSLOOP_WORKSPACE", None)
    proc = subprocess.run(
        [OPSLOOP, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if ok and proc.returncode != 0:
        pytest.fail(f"opsloop {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc
