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

from opsloop.inference._api import (
    METHOD_CHOICES,
    METHODS,
    InferenceResult,
    infer_labels,
    make_estimator,
)
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
