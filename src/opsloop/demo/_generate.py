"""Orchestration: draw the population, then the operation chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from opsloop.config import Config
from opsloop.demo import _taxonomy as tx
from opsloop.demo._annotations import make_chunk
from opsloop.demo._extras import make_evals, make_preferences
from opsloop.demo._manifest import write_manifest
from opsloop.demo._population import active_pool, make_raters, rater_ids, raters_table
from opsloop.demo._taxonomy import Arr
from opsloop.demo._writer import PartWriter, write_single
from opsloop.schema import INGEST_ORDER

CHUNKED_TABLES: tuple[str, ...] = ("items", "annotations", "gold", "audits", "predictions")
# independent random streams, so that one table's draws never shift another's
_STREAM_RATERS, _STREAM_VOLUME, _STREAM_CHUNK, _STREAM_PREFS, _STREAM_EVALS, _STREAM_TEXT = range(6)


@dataclass(frozen=True)
class DemoData:
    """What :func:`generate_demo` wrote.

    ``files`` maps each canonical table name to its Parquet files (chunked
    tables may have several parts), ``config`` is the project configuration
    (taxonomy, severities, KPI targets), ``manifest_path`` the JSON manifest of
    planted effects and ``n_annotations`` the number of annotation rows.
    """

    files: dict[str, tuple[Path, ...]]
    config: Config
    manifest_path: Path
    n_annotations: int


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def _items_per_day(seed: int, target_annotations: int) -> Arr:
    """Poisson item volume per day, scaled to the target number of annotations."""
    per_item = tx.HONEYPOT_ITEM_SHARE * tx.HONEYPOT_K + (1 - tx.HONEYPOT_ITEM_SHARE) * float(
        tx.OVERLAP_K @ tx.OVERLAP_P
    )
    weights = tx.WEEKDAY_WEIGHTS[np.arange(tx.N_DAYS) % 7]
    mean = target_annotations / per_item * weights / weights.sum()
    counts: Arr = _rng(seed, _STREAM_VOLUME).poisson(mean)
    return counts


def generate_demo(
    out_dir: Path,
    *,
    scale: Literal["small", "1m", "10m"] = "small",
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> DemoData:
    """Generate the demo operation into ``out_dir`` and return what was written.

    Writes ``out_dir/data/<table>/part-NNNNN.parquet`` for the chunked tables
    (items, annotations, gold, audits, predictions), ``out_dir/data/<table>.parquet``
    for raters, preferences and evals, and ``out_dir/manifest.json`` describing
    the planted effects. The same ``seed`` and ``scale`` give identical files.
    ``progress(done, total)`` is called after each chunk is written.
    """
    if scale not in tx.SCALES:
        raise ValueError(f"scale must be one of {', '.join(tx.SCALES)}; got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    spec = tx.SCALES[scale]
    out_dir = Path(out_dir)
    data_dir = out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)

    raters = make_raters(_rng(seed, _STREAM_RATERS), spec.raters)
    ids = rater_ids(raters.n)
    volume = _items_per_day(seed, spec.annotations)
    starts = list(range(0, tx.N_DAYS, spec.days_per_chunk))
    total = len(starts) + 2
    files: dict[str, tuple[Path, ...]] = {}
    rows: dict[str, int] = {}

    files["raters"] = write_single(raters_table(raters), data_dir / "raters.parquet")
    rows["raters"] = raters.n
    writers = {t: PartWriter(data_dir / t, spec.rows_per_part) for t in CHUNKED_TABLES}
    item_offset = annotation_offset = 0
    for done, first in enumerate(starts, start=1):
        days = np.arange(first, min(first + spec.days_per_chunk, tx.N_DAYS))
        day = np.repeat(days, volume[days])
        chunk = make_chunk(
            _rng(seed, _STREAM_CHUNK, first),
            raters,
            ids,
            active_pool(raters, int(days[0])),
            day,
            item_offset,
            annotation_offset,
            _rng(seed, _STREAM_TEXT, first),
        )
        item_offset += chunk.items.num_rows
        annotation_offset += chunk.annotations.num_rows
        for table in CHUNKED_TABLES:
            writers[table].write(getattr(chunk, table))
        del chunk
        if progress is not None:
            progress(done, total)
    for table, writer in writers.items():
        files[table] = writer.close()
        rows[table] = writer.rows

    prefs = make_preferences(_rng(seed, _STREAM_PREFS), raters, ids, spec.preference_pairs)
    files["preferences"] = write_single(prefs, data_dir / "preferences.parquet")
    rows["preferences"] = prefs.num_rows
    if progress is not None:
        progress(total - 1, total)
    evals = make_evals(_rng(seed, _STREAM_EVALS), spec.eval_items)
    files["evals"] = write_single(evals, data_dir / "evals.parquet")
    rows["evals"] = evals.num_rows

    config = tx.build_config()
    manifest_path = out_dir / "manifest.json"
    ordered = {t: files[t] for t in INGEST_ORDER}
    write_manifest(manifest_path, seed=seed, scale=scale, files=ordered, rows=rows, config=config)
    if progress is not None:
        progress(total, total)
    return DemoData(
        files=ordered,
        config=config,
        manifest_path=manifest_path,
        n_annotations=rows["annotations"],
    )
