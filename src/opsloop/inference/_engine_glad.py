"""GLAD as engine queries (Ibis: DuckDB, Spark, …).

Model (Whitehill et al., 2009, NeurIPS, "Whose vote should count more";
:class:`GLAD`): rater ``r`` labels item ``i`` correctly with probability
``σ(x)``, ``x = α_r β_i``, ``β_i = exp(b_i)``; wrong labels are uniform over
the other ``K − 1`` classes.

* E-step: ``s[i, k] = log ρ_k + Σ_{(i, r, l)} ([l = k] log σ(x) + [l ≠ k]
  (log σ(−x) − log(K − 1)))``, softmax per item (gold clamped), via
  :func:`annotation_scores_expr`.
* M-step: maximise ``Q = Σ_{(i, r, l)} (p log σ(x) + (1 − p) log σ(−x))
  − ½ Σ_r (α_r − μ_α)² − ½ Σ_i (b_i − μ_b)²`` with ``p = T[i, l]``. The numpy
  kernel uses L-BFGS; here ``m_step_iter`` rounds of block Fisher scoring, each
  two grouped aggregations:
  ``α_r ← α_r + (Σ_r (p − σ(x)) β_i − (α_r − μ_α)) / (Σ_r σ(x) σ(−x) β_i² + 1)``,
  then with the new ``α``
  ``b_i ← b_i + (Σ_i (p − σ(x)) x − (b_i − μ_b)) / (Σ_i σ(x) σ(−x) x² + 1)``
  (clipped to ``[−10, 10]`` as the kernel's bounds). The denominators (expected
  curvature plus the Gaussian prior's 1) are positive for any data, so every
  step is defined. Both optimisers approach the same maximum but stop at
  different points: on the parity data (120 items, 5 raters, 3 classes) the
  posteriors agree within 1e-4, ``α`` and the difficulties within 4e-4 and the
  labels exactly; the parity test allows 1e-3.

Same start (vote shares, ``α = μ_α``, ``b = μ_b``), uniform prior unless
``learn_prior`` (then ``ρ_k ∝ mean_i T[i, k] + 10⁻⁶``), and stopping rule as
the kernel.

>>> import ibis
>>> t = ibis.memtable({"item_id": ["a", "a", "a", "b", "b", "b"],
...                    "rater_id": ["r1", "r2", "r3"] * 2,
...                    "label": ["x", "x", "y", "y", "y", "y"]})
>>> sorted(EngineGLAD(n_iter=5).fit(t).labels_.to_pyarrow().to_pydict()["label"])
['x', 'y']
"""

from __future__ import annotations

import math
from typing import Any, Self

import ibis
import ibis.expr.types as ir

from opsloop.errors import UsageError
from opsloop.inference._base import loss_converged
from opsloop.inference._engine_em import (
    _K,
    clamp_expr,
    stage_inputs,
    vote_shares,
)
from opsloop.inference._engine_em_more import (
    EngineSkillEstimator,
    annotation_scores_expr,
    mean_prior_expr,
)


def log_sigmoid_expr(x: ir.FloatingValue) -> ir.FloatingValue:
    """``log σ(x) = min(x, 0) − log(1 + exp(−|x|))`` (stable for large ``|x|``)."""
    out: ir.FloatingValue = ibis.least(x, 0.0) - (1.0 + (-x.abs()).exp()).ln()
    return out


def _with_x(pa: ir.Table, alpha: ir.Table, b: ir.Table) -> ir.Table:
    j = pa.join(alpha, "rater_id").join(b, "item_id")
    eb = j.b.exp()
    return j.mutate(eb=eb, x=j.a * eb)


def glad_alpha_step_expr(pa: ir.Table, alpha: ir.Table, b: ir.Table, mean: float) -> ir.Table:
    """One Fisher-scoring step on every ``α_r``: ``rater_id, a``."""
    j = _with_x(pa, alpha, b)
    s = 1.0 / (1.0 + (-j.x).exp())
    j = j.mutate(g=(j.p - s) * j.eb, h=s * (1.0 - s) * j.eb * j.eb)
    r = j.group_by("rater_id").aggregate(a=j.a.max(), g=j.g.sum(), h=j.h.sum())
    return r.select("rater_id", a=r.a + (r.g - (r.a - mean)) / (r.h + 1.0))


def glad_b_step_expr(pa: ir.Table, alpha: ir.Table, b: ir.Table, mean: float) -> ir.Table:
    """One Fisher-scoring step on every ``b_i`` (clipped to ±10): ``item_id, b``."""
    j = _with_x(pa, alpha, b)
    s = 1.0 / (1.0 + (-j.x).exp())
    j = j.mutate(g=(j.p - s) * j.x, h=s * (1.0 - s) * j.x * j.x)
    r = j.group_by("item_id").aggregate(b=j.b.max(), g=j.g.sum(), h=j.h.sum())
    new = r.b + (r.g - (r.b - mean)) / (r.h + 1.0)
    return r.select("item_id", b=ibis.least(ibis.greatest(new, -10.0), 10.0))


class EngineGLAD(EngineSkillEstimator):
    """GLAD EM as engine queries (module docstring).

    Settings as :class:`GLAD` (``n_iter``, ``tol``, ``alpha_prior_mean``,
    ``b_prior_mean``, ``learn_prior``); ``m_step_iter`` is the number of
    Fisher-scoring rounds per M-step. Learned as
    :class:`EngineSkillEstimator` (``skills_`` is ``α``), plus
    ``item_difficulty_`` (``task, item_id, difficulty`` = ``exp(−b_i)``).
    """

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        alpha_prior_mean: float = 1.0,
        b_prior_mean: float = 1.0,
        m_step_iter: int = 10,
        learn_prior: bool = False,
    ) -> None:
        super().__init__()
        self.n_iter = n_iter
        self.tol = tol
        self.alpha_prior_mean = alpha_prior_mean
        self.b_prior_mean = b_prior_mean
        self.m_step_iter = m_step_iter
        self.learn_prior = learn_prior
        self.item_difficulty_: ir.Table | None = None

    def fit(self, table: Any, gold: Any = None) -> Self:
        self.item_difficulty_ = None
        return super().fit(table, gold)

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.m_step_iter, int) or self.m_step_iter < 1:
            raise UsageError(
                f"EngineGLAD: m_step_iter must be a positive integer, got {self.m_step_iter!r}"
            )

    def _fit_task(
        self, task: str, ann: ir.Table, gold: ir.Table | None
    ) -> tuple[ir.Table, ir.Table, ir.Table]:
        store, ann, gold, cats, k, n_ann = stage_inputs(ann, gold)
        n_items = int(ann.item_id.nunique().to_pyarrow().as_py())
        log_other = math.log(max(k - 1, 1))
        post = store.put("post", clamp_expr(vote_shares(ann, cats), gold))
        raters = ann.select("rater_id").distinct()
        alpha = store.put("alpha", raters.mutate(a=ibis.literal(float(self.alpha_prior_mean))))
        items = ann.select("item_id").distinct()
        b = store.put("b", items.mutate(b=ibis.literal(float(self.b_prior_mean))))
        history: list[float] = []
        converged = False
        it = 0
        logprior = mean_prior_expr(post, False, k, n_items)
        for it in range(1, self.n_iter + 1):  # noqa: B007 - the count is reported
            pa = ann.join(post, [ann.item_id == post.item_id, ann.label == post[_K]])
            pa = store.put("pa", pa.select("item_id", "rater_id", "label", "p"))
            for _ in range(self.m_step_iter):
                alpha = store.put(
                    "alpha", glad_alpha_step_expr(pa, alpha, b, self.alpha_prior_mean)
                )
                b = store.put("b", glad_b_step_expr(pa, alpha, b, self.b_prior_mean))
            logprior = store.put(
                "prior", mean_prior_expr(post, self.learn_prior, k, n_items, eps=1e-6)
            )
            j = _with_x(ann, alpha, b)
            j = j.select(
                "item_id",
                "label",
                right=log_sigmoid_expr(j.x),
                wrong=log_sigmoid_expr(-j.x) - log_other,
            )
            new_post, loglik = annotation_scores_expr(j, post, logprior, gold)
            post = store.put("post", new_post)
            history.append(-float(loglik.to_pyarrow().as_py()) / n_ann)
            if loss_converged(history, self.tol):
                converged = True
                break
        store.drop_stale()
        self._record(task, history, it, converged)
        diff = b.select(task=ibis.literal(task), item_id=b.item_id, difficulty=(-b.b).exp())
        self.item_difficulty_ = (
            diff if self.item_difficulty_ is None else self.item_difficulty_.union(diff)
        )
        return post, alpha.select("rater_id", skill=alpha.a), logprior
