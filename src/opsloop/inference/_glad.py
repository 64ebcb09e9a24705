"""GLAD: rater ability and item difficulty (Whitehill et al., 2009, NeurIPS).

Model: rater ``r`` labels item ``i`` correctly with probability
``σ(α_r β_i)``, where ``α_r ∈ ℝ`` is the rater's ability (negative =
adversarial) and ``β_i = exp(b_i) > 0`` the item's inverse difficulty; a wrong
label is uniform over the other ``K − 1`` classes. EM:

* E-step: ``log T[i, k] = log ρ_k + Σ_{(i,r,l)} ([l = k] log σ(x) +
  [l ≠ k] log((1 − σ(x)) / (K − 1)))`` with ``x = α_r β_i`` (gold clamped);
* M-step: maximise ``Q = Σ_{(i,r,l)} (p log σ(x) + (1 − p) log(1 − σ(x)))
  − ½ Σ_r (α_r − 1)² − ½ Σ_i (b_i − 1)²`` with ``p = T[i, l]``, by L-BFGS
  (gradient ``∂Q/∂x = p − σ(x)``). The class prior ``ρ`` is uniform, as in
  Whitehill et al.; ``learn_prior=True`` re-estimates it as the mean posterior
  (on the Zheng et al. 2017 benchmarks this lowers accuracy by 1–15 points:
  with skewed classes the learned prior and ``α`` trade off badly).

Defaults and why: ``n_iter=100``, ``tol=1e-5`` (change of the mean negative
log-likelihood per annotation); Gaussian priors ``N(1, 1)`` on ``α`` and
``b`` (Whitehill et al. use unit-variance Gaussian priors; a mean of 1 starts
raters as better than chance and items as of average difficulty, and keeps
the parameters of raters or items with one label finite); ``m_step_iter=25``
L-BFGS iterations per M-step (warm-started, so a few suffice);
initialisation from the majority vote. ``skills_`` reports ``α``.

>>> import pyarrow as pa
>>> t = pa.table({"item_id": ["a", "a", "a", "b", "b", "b"],
...               "rater_id": ["r1", "r2", "r3"] * 2,
...               "label": ["x", "x", "y", "y", "y", "y"]})
>>> GLAD().fit(t).labels_["label"].to_pylist()
['x', 'y']
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

from opsloop.inference._base import TaskData, TaskFit, clamp, loss_converged, normalise_log
from opsloop.inference._dawid_skene import majority_init
from opsloop.inference._estimator import BaseEstimator


def glad_e_step(
    data: TaskData, alpha: np.ndarray, b: np.ndarray, prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Posteriors (gold clamped), unclamped gold posteriors and the log-likelihood."""
    c = data.coded
    k = data.n_classes
    x = alpha[c.raters] * np.exp(b[c.items])
    log_right = log_expit(x)
    log_wrong = log_expit(-x) - np.log(k - 1)
    base = np.bincount(c.items, weights=log_wrong, minlength=data.n_items)
    bonus = np.bincount(
        c.items * k + c.labels, weights=log_right - log_wrong, minlength=data.n_items * k
    ).reshape(data.n_items, k)
    scores = bonus + base[:, None] + np.log(prior)[None, :]
    post, _ = normalise_log(scores)
    top = scores.max(axis=1)
    lognorm = np.log(np.exp(scores - top[:, None]).sum(axis=1)) + top
    gold_idx = np.flatnonzero(data.gold >= 0)
    unclamped = post[gold_idx].copy()
    if len(gold_idx):
        lognorm[gold_idx] = scores[gold_idx, data.gold[gold_idx]]
        clamp(post, data.gold)
    return post, unclamped, float(lognorm.sum())


def glad_m_step(
    data: TaskData,
    posteriors: np.ndarray,
    alpha: np.ndarray,
    b: np.ndarray,
    *,
    alpha_mean: float = 1.0,
    b_mean: float = 1.0,
    max_iter: int = 25,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximise the expected complete log-likelihood over ``α`` and ``b`` (L-BFGS)."""
    c = data.coded
    p = posteriors[c.items, c.labels]
    n_r = data.n_raters

    def negative_q(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, bb = theta[:n_r], theta[n_r:]
        eb = np.exp(bb)
        x = a[c.raters] * eb[c.items]
        q = float(np.sum(p * log_expit(x) + (1 - p) * log_expit(-x)))
        q -= 0.5 * float(np.sum((a - alpha_mean) ** 2) + np.sum((bb - b_mean) ** 2))
        g = p - expit(x)
        ga = np.bincount(c.raters, weights=g * eb[c.items], minlength=n_r) - (a - alpha_mean)
        gb = np.bincount(c.items, weights=g * x, minlength=data.n_items) - (bb - b_mean)
        return -q, -np.concatenate([ga, gb])

    from scipy.optimize import Bounds, minimize  # slow to import: only when GLAD runs

    # α unbounded, b in [−10, 10]; as arrays (a list of pairs costs more to convert
    # than the optimisation itself on large data)
    lower = np.concatenate([np.full(n_r, -np.inf), np.full(data.n_items, -10.0)])
    res = minimize(
        negative_q,
        np.concatenate([alpha, b]),
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(lower, -lower),
        options={"maxiter": max_iter},
    )
    return res.x[:n_r].copy(), res.x[n_r:].copy()


class GLAD(BaseEstimator):
    """GLAD (Whitehill et al., 2009); see the module docstring for model and defaults."""

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        alpha_prior_mean: float = 1.0,
        b_prior_mean: float = 1.0,
        m_step_iter: int = 25,
        learn_prior: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.n_iter = n_iter
        self.tol = tol
        self.alpha_prior_mean = alpha_prior_mean
        self.b_prior_mean = b_prior_mean
        self.m_step_iter = m_step_iter
        self.learn_prior = learn_prior
        self.seed = seed  # deterministic (majority-vote start); kept for a uniform API

    def _fit_task(self, data: TaskData) -> TaskFit:
        post = majority_init(data)
        alpha = np.full(data.n_raters, self.alpha_prior_mean)
        b = np.full(data.n_items, self.b_prior_mean)
        prior = np.full(data.n_classes, 1.0 / data.n_classes)
        n_ann = max(len(data.coded.items), 1)
        unclamped = post[data.gold >= 0]
        history: list[float] = []
        converged = False
        it = 0
        for it in range(1, self.n_iter + 1):  # noqa: B007
            alpha, b = glad_m_step(
                data,
                post,
                alpha,
                b,
                alpha_mean=self.alpha_prior_mean,
                b_mean=self.b_prior_mean,
                max_iter=self.m_step_iter,
            )
            if self.learn_prior:
                prior = post.mean(axis=0) + 1e-6
                prior /= prior.sum()
            post, unclamped, loglik = glad_e_step(data, alpha, b, prior)
            history.append(-loglik / n_ann)
            if loss_converged(history, self.tol):
                converged = True
                break
        return TaskFit(
            posteriors=post,
            history=tuple(history),
            n_iter=it,
            converged=converged,
            skills=alpha,
            prior=prior,
            unclamped=unclamped,
            extra={"item_difficulty": np.exp(-b)},
        )
