"""One analysis run over a workspace (:class:`Session`): the shared joins and aggregates
computed once and handed to every step — monitoring, KPIs by slice, rater scorecards,
agreement by slice and period, weekly changes and their root causes. The CLI and the
report go through it."""

from opsloop.session._changes import Change, weekly_changes
from opsloop.session._session import Session, release_freed_memory

__all__ = ["Change", "Session", "release_freed_memory", "weekly_changes"]
