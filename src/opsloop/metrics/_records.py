"""Result records shared by every metric (agreement now, quality later)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Landis & Koch (1977), Biometrics 33(1):159-174, Table "strength of agreement".
_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "poor"),
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.0, "almost perfect"),
)

#: Raw agreement at or above this, with a kappa-type value at least
#: ``PARADOX_GAP`` below it, is flagged as the kappa paradox.
PARADOX_MIN_AGREEMENT = 0.6
PARADOX_GAP = 0.4


def landis_koch(value: float) -> str | None:
    """The Landis & Koch (1977) band of a chance-corrected coefficient.

    ``< 0`` poor, ``0–0.20`` slight, ``0.21–0.40`` fair, ``0.41–0.60`` moderate,
    ``0.61–0.80`` substantial, ``0.81–1`` almost perfect; ``None`` for NaN.

    >>> landis_koch(0.43), landis_koch(-0.1), landis_koch(0.95)
    ('moderate', 'poor', 'almost perfect')
    """
    if math.isnan(value):
        return None
    if value < 0:
        return "poor"
    for upper, name in _BANDS[1:]:
        if value <= upper:
            return name
    return "almost perfect"


def kappa_paradox(raw_agreement: float, kappa: float) -> bool:
    """True when high raw agreement meets a low kappa (Feinstein & Cicchetti, 1990).

    Rule: ``Pa ≥ 0.6`` and ``Pa − κ ≥ 0.4``. Skewed category prevalence inflates
    the chance term of κ; Gwet's AC1 (Gwet, 2008) is robust to it.

    >>> kappa_paradox(0.675, 0.022), kappa_paradox(0.9, 0.8)
    (True, False)
    """
    if math.isnan(raw_agreement) or math.isnan(kappa):
        return False
    return raw_agreement >= PARADOX_MIN_AGREEMENT and raw_agreement - kappa >= PARADOX_GAP


def _clean(x: float | None) -> float | None:
    if x is None:
        return None
    return None if math.isnan(x) else float(x)


@dataclass(frozen=True)
class MetricRecord:
    """One estimate of one metric on one slice.

    ``value`` is NaN when the metric cannot be computed; ``note`` says why.
    ``slice`` maps slice columns (e.g. ``task``, ``locale``) to values; empty
    for the whole table. ``to_dict`` gives the JSON form (NaN → ``null``).

    >>> r = MetricRecord("fleiss_kappa", "nominal", {}, 0.43, 0.3, 0.56, 30, 6)
    >>> r.to_dict()["interpretation"] is None, r.to_dict()["value"]
    (True, 0.43)
    """

    metric: str
    level: str
    slice: dict[str, str]
    value: float
    ci_low: float
    ci_high: float
    n_items: int
    n_raters: int
    se: float | None = None
    interpretation: str | None = None
    note: str | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "level": self.level,
            "slice": dict(self.slice),
            "value": _clean(self.value),
            "ci_low": _clean(self.ci_low),
            "ci_high": _clean(self.ci_high),
            "n_items": int(self.n_items),
            "n_raters": int(self.n_raters),
            "se": _clean(self.se),
            "interpretation": self.interpretation,
            "note": self.note,
            "extra": {k: _clean(v) for k, v in self.extra.items()},
        }


class _Records:
    """Lookups shared by the result types holding ``records``."""

    records: tuple[MetricRecord, ...]

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records]

    def get(self, metric: str, **slice_values: str) -> MetricRecord:
        """The record of ``metric`` on the slice with exactly ``slice_values``."""
        for r in self.records:
            if r.metric == metric and all(r.slice.get(k) == v for k, v in slice_values.items()):
                return r
        raise KeyError(f"no record for {metric!r} on slice {slice_values}")

    def values(self, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
        """``{slice items: value}`` for one metric."""
        return {tuple(sorted(r.slice.items())): r.value for r in self.records if r.metric == metric}


@dataclass(frozen=True)
class AgreementResult(_Records):
    """The records of one agreement run (one per metric and slice).

    ``to_dict()`` is the JSON form: a list of record dicts. ``n_duplicates``
    counts (item, rater) rows dropped because a later row rated the same item
    again (the last row wins).
    """

    records: tuple[MetricRecord, ...]
    n_duplicates: int = 0
