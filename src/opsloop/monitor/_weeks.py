"""Which week a review covers, and whether it has enough data to be the headline.

The week under review is the last ISO week with data (or the week ``--as-of``
names; data after it are ignored). A week is *thin* when it holds fewer items
handled than ``MIN_WEEK_SHARE`` (10%) of the median week, or fewer than
``MIN_WEEK_ITEMS``: a partial week at the end of an export, a holiday. A thin
latest week is not made the headline: the report reviews the last week with
enough data and says so. A week named with ``--as-of`` is reviewed even when
thin, and flagged.

>>> import numpy as np
>>> from opsloop.monitor import Cube
>>> mondays = np.array([20150, 20157, 20164])  # 2025-W10, W11, W12
>>> cube = Cube((), {}, mondays, {}, {"ann_n": np.array([900.0, 880.0, 12.0])})
>>> r = review_week(cube)
>>> r.week.label, r.skipped, r.thin
('2025-W11', (('2025-W12', 12),), False)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.errors import UsageError
from opsloop.monitor._cube import Cube
from opsloop.monitor._periods import Period, day_from_number, week_label, week_period, week_start
from opsloop.stats import day_number

MIN_WEEK_SHARE = 0.10
MIN_WEEK_ITEMS = 20


@dataclass(frozen=True)
class WeekReview:
    """The week under review: its items handled ``n``, the median week's, and flags.

    ``thin`` says the week has too little data to judge; ``requested`` that
    ``--as-of`` named it; ``skipped`` lists later thin weeks passed over
    (label, items handled); ``stop`` is the first day left out (days since
    1970-01-01).
    """

    week: Period
    n: int
    median: float
    thin: bool
    requested: bool
    skipped: tuple[tuple[str, int], ...]
    stop: int

    @property
    def threshold(self) -> float:
        return max(MIN_WEEK_SHARE * self.median, float(MIN_WEEK_ITEMS))

    def message(self) -> str | None:
        """What the summary says about the choice of week (``None``: nothing to say)."""
        median = f"{self.median:,.0f}"
        if self.skipped:
            names = ", ".join(f"{w} ({n:,} items handled)" for w, n in self.skipped)
            return (
                f"Too little data to review in {names}: fewer than 10% of the median week "
                f"({median}) or than {MIN_WEEK_ITEMS}. This report reviews {self.week.label}, "
                "the last week with enough data, and leaves the later data out."
            )
        if self.thin:
            why = "named with --as-of" if self.requested else "no week has more"
            return (
                f"{self.week.label} has only {self.n:,} items handled (median week {median}; "
                f"{why}): its figures rest on little data and their intervals are wide."
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.week.to_dict(),
            "items_handled": self.n,
            "median_week": self.median,
            "thin": self.thin,
            "requested": self.requested,
            "skipped": [{"week": w, "items_handled": n} for w, n in self.skipped],
            "message": self.message(),
        }


def _weekly_counts(cube: Cube, stop: int) -> tuple[list[int], list[int]]:
    """Mondays (day numbers) and items handled of every week with data before ``stop``."""
    r = cube.rollup(mask=cube.day < stop, period="week", measures=["sub_n"])
    if not len(r):
        return [], []
    mondays = [int(x) for x in r.keys["day"]]
    counts = [round(float(x)) for x in r.sums["sub_n"]]
    return mondays, counts


def review_week(cube: Cube, as_of: Period | dt.date | None = None) -> WeekReview:
    """The week the report reviews (see the module docstring).

    ``as_of`` is a :class:`Period` (its last week is reviewed) or a day (its
    week, data up to that day); later data are ignored.
    """
    if cube.last_day is None:
        raise UsageError("no annotation has a submitted_at date: there is no week to review")
    if isinstance(as_of, Period):
        stop = as_of.day_range[1]
    elif as_of is not None:
        stop = day_number(as_of) + 1
    else:
        stop = cube.last_day + 1
    mondays, counts = _weekly_counts(cube, stop)
    if not mondays:
        begin = day_from_number(int(cube.day.min())).isoformat()
        raise UsageError(f"no annotations before the as-of date (the data start on {begin})")
    median = float(np.median(counts))
    floor = max(MIN_WEEK_SHARE * median, float(MIN_WEEK_ITEMS))
    last_monday = week_start(day_from_number(stop - 1))
    by_monday = dict(zip(mondays, counts, strict=True))
    last_n = by_monday.get(day_number(last_monday), 0)
    if as_of is not None or last_n >= floor:
        return WeekReview(week_period(last_monday), last_n, median, last_n < floor,
                          as_of is not None, (), stop)  # fmt: skip
    enough = [i for i, n in enumerate(counts) if n >= floor]
    if not enough:
        return WeekReview(week_period(last_monday), last_n, median, True, False, (), stop)
    i = enough[-1]
    monday = day_from_number(mondays[i])
    skipped = tuple((week_label(day_from_number(m)), n) for m, n in zip(mondays[i + 1 :],
                    counts[i + 1 :], strict=True))  # fmt: skip
    return WeekReview(week_period(monday), counts[i], median, False, False, skipped,
                      mondays[i] + 7)  # fmt: skip
