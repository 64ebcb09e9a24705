"""Argilla exports -> annotations, items or predictions, through DuckDB's JSON functions.

Layouts read (checked against the Argilla SDK sources, argilla-io/argilla on GitHub:
``argilla/src/argilla/records/_io/_generic.py`` ``GenericIO._record_to_dict``,
``records/_resource.py`` ``Record.to_dict``, ``records/_io/_datasets.py``, and for 1.x
``src/argilla/client/feedback/schemas/responses.py``, the FeedbackDataset
``HuggingFaceDatasetMixin._huggingface_format`` and ``src/argilla/client/models.py``
``TextClassificationRecord``; the export guide is
``argilla/docs/how_to_guides/import_export.md`` in the same repository):

- **2.x flattened** — ``rg.Dataset.records.to_list(flatten=True)``, ``to_dict(flatten=True)``
  and ``to_datasets()`` (hence ``to_hub`` and its Parquet files): one record per row with
  ``id``, ``status`` (pending/completed), ``_server_id``, the fields and the metadata as
  plain keys (``text``, ``lang`` …), the vectors as float lists, and per question Q the
  lists ``Q.responses`` (values), ``Q.responses.users`` (user ids) and
  ``Q.responses.status`` (submitted/discarded/draft), plus ``Q.suggestion``,
  ``Q.suggestion.score`` and ``Q.suggestion.agent``. Read from JSON, JSON Lines, Parquet
  or CSV (where a list cell is JSON or Python's ``['a', 'b']``).
- **2.x records** — ``to_json`` / ``to_disk`` (``to_list()`` not flattened): ``{"id",
  "status", "_server_id", "fields": {…}, "metadata": {…}, "vectors": {…},
  "responses": {Q: [{"value", "user_id", "status"}]}, "suggestions": {Q: {"value",
  "score", "agent"}}}`` (SDKs before 2.2 write responses without ``status``).
- **1.x FeedbackDataset records** — ``{"fields": {…}, "metadata": {…}, "external_id",
  "responses": [{"user_id", "values": {Q: {"value"}}, "status"}], "suggestions":
  [{"question_name", "value", "score", "agent"}]}``.
- **1.x per question** — ``FeedbackDataset.format_as("datasets")`` / ``push_to_huggingface``
  and exports shaped like it: one list per question ``Q: [{"user_id", "value",
  "status"}]``, ``Q-suggestion``, ``Q-suggestion-metadata: {"type", "score", "agent"}``,
  ``external_id``, ``metadata`` (an object or its JSON text), or ``suggestions`` as above.
- **1.x text classification** — ``TextClassificationRecord``: ``text`` or ``inputs``,
  ``annotation`` (a label or a list) by ``annotation_agent``, ``prediction`` (``[label,
  score]`` pairs) by ``prediction_agent``, ``status`` (Default/Edited/Validated/Discarded),
  ``id``, ``metadata``.

What each table gets: **annotations** — one row per submitted response (item_id =
``id``, else ``external_id`` / ``_server_id``; rater_id = the user id; task = the
question, or ``label`` when the export has one question; label = the value, several
choices joined with ``|``). Discarded and draft responses (1.x: Discarded records;
Default/Edited ones are drafts) are skipped and counted in the file report. A response
without a status is taken as submitted. **predictions** — one row per suggestion:
model_version = its agent, or ``suggestion``; label; score (none when a multi-label
suggestion scores each label). For 1.x text classification the best-scored prediction.
**items** — item_id plus every field and metadata value that is not a list (vectors
and chat fields are left out); a metadata key named like a field becomes
``metadata.KEY``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opsloop.errors import InputError
from opsloop.io._exports import (
    ExportRead,
    KeyShape,
    column_names,
    count_rows,
    element_label,
    finish,
    json_list,
    key_shapes,
    materialise,
    path_of,
    refuse_table,
    score_text,
    value_label,
)
from opsloop.io._readers import LINE, SourceRelation, quote_ident, sql_string

Variant = Literal[
    "2.x flattened", "2.x records", "1.x feedback", "1.x per question", "1.x text classification"
]
TABLES = ("annotations", "items", "predictions")
_FLAT_SUFFIXES = (".responses", ".suggestion")
_V1_SUGGESTION = "-suggestion"
_LEGACY_KEYS = frozenset({"annotation_agent", "prediction_agent", "multi_label"})


def looks_like_argilla_columns(columns: Sequence[str]) -> bool:
    """Quick test on a table's column names (CSV, Parquet) before reading it as Argilla."""
    names = set(columns)
    return (
        any(c.endswith(_FLAT_SUFFIXES) for c in names)
        or any(c.endswith(_V1_SUGGESTION) and c[: -len(_V1_SUGGESTION)] in names for c in names)
        or bool(names & {"annotation_agent", "prediction_agent"})
    )


def detect_argilla(shapes: Mapping[str, KeyShape]) -> Variant | None:
    """Which Argilla layout records with these top-level keys have, if any."""
    keys = set(shapes)
    if any(k.endswith(_FLAT_SUFFIXES) for k in keys):
        return "2.x flattened"
    responses, suggestions = shapes.get("responses"), shapes.get("suggestions")
    if "fields" in keys and responses is not None and "ARRAY" in responses.types:
        return "1.x feedback"
    if "fields" in keys and (responses or suggestions or "_server_id" in keys):
        return "2.x records"
    if any(s.answer_list for s in shapes.values()) or any(
        k.endswith(_V1_SUGGESTION) and k[: -len(_V1_SUGGESTION)] in keys for k in keys
    ):
        return "1.x per question"
    if keys & _LEGACY_KEYS or ("inputs" in keys and keys & {"annotation", "prediction"}):
        return "1.x text classification"
    return None


@dataclass(frozen=True)
class _Parts:
    """The SQL of one layout: responses, suggestions and item columns, over ``records``."""

    questions: tuple[str, ...]
    responses: list[str]  # selects of (__line, item_id, question, rater_id, label, status)
    suggestions: list[str]  # selects of (__line, item_id, question, label, score, agent)
    item_id: str
    item_columns: dict[str, str]  # output column -> SQL


_ID_V2 = "coalesce(rec->>'id', rec->>'_server_id')"
_ID_V1 = "coalesce(rec->>'external_id', rec->>'id')"


def _attrs(
    con: Any, records: str, sources: Sequence[tuple[str, str, Sequence[str]]]
) -> dict[str, str]:
    """Item columns from (prefix, JSON object SQL, keys to leave out) sources, scalars only."""
    taken: list[str] = ["item_id"]
    out: dict[str, str] = {}
    for prefix, obj, skip in sources:
        shapes = key_shapes(con, records, of=obj)
        keys = [k for k in sorted(shapes) if shapes[k].scalar and k not in skip]
        for key, col in column_names(keys, taken, prefix).items():
            out[col] = f"({obj})->>{path_of(key)}"
            taken.append(col)
    return out


def _per_question_answers(records: str, item_id: str, q: str, answers: str) -> str:
    """Answers as a list of {user_id, value, status} objects at JSON ``answers``."""
    return f"""
        SELECT {LINE}, item_id, {sql_string(q)} AS question, r->>'user_id' AS rater_id,
               {value_label("r->'value'")} AS label, r->>'status' AS status
        FROM (SELECT {LINE}, {item_id} AS item_id,
                     unnest(CAST(coalesce({answers}, '[]') AS JSON[])) AS r FROM {records})"""


def _suggestion(records: str, item_id: str, q: str, value: str, score: str, agent: str) -> str:
    return f"""
        SELECT {LINE}, {item_id} AS item_id, {sql_string(q)} AS question,
               {value_label(value)} AS label, {score_text(score)} AS score, {agent} AS agent
        FROM {records}"""


def _suggestion_list(records: str, item_id: str) -> str:
    """1.x suggestions: a list of {question_name, value, score, agent}."""
    return f"""
        SELECT {LINE}, item_id, s->>'question_name' AS question,
               {value_label("s->'value'")} AS label, {score_text("s->'score'")} AS score,
               s->>'agent' AS agent
        FROM (SELECT {LINE}, {item_id} AS item_id,
                     unnest(CAST(coalesce(rec->'suggestions', '[]') AS JSON[])) AS s
              FROM {records})"""


def _v2_flat(con: Any, records: str, shapes: Mapping[str, KeyShape], file: str) -> _Parts:
    questions = sorted(
        {k[: -len(s)] for k in shapes for s in _FLAT_SUFFIXES if k.endswith(s) and k != s}
    )
    responses, suggestions = [], []
    for q in questions:
        cols = {part: f"rec->{path_of(q + part)}" for part in (".responses", ".responses.users")}
        cols[".responses.status"] = f"rec->{path_of(q + '.responses.status')}"
        for col, sql in cols.items():
            _check_lists(con, records, q + col, sql, file)
        responses.append(f"""
            SELECT {LINE}, item_id, {sql_string(q)} AS question, users[k] AS rater_id,
                   {element_label("vals[k]")} AS label, stat[k] AS status
            FROM (SELECT *, unnest(range(1, len(vals) + 1)) AS k FROM (
                  SELECT {LINE}, {_ID_V2} AS item_id,
                         {json_list(cols[".responses"])} AS vals,
                         {json_list(cols[".responses.users"])} AS users,
                         {json_list(cols[".responses.status"])} AS stat FROM {records}))""")
        suggestions.append(
            _suggestion(
                records,
                _ID_V2,
                q,
                f"rec->{path_of(q + '.suggestion')}",
                f"rec->{path_of(q + '.suggestion.score')}",
                f"rec->>{path_of(q + '.suggestion.agent')}",
            )
        )
    own = {k for k in shapes for q in questions if k.startswith(q + ".")}
    skip = [*own, "id", "_server_id", "status"]
    return _Parts(
        tuple(questions),
        responses,
        suggestions,
        _ID_V2,
        _attrs(con, records, [("field", "rec", skip)]),
    )


def _check_lists(con: Any, records: str, column: str, sql: str, file: str) -> None:
    """A list cell that cannot be read is one located line, not a silently lost answer."""
    row = con.execute(
        f"SELECT {LINE}, {sql} ->> '$' FROM {records} "
        f"WHERE json_type({sql}) = 'VARCHAR' AND ({json_list(sql)}) IS NULL "
        f"ORDER BY {LINE} LIMIT 1"
    ).fetchone()
    if row is not None:
        raise InputError.single(
            file, f"cannot read {str(row[1])[:40]!r} as a list", line=int(row[0]), column=column
        )


def _nested_questions(con: Any, records: str, *objects: str) -> list[str]:
    found: set[str] = set()
    for obj in objects:
        found |= set(key_shapes(con, records, of=obj))
    return sorted(found)


def _v2_records(con: Any, records: str, shapes: Mapping[str, KeyShape], file: str) -> _Parts:
    questions = _nested_questions(con, records, "rec->'responses'", "rec->'suggestions'")
    responses = [
        _per_question_answers(records, _ID_V2, q, f"rec->{path_of('responses', q)}")
        for q in questions
    ]
    suggestions = [
        _suggestion(
            records,
            _ID_V2,
            q,
            f"rec->{path_of('suggestions', q, 'value')}",
            f"rec->{path_of('suggestions', q, 'score')}",
            f"rec->>{path_of('suggestions', q, 'agent')}",
        )
        for q in questions
    ]
    attrs = _attrs(
        con, records, [("fields", "rec->'fields'", ()), ("metadata", "rec->'metadata'", ())]
    )
    return _Parts(tuple(questions), responses, suggestions, _ID_V2, attrs)


def _v1_feedback(con: Any, records: str, shapes: Mapping[str, KeyShape], file: str) -> _Parts:
    rows = con.execute(f"""
        SELECT DISTINCT q FROM (
            SELECT unnest(json_keys(r->'values')) AS q FROM
                (SELECT unnest(CAST(coalesce(rec->'responses', '[]') AS JSON[])) AS r
                 FROM {records})
            UNION ALL
            SELECT s->>'question_name' FROM
                (SELECT unnest(CAST(coalesce(rec->'suggestions', '[]') AS JSON[])) AS s
                 FROM {records}))
        WHERE q IS NOT NULL ORDER BY q""").fetchall()
    questions = tuple(str(r[0]) for r in rows)
    responses = [
        f"""
        SELECT {LINE}, item_id, {sql_string(q)} AS question, r->>'user_id' AS rater_id,
               {value_label(f"r->{path_of('values', q, 'value')}")} AS label,
               r->>'status' AS status
        FROM (SELECT {LINE}, {_ID_V1} AS item_id,
                     unnest(CAST(coalesce(rec->'responses', '[]') AS JSON[])) AS r
              FROM {records})
        WHERE json_exists(r, {path_of("values", q)})"""
        for q in questions
    ]
    attrs = _attrs(
        con, records, [("fields", "rec->'fields'", ()), ("metadata", "rec->'metadata'", ())]
    )
    return _Parts(questions, responses, [_suggestion_list(records, _ID_V1)], _ID_V1, attrs)


_METADATA_V1 = (
    "CASE json_type(rec->'metadata') WHEN 'VARCHAR' THEN TRY_CAST(rec->>'metadata' AS JSON) "
    "ELSE rec->'metadata' END"
)


def _v1_per_question(con: Any, records: str, shapes: Mapping[str, KeyShape], file: str) -> _Parts:
    with_suggestion = {k[: -len(_V1_SUGGESTION)] for k in shapes if k.endswith(_V1_SUGGESTION)}
    questions = sorted({k for k, s in shapes.items() if s.answer_list} | with_suggestion)
    responses = [
        _per_question_answers(records, _ID_V1, q, f"rec->{path_of(q)}")
        for q in questions
        if q in shapes
    ]
    suggestions = [
        _suggestion(
            records,
            _ID_V1,
            q,
            f"rec->{path_of(q + _V1_SUGGESTION)}",
            f"rec->{path_of(q + _V1_SUGGESTION + '-metadata', 'score')}",
            f"rec->>{path_of(q + _V1_SUGGESTION + '-metadata', 'agent')}",
        )
        for q in sorted(with_suggestion)
    ]
    listed = shapes.get("suggestions")
    if listed is not None and "ARRAY" in listed.types:
        suggestions.append(_suggestion_list(records, _ID_V1))
    own = {k for k in shapes for q in questions if k == q or k.startswith(q + _V1_SUGGESTION)}
    skip = [*own, "external_id", "id", "metadata", "status", "vectors", "suggestions"]
    attrs = _attrs(con, records, [("field", "rec", skip), ("metadata", _METADATA_V1, ())])
    return _Parts(tuple(questions), responses, suggestions, _ID_V1, attrs)


_LEGACY_STATUS = """CASE WHEN rec->>'status' IS NULL THEN 'submitted'
    WHEN lower(rec->>'status') = 'validated' THEN 'submitted'
    WHEN lower(rec->>'status') = 'discarded' THEN 'discarded' ELSE 'draft' END"""
_LEGACY_SKIP = (
    "annotation", "annotation_agent", "prediction", "prediction_agent", "multi_label",
    "explanation", "id", "metadata", "status", "metrics", "search_keywords", "vectors",
    "inputs", "tokens",
)  # fmt: skip


def _v1_text_classification(
    con: Any, records: str, shapes: Mapping[str, KeyShape], file: str
) -> _Parts:
    responses = [
        f"""
        SELECT {LINE}, rec->>'id' AS item_id, 'label' AS question,
               rec->>'annotation_agent' AS rater_id, {value_label("rec->'annotation'")} AS label,
               {_LEGACY_STATUS} AS status
        FROM {records}
        WHERE json_type(rec->'annotation') <> 'NULL' OR lower(rec->>'status') = 'discarded'"""
    ]
    best = f"""
        SELECT {LINE}, item_id, 'label' AS question,
               CASE json_type(p) WHEN 'ARRAY' THEN p->>'$[0]' WHEN 'OBJECT' THEN p->>'label'
                    ELSE p->>'$' END AS label,
               CASE json_type(p) WHEN 'ARRAY' THEN p->>'$[1]' WHEN 'OBJECT' THEN p->>'score'
                    END AS score,
               agent
        FROM (SELECT {LINE}, rec->>'id' AS item_id, rec->>'prediction_agent' AS agent,
                     unnest(CAST(coalesce(rec->'prediction', '[]') AS JSON[])) AS p
              FROM {records})
        QUALIFY row_number() OVER (
            PARTITION BY {LINE} ORDER BY TRY_CAST(score AS DOUBLE) DESC NULLS LAST) = 1"""
    attrs = _attrs(
        con,
        records,
        [
            ("field", "rec", _LEGACY_SKIP),
            ("inputs", "rec->'inputs'", ("text",)),  # inputs.text repeats text
            ("metadata", "rec->'metadata'", ()),
        ],
    )
    return _Parts(("label",), responses, [best], "rec->>'id'", attrs)


_LAYOUTS = {
    "2.x flattened": _v2_flat,
    "2.x records": _v2_records,
    "1.x feedback": _v1_feedback,
    "1.x per question": _v1_per_question,
    "1.x text classification": _v1_text_classification,
}

_SUBMITTED = "(status IS NULL OR lower(status) = 'submitted')"


def read_argilla(
    con: Any, path: Path, records: str, name: str, table: str, unit: str
) -> SourceRelation:
    """Table ``table`` of the Argilla export staged in ``records`` as scratch table ``name``."""
    shapes = key_shapes(con, records)
    variant = detect_argilla(shapes)
    if variant is None:
        keys = ", ".join(sorted(shapes)[:8])
        raise InputError.single(str(path), f"not an Argilla export (its records have: {keys})")
    file = str(path)
    parts = _LAYOUTS[variant](con, records, shapes, file)
    resp, sugg = f"{name}_responses", f"{name}_suggestions"
    for target, selects, cols in (
        (resp, parts.responses, "item_id, question, rater_id, label, status"),
        (sugg, parts.suggestions, "item_id, question, label, score, agent"),
    ):
        empty = f"SELECT NULL::BIGINT AS {LINE}, " + ", ".join(
            f"NULL::VARCHAR AS {c}" for c in cols.split(", ")
        )
        query = " UNION ALL BY NAME ".join(selects) or f"{empty} LIMIT 0"
        materialise(con, target, query, file, "Argilla export")
    con.execute(f"DELETE FROM {sugg} WHERE label IS NULL")
    counts, skipped = _counts(con, records, resp, sugg)
    if table not in TABLES:
        raise refuse_table(path, table, "Argilla", counts)
    single = len(parts.questions) <= 1
    task = "'label'" if single else "question"
    if table == "annotations":
        query = (
            f"SELECT item_id, rater_id, {task} AS task, label, {LINE} FROM {resp} "
            f"WHERE {_SUBMITTED}"
        )
    elif table == "predictions":
        query = (
            f"SELECT item_id, coalesce(nullif(trim(agent), ''), 'suggestion') AS model_version, "
            f"{task} AS task, label, score, {LINE} FROM {sugg}"
        )
    else:
        cols = "".join(f", {sql} AS {quote_ident(col)}" for col, sql in parts.item_columns.items())
        query = f"SELECT {parts.item_id} AS item_id{cols}, {LINE} FROM {records}"
    materialise(con, name, query, file, "Argilla export")
    read = ExportRead(table, counts, skipped if table == "annotations" else None)
    return finish(con, path, name, "argilla", unit, read, f"Argilla ({variant})")


def _counts(con: Any, records: str, resp: str, sugg: str) -> tuple[dict[str, int], str | None]:
    rows = con.execute(
        f"SELECT lower(coalesce(status, 'submitted')), count(*) FROM {resp} GROUP BY ALL ORDER BY 1"
    ).fetchall()
    by_status = {str(s): int(n) for s, n in rows}
    counts = {
        "annotations": by_status.pop("submitted", 0),
        "items": count_rows(con, records),
        "predictions": count_rows(con, sugg),
    }
    if not by_status:
        return counts, None
    parts = [f"{n:,} {s}" for s, n in sorted(by_status.items())]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    total = sum(by_status.values())
    noun = "response" if total == 1 else "responses"
    return counts, f"skipped {listed} {noun} (only submitted responses are annotations)"
