"""A two-question Label Studio project, written as a real export, for the multi-task tests.

120 items, each labelled by three of five raters over four ISO weeks (2025-W10 to
2025-W13, 30 items a week, Monday to Friday). Every annotation answers two controls: ``policy`` (a
choice among none/spam/hate) and ``quality`` (a 1–5 rating). Label Studio puts both
answers in one annotation with one ``lead_time``, so each (item, rater) pair is one
piece of work carrying two labels. Gold exists for both tasks on every item; items
carry a locale and raters a vendor. Labels are drawn from a seeded generator: about
85% of policy answers and 70% of ratings match the gold, the rest are off by one
category (ratings) or random (policy).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POLICY = ("none", "spam", "hate")
RATINGS = ("1", "2", "3", "4", "5")
RATERS = ("r1", "r2", "r3", "r4", "r5")
VENDORS = {"r1": "acme", "r2": "acme", "r3": "acme", "r4": "bolt", "r5": "bolt"}
LOCALES = ("en", "de")
N_ITEMS = 120
PER_ITEM = 3
FIRST_MONDAY = dt.datetime(2025, 3, 3, 9)  # 2025-W10

TOML = """
[project]
name = "two-questions"

[taxonomy]
labels = ["none", "spam", "hate"]
benign = ["none"]

[taxonomy.tasks.policy]
labels = ["none", "spam", "hate"]
benign = ["none"]

[taxonomy.tasks.quality]
labels = ["1", "2", "3", "4", "5"]
level = "ordinal"
"""


@dataclass(frozen=True)
class Project:
    """Paths of the files written, and the rows behind them for independent checks."""

    export: Path
    gold: Path
    items: Path
    raters: Path
    rows: list[dict[str, object]]  # one per (item, rater, task)


def _rating(truth: int, rng: np.random.Generator) -> int:
    if rng.random() < 0.7:
        return truth
    step = 1 if rng.random() < 0.5 else -1
    return int(min(5, max(1, truth + step)))


def write_project(root: Path, *, dated: bool = True, seed: int = 3) -> Project:
    """Write the Label Studio export, gold, items and raters files under ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    tasks: list[dict[str, object]] = []
    gold = ["item_id,task,label"]
    items = ["item_id,locale"]
    rows: list[dict[str, object]] = []
    ann_id = 1000
    for i in range(N_ITEMS):
        item = str(i + 1)
        truth_policy = POLICY[int(rng.integers(len(POLICY)))]
        truth_rating = int(rng.integers(1, 6))
        gold += [f"{item},policy,{truth_policy}", f"{item},quality,{truth_rating}"]
        items.append(f"{item},{LOCALES[i % 2]}")
        week, slot = divmod(i, 30)
        when = FIRST_MONDAY + dt.timedelta(days=7 * week + slot % 5, minutes=slot)
        anns = []
        for r in rng.choice(len(RATERS), size=PER_ITEM, replace=False).tolist():
            rater = RATERS[r]
            ok = rng.random() < 0.85
            policy = truth_policy if ok else POLICY[int(rng.integers(len(POLICY)))]
            rating = str(_rating(truth_rating, rng))
            lead = round(float(rng.uniform(5, 60)), 2)
            ann_id += 1
            ann: dict[str, object] = {
                "id": ann_id,
                "completed_by": {"id": rater, "email": f"{rater}@example.com"},
                "lead_time": lead,
                "was_cancelled": False,
                "result": [
                    {"from_name": "policy", "to_name": "text", "type": "choices",
                     "value": {"choices": [policy]}},
                    {"from_name": "quality", "to_name": "text", "type": "rating",
                     "value": {"rating": int(rating)}},
                ],
            }  # fmt: skip
            if dated:
                ann["created_at"] = when.isoformat() + "Z"
            anns.append(ann)
            for task, label in (("policy", policy), ("quality", rating)):
                rows.append({"item_id": item, "rater_id": rater, "task": task, "label": label,
                             "duration_s": lead, "submitted_at": when if dated else None})  # fmt: skip
        tasks.append({"id": i + 1, "data": {"text": f"post {item}"}, "annotations": anns})
    export = root / "export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    (root / "gold.csv").write_text("\n".join(gold) + "\n", encoding="utf-8")
    (root / "items.csv").write_text("\n".join(items) + "\n", encoding="utf-8")
    raters = ["rater_id,vendor", *(f"{r},{VENDORS[r]}" for r in RATERS)]
    (root / "raters.csv").write_text("\n".join(raters) + "\n", encoding="utf-8")
    return Project(export, root / "gold.csv", root / "items.csv", root / "raters.csv", rows)
