"""Metrics: quality against gold and audits, inter- and intra-rater agreement (κ, α, AC1 …).

>>> import pyarrow as pa
>>> from opsloop.metrics import agreement
>>> t = pa.table({"item_id": ["a", "a", "b", "b"], "rater_id": ["x", "y", "x", "y"],
...               "label": ["1", "1", "0", "0"]})
>>> agreement(t, metrics=["fleiss_kappa"], n_boot=0).records[0].value
1.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Names resolve on first use (PEP 562): agreement on a file loads its numpy kernels without
# the Ibis quality expressions. Public name -> the module that defines it.
_SOURCES: dict[str, str] = {
    "AgreementResult": "opsloop.metrics._records",
    "ConfusionMatrix": "opsloop.metrics._confusion",
    "DEFAULT_METRICS": "opsloop.metrics._registry",
    "Estimate": "opsloop.metrics._kernel",
    "Interval": "opsloop.metrics._survey",
    "IntraRaterResult": "opsloop.metrics._intra",
    "ItemCounts": "opsloop.metrics._kernel",
    "MISSING": "opsloop.metrics._slicing",
    "MetricRecord": "opsloop.metrics._records",
    "MetricSpec": "opsloop.metrics._registry",
    "PairwiseAgreement": "opsloop.metrics._raters",
    "QualityResult": "opsloop.metrics._quality",
    "RaterFlag": "opsloop.metrics._intra",
    "SliceProportion": "opsloop.metrics._accuracy",
    "accuracy_vs_gold": "opsloop.metrics._accuracy",
    "agreement": "opsloop.metrics._agreement",
    "agreement_sql": "opsloop.metrics._agreement",
    "audit_accuracy": "opsloop.metrics._accuracy",
    "audit_base": "opsloop.metrics._quality_exprs",
    "choose_quality_metrics": "opsloop.metrics._quality",
    "compress": "opsloop.metrics._kernel",
    "conger_kappa": "opsloop.metrics._gwet",
    "count_matrix": "opsloop.metrics._kernel",
    "f1_interval": "opsloop.metrics._confusion",
    "get_metric": "opsloop.metrics._registry",
    "gold_base": "opsloop.metrics._quality_exprs",
    "gwet_family": "opsloop.metrics._gwet",
    "hajek_proportion": "opsloop.metrics._survey",
    "intra_rater_agreement": "opsloop.metrics._intra",
    "kappa_paradox": "opsloop.metrics._records",
    "krippendorff_alpha": "opsloop.metrics._krippendorff",
    "label_stats": "opsloop.metrics._confusion",
    "landis_koch": "opsloop.metrics._records",
    "list_metrics": "opsloop.metrics._registry",
    "pairwise_agreement": "opsloop.metrics._pairwise",
    "pairwise_matrix": "opsloop.metrics._raters",
    "quality": "opsloop.metrics._quality",
    "quality_sql": "opsloop.metrics._quality",
    "ratio_estimate": "opsloop.metrics._survey",
    "register": "opsloop.metrics._registry",
    "severity_expr": "opsloop.metrics._quality_exprs",
    "weight_matrix": "opsloop.metrics._kernel",
    "wilson": "opsloop.metrics._survey",
}
# public names that differ from the name in their module
_RENAMED: dict[str, str] = {
    "severity_expr": "severity",
}

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


def __getattr__(name: str) -> Any:
    """Import the module behind a public name on first use and keep the value."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'opsloop.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(source), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
