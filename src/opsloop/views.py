"""Joined views over workspace tables, as Ibis expressions (engine-neutral).

``annotation_view`` joins each annotation with its item and rater attributes
so that every analysis can slice by any dimension (locale, vendor, queue, …).
Item columns keep their names; a rater column whose name is already taken is
prefixed ``rater_`` (``rater_locale``).
"""

from __future__ import annotations

import ibis

from opsloop.engine import Workspace


def _prefixed(table: ibis.Table, key: str, taken: set[str], prefix: str) -> ibis.Table:
    mapping = {}
    for col in table.columns:
        if col == key:
            continue
        name = col if col not in taken else f"{prefix}{col}"
        mapping[name] = table[col]
        taken.add(name)
    return table.select(table[key], **mapping)


def annotation_view(
    ws: Workspace, *, repeats: str | None = None, event_order: bool = False
) -> ibis.Table:
    """Annotations with item and rater attributes joined on (left joins).

    One label per (item, rater, task) under the workspace's repeat policy, or
    ``repeats`` (see :meth:`Workspace.table`); ``event_order`` keeps
    ``opsloop_nth``, the rank of each repeat label.
    """
    ann = ws.table("annotations", repeats=repeats, event_order=event_order)
    taken = set(ann.columns)
    out = ann
    if ws.has_table("items"):
        items = _prefixed(ws.table("items"), "item_id", taken, "item_")
        out = out.left_join(items, "item_id").select(
            *[out[c] for c in out.columns], *[items[c] for c in items.columns if c != "item_id"]
        )
    if ws.has_table("raters"):
        raters = _prefixed(ws.table("raters"), "rater_id", set(out.columns), "rater_")
        out = out.left_join(raters, "rater_id").select(
            *[out[c] for c in out.columns], *[raters[c] for c in raters.columns if c != "rater_id"]
        )
    return out
