"""Root-cause analysis of KPI changes: mix versus rate, slice discovery, findings.

Findings (:class:`opsloop.findings.Finding`) carry typed evidence, one class per kind
(:mod:`opsloop.rca._evidence`), scored in KPI points explained.

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
from opsloop.rca._evidence import (
    ConfusionEvidence,
    GuidelineGapEvidence,
    MixShiftEvidence,
    RateChangeEvidence,
    RaterCohortEvidence,
    RaterDriftEvidence,
    SliceFindingEvidence,
)
from opsloop.rca._frame import RatioSpec, ratio_spec
from opsloop.rca._inputs import (
    ConfusionTable,
    RaterTable,
    RcaInputs,
    build_rca_inputs,
    confusion_expr,
    rater_expr,
)
from opsloop.rca._kitagawa import (
    DimensionDecomposition,
    Kitagawa,
    LevelChange,
    decompose,
    kitagawa,
)
from opsloop.rca._raters import NewRaters, RaterChange, RaterDrift
from opsloop.rca._rca import KpiValue, RcaResult, check_request, rca
from opsloop.rca._slices import SliceChange, discover_slices
from opsloop.rca._workspace_inputs import rca_inputs

__all__ = [
    "Breakdown",
    "ConfusionEvidence",
    "ConfusionTable",
    "DimensionDecomposition",
    "GuidelineGapEvidence",
    "Kitagawa",
    "KpiValue",
    "LevelChange",
    "MixShift",
    "MixShiftEvidence",
    "NewRaters",
    "PairShift",
    "RateChangeEvidence",
    "RaterChange",
    "RaterCohortEvidence",
    "RaterDrift",
    "RaterDriftEvidence",
    "RaterTable",
    "RatioSpec",
    "RcaInputs",
    "RcaResult",
    "SliceChange",
    "SliceFindingEvidence",
    "VersionChange",
    "build_rca_inputs",
    "check_request",
    "confusion_expr",
    "decompose",
    "discover_slices",
    "kitagawa",
    "rater_expr",
    "ratio_spec",
    "rca",
    "rca_inputs",
]
