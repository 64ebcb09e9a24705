"""Periods: the time windows KPIs are computed and compared over.

A period is a half-open range of days ``[start, end)``. It is written as

* a day ``2025-01-06``; an ISO week ``2025-W03`` (Monday to Sunday, ISO 8601);
  a month ``2025-01``;
* a range of any two of those, ``2025-W01..2025-W02`` (both ends included);
* ``latest-week`` / ``previous-week``: the last week with data and the one before.

Days are counted as integers since 1970-01-01, the way the KPI cube stores them; the
calendar arithmetic (day numbers, ISO weeks) is :mod:`opsloop.stats._periods`.

>>> p = parse_period("2025-W01..2025-W02")
>>> p.label, p.start.isoformat(), p.end.isoformat()
('2025-W01..2025-W02', '2024-12-30', '2025-01-13')
>>> parse_period("2025-01").end.isoformat()
'2025-02-01'
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from opsloop.errors import UsageError
from opsloop.stats import (
    EPOCH,
    WEEK_DAYS,
    day_from_number,
    day_number,
    is_iso_week,
    parse_iso_week,
    week_label,
    week_start,
)

__all__ = [
    "EPOCH",
    "RELATIVE",
    "Period",
    "day_from_number",
    "day_number",
    "parse_period",
    "week_label",
    "week_period",
    "week_start",
]

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
RELATIVE = ("latest-week", "previous-week")


@dataclass(frozen=True)
class Period:
    """Days ``start`` (included) to ``end`` (excluded), with the label it was written as."""

    label: str
    start: dt.date
    end: dt.date

    @property
    def day_range(self) -> tuple[int, int]:
        """``(first, stop)`` as day numbers since 1970-01-01."""
        return day_number(self.start), day_number(self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def to_dict(self) -> dict[str, str]:
        return {
            "label": self.label,
            "start": self.start.isoformat(),
            "end": (self.end - dt.timedelta(days=1)).isoformat(),
        }


def week_period(monday: dt.date) -> Period:
    """The ISO week starting on ``monday``, labelled ``2025-W03``.

    >>> week_period(dt.date(2025, 1, 13)).to_dict()
    {'label': '2025-W03', 'start': '2025-01-13', 'end': '2025-01-19'}
    """
    return Period(week_label(monday), monday, monday + dt.timedelta(days=WEEK_DAYS))


def _one(text: str) -> tuple[dt.date, dt.date]:
    token = text.strip()
    if _DAY.match(token):
        try:
            day = dt.date.fromisoformat(token)
        except ValueError:
            raise UsageError(f"period {text!r}: not a valid date") from None
        return day, day + dt.timedelta(days=1)
    if is_iso_week(token):
        monday = parse_iso_week(token)
        return monday, monday + dt.timedelta(days=WEEK_DAYS)
    m = _MONTH.match(token)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise UsageError(f"period {text!r}: no such month")
        first = dt.date(year, month, 1)
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        return first, nxt
    raise UsageError(
        f"period {text!r}: expected a day (2025-01-06), an ISO week (2025-W03), a month "
        "(2025-01), a range of those (2025-W01..2025-W02), latest-week or previous-week"
    )


def parse_period(text: str, last_day: dt.date | None = None) -> Period:
    """Parse a period; ``last_day`` (the last day with data) resolves the relative names."""
    token = text.strip()
    if token.lower() in RELATIVE:
        if last_day is None:
            raise UsageError(f"period {text!r}: there is no dated data to resolve it against")
        monday = week_start(last_day)
        if token.lower() == "previous-week":
            monday -= dt.timedelta(days=WEEK_DAYS)
        return week_period(monday)
    if ".." in token:
        left, _, right = token.partition("..")
        start, _ = _one(left)
        _, end = _one(right)
        if end <= start:
            raise UsageError(f"period {text!r}: the range ends before it starts")
        return Period(token, start, end)
    start, end = _one(token)
    return Period(token, start, end)
