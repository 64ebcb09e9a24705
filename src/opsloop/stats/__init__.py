"""Numeric helpers: proportion intervals, bootstrap, SPC limits, sampling math."""

from opsloop.stats._bootstrap import multinomial_weights, percentile_interval
from opsloop.stats._encode import CodedLabels, encode_labels
from opsloop.stats._proportion import wilson_interval

__all__ = [
    "CodedLabels",
    "encode_labels",
    "multinomial_weights",
    "percentile_interval",
    "wilson_interval",
]
