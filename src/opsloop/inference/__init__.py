"""Truth inference, rater reliability and label-error ranking.

Estimators share one shape (construct with settings, ``fit(table, gold=None)``,
read ``labels_``, ``probas_``, ``errors_``/``skills_``, ``loss_history_``):
:class:`MajorityVote`, :class:`WeightedMajorityVote`, :class:`DawidSkene`,
:class:`OneCoinDawidSkene`, :class:`GLAD`, :class:`MACE`.
:func:`infer_labels` wraps them into a typed :class:`InferenceResult`;
:func:`rater_reliability`, :func:`rater_confusion` and
:func:`rank_label_errors` work on a fitted estimator.
"""

from opsloop.inference._api import METHODS, InferenceResult, infer_labels, make_estimator
from opsloop.inference._base import TaskData, TaskFit
from opsloop.inference._dawid_skene import (
    DawidSkene,
    OneCoinDawidSkene,
    e_step,
    m_step,
    one_coin_m_step,
)
from opsloop.inference._estimator import BaseEstimator
from opsloop.inference._glad import GLAD, glad_e_step, glad_m_step
from opsloop.inference._label_errors import LabelErrorRanking, rank_label_errors
from opsloop.inference._mace import MACE, mace_e_step, mace_m_step
from opsloop.inference._majority import MajorityVote, WeightedMajorityVote
from opsloop.inference._reliability import rater_confusion, rater_reliability, spammer_score

__all__ = [
    "GLAD",
    "MACE",
    "METHODS",
    "BaseEstimator",
    "DawidSkene",
    "InferenceResult",
    "LabelErrorRanking",
    "MajorityVote",
    "OneCoinDawidSkene",
    "TaskData",
    "TaskFit",
    "WeightedMajorityVote",
    "e_step",
    "glad_e_step",
    "glad_m_step",
    "infer_labels",
    "m_step",
    "mace_e_step",
    "mace_m_step",
    "make_estimator",
    "one_coin_m_step",
    "rank_label_errors",
    "rater_confusion",
    "rater_reliability",
    "spammer_score",
]
