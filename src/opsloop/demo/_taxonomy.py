"""Fixed vocabulary and parameters of the demo operation.

Everything the generator draws from lives here: the policy taxonomy and its
severities, locales, vendors and their sites, queues, content types, the
calendar, the scale presets and the parameters of the planted effects. Keeping
the numbers in one place lets the manifest describe exactly what was planted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from opsloop.config import Config, KpiTarget, ProjectConfig, SliceTarget, Taxonomy

Arr = npt.NDArray[Any]
Scale = Literal["small", "1m", "10m"]

# --- taxonomy -----------------------------------------------------------------

LABELS: tuple[str, ...] = (
    "none",
    "spam",
    "harassment",
    "hate",
    "violence",
    "sexual",
    "self_harm",
)
BENIGN: tuple[str, ...] = ("none",)
SEVERITY: dict[str, float] = {
    "spam": 1,
    "harassment": 2,
    "sexual": 2,
    "hate": 3,
    "violence": 3,
    "self_harm": 4,
}
CRITICAL_SEVERITY = 4.0
SEVERITY_LEVELS: tuple[str, ...] = ("none", "low", "medium", "high", "critical")
# label index -> severity level index (0 = none)
LABEL_SEVERITY = np.array([0, 1, 2, 3, 3, 2, 4], dtype=np.int64)
N_LABELS = len(LABELS)
NONE, SPAM, HARASSMENT, HATE, VIOLENCE, SEXUAL, SELF_HARM = range(N_LABELS)

# True-label prevalence per queue (standard, escalation).
PREVALENCE = np.array(
    [
        [0.66, 0.12, 0.07, 0.04, 0.05, 0.05, 0.01],
        [0.40, 0.06, 0.14, 0.10, 0.12, 0.08, 0.10],
    ]
)
# Logit offset of labelling an item of each true label correctly.
LABEL_DIFFICULTY = np.array([0.5, 0.3, -0.3, -0.4, 0.0, 0.1, -0.5])

# When a rater errs: row = true label, columns = relative weight of the wrong label.
ERROR_WEIGHTS = np.array(
    [
        [0.0, 0.35, 0.25, 0.10, 0.10, 0.15, 0.05],  # none -> over-enforcement
        [0.70, 0.0, 0.10, 0.02, 0.02, 0.15, 0.01],  # spam
        [0.55, 0.05, 0.0, 0.25, 0.10, 0.03, 0.02],  # harassment
        [0.45, 0.02, 0.35, 0.0, 0.15, 0.01, 0.02],  # hate
        [0.55, 0.01, 0.10, 0.10, 0.0, 0.04, 0.20],  # violence
        [0.65, 0.20, 0.08, 0.01, 0.03, 0.0, 0.03],  # sexual
        [0.55, 0.01, 0.08, 0.02, 0.30, 0.04, 0.0],  # self_harm
    ]
)
ERROR_CUM = np.cumsum(ERROR_WEIGHTS / ERROR_WEIGHTS.sum(axis=1, keepdims=True), axis=1)

# --- operation ----------------------------------------------------------------

LOCALES: tuple[str, ...] = ("en", "es", "pt", "id", "th", "vi", "ja", "ko", "ar", "hi")
LOCALE_WEIGHTS = np.array([0.26, 0.09, 0.08, 0.18, 0.07, 0.07, 0.07, 0.05, 0.07, 0.06])
LOCALE_DIFFICULTY = np.array([0.10, 0.0, 0.0, -0.05, -0.10, -0.05, 0.10, 0.05, -0.15, -0.10])
# Prevalence multipliers per locale: harassment and hate are reported more in 'id'.
LOCALE_PREVALENCE_MULT = np.ones((len(LOCALES), N_LABELS))
LOCALE_PREVALENCE_MULT[LOCALES.index("id"), [HARASSMENT, HATE]] = 2.0

CONTENT_TYPES: tuple[str, ...] = ("text", "image", "video")
CONTENT_WEIGHTS = np.array([0.60, 0.30, 0.10])
CONTENT_DIFFICULTY = np.array([0.0, -0.15, -0.35])
HANDLING_MEDIAN_S = np.array([22.0, 38.0, 105.0])  # lognormal median per content type
CONTENT_COST_MULT = np.array([1.0, 1.3, 2.2])

SOURCES: tuple[str, ...] = ("user_report", "proactive_classifier", "appeal")
SOURCE_WEIGHTS = np.array([0.45, 0.45, 0.10])

QUEUES: tuple[str, ...] = ("standard", "escalation")
QUEUE_DIFFICULTY = np.array([0.0, -1.9])
QUEUE_TIME_MULT = np.array([1.0, 1.8])
QUEUE_COST_MULT = np.array([1.0, 1.5])

TEAMS: tuple[str, ...] = ("trust-core", "marketplace", "ads-integrity", "creator-safety")

# vendor -> unit cost (USD per annotation, text, standard queue)
VENDORS: tuple[str, ...] = ("Kestrel CX", "Lumen Ops", "Meridian Data", "Northstar In-house")
VENDOR_COST = np.array([0.055, 0.075, 0.065, 0.140])


@dataclass(frozen=True)
class Site:
    """One delivery site: a vendor's office staffing some locales."""

    name: str
    vendor: int
    locales: tuple[tuple[str, float], ...]  # locale -> share of that locale's raters


SITES: tuple[Site, ...] = (
    Site("Manila", 0, (("en", 0.30),)),
    Site("Bogota", 0, (("es", 0.35),)),
    Site("Jakarta", 0, (("id", 0.30),)),
    Site("Bangalore", 1, (("en", 0.35), ("hi", 1.0))),
    Site("Cairo", 1, (("ar", 1.0),)),
    Site("Lisbon", 1, (("pt", 0.6),)),
    Site("Bangkok", 2, (("th", 1.0),)),
    Site("Hanoi", 2, (("vi", 1.0),)),
    Site("Kuala Lumpur", 2, (("id", 0.60),)),
    Site("Dublin", 3, (("en", 0.30), ("es", 0.55), ("pt", 0.4))),
    Site("Tokyo", 3, (("ja", 1.0),)),
    Site("Seoul", 3, (("ko", 1.0),)),
)

# --- calendar -----------------------------------------------------------------

START = dt.datetime(2025, 1, 6)  # a Monday
N_WEEKS = 13
N_DAYS = 7 * N_WEEKS
WEEKDAY_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.6, 0.55])
US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
START_US = int((START - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000


def week_start(week: int) -> dt.date:
    """The Monday of 1-based ``week``."""
    return (START + dt.timedelta(days=7 * (week - 1))).date()


def week_end(week: int) -> dt.date:
    """The Sunday of 1-based ``week``."""
    return (START + dt.timedelta(days=7 * week - 1)).date()


# --- scale presets ------------------------------------------------------------


@dataclass(frozen=True)
class ScaleSpec:
    """Sizes of one scale preset."""

    annotations: int
    raters: int
    preference_pairs: int
    eval_items: int
    days_per_chunk: int
    rows_per_part: int


SCALES: dict[str, ScaleSpec] = {
    "small": ScaleSpec(50_000, 280, 6_000, 2_000, 7, 2_000_000),
    "1m": ScaleSpec(1_000_000, 900, 40_000, 6_000, 7, 2_000_000),
    "10m": ScaleSpec(10_000_000, 3_000, 200_000, 20_000, 1, 2_000_000),
}

# --- item routing, overlap, gold and audits ----------------------------------

OVERLAP_K = np.array([1, 3, 5])
OVERLAP_P = np.array([0.70, 0.25, 0.05])
HONEYPOT_K = 5
HONEYPOT_ITEM_SHARE = 0.018  # about 5% of annotations are honeypot checks
EXPERT_GOLD_SHARE = 0.25  # share of regular items with an expert label
AUDIT_PROB = np.array([[0.02, 0.06], [0.08, 0.08]])  # [queue, label is violating]
AUDITOR_ERROR = 0.02
N_AUDITORS = 12

# --- planted effects (1-based weeks, inclusive) -------------------------------

CONFUSION_LOCALE = "id"
CONFUSION_VERSION = "v2.1"
CONFUSION_WEEKS = (3, 5)
CONFUSION_BASELINE = (1, 2, 6)  # the same locale, before the routing change
CONFUSION_FLIP = 0.85  # chance a harassment/hate item gets the other label


def guideline_version(week: int) -> str:
    """Guideline version in force in 1-based ``week``."""
    if week < CONFUSION_WEEKS[0]:
        return "v2.0"
    if week <= CONFUSION_WEEKS[1]:
        return CONFUSION_VERSION
    return "v2.2"


SIMPSON_WEEK = 7  # routing change and calibration programme start
SIMPSON_BEFORE = (1, 6)
SIMPSON_AFTER = (8, 13)


def escalation_share(week: int) -> float:
    """Share of items routed to the escalation queue in 1-based ``week``."""
    if week < SIMPSON_WEEK:
        return 0.12
    if week == SIMPSON_WEEK:
        return 0.30
    return 0.50


CALIBRATION_GAIN = np.array([0.85, 0.55])  # logit gain per queue from SIMPSON_WEEK

WAVE_VENDOR = 0  # Kestrel CX
WAVE_WEEK = 10
WAVE_BASELINE = (8, 9)  # after the routing change, before the wave
WAVE_SHARE = 0.8  # new hires as a share of the vendor's headcount
WAVE_PENALTY = 3.0  # logit penalty on day one, decaying with WAVE_RAMP_DAYS
WAVE_RAMP_DAYS = 30.0
HIRE_PENALTY = 1.2  # ordinary new hires
HIRE_RAMP_DAYS = 10.0
BACKFILL_PER_WEEK = 0.012
FATIGUE_PER_HOUR = 0.25  # logit penalty per hour beyond FATIGUE_AFTER_H
FATIGUE_AFTER_H = 8.0

# model recall per true label, (m1, m2)
MODEL_RECALL = np.array(
    [
        [0.95, 0.90, 0.80, 0.78, 0.85, 0.90, 0.86],
        [0.96, 0.93, 0.84, 0.82, 0.88, 0.92, 0.55],
    ]
)
MODEL_VERSIONS: tuple[str, ...] = ("m1", "m2")
EVAL_CATEGORIES: tuple[str, ...] = ("benign", *LABELS[1:])
EVAL_CATEGORY_WEIGHTS = np.array([0.25, 0.10, 0.15, 0.15, 0.12, 0.10, 0.13])
# P(fail) per category, (m1, m2); for benign prompts failing means over-refusal
EVAL_FAIL = np.array(
    [
        [0.10, 0.06, 0.08, 0.07, 0.09, 0.06, 0.08],
        [0.07, 0.05, 0.06, 0.05, 0.07, 0.05, 0.30],
    ]
)

POSITION_BIAS = 0.55  # logit bonus of the response shown first
LENGTH_BIAS = 0.9  # logit bonus per unit of log length ratio
TIE_BAND = 0.35  # |utility difference| below which a rater calls a tie


def build_config() -> Config:
    """The ``opsloop.toml`` model of the demo project."""
    taxonomy = Taxonomy(
        labels=LABELS,
        benign=BENIGN,
        severity=dict(SEVERITY),
        critical_severity=CRITICAL_SEVERITY,
    )
    # Targets sit just under the operation's level before the planted effects,
    # so the report shows what a real quarter looks like: mostly green early,
    # red where an effect hits.
    kpis = {
        "accuracy": KpiTarget(
            target=0.85,
            direction="higher",
            amber_margin=0.02,
            slices=(SliceTarget(where={"queue": "escalation"}, target=0.70),),
        ),
        "honeypot_accuracy": KpiTarget(target=0.85, direction="higher", amber_margin=0.02),
        "audit_accuracy": KpiTarget(target=0.85, direction="higher", amber_margin=0.02),
        "leakage": KpiTarget(target=0.10, direction="lower", amber_margin=0.01),
        "over_enforcement": KpiTarget(target=0.11, direction="lower", amber_margin=0.01),
        "wrong_policy": KpiTarget(target=0.12, direction="lower", amber_margin=0.01),
        "severity_weighted_error": KpiTarget(target=0.22, direction="lower", amber_margin=0.02),
        "critical_error": KpiTarget(target=0.40, direction="lower", amber_margin=0.03),
        "krippendorff_alpha": KpiTarget(target=0.55, direction="higher", amber_margin=0.03),
        "gwet_ac1": KpiTarget(target=0.65, direction="higher", amber_margin=0.03),
        "avg_handling_time_s": KpiTarget(target=60.0, direction="lower", amber_margin=5.0),
        "unit_cost": KpiTarget(target=0.13, direction="lower", amber_margin=0.005),
        "cost_per_correct_label": KpiTarget(target=0.16, direction="lower", amber_margin=0.005),
        "audit_coverage": KpiTarget(target=0.03, direction="higher", amber_margin=0.005),
        "sla_turnaround": KpiTarget(target=0.98, direction="higher", amber_margin=0.005),
    }
    return Config(
        project=ProjectConfig(
            name="demo-trust-and-safety",
            description="Synthetic content-moderation operation with planted effects",
        ),
        taxonomy=taxonomy,
        kpis=kpis,
        sla_hours=48.0,
    )
