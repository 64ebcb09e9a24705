"""The estimators by method name, and ``auto`` (chosen from the data, no gold).

>>> type(make_estimator("ds")).__name__, METHOD_CHOICES[0]
('DawidSkene', 'auto')
"""

from __future__ import annotations

import importlib
from typing import Any

from opsloop.errors import UsageError
from opsloop.inference._estimator import BaseEstimator

# method -> (module, class): imported when a method is first used, so that a command
# reads its input before loading the numeric libraries one estimator needs (SciPy)
_ESTIMATORS: dict[str, tuple[str, str]] = {
    "mv": ("opsloop.inference._majority", "MajorityVote"),
    "wmv": ("opsloop.inference._majority", "WeightedMajorityVote"),
    "ds": ("opsloop.inference._dawid_skene", "DawidSkene"),
    "onecoin": ("opsloop.inference._dawid_skene", "OneCoinDawidSkene"),
    "glad": ("opsloop.inference._glad", "GLAD"),
    "mace": ("opsloop.inference._mace", "MACE"),
}
METHODS: tuple[str, ...] = tuple(_ESTIMATORS)
AUTO = "auto"
METHOD_CHOICES: tuple[str, ...] = (AUTO, *METHODS)
SEEDED = frozenset({"mace"})  # the estimators whose fit draws random numbers


def make_estimator(method: str, **params: Any) -> BaseEstimator:
    """The estimator for a method name (``mv wmv ds onecoin glad mace``)."""
    try:
        module, name = _ESTIMATORS[method]
    except KeyError:
        raise UsageError(
            f"unknown inference method {method!r} (choose from {', '.join(METHOD_CHOICES)})"
        ) from None
    cls: type[BaseEstimator] = getattr(importlib.import_module(module), name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise UsageError(f"{method}: {exc}") from None
