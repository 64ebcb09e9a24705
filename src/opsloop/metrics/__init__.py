"""Metrics: quality against gold and audits, inter- and intra-rater agreement (κ, α, AC1 …).

>>> import pyarrow as pa
>>> t = pa.table({"item_id": ["a", "a", "b", "b"], "rater_id": ["x", "y", "x", "y"],
...               "label": ["1", "1", "0", "0"]})
>>> agreement(t, metrics=["fleiss_kappa"], n_boot=0).records[0].value
1.0
"""

from opsloop.metrics._accuracy import SliceProportion, accuracy_vs_gold, audit_accuracy
from opsloop.metrics._agreement import agreement, agreement_sql
from opsloop.metrics._confusion import ConfusionMatrix, f1_interval, label_stats
from opsloop.metrics._gwet import conger_kappa, gwet_family
from opsloop.metrics._intra import IntraRaterResult, RaterFlag, intra_rater_agreement
from opsloop.metrics._kernel import Estimate, ItemCounts, compress, count_matrix, weight_matrix
from opsloop.metrics._krippendorff import krippendorff_alpha
from opsloop.metrics._pairwise import pairwise_agreement
from opsloop.metrics._quality import (
    QualityResult,
    choose_quality_metrics,
    quality,
    quality_sql,
)
from opsloop.metrics._quality_exprs import audit_base, gold_base
from opsloop.metrics._quality_exprs import severity as severity_expr
from opsloop.metrics._raters import PairwiseAgreement, pairwise_matrix
from opsloop.metrics._records import AgreementResult, MetricRecord, kappa_paradox, landis_koch
from opsloop.metrics._registry import (
    DEFAULT_METRICS,
    MetricSpec,
    get_metric,
    list_metrics,
    register,
)
from opsloop.metrics._slicing import MISSING
from opsloop.metrics._survey import Interval, hajek_proportion, ratio_estimate, wilson

__all__ = [
    "DEFAULT_METRICS",
    "MISSING",
    "AgreementResult",
    "ConfusionMatrix",
    "Estimate",
    "Interval",
    "IntraRaterResult",
    "ItemCounts",
    "MetricRecord",
    "MetricSpec",
    "PairwiseAgreement",
    "QualityResult",
    "RaterFlag",
    "SliceProportion",
    "accuracy_vs_gold",
    "agreement",
    "agreement_sql",
    "audit_accuracy",
    "audit_base",
    "choose_quality_metrics",
    "compress",
    "conger_kappa",
    "count_matrix",
    "f1_interval",
    "get_metric",
    "gold_base",
    "gwet_family",
    "hajek_proportion",
    "intra_rater_agreement",
    "kappa_paradox",
    "krippendorff_alpha",
    "label_stats",
    "landis_koch",
    "list_metrics",
    "pairwise_agreement",
    "pairwise_matrix",
    "quality",
    "quality_sql",
    "ratio_estimate",
    "register",
    "severity_expr",
    "weight_matrix",
    "wilson",
]
