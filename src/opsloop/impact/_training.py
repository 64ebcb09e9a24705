"""Each policy's training labels, from the annotations of the training items only.

:class:`TrainingSide` holds what every policy shares — the annotations of the items
outside the evaluation set, the truth-inference fits on them (each method fitted
once per experiment) and the rater flags — and :meth:`TrainingSide.labels` turns
a :class:`~opsloop.impact._policies.Policy` into its
:class:`~opsloop.impact._policies.TrainingSet` (see that module for the policies).
Nothing here reads the evaluation items' annotations or gold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from opsloop.errors import UsageError
from opsloop.impact import _policies as P
from opsloop.impact._data import ExperimentData, _index_of
from opsloop.stats import CodedLabels

if TYPE_CHECKING:
    from opsloop.inference import BaseEstimator

TENURE_COLUMN = "tenure"
#: a rater is flagged when the upper end of their spammer score's 95% interval is below this
SPAMMER_BELOW = 0.2
#: posterior weights below this are left out of a soft-label training set
SOFT_FLOOR = 0.01


class TrainingSide:
    """The training items' annotations and the fits the policies share (module docstring)."""

    def __init__(
        self,
        data: ExperimentData,
        eval_items: np.ndarray,
        *,
        spammer_below: float = SPAMMER_BELOW,
        accuracy_target: float | None = None,
    ) -> None:
        self.data = data
        is_eval = np.zeros(data.n_items, dtype=bool)
        is_eval[eval_items] = True
        self.is_eval = is_eval
        self.mask = ~is_eval[data.ann_item]
        self.spammer_below = spammer_below
        self.accuracy_target = accuracy_target
        self._fits: dict[str, BaseEstimator] = {}
        self.notes: list[str] = []

    # -- coded subsets and fits ------------------------------------------------------
    def coded(self, mask: np.ndarray) -> tuple[CodedLabels, np.ndarray]:
        """The annotations in ``mask`` as compact codes, and each compact item's index."""
        d = self.data
        items, item_codes = np.unique(d.ann_item[mask], return_inverse=True)
        raters, rater_codes = np.unique(d.ann_rater[mask], return_inverse=True)
        coded = CodedLabels(
            items=item_codes.astype(np.int64),
            raters=rater_codes.astype(np.int64),
            labels=d.ann_label[mask],
            item_names=d.item_ids.take(items),
            rater_names=tuple(d.rater_names[int(r)] for r in raters),
            categories=d.categories,
            n_duplicates=0,
        )
        return coded, items

    def fit(self, method: str) -> tuple[BaseEstimator, np.ndarray]:
        """``method`` fitted on every training annotation (once per experiment)."""
        from opsloop.inference import make_estimator, select_method

        coded, items = self.coded(self.mask)
        if method not in self._fits:
            chosen = method
            if method == "auto":
                chosen = select_method(coded, categories=list(self.data.categories)).chosen
                self.notes.append(f"auto chose {chosen} on the training annotations")
            params = {"seed": 0} if chosen == "mace" else {}
            est = make_estimator(chosen, **params)
            self._fits[method] = est.fit(
                coded, categories=list(self.data.categories), repeats="keep-all"
            )
        return self._fits[method], items

    def inferred(self, mask: np.ndarray, method: str = "mv") -> tuple[np.ndarray, np.ndarray]:
        """(items, labels) of ``method`` on the annotations in ``mask``."""
        if method != "mv" and mask is self.mask:
            est, items = self.fit(method)
        else:
            from opsloop.inference import MajorityVote

            coded, items = self.coded(mask)
            if len(items) == 0:
                return items, np.zeros(0, dtype=np.int64)
            est = MajorityVote().fit(
                coded, categories=list(self.data.categories), repeats="keep-all"
            )
        codes, _ = est._predict_codes(next(iter(est.fits_)))
        return items, np.asarray(codes, dtype=np.int64)

    def _used(self, mask: np.ndarray, extra: int = 0) -> tuple[int, float]:
        """Labels used and their cost: the annotations in ``mask`` plus ``extra`` gold labels."""
        cost = float(self.data.ann_cost[mask].sum()) + extra * self.data.gold_unit_cost
        return int(mask.sum()) + extra, cost

    # -- the policies ----------------------------------------------------------------
    def labels(self, policy: P.Policy, seed: int) -> P.TrainingSet:
        """The training set ``policy`` produces under ``seed``."""
        kind = policy.kind
        if kind == P.RANDOM:
            return self._random(policy, seed)
        if kind in (P.MAJORITY, P.INFER):
            items, labels = self.inferred(self.mask, policy.method or "mv")
            return P.TrainingSet(items, labels, None, *self._used(self.mask))
        if kind == P.SOFT:
            return self._soft(policy.method or P.SOFT_METHOD)
        if kind == P.GOLD:
            items = np.flatnonzero((self.data.gold >= 0) & ~self.is_eval)
            n = len(items)
            return P.TrainingSet(
                items, self.data.gold[items], None, n, n * self.data.gold_unit_cost
            )
        if kind == P.UNFLAGGED:
            return self._unflagged()
        if kind in (P.WITHOUT, P.ONLY):
            return self._group(policy)
        return self._relabel(policy, seed)

    def _random(self, policy: P.Policy, seed: int) -> P.TrainingSet:
        rows = np.flatnonzero(self.mask)
        rng = P.policy_seed(seed, policy)
        order = np.lexsort((rng.random(len(rows)), self.data.ann_item[rows]))
        ordered = rows[order]
        item = self.data.ann_item[ordered]
        first = np.concatenate([[True], item[1:] != item[:-1]]) if len(item) else item.astype(bool)
        picked = ordered[first]
        mask = np.zeros(len(self.mask), dtype=bool)
        mask[picked] = True
        return P.TrainingSet(
            self.data.ann_item[picked], self.data.ann_label[picked], None, *self._used(mask)
        )

    def _soft(self, method: str) -> P.TrainingSet:
        est, items = self.fit(method)
        post = est.fits_[next(iter(est.fits_))].posteriors
        row, label = np.nonzero(post >= SOFT_FLOOR)
        return P.TrainingSet(
            items[row], label.astype(np.int64), post[row, label], *self._used(self.mask)
        )

    def flagged_raters(self) -> tuple[np.ndarray, list[str]]:
        """Rater codes flagged by spammer score or by gold accuracy below target, and why."""
        from opsloop.inference import rater_reliability

        est, _ = self.fit("ds")
        table = rater_reliability(est, seed=0)
        names = {n: i for i, n in enumerate(self.data.rater_names)}
        ids = np.array([names[str(r)] for r in table["rater_id"].to_pylist()], dtype=np.int64)
        high = np.asarray(table["spammer_high"].to_numpy(zero_copy_only=False), dtype=np.float64)
        spam = set(ids[high < self.spammer_below].tolist())
        below = set(self._below_target())
        why = []
        if spam:
            why.append(f"{len(spam)} by spammer score (95% upper bound < {self.spammer_below:g})")
        if below:
            why.append(f"{len(below)} by gold accuracy below the target {self.accuracy_target:g}")
        return np.array(sorted(spam | below), dtype=np.int64), why

    def _below_target(self) -> list[int]:
        """Raters whose accuracy on training gold is wholly below target (the scorecard flag)."""
        from opsloop.monitor import scorecards

        d = self.data
        if self.accuracy_target is None:
            return []
        on_gold = self.mask & (d.gold[d.ann_item] >= 0)
        if not on_gold.any():
            return []
        n_r = len(d.rater_names)
        g_n = np.bincount(d.ann_rater[on_gold], minlength=n_r).astype(np.float64)
        ok = d.ann_label[on_gold] == d.gold[d.ann_item[on_gold]]
        g_k = np.bincount(d.ann_rater[on_gold], weights=ok, minlength=n_r).astype(np.float64)
        has = np.flatnonzero(g_n > 0)
        cards = scorecards(
            [str(i) for i in has],
            {"g_n": g_n[has], "g_k": g_k[has]},
            accuracy_target=self.accuracy_target,
        )
        return [int(c.rater_id) for c in cards if c.flag]

    def _unflagged(self) -> P.TrainingSet:
        flagged, why = self.flagged_raters()
        mask = self.mask & ~np.isin(self.data.ann_rater, flagged)
        items, labels = self.inferred(mask)
        note = f"flagged {len(flagged)} rater(s)" + (f": {'; '.join(why)}" if why else "")
        return P.TrainingSet(items, labels, None, *self._used(mask), notes=(note,))

    def _group(self, policy: P.Policy) -> P.TrainingSet:
        column, value = policy.column or "", policy.value or ""
        codes, names = self.data.groups[column]
        if value not in names:
            raise UsageError(
                f"policy {policy.name!r}: no annotation has {column} = {value!r} "
                f"(values: {', '.join(names[:10])}{' …' if len(names) > 10 else ''})"
            )
        in_group = codes == names.index(value)
        mask = self.mask & (~in_group if policy.kind == P.WITHOUT else in_group)
        items, labels = self.inferred(mask)
        return P.TrainingSet(items, labels, None, *self._used(mask))

    def _relabel(self, policy: P.Policy, seed: int) -> P.TrainingSet:
        from opsloop.inference import rank_label_errors

        d = self.data
        items, labels = self.inferred(self.mask)
        second = np.where(d.gold >= 0, d.gold, d.relabel)
        candidate = second[items] >= 0
        budget = round((policy.share or 0.0) / 100.0 * len(items))
        n = min(budget, int(candidate.sum()))
        notes = []
        if n < budget:
            notes.append(
                f"{budget:,} relabels asked, {n:,} training items have a gold or audit label"
            )
        if policy.kind == P.RELABEL:
            est, _ = self.fit("ds")
            coded, _ = self.coded(self.mask)
            order = rank_label_errors(coded, estimator=est).relabel["item_id"]
            ranked = _index_of(order, d.item_ids)
            position = np.full(d.n_items, -1, dtype=np.int64)
            position[items] = np.arange(len(items))
            ranked = ranked[(ranked >= 0) & (position[ranked] >= 0) & (second[ranked] >= 0)]
            chosen = position[ranked[:n]]
        else:
            pool = np.flatnonzero(candidate)
            chosen = np.sort(P.policy_seed(seed, policy).choice(pool, size=n, replace=False))
        labels = labels.copy()
        changed = int(np.sum(labels[chosen] != second[items[chosen]]))
        labels[chosen] = second[items[chosen]]
        notes.append(f"relabelled {n:,} items, {changed:,} of them changed")
        return P.TrainingSet(items, labels, None, *self._used(self.mask, n), notes=tuple(notes))


def policy_labels(
    data: ExperimentData,
    spec: str,
    *,
    seed: int = 0,
    held_out: Sequence[str] = (),
    spammer_below: float = SPAMMER_BELOW,
    accuracy_target: float | None = None,
) -> P.TrainingSet:
    """What policy ``spec`` trains on, every item but ``held_out`` (item ids) on the
    training side: to look at one policy's labels without running an experiment.

    >>> import pyarrow as pa
    >>> from opsloop.impact._data import prepare_experiment
    >>> ann = pa.table({"item_id": ["a", "a", "a", "b"], "rater_id": ["x", "y", "z", "x"],
    ...                 "label": ["spam", "spam", "none", "none"]})
    >>> items = pa.table({"item_id": ["a", "b"], "text": ["win cash", "hello"]})
    >>> ts = policy_labels(prepare_experiment(ann, items), "majority")
    >>> ts.items.tolist(), ts.labels.tolist(), ts.n_labels
    ([0, 1], [1, 0], 4)
    """
    policies = P.parse_policies([spec])
    if len(policies) != 1:
        raise UsageError(f"policy {spec!r}: name one policy (e.g. relabel:10)")
    policy = policies[0]
    if policy.column is not None and policy.column not in data.groups:
        raise UsageError(f"policy {spec!r}: no group column {policy.column!r}")
    held = _index_of(pa.array(list(held_out), pa.string()), data.item_ids)
    side = TrainingSide(
        data, held[held >= 0], spammer_below=spammer_below, accuracy_target=accuracy_target
    )
    return side.labels(policy, seed)
