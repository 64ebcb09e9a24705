"""An independent synthetic labelling operation with planted causes, for the RCA tests.

Nothing here comes from ``opsloop.demo``: other dimensions (market, channel,
workflow, agency), another calendar (eight weeks from Monday 2024-09-02) and
another accuracy model. Each annotation is right with probability
``sigmoid(workflow + market + channel + rater skill − ramp-up)``; one rater
labels each item and 60% of the items have a gold label.

With ``planted=True`` three causes start in week 5 (the "after" period is
weeks 5–8, "before" weeks 1–4):

* a two-dimension slice drop: ``market=BR`` ∧ ``workflow=appeals`` loses
  ``SLICE_DROP`` logits (a local guideline problem);
* a mix shift: the hard ``deep_review`` workflow grows from 10% to 40% of the
  work (from ``triage``) while no workflow's accuracy changes;
* a bad rater cohort: agency ``Harbor`` hires ``COHORT_SIZE`` raters on the
  Monday of week 5 whose skill is ``COHORT_SKILL`` logits below the norm.

The noise is real: rater skills vary, every agency backfills a rater every
week (with a ramp-up), and every outcome is a Bernoulli draw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from opsloop.engine import Workspace
from opsloop.io import ingest

from .helpers import make_workspace

START = dt.date(2024, 9, 2)  # a Monday
WEEKS = 8
CHANGE_WEEK = 5
BEFORE = "2024-09-02..2024-09-29"
AFTER = "2024-09-30..2024-10-27"
LABELS = ("none", "spam", "hate", "violence")
TRUTH_P = np.array([0.6, 0.2, 0.1, 0.1])
MARKETS = ("BR", "MX", "US", "IN", "DE", "JP")
MARKET_P = np.array([0.2, 0.15, 0.25, 0.2, 0.1, 0.1])
MARKET_LOGIT = np.array([0.0, 0.1, 0.2, -0.1, 0.15, 0.05])
CHANNELS = ("feed", "comments", "messages", "ads")
CHANNEL_P = np.array([0.4, 0.3, 0.2, 0.1])
CHANNEL_LOGIT = np.array([0.0, -0.1, 0.05, 0.1])
WORKFLOWS = ("triage", "appeals", "deep_review")
WORKFLOW_LOGIT = np.array([2.4, 1.9, 0.4])
MIX_BEFORE = np.array([0.6, 0.3, 0.1])
MIX_AFTER = np.array([0.3, 0.3, 0.4])
AGENCIES = ("Orbit", "Pinnacle", "Harbor", "Summit")
TENURED_PER_AGENCY = 25
SKILL_SD = 0.35
RAMP_PENALTY, RAMP_DAYS = 0.6, 10.0
SLICE = {"market": "BR", "workflow": "appeals"}
SLICE_DROP = 1.7
COHORT_AGENCY = "Harbor"
COHORT_SIZE = 30
COHORT_SKILL = -2.2
GOLD_SHARE = 0.6


@dataclass(frozen=True)
class Operation:
    """A workspace holding the generated operation, and the files it was ingested from."""

    root: Path
    files: dict[str, Path]
    planted: bool

    def open(self) -> Workspace:
        return Workspace.open(self.root)


def _raters(rng: np.random.Generator, planted: bool) -> pa.Table:
    ids, agency, hired, skill = [], [], [], []
    for a, name in enumerate(AGENCIES):
        for _ in range(TENURED_PER_AGENCY):
            ids.append(f"{name[:2].lower()}{len(ids):04d}")
            agency.append(a)
            hired.append(-int(rng.integers(200, 900)))
            skill.append(rng.normal(0, SKILL_SD))
        for week in range(WEEKS):  # one backfill hire per agency and week
            ids.append(f"{name[:2].lower()}{len(ids):04d}")
            agency.append(a)
            hired.append(7 * week + int(rng.integers(0, 3)))
            skill.append(rng.normal(0, SKILL_SD))
        if planted and name == COHORT_AGENCY:
            for _ in range(COHORT_SIZE):
                ids.append(f"{name[:2].lower()}{len(ids):04d}")
                agency.append(a)
                hired.append(7 * (CHANGE_WEEK - 1))
                skill.append(COHORT_SKILL + rng.normal(0, SKILL_SD))
    base = dt.datetime.combine(START, dt.time(9))
    return pa.table(
        {
            "rater_id": ids,
            "agency": [AGENCIES[a] for a in agency],
            "hired_at": pa.array([base + dt.timedelta(days=h) for h in hired], pa.timestamp("us")),
            "__skill": skill,
            "__agency": agency,
            "__hired": hired,
        }
    )


def _annotations(
    rng: np.random.Generator, raters: pa.Table, n: int, planted: bool
) -> tuple[pa.Table, pa.Table, pa.Table]:
    day = rng.integers(0, 7 * WEEKS, n)
    after = day >= 7 * (CHANGE_WEEK - 1)
    market = rng.choice(len(MARKETS), n, p=MARKET_P)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_P)
    mix_after = MIX_AFTER if planted else MIX_BEFORE
    workflow = np.where(
        after, rng.choice(3, n, p=mix_after), rng.choice(3, n, p=MIX_BEFORE)
    ).astype(np.int64)
    truth = rng.choice(len(LABELS), n, p=TRUTH_P)
    # each annotation goes to an agency, then to one of its raters hired by that day
    agency_of = np.asarray(raters["__agency"])
    hired = np.asarray(raters["__hired"])
    skill = np.asarray(raters["__skill"])
    agency = rng.integers(0, len(AGENCIES), n)
    rater = np.empty(n, dtype=np.int64)
    for a in range(len(AGENCIES)):
        for d in np.unique(day[agency == a]):
            pool = np.flatnonzero((agency_of == a) & (hired <= d))
            sel = np.flatnonzero((agency == a) & (day == d))
            rater[sel] = rng.choice(pool, len(sel))
    tenure = day - hired[rater]
    logit = (
        WORKFLOW_LOGIT[workflow]
        + MARKET_LOGIT[market]
        + CHANNEL_LOGIT[channel]
        + skill[rater]
        - RAMP_PENALTY * np.exp(-tenure / RAMP_DAYS)
    )
    if planted:
        in_slice = (
            (market == MARKETS.index(SLICE["market"]))
            & (workflow == WORKFLOWS.index(SLICE["workflow"]))
            & after
        )
        logit = logit - SLICE_DROP * in_slice
    correct = rng.random(n) < 1 / (1 + np.exp(-logit))
    wrong = (truth + rng.integers(1, len(LABELS), n)) % len(LABELS)
    label = np.where(correct, truth, wrong)
    item_ids = [f"it{i:06d}" for i in range(n)]
    base = dt.datetime.combine(START, dt.time(0))
    submitted = [
        base + dt.timedelta(days=int(d), minutes=int(m))
        for d, m in zip(day, rng.integers(8 * 60, 20 * 60, n), strict=True)
    ]
    items = pa.table(
        {
            "item_id": item_ids,
            "market": [MARKETS[m] for m in market],
            "channel": [CHANNELS[c] for c in channel],
        }
    )
    rater_ids = raters["rater_id"].to_pylist()
    annotations = pa.table(
        {
            "item_id": item_ids,
            "rater_id": [rater_ids[r] for r in rater],
            "label": [LABELS[x] for x in label],
            "submitted_at": pa.array(submitted, pa.timestamp("us")),
            "workflow": [WORKFLOWS[w] for w in workflow],
        }
    )
    has_gold = rng.random(n) < GOLD_SHARE
    gold = pa.table(
        {
            "item_id": [i for i, g in zip(item_ids, has_gold, strict=True) if g],
            "label": [LABELS[t] for t, g in zip(truth, has_gold, strict=True) if g],
        }
    )
    return items, annotations, gold


def make_operation(root: Path, *, seed: int, planted: bool = True, n: int = 40_000) -> Operation:
    """Generate the operation, write it as Parquet and ingest it into a new workspace."""
    rng = np.random.default_rng(seed)
    raters = _raters(rng, planted)
    items, annotations, gold = _annotations(rng, raters, n, planted)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = {
        "items": items,
        "raters": raters.select(["rater_id", "agency", "hired_at"]),
        "annotations": annotations,
        "gold": gold,
    }
    paths: dict[str, Path] = {}
    for name, table in files.items():
        paths[name] = data / f"{name}.parquet"
        pq.write_table(table, paths[name])
    ws = make_workspace(root / "ws", LABELS)
    try:
        for name in ("items", "raters", "annotations", "gold"):
            ingest(ws, name, [paths[name]])
    finally:
        ws.close()
    return Operation(root / "ws", paths, planted)
