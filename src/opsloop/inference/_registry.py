"""The estimators by method name, and ``auto`` (chosen from the data, no gold).

>>> type(make_estimator("ds")).__name__, METHOD_CHOICES[0]
('DawidSkene', 'auto')
"""

from __future__ import annotations

from typing import Any

from opsloop.errors import UsageError
from opsloop.inference._dawid_skene import DawidSkene, OneCoinDawidSkene
from opsloop.inference._estimator import BaseEstimator
from opsloop.inference._glad import GLAD
from opsloop.inference._mace import MACE
from opsloop.inference._majority import MajorityVote, WeightedMajorityVote

METHODS: dict[str, type[BaseEstimator]] = {
    "mv": MajorityVote,
    "wmv": WeightedMajorityVote,
    "ds": DawidSkene,
    "onecoin": OneCoinDawidSkene,
    "glad": GLAD,
    "mace": MACE,
}
AUTO = "auto"
METHOD_CHOICES: tuple[str, ...] = (AUTO, *METHODS)
SEEDED = frozenset({"mace"})  # the estimators whose fit draws random numbers


def make_estimator(method: str, **params: Any) -> BaseEstimator:
    """The estimator for a method name (``mv wmv ds onecoin glad mace``)."""
    try:
        cls = METHODS[method]
    except KeyError:
        raise UsageError(
            f"unknown inference method {method!r} (choose from {', '.join(METHOD_CHOICES)})"
        ) from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise UsageError(f"{method}: {exc}") from None
