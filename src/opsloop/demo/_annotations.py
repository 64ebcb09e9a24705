"""One chunk of the operation: items, annotations, gold, audits and predictions.

A chunk is a run of days within one week. Everything is drawn with vectorised
numpy: items get a locale, queue, content type and a hidden true label; each
item is served to 1, 3 or 5 distinct raters of its locale (honeypots to 5);
whether a rater is right follows a logistic model of rater skill, policy,
queue, content type, tenure ramp-up, fatigue and the planted effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.demo import _taxonomy as tx
from opsloop.demo._population import Pool, Raters, string_ids, take_strings, timestamps
from opsloop.demo._taxonomy import Arr
from opsloop.demo._text import OFF_TOPIC_SHARE, item_text

ERROR_CATEGORIES: tuple[str, ...] = ("missed_violation", "over_enforcement", "wrong_policy")
_ESCALATION = np.array([tx.escalation_share(w) for w in range(1, tx.N_WEEKS + 1)])
_VERSIONS: tuple[str, ...] = tuple(
    sorted({tx.guideline_version(w) for w in range(1, tx.N_WEEKS + 1)})
)
_VERSION_OF_WEEK = np.array(
    [_VERSIONS.index(tx.guideline_version(w)) for w in range(1, tx.N_WEEKS + 1)]
)
_CONFUSION_LOCALE = tx.LOCALES.index(tx.CONFUSION_LOCALE)
_CONFUSION_VERSION = _VERSIONS.index(tx.CONFUSION_VERSION)


@dataclass(frozen=True)
class Chunk:
    """The tables of one chunk, ready to write."""

    items: pa.Table
    annotations: pa.Table
    gold: pa.Table
    audits: pa.Table
    predictions: pa.Table


def _categorical(rng: np.random.Generator, cum: Arr) -> Arr:
    """One draw per row of the row-wise cumulative probabilities ``cum``."""
    u: Arr = rng.random(int(cum.shape[0]))
    out: Arr = np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1)
    return out


def _wrong_labels(rng: np.random.Generator, truth: Arr) -> Arr:
    """A wrong label for each true label, from the error confusion weights."""
    wrong = _categorical(rng, tx.ERROR_CUM[truth])
    return np.where(wrong == truth, (truth + 1) % tx.N_LABELS, wrong)


def _const(value: str, n: int) -> pa.Array:
    """An Arrow string array repeating ``value``."""
    return pa.repeat(pa.scalar(value, type=pa.string()), n)


def _sigmoid(x: Arr) -> Arr:
    return 1.0 / (1.0 + np.exp(-x))


def make_chunk(
    rng: np.random.Generator,
    r: Raters,
    rater_id_array: pa.Array,
    pool: Pool,
    day: Arr,
    item_offset: int,
    annotation_offset: int,
    text_rng: np.random.Generator,
) -> Chunk:
    """Draw the items of ``day`` (one entry per item) and everything about them.

    The items' text comes from ``text_rng`` (:func:`~opsloop.demo._text.item_text`),
    so that its words never shift the draws of the other tables.
    """
    n = day.shape[0]
    week = day // 7 + 1
    locale: Arr = np.asarray(rng.choice(len(tx.LOCALES), size=n, p=tx.LOCALE_WEIGHTS))
    queue = (rng.random(n) < _ESCALATION[week - 1]).astype(np.int64)
    prevalence = tx.PREVALENCE[queue] * tx.LOCALE_PREVALENCE_MULT[locale]
    truth = _categorical(rng, np.cumsum(prevalence / prevalence.sum(axis=1)[:, None], axis=1))
    ctype: Arr = np.asarray(rng.choice(len(tx.CONTENT_TYPES), size=n, p=tx.CONTENT_WEIGHTS))
    source: Arr = np.asarray(rng.choice(len(tx.SOURCES), size=n, p=tx.SOURCE_WEIGHTS))
    honeypot: Arr = np.asarray(rng.random(n) < tx.HONEYPOT_ITEM_SHARE)
    k = np.where(honeypot, tx.HONEYPOT_K, rng.choice(tx.OVERLAP_K, size=n, p=tx.OVERLAP_P))
    k = np.minimum(k, pool.count[locale])
    created_us = tx.START_US + day * tx.US_PER_DAY - rng.integers(0, 30 * tx.US_PER_HOUR, n)

    # serve each item to k distinct raters of its locale: r0 + j*step (mod count)
    item_of = np.repeat(np.arange(n), k)
    m = item_of.shape[0]
    j = np.arange(m) - np.repeat(np.cumsum(k) - k, k)
    count: Arr = pool.count[locale]
    r0 = (rng.random(n) * count).astype(np.int64)
    step = 1 + (rng.random(n) * np.maximum(count // k, 1)).astype(np.int64)
    local = (r0[item_of] + j * step[item_of]) % count[item_of]
    rater = pool.members[pool.start[locale[item_of]] + local]

    a_day, a_week = day[item_of], week[item_of]
    t, q, c, loc = truth[item_of], queue[item_of], ctype[item_of], locale[item_of]
    tenure = (a_day - r.hired_day[rater]).astype(np.float64)
    hours = rng.random(m) * r.shift_hours[rater]
    logit = (
        r.base[rater]
        + r.label_skill[rater, t]
        + tx.LABEL_DIFFICULTY[t]
        + tx.QUEUE_DIFFICULTY[q]
        + tx.CONTENT_DIFFICULTY[c]
        + tx.LOCALE_DIFFICULTY[loc]
        - r.ramp_penalty[rater] * np.exp(-tenure / r.ramp_days[rater])
        - tx.FATIGUE_PER_HOUR * np.maximum(hours - tx.FATIGUE_AFTER_H, 0.0)
        + np.where(a_week >= tx.SIMPSON_WEEK, tx.CALIBRATION_GAIN[q], 0.0)
    )
    correct = rng.random(m) < _sigmoid(logit)
    wrong = _wrong_labels(rng, t)
    label = np.where(correct, t, wrong)
    # planted: the guideline version blurs harassment and hate in one locale
    version = _VERSION_OF_WEEK[a_week - 1]
    confused = (
        (loc == _CONFUSION_LOCALE)
        & (version == _CONFUSION_VERSION)
        & ((t == tx.HARASSMENT) | (t == tx.HATE))
        & (rng.random(m) < tx.CONFUSION_FLIP)
    )
    label = np.where(confused, tx.HARASSMENT + tx.HATE - t, label)

    submitted = (
        tx.START_US
        + a_day * tx.US_PER_DAY
        + 8 * tx.US_PER_HOUR
        + (hours * tx.US_PER_HOUR).astype(np.int64)
    )
    duration = (
        tx.HANDLING_MEDIAN_S[c]
        * tx.QUEUE_TIME_MULT[q]
        * r.speed[rater]
        * (1.0 + 0.6 * np.exp(-tenure / 14.0))
        * np.exp(rng.normal(0.0, 0.55, m))
    )
    duration = np.round(duration, 1)
    order = np.argsort(submitted, kind="stable")
    ann_no = np.empty(m, dtype=np.int64)
    ann_no[order] = annotation_offset + np.arange(m)

    item_ids = string_ids("it", item_offset + np.arange(n), 9)
    ann_item_ids = pc.take(item_ids, pa.array(item_of[order]))
    ann_rater_ids = pc.take(rater_id_array, pa.array(rater[order]))
    ann_ids = string_ids("a", ann_no[order], 10)
    cost = np.round(
        tx.VENDOR_COST[r.vendor[rater]] * tx.CONTENT_COST_MULT[c] * tx.QUEUE_COST_MULT[q], 4
    )
    annotations = pa.table(
        {
            "annotation_id": ann_ids,
            "item_id": ann_item_ids,
            "rater_id": ann_rater_ids,
            "task": _const("label", m),
            "label": take_strings(tx.LABELS, label[order]),
            "submitted_at": timestamps(submitted[order]),
            "started_at": timestamps(submitted[order] - (duration[order] * 1e6).astype(np.int64)),
            "duration_s": pa.array(duration[order], type=pa.float64()),
            "guideline_version": take_strings(_VERSIONS, version[order]),
            "queue": take_strings(tx.QUEUES, q[order]),
            "is_gold_check": pa.array(honeypot[item_of][order], type=pa.bool_()),
            "unit_cost_usd": pa.array(cost[order], type=pa.float64()),
        }
    )

    audits = _audits(
        rng, order, ann_ids, ann_item_ids, ann_rater_ids, label, t, q, wrong, submitted
    )
    off_topic: Arr = np.asarray(rng.random(n) < OFF_TOPIC_SHARE)
    rng.random(n)  # drawn as since the first release, so that gold and predictions keep theirs
    items = pa.table(
        {
            "item_id": item_ids,
            "text": item_text(text_rng, truth, locale, off_topic),
            "locale": take_strings(tx.LOCALES, locale),
            "content_type": take_strings(tx.CONTENT_TYPES, ctype),
            "source": take_strings(tx.SOURCES, source),
            "created_at": timestamps(created_us),
        }
    )
    expert = ~honeypot & (rng.random(n) < tx.EXPERT_GOLD_SHARE)
    in_gold = np.flatnonzero(honeypot | expert)
    gold = pa.table(
        {
            "item_id": pc.take(item_ids, pa.array(in_gold)),
            "label": take_strings(tx.LABELS, truth[in_gold]),
            "task": _const("label", in_gold.shape[0]),
            "source": take_strings(("expert", "honeypot"), honeypot[in_gold].astype(np.int64)),
        }
    )
    return Chunk(items, annotations, gold, audits, _predictions(rng, item_ids, truth))


def _audits(
    rng: np.random.Generator,
    order: Arr,
    ann_ids: pa.Array,
    ann_item_ids: pa.Array,
    ann_rater_ids: pa.Array,
    label: Arr,
    truth: Arr,
    queue: Arr,
    wrong: Arr,
    submitted: Arr,
) -> pa.Table:
    """Stratified Poisson sample of annotations reviewed by QA.

    Positions in ``ann_*`` follow ``order``; the numpy arrays are unsorted.
    """
    m = label.shape[0]
    prob = tx.AUDIT_PROB[queue, (label != tx.NONE).astype(np.int64)]
    picked_sorted = np.flatnonzero(rng.random(m) < prob[order])
    picked = order[picked_sorted]
    lab, tru = label[picked], truth[picked]
    slip = rng.random(picked.shape[0]) < tx.AUDITOR_ERROR
    # an auditor slip approves a wrong label or flags a right one
    ref = np.where(slip, np.where(lab == tru, wrong[picked], lab), tru)
    ok = lab == ref
    category = np.where(ref == tx.NONE, 1, np.where(lab == tx.NONE, 0, 2))
    sev = np.where(category == 1, 1, tx.LABEL_SEVERITY[ref])
    audited = submitted[picked] + rng.integers(
        2 * tx.US_PER_HOUR, 72 * tx.US_PER_HOUR, picked.shape[0]
    )
    idx = pa.array(picked_sorted)
    return pa.table(
        {
            "annotation_id": pc.take(ann_ids, idx),
            "item_id": pc.take(ann_item_ids, idx),
            "rater_id": pc.take(ann_rater_ids, idx),
            "task": _const("label", picked.shape[0]),
            "verdict": take_strings(("incorrect", "correct"), ok.astype(np.int64)),
            "auditor_id": string_ids(
                "qa", np.asarray(rng.integers(0, tx.N_AUDITORS, picked.shape[0])), 2
            ),
            "correct_label": take_strings(tx.LABELS, ref),
            "error_category": pc.take(
                pa.array(ERROR_CATEGORIES), pa.array(category, mask=ok, type=pa.int64())
            ),
            "severity": pc.take(
                pa.array(tx.SEVERITY_LEVELS), pa.array(sev, mask=ok, type=pa.int64())
            ),
            "audited_at": timestamps(audited),
            "inclusion_prob": pa.array(prob[picked], type=pa.float64()),
        }
    )


def _predictions(rng: np.random.Generator, item_ids: pa.Array, truth: Arr) -> pa.Table:
    """Labels and scores of model versions m1 and m2 for every item."""
    n = truth.shape[0]
    labels, scores = [], []
    for mv in range(len(tx.MODEL_VERSIONS)):
        hit = rng.random(n) < tx.MODEL_RECALL[mv, truth]
        miss_to_none = (truth != tx.NONE) & (rng.random(n) < 0.75)
        miss = np.where(miss_to_none, tx.NONE, _wrong_labels(rng, truth))
        labels.append(np.where(hit, truth, miss))
        score = np.where(hit, rng.beta(8.0, 2.0, n), rng.beta(4.0, 4.0, n))
        scores.append(np.round(np.clip(score, 0.01, 0.999), 4))
    versions = np.repeat(np.arange(len(tx.MODEL_VERSIONS)), n)
    return pa.table(
        {
            "item_id": pa.concat_arrays([item_ids] * len(tx.MODEL_VERSIONS)),
            "model_version": take_strings(tx.MODEL_VERSIONS, versions),
            "task": _const("label", versions.shape[0]),
            "label": take_strings(tx.LABELS, np.concatenate(labels)),
            "score": pa.array(np.concatenate(scores), type=pa.float64()),
        }
    )
