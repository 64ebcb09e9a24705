"""Data → model experiments: what a label policy does to the model trained on it.

:func:`run_experiment` trains one documented, seeded model (hashed word and character
n-grams, multinomial logistic regression; or the user's own :class:`Classifier`) on
the labels each policy produces — one random rater, majority vote, Dawid–Skene and the
other estimators, posterior soft labels, gold only, without flagged raters, without
one group of raters, a relabel budget spent by the label-error ranking or at random —
and measures every model on the same evaluation items: an :class:`ImpactResult` with
one :class:`PolicyResult` per policy (accuracy, macro-F1, recall per violating label,
bootstrap intervals, paired differences and McNemar against a baseline, labels used
and their cost). :func:`prepare_experiment` codes the tables first;
:func:`policy_labels` shows what one policy trains on (a :class:`TrainingSet`).
:func:`rater_pool_bias` trains on one rater pool's labels and on another's and
compares the models' predicted positive rates (:class:`PoolBiasResult`).

On a workspace, :func:`workspace_impact` and :func:`workspace_pool_bias` read the
tables; :func:`store_impact` appends a run to ``impact_runs`` and ``impact_results``
(:func:`impact_history` lists them). Experiments never change the annotations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop._lazy import lazy_exports

if TYPE_CHECKING:
    from opsloop.impact._bias import GroupRates, PoolBiasResult, rater_pool_bias
    from opsloop.impact._data import ExperimentData, prepare_experiment
    from opsloop.impact._experiment import run_experiment
    from opsloop.impact._model import Classifier, default_model, text_features
    from opsloop.impact._policies import DEFAULT_POLICIES, Policy, TrainingSet, parse_policies
    from opsloop.impact._results import Comparison, Estimate, ImpactResult, PolicyResult
    from opsloop.impact._training import policy_labels
    from opsloop.impact._workspace import (
        StoredImpact,
        StoredRun,
        impact_history,
        latest_impact,
        store_impact,
        workspace_impact,
        workspace_pool_bias,
    )

_SOURCES: dict[str, str] = {
    "Classifier": "opsloop.impact._model",
    "Comparison": "opsloop.impact._results",
    "DEFAULT_POLICIES": "opsloop.impact._policies",
    "Estimate": "opsloop.impact._results",
    "ExperimentData": "opsloop.impact._data",
    "GroupRates": "opsloop.impact._bias",
    "ImpactResult": "opsloop.impact._results",
    "Policy": "opsloop.impact._policies",
    "PolicyResult": "opsloop.impact._results",
    "PoolBiasResult": "opsloop.impact._bias",
    "StoredImpact": "opsloop.impact._workspace",
    "StoredRun": "opsloop.impact._workspace",
    "TrainingSet": "opsloop.impact._policies",
    "default_model": "opsloop.impact._model",
    "impact_history": "opsloop.impact._workspace",
    "latest_impact": "opsloop.impact._workspace",
    "parse_policies": "opsloop.impact._policies",
    "policy_labels": "opsloop.impact._training",
    "prepare_experiment": "opsloop.impact._data",
    "rater_pool_bias": "opsloop.impact._bias",
    "run_experiment": "opsloop.impact._experiment",
    "store_impact": "opsloop.impact._workspace",
    "text_features": "opsloop.impact._model",
    "workspace_impact": "opsloop.impact._workspace",
    "workspace_pool_bias": "opsloop.impact._workspace",
}

__all__ = [
    "DEFAULT_POLICIES",
    "Classifier",
    "Comparison",
    "Estimate",
    "ExperimentData",
    "GroupRates",
    "ImpactResult",
    "Policy",
    "PolicyResult",
    "PoolBiasResult",
    "StoredImpact",
    "StoredRun",
    "TrainingSet",
    "default_model",
    "impact_history",
    "latest_impact",
    "parse_policies",
    "policy_labels",
    "prepare_experiment",
    "rater_pool_bias",
    "run_experiment",
    "store_impact",
    "text_features",
    "workspace_impact",
    "workspace_pool_bias",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
