"""Each eval category across model versions: rates with Wilson intervals, per version.

For every model version × category (and every version over all categories)
three shares, each a proportion ``k/n`` with its Wilson (1927) interval::

    fail               = Σ 1[failed] / n                    over every item run
    unsafe_compliance  = Σ 1[failed] / n_to_refuse        over the prompts to refuse
    over_refusal       = Σ 1[failed] / n_to_answer        over the prompts to answer

with a row's prompt *to refuse* when ``refused = passed`` (see
:mod:`opsloop.evals._compare`); the two safety shares are ``None`` without a
``refused`` column or where no prompt of that kind was run. Unlike
:func:`~opsloop.evals.compare_evals` nothing is paired: each version's rate
is on the items it was run on, so a change in the item set moves the rate too.
One grouped query computes every count. E. B. Wilson (1927), JASA 22:209–212.

>>> import pyarrow as pa
>>> ev = pa.table({"model_version": ["v1", "v1", "v2", "v2"], "item_id": ["a", "b"] * 2,
...     "category": ["x"] * 4, "outcome": ["pass", "fail", "pass", "pass"]})
>>> [(p.model_version, p.fail.value, p.n) for p in eval_trend(ev).series("x")]
[('v1', 0.5, 2), ('v2', 0.0, 2)]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from opsloop.errors import UsageError
from opsloop.evals._compare import read_evals
from opsloop.evals._versions import natural_key
from opsloop.findings import Proportion

_COUNTS = ("n", "failed", "n_to_refuse", "complied", "n_to_answer", "over_refused")


def _share(k: int, n: int, confidence: float) -> Proportion | None:
    return Proportion.of(k, n, confidence) if n else None


@dataclass(frozen=True)
class TrendPoint:
    """One model version on one category (``None``: all categories).

    ``fail`` over the ``n`` items run; ``unsafe_compliance`` over the prompts to
    refuse and ``over_refusal`` over the prompts to answer (``None`` when there
    are none, or no ``refused`` column). Each is a :class:`Proportion` (value,
    Wilson interval, k, n).
    """

    model_version: str
    category: str | None
    fail: Proportion
    unsafe_compliance: Proportion | None
    over_refusal: Proportion | None

    @property
    def n(self) -> int:
        return int(self.fail.n)

    def to_dict(self) -> dict[str, Any]:
        def d(p: Proportion | None) -> dict[str, float] | None:
            return None if p is None else p.to_dict()

        return {"model_version": self.model_version, "category": self.category, "n": self.n,
                "fail": self.fail.to_dict(), "unsafe_compliance": d(self.unsafe_compliance),
                "over_refusal": d(self.over_refusal)}  # fmt: skip


@dataclass(frozen=True)
class EvalTrend:
    """Per-category rates of every model version (versions and categories in natural order).

    ``points`` holds one :class:`TrendPoint` per (category, version) that has
    rows, category by category; ``overall`` one per version over all
    categories.
    """

    versions: tuple[str, ...]
    categories: tuple[str, ...]
    points: tuple[TrendPoint, ...]
    overall: tuple[TrendPoint, ...]
    has_refusals: bool
    confidence: float

    def series(self, category: str | None) -> tuple[TrendPoint, ...]:
        """One category's points in version order (``None``: all categories)."""
        if category is None:
            return self.overall
        return tuple(p for p in self.points if p.category == category)

    def point(self, version: str, category: str | None) -> TrendPoint:
        """The point of ``version`` on ``category`` (``None``: all); KeyError when absent."""
        for p in self.series(category):
            if p.model_version == version:
                return p
        raise KeyError(f"no rows of model version {version!r} in category {category!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"versions": list(self.versions), "categories": list(self.categories),
                "confidence": self.confidence, "interval": "Wilson (1927)",
                "has_refusals": self.has_refusals,
                "points": [p.to_dict() for p in self.points],
                "overall": [p.to_dict() for p in self.overall]}  # fmt: skip


def _point(version: str, category: str | None, c: list[int], has_refusals: bool,
           confidence: float) -> TrendPoint:  # fmt: skip
    n, failed, n_refuse, complied, n_answer, over = c
    return TrendPoint(
        version, category, Proportion.of(failed, n, confidence),
        _share(complied, n_refuse, confidence) if has_refusals else None,
        _share(over, n_answer, confidence) if has_refusals else None,
    )  # fmt: skip


def eval_trend(evals: Any, *, confidence: float = 0.95, source: str = "evals") -> EvalTrend:
    """Fail rate, unsafe compliance and over-refusal per model version × category.

    ``evals``: a pyarrow table, a DuckDB relation or an Ibis table in the evals
    contract. Every count comes from one query grouped by version and category;
    the all-categories points add them up. ``source`` names the table in error messages.
    """
    bound, codes, coded = read_evals(evals, confidence, source)
    t = bound.table
    versions = codes.versions
    if not versions:
        raise UsageError(f"the {source} table holds no rows with a model version")
    c = coded.filter(coded.model_version.notnull())
    known = c.refused.notnull()
    to_refuse = known & (c.refused == 1 - c.failed)
    to_answer = known & (c.refused == c.failed)

    def total(cond: Any) -> Any:
        return cond.cast("int64").sum()

    rows = bound.rows(c.aggregate(
        by=["model_version", "category"], n=c.count(), failed=c.failed.sum(),
        n_to_refuse=total(to_refuse), complied=total(to_refuse & (c.failed == 1)),
        n_to_answer=total(to_answer), over_refused=total(to_answer & (c.failed == 1)),
    ))  # fmt: skip
    has_refusals = "refused" in t.columns
    per: dict[tuple[str, str], list[int]] = {}
    whole: dict[str, list[int]] = defaultdict(lambda: [0] * len(_COUNTS))
    for r in rows:
        counts = [int(r[k] or 0) for k in _COUNTS]
        per[(str(r["category"]), str(r["model_version"]))] = counts
        acc = whole[str(r["model_version"])]
        for i, v in enumerate(counts):
            acc[i] += v
    if "category" not in t.columns:  # every row in one category: the overall points only
        per = {}
    categories = sorted({cat for cat, _ in per}, key=natural_key)
    order = {v: i for i, v in enumerate(versions)}
    points = [_point(v, cat, per[(cat, v)], has_refusals, confidence)
              for cat, v in sorted(per, key=lambda k: (natural_key(k[0]), order[k[1]]))]  # fmt: skip
    overall = [_point(v, None, whole[v], has_refusals, confidence) for v in versions]
    return EvalTrend(tuple(versions), tuple(categories), tuple(points), tuple(overall),
                     has_refusals, confidence)  # fmt: skip
