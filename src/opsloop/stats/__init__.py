"""The one home of numeric helpers: proportion intervals, hypothesis tests, multiple
comparisons, bootstrap, calendar arithmetic (ISO weeks, day numbers).

A foundation layer: it imports only :mod:`opsloop.errors`, NumPy and SciPy.
"""

from opsloop.stats._bootstrap import multinomial_weights, percentile_interval
from opsloop.stats._encode import CodedLabels, encode_labels
from opsloop.stats._periods import (
    EPOCH,
    WEEK_DAYS,
    day_from_number,
    day_number,
    is_iso_week,
    parse_iso_week,
    week_label,
    week_monday,
    week_start,
)
from opsloop.stats._proportion import (
    Z95,
    clopper_pearson_interval,
    normal_quantile,
    paired_difference_interval,
    wilson_arrays,
    wilson_interval,
)
from opsloop.stats._tests import (
    bh_adjust,
    binomial_test,
    fisher_exact,
    mcnemar_chi2,
    mcnemar_exact,
    pooled_z,
    two_proportion_test,
    two_proportion_z_test,
    two_sided_p,
    wald_z,
)

__all__ = [
    "EPOCH",
    "WEEK_DAYS",
    "Z95",
    "CodedLabels",
    "bh_adjust",
    "binomial_test",
    "clopper_pearson_interval",
    "day_from_number",
    "day_number",
    "encode_labels",
    "fisher_exact",
    "is_iso_week",
    "mcnemar_chi2",
    "mcnemar_exact",
    "multinomial_weights",
    "normal_quantile",
    "paired_difference_interval",
    "parse_iso_week",
    "percentile_interval",
    "pooled_z",
    "two_proportion_test",
    "two_proportion_z_test",
    "two_sided_p",
    "wald_z",
    "week_label",
    "week_monday",
    "week_start",
    "wilson_arrays",
    "wilson_interval",
]
