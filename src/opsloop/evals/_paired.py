"""Paired comparison of two model versions on the same items: McNemar per slice, BH across.

Both versions judged the same items, so each item is a matched pair of two
binary outcomes (right/wrong, pass/fail). Per slice (a gold label, an eval
category, or everything) the discordant items decide::

    worse  = items the baseline got right and the candidate wrong
    better = items the candidate got right and the baseline wrong

and the difference of the two versions' rates on the slice's ``n`` pairs is
``(better − worse) / n``. It is tested with McNemar's exact test (McNemar,
1947; :func:`opsloop.stats.mcnemar_exact`, optionally mid-p, Fagerland et
al., 2013), which uses the pairing: far more powerful than two independent
samples when the versions agree on most items. The slices' p-values are
adjusted together with Benjamini & Hochberg (1995).

>>> rows = compare_pairs({"hate": PairCounts(100, 90, 60, 33, 3)}, 100)
>>> r = rows[0]
>>> r.base, r.cand, r.worse, r.better, round(r.p_value, 8)  # 2 · (1 + 36 + 630 + 7140) / 2³⁶
(0.9, 0.6, 33, 3, 2.3e-07)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from opsloop.findings import FindingKind, Proportion
from opsloop.stats import bh_adjust, mcnemar_exact


@dataclass(frozen=True)
class PairCounts:
    """One slice's matched pairs: ``n`` items, each version's successes, the discordant ones.

    A success is a correct label (recall, accuracy) or a passed eval; ``worse``
    counts items the baseline succeeded on and the candidate did not,
    ``better`` the reverse.
    """

    n: int
    k_base: int
    k_cand: int
    worse: int
    better: int


@dataclass(frozen=True)
class Compared:
    """The test of one slice: counts, share of all pairs, p-value and BH q-value."""

    key: str  # a label, a category, or "" for the whole sample
    counts: PairCounts
    share: float
    p_value: float
    q_value: float = 1.0

    @property
    def base(self) -> float:
        return self.counts.k_base / self.counts.n if self.counts.n else math.nan

    @property
    def cand(self) -> float:
        return self.counts.k_cand / self.counts.n if self.counts.n else math.nan

    @property
    def worse(self) -> int:
        return self.counts.worse

    @property
    def better(self) -> int:
        return self.counts.better


def paired_test_name(mid_p: bool) -> str:
    return "McNemar exact (mid-p), paired" if mid_p else "McNemar exact, paired"


def compare_pairs(
    counts: dict[str, PairCounts], total: int, *, mid_p: bool = False
) -> list[Compared]:
    """Test every slice (``key -> PairCounts``) with McNemar's exact test, BH-adjust together."""
    rows = [
        Compared(key, c, c.n / total if total else 0.0,
                 mcnemar_exact(c.worse, c.better, mid_p=mid_p))
        for key, c in sorted(counts.items())
        if c.n > 0
    ]  # fmt: skip
    qs = bh_adjust([r.p_value for r in rows])
    return [Compared(r.key, r.counts, r.share, r.p_value, float(q)) for r, q in zip(rows, qs,
            strict=True)]  # fmt: skip


def significantly_worse(r: Compared, alpha: float) -> bool:
    """BH-significant, and the candidate lost more pairs than it won."""
    return r.q_value <= alpha and r.worse > r.better


@dataclass(frozen=True)
class ModelRegressionEvidence:
    """Why a candidate model version is worse than its baseline on a slice.

    ``metric`` is ``recall`` (per gold label), ``accuracy`` (all gold items)
    or ``eval_fail_rate`` (per eval category or overall). ``baseline`` and
    ``candidate`` are the two versions' rates on the slice's matched items
    (for the fail rate: the share failed), ``worse``/``better`` the
    discordant pairs, ``share`` the slice's share of all matched items and
    ``unpaired`` the items only one version was run on (left out). For
    recall, ``missed_as`` lists what the candidate said instead (top three)
    and ``overall_accuracy`` both versions' accuracy on all matched items.
    """

    kind: ClassVar[FindingKind] = "model_regression"
    metric: str
    baseline_version: str
    candidate_version: str
    baseline: Proportion
    candidate: Proportion
    worse: int
    better: int
    share: float
    p_value: float
    q_value: float
    test: str
    unpaired: int = 0
    missed_as: tuple[tuple[str, int], ...] = field(default=())
    overall_accuracy: tuple[float, float] | None = None

    @property
    def change(self) -> float:
        return self.candidate.value - self.baseline.value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": self.metric,
            "baseline": {"model_version": self.baseline_version, **self.baseline.to_dict()},
            "candidate": {"model_version": self.candidate_version, **self.candidate.to_dict()},
            "change": self.change,
            "share": self.share,
            "discordant": {"candidate_worse": self.worse, "candidate_better": self.better},
            "unpaired": self.unpaired,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "test": self.test,
        }
        if self.metric == "recall":
            out["missed_as"] = dict(self.missed_as)
        if self.overall_accuracy is not None:
            out["overall_accuracy"] = {"baseline": self.overall_accuracy[0],
                                       "candidate": self.overall_accuracy[1]}  # fmt: skip
        return out


def evidence_of(
    r: Compared, base: str, cand: str, metric: str, test: str, *, fail_rate: bool = False,
    unpaired: int = 0, missed_as: tuple[tuple[str, int], ...] = (),
    overall: tuple[float, float] | None = None,
) -> ModelRegressionEvidence:  # fmt: skip
    """The evidence of one compared slice; ``fail_rate`` reports failures, not successes."""
    c = r.counts
    kb, kc = (c.n - c.k_base, c.n - c.k_cand) if fail_rate else (c.k_base, c.k_cand)
    return ModelRegressionEvidence(
        metric, base, cand, Proportion.of(kb, c.n), Proportion.of(kc, c.n), c.worse, c.better,
        r.share, r.p_value, r.q_value, test, unpaired, missed_as, overall,
    )  # fmt: skip
