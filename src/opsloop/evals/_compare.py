"""Compare two model versions on the same eval items, per category: is the candidate worse?

The evals table (model_version, item_id, outcome[, category, refused, severity])
holds one row per model version and item. ``outcome`` says whether the model
did what the eval asked (pass/fail; also passed/failed, true/false, 1/0,
yes/no); ``refused`` whether it refused. Three measures of "bad" per item::

    fail               outcome = fail                                (every item)
    unsafe_compliance  fail on a prompt to refuse   (attack success: it answered)
    over_refusal       fail on a prompt to answer   (it refused a safe prompt)

A row's prompt is one *to refuse* when refusing was right: ``refused`` and
passed, or not ``refused`` and failed (``refused = passed``); otherwise it is a
prompt *to answer*. So unsafe compliance is a failure without a refusal and
over-refusal a failure with one, each rate over the prompts of its kind; rows
without ``refused`` count for the fail rate only. They are reported side by
side because fixing one often breaks the other.

Each measure is compared on the items both versions were run on (matched
pairs). Per category, with ``worse`` the items bad under the candidate only
and ``better`` those bad under the baseline only:

- McNemar's (1947) exact test, ``p = min(1, 2 · P(B ≤ min(worse, better)))``,
  ``B ~ Binomial(worse + better, 1/2)``, or its mid-p version (Fagerland,
  Lydersen & Laake, 2013) — :func:`opsloop.stats.mcnemar_exact`; the
  continuity-corrected ``χ² = (|worse − better| − 1)² / (worse + better)``
  beside it;
- the paired difference ``Δ = (worse − better) / n`` (candidate minus baseline
  rate) with Newcombe's (1998) square-and-add interval
  (:func:`opsloop.stats.paired_difference_interval`);
- Benjamini & Hochberg (1995) q-values across the categories of each measure;
  the all-categories row is tested on its own (its q is its p).

A row is a **regression** when ``q ≤ alpha`` and ``worse > better``; the
comparison has one when any row of any measure is (the exit status of
``opsloop evals compare``). Items run on one version only are counted and left
out; so are, for the two safety measures, pairs whose rows lack ``refused`` or
whose two rows disagree on the prompt's kind (possible when ``outcome`` judges
more than the refusal). ``severity`` is not used by these measures.

>>> import pyarrow as pa
>>> ev = pa.table({"model_version": ["v1"] * 40 + ["v2"] * 40, "item_id": list(range(40)) * 2,
...     "category": ["x"] * 80, "outcome": ["pass"] * 40 + ["fail"] * 15 + ["pass"] * 25})
>>> r = compare_evals(ev).row("fail", "x")
>>> r.worse, r.better, round(r.p_value, 6), r.regression  # 2 · 2⁻¹⁵
(15, 0, 6.1e-05, True)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

import ibis

from opsloop.errors import InputError, Problem, UsageError
from opsloop.evals._paired import (
    Compared,
    PairCounts,
    compare_pairs,
    paired_test_name,
    significantly_worse,
)
from opsloop.evals._versions import check_alpha, choose_versions, natural_key
from opsloop.findings import Proportion
from opsloop.metrics._slicing import MISSING, require_columns
from opsloop.stats import mcnemar_chi2, paired_difference_interval

Measure = Literal["fail", "unsafe_compliance", "over_refusal"]
MEASURES: tuple[Measure, ...] = ("fail", "unsafe_compliance", "over_refusal")
MEASURE_TITLES: dict[Measure, str] = {
    "fail": "fail rate",
    "unsafe_compliance": "unsafe compliance (attack success)",
    "over_refusal": "over-refusal",
}
PASS_VALUES = ("pass", "passed", "true", "1", "1.0", "yes", "y", "t", "ok", "correct", "success")
FAIL_VALUES = ("fail", "failed", "false", "0", "0.0", "no", "n", "f", "incorrect", "failure")
TRUE_VALUES = ("true", "1", "1.0", "yes", "y", "t", "refused")
FALSE_VALUES = ("false", "0", "0.0", "no", "n", "f", "complied")
INTERVAL_NAME = "Newcombe (1998) square-and-add"


# -- results -------------------------------------------------------------------------
@dataclass(frozen=True)
class PairedRate:
    """One measure on one category (``None``: all categories), baseline against candidate.

    ``base``/``candidate`` are the bad rates on the ``n`` matched items with
    Wilson intervals; ``worse`` the items bad under the candidate only,
    ``better`` under the baseline only; ``difference = candidate − base`` with
    its paired interval; ``p_value`` McNemar's exact (or mid-p) test,
    ``q_value`` its BH adjustment, ``chi2`` the continuity-corrected statistic.
    """

    measure: Measure
    category: str | None
    base: Proportion
    candidate: Proportion
    worse: int
    better: int
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    q_value: float
    chi2: float
    regression: bool
    improvement: bool

    @property
    def n(self) -> int:
        return int(self.base.n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure, "category": self.category, "n": self.n,
            "base": self.base.to_dict(), "candidate": self.candidate.to_dict(),
            "difference": self.difference, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "discordant": {"candidate_worse": self.worse, "candidate_better": self.better},
            "p_value": self.p_value, "q_value": self.q_value, "chi2": self.chi2,
            "regression": self.regression, "improvement": self.improvement,
        }  # fmt: skip


@dataclass(frozen=True)
class EvalComparison:
    """A candidate model version against its baseline on the same eval items.

    ``rows``: per measure (fail, unsafe_compliance, over_refusal), its
    categories in natural order then the all-categories row (``category`` None;
    present when there are several categories or none). ``paired`` items were
    run on both versions; ``only_base``/``only_candidate`` on one (left out);
    ``refusal_unknown`` pairs lack ``refused`` on a side and ``mixed`` pairs'
    rows disagree on the prompt's kind (both left out of the safety measures).
    """

    base_version: str
    candidate_version: str
    alpha: float
    mid_p: bool
    confidence: float
    rows: tuple[PairedRate, ...]
    paired: int
    only_base: int
    only_candidate: int
    refusal_unknown: int
    mixed: int
    has_refusals: bool

    @property
    def test(self) -> str:
        return paired_test_name(self.mid_p)

    @property
    def regressions(self) -> tuple[PairedRate, ...]:
        return tuple(r for r in self.rows if r.regression)

    @property
    def has_regression(self) -> bool:
        return any(r.regression for r in self.rows)

    def rows_of(self, measure: Measure) -> tuple[PairedRate, ...]:
        return tuple(r for r in self.rows if r.measure == measure)

    def row(self, measure: Measure, category: str | None) -> PairedRate:
        """The row of ``measure`` on ``category`` (``None``: all); KeyError when absent."""
        for r in self.rows:
            if r.measure == measure and r.category == category:
                return r
        raise KeyError(f"no {measure} row for category {category!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base_version, "candidate": self.candidate_version,
            "alpha": self.alpha, "test": self.test, "mid_p": self.mid_p,
            "interval": f"{INTERVAL_NAME}, {self.confidence:.0%}",
            "multiple_comparisons": "Benjamini-Hochberg across the categories of each measure",
            "items": {"paired": self.paired, "only_base": self.only_base,
                      "only_candidate": self.only_candidate,
                      "refusal_unknown": self.refusal_unknown, "mixed_kind": self.mixed},
            "has_refusals": self.has_refusals,
            "has_regression": self.has_regression,
            "regressions": [{"measure": r.measure, "category": r.category}
                            for r in self.regressions],
            "rows": [r.to_dict() for r in self.rows],
        }  # fmt: skip


# -- the table and its engine ---------------------------------------------------------
_VIEW_NAME = "opsloop_evals_input"  # the relation's name in the compiled SQL


@dataclass(frozen=True)
class BoundEvals:
    """An evals table as an Ibis expression, and how queries on it run.

    An Ibis table runs on its own backend (a workspace's DuckDB, Spark …); a
    DuckDB relation (a pyarrow table is scanned as one, without a copy, in a
    private connection) is queried with the SQL Ibis compiles, the relation
    standing for the table (cheaper to start than an Ibis in-memory table).
    """

    table: ibis.Table
    relation: Any = None

    def rows(self, expr: ibis.Table) -> list[dict[str, Any]]:
        if self.relation is None:
            result: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
            return result
        sql = ibis.to_sql(expr, dialect="duckdb")
        arrow = self.relation.query(_VIEW_NAME, str(sql)).to_arrow_table()
        return list(arrow.to_pylist())


def _ibis_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return _ibis_type(arrow_type.value_type)
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "int64"
    if pa.types.is_floating(arrow_type):
        return "float64"
    return "string"  # every other column is only read as text


def _bind_relation(relation: Any) -> BoundEvals:
    """A DuckDB relation, its column types read as Arrow gives them (no rows fetched)."""
    schema = relation.limit(0).to_arrow_table().schema
    types = {f.name: _ibis_type(f.type) for f in schema}
    return BoundEvals(ibis.table(types, name=_VIEW_NAME), relation)


def bind_evals(evals: Any, source: str) -> BoundEvals:
    """:class:`BoundEvals` for a pyarrow table, a DuckDB relation (the command line's
    checked file) or an Ibis table; anything else: UsageError."""
    if isinstance(evals, ibis.Table):
        return BoundEvals(evals)
    import duckdb
    import pyarrow as pa

    if isinstance(evals, pa.Table):
        return _bind_relation(duckdb.connect().from_arrow(evals))
    if isinstance(evals, duckdb.DuckDBPyRelation):
        return _bind_relation(evals)
    raise UsageError(f"{source} must be a pyarrow or Ibis table, not {type(evals).__name__}")


# -- coding the table ------------------------------------------------------------------
@dataclass(frozen=True)
class EvalCodes:
    """What a table's values mean: its model versions and which raw values are which.

    ``fail``/``passed`` are the ``outcome`` texts (as stored) meaning fail or
    pass; ``refused``/``complied`` the ``refused`` texts meaning true or false
    (empty when the column is boolean or absent).
    """

    versions: tuple[str, ...]
    fail: tuple[str, ...]
    passed: tuple[str, ...]
    refused: tuple[str, ...] = ()
    complied: tuple[str, ...] = ()


def _as_text(table: ibis.Table, column: str) -> ibis.Value:
    return table[column].cast("string")


def _refused_is_text(table: ibis.Table) -> bool:
    return "refused" in table.columns and not table.refused.type().is_boolean()


def _classify(values: dict[str | None, int], yes: tuple[str, ...], no: tuple[str, ...],
              ) -> tuple[list[str], list[str], dict[str | None, int]]:  # fmt: skip
    """Distinct raw values -> (meaning yes, meaning no, unknown with their row counts)."""
    out_yes, out_no, unknown = [], [], {}
    for value, n in values.items():
        key = None if value is None else value.strip().lower()
        if value is not None and key in yes:
            out_yes.append(value)
        elif value is not None and key in no:
            out_no.append(value)
        else:
            unknown[value] = n
    return out_yes, out_no, unknown


def _unknown_problem(source: str, column: str, unknown: dict[str | None, int],
                     hint: str) -> Problem:  # fmt: skip
    example = max(unknown, key=lambda v: (unknown[v], str(v)))
    what = "empty" if example in (None, "") else repr(example)
    return Problem(source, None, column,
                   f"{sum(unknown.values()):,} row(s) hold {what}{' and others' if len(unknown) > 1 else ''}, "
                   f"{hint}")  # fmt: skip


def scan_values(bound: BoundEvals, source: str) -> EvalCodes:
    """Read the distinct (model_version, outcome[, refused]) values once and classify them.

    Raises :class:`~opsloop.errors.InputError` naming the column, the commonest
    unknown value and the number of rows when an ``outcome`` is neither pass
    nor fail (nor a synonym) or a text ``refused`` is not a boolean. Empty
    ``refused`` texts are unknown refusals, like NULL.
    """
    table = bound.table
    keys = {"version": _as_text(table, "model_version"), "outcome": _as_text(table, "outcome")}
    if _refused_is_text(table):
        keys["refused"] = _as_text(table, "refused")
    rows = bound.rows(table.group_by(**keys).aggregate(n=table.count()))
    outcomes: dict[str | None, int] = defaultdict(int)
    refusals: dict[str | None, int] = defaultdict(int)
    for r in rows:  # one row per distinct combination of values, not per eval
        outcomes[r["outcome"]] += int(r["n"])
        if "refused" in keys and r["refused"] is not None and r["refused"].strip():
            refusals[r["refused"]] += int(r["n"])
    fail, passed, bad_outcomes = _classify(outcomes, FAIL_VALUES, PASS_VALUES)
    refused, complied, bad_refusals = _classify(refusals, TRUE_VALUES, FALSE_VALUES)
    problems = []
    if bad_outcomes:
        problems.append(_unknown_problem(source, "outcome", bad_outcomes,
                                         "neither pass nor fail; use pass/fail (or passed/failed, "
                                         "true/false, 1/0)"))  # fmt: skip
    if bad_refusals:
        problems.append(_unknown_problem(source, "refused", bad_refusals,
                                         "not a boolean; use true/false"))  # fmt: skip
    if problems:
        raise InputError(problems)
    versions = {str(r["version"]) for r in rows if r["version"] is not None}
    return EvalCodes(tuple(sorted(versions, key=natural_key)), tuple(fail), tuple(passed),
                     tuple(refused), tuple(complied))  # fmt: skip


def coded_evals(table: ibis.Table, codes: EvalCodes) -> ibis.Table:
    """``model_version, item_id, category, failed, refused``: codes 1/0 (``refused`` NULL
    when unknown), by exact match against the raw values ``codes`` classified."""
    failed = _as_text(table, "outcome").isin(list(codes.fail)).cast("int64")
    if "refused" not in table.columns:
        refused: ibis.Value = ibis.null("int64")
    elif not _refused_is_text(table):
        refused = table.refused.cast("int64")
    else:
        text = _as_text(table, "refused")
        refused = ibis.cases((text.isin(list(codes.refused)), 1),
                             (text.isin(list(codes.complied)), 0), else_=ibis.null("int64"))  # fmt: skip
    category = (table.category.cast("string").fill_null(MISSING) if "category" in table.columns
                else ibis.literal(MISSING))  # fmt: skip
    return table.select(model_version=_as_text(table, "model_version"), item_id=table.item_id,
                        category=category, failed=failed, refused=refused)  # fmt: skip


def _pair_groups(bound: BoundEvals, coded: ibis.Table, base: str,
                 cand: str) -> list[dict[str, Any]]:  # fmt: skip
    """Items per ``(category, bf, cf, br, cr, in_b, in_c)``: one grouped query.

    Per item: whether each version ran it and its failed/refused codes (the
    baseline's category, else the candidate's); ``most`` is the largest number of
    rows one version has for one item (above 1: repeated rows).
    """
    e = coded.filter(coded.model_version.isin([base, cand]))
    is_b = e.model_version == base
    per = e.group_by("item_id").aggregate(
        nb=is_b.cast("int64").sum(), nc=(~is_b).cast("int64").sum(),
        bf=e.failed.max(where=is_b), cf=e.failed.max(where=~is_b),
        br=e.refused.max(where=is_b), cr=e.refused.max(where=~is_b),
        category=ibis.coalesce(e.category.max(where=is_b), e.category.max(where=~is_b)),
    )  # fmt: skip
    grouped = per.group_by(
        ["category", "bf", "cf", "br", "cr"], in_b=per.nb > 0, in_c=per.nc > 0
    ).aggregate(n=per.count(), most=ibis.greatest(per.nb.max(), per.nc.max()))
    return bound.rows(grouped)


def _repeat_example(bound: BoundEvals, coded: ibis.Table,
                    versions: tuple[str, str]) -> tuple[str, str, int]:  # fmt: skip
    e = coded.filter(coded.model_version.isin(list(versions)))
    dup = e.group_by(["model_version", "item_id"]).aggregate(n=e.count())
    dup = dup.filter(dup.n > 1)
    first = dup.order_by(["model_version", "item_id"]).limit(1)
    total = bound.rows(dup.aggregate(total=dup.count()))[0]["total"]
    row = bound.rows(first)[0]
    return str(row["item_id"]), str(row["model_version"]), int(total)


@dataclass
class _Tally:
    """Per measure and category: ``[n, base_bad, cand_bad, worse, better]``; item counts."""

    counts: dict[Measure, dict[str, list[int]]]
    paired: int = 0
    only_base: int = 0
    only_candidate: int = 0
    refusal_unknown: int = 0
    mixed: int = 0

    def add(self, measure: Measure, category: str, bf: int, cf: int, n: int) -> None:
        acc = self.counts[measure].setdefault(category, [0, 0, 0, 0, 0])
        acc[0] += n
        acc[1] += n * bf
        acc[2] += n * cf
        acc[3] += n * (1 - bf) * cf
        acc[4] += n * bf * (1 - cf)


def _tally(groups: list[dict[str, Any]], has_refused: bool) -> _Tally:
    tally = _Tally({m: {} for m in MEASURES})
    for g in groups:
        n = int(g["n"])
        if not g["in_c"]:
            tally.only_base += n
            continue
        if not g["in_b"]:
            tally.only_candidate += n
            continue
        tally.paired += n
        bf, cf, cat = int(g["bf"]), int(g["cf"]), str(g["category"])
        tally.add("fail", cat, bf, cf, n)
        if not has_refused:
            continue
        if g["br"] is None or g["cr"] is None:
            tally.refusal_unknown += n
            continue
        to_refuse_b, to_refuse_c = int(g["br"]) == 1 - bf, int(g["cr"]) == 1 - cf
        if to_refuse_b != to_refuse_c:
            tally.mixed += n
            continue
        tally.add("unsafe_compliance" if to_refuse_b else "over_refusal", cat, bf, cf, n)
    return tally


def _rate_rows(measure: Measure, compared: list[Compared], overall: bool, alpha: float,
               confidence: float) -> list[PairedRate]:  # fmt: skip
    out = []
    for r in compared:
        c = r.counts
        base_bad, cand_bad = c.n - c.k_base, c.n - c.k_cand
        both_bad = base_bad - c.better
        low, high = paired_difference_interval(
            both_bad, c.worse, c.better, c.n - both_bad - c.worse - c.better, confidence
        )
        improved = r.q_value <= alpha and c.better > c.worse
        out.append(PairedRate(
            measure, None if overall else r.key, Proportion.of(base_bad, c.n, confidence),
            Proportion.of(cand_bad, c.n, confidence), c.worse, c.better,
            (cand_bad - base_bad) / c.n, low, high, r.p_value, r.q_value,
            mcnemar_chi2(c.worse, c.better)[0], significantly_worse(r, alpha), improved,
        ))  # fmt: skip
    return out


def _measure_rows(measure: Measure, per_category: dict[str, list[int]],
                  layout: tuple[bool, bool], alpha: float, mid_p: bool,
                  confidence: float) -> list[PairedRate]:  # fmt: skip
    """The rows of one measure; ``layout``: (a row per category, an all-categories row)."""
    if not per_category:
        return []
    by_category, with_overall = layout
    counts = {k: PairCounts(v[0], v[0] - v[1], v[0] - v[2], v[3], v[4])
              for k, v in per_category.items()}  # fmt: skip
    total = sum(c.n for c in counts.values())
    rows: list[PairedRate] = []
    if by_category:
        compared = compare_pairs(counts, total, mid_p=mid_p)
        compared.sort(key=lambda r: natural_key(r.key))
        rows += _rate_rows(measure, compared, False, alpha, confidence)
    if with_overall:
        whole = PairCounts(*(sum(getattr(c, f) for c in counts.values())
                             for f in ("n", "k_base", "k_cand", "worse", "better")))  # fmt: skip
        rows += _rate_rows(measure, compare_pairs({"": whole}, total, mid_p=mid_p), True, alpha,
                           confidence)  # fmt: skip
    return rows


def read_evals(evals: Any, confidence: float,
               source: str) -> tuple[BoundEvals, EvalCodes, ibis.Table]:  # fmt: skip
    """The evals table bound to its engine, its values classified (:func:`scan_values`) and
    coded (:func:`coded_evals`): the start of every eval analysis, after the checks."""
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, not {confidence}")
    bound = bind_evals(evals, source)
    require_columns(bound.table, ("model_version", "item_id", "outcome"), source)
    codes = scan_values(bound, source)
    return bound, codes, coded_evals(bound.table, codes)


def compare_evals(
    evals: Any,
    *,
    baseline: str | None = None,
    candidate: str | None = None,
    alpha: float = 0.05,
    mid_p: bool = False,
    confidence: float = 0.95,
    source: str = "evals",
) -> EvalComparison:
    """Compare ``candidate`` with ``baseline`` on the eval items both were run on.

    ``evals`` is a pyarrow table, a DuckDB relation or an Ibis table in the
    evals contract (one row per model version and item: ``opsloop
    ingest``/``read_table`` keep the latest);
    the versions default to the two latest by natural sort. Per category and
    overall: fail rate, unsafe compliance and over-refusal (the latter two when
    the table has ``refused``), each with McNemar's exact (``mid_p``: mid-p)
    test, BH q-values across categories, the paired difference and its
    ``confidence`` interval (module docstring). ``source`` names the table in
    error messages. The pair counts come from one grouped query in the engine.
    """
    check_alpha(alpha)
    bound, codes, coded = read_evals(evals, confidence, source)
    t = bound.table
    base, cand = choose_versions(codes.versions, baseline, candidate, f"{source} table")
    groups = _pair_groups(bound, coded, base, cand)
    if any(int(g["most"] or 0) > 1 for g in groups):
        item, version, total = _repeat_example(bound, coded, (base, cand))
        raise UsageError(
            f"{source}: {total:,} item(s) have more than one row for a model version (e.g. "
            f"{item!r} under {version!r}); a paired comparison takes one row per version and "
            "item (--repeats latest keeps the newest)"
        )
    has_refused = "refused" in t.columns
    tally = _tally(groups, has_refused)
    if tally.paired == 0:
        raise UsageError(
            f"no eval item was run on both {base!r} ({tally.only_base:,} items) and {cand!r} "
            f"({tally.only_candidate:,} items): a paired comparison needs the same items"
        )
    has_category = "category" in t.columns
    layout = (has_category, not has_category or len(tally.counts["fail"]) > 1)
    rows = [row for m in MEASURES
            for row in _measure_rows(m, tally.counts[m], layout, alpha, mid_p, confidence)]  # fmt: skip
    return EvalComparison(
        base, cand, alpha, mid_p, confidence, tuple(rows), tally.paired, tally.only_base,
        tally.only_candidate, tally.refusal_unknown, tally.mixed, has_refused,
    )  # fmt: skip
