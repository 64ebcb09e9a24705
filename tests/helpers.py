"""Small builders shared by tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
