"""The manifest: what was generated and which effects were planted where.

Each planted effect has a stable ``id``, a ``kind``, a plain-language
``description``, the slice it lives in (``where``: dimension -> value), when it
happens (``when``: 1-based weeks and dates), the KPI it moves and the expected
direction and approximate size (``expected``). The sizes are design targets;
``tests/test_demo.py`` measures them in the generated data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opsloop.config import Config
from opsloop.demo import _taxonomy as tx

MANIFEST_VERSION = 1


def _when(first: int, last: int) -> dict[str, Any]:
    return {
        "weeks": [first, last],
        "start": tx.week_start(first).isoformat(),
        "end": tx.week_end(last).isoformat(),
    }


def planted_effects() -> list[dict[str, Any]]:
    """The planted effects, in a stable order."""
    vendor = tx.VENDORS[tx.WAVE_VENDOR]
    return [
        {
            "id": "guideline_confusion",
            "kind": "guideline_confusion",
            "description": (
                f"Guideline {tx.CONFUSION_VERSION} blurred the line between harassment and "
                f"hate in its '{tx.CONFUSION_LOCALE}' translation: while it was in force, "
                f"raters in that locale gave a harassment item the hate label (and the "
                f"reverse) about {tx.CONFUSION_FLIP:.0%} of the time. Fixed in v2.2."
            ),
            "where": {"locale": tx.CONFUSION_LOCALE, "guideline_version": tx.CONFUSION_VERSION},
            "when": {**_when(*tx.CONFUSION_WEEKS), "baseline_weeks": list(tx.CONFUSION_BASELINE)},
            "labels": ["harassment", "hate"],
            "kpi": ["accuracy", "wrong_policy"],
            "tables": ["annotations", "audits"],
            "expected": {
                "accuracy": {"direction": "decrease", "approx_change": -0.15},
                "wrong_policy": {"direction": "increase", "approx_change": 0.17},
                "compared_with": "the same locale in the baseline weeks",
            },
        },
        {
            "id": "vendor_new_raters",
            "kind": "rater_cohort",
            "description": (
                f"{vendor} onboarded a wave of new raters (about {tx.WAVE_SHARE:.0%} of its "
                f"headcount) on the Monday of week {tx.WAVE_WEEK}, spread over all its sites, "
                "with a shortened training; the cohort starts far below tenured raters and "
                "recovers slowly, dragging the vendor's accuracy down from that week on."
            ),
            "where": {"vendor": vendor},
            "cause": {"hired_at": tx.week_start(tx.WAVE_WEEK).isoformat()},
            "when": {**_when(tx.WAVE_WEEK, tx.N_WEEKS), "baseline_weeks": list(tx.WAVE_BASELINE)},
            "kpi": ["accuracy"],
            "tables": ["annotations", "audits", "raters"],
            "expected": {
                "accuracy": {"direction": "decrease", "approx_change": -0.12},
                "compared_with": "the same vendor in the baseline weeks",
            },
        },
        {
            "id": "simpson_mix",
            "kind": "mix_shift",
            "description": (
                f"From week {tx.SIMPSON_WEEK} a routing change sends far more content to the "
                "harder escalation queue (about 12% -> 50% of items) while a calibration "
                "programme makes raters better in every queue. Overall accuracy falls although "
                "each queue's accuracy rises (Simpson's paradox): the drop is mix, not rate."
            ),
            "where": {"queue": "escalation"},
            "when": {
                "before": _when(*tx.SIMPSON_BEFORE),
                "after": _when(*tx.SIMPSON_AFTER),
                "change_week": tx.SIMPSON_WEEK,
            },
            "kpi": ["accuracy"],
            "tables": ["annotations", "items"],
            "expected": {
                "accuracy": {"direction": "decrease", "approx_change": -0.05},
                "accuracy_within_queue": {
                    "direction": "increase",
                    "approx_change": {"standard": 0.04, "escalation": 0.10},
                },
                "escalation_share": {"before": 0.12, "after": 0.50},
            },
        },
        {
            "id": "model_regression",
            "kind": "model_regression",
            "description": (
                "Model m2 is better than m1 on every policy except self_harm, where its recall "
                "falls sharply (missed self-harm content predicted as none); the evaluation "
                "set shows the same regression as a higher fail rate on self_harm prompts."
            ),
            "where": {"model_version": "m2", "label": "self_harm"},
            "when": {"model_versions": ["m1", "m2"]},
            "kpi": ["recall", "eval_fail_rate"],
            "tables": ["predictions", "evals"],
            "expected": {
                "recall": {
                    "direction": "decrease",
                    "m1": float(tx.MODEL_RECALL[0, tx.SELF_HARM]),
                    "m2": float(tx.MODEL_RECALL[1, tx.SELF_HARM]),
                },
                "eval_fail_rate": {
                    "direction": "increase",
                    "m1": float(tx.EVAL_FAIL[0, -1]),
                    "m2": float(tx.EVAL_FAIL[1, -1]),
                },
            },
        },
        {
            "id": "preference_position_bias",
            "kind": "position_bias",
            "description": (
                "Preference raters favour whichever response is shown first, independent of "
                "quality (response order is randomised per judgement)."
            ),
            "where": {"shown_first": "a|b"},
            "when": _when(1, tx.N_WEEKS),
            "kpi": ["first_shown_win_rate"],
            "tables": ["preferences"],
            "expected": {
                "first_shown_win_rate": {"direction": "increase", "unbiased": 0.5, "approx": 0.65},
            },
        },
        {
            "id": "preference_length_bias",
            "kind": "length_bias",
            "description": (
                "Preference raters favour the longer response, although response quality is "
                "drawn independently of length."
            ),
            "where": {"longer": "a|b"},
            "when": _when(1, tx.N_WEEKS),
            "kpi": ["longer_win_rate"],
            "tables": ["preferences"],
            "expected": {
                "longer_win_rate": {"direction": "increase", "unbiased": 0.5, "approx": 0.64},
            },
        },
    ]


def background() -> list[dict[str, str]]:
    """Realistic structure that is present throughout and is not a planted change."""
    return [
        {
            "id": "tenure_ramp_up",
            "description": (
                f"Raters hired during the period start about {tx.HIRE_PENALTY} logits worse and "
                f"recover with an e-folding time of {tx.HIRE_RAMP_DAYS:.0f} days; a small "
                "backfill cohort joins every Monday at every vendor."
            ),
        },
        {
            "id": "fatigue",
            "description": (
                f"Past {tx.FATIGUE_AFTER_H:.0f} hours into a shift accuracy falls by "
                f"{tx.FATIGUE_PER_HOUR} logits per hour; 30% of raters work 10-12 hour shifts."
            ),
        },
        {
            "id": "handling_time",
            "description": (
                "Handling time is lognormal with medians of 22 s (text), 38 s (image) and "
                "105 s (video), 1.8x longer in escalation and longer for new raters."
            ),
        },
        {
            "id": "overlap",
            "description": (
                "70% of items get one rater, 25% three and 5% five; honeypots (about 5% of "
                "annotations, is_gold_check) are served to five raters each."
            ),
        },
        {
            "id": "gold",
            "description": (
                f"Gold labels exist for honeypots and for a {tx.EXPERT_GOLD_SHARE:.0%} expert-"
                "reviewed sample of the other items; the true label is not in the items table."
            ),
        },
        {
            "id": "audit_design",
            "description": (
                "QA audits are a stratified Poisson sample of annotations: 2% of standard-queue "
                "'none' labels, 6% of standard-queue violating labels, 8% of escalation; "
                "inclusion_prob holds the probability. Auditors slip 2% of the time."
            ),
        },
        {
            "id": "unit_cost",
            "description": (
                "unit_cost_usd is the vendor's rate x content-type multiplier (image 1.3, "
                "video 2.2) x escalation surcharge 1.5; in-house costs about twice a BPO."
            ),
        },
    ]


def write_manifest(
    path: Path,
    *,
    seed: int,
    scale: str,
    files: dict[str, tuple[Path, ...]],
    rows: dict[str, int],
    config: Config,
) -> None:
    """Write ``manifest.json`` (paths relative to its directory)."""
    root = path.parent
    manifest = {
        "generator": "opsloop.demo",
        "manifest_version": MANIFEST_VERSION,
        "seed": seed,
        "scale": scale,
        "period": {
            "start": tx.week_start(1).isoformat(),
            "end": tx.week_end(tx.N_WEEKS).isoformat(),
            "weeks": tx.N_WEEKS,
            "week_definition": "week 1 starts on the first Monday; weeks are 1-based",
        },
        "tables": {
            name: {
                "files": [p.relative_to(root).as_posix() for p in paths],
                "rows": rows[name],
            }
            for name, paths in files.items()
        },
        "effects": planted_effects(),
        "background": background(),
        "config": config.model_dump(mode="json"),
    }
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
