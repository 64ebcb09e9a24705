"""Joined views over workspace tables, as Ibis expressions (engine-neutral).

``annotation_view`` joins each annotation with its item and rater attributes
so that every analysis can slice by any dimension (locale, vendor, queue, …).
Item columns keep their names; a rater column whose name is already taken is
prefixed ``rater_`` (``rater_locale``). :func:`with_attributes` does the same
for any table with the annotations' columns (e.g. the annotations of gold
items, joined with gold first so that the large item join runs on those rows
only), and :func:`rater_view` joins the rater attributes alone.

Every view applies the workspace's repeat policy (:meth:`Workspace.table`):
one label per (item, rater, task) unless ``repeats`` says otherwise.
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


def with_attributes(ws: Workspace, annotations: ibis.Table) -> ibis.Table:
    """``annotations`` (any table with the annotations' columns) with the item and rater
    attributes joined on (left joins), named as in :func:`annotation_view`."""
    out = annotations
    if ws.has_table("items"):
        items = _prefixed(ws.table("items"), "item_id", set(out.columns), "item_")
        out = out.left_join(items, "item_id").select(
            *[out[c] for c in out.columns], *[items[c] for c in items.columns if c != "item_id"]
        )
    if ws.has_table("raters"):
        raters = _prefixed(ws.table("raters"), "rater_id", set(out.columns), "rater_")
        out = out.left_join(raters, "rater_id").select(
            *[out[c] for c in out.columns], *[raters[c] for c in raters.columns if c != "rater_id"]
        )
    return out


def annotation_view(
    ws: Workspace, *, repeats: str | None = None, event_order: bool = False
) -> ibis.Table:
    """Annotations with item and rater attributes joined on (left joins).

    One label per (item, rater, task) under the workspace's repeat policy, or
    ``repeats`` (see :meth:`Workspace.table`); ``event_order`` keeps
    ``opsloop_nth``, the rank of each repeat label.
    """
    ann = ws.table("annotations", repeats=repeats, event_order=event_order)
    return with_attributes(ws, ann)


def rater_columns(ws: Workspace) -> dict[str, str]:
    """The raters table's columns by the name they take in the annotation view
    (``rater_`` prefix when an annotation or item column has the name)."""
    if not ws.has_table("raters"):
        return {}
    taken = set(ws.table("annotations").columns)
    if ws.has_table("items"):
        for c in ws.table("items").columns:
            if c != "item_id":
                taken.add(c if c not in taken else f"item_{c}")
    return {
        (c if c not in taken else f"rater_{c}"): c
        for c in ws.table("raters").columns
        if c != "rater_id"
    }


def rater_view(ws: Workspace) -> ibis.Table:
    """Annotations with the rater columns only (named as in the annotation view): per-rater
    sums need no item attributes, and skipping that join halves their cost."""
    ann = ws.table("annotations")
    names = rater_columns(ws)
    if not names:
        return ann
    raters = ws.table("raters")
    right = raters.select("rater_id", **{v: raters[c] for v, c in names.items()})
    joined = ann.left_join(right, "rater_id")
    return joined.select(*[joined[c] for c in ann.columns], *[right[v] for v in names])
