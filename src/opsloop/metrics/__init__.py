"""Metrics: inter-rater agreement (κ, α, AC1 …) now; quality metrics join the same registry.

>>> import pyarrow as pa
>>> t = pa.table({"item_id": ["a", "a", "b", "b"], "rater_id": ["x", "y", "x", "y"],
...               "label": ["1", "1", "0", "0"]})
>>> agreement(t, metrics=["fleiss_kappa"], n_boot=0).records[0].value
1.0
"""

from opsloop.metrics._agreement import agreement
from opsloop.metrics._gwet import conger_kappa, gwet_family
from opsloop.metrics._kernel import Estimate, ItemCounts, compress, count_matrix, weight_matrix
from opsloop.metrics._krippendorff import krippendorff_alpha
from opsloop.metrics._pairwise import pairwise_agreement
from opsloop.metrics._raters import PairwiseAgreement, pairwise_matrix
from opsloop.metrics._records import AgreementResult, MetricRecord, kappa_paradox, landis_koch
from opsloop.metrics._registry import (
    DEFAULT_METRICS,
    MetricSpec,
    get_metric,
    list_metrics,
    register,
)

__all__ = [
    "DEFAULT_METRICS",
    "AgreementResult",
    "Estimate",
    "ItemCounts",
    "MetricRecord",
    "MetricSpec",
    "PairwiseAgreement",
    "agreement",
    "compress",
    "conger_kappa",
    "count_matrix",
    "get_metric",
    "gwet_family",
    "kappa_paradox",
    "krippendorff_alpha",
    "landis_koch",
    "list_metrics",
    "pairwise_agreement",
    "pairwise_matrix",
    "register",
    "weight_matrix",
]
