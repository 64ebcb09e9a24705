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

from collections.abc import Callable, Iterable, Mapping

import ibis

from opsloop.engine import Workspace

Transform = Callable[[ibis.Value], ibis.Value]


def _prefixed(
    table: ibis.Table,
    key: str,
    taken: set[str],
    prefix: str,
    transform: Mapping[str, Transform],
) -> ibis.Table:
    mapping = {}
    for col in table.columns:
        if col == key:
            continue
        name = col if col not in taken else f"{prefix}{col}"
        mapping[name] = transform[name](table[col]) if name in transform else table[col]
        taken.add(name)
    return table.select(table[key], **mapping)


def attributes_of(
    ws: Workspace,
    table: str,
    taken: Iterable[str],
    transform: Mapping[str, Transform] | None = None,
) -> ibis.Table | None:
    """The ``items`` or ``raters`` table: its key and its other columns named as
    :func:`with_attributes` names them next to the columns ``taken`` (``item_`` or
    ``rater_`` prefix on a clash), with ``transform`` applied; ``None`` without it."""
    if not ws.has_table(table):
        return None
    key, prefix = ("item_id", "item_") if table == "items" else ("rater_id", "rater_")
    return _prefixed(ws.table(table), key, set(taken), prefix, transform or {})


def with_attributes(
    ws: Workspace,
    annotations: ibis.Table,
    transform: Mapping[str, Transform] | None = None,
) -> ibis.Table:
    """``annotations`` (any table with the annotations' columns) with the item and rater
    attributes joined on (left joins), named as in :func:`annotation_view`.

    ``transform`` maps attribute names to an expression applied to the item or rater
    column before the join (e.g. a code in place of a string: the join then carries
    the code, and each item's code is computed once, not once per annotation).
    """
    out = annotations
    for table, key in (("items", "item_id"), ("raters", "rater_id")):
        attrs = attributes_of(ws, table, out.columns, transform)
        if attrs is not None:
            joined = out.left_join(attrs, key)
            out = joined.select(*[joined[c] for c in out.columns],
                                *[attrs[c] for c in attrs.columns if c != key])  # fmt: skip
    return out


def attribute_sources(ws: Workspace) -> dict[str, tuple[str, str]]:
    """Each column of :func:`annotation_view` with the table and column it comes from
    (``rater_locale`` -> ``("raters", "locale")``)."""
    out: dict[str, tuple[str, str]] = {}
    for table, key, prefix in (
        ("annotations", "", ""),
        ("items", "item_id", "item_"),
        ("raters", "rater_id", "rater_"),
    ):
        if not ws.has_table(table):
            continue
        for c in ws.table(table).columns:
            if c == key:
                continue
            out[c if c not in out else f"{prefix}{c}"] = (table, c)
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
