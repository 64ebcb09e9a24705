"""Label Studio JSON export -> long annotations, through DuckDB's JSON reader.

A Label Studio export is a JSON array of tasks::

    [{"id": 1, "data": {"text": "…"},
      "annotations": [{"id": 11, "completed_by": 3, "lead_time": 4.5,
                       "created_at": "2024-03-01T10:00:00Z", "was_cancelled": false,
                       "result": [{"from_name": "policy", "type": "choices",
                                   "value": {"choices": ["spam"]}}]}]}]

Each (task, annotation, result) becomes one row: ``item_id`` = task id,
``rater_id`` = ``completed_by`` (its ``id`` when it is an object), ``task`` =
the control's ``from_name``, ``label`` = the chosen choices (joined with
``|`` when several), the rating, the first span label or the text. Cancelled
annotations are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opsloop.errors import InputError
from opsloop.io._readers import LINE, SourceRelation, duckdb_reason, sql_string


def looks_like_labelstudio(con: Any, path: Path) -> bool:
    """True when the first task of a JSON array has ``annotations`` and ``data``."""
    lit = sql_string(path.as_posix())
    try:
        names = {
            r[0]
            for r in con.execute(
                f"DESCRIBE SELECT * FROM read_json({lit}, format = 'array', sample_size = 20)"
            ).fetchall()
        }
    except Exception:
        return False
    return {"annotations", "data"} <= names


def read_labelstudio(con: Any, path: Path, name: str) -> SourceRelation:
    lit = sql_string(path.as_posix())
    query = f"""
    WITH tasks AS (
        SELECT CAST(row_number() OVER () AS BIGINT) AS {LINE}, *
        FROM read_json({lit}, format = 'array',
                       columns = {{id: 'VARCHAR', data: 'JSON', annotations: 'JSON'}})
    ), anns AS (
        SELECT {LINE}, id, unnest(CAST(coalesce(annotations, '[]') AS JSON[])) AS ann FROM tasks
    ), res AS (
        SELECT {LINE}, id, ann, unnest(CAST(coalesce(ann->'result', '[]') AS JSON[])) AS r
        FROM anns WHERE coalesce(ann->>'was_cancelled', 'false') <> 'true'
    )
    SELECT
        id AS item_id,
        coalesce(ann->>'$.completed_by.id', ann->>'$.completed_by.email',
                 ann->>'completed_by') AS rater_id,
        r->>'from_name' AS task,
        coalesce(
            array_to_string(CAST(r->'$.value.choices' AS VARCHAR[]), '|'),
            r->>'$.value.rating',
            r->>'$.value.number',
            r->>'$.value.labels[0]',
            array_to_string(CAST(r->'$.value.text' AS VARCHAR[]), ' ')
        ) AS label,
        ann->>'id' AS annotation_id,
        ann->>'created_at' AS submitted_at,
        ann->>'lead_time' AS duration_s,
        {LINE}
    FROM res
    """
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {query}")
        tasks = con.execute(f"SELECT count(DISTINCT task) FROM {name}").fetchone()
    except Exception as exc:
        line, reason = duckdb_reason(exc)
        raise InputError.single(
            str(path), f"not a readable Label Studio export: {reason}", line=line
        ) from None
    if tasks is not None and int(tasks[0]) <= 1:
        # one control: its answers are the default task
        con.execute(f"UPDATE {name} SET task = 'label'")
    columns = tuple(r[0] for r in con.execute(f"DESCRIBE {name}").fetchall() if r[0] != LINE)
    return SourceRelation(str(path), "labelstudio", name, columns, "task", (), 0)
