"""The common shape of every truth-inference estimator.

Construct with settings, ``fit(table, gold=None)``, then read the learned
state from attributes ending in ``_``:

``labels_``        pyarrow Table ``item_id, label[, task]`` (the inferred labels)
``probas_``        pyarrow Table ``item_id, label, probability[, task]`` (posteriors)
``errors_``        pyarrow Table ``rater_id, true_label, label, probability[, task]``
                   (confusion matrices; ``None`` for models without one)
``skills_``        pyarrow Table ``rater_id, skill[, task]`` (``None`` if the model
                   has no per-rater scalar)
``loss_history_``  ``{task: [mean negative log-likelihood per annotation, …]}``
``n_iter_``        ``{task: iterations run}``
``converged_``     ``True`` when every task met the tolerance
``fits_``          ``{task: TaskFit}`` with the numpy arrays behind the tables
``data_``          ``{task: TaskData}`` with the integer codes
``notes_``         list of reported outcomes (dropped rows, unmatched gold, …)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from opsloop.errors import UsageError
from opsloop.inference._base import (
    TaskData,
    TaskFit,
    argmax_with_ties,
    name_array,
    prepare,
    task_column,
)


class BaseEstimator(ABC):
    """Fit/attribute protocol shared by all estimators (see module docstring)."""

    def __init__(self) -> None:
        self.fits_: dict[str, TaskFit] = {}
        self.data_: dict[str, TaskData] = {}
        self.notes_: list[str] = []
        self._has_task = False
        self._cache: dict[str, pa.Table | None] = {}

    # -- fitting ------------------------------------------------------------
    def fit(
        self,
        table: Any,
        gold: Any = None,
        *,
        categories: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        repeats: str = "latest",
    ) -> BaseEstimator:
        """Fit on a long annotations table; ``gold`` items are clamped during fitting.

        ``categories`` fixes the taxonomy, one for all tasks or ``{task: [...]}``
        (labels outside it raise :class:`~opsloop.errors.UsageError`); by
        default it is the sorted set of observed and gold labels. ``repeats``:
        a rater's repeated labels of one item (rows in event order) — ``latest``
        (default), ``first``, ``keep-all`` (each a vote, as crowd-kit) or ``error``.
        """
        self._check_params()
        tasks, has_task, notes = prepare(table, gold, categories, repeats)
        self.data_ = tasks
        self._has_task = has_task
        self.notes_ = notes
        self._cache = {}
        self.fits_ = {}
        for name, data in tasks.items():
            if data.n_classes == 1:
                self.fits_[name] = _single_class_fit(data)
            else:
                self.fits_[name] = self._fit_task(data)
        return self

    def fit_predict(self, table: Any, gold: Any = None) -> pa.Table:
        """``fit(table, gold).labels_``."""
        return self.fit(table, gold).labels_

    @abstractmethod
    def _fit_task(self, data: TaskData) -> TaskFit:
        """Run the kernel on one coded task (at least two categories)."""

    def _check_params(self) -> None:
        for name in ("n_iter",):
            value = getattr(self, name, None)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise UsageError(
                    f"{type(self).__name__}: {name} must be a non-negative integer, got {value!r}"
                )
        tol = getattr(self, "tol", None)
        if tol is not None and not tol >= 0:
            raise UsageError(f"{type(self).__name__}: tol must be >= 0, got {tol!r}")

    def _require_fit(self) -> None:
        if not self.fits_:
            raise UsageError(f"{type(self).__name__} is not fitted: call fit(table) first")

    # -- learned state --------------------------------------------------------
    @property
    def loss_history_(self) -> dict[str, list[float]]:
        self._require_fit()
        return {t: list(f.history) for t, f in self.fits_.items()}

    @property
    def n_iter_(self) -> dict[str, int]:
        self._require_fit()
        return {t: f.n_iter for t, f in self.fits_.items()}

    @property
    def converged_(self) -> bool:
        self._require_fit()
        return all(f.converged for f in self.fits_.values())

    def _predict_codes(self, task: str) -> tuple[np.ndarray, np.ndarray]:
        fit = self.fits_[task]
        return argmax_with_ties(fit.posteriors, fit.prior)

    @property
    def labels_(self) -> pa.Table:
        return self._cached("labels", self._build_labels)

    @property
    def probas_(self) -> pa.Table:
        return self._cached("probas", self._build_probas)

    @property
    def errors_(self) -> pa.Table | None:
        return self._cached("errors", self._build_errors)

    @property
    def skills_(self) -> pa.Table | None:
        return self._cached("skills", self._build_skills)

    def _cached(self, key: str, build: Any) -> Any:
        self._require_fit()
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def _with_task(self, columns: dict[str, Any], task: str, n: int) -> pa.Table:
        if self._has_task:
            columns["task"] = task_column(task, n)
        return pa.table(columns)

    def _build_labels(self) -> pa.Table:
        parts = []
        for task, data in self.data_.items():
            codes, ties = self._predict_codes(task)
            cols: dict[str, Any] = {
                "item_id": name_array(data.coded.item_names),
                "label": _names(data.coded.categories).take(pa.array(codes)),
            }
            cols.update(self._label_extras(task, ties))
            parts.append(self._with_task(cols, task, data.n_items))
        return pa.concat_tables(parts)

    def _label_extras(self, task: str, ties: np.ndarray) -> dict[str, Any]:
        return {}

    def _build_probas(self) -> pa.Table:
        parts = []
        for task, data in self.data_.items():
            post = self.fits_[task].posteriors
            n, k = post.shape
            items = name_array(data.coded.item_names)
            cols = {
                "item_id": items.take(pa.array(np.repeat(np.arange(n), k))),
                "label": _names(data.coded.categories).take(pa.array(np.tile(np.arange(k), n))),
                "probability": pa.array(post.ravel()),
            }
            parts.append(self._with_task(cols, task, n * k))
        return pa.concat_tables(parts)

    def _build_errors(self) -> pa.Table | None:
        parts = []
        for task, data in self.data_.items():
            conf = self.fits_[task].confusion
            if conf is None:
                return None
            r, k, _ = conf.shape
            cats = _names(data.coded.categories)
            cols = {
                "rater_id": _names(data.coded.rater_names).take(
                    pa.array(np.repeat(np.arange(r), k * k))
                ),
                "true_label": cats.take(pa.array(np.tile(np.repeat(np.arange(k), k), r))),
                "label": cats.take(pa.array(np.tile(np.arange(k), r * k))),
                "probability": pa.array(conf.ravel()),
            }
            parts.append(self._with_task(cols, task, r * k * k))
        return pa.concat_tables(parts)

    def _build_skills(self) -> pa.Table | None:
        parts = []
        for task, data in self.data_.items():
            skills = self.fits_[task].skills
            if skills is None:
                return None
            cols = {"rater_id": _names(data.coded.rater_names), "skill": pa.array(skills)}
            parts.append(self._with_task(cols, task, len(skills)))
        return pa.concat_tables(parts)


def _names(names: tuple[str, ...] | pa.Array) -> pa.Array:
    return name_array(names)


def _single_class_fit(data: TaskData) -> TaskFit:
    """A task with one category: every posterior is 1 and every rater is always right."""
    return TaskFit(
        posteriors=np.ones((data.n_items, 1)),
        history=(),
        n_iter=0,
        converged=True,
        confusion=np.ones((data.n_raters, 1, 1)),
        skills=np.ones(data.n_raters),
        prior=np.ones(1),
        unclamped=np.ones((data.n_items, 1)),
    )
