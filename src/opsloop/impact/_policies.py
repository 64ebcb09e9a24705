"""Label policies: which labels, from which raters, a model is trained on.

A policy is named by a short spec (``--policies``) and turns the training items'
annotations (never those of the evaluation items) into a :class:`TrainingSet`:
rows of (item, label, weight), the labels it used and what they cost.

==========================  =====================================================
spec                        training labels
==========================  =====================================================
``random``                  one annotation per item, drawn at random (seeded)
``majority`` (``mv``)       majority vote (:class:`~opsloop.inference.MajorityVote`)
``ds`` ``wmv`` ``onecoin``  that truth-inference estimator's labels
``glad`` ``mace``
``auto``                    the estimator :func:`~opsloop.inference.select_method` picks
``soft`` / ``soft:METHOD``  every category, weighted by the posterior (Dawid–Skene by
                            default): posterior soft labels as sample weights
``gold``                    the gold labels of the training items only
``unflagged``               majority vote without the flagged raters: spammer score
                            (Raykar & Yu, 2012) whose 95% upper bound is below
                            ``spammer_below``, or a gold-accuracy interval wholly below
                            the accuracy target (the scorecards' "below target")
``without:COL=VALUE``       majority vote without the annotations of one group
                            (vendor, locale, site, tenure band, guideline version …);
                            ``without:COL`` leaves out each value of COL in turn
``only:COL=VALUE``          majority vote on one group's annotations alone
``relabel:K``               majority vote, then the first K% of the training items in
                            the label-error ranking (Dawid–Skene posteriors) get the
                            label the workspace holds for them (gold, else an audit's
                            correct label); ``relabel`` takes each K of ``--k``
``relabel-random:K``        the same number of items, drawn at random among the same
                            candidates (seeded): the control arm of the budget curve
==========================  =====================================================

A relabel policy can only relabel items the workspace holds a second label for; both
arms draw from those items, so the curve compares choosing by the ranking with
choosing at random, at the same budget.

>>> [p.name for p in parse_policies(["majority", "relabel"], ks=(5, 10))]
['majority', 'relabel:5', 'relabel:10']
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from opsloop.errors import UsageError
from opsloop.inference._registry import METHODS

RANDOM, MAJORITY, INFER, SOFT, GOLD = "random", "majority", "infer", "soft", "gold"
UNFLAGGED, WITHOUT, ONLY, RELABEL, RELABEL_RANDOM = (
    "unflagged",
    "without",
    "only",
    "relabel",
    "relabel-random",
)
DEFAULT_POLICIES = (RANDOM, MAJORITY, "ds", SOFT, GOLD, UNFLAGGED, RELABEL, RELABEL_RANDOM)
DEFAULT_KS = (5.0, 10.0, 20.0)
SOFT_METHOD = "ds"
SEEDED_KINDS = frozenset({RANDOM, RELABEL_RANDOM})
_ALIASES = {"mv": MAJORITY, "majority-vote": MAJORITY}


@dataclass(frozen=True)
class Policy:
    """One label policy (module docstring): its name, kind and parameters."""

    name: str
    kind: str
    method: str | None = None
    column: str | None = None
    value: str | None = None
    share: float | None = None

    @property
    def seeded(self) -> bool:
        """Whether its labels depend on the experiment's seed."""
        return self.kind in SEEDED_KINDS

    def describe(self) -> str:
        """A one-line description for tables and the report."""
        text = {
            RANDOM: "one random annotation per item",
            MAJORITY: "majority vote",
            INFER: f"{self.method} inferred labels",
            SOFT: f"{self.method} posteriors as sample weights",
            GOLD: "gold labels only",
            UNFLAGGED: "majority vote without flagged raters",
            WITHOUT: f"majority vote without {self.column} = {self.value}",
            ONLY: f"majority vote of {self.column} = {self.value} only",
            RELABEL: f"majority vote, top {_pct(self.share)}% of the error ranking relabelled",
            RELABEL_RANDOM: f"majority vote, {_pct(self.share)}% relabelled at random",
        }
        return text[self.kind]


def _pct(share: float | None) -> str:
    return f"{share:g}" if share is not None else "?"


def _share(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"policy {spec!r}: {text!r} is not a percentage") from None
    if not 0 < value <= 100:
        raise UsageError(f"policy {spec!r}: the relabel budget must be in (0, 100] percent")
    return value


def _group(spec: str, kind: str, rest: str) -> Policy:
    column, eq, value = rest.partition("=")
    column = column.strip()
    if not column:
        raise UsageError(f"policy {spec!r}: name a column, e.g. {kind}:vendor=Acme")
    if not eq:
        if kind == ONLY:
            raise UsageError(f"policy {spec!r}: name a value, e.g. only:{column}=VALUE")
        return Policy(f"{kind}:{column}", kind, column=column)
    return Policy(f"{kind}:{column}={value.strip()}", kind, column=column, value=value.strip())


def parse_policy(spec: str, ks: Sequence[float] = DEFAULT_KS) -> tuple[Policy, ...]:
    """The policies one spec names (``relabel`` without a budget gives one per ``ks``)."""
    text = spec.strip()
    head, colon, rest = text.partition(":")
    head = _ALIASES.get(head.lower(), head.lower())
    if head in (RELABEL, RELABEL_RANDOM):
        shares = [_share(rest, text)] if colon else [_share(str(k), text) for k in ks]
        return tuple(Policy(f"{head}:{s:g}", head, share=s) for s in shares)
    if head in (WITHOUT, ONLY):
        return (_group(text, head, rest),)
    if head == SOFT:
        method = rest.strip().lower() if colon else SOFT_METHOD
        if method not in (*METHODS, "auto"):
            raise UsageError(f"policy {text!r}: unknown method {method!r}")
        return (Policy(f"soft:{method}" if colon else SOFT, SOFT, method=method),)
    if colon:
        raise UsageError(f"policy {text!r}: {head!r} takes no parameter")
    if head in (RANDOM, MAJORITY, GOLD, UNFLAGGED):
        return (Policy(head, head),)
    if head in (*METHODS, "auto"):
        return (
            (Policy(head, INFER, method=head),) if head != "mv" else (Policy(MAJORITY, MAJORITY),)
        )
    choices = (
        "random, majority, ds, wmv, onecoin, glad, mace, auto, soft[:METHOD], gold, "
        "unflagged, without:COL[=VALUE], only:COL=VALUE, relabel[:K], relabel-random[:K]"
    )
    raise UsageError(f"unknown policy {text!r} (choose from {choices})")


def parse_policies(specs: Sequence[str], ks: Sequence[float] = DEFAULT_KS) -> tuple[Policy, ...]:
    """Every policy the specs name, in order, each once."""
    out: dict[str, Policy] = {}
    for spec in specs:
        if not spec.strip():
            continue
        for policy in parse_policy(spec, ks):
            out.setdefault(policy.name, policy)
    if not out:
        raise UsageError("no policy given")
    return tuple(out.values())


def expand_groups(
    policies: Sequence[Policy], values: dict[str, tuple[str, ...]], max_groups: int = 20
) -> tuple[Policy, ...]:
    """``without:COL`` as one policy per value of COL (``values``: column -> its values)."""
    out: dict[str, Policy] = {}
    for p in policies:
        if p.kind == WITHOUT and p.value is None:
            names = values.get(p.column or "", ())
            if len(names) > max_groups:
                raise UsageError(
                    f"policy {p.name!r}: {p.column} has {len(names)} values (at most "
                    f"{max_groups} groups are left out one by one); name one with {p.name}=VALUE"
                )
            for v in names:
                q = Policy(f"{WITHOUT}:{p.column}={v}", WITHOUT, column=p.column, value=v)
                out.setdefault(q.name, q)
        else:
            out.setdefault(p.name, p)
    return tuple(out.values())


def policy_seed(seed: int, policy: Policy) -> np.random.Generator:
    """The generator of one policy under one seed (independent of the other policies)."""
    digest = int.from_bytes(hashlib.sha256(policy.name.encode()).digest()[:4], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, digest]))


@dataclass(frozen=True)
class TrainingSet:
    """What a policy trains on: ``items`` (item indices; an item may repeat with
    ``weights``), ``labels`` (category codes), the number of labels it used and their
    cost."""

    items: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None
    n_labels: int
    cost: float
    notes: tuple[str, ...] = ()

    @property
    def n_items(self) -> int:
        return len(np.unique(self.items))

    def key(self) -> str:
        """Identical training sets (same rows, labels, weights) share one key."""
        h = hashlib.sha256(np.ascontiguousarray(self.items, np.int64).tobytes())
        h.update(np.ascontiguousarray(self.labels, np.int64).tobytes())
        if self.weights is not None:
            h.update(np.ascontiguousarray(self.weights, np.float64).tobytes())
        return h.hexdigest()
