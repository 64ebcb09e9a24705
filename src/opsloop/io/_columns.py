"""Column mapping: user column names -> canonical contract names.

Explicit maps (``--map rater_id=worker`` or ``[columns.TABLE]`` in
opsloop.toml) win; otherwise common names used by labeling tools and
crowdsourcing datasets are recognised (case-insensitive)::

    task/worker/label (crowd-kit), question/worker/answer (Zheng et al. 2017),
    annotator_id, user_id, instance_id, completed_by, …

>>> resolve_columns("annotations", ["question", "worker", "answer"], {}).mapping
{'item_id': 'question', 'rater_id': 'worker', 'label': 'answer'}
"""

from __future__ import annotations

from dataclasses import dataclass

from opsloop.errors import ConfigError
from opsloop.schema import CONTRACTS

_ITEM = (
    "item_id",
    "item",
    "question",
    "question_id",
    "instance_id",
    "instance",
    "unit_id",
    "unit",
    "units",
    "subject",
    "example_id",
    "doc_id",
    "document_id",
    "content_id",
    "object_id",
    "sample_id",
    "post_id",
    "message_id",
    "text_id",
    "id",
)
_RATER = (
    "rater_id",
    "rater",
    "worker",
    "worker_id",
    "workerid",
    "_worker_id",
    "annotator",
    "annotator_id",
    "user",
    "user_id",
    "coder",
    "coder_id",
    "labeler",
    "labeller",
    "labeler_id",
    "judge",
    "observer",
    "completed_by",
    "reviewer_id",
    "moderator_id",
)
_LABEL = (
    "label",
    "answer",
    "annotation",
    "judgment",
    "judgement",
    "rating",
    "response",
    "class",
    "value",
    "decision",
)

SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "annotations": {
        "item_id": _ITEM,
        "rater_id": _RATER,
        "label": _LABEL,
        "annotation_id": ("annotation_id", "judgment_id", "response_id"),
        "task": ("task", "question_name", "from_name", "field"),
        "submitted_at": (
            "submitted_at",
            "submit_time",
            "completed_at",
            "created_at",
            "_created_at",
            "timestamp",
            "time",
        ),
        "started_at": ("started_at", "start_time", "_started_at"),
        "duration_s": (
            "duration_s",
            "duration",
            "lead_time",
            "handling_time",
            "time_spent",
            "seconds",
            "aht",
        ),
        "guideline_version": ("guideline_version", "guidelines", "policy_version"),
        "queue": ("queue", "queue_name", "project"),
        "is_gold_check": ("is_gold_check", "_golden", "golden", "is_honeypot", "honeypot"),
    },
    "items": {
        "item_id": _ITEM,
        "text": ("text", "content", "body", "message"),
        "locale": ("locale", "language", "lang"),
    },
    "raters": {"rater_id": _RATER},
    "gold": {
        "item_id": _ITEM,
        "label": ("label", "truth", "gold", "gold_label", "correct_label", "answer", "true_label"),
    },
    "audits": {
        "item_id": _ITEM,
        "rater_id": _RATER,
        "verdict": ("verdict", "audit_verdict", "is_correct", "correct", "result"),
        "auditor_id": ("auditor_id", "auditor", "qa_id", "reviewer"),
    },
    "predictions": {
        "item_id": _ITEM,
        "model_version": ("model_version", "model", "model_id"),
        "label": ("label", "prediction", "predicted_label", "pred"),
    },
    "preferences": {
        "pair_id": ("pair_id", "comparison_id", "pair", "id"),
        "rater_id": _RATER,
        "choice": ("choice", "preference", "preferred", "winner", "label"),
    },
    "evals": {
        "model_version": ("model_version", "model", "model_id"),
        "item_id": (*_ITEM, "prompt_id"),
        "outcome": ("outcome", "result", "score", "passed", "verdict"),
    },
}


@dataclass(frozen=True)
class ColumnResolution:
    """How a file's columns map to the contract: ``mapping`` canonical -> source."""

    mapping: dict[str, str]
    recognised: tuple[str, ...]  # canonical names found by synonym rather than given
    extras: tuple[str, ...]  # source columns kept as slice dimensions


def parse_map_flags(flags: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["rater_id=worker"]`` -> ``{"rater_id": "worker"}``."""
    out: dict[str, str] = {}
    for flag in flags:
        canonical, sep, source = flag.partition("=")
        if not sep or not canonical.strip() or not source.strip():
            raise ConfigError(f"--map {flag!r}: expected CANONICAL=SOURCE, e.g. rater_id=worker")
        out[canonical.strip()] = source.strip()
    return out


def resolve_columns(table: str, columns: list[str], explicit: dict[str, str]) -> ColumnResolution:
    """Map ``columns`` (as in the file) to the table contract.

    Missing required columns are not an error here: the caller reports them
    with the file name (and may switch to the wide layout).
    """
    contract = CONTRACTS[table]
    known = {c.name for c in contract.columns}
    for canonical, source in explicit.items():
        if canonical not in known:
            raise ConfigError(
                f"column map for {table}: {canonical!r} is not a column of the contract "
                f"(expected one of {', '.join(sorted(known))})"
            )
        if source not in columns:
            raise ConfigError(
                f"column map for {table}: {canonical}={source}: the file has no column "
                f"{source!r} (it has {', '.join(columns)})"
            )
    lower = {c.lower(): c for c in columns}
    mapping = dict(explicit)
    used = set(mapping.values())
    recognised: list[str] = []
    synonyms = SYNONYMS.get(table, {})
    # exact canonical names first, so a column literally called `task` stays the task
    for col in contract.columns:
        if col.name not in mapping and col.name in lower and lower[col.name] not in used:
            mapping[col.name] = lower[col.name]
            used.add(lower[col.name])
    # crowd-kit names the item `task`; take it as the item when nothing else is
    if (
        "item_id" not in mapping
        and "task" in mapping
        and "item_id" in {c.name for c in contract.required_columns}
        and not any(s in lower for s in _ITEM if lower.get(s) not in used)
        and "task" not in explicit
    ):
        mapping["item_id"] = str(mapping.pop("task"))
        recognised.append("item_id")
    for canonical, names in synonyms.items():
        if canonical in mapping:
            continue
        for name in names:
            found = lower.get(name)
            if found is not None and found not in used:
                mapping[canonical] = found
                used.add(found)
                recognised.append(canonical)
                break
    order = [c.name for c in contract.columns if c.name in mapping]
    ordered = {name: mapping[name] for name in order}
    extras = tuple(c for c in columns if c not in used)
    return ColumnResolution(ordered, tuple(recognised), extras)
