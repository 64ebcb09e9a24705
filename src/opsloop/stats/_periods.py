"""Calendar arithmetic on day numbers: days since 1970-01-01 and ISO 8601 weeks.

The KPI cube and every analysis store a day as an integer, days since
1970-01-01 (a Thursday). An ISO 8601 week runs Monday to Sunday and belongs
to the year that holds its Thursday; it is written ``2025-W03``. Weeks are
keyed by the day number of their Monday::

    monday(d) = d − ((d + 3) mod 7)      (day 0 = Thursday, ISO weekday 4)

ISO 8601-1:2019, *Date and time — Representations for information
interchange*, §5.2.4 (week dates).

>>> week_label(day_from_number(week_monday(20101)))
'2025-W03'
>>> parse_iso_week("2025-W01").isoformat()
'2024-12-30'
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Protocol, TypeVar, cast

from opsloop.errors import UsageError

EPOCH = dt.date(1970, 1, 1)
WEEK_DAYS = 7
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday: ISO weekday 4, three days after Monday
ISO_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$", re.IGNORECASE)


class DayValues(Protocol):
    """Day numbers: an ``int``, a NumPy integer array or an engine (Ibis) integer column."""

    def __add__(self, other: int, /) -> Any: ...

    def __sub__(self, other: int, /) -> Any: ...


D = TypeVar("D", bound=DayValues)


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01.

    >>> day_number(dt.date(2025, 1, 13))
    20101
    """
    return (day - EPOCH).days


def day_from_number(n: int) -> dt.date:
    """The date of day number ``n`` (days since 1970-01-01).

    >>> day_from_number(20101).isoformat()
    '2025-01-13'
    """
    return EPOCH + dt.timedelta(days=int(n))


def week_monday(day: D) -> D:
    """The day number of the Monday of each day's ISO week: ``d − ((d + 3) mod 7)``.

    Works element-wise on NumPy arrays and on engine expressions alike; the
    modulo is taken as ``((x % 7) + 7) % 7`` so that engines whose ``%``
    truncates (DuckDB, Spark) agree with Python's floored one before 1970.

    >>> week_monday(20101), week_monday(20107)  # 2025-01-13 (Mon) and 2025-01-19 (Sun)
    (20101, 20101)
    """
    return cast(D, day - (((day + _EPOCH_WEEKDAY) % WEEK_DAYS + WEEK_DAYS) % WEEK_DAYS))


def week_start(day: dt.date) -> dt.date:
    """The Monday of ``day``'s ISO week.

    >>> week_start(dt.date(2025, 1, 1)).isoformat()
    '2024-12-30'
    """
    return day - dt.timedelta(days=day.weekday())


def week_label(day: dt.date) -> str:
    """The ISO week ``day`` falls in, as ``YYYY-Www`` (the ISO year: 2024-12-30 is 2025-W01).

    >>> week_label(dt.date(2024, 12, 30))
    '2025-W01'
    """
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_iso_week(text: str) -> dt.date:
    """The Monday of the ISO week ``YYYY-Www`` (``W`` in either case, one or two digits).

    A :class:`~opsloop.errors.UsageError` for text that is not a week, or a week
    the year does not have (``2025-W53``).

    >>> parse_iso_week("2026-W53").isoformat()
    '2026-12-28'
    """
    m = ISO_WEEK.match(text.strip())
    if m is None:
        raise UsageError(f"{text!r} is not an ISO week (expected e.g. 2025-W03)")
    try:
        return dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise UsageError(f"period {text!r}: no such ISO week") from None


def is_iso_week(text: str) -> bool:
    """Whether ``text`` is written as an ISO week (``2025-W03``), valid or not.

    >>> is_iso_week("2025-W03"), is_iso_week("2025-01")
    (True, False)
    """
    return ISO_WEEK.match(text.strip()) is not None
