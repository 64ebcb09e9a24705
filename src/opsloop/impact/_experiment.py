"""Label-policy experiments: the same model trained on each policy's labels, measured alike.

:func:`run_experiment` fixes the evaluation items once (:func:`choose_evaluation`),
featurises every item once, trains the model on each policy's labels under each seed
(an identical training set is fitted once: the model is deterministic given its
data) and measures every model on the same evaluation items (:mod:`._metrics`).
The evaluation items' annotations and gold never reach a training set.

Evaluation targets:

* ``gold``: a seeded share (``eval_share``, default 0.5) of the items with a gold
  label; the rest of the gold stays on the training side (the ``gold`` policy, the
  relabel budget and the raters' gold accuracy use it);
* ``holdout``: a seeded share (default 0.2) of the items with at least
  ``min_labels`` (3) annotations, whose target is the majority vote of all their
  raters; those items are left out of every training set.

>>> import pyarrow as pa
>>> from opsloop.impact._data import prepare_experiment
>>> words = {"none": "nice day sunset", "spam": "free cash click"}
>>> truth = ["none", "spam"] * 20
>>> items = pa.table({"item_id": [f"i{i}" for i in range(40)],
...                   "text": [words[t] for t in truth]})
>>> ann = pa.table({"item_id": [f"i{i}" for i in range(40)], "rater_id": ["r"] * 40,
...                 "label": truth})
>>> gold = pa.table({"item_id": [f"i{i}" for i in range(40)], "label": truth})
>>> data = prepare_experiment(ann, items, gold=gold, benign=("none",))
>>> r = run_experiment(data, ["majority", "gold"], seeds=1, n_boot=50)
>>> [(p.policy, p.accuracy.value) for p in r.policies]
[('majority', 1.0), ('gold', 1.0)]
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from opsloop.errors import UsageError
from opsloop.impact import _policies as P
from opsloop.impact._data import ExperimentData
from opsloop.impact._metrics import boot_confusions, confusion, confusion_metrics
from opsloop.impact._model import (
    MODEL_DESCRIPTION,
    NUMERIC_DESCRIPTION,
    ModelFactory,
    class_probabilities,
    default_model,
)
from opsloop.impact._results import METRICS, Comparison, Estimate, ImpactResult, PolicyResult
from opsloop.impact._training import SPAMMER_BELOW, TrainingSide
from opsloop.stats import bh_adjust, mcnemar_exact, percentile_interval

GOLD_TARGET, HOLDOUT_TARGET = "gold", "holdout"
EVAL_SHARE = {GOLD_TARGET: 0.5, HOLDOUT_TARGET: 0.2}
MIN_EVAL_ITEMS = 20
MIN_TRAIN_ITEMS = 20
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Evaluation:
    """The fixed evaluation items (indices into the experiment's items) and their target."""

    target: str
    items: np.ndarray
    labels: np.ndarray


def choose_evaluation(
    data: ExperimentData,
    target: str = GOLD_TARGET,
    *,
    share: float | None = None,
    seed: int = 0,
    min_labels: int = 3,
) -> Evaluation:
    """The evaluation items and their target labels (module docstring)."""
    if target not in EVAL_SHARE:
        raise UsageError(f"--eval {target!r}: expected gold or holdout")
    share = EVAL_SHARE[target] if share is None else share
    if not 0 < share < 1:
        raise UsageError(f"eval share {share!r}: expected a fraction between 0 and 1")
    if target == GOLD_TARGET:
        pool = np.flatnonzero(data.gold >= 0)
        if len(pool) == 0:
            raise UsageError(
                "no evaluation target: no item with content has a gold label "
                "(ingest gold, or evaluate against held-out raters with --eval holdout)"
            )
        truth = data.gold
    else:
        n_labels = np.bincount(data.ann_item, minlength=data.n_items)
        pool = np.flatnonzero(n_labels >= min_labels)
        if len(pool) == 0:
            raise UsageError(
                f"no evaluation target: no item has {min_labels} or more labels to hold out "
                "(ingest gold and use --eval gold)"
            )
        truth = _majority_of(data, pool)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1E7A1]))
    n_eval = round(share * len(pool))
    items = np.sort(rng.permutation(pool)[:n_eval])
    if n_eval < MIN_EVAL_ITEMS:
        raise UsageError(
            f"too few evaluation items: {n_eval} of {len(pool)} {target} items "
            f"(at least {MIN_EVAL_ITEMS} are needed)"
        )
    return Evaluation(target, items, truth[items])


def _majority_of(data: ExperimentData, pool: np.ndarray) -> np.ndarray:
    """Majority vote of every annotation of the ``pool`` items (per item; -1 elsewhere)."""
    from opsloop.inference import MajorityVote

    side = TrainingSide(data, np.zeros(0, dtype=np.int64))
    in_pool = np.zeros(data.n_items, dtype=bool)
    in_pool[pool] = True
    coded, items = side.coded(in_pool[data.ann_item])
    est = MajorityVote().fit(coded, categories=list(data.categories), repeats="keep-all")
    codes, _ = est._predict_codes(next(iter(est.fits_)))
    out = np.full(data.n_items, -1, dtype=np.int64)
    out[items] = codes
    return out


def _check_training(
    policy: P.Policy, ts: P.TrainingSet, ev: Evaluation, cats: Sequence[str]
) -> None:
    n_items = ts.n_items
    if n_items < MIN_TRAIN_ITEMS:
        raise UsageError(
            f"policy {policy.name!r} leaves {n_items} training item(s) "
            f"(at least {MIN_TRAIN_ITEMS} are needed)"
        )
    trained = set(
        np.unique(ts.labels if ts.weights is None else ts.labels[ts.weights > 0]).tolist()
    )
    if len(trained) < 2:
        raise UsageError(f"policy {policy.name!r} leaves labels of one category only")
    absent = sorted(set(np.unique(ev.labels).tolist()) - trained)
    if absent:
        raise UsageError(
            f"policy {policy.name!r}: no training item is labelled {cats[absent[0]]!r}, which "
            f"{int(np.sum(ev.labels == absent[0])):,} evaluation items are (the model could never "
            "predict it)"
        )


def _fit_predict(
    factory: ModelFactory, data: ExperimentData, ts: P.TrainingSet, x_eval: object
) -> np.ndarray:
    model = factory()
    model.fit(data.features[ts.items], ts.labels, sample_weight=ts.weights)
    proba = class_probabilities(model, x_eval, data.n_classes)
    out: np.ndarray = np.argmax(proba, axis=1).astype(np.int64)
    return out


@dataclass(frozen=True)
class _Trained:
    """Each policy's predictions on the evaluation items (policy × seed × item) and its
    training sets' sizes and costs averaged over the seeds."""

    preds: np.ndarray
    n_items: tuple[int, ...]
    n_labels: tuple[int, ...]
    cost: tuple[float, ...]
    notes: tuple[tuple[str, ...], ...]
    n_fits: int


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _span(values: Sequence[str]) -> str:
    """The range of one number across notes (``"3–5"``), or the number when all agree."""
    nums = [float(v.replace(",", "")) for v in values]
    if min(nums) == max(nums):
        return values[0]
    return f"{values[nums.index(min(nums))]}–{values[nums.index(max(nums))]}"


def merge_seed_notes(notes: Sequence[str]) -> tuple[str, ...]:
    """One note per wording: notes that differ only in their numbers (one per seed) become
    one, each differing number shown as its range.

    >>> merge_seed_notes(["relabelled 10 items, 3 changed", "relabelled 10 items, 5 changed"])
    ('relabelled 10 items, 3–5 changed (2 seeds)',)
    """
    groups: dict[str, list[str]] = {}
    for note in dict.fromkeys(notes):
        groups.setdefault(_NUMBER.sub("#", note), []).append(note)
    out = []
    for same in groups.values():
        if len(same) == 1:
            out.append(same[0])
            continue
        columns = zip(*(_NUMBER.findall(n) for n in same), strict=True)
        spans = [_span(values) for values in columns]
        pieces = _NUMBER.split(same[0])  # the text around the numbers
        merged = pieces[0] + "".join(a + b for a, b in zip(spans, pieces[1:], strict=True))
        out.append(f"{merged} ({len(same)} seeds)")
    return tuple(out)


def _train_all(
    data: ExperimentData,
    side: TrainingSide,
    ev: Evaluation,
    policies: Sequence[P.Policy],
    seeds: Sequence[int],
    factory: ModelFactory,
    progress: Progress | None,
    n_jobs: int,
) -> _Trained:
    """Every policy's training set under every seed, then one fit per distinct set.

    The fits run on ``n_jobs`` threads (scikit-learn's solvers release the GIL);
    each has its own model, so the results do not depend on ``n_jobs``.
    """
    from concurrent.futures import ThreadPoolExecutor

    if progress is not None:
        progress(0, 0, "the policies' labels")
    keys: list[list[str]] = []
    todo: dict[str, P.TrainingSet] = {}
    sizes, used, costs, notes = [], [], [], []
    for policy in policies:
        sets: list[P.TrainingSet] = []
        for j, seed in enumerate(seeds):
            ts = side.labels(policy, seed) if (policy.seeded or j == 0) else sets[0]
            if j == 0:
                _check_training(policy, ts, ev, data.categories)
            sets.append(ts)
            todo.setdefault(ts.key(), ts)
        keys.append([s.key() for s in sets])
        sizes.append(round(float(np.mean([s.n_items for s in sets]))))
        used.append(round(float(np.mean([s.n_labels for s in sets]))))
        costs.append(float(np.mean([s.cost for s in sets])))
        notes.append(merge_seed_notes([n for s in sets for n in s.notes]))
    x_eval = data.features[ev.items]
    fitted: dict[str, np.ndarray] = {}

    def fit(key: str) -> tuple[str, np.ndarray]:
        return key, _fit_predict(factory, data, todo[key], x_eval)

    if progress is not None:
        progress(0, len(todo), "fitting")
    with ThreadPoolExecutor(max_workers=max(n_jobs, 1)) as pool:
        for done, (key, pred) in enumerate(pool.map(fit, list(todo)), start=1):
            fitted[key] = pred
            if progress is not None:
                progress(done, len(todo), "fitting")
    preds = np.array([[fitted[k] for k in row] for row in keys], dtype=np.int64)
    return _Trained(preds, tuple(sizes), tuple(used), tuple(costs), tuple(notes), len(todo))


@dataclass(frozen=True)
class _Figures:
    """Each metric per policy (averaged over seeds) on the evaluation items (``point``),
    per seed (``per_seed``) and per bootstrap replicate (``reps``)."""

    point: dict[str, np.ndarray]
    per_seed: dict[str, np.ndarray]
    reps: dict[str, np.ndarray]
    confidence: float

    def estimate(
        self, metric: str, i: int, j: int | None = None, *, minus: int | None = None
    ) -> Estimate:
        """Policy ``i``'s ``metric`` (label ``j`` of ``recall``), or its paired difference to
        policy ``minus`` replicate by replicate."""
        value, rep = self.point[metric][i], self.reps[metric][:, i]
        if minus is not None:
            value, rep = value - self.point[metric][minus], rep - self.reps[metric][:, minus]
        if j is not None:
            value, rep = value[j], rep[:, j]
        low, high = percentile_interval(rep, self.confidence)
        return Estimate(float(value), low, high)


def _figures(
    ev: Evaluation,
    preds: np.ndarray,
    data: ExperimentData,
    n_boot: int,
    confidence: float,
    seed: int,
) -> _Figures:
    k = data.n_classes
    n_pol, n_seed, n = preds.shape
    flat = preds.reshape(n_pol * n_seed, n)
    full = np.stack([confusion(ev.labels, p, k) for p in flat]).reshape(n_pol, n_seed, k, k)
    boot = boot_confusions(ev.labels, flat, k, n_boot, seed).reshape(n_boot, n_pol, n_seed, k, k)
    per_seed = confusion_metrics(full, data.violating)
    reps = {m: v.mean(axis=2) for m, v in confusion_metrics(boot, data.violating).items()}
    point = {m: v.mean(axis=1) for m, v in per_seed.items()}
    return _Figures(point, per_seed, reps, confidence)


def _mcnemar(
    preds: np.ndarray, ev: Evaluation, base: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First seed: items only the baseline gets right (b), only the policy (c), exact p, BH q."""
    correct = preds[:, 0, :] == ev.labels[None, :]
    b = np.sum(correct[base][None, :] & ~correct, axis=1)
    c = np.sum(~correct[base][None, :] & correct, axis=1)
    exact = np.array([mcnemar_exact(int(x), int(y)) for x, y in zip(b, c, strict=True)])
    others = [i for i in range(len(b)) if i != base]
    q = np.full(len(b), np.nan)
    q[others] = bh_adjust(exact[others])
    return b, c, exact, q


def _summaries(
    data: ExperimentData,
    ev: Evaluation,
    policies: Sequence[P.Policy],
    trained: _Trained,
    base: int,
    n_boot: int,
    confidence: float,
    seed: int,
) -> tuple[PolicyResult, ...]:
    fig = _figures(ev, trained.preds, data, n_boot, confidence, seed)
    b, c, exact, q = _mcnemar(trained.preds, ev, base)
    names = [data.categories[i] for i in data.violating]
    n_seed = trained.preds.shape[1]
    out = []
    for i, policy in enumerate(policies):
        comparison = None
        if i != base:
            comparison = Comparison(
                baseline=policies[base].name,
                accuracy=fig.estimate("accuracy", i, minus=base),
                macro_f1=fig.estimate("macro_f1", i, minus=base),
                violating_recall=fig.estimate("violating_recall", i, minus=base),
                recall={
                    lab: fig.estimate("recall", i, j, minus=base) for j, lab in enumerate(names)
                },
                baseline_only=int(b[i]),
                policy_only=int(c[i]),
                mcnemar_p=float(exact[i]),
                mcnemar_mid_p=mcnemar_exact(int(b[i]), int(c[i]), mid_p=True),
                q_value=float(q[i]),
            )
        sd = {m: float(np.std(fig.per_seed[m][i], ddof=1)) if n_seed > 1 else 0.0 for m in METRICS}
        out.append(
            PolicyResult(
                policy=policy.name,
                kind=policy.kind,
                description=policy.describe(),
                n_train_items=trained.n_items[i],
                n_labels=trained.n_labels[i],
                cost=trained.cost[i],
                accuracy=fig.estimate("accuracy", i),
                macro_f1=fig.estimate("macro_f1", i),
                violating_recall=fig.estimate("violating_recall", i),
                recall={lab: fig.estimate("recall", i, j) for j, lab in enumerate(names)},
                seed_sd=sd,
                comparison=comparison,
                notes=trained.notes[i],
            )
        )
    return tuple(out)


def _resolve_policies(
    data: ExperimentData, policies: Sequence[str], baseline: str, ks: Sequence[float]
) -> tuple[tuple[P.Policy, ...], int]:
    """The policies to run (the baseline first when not among them, ``without:COL`` expanded)
    and the baseline's position."""
    parsed = P.parse_policies(list(policies), ks)
    base_policy = P.parse_policy(baseline, ks)
    if len(base_policy) != 1:
        raise UsageError(f"--baseline {baseline!r}: name one policy (e.g. relabel:10)")
    if base_policy[0].name not in {p.name for p in parsed}:
        parsed = (base_policy[0], *parsed)
    values = {name: names for name, (_, names) in data.groups.items()}
    for p in parsed:
        if p.column is not None and p.column not in values:
            raise UsageError(
                f"policy {p.name!r}: no group column {p.column!r} "
                f"(have: {', '.join(values) or 'none'})"
            )
    parsed = P.expand_groups(parsed, values)
    return parsed, [p.name for p in parsed].index(base_policy[0].name)


def run_experiment(
    data: ExperimentData,
    policies: Sequence[str] = P.DEFAULT_POLICIES,
    *,
    seeds: int | Sequence[int] = 5,
    ks: Sequence[float] = P.DEFAULT_KS,
    baseline: str = P.MAJORITY,
    evaluation: str = GOLD_TARGET,
    eval_share: float | None = None,
    min_labels: int = 3,
    model: ModelFactory | None = None,
    spammer_below: float = SPAMMER_BELOW,
    accuracy_target: float | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    progress: Progress | None = None,
    n_jobs: int | None = None,
) -> ImpactResult:
    """Train the model on each policy's labels and measure it (module docstring).

    ``policies``: specs (:mod:`._policies`); ``baseline`` is added first when not
    among them. ``seeds``: how many (0, 1, …) or which; they drive the seeded
    policies (``random``, ``relabel-random``). ``seed`` fixes the evaluation items
    and the bootstrap. ``n_jobs``: models fitted at a time (default: the cores, at most 2).
    ``model``: a factory of :class:`~._model.Classifier`
    (default :func:`~._model.default_model`). ``accuracy_target``: the rater flag
    of ``unflagged`` on gold accuracy (the scorecards' target).
    """
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    if not seed_list:
        raise UsageError("--seeds: at least one seed is needed")
    if n_boot < 1:
        raise UsageError(f"n_boot must be at least 1, got {n_boot}")
    parsed, base = _resolve_policies(data, policies, baseline, ks)
    ev = choose_evaluation(data, evaluation, share=eval_share, seed=seed, min_labels=min_labels)
    side = TrainingSide(
        data, ev.items, spammer_below=spammer_below, accuracy_target=accuracy_target
    )
    jobs = n_jobs if n_jobs is not None else min(os.cpu_count() or 1, 2)
    trained = _train_all(data, side, ev, parsed, seed_list, model or default_model, progress, jobs)
    results = _summaries(data, ev, parsed, trained, base, n_boot, confidence, seed)
    described = model is None and (
        NUMERIC_DESCRIPTION if data.content.startswith("features") else MODEL_DESCRIPTION
    )
    cats = data.categories
    return ImpactResult(
        eval_items=tuple(str(v) for v in data.item_ids.take(ev.items).to_pylist()),
        eval_labels=tuple(cats[int(y)] for y in ev.labels),
        predictions={
            p.name: tuple(tuple(cats[int(y)] for y in row) for row in trained.preds[i])
            for i, p in enumerate(parsed)
        },
        policies=results,
        baseline=parsed[base].name,
        evaluation=evaluation,
        n_eval=len(ev.items),
        n_items=data.n_items,
        n_annotations=data.n_annotations,
        seeds=seed_list,
        content=data.content,
        model=described or "custom model",
        categories=data.categories,
        violating=tuple(data.categories[i] for i in data.violating),
        cost_unit=data.cost_unit,
        n_boot=n_boot,
        confidence=confidence,
        n_fits=trained.n_fits,
        notes=(*data.notes, *side.notes),
        settings={
            "ks": [float(k) for k in ks],
            "eval_share": eval_share,
            "min_labels": min_labels,
            "spammer_below": spammer_below,
            "accuracy_target": accuracy_target,
            "seed": seed,
            "gold_unit_cost": data.gold_unit_cost,
        },
    )
