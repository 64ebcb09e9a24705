"""Model versions: paired regression checks per gold label and eval category.

Two versions of a model run on the same items are compared item by item
(McNemar's exact test per slice, Benjamini–Hochberg across slices); slices
where the candidate is significantly worse become ``model_regression``
findings with :class:`ModelRegressionEvidence`, scored in ``model_points``.
:func:`compare_evals` is the release gate behind ``opsloop evals compare``
(fail rate, unsafe compliance and over-refusal per category, side by side),
:func:`eval_trend` each category's rates across versions, and
:func:`xstest_evals` reads XSTest completions (Röttger et al., 2024) as evals.

The names are resolved on first use (PEP 562): comparing two versions of a file
does not load the findings on a workspace (and the engine with them).

>>> import pyarrow as pa
>>> from opsloop.evals import eval_regression_findings
>>> ev = pa.table({"model_version": ["m1"] * 100 + ["m2"] * 100, "item_id": list(range(100)) * 2,
...     "category": ["x"] * 200, "outcome": ["pass"] * 100 + ["fail"] * 20 + ["pass"] * 80})
>>> [(f.kpi, f.where["category"], f.score_text()) for f in eval_regression_findings(ev)]
[('eval_fail_rate', 'x', '20.00 model pts lost')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop._lazy import lazy_exports

if TYPE_CHECKING:
    from opsloop.evals._compare import MEASURES, EvalComparison, PairedRate, compare_evals
    from opsloop.evals._paired import Compared, ModelRegressionEvidence, PairCounts, compare_pairs
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

# public name -> the module that defines it (imported when the name is first used)
_SOURCES: dict[str, str] = {
    "MEASURES": "opsloop.evals._compare",
    "Compared": "opsloop.evals._paired",
    "EvalComparison": "opsloop.evals._compare",
    "EvalTrend": "opsloop.evals._trend",
    "ModelRegressionEvidence": "opsloop.evals._paired",
    "ModelVersions": "opsloop.evals._regressions",
    "PairCounts": "opsloop.evals._paired",
    "PairedRate": "opsloop.evals._compare",
    "TrendPoint": "opsloop.evals._trend",
    "choose_versions": "opsloop.evals._versions",
    "compare_evals": "opsloop.evals._compare",
    "compare_pairs": "opsloop.evals._paired",
    "eval_regression_findings": "opsloop.evals._regressions",
    "eval_trend": "opsloop.evals._trend",
    "model_regression_findings": "opsloop.evals._regressions",
    "natural_key": "opsloop.evals._versions",
    "workspace_model_findings": "opsloop.evals._regressions",
    "workspace_model_versions": "opsloop.evals._regressions",
    "xstest_evals": "opsloop.evals._xstest",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
