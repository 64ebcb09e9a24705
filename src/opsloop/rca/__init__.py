"""Root-cause analysis of KPI changes: mix versus rate, slice discovery, findings.

>>> import numpy as np
>>> from opsloop.rca import kitagawa
>>> k = kitagawa(np.array([0.8, 0.2]), np.array([0.98, 0.80]),
...              np.array([0.5, 0.5]), np.array([0.99, 0.82]))
>>> round(k.rate_effect, 4), round(k.mix_effect, 4)
(0.0135, -0.0525)
"""

from opsloop.rca._enrich import (
    Breakdown,
    MixShift,
    PairShift,
    VersionChange,
)
from opsloop.rca._findings import Finding, FindingKind
from opsloop.rca._frame import RatioSpec, ratio_spec
from opsloop.rca._inputs import (
    ConfusionTable,
    RaterTable,
    RcaInputs,
    build_rca_inputs,
    confusion_expr,
    rater_expr,
    rca_inputs,
)
from opsloop.rca._kitagawa import (
    DimensionDecomposition,
    Kitagawa,
    LevelChange,
    decompose,
    kitagawa,
)
from opsloop.rca._model_checks import (
    data_loop_findings,
    eval_regression_findings,
    model_regression_findings,
)
from opsloop.rca._preference_checks import preference_bias_findings
from opsloop.rca._raters import NewRaters, RaterChange, RaterDrift
from opsloop.rca._rca import KpiValue, RcaResult, check_request, rca
from opsloop.rca._slices import SliceChange, discover_slices

__all__ = [
    "Breakdown",
    "ConfusionTable",
    "DimensionDecomposition",
    "Finding",
    "FindingKind",
    "Kitagawa",
    "KpiValue",
    "LevelChange",
    "MixShift",
    "NewRaters",
    "PairShift",
    "RaterChange",
    "RaterDrift",
    "RaterTable",
    "RatioSpec",
    "RcaInputs",
    "RcaResult",
    "SliceChange",
    "VersionChange",
    "build_rca_inputs",
    "check_request",
    "confusion_expr",
    "data_loop_findings",
    "decompose",
    "discover_slices",
    "eval_regression_findings",
    "kitagawa",
    "model_regression_findings",
    "preference_bias_findings",
    "rater_expr",
    "ratio_spec",
    "rca",
    "rca_inputs",
]
