"""Label Studio JSON export -> annotations, items, predictions or gold, through DuckDB's JSON reader.

A Label Studio export is a JSON array of tasks (layout as documented at
https://labelstud.io/guide/task_format)::

    [{"id": 1, "data": {"text": "…", "lang": "en"},
      "annotations": [{"id": 11, "completed_by": 3, "lead_time": 4.5,
                       "created_at": "2024-03-01T10:00:00Z", "was_cancelled": false,
                       "ground_truth": false,
                       "result": [{"from_name": "policy", "type": "choices",
                                   "value": {"choices": ["spam"]}}]}],
      "predictions": [{"model_version": "clf-v2", "score": 0.91,
                       "result": [{"from_name": "policy", "type": "choices",
                                   "value": {"choices": ["spam"]}}]}]}]

- **annotations**: each (task, annotation, result) is one row: ``item_id`` = task
  id, ``rater_id`` = ``completed_by`` (its ``id`` when it is an object), ``task`` =
  the control's ``from_name``, ``label`` = the chosen choices (joined with ``|``
  when several), the rating, the number, the first span label (``labels`` or any
  ``…labels`` control) or the text. Cancelled annotations are skipped and counted.
- **items**: ``item_id`` = task id, and one column per key of ``data``.
- **predictions**: each (task, prediction, result): ``model_version`` (``prediction``
  when the export has none), the label as above, ``score`` = the prediction's score
  (else the result's).
- **gold**: the annotations marked ``ground_truth: true`` (not cancelled), with
  ``source`` = ``ground_truth``.

With one control in the project its answers are the default task ``label``;
with several, each control's ``from_name`` is the task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opsloop.io._exports import (
    ExportRead,
    column_names,
    count_rows,
    finish,
    key_shapes,
    materialise,
    path_of,
    refuse_table,
)
from opsloop.io._readers import LINE, SourceRelation, quote_ident

TABLES = ("annotations", "items", "predictions", "gold")


def looks_like_labelstudio(keys: set[str]) -> bool:
    """True for tasks with ``data`` and ``annotations`` or ``predictions``."""
    return "data" in keys and bool(keys & {"annotations", "predictions"})


def _label(r: str) -> str:
    return f"""coalesce(
            array_to_string(CAST({r}->'$.value.choices' AS VARCHAR[]), '|'),
            {r}->>'$.value.rating',
            {r}->>'$.value.number',
            {r}->>'$.value.labels[0]',
            array_to_string(CAST({r}->'$.value.text' AS VARCHAR[]), ' '),
            CASE WHEN ends_with({r}->>'type', 'labels')
                 THEN json_extract_string({r}, '$.value.' || ({r}->>'type') || '[0]') END
        )"""


def _results(records: str) -> str:
    """One row per (task, annotation, result) of annotations not cancelled."""
    return f"""
        SELECT {LINE}, item_id, ann, unnest(CAST(coalesce(ann->'result', '[]') AS JSON[])) AS r
        FROM (SELECT {LINE}, rec->>'id' AS item_id,
                     unnest(CAST(coalesce(rec->'annotations', '[]') AS JSON[])) AS ann
              FROM {records})
        WHERE coalesce(ann->>'was_cancelled', 'false') <> 'true'"""


def _prediction_results(records: str) -> str:
    return f"""
        SELECT {LINE}, item_id, p, unnest(CAST(coalesce(p->'result', '[]') AS JSON[])) AS r
        FROM (SELECT {LINE}, rec->>'id' AS item_id,
                     unnest(CAST(coalesce(rec->'predictions', '[]') AS JSON[])) AS p
              FROM {records})"""


def _task(single: bool) -> str:
    return "'label'" if single else "r->>'from_name'"


def _annotations(records: str, single: bool) -> str:
    return f"""
        SELECT item_id,
               coalesce(ann->>'$.completed_by.id', ann->>'$.completed_by.email',
                        ann->>'completed_by') AS rater_id,
               {_task(single)} AS task, {_label("r")} AS label,
               ann->>'id' AS annotation_id, ann->>'created_at' AS submitted_at,
               ann->>'lead_time' AS duration_s, {LINE}
        FROM ({_results(records)})"""


def _gold(records: str, single: bool) -> str:
    return f"""
        SELECT item_id, {_task(single)} AS task, {_label("r")} AS label,
               'ground_truth' AS source, ann->>'id' AS annotation_id, {LINE}
        FROM ({_results(records)})
        WHERE coalesce(ann->>'ground_truth', 'false') = 'true'"""


def _predictions(records: str, single: bool) -> str:
    return f"""
        SELECT item_id,
               coalesce(nullif(trim(p->>'model_version'), ''), 'prediction') AS model_version,
               {_task(single)} AS task, {_label("r")} AS label,
               coalesce(p->>'score', r->>'score') AS score, {LINE}
        FROM ({_prediction_results(records)})"""


def _items(con: Any, records: str) -> str:
    shapes = key_shapes(con, records, of="rec->'data'")
    names = column_names(sorted(shapes), ["item_id"], "data")
    cols = "".join(
        f", rec->>{path_of('data', key)} AS {quote_ident(col)}" for key, col in names.items()
    )
    return f"SELECT rec->>'id' AS item_id{cols}, {LINE} FROM {records}"


def _counts(con: Any, records: str) -> tuple[dict[str, int], int, bool]:
    """Rows per table, cancelled annotations, and whether the project has one control."""
    row = con.execute(f"""
        WITH anns AS (
            SELECT unnest(CAST(coalesce(rec->'annotations', '[]') AS JSON[])) AS ann
            FROM {records}),
        kept AS (SELECT ann FROM anns WHERE coalesce(ann->>'was_cancelled', 'false') <> 'true'),
        ann_results AS (
            SELECT ann, unnest(CAST(coalesce(ann->'result', '[]') AS JSON[])) AS r FROM kept),
        pred_results AS (SELECT r FROM ({_prediction_results(records)}))
        SELECT (SELECT count(*) FROM {records}),
               (SELECT count(*) FROM ann_results),
               (SELECT count(*) FROM pred_results),
               (SELECT count(*) FROM ann_results
                WHERE coalesce(ann->>'ground_truth', 'false') = 'true'),
               (SELECT count(*) FROM anns) - (SELECT count(*) FROM kept),
               (SELECT count(DISTINCT r->>'from_name') FROM
                   (SELECT r FROM ann_results UNION ALL SELECT r FROM pred_results))
    """).fetchone()
    n_items, n_ann, n_pred, n_gold, n_cancelled, n_controls = (int(v) for v in row)
    counts = {"annotations": n_ann, "items": n_items, "predictions": n_pred, "gold": n_gold}
    return counts, n_cancelled, n_controls <= 1


def read_labelstudio(con: Any, path: Path, records: str, name: str, table: str) -> SourceRelation:
    """Table ``table`` of the export staged in ``records`` as scratch table ``name``."""
    counts, n_cancelled, single = _counts(con, records)
    if table not in TABLES:
        raise refuse_table(path, table, "Label Studio", counts)
    if table == "annotations":
        query = _annotations(records, single)
    elif table == "gold":
        query = _gold(records, single)
    elif table == "predictions":
        query = _predictions(records, single)
    else:
        query = _items(con, records)
    materialise(con, name, query, str(path), "Label Studio export")
    counts[table] = count_rows(con, name)
    skipped = None
    if n_cancelled and table in ("annotations", "gold"):
        skipped = f"skipped {n_cancelled:,} cancelled annotation{'s' if n_cancelled > 1 else ''}"
    read = ExportRead(table, counts, skipped)
    return finish(con, path, name, "labelstudio", "task", read, "Label Studio")
