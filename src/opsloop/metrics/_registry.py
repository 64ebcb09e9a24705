"""The metric registry: stable ids, descriptions, levels and reference cases.

Every registered metric names the test case(s) that check it against a
published or independently computed value (``references``: test function
names in ``tests/``); a test fails when one is missing.

>>> get_metric("gwet_ac1").family
'agreement'
"""

from __future__ import annotations

from dataclasses import dataclass

from opsloop.errors import UsageError

ALL_LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``id`` (stable, used in JSON and the CLI), family and levels."""

    id: str
    family: str  # 'agreement' | 'quality'
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
    if spec.family not in ("agreement", "quality"):
        raise ValueError(f"unknown family {spec.family!r}")
    _REGISTRY[spec.id] = spec
    return spec


def get_metric(metric_id: str) -> MetricSpec:
    try:
        return _REGISTRY[metric_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UsageError(f"unknown metric {metric_id!r} (known: {known})") from None


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

#: The default suite of :func:`agreement`.
DEFAULT_METRICS = ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")
