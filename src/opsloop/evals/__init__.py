"""Model versions: paired regression checks per gold label and eval category.

Two versions of a model run on the same items are compared item by item
(McNemar's exact test per slice, Benjamini–Hochberg across slices); slices
where the candidate is significantly worse become ``model_regression``
findings with :class:`ModelRegressionEvidence`, scored in ``model_points``.
:func:`compare_evals` is the release gate behind ``opsloop evals compare``
(fail rate, unsafe compliance and over-refusal per category, side by side),
:func:`eval_trend` each category's rates across versions, and
:func:`xstest_evals` reads XSTest completions (Röttger et al., 2024) as evals.

>>> import pyarrow as pa
>>> ev = pa.table({"model_version": ["m1"] * 100 + ["m2"] * 100, "item_id": list(range(100)) * 2,
...     "category": ["x"] * 200, "outcome": ["pass"] * 100 + ["fail"] * 20 + ["pass"] * 80})
>>> [(f.kpi, f.where["category"], f.score_text()) for f in eval_regression_findings(ev)]
[('eval_fail_rate', 'x', '20.00 model pts lost')]
"""

from opsloop.evals._compare import (
    MEASURES,
    EvalComparison,
    PairedRate,
    compare_evals,
)
from opsloop.evals._paired import (
    Compared,
    ModelRegressionEvidence,
    PairCounts,
    compare_pairs,
)
from opsloop.evals._regressions import (
    ModelVersions,
    eval_regression_findings,
    model_regression_findings,
    workspace_model_findings,
    workspace_model_versions,
)
from opsloop.evals._trend import EvalTrend, TrendPoint, eval_trend
from opsloop.evals._versions import choose_versions, natural_key
from opsloop.evals._xstest import xstest_evals

__all__ = [
    "MEASURES",
    "Compared",
    "EvalComparison",
    "EvalTrend",
    "ModelRegressionEvidence",
    "ModelVersions",
    "PairCounts",
    "PairedRate",
    "TrendPoint",
    "choose_versions",
    "compare_evals",
    "compare_pairs",
    "eval_regression_findings",
    "eval_trend",
    "model_regression_findings",
    "natural_key",
    "workspace_model_findings",
    "workspace_model_versions",
    "xstest_evals",
]
