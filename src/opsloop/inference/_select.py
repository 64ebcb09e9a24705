"""``method="auto"``: choose the estimator by how well it predicts held-out labels (no gold).

Criterion: the **held-out log-likelihood** of annotations the fit did not see
(cross-validation over annotations, as Paun et al. (2018, "Comparing Bayesian
Models of Annotation", TACL 6) compare annotation models by their predictive
accuracy for new annotations). Each item's labels are split into ``V`` folds
(``V = 5``: every fold hides ≈20% of every item's labels, seeded; items with a
single label are never hidden). For each fold and each candidate the model is
fitted on the other folds and every hidden annotation ``(i, r, l)`` is scored
by its predictive probability

    p(l | i, r) = Σ_k T₋(i, k) · P_r(l | k)

where ``T₋`` is the item posterior from the fit without the hidden labels and
``P_r(l | k)`` the rater model of that method:

* ``ds``: the rater's confusion row ``π_r[k, l]`` (Dawid & Skene, 1979);
  ``onecoin``: ``p_r`` on the diagonal, ``(1 − p_r)/(K − 1)`` elsewhere;
* ``glad``: ``σ(α_r β_i)`` when ``l = k``, else ``(1 − σ)/(K − 1)`` (Whitehill et al., 2009);
* ``mace``: ``θ_r [l = k] + (1 − θ_r) ξ_r[l]`` with the posterior means of
  competence and spam distribution (Hovy et al., 2013);
* ``mv``: vote shares as ``T₋`` and one shared accuracy ``p`` (the symmetric
  model under which majority vote is the Bayes rule), ``wmv``: weighted vote
  shares and each rater's own ``p_r``; both ``p = (Σ T₋(i, l) + 1)/(n + 2)``
  over the training annotations (add-one smoothing).

The score is the mean of ``log p(l | i, r)`` over all hidden annotations
(nats per annotation, higher is better); the method with the highest score is
chosen (ties: the first in candidate order). ``difference`` and
``difference_se`` compare each method with the chosen one, annotation by
annotation, with a standard error clustered by item. A candidate that raises
or whose fit does not converge in some fold is reported and skipped. The
choice uses the annotations only; gold, if any, is scored afterwards.

Measured on the five Zheng et al. (2017) sets with gold, seeds 0–7: the same
choice for every seed on each set (D_Product ds, Bird mace, Dog ds, Face mace,
Emotion mace; on D_Product MACE does not converge within its 50 iterations and
is skipped), each within 0.005 of the best of the six estimators' accuracy
(``tests/test_inference_auto.py``). Pooling the folds matters: a single 20%
split chose, on Face, a method 0.005–0.019 below the best for 3 of 8 seeds.
Cost: ``V`` fits per candidate (D_Product, 25k labels: about 30 s, most of it
GLAD); above ``max_annotations`` annotations in a task the choice is made on a
seeded random sample of whole items (reported in ``notes``; with fewer labels
per rater the sample can favour the simpler models).

>>> import pyarrow as pa
>>> t = pa.table({"item_id": [f"i{i // 3}" for i in range(30)],
...               "rater_id": [f"r{i % 3}" for i in range(30)],
...               "label": ["x", "x", "y"] * 5 + ["y", "y", "y"] * 5})
>>> sel = select_method(t, candidates=("mv", "ds"))
>>> sel.chosen in ("mv", "ds"), sel.n_folds, sel.n_heldout
(True, 5, 30)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from opsloop.errors import UsageError
from opsloop.inference._base import TaskData, TaskFit, prepare
from opsloop.inference._registry import METHODS, SEEDED, make_estimator
from opsloop.stats import CodedLabels

CRITERION = "held-out log-likelihood"
FALLBACK = "mv"


@dataclass(frozen=True)
class CandidateScore:
    """One candidate's criterion: mean held-out log-likelihood per annotation (nats).

    ``status`` is ``chosen``, ``ok``, ``not converged (…)`` or ``error: …``;
    the numbers are ``None`` for a skipped candidate.
    """

    method: str
    heldout_loglik: float | None
    difference: float | None
    difference_se: float | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "heldout_loglik": self.heldout_loglik,
            "difference": self.difference,
            "difference_se": self.difference_se,
            "status": self.status,
        }


@dataclass(frozen=True)
class MethodSelection:
    """Which method ``auto`` chose and every candidate's criterion (module docstring)."""

    chosen: str
    criterion: str
    candidates: tuple[CandidateScore, ...]
    n_folds: int
    n_heldout: int
    n_annotations: int
    seed: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "criterion": self.criterion,
            "n_folds": self.n_folds,
            "n_heldout": self.n_heldout,
            "n_annotations": self.n_annotations,
            "seed": self.seed,
            "candidates": [c.to_dict() for c in self.candidates],
            "notes": list(self.notes),
        }


def _expit(x: np.ndarray) -> np.ndarray:
    """The logistic function (SciPy's ``expit``), SciPy loaded only when GLAD is scored."""
    from scipy.special import expit

    out: np.ndarray = expit(x)
    return out


def heldout_folds(coded: CodedLabels, n_folds: int, seed: int) -> np.ndarray:
    """Fold of each annotation (``-1``: never held out), ≈``1/n_folds`` of every item's labels.

    Within an item the labels are put in random order and dealt to the folds
    round-robin from a random first fold, so an item with ``n ≥ 2`` labels keeps
    at least one label in every training set. The random numbers are drawn in
    (item, rater, label) order, so the folds do not depend on the row order.
    """
    rng = np.random.default_rng(seed)
    items = coded.items
    n = len(items)
    key = np.empty(n)
    key[np.lexsort((coded.labels, coded.raters, items))] = rng.random(n)
    order = np.lexsort((key, items))
    sorted_items = items[order]
    rank = np.arange(n) - np.searchsorted(sorted_items, sorted_items, side="left")
    offset = rng.integers(0, n_folds, coded.n_items)
    fold = np.empty(n, dtype=np.int64)
    fold[order] = (rank + offset[sorted_items]) % n_folds
    fold[np.bincount(items, minlength=coded.n_items)[items] < 2] = -1
    return fold


def _subset(data: TaskData, keep: np.ndarray) -> TaskData:
    """The annotations ``keep`` of a task, same item and rater codes, no gold."""
    c = data.coded
    coded = replace(
        c, items=c.items[keep], raters=c.raters[keep], labels=c.labels[keep], row_index=None
    )
    return TaskData(coded=coded, gold=np.full(data.n_items, -1, dtype=np.int64))


def sample_items(data: TaskData, max_annotations: int, seed: int) -> TaskData:
    """A seeded random set of whole items holding at most ``max_annotations`` annotations."""
    c = data.coded
    rng = np.random.default_rng(seed)
    per_item = np.bincount(c.items, minlength=data.n_items)
    order = rng.permutation(data.n_items)
    chosen = order[np.cumsum(per_item[order]) <= max_annotations]
    keep_item = np.zeros(data.n_items, dtype=bool)
    keep_item[chosen] = True
    kept = np.flatnonzero(keep_item)
    recode = np.full(data.n_items, -1, dtype=np.int64)
    recode[kept] = np.arange(len(kept))
    mask = keep_item[c.items]
    names = c.item_names
    sub_names = names.take(kept) if hasattr(names, "take") else tuple(names[i] for i in kept)
    coded = replace(
        c,
        items=recode[c.items[mask]],
        raters=c.raters[mask],
        labels=c.labels[mask],
        item_names=sub_names,
        row_index=None,
    )
    return TaskData(coded=coded, gold=np.full(len(kept), -1, dtype=np.int64))


# -- rater models: P(label | true class k) for each held-out annotation ------------------
def _symmetric(right: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    out = np.repeat(((1.0 - right) / (k - 1))[:, None], k, axis=1)
    out[np.arange(len(labels)), labels] = right
    return out


def _vote_accuracy(fit: TaskFit, train: TaskData, *, per_rater: bool) -> np.ndarray:
    c = train.coded
    agree = fit.posteriors[c.items, c.labels]
    if not per_rater:
        return np.full(train.n_raters, (agree.sum() + 1.0) / (len(agree) + 2.0))
    num = np.bincount(c.raters, weights=agree, minlength=train.n_raters)
    den = np.bincount(c.raters, minlength=train.n_raters)
    out: np.ndarray = (num + 1.0) / (den + 2.0)
    return out


def label_likelihoods(
    method: str,
    fit: TaskFit,
    train: TaskData,
    items: np.ndarray,
    raters: np.ndarray,
    labels: np.ndarray,
) -> np.ndarray:
    """``P_r(l | k)`` of each annotation under ``method``'s fitted rater model (``n × K``)."""
    k = train.n_classes
    if method in ("ds", "onecoin") and fit.confusion is not None:
        out: np.ndarray = fit.confusion[raters, :, labels]
        return out
    if method == "glad" and fit.skills is not None:
        return _symmetric(
            _expit(fit.skills[raters] / fit.extra["item_difficulty"][items]), labels, k
        )
    if method == "mace" and fit.skills is not None:
        theta = fit.skills[raters]
        spam = fit.extra["spam_distribution"][raters, labels]
        out = np.repeat(((1.0 - theta) * spam)[:, None], k, axis=1)
        out[np.arange(len(labels)), labels] += theta
        return out
    if method in ("mv", "wmv"):
        p = _vote_accuracy(fit, train, per_rater=method == "wmv")
        return _symmetric(p[raters], labels, k)
    raise UsageError(f"no held-out predictive model for method {method!r}")


# -- the criterion -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Scored:
    log_probs: np.ndarray | None
    status: str


def _heldout_log_probs(
    method: str, tasks: Sequence[tuple[TaskData, np.ndarray]], n_folds: int, seed: int
) -> _Scored:
    """Log predictive probability of every held-out annotation (tasks, then folds, in order)."""
    params: dict[str, Any] = {"seed": seed} if method in SEEDED else {}
    parts: list[np.ndarray] = []
    not_converged = 0
    n_fits = 0
    for data, fold in tasks:
        c = data.coded
        for f in range(n_folds):
            held = fold == f
            if not held.any():
                continue
            train = _subset(data, ~held)
            fit = make_estimator(method, **params)._fit_task(train)
            n_fits += 1
            not_converged += not fit.converged
            i, r, lab = c.items[held], c.raters[held], c.labels[held]
            like = label_likelihoods(method, fit, train, i, r, lab)
            prob = np.einsum("nk,nk->n", fit.posteriors[i], like)
            parts.append(np.log(np.clip(prob, 1e-300, None)))
    if not_converged:
        return _Scored(None, f"not converged ({not_converged} of {n_fits} fits)")
    log_probs = np.concatenate(parts)
    if not np.all(np.isfinite(log_probs)):
        return _Scored(None, "error: non-finite predictive probabilities")
    return _Scored(log_probs, "ok")


def _score_safely(
    method: str, tasks: Sequence[tuple[TaskData, np.ndarray]], n_folds: int, seed: int
) -> _Scored:
    try:
        return _heldout_log_probs(method, tasks, n_folds, seed)
    except Exception as exc:  # a failing candidate is reported and skipped
        return _Scored(None, f"error: {type(exc).__name__}: {exc}")


def _clustered_se(diff: np.ndarray, clusters: np.ndarray) -> float:
    """Standard error of ``mean(diff)`` with annotations clustered by item."""
    n = len(diff)
    _, inverse = np.unique(clusters, return_inverse=True)
    g = int(inverse.max()) + 1 if n else 0
    if g < 2:
        return float("nan")
    resid = np.bincount(inverse, weights=diff - diff.mean(), minlength=g)
    return float(np.sqrt(g / (g - 1) * np.sum(resid**2)) / n)


def select_method(
    table: Any,
    *,
    candidates: Sequence[str] = tuple(METHODS),
    n_folds: int = 5,
    seed: int = 0,
    categories: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    max_annotations: int | None = 50_000,
    repeats: str = "latest",
) -> MethodSelection:
    """Choose among ``candidates`` by held-out log-likelihood (module docstring); no gold used.

    ``categories`` and ``repeats`` code the table as the final fit does
    (:meth:`BaseEstimator.fit`).
    """
    unknown = [m for m in candidates if m not in METHODS]
    if unknown or not candidates:
        raise UsageError(f"auto: candidates must be among {', '.join(METHODS)}, got {unknown}")
    if n_folds < 2:
        raise UsageError(f"auto: n_folds must be at least 2, got {n_folds}")
    tasks, has_task, _ = prepare(table, None, categories, repeats=repeats)
    folded, clusters, notes, n_used = _fold_tasks(tasks, has_task, n_folds, seed, max_annotations)
    if not folded:
        notes.append(
            "no item has two labels in a task with two or more categories: methods cannot "
            f"be compared on held-out labels; using {FALLBACK}"
        )
        return MethodSelection(FALLBACK, CRITERION, (), n_folds, 0, n_used, seed, tuple(notes))
    scored = {m: _score_safely(m, folded, n_folds, seed) for m in candidates}
    means = {m: float(s.log_probs.mean()) for m, s in scored.items() if s.log_probs is not None}
    if not means:
        notes.append(f"every candidate failed; using {FALLBACK}")
        chosen = FALLBACK
    else:
        chosen = max(means, key=lambda m: (means[m], -list(candidates).index(m)))
    rows = []
    for m, s in scored.items():
        if s.log_probs is None:
            rows.append(CandidateScore(m, None, None, None, s.status))
            notes.append(f"auto: {m} skipped ({s.status})")
            continue
        best = scored[chosen].log_probs
        diff = s.log_probs - best if best is not None else s.log_probs * np.nan
        se = _clustered_se(diff, clusters) if m != chosen else 0.0
        status = "chosen" if m == chosen else "ok"
        rows.append(CandidateScore(m, means[m], float(diff.mean()), se, status))
    n_heldout = len(clusters)
    return MethodSelection(
        chosen, CRITERION, tuple(rows), n_folds, n_heldout, n_used, seed, tuple(notes)
    )


def _fold_tasks(
    tasks: Mapping[str, TaskData],
    has_task: bool,
    n_folds: int,
    seed: int,
    max_annotations: int | None,
) -> tuple[list[tuple[TaskData, np.ndarray]], np.ndarray, list[str], int]:
    """Per task (two or more categories): the data used and each annotation's fold."""
    folded: list[tuple[TaskData, np.ndarray]] = []
    clusters: list[np.ndarray] = []
    notes: list[str] = []
    offset = 0
    n_used = 0
    for name, data in tasks.items():
        if data.n_classes < 2:
            continue
        where = f"task {name!r}: " if has_task else ""
        n_ann = len(data.coded.items)
        if max_annotations is not None and n_ann > max_annotations:
            data = sample_items(data, max_annotations, seed)
            notes.append(
                f"{where}auto chose on a random {data.n_items:,} items "
                f"({len(data.coded.items):,} of {n_ann:,} annotations)"
            )
        fold = heldout_folds(data.coded, n_folds, seed)
        n_used += len(data.coded.items)
        if (fold >= 0).any():
            folded.append((data, fold))
            for f in range(n_folds):
                clusters.append(data.coded.items[fold == f] + offset)
        offset += data.n_items
    return folded, np.concatenate(clusters) if clusters else np.zeros(0, np.int64), notes, n_used
