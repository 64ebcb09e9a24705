"""Table contracts: the canonical tables of a workspace and their columns.

Each contract names required and optional columns with their logical type and
the key that identifies a row (used for duplicate detection and idempotent
ingestion). Columns beyond the contract are kept as slice dimensions.

>>> CONTRACTS["annotations"].required
('item_id', 'rater_id', 'label')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "timestamp", "double", "boolean", "bigint"]

# DuckDB SQL type for each logical type.
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "bigint": "BIGINT",
}


@dataclass(frozen=True)
class Domain:
    """The values a numeric column may take: ``low ≤ x ≤ high`` (strict where said).

    >>> Domain(0.0, 1.0, low_open=True).describe()
    'in (0, 1]'
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        def num(x: float) -> str:
            return f"{x:g}"

        if self.high is None and self.low is not None:
            return f"{'>' if self.low_open else '≥'} {num(self.low)}"
        if self.low is None and self.high is not None:
            return f"{'<' if self.high_open else '≤'} {num(self.high)}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"in {left}{num(self.low or 0.0)}, {num(self.high or 0.0)}{right}"


NON_NEGATIVE = Domain(0.0)
PROBABILITY = Domain(0.0, 1.0)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "string"
    description: str = ""
    default: str | None = None  # SQL literal used when the column is absent
    domain: Domain | None = None  # numeric columns: the values allowed


@dataclass(frozen=True)
class TableContract:
    """Required and optional columns of one canonical table."""

    name: str
    description: str
    required_columns: tuple[Column, ...]
    optional_columns: tuple[Column, ...] = ()
    key: tuple[str, ...] = ()
    label_columns: tuple[str, ...] = ()  # checked against the taxonomy
    references: tuple[tuple[tuple[str, ...], str], ...] = field(default=())
    # Event tables store every row as an event (repeat labels are normal); the columns that
    # tell two events under one key apart. Empty: a dimension table (one row per key).
    identity: tuple[str, ...] = ()
    time_column: str | None = None  # orders repeats under one key ("latest")

    @property
    def is_event_table(self) -> bool:
        return bool(self.identity)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.required_columns)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.optional_columns)

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.required_columns + self.optional_columns

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None


_S = "string"

CONTRACTS: dict[str, TableContract] = {
    c.name: c
    for c in (
        TableContract(
            "annotations",
            "One label given by one rater to one item (for one task).",
            (Column("item_id"), Column("rater_id"), Column("label")),
            (
                Column("annotation_id"),
                Column("task", default="'label'", description="question asked; default 'label'"),
                Column("submitted_at", "timestamp"),
                Column("started_at", "timestamp"),
                Column("duration_s", "double", "handling time in seconds", domain=NON_NEGATIVE),
                Column("guideline_version"),
                Column("queue"),
                Column("is_gold_check", "boolean", "the item was a honeypot for this rater"),
            ),
            key=("item_id", "rater_id", "task"),
            label_columns=("label",),
            identity=("label", "annotation_id", "submitted_at"),
            time_column="submitted_at",
        ),
        TableContract(
            "items",
            "The content being labelled.",
            (Column("item_id"),),
            (
                Column("text"),
                Column("locale"),
                Column("content_type"),
                Column("source"),
                Column("created_at", "timestamp"),
            ),
            key=("item_id",),
        ),
        TableContract(
            "raters",
            "The people (or models) who label.",
            (Column("rater_id"),),
            (
                Column("team"),
                Column("vendor"),
                Column("site"),
                Column("locale"),
                Column("hired_at", "timestamp"),
            ),
            key=("rater_id",),
        ),
        TableContract(
            "gold",
            "Known-correct labels: honeypots, expert or adjudicated labels.",
            (Column("item_id"), Column("label")),
            (Column("task", default="'label'"), Column("source")),
            key=("item_id", "task"),
            label_columns=("label",),
            identity=("label", "source"),
        ),
        TableContract(
            "audits",
            "QA review of a rater's annotation: was it right?",
            (Column("item_id"), Column("rater_id"), Column("verdict")),
            (
                Column("task", default="'label'"),
                Column("annotation_id"),
                Column("auditor_id"),
                Column("correct_label"),
                Column("error_category"),
                Column("severity"),
                Column("audited_at", "timestamp"),
                Column(
                    "inclusion_prob",
                    "double",
                    "probability the annotation was sampled",
                    domain=Domain(0.0, 1.0, low_open=True),
                ),
            ),
            key=("item_id", "rater_id", "task"),
            label_columns=("correct_label",),
            references=((("item_id", "rater_id", "task"), "annotations"),),
            identity=("verdict", "auditor_id", "correct_label", "annotation_id", "audited_at"),
            time_column="audited_at",
        ),
        TableContract(
            "predictions",
            "A model's label for an item.",
            (Column("item_id"), Column("model_version"), Column("label")),
            (
                Column("task", default="'label'"),
                Column("score", "double", "the model's confidence", domain=PROBABILITY),
            ),
            key=("item_id", "model_version", "task"),
            label_columns=("label",),
            identity=("label", "score"),
        ),
        TableContract(
            "preferences",
            "A rater's choice between two responses (RLHF preference data).",
            (Column("pair_id"), Column("rater_id"), Column("choice")),
            (
                Column("prompt_id"),
                Column("response_a"),
                Column("response_b"),
                Column("strength", "double", "how strongly preferred", domain=NON_NEGATIVE),
                Column("shown_first"),
                Column("submitted_at", "timestamp"),
            ),
            key=("pair_id", "rater_id"),
            identity=("choice", "strength", "submitted_at"),
            time_column="submitted_at",
        ),
        TableContract(
            "evals",
            "Outcome of a model version on an evaluation item.",
            (Column("model_version"), Column("item_id"), Column("outcome")),
            (Column("category"), Column("refused", "boolean"), Column("severity")),
            key=("model_version", "item_id"),
            identity=("outcome", "refused"),
        ),
    )
}

TABLE_NAMES: tuple[str, ...] = tuple(CONTRACTS)

# Measure columns outside the contracts that analyses use (the cost KPIs): domain-checked too.
EXTRA_DOMAINS: dict[str, Domain] = {
    "cost": NON_NEGATIVE,
    "unit_cost": NON_NEGATIVE,
    "unit_cost_usd": NON_NEGATIVE,
}

# Columns opsloop keeps on every stored row: the ingest batch it came in (for `opsloop undo`),
# its arrival order, its rank among the rows of its key (1 = first) and whether it is the
# latest of them. Analyses never see them as dimensions.
BATCH_COLUMN = "opsloop_batch"
SEQ_COLUMN = "opsloop_seq"
NTH_COLUMN = "opsloop_nth"
LATEST_COLUMN = "opsloop_latest"
MANAGED_COLUMNS: dict[str, str] = {
    BATCH_COLUMN: "BIGINT",
    SEQ_COLUMN: "BIGINT",
    NTH_COLUMN: "BIGINT",
    LATEST_COLUMN: "BOOLEAN",
}

# An order in which tables can be ingested: a table comes after the tables it refers to.
INGEST_ORDER: tuple[str, ...] = (
    "items",
    "raters",
    "annotations",
    "gold",
    "audits",
    "predictions",
    "preferences",
    "evals",
)

# Accepted values for constrained columns (lower-cased before the check).
ALLOWED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("preferences", "choice"): ("a", "b", "tie"),
    ("audits", "verdict"): ("correct", "incorrect"),
}

# Synonyms normalised on ingestion, per constrained column.
VALUE_SYNONYMS: dict[tuple[str, str], dict[str, str]] = {
    ("preferences", "choice"): {
        "a1": "a",
        "response_a": "a",
        "first": "a",
        "left": "a",
        "1": "a",
        "a2": "b",
        "response_b": "b",
        "second": "b",
        "right": "b",
        "2": "b",
        "equal": "tie",
        "same": "tie",
        "draw": "tie",
        "0": "tie",
    },
    ("audits", "verdict"): {
        "pass": "correct",
        "ok": "correct",
        "agree": "correct",
        "true": "correct",
        "1": "correct",
        "right": "correct",
        "fail": "incorrect",
        "error": "incorrect",
        "disagree": "incorrect",
        "false": "incorrect",
        "0": "incorrect",
        "wrong": "incorrect",
    },
}
