"""Numeric helpers: proportion intervals, bootstrap, SPC limits, sampling math."""

from opsloop.stats._proportion import wilson_interval

__all__ = ["wilson_interval"]
