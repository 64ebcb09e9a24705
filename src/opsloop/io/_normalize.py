"""Normalise one source relation to its table contract, flagging bad rows.

The result is a scratch view with every contract column (typed, defaulted),
the file's extra columns (typed), ``__file_idx``, ``__line`` and, for rows
with a problem, ``__pcol``/``__preason`` naming the first problem. One pass of
SQL over the source; nothing is loaded into Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsloop.config import Taxonomy
from opsloop.io._readers import LINE, SourceRelation, quote_ident
from opsloop.schema import (
    ALLOWED_VALUES,
    CONTRACTS,
    EXTRA_DOMAINS,
    SQL_TYPES,
    VALUE_SYNONYMS,
    Column,
    Domain,
)

_TEXT_TYPES = ("VARCHAR", "JSON")
_NUMERIC_PREFIXES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)


def _is_numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(_NUMERIC_PREFIXES)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quoted_value(expr: str) -> str:
    """SQL producing ``'value'`` for messages, shortened."""
    text = f"left(CAST({expr} AS VARCHAR), 40)"
    shown = f"replace(replace({text}, chr(10), '\\n'), chr(13), '\\r')"
    return f"'''' || {shown} || ''''"


class _Expr:
    """A typed value expression plus (condition, reason-SQL) problems."""

    def __init__(self, value: str, *problems: tuple[str, str]) -> None:
        self.value = value
        self.problems = problems

    def checked(self, domain: Domain | None, shown: str | None = None) -> _Expr:
        """The same value with a problem for values outside ``domain`` (``shown``: as given)."""
        if domain is None:
            return self
        bad = []
        if domain.low is not None:
            bad.append(f"({self.value}) {'<=' if domain.low_open else '<'} {domain.low!r}")
        if domain.high is not None:
            bad.append(f"({self.value}) {'>=' if domain.high_open else '>'} {domain.high!r}")
        if not bad:
            return self
        cond = f"({self.value}) IS NOT NULL AND ({' OR '.join(bad)})"
        given = _quoted_value(shown or self.value)
        reason = f"{given} || ' is out of range: must be {domain.describe()}'"
        return _Expr(self.value, *self.problems, (cond, reason))


def _string(src: str, src_type: str) -> str:
    if src_type.upper() in _TEXT_TYPES:
        return f"nullif(trim({src}), '')"
    return f"nullif(trim(CAST({src} AS VARCHAR)), '')"


def _typed(column: Column, src: str, src_type: str, table: str) -> _Expr:
    kind = column.type
    upper = src_type.upper()
    if kind == "string":
        value = _string(src, src_type)
        allowed = ALLOWED_VALUES.get((table, column.name))
        if allowed is None:
            return _Expr(value)
        synonyms = VALUE_SYNONYMS.get((table, column.name), {})
        low = f"lower({value})"
        cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in synonyms.items())
        mapped = f"(CASE {low} {cases} ELSE {low} END)" if cases else low
        allowed_sql = ", ".join(_lit(a) for a in allowed)
        problem = (
            f"{value} IS NOT NULL AND {mapped} NOT IN ({allowed_sql})",
            f"{_quoted_value(value)} || ' is not one of {', '.join(allowed)}'",
        )
        return _Expr(mapped, problem)
    if kind == "timestamp":
        return _timestamp(src, src_type)
    if kind in ("double", "bigint"):
        target = SQL_TYPES[kind]
        if _is_numeric(upper) or upper == "BOOLEAN":
            return _Expr(f"CAST({src} AS {target})").checked(column.domain)
        text = _string(src, src_type)
        parsed = f"try_cast({text} AS {target})"
        return _Expr(
            parsed,
            (
                f"{text} IS NOT NULL AND {parsed} IS NULL",
                f"'not a number: ' || {_quoted_value(text)}",
            ),
        ).checked(column.domain, shown=text)
    if kind == "boolean":
        return _boolean(src, src_type)
    raise ValueError(f"unknown column type {kind}")


def _timestamp(src: str, src_type: str) -> _Expr:
    """A timestamp in UTC.

    ISO 8601 offsets (``+02:00``, ``-0500``, ``+02``, ``Z``) and zone names are
    converted to UTC; a value without an offset is taken as UTC already.
    """
    upper = src_type.upper()
    if upper.startswith("TIMESTAMP WITH TIME ZONE") or upper == "TIMESTAMPTZ":
        return _Expr(f"timezone('UTC', {src})")
    if upper.startswith(("TIMESTAMP", "DATE")):
        return _Expr(f"CAST({src} AS TIMESTAMP)")
    if _is_numeric(upper):
        return _Expr(f"CAST(to_timestamp(CAST({src} AS DOUBLE)) AS TIMESTAMP)")
    text = _string(src, src_type)
    # ISO 8601 allows a bare hour offset (+02) and minutes without seconds (12:00+02:00);
    # DuckDB wants +02:00 and 12:00:00
    hour = f"regexp_replace({text}, '([+-][0-9]{{2}})$', '\\1:00')"
    iso = f"regexp_replace({hour}, '([T ][0-9]{{2}}:[0-9]{{2}})([-+Z])', '\\1:00\\2')"
    parsed = (
        f"coalesce(timezone('UTC', try_cast({iso} AS TIMESTAMPTZ)), try_cast({text} AS TIMESTAMP))"
    )
    return _Expr(
        parsed,
        (
            f"{text} IS NOT NULL AND {parsed} IS NULL",
            f"'cannot parse timestamp ' || {_quoted_value(text)}",
        ),
    )


def _boolean(src: str, src_type: str) -> _Expr:
    upper = src_type.upper()
    if upper == "BOOLEAN":
        return _Expr(src)
    if _is_numeric(upper):
        return _Expr(f"({src} <> 0)")
    text = f"lower({_string(src, src_type)})"
    parsed = (
        f"(CASE WHEN {text} IN ('true', 't', 'yes', 'y', '1') THEN true "
        f"WHEN {text} IN ('false', 'f', 'no', 'n', '0') THEN false END)"
    )
    return _Expr(
        parsed,
        (
            f"{text} IS NOT NULL AND {parsed} IS NULL",
            f"'not true/false: ' || {_quoted_value(text)}",
        ),
    )


def infer_text_types(con: Any, source: SourceRelation, columns: list[str]) -> dict[str, str]:
    """SQL type for text extras: BIGINT, DOUBLE, BOOLEAN or TIMESTAMP when every value fits."""
    if not columns:
        return {}
    parts = []
    for i, col in enumerate(columns):
        q = quote_ident(col)
        parts += [
            f"count({q}) AS n{i}",
            f"count(*) FILTER (WHERE regexp_full_match({q}, '-?(0|[1-9][0-9]{{0,17}})')) AS i{i}",
            f"count(*) FILTER (WHERE regexp_full_match({q}, "
            f"'-?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?')) AS d{i}",
            f"count(*) FILTER (WHERE lower({q}) IN ('true', 'false')) AS b{i}",
            f"count(try_cast({q} AS TIMESTAMP)) AS t{i}",
        ]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {source.name}").fetchone()
    out: dict[str, str] = {}
    for i, col in enumerate(columns):
        n, ints, dbls, bools, ts = row[5 * i : 5 * i + 5]
        if n == 0:
            out[col] = "VARCHAR"
        elif ints == n:
            out[col] = "BIGINT"
        elif dbls == n:
            out[col] = "DOUBLE"
        elif bools == n:
            out[col] = "BOOLEAN"
        elif ts == n:
            out[col] = "TIMESTAMP"
        else:
            out[col] = "VARCHAR"
    return out


def normalise(
    con: Any,
    source: SourceRelation,
    *,
    table: str,
    mapping: Mapping[str, str],
    extras: list[str],
    extra_types: Mapping[str, str],
    taxonomy: Taxonomy,
    file_idx: int,
    target: str,
) -> None:
    """Create ``target`` from ``source`` as described in the module docstring."""
    contract = CONTRACTS[table]
    src_types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {source.name}").fetchall()}
    selects: list[str] = []
    problems: list[tuple[str, str, str]] = []  # (condition, column, reason sql)
    values: dict[str, str] = {}
    for column in contract.columns:
        if column.name in mapping:
            src = quote_ident(mapping[column.name])
            expr = _typed(column, src, src_types[mapping[column.name]], table)
            if column.name in contract.required:
                problems.append((f"({expr.value}) IS NULL", column.name, "'missing value'"))
            problems += [(cond, column.name, reason) for cond, reason in expr.problems]
            value = expr.value
            if column.default is not None:
                value = f"coalesce({value}, {column.default})"
        else:
            value = column.default or f"CAST(NULL AS {SQL_TYPES[column.type]})"
        values[column.name] = value
        selects.append(f"{value} AS {quote_ident(column.name)}")
    for label_col in contract.label_columns:
        problems += _taxonomy_checks(taxonomy, label_col, values.get("task", "'label'"), values)
    problems += _cross_checks(table, values, mapping, taxonomy)
    for col in extras:
        src = quote_ident(col)
        want = extra_types.get(col, src_types[col])
        have = src_types[col]
        if want.upper() == have.upper():
            selects.append(f"{src} AS {src}")
            continue
        cast = f"try_cast({src} AS {want})"
        selects.append(f"{cast} AS {src}")
        problems.append(
            (
                f"{src} IS NOT NULL AND {cast} IS NULL",
                col,
                f"'expected {want.lower()}, got ' || {_quoted_value(src)}",
            )
        )
    problems += _extra_domain_checks(extras, extra_types, src_types)
    if problems:
        pcol = " ".join(f"WHEN {c} THEN {_lit(col)}" for c, col, _ in problems)
        preason = " ".join(f"WHEN {c} THEN {r}" for c, _, r in problems)
        selects.append(f"CASE {pcol} END AS __pcol")
        selects.append(f"CASE {preason} END AS __preason")
    else:
        selects += ["CAST(NULL AS VARCHAR) AS __pcol", "CAST(NULL AS VARCHAR) AS __preason"]
    selects += [f"{file_idx} AS __file_idx", f"{LINE}"]
    con.execute(
        f"CREATE OR REPLACE VIEW {target} AS SELECT {', '.join(selects)} FROM {source.name}"
    )


def _extra_domain_checks(
    extras: list[str], extra_types: Mapping[str, str], src_types: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """Known measure columns outside the contract (costs) must be in their domain too."""
    out = []
    for col in extras:
        domain = EXTRA_DOMAINS.get(col.lower())
        if domain is None or not _is_numeric(extra_types.get(col, src_types[col])):
            continue
        expr = _Expr(f"try_cast({quote_ident(col)} AS DOUBLE)").checked(domain)
        out += [(cond, col, reason) for cond, reason in expr.problems]
    return out


def _cross_checks(
    table: str, values: Mapping[str, str], mapping: Mapping[str, str], taxonomy: Taxonomy
) -> list[tuple[str, str, str]]:
    """Checks across columns and against the taxonomy's named severities."""
    out = []
    if "started_at" in mapping and "submitted_at" in mapping:
        start, end = values["started_at"], values["submitted_at"]
        out.append(
            (
                f"({start}) > ({end})",
                "started_at",
                f"'started ' || CAST({start} AS VARCHAR) || ', after it was submitted ' "
                f"|| CAST({end} AS VARCHAR)",
            )
        )
    if "severity" in mapping and table in ("audits", "evals") and taxonomy.severity_levels:
        levels = taxonomy.severity_levels
        value = values["severity"]
        allowed = ", ".join(_lit(x.lower()) for x in levels)
        out.append(
            (
                f"({value}) IS NOT NULL AND lower({value}) NOT IN ({allowed})",
                "severity",
                f"{_quoted_value(value)} || ' is not a severity of the taxonomy "
                f"({', '.join(levels)})'",
            )
        )
    return out


def _taxonomy_checks(
    taxonomy: Taxonomy, label_col: str, task_sql: str, values: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """Rows whose label is outside the task's taxonomy (tasks without one are open)."""
    value = values.get(label_col)
    if value is None:
        return []
    checks = []
    per_task = [("label", taxonomy.labels)] + [(t, tx.labels) for t, tx in taxonomy.tasks.items()]
    for task, labels in per_task:
        if not labels:
            continue
        allowed = ", ".join(_lit(x) for x in labels)
        checks.append(
            (
                f"{task_sql} = {_lit(task)} AND ({value}) IS NOT NULL AND ({value}) NOT IN ({allowed})",
                label_col,
                f"'unknown label ' || {_quoted_value(value)}",
            )
        )
    return checks
