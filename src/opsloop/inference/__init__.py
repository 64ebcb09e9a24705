"""Truth inference, rater reliability and label-error ranking.

Estimators share one shape (construct with settings, ``fit(table, gold=None)``,
read ``labels_``, ``probas_``, ``errors_``/``skills_``, ``loss_history_``):
:class:`MajorityVote`, :class:`WeightedMajorityVote`, :class:`DawidSkene`,
:class:`OneCoinDawidSkene`, :class:`GLAD`, :class:`MACE`.
:func:`infer_labels` wraps them into a typed :class:`InferenceResult`
(``method="auto"`` chooses the estimator by held-out log-likelihood,
:func:`select_method`; accuracy on clamped gold is cross-fitted,
:func:`cross_fitted_gold`);
:func:`rater_reliability`, :func:`rater_confusion` and
:func:`rank_label_errors` work on a fitted estimator.
:class:`EngineMajorityVote`, :class:`EngineDawidSkene`,
:class:`EngineOneCoinDawidSkene`, :class:`EngineMACE` and :class:`EngineGLAD` run the same
estimators as Ibis queries (DuckDB, Spark) for data beyond one machine. On a workspace,
:func:`infer_workspace` fits, ranks and stores the derived tables
(:func:`store_inference`); :func:`relabel_queue` reads the stored ranking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop._lazy import lazy_exports

if TYPE_CHECKING:
    from opsloop.inference._api import InferenceResult, infer_labels
    from opsloop.inference._base import TaskData, TaskFit
    from opsloop.inference._crossfit import GoldScore, cross_fitted_gold
    from opsloop.inference._dawid_skene import (
        DawidSkene,
        OneCoinDawidSkene,
        e_step,
        m_step,
        one_coin_m_step,
    )
    from opsloop.inference._engine_em import EngineDawidSkene, EngineMajorityVote
    from opsloop.inference._engine_em_more import EngineMACE, EngineOneCoinDawidSkene
    from opsloop.inference._engine_glad import EngineGLAD
    from opsloop.inference._estimator import BaseEstimator
    from opsloop.inference._glad import GLAD, glad_e_step, glad_m_step
    from opsloop.inference._label_errors import LabelErrorRanking, rank_label_errors
    from opsloop.inference._mace import MACE, mace_e_step, mace_m_step
    from opsloop.inference._majority import MajorityVote, WeightedMajorityVote
    from opsloop.inference._registry import METHOD_CHOICES, METHODS, make_estimator
    from opsloop.inference._reliability import rater_confusion, rater_reliability, spammer_score
    from opsloop.inference._select import CandidateScore, MethodSelection, select_method
    from opsloop.inference._store import (
        StoredInference,
        WorkspaceInference,
        infer_workspace,
        inference_tables,
        relabel_queue,
        store_inference,
        stored_inference,
    )

# Names resolve on first use (PEP 562): fitting on a file loads neither the engine estimators
# nor the workspace store (Ibis). Public name -> the module that defines it.
_SOURCES: dict[str, str] = {
    "BaseEstimator": "opsloop.inference._estimator",
    "CandidateScore": "opsloop.inference._select",
    "DawidSkene": "opsloop.inference._dawid_skene",
    "EngineDawidSkene": "opsloop.inference._engine_em",
    "EngineGLAD": "opsloop.inference._engine_glad",
    "EngineMACE": "opsloop.inference._engine_em_more",
    "EngineMajorityVote": "opsloop.inference._engine_em",
    "EngineOneCoinDawidSkene": "opsloop.inference._engine_em_more",
    "GLAD": "opsloop.inference._glad",
    "GoldScore": "opsloop.inference._crossfit",
    "InferenceResult": "opsloop.inference._api",
    "LabelErrorRanking": "opsloop.inference._label_errors",
    "MACE": "opsloop.inference._mace",
    "METHODS": "opsloop.inference._registry",
    "METHOD_CHOICES": "opsloop.inference._registry",
    "MajorityVote": "opsloop.inference._majority",
    "MethodSelection": "opsloop.inference._select",
    "OneCoinDawidSkene": "opsloop.inference._dawid_skene",
    "StoredInference": "opsloop.inference._store",
    "TaskData": "opsloop.inference._base",
    "TaskFit": "opsloop.inference._base",
    "WeightedMajorityVote": "opsloop.inference._majority",
    "WorkspaceInference": "opsloop.inference._store",
    "cross_fitted_gold": "opsloop.inference._crossfit",
    "e_step": "opsloop.inference._dawid_skene",
    "glad_e_step": "opsloop.inference._glad",
    "glad_m_step": "opsloop.inference._glad",
    "infer_labels": "opsloop.inference._api",
    "infer_workspace": "opsloop.inference._store",
    "inference_tables": "opsloop.inference._store",
    "m_step": "opsloop.inference._dawid_skene",
    "mace_e_step": "opsloop.inference._mace",
    "mace_m_step": "opsloop.inference._mace",
    "make_estimator": "opsloop.inference._registry",
    "one_coin_m_step": "opsloop.inference._dawid_skene",
    "rank_label_errors": "opsloop.inference._label_errors",
    "rater_confusion": "opsloop.inference._reliability",
    "rater_reliability": "opsloop.inference._reliability",
    "relabel_queue": "opsloop.inference._store",
    "select_method": "opsloop.inference._select",
    "spammer_score": "opsloop.inference._reliability",
    "store_inference": "opsloop.inference._store",
    "stored_inference": "opsloop.inference._store",
}

__all__ = [
    "GLAD",
    "MACE",
    "METHODS",
    "METHOD_CHOICES",
    "BaseEstimator",
    "CandidateScore",
    "DawidSkene",
    "EngineDawidSkene",
    "EngineGLAD",
    "EngineMACE",
    "EngineMajorityVote",
    "EngineOneCoinDawidSkene",
    "GoldScore",
    "InferenceResult",
    "LabelErrorRanking",
    "MajorityVote",
    "MethodSelection",
    "OneCoinDawidSkene",
    "StoredInference",
    "TaskData",
    "TaskFit",
    "WeightedMajorityVote",
    "WorkspaceInference",
    "cross_fitted_gold",
    "e_step",
    "glad_e_step",
    "glad_m_step",
    "infer_labels",
    "infer_workspace",
    "inference_tables",
    "m_step",
    "mace_e_step",
    "mace_m_step",
    "make_estimator",
    "one_coin_m_step",
    "rank_label_errors",
    "rater_confusion",
    "rater_reliability",
    "relabel_queue",
    "select_method",
    "spammer_score",
    "store_inference",
    "stored_inference",
]


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
