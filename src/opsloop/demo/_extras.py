"""Preference (RLHF) judgements and model evaluation outcomes.

Preferences: each pair of responses to a prompt is judged by one or two raters
who see the two responses in a random order. A rater's utility difference is
the true quality difference plus the planted biases: a bonus for the response
shown first (position bias) and for the longer response (length bias). Quality
is drawn independently of length and order, so without the biases both shares
would be one half.

Evals: a fixed evaluation set of prompts per safety category, run against model
versions m1 and m2; m2 is better everywhere except the planted regression.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.demo import _taxonomy as tx
from opsloop.demo._population import Raters, string_ids, take_strings, timestamps

_OPENERS: tuple[str, ...] = (
    "Sure, here is a short answer.",
    "Here are three steps you can follow.",
    "I can't help with that, but here is a safer alternative.",
    "Good question. Let me explain the background first.",
    "The short version: it depends on your situation.",
    "Below is a detailed, sourced explanation.",
)


def make_preferences(
    rng: np.random.Generator, r: Raters, rater_id_array: pa.Array, n_pairs: int
) -> pa.Table:
    """The ``preferences`` table with planted position and length bias."""
    judges = np.flatnonzero(r.hired_day < 0)
    judges = np.sort(rng.choice(judges, size=max(4, judges.shape[0] // 6), replace=False))
    n_judges = judges.shape[0]
    k = np.where(rng.random(n_pairs) < 0.25, 2, 1)
    pair_of = np.repeat(np.arange(n_pairs), k)
    m = pair_of.shape[0]
    j = np.arange(m) - np.repeat(np.cumsum(k) - k, k)
    r0 = rng.integers(0, n_judges, n_pairs)
    rater = judges[
        (r0[pair_of] + j * (1 + rng.integers(0, n_judges // 2, n_pairs))[pair_of]) % n_judges
    ]

    prompt = rng.integers(0, max(1, n_pairs // 2), n_pairs)
    len_a = np.round(np.exp(rng.normal(np.log(180.0), 0.5, n_pairs))).astype(np.int64)
    len_b = np.round(np.exp(rng.normal(np.log(180.0), 0.5, n_pairs))).astype(np.int64)
    quality = rng.normal(0.0, 1.0, n_pairs) - rng.normal(0.0, 1.0, n_pairs)
    first_a = rng.random(m) < 0.5
    diff = (
        quality[pair_of]
        + tx.LENGTH_BIAS * np.log(len_a[pair_of] / len_b[pair_of])
        + np.where(first_a, tx.POSITION_BIAS, -tx.POSITION_BIAS)
        + rng.normal(0.0, 0.5, m)
    )
    choice = np.where(np.abs(diff) < tx.TIE_BAND, 2, np.where(diff > 0, 0, 1))
    submitted = tx.START_US + rng.integers(0, tx.N_DAYS * tx.US_PER_DAY, m)
    order = np.lexsort((rater, pair_of))
    pair_ids = string_ids("pr", pair_of[order], 7)
    prompt_ids = string_ids("p", prompt[pair_of][order], 6)
    opener_a = rng.integers(0, len(_OPENERS), n_pairs)[pair_of][order]
    opener_b = rng.integers(0, len(_OPENERS), n_pairs)[pair_of][order]
    return pa.table(
        {
            "pair_id": pair_ids,
            "rater_id": pc.take(rater_id_array, pa.array(rater[order])),
            "choice": take_strings(("a", "b", "tie"), choice[order]),
            "prompt_id": prompt_ids,
            "response_a": pc.binary_join_element_wise(
                take_strings(_OPENERS, opener_a), " [", pair_ids, "/a]", ""
            ),
            "response_b": pc.binary_join_element_wise(
                take_strings(_OPENERS, opener_b), " [", pair_ids, "/b]", ""
            ),
            "strength": pa.array(
                np.minimum(3.0, 1.0 + np.floor(np.abs(diff[order]))), pa.float64()
            ),
            "shown_first": take_strings(("b", "a"), first_a[order].astype(np.int64)),
            "submitted_at": timestamps(submitted[order]),
            "len_a": pa.array(len_a[pair_of][order], type=pa.int64()),
            "len_b": pa.array(len_b[pair_of][order], type=pa.int64()),
        }
    )


def make_evals(rng: np.random.Generator, n_items: int) -> pa.Table:
    """The ``evals`` table: both model versions on the same evaluation prompts."""
    category = rng.choice(len(tx.EVAL_CATEGORIES), size=n_items, p=tx.EVAL_CATEGORY_WEIGHTS)
    item_ids = string_ids("ev", np.arange(n_items), 6)
    benign = category == 0
    sev_of_cat = np.concatenate([[0], tx.LABEL_SEVERITY[1:]])
    parts = []
    for mv, name in enumerate(tx.MODEL_VERSIONS):
        fail = rng.random(n_items) < tx.EVAL_FAIL[mv, category]
        # benign prompt: failing means refusing; harmful prompt: passing is mostly refusing
        refused = np.where(benign, fail, ~fail & (rng.random(n_items) < 0.8))
        parts.append(
            pa.table(
                {
                    "model_version": pa.repeat(pa.scalar(name, type=pa.string()), n_items),
                    "item_id": item_ids,
                    "outcome": take_strings(("pass", "fail"), fail.astype(np.int64)),
                    "category": take_strings(tx.EVAL_CATEGORIES, category),
                    "refused": pa.array(refused, type=pa.bool_()),
                    "severity": take_strings(tx.SEVERITY_LEVELS, sev_of_cat[category]),
                }
            )
        )
    return pa.concat_tables(parts)
