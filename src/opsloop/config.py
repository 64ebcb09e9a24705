"""The workspace configuration, ``opsloop.toml``.

A workspace is a directory holding ``opsloop.toml`` and the embedded store. The
file names the project, the engine, the label taxonomy (labels, benign labels,
severities, ordinal order), KPI targets and column maps for ingestion::

    [project]
    name = "trust-and-safety"

    [engine]
    backend = "duckdb"          # or "spark"
    path = "opsloop.duckdb"

    [taxonomy]
    labels = ["none", "spam", "hate"]
    benign = ["none"]
    severity = { spam = 1, hate = 3 }
    critical_severity = 3

    [kpis.accuracy]
    target = 0.95               # accuracy should be >= 0.95
    direction = "higher"

    [columns.annotations]
    rater_id = "worker"         # canonical name = name in your files

    [repeats]                   # the same rater labelling the same item again
    ingest = "keep-all"         # store every label (or latest | first | error)
    analysis = "latest"         # analyses use the newest label of each key

Every error names the key and what was expected, e.g.
``opsloop.toml: taxonomy.benign: 'nnone' is not one of the labels``.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from opsloop.errors import ConfigError

CONFIG_FILE = "opsloop.toml"

KPI_NAMES = (
    "accuracy",
    "honeypot_accuracy",
    "audit_accuracy",
    "leakage",
    "over_enforcement",
    "wrong_policy",
    "severity_weighted_error",
    "critical_error",
    "krippendorff_alpha",
    "gwet_ac1",
    "avg_handling_time_s",
    "throughput",
    "unit_cost",
    "cost_per_correct_label",
    "audit_coverage",
    "sla_turnaround",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectConfig(_Strict):
    name: str = "opsloop"
    description: str = ""


class EngineConfig(_Strict):
    backend: Literal["duckdb", "spark"] = "duckdb"
    path: str = "opsloop.duckdb"
    threads: int | None = Field(default=None, ge=1)
    memory_limit: str | None = None


# What to do with repeat rows (one key given more than once: the same rater labelling the same
# item and task again, a re-review, a tool retry). keep-all: every row counts (each label is a
# vote, as in crowd-kit); latest / first: one row per key, the newest (by the table's time
# column, then arrival order) or the oldest; error: refuse.
RepeatPolicy = Literal["keep-all", "latest", "first", "error"]
REPEAT_POLICIES: tuple[str, ...] = ("keep-all", "latest", "first", "error")


class RepeatsConfig(_Strict):
    """``[repeats]``: what ingestion stores and what analyses use when a key repeats."""

    ingest: RepeatPolicy = "keep-all"
    analysis: RepeatPolicy = "latest"


class TaskTaxonomy(_Strict):
    """Labels of one task (a question asked about every item)."""

    labels: tuple[str, ...] = ()
    benign: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    severity: dict[str, float] = Field(default_factory=dict)
    critical_severity: float | None = None
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal"
    # the named severities an audit or eval may carry (e.g. low, medium, high, critical)
    severity_levels: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _labels_known(self) -> TaskTaxonomy:
        if not self.labels:
            return self
        known = set(self.labels)
        if len(known) != len(self.labels):
            dupes = sorted({x for x in self.labels if self.labels.count(x) > 1})
            raise ValueError(f"labels: duplicate label {dupes[0]!r}")
        for key, values in (
            ("benign", self.benign),
            ("order", self.order),
            ("severity", tuple(self.severity)),
        ):
            for value in values:
                if value not in known:
                    raise ValueError(f"{key}: {_unknown(value, known)} is not one of the labels")
        if self.order and set(self.order) != known:
            missing = sorted(known - set(self.order))
            raise ValueError(f"order: must list every label once; missing {missing}")
        return self

    @property
    def ordered_labels(self) -> tuple[str, ...]:
        return self.order or self.labels

    @property
    def violating(self) -> tuple[str, ...]:
        return tuple(x for x in self.labels if x not in set(self.benign))


class Taxonomy(TaskTaxonomy):
    """The default task's taxonomy plus, optionally, one per further task."""

    tasks: dict[str, TaskTaxonomy] = Field(default_factory=dict)

    def for_task(self, task: str) -> TaskTaxonomy:
        if task in self.tasks:
            return self.tasks[task]
        return self


class SliceTarget(_Strict):
    where: dict[str, str]
    target: float


class KpiTarget(_Strict):
    target: float
    direction: Literal["higher", "lower"] | None = None
    amber_margin: float = Field(default=0.0, ge=0)
    slices: tuple[SliceTarget, ...] = ()


class ColumnMaps(_Strict):
    annotations: dict[str, str] = Field(default_factory=dict)
    items: dict[str, str] = Field(default_factory=dict)
    raters: dict[str, str] = Field(default_factory=dict)
    gold: dict[str, str] = Field(default_factory=dict)
    audits: dict[str, str] = Field(default_factory=dict)
    predictions: dict[str, str] = Field(default_factory=dict)
    preferences: dict[str, str] = Field(default_factory=dict)
    evals: dict[str, str] = Field(default_factory=dict)

    def for_table(self, table: str) -> dict[str, str]:
        value: dict[str, str] = getattr(self, table)
        return value


class Config(_Strict):
    """The whole of ``opsloop.toml``."""

    project: ProjectConfig = Field(default_factory=ProjectConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    taxonomy: Taxonomy = Field(default_factory=Taxonomy)
    kpis: dict[str, KpiTarget] = Field(default_factory=dict)
    columns: ColumnMaps = Field(default_factory=ColumnMaps)
    repeats: RepeatsConfig = Field(default_factory=RepeatsConfig)
    sla_hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _kpis_known(self) -> Config:
        for name in self.kpis:
            if name not in KPI_NAMES:
                raise ValueError(f"kpis.{name}: {_unknown(name, KPI_NAMES)} is not a KPI")
        return self

    def to_toml(self) -> str:
        data = self.model_dump(mode="json", exclude_defaults=False)
        return tomli_w.dumps(_drop_empty(data))


def _unknown(value: str, known: Any) -> str:
    close = difflib.get_close_matches(value, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{value!r}{hint}"


def _drop_empty(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_empty(v) for k, v in data.items() if v is not None and v != {} and v != []}
    return data


def _expected(error_type: str, msg: str) -> str:
    if error_type == "extra_forbidden":
        return "is not a known key"
    if error_type == "missing":
        return "is required"
    return msg[0].lower() + msg[1:] if msg else error_type


def parse_config(text: str, source: str = CONFIG_FILE) -> Config:
    """Parse the TOML text of a config; errors name the key and what was expected."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return config_from_dict(raw, source)


def config_from_dict(raw: dict[str, Any], source: str = CONFIG_FILE) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) if loc else "(top level)"
        if err["type"] == "extra_forbidden":
            parent: Any = Config
            for part in loc[:-1]:
                fields = getattr(parent, "model_fields", {})
                parent = fields[part].annotation if part in fields else None
            known = list(getattr(parent, "model_fields", {}) or [])
            return_msg = f"{source}: {key}: {_unknown(loc[-1], known)} is not a known key"
            if known:
                return_msg += f"; expected one of {', '.join(known)}"
            raise ConfigError(return_msg) from None
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "value_error":
            raise ConfigError(f"{source}: {_join_key(key, msg)}") from None
        raise ConfigError(f"{source}: {key}: {_expected(err['type'], msg)}") from None


def _join_key(key: str, msg: str) -> str:
    # a model validator reports at the model's location and names the field itself
    return f"{key}.{msg}" if key != "(top level)" else msg


def load_config(path: Path) -> Config:
    """Read ``opsloop.toml`` at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, str(path))


def write_config(config: Config, path: Path) -> None:
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(config.to_toml(), encoding="utf-8")
    tmp.replace(path)
