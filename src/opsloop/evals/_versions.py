"""Which two model versions a regression check compares.

>>> natural_key("m10") > natural_key("m9")
True
>>> choose_versions(["m1", "m2", "m10"], None, None, "predictions")
('m2', 'm10')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import ibis

from opsloop.errors import UsageError


def natural_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Digits compare as numbers: ``m9 < m10``, ``v1.9 < v1.10``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", version) if p)


def table_versions(table: ibis.Table) -> list[str]:
    """The distinct ``model_version`` values of ``table``, in natural order."""
    col = table.model_version.cast("string")
    rows = table.select(v=col).filter(col.notnull()).distinct().to_pyarrow().column("v")
    return sorted((str(v) for v in rows.to_pylist()), key=natural_key)


def choose_versions(
    versions: Sequence[str], baseline: str | None, candidate: str | None, what: str
) -> tuple[str, str]:
    """``(baseline, candidate)``: the given ones, checked, or the two latest by natural sort."""
    have = ", ".join(versions) or "none"
    for v in (baseline, candidate):
        if v is not None and v not in versions:
            raise UsageError(f"model version {v!r} is not in the {what} (have: {have})")
    if len(versions) < 2:
        raise UsageError(
            f"found {len(versions)} model version(s) in the {what} ({have}); "
            "a regression check compares two model versions"
        )
    cand = candidate if candidate is not None else [v for v in versions if v != baseline][-1]
    if baseline is None:
        others = [v for v in versions if v != cand]
        before = [v for v in others if natural_key(v) < natural_key(cand)]
        base = (before or others)[-1]
    else:
        base = baseline
    if base == cand:
        raise UsageError(f"baseline and candidate are the same model version ({base!r})")
    return base, cand


def check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}")
