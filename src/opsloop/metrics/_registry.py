"""The metric registry: stable ids, descriptions, levels and reference cases.

Every registered metric names the test case(s) that check it against a
published or independently computed value (``references``: test function
names in ``tests/``); a test fails when one is missing.

>>> get_metric("gwet_ac1").family
'agreement'
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from opsloop.errors import UsageError

ALL_LEVELS = ("nominal", "ordinal", "interval", "ratio")
#: ``intra_rater``: agreement of raters with themselves (intra_rater_agreement()).
FAMILIES = ("agreement", "quality", "intra_rater")


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``id`` (stable, used in JSON and the CLI), family and levels."""

    id: str
    family: str  # 'agreement' | 'quality' | 'intra_rater'
    description: str
    levels: tuple[str, ...]
    references: tuple[str, ...]
    per: str = "slice"  # 'slice' | 'label' | 'rater': one record per slice, label or rater
    count_based: bool = True  # computable from item×category counts alone


_REGISTRY: dict[str, MetricSpec] = {}


def register(spec: MetricSpec) -> MetricSpec:
    """Add a metric; ids are unique."""
    if spec.id in _REGISTRY:
        raise ValueError(f"metric {spec.id!r} is already registered")
    if spec.family not in FAMILIES:
        raise ValueError(f"unknown family {spec.family!r}")
    _REGISTRY[spec.id] = spec
    return spec


def get_metric(metric_id: str, family: str | None = None) -> MetricSpec:
    """The registered metric ``metric_id`` (of ``family``, when given), else a clear error."""
    spec = _REGISTRY.get(metric_id)
    if spec is not None and family in (None, spec.family):
        return spec
    known = sorted(k for k, v in _REGISTRY.items() if family in (None, v.family))
    close = difflib.get_close_matches(metric_id, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    if spec is not None:
        kind = spec.family.replace("_", "-")
        article = "an" if kind[0] in "aeiou" else "a"
        raise UsageError(
            f"{metric_id!r} is {article} {kind} metric, not a {family} one{hint}; "
            f"the {family} metrics are: {', '.join(known)}"
        )
    what = f"{family} metric" if family else "metric"
    raise UsageError(f"unknown {what} {metric_id!r}{hint}; known: {', '.join(known)}")


def check_metric_ids(metric_ids: Sequence[str], family: str) -> None:
    """Raise a clear error for any id that is not a registered metric of ``family``."""
    for metric_id in metric_ids:
        get_metric(metric_id, family)


def list_metrics(family: str | None = None) -> tuple[MetricSpec, ...]:
    return tuple(s for s in _REGISTRY.values() if family is None or s.family == family)


_NOM_W = ALL_LEVELS  # weighted coefficients take every level (weights follow the level)

for _spec in (
    MetricSpec("percent_agreement", "agreement",
               "Share of agreeing rating pairs within items (weighted for ordered levels).",
               _NOM_W, ("test_irrcac_raw_4raters_gwet_fleiss_pa", "test_kappa_paradox_table")),
    MetricSpec("cohen_kappa", "agreement",
               "Cohen's κ for exactly two raters (Cohen, 1960; weighted: Cohen, 1968).",
               _NOM_W, ("test_irr_anxiety_cohen_kappa", "test_kappa_paradox_table"),
               count_based=False),
    MetricSpec("scott_pi", "agreement",
               "Scott's π for exactly two raters (Scott, 1955).",
               _NOM_W, ("test_scott_pi_two_raters",)),
    MetricSpec("fleiss_kappa", "agreement",
               "Fleiss' κ for any number of raters, missing ratings allowed (Fleiss, 1971).",
               _NOM_W, ("test_fleiss_1971_diagnoses", "test_wikipedia_fleiss",
                        "test_irrcac_raw_4raters_gwet_fleiss_pa")),
    MetricSpec("conger_kappa", "agreement",
               "Conger's κ: Cohen's κ generalised to many raters (Conger, 1980).",
               _NOM_W, ("test_irrcac_conger_and_bp",), count_based=False),
    MetricSpec("brennan_prediger", "agreement",
               "Brennan–Prediger coefficient, chance = 1/q (Brennan & Prediger, 1981).",
               _NOM_W, ("test_irrcac_conger_and_bp",)),
    MetricSpec("krippendorff_alpha", "agreement",
               "Krippendorff's α via the coincidence matrix (Krippendorff, 2011).",
               ALL_LEVELS, ("test_krippendorff_2011", "test_krippendorff_pkg_docstring",
                            "test_lewidi_alpha")),
    MetricSpec("gwet_ac1", "agreement",
               "Gwet's AC1, robust to the kappa paradox (Gwet, 2008).",
               ALL_LEVELS, ("test_irrcac_raw_4raters_gwet_fleiss_pa",
                              "test_irrcac_table_3x3", "test_kappa_paradox_table")),
    MetricSpec("gwet_ac2", "agreement",
               "Gwet's AC2: AC1 with agreement weights for ordered categories (Gwet, 2014).",
               ALL_LEVELS, ("test_irrcac_table_3x3",)),
    MetricSpec("specific_agreement", "agreement",
               "Per label: chance another rater agrees when one chose it (Fleiss, 1971).",
               ALL_LEVELS, ("test_specific_agreement_2x2",), per="label"),
    MetricSpec("category_kappa", "agreement",
               "Per label: Fleiss' category-wise κ, label vs rest (Fleiss, 1971).",
               ALL_LEVELS, ("test_category_kappa_fleiss_1971",), per="label"),
    MetricSpec("rater_peer_agreement", "agreement",
               "Per rater: share of agreeing pairs with co-raters of the same items.",
               ALL_LEVELS, ("test_rater_agreement_hand_computed",), per="rater",
               count_based=False),
    MetricSpec("rater_consensus_agreement", "agreement",
               "Per rater: share of ratings equal to the other raters' majority label.",
               ALL_LEVELS, ("test_rater_agreement_hand_computed",), per="rater",
               count_based=False),
):
    register(_spec)

_Q = ("nominal",)

for _spec in (
    MetricSpec("accuracy", "quality",
               "Share of annotations equal to the gold label (Wilson 1927 interval).",
               _Q, ("test_accuracy_hand_computed", "test_wilson_readme_figures"),
               count_based=False),
    MetricSpec("honeypot_accuracy", "quality",
               "Accuracy on honeypot annotations (is_gold_check), apart from audits.",
               _Q, ("test_honeypot_accuracy_hand_computed",), count_based=False),
    MetricSpec("audit_accuracy", "quality",
               "Share of audited annotations judged correct; Hájek-weighted by "
               "1/inclusion_prob (Horvitz & Thompson, 1952) when present.",
               _Q, ("test_audit_accuracy_unweighted", "test_audit_accuracy_hajek_by_hand"),
               count_based=False),
    MetricSpec("precision", "quality", "Per label: TP / (TP + FP) against gold.",
               _Q, ("test_precision_recall_f1_vs_sklearn",), per="label", count_based=False),
    MetricSpec("recall", "quality", "Per label: TP / (TP + FN) against gold.",
               _Q, ("test_precision_recall_f1_vs_sklearn",), per="label", count_based=False),
    MetricSpec("f1", "quality", "Per label: 2TP / (2TP + FP + FN) (van Rijsbergen, 1979).",
               _Q, ("test_precision_recall_f1_vs_sklearn", "test_f1_interval_by_hand"),
               per="label", count_based=False),
    MetricSpec("leakage", "quality",
               "Violating content labelled benign: share among violating-truth annotations.",
               _Q, ("test_moderation_rates_hand_computed",), count_based=False),
    MetricSpec("over_enforcement", "quality",
               "Benign content labelled violating: share among benign-truth annotations.",
               _Q, ("test_moderation_rates_hand_computed",), count_based=False),
    MetricSpec("wrong_policy", "quality",
               "Violating content labelled violating under the wrong policy.",
               _Q, ("test_moderation_rates_hand_computed",), count_based=False),
    MetricSpec("severity_weighted_error", "quality",
               "Σ severity(truth)·1[wrong] / Σ severity(truth), delta-method CI (Cochran, 1977).",
               _Q, ("test_severity_weighted_error_by_hand",), count_based=False),
    MetricSpec("critical_error", "quality",
               "Error rate on content whose true label has severity ≥ critical_severity.",
               _Q, ("test_moderation_rates_hand_computed",), count_based=False),
):
    register(_spec)

for _spec in (
    MetricSpec("intra_percent_agreement", "intra_rater",
               "Pool and per rater: share of agreeing pairs among the repeated labels of "
               "one item by one rater, each unit once (Fleiss, 1971; Wilson 1927 interval).",
               ALL_LEVELS, ("test_dawid_skene_observer1_percent_agreement",
                            "test_constant_repeats_give_one"),
               per="rater", count_based=False),
    MetricSpec("intra_cohen_kappa", "intra_rater",
               "Pool and per rater: Cohen's κ between a rater's first and second label of "
               "an item; linear weights for ordinal, quadratic for interval (Cohen, 1968).",
               ALL_LEVELS, ("test_dawid_skene_observer1_kappa",), per="rater",
               count_based=False),
    MetricSpec("intra_krippendorff_alpha", "intra_rater",
               "Pool and per rater: Krippendorff's α with units (item, rater) and the "
               "repeats as values (Krippendorff, 2011).",
               ALL_LEVELS, ("test_dawid_skene_observer1_alpha",
                            "test_alpha_two_labels_matches_krippendorff"),
               per="rater", count_based=False),
):
    register(_spec)

#: The default suite of :func:`agreement`.
DEFAULT_METRICS = ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")
