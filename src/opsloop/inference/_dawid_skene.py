"""Dawid–Skene (full confusion matrices) and one-coin Dawid–Skene.

Model (Dawid & Skene, 1979, JRSS C 28(1) 20–28): item ``i`` has a hidden true
class ``z_i ~ Categorical(ρ)``; rater ``r`` who labels it reports ``l`` with
probability ``π_r[z_i, l]`` independently of the other raters. EM alternates

* E-step: ``T[i, k] ∝ ρ_k · ∏_{(i, r, l)} π_r[k, l]`` (gold items clamped),
* M-step: ``π_r[k, l] = (n_r[k, l] + ε) / Σ_l' (n_r[k, l'] + ε)`` with soft
  counts ``n_r[k, l] = Σ_{(i, r, l)} T[i, k]``; ``ρ_k = (Σ_i T[i, k] + ε) / (n + Kε)``.

With the sparse indicator ``M`` (``n_items × R·K``, see
:meth:`TaskData.design`) both steps are one sparse product each:
``log T = M @ log π̃ + log ρ`` and ``n = Mᵀ @ T``.

The one-coin model (each rater has one accuracy ``p_r``; wrong labels are
uniform over the other ``K − 1`` classes; e.g. Zhang et al., 2014, NeurIPS
"Spectral methods meet EM") is the same EM with the constrained M-step
``p_r = (Σ_k n_r[k, k] + ε) / (n_r + 2ε)``.

Defaults and why:

* ``n_iter=100``: EM on crowd data typically converges in 10–50 iterations;
  100 bounds run time on adversarial data.
* ``tol=1e-5``: stop when the mean negative log-likelihood per annotation
  changes by less than this; below it the labels no longer change on the
  benchmark data (Zheng et al., 2017).
* ``smoothing=0.01``: a Dirichlet pseudo-count on every confusion cell and
  class prior keeps every log finite (a rater who never used a label would
  otherwise veto a class) while moving estimates for raters with a handful of
  labels by well under 1%.
* initialisation: majority-vote proportions, as in Dawid & Skene (1979).

Gold clamping (checked): gold items' posteriors are one-hot in the start and
after every E-step (:func:`e_step`), and the M-step learns from those clamped
rows. On Zheng et al.'s Dog data, clamping the first half of truth.csv lowers
accuracy on the other half from 0.851 to 0.839; crowd-kit's
``DawidSkene.fit(true_labels=...)`` does the same (0.849 → 0.842). Over ten
random halves the change is +0.003 on average (from −0.007 to +0.015) for
both implementations, so the drop belongs to that split, not to the method:
with many labels per item (Dog has ~8) the raters' confusion matrices are
already well identified without gold, and semi-supervised EM can trade a
few held-out items for a better fit on the clamped ones.

>>> import pyarrow as pa
>>> t = pa.table({"item_id": ["a", "a", "a", "b", "b", "b"],
...               "rater_id": ["r1", "r2", "r3"] * 2,
...               "label": ["x", "x", "y", "y", "y", "y"]})
>>> DawidSkene().fit(t).labels_["label"].to_pylist()
['x', 'y']
"""

from __future__ import annotations

import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

from opsloop.errors import UsageError
from opsloop.inference._base import RowBlock, TaskData, TaskFit, clamp, loss_converged
from opsloop.inference._estimator import BaseEstimator


def log_confusion_design(confusion: np.ndarray) -> np.ndarray:
    """``(R·K) × K`` matrix with row ``r·K + l``, column ``k`` = ``log π_r[k, l]``."""
    r, k, _ = confusion.shape
    out: np.ndarray = np.log(confusion).transpose(0, 2, 1).reshape(r * k, k)
    return out


def e_step(
    design: sp.csr_matrix,
    confusion: np.ndarray,
    prior: np.ndarray,
    gold: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Posteriors ``T`` (gold clamped), unclamped posteriors and the log-likelihood.

    The log-likelihood is ``Σ_i log Σ_k ρ_k ∏ π_r[k, l]`` for non-gold items plus
    ``log ρ_g + Σ log π_r[g, l]`` for gold items with gold class ``g``.
    """
    return _e_step_logs(design, log_confusion_design(confusion), np.log(prior), gold)


def _e_step_logs(
    design: sp.csr_matrix, log_conf: np.ndarray, log_prior: np.ndarray, gold: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`e_step` from ``log π`` (as :func:`log_confusion_design`) and ``log ρ``."""
    scores = design @ log_conf
    gold_idx = np.flatnonzero(gold >= 0) if gold is not None else np.zeros(0, np.int64)
    gold_codes = gold[gold_idx] if gold is not None else gold_idx
    gold_scores = scores[gold_idx, gold_codes] + log_prior[gold_codes]
    lognorm = softmax_rows(scores, log_prior)
    post = scores  # normalised in place: no n × K temporaries beyond ``scores``
    if gold is None:
        return post, post, float(lognorm.sum())
    unclamped = post[gold_idx]  # a copy (fancy indexing)
    if len(gold_idx):
        lognorm[gold_idx] = gold_scores
        post[gold_idx] = 0.0
        post[gold_idx, gold_codes] = 1.0
    return post, unclamped, float(lognorm.sum())


#: Rows of the n × K scores normalised at a time: each block is copied class-major into a
#: buffer that stays in the CPU cache through the passes of the row softmax (measured
#: 1.7× faster than whole columns at 1M items × 5 classes, with the same results).
CACHE_ROWS = 8192


def softmax_rows(scores: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """Row softmax of ``scores + log ρ`` in place; returns each row's log normaliser.

    ``T[i, k] = exp(s_ik + log ρ_k − m_i) / z_i`` with ``m_i = max_k (s_ik + log ρ_k)``
    and ``z_i = Σ_k exp(s_ik + log ρ_k − m_i)``, so ``log z_i + m_i`` is item ``i``'s
    log-likelihood (the log-sum-exp trick).

    >>> s = np.log(np.array([[1.0, 3.0]]))
    >>> lognorm = softmax_rows(s, np.log(np.array([0.5, 0.5])))
    >>> s.round(3).tolist(), round(float(np.exp(lognorm[0])), 3)
    ([[0.25, 0.75]], 2.0)
    """
    n, k = scores.shape
    lognorm = np.empty(n)
    buffer = np.empty((k, min(n, CACHE_ROWS)))
    for start in range(0, n, CACHE_ROWS):
        block = scores[start : start + CACHE_ROWS]
        by_class = buffer[:, : block.shape[0]]
        np.copyto(by_class, block.T)
        by_class += log_prior[:, None]
        top = by_class.max(axis=0)
        by_class -= top
        np.exp(by_class, out=by_class)
        z = by_class.sum(axis=0)
        by_class /= z
        np.copyto(block, by_class.T)
        part = lognorm[start : start + CACHE_ROWS]
        np.log(z, out=part)
        part += top
    return lognorm


def row_max(a: np.ndarray) -> np.ndarray:
    """Row maxima of an ``n × K`` array with small ``K``.

    A loop over the ``K`` columns is several times faster than
    ``a.max(axis=1)``, whose inner reduction has only ``K`` elements.
    """
    out = a[:, 0].copy()
    for j in range(1, a.shape[1]):
        np.maximum(out, a[:, j], out=out)
    return out


def row_sum(a: np.ndarray) -> np.ndarray:
    """Row sums of an ``n × K`` array with small ``K`` (see :func:`row_max`)."""
    out = a[:, 0].copy()
    for j in range(1, a.shape[1]):
        out += a[:, j]
    return out


def soft_counts(design: sp.csr_matrix, posteriors: np.ndarray) -> np.ndarray:
    """``n[r, k, l] = Σ_{(i, r, l)} T[i, k]`` as an ``R × K × K`` array.

    ``design.T`` is scipy's CSC view of the cached CSR matrix: no copy, and
    faster for this product than a stored CSR transpose (measured).
    """
    k = posteriors.shape[1]
    return _counts_array(np.asarray(design.T @ posteriors), k)


def _counts_array(flat: np.ndarray, k: int) -> np.ndarray:
    """``(R·K_l) × K_k`` soft counts (``Mᵀ T``) as ``n[r, k, l]``."""
    out: np.ndarray = flat.reshape(-1, k, k).transpose(0, 2, 1)
    return out


def m_step(
    design: sp.csr_matrix,
    posteriors: np.ndarray,
    smoothing: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Full confusion matrices ``π`` (``R × K × K``) and class prior ``ρ``."""
    return _full_m_step(soft_counts(design, posteriors), posteriors.sum(axis=0), smoothing)


def _full_m_step(
    counts: np.ndarray, class_totals: np.ndarray, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    counts = counts + smoothing
    confusion = counts / counts.sum(axis=2, keepdims=True)
    prior = class_totals + smoothing
    return confusion, prior / prior.sum()


def one_coin_m_step(
    design: sp.csr_matrix,
    posteriors: np.ndarray,
    smoothing: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-coin confusion matrices, the skills ``p_r`` and the class prior."""
    return _one_coin_m_step(soft_counts(design, posteriors), posteriors.sum(axis=0), smoothing)


def _one_coin_m_step(
    counts: np.ndarray, class_totals: np.ndarray, smoothing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = counts.shape[1]
    correct = np.trace(counts, axis1=1, axis2=2)
    total = counts.sum(axis=(1, 2))
    skill = (correct + smoothing) / (total + 2 * smoothing)
    confusion = one_coin_confusion(skill, k)
    prior = class_totals + smoothing
    return confusion, skill, prior / prior.sum()


def one_coin_confusion(skill: np.ndarray, k: int) -> np.ndarray:
    """``π_r = p_r I + (1 − p_r)/(K − 1) (1 − I)``, clipped away from 0 and 1."""
    p = np.clip(skill, 1e-9, 1 - 1e-9)
    off = (1 - p) / (k - 1)
    eye = np.eye(k)[None, :, :]
    out: np.ndarray = p[:, None, None] * eye + off[:, None, None] * (1 - eye)
    return out


def majority_init(data: TaskData) -> np.ndarray:
    """Vote proportions per item (gold clamped): the EM starting point."""
    votes = data.vote_counts()
    votes /= votes.sum(axis=1, keepdims=True)
    out: np.ndarray = clamp(votes, data.gold)
    return out


class DawidSkene(BaseEstimator):
    """Dawid–Skene EM with full per-rater confusion matrices (see module docstring).

    Learned: ``errors_`` (confusion matrices), ``probas_``, ``labels_``,
    ``loss_history_`` (mean negative log-likelihood per annotation).
    """

    one_coin = False

    def __init__(
        self, n_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.01, seed: int | None = None
    ) -> None:
        super().__init__()
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.seed = seed  # EM from the majority vote is deterministic; kept for a uniform API

    def _check_params(self) -> None:
        super()._check_params()
        if not self.smoothing > 0:
            raise UsageError(
                f"{type(self).__name__}: smoothing must be > 0, got {self.smoothing!r}"
            )

    def _fit_task(self, data: TaskData) -> TaskFit:
        return fit_dawid_skene(
            data, n_iter=self.n_iter, tol=self.tol, smoothing=self.smoothing, one_coin=self.one_coin
        )


class OneCoinDawidSkene(DawidSkene):
    """Dawid–Skene with one accuracy per rater (``skills_``); errors spread uniformly."""

    one_coin = True


#: From this many items, each EM step runs on two halves of the items at once (two
#: threads: NumPy and SciPy release the GIL in the products and the softmax).
PARALLEL_ITEMS = 200_000


@dataclass(frozen=True)
class _Step:
    """One E-step on a block of items and the soft counts the next M-step needs."""

    posteriors: np.ndarray
    unclamped: np.ndarray
    loglik: float
    counts: np.ndarray  # (R·K) × K, as ``Mᵀ T``
    class_totals: np.ndarray


def _counts_of(block: RowBlock, posteriors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Mᵀ T`` and the class totals ``Σ_i T[i, ·]`` of one block (einsum: one pass)."""
    return np.asarray(block.design.T @ posteriors), np.einsum("ij->j", posteriors)


def _total(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else functools.reduce(np.add, parts)


def _e_steps(
    pool: ThreadPoolExecutor | None,
    blocks: tuple[RowBlock, ...],
    gold: np.ndarray | None,
    log_conf: np.ndarray,
    log_prior: np.ndarray,
) -> list[_Step]:
    """The E-step on every block (one thread each), with the next M-step's counts."""

    def step(block: RowBlock) -> _Step:
        g = gold[block.start : block.stop] if gold is not None else None
        post, unclamped, loglik = _e_step_logs(block.design, log_conf, log_prior, g)
        return _Step(post, unclamped, loglik, *_counts_of(block, post))

    return [step(blocks[0])] if pool is None else list(pool.map(step, blocks))


def fit_dawid_skene(
    data: TaskData, *, n_iter: int, tol: float, smoothing: float, one_coin: bool = False
) -> TaskFit:
    """Run (one-coin) Dawid–Skene EM on one coded task.

    The items are split into row blocks (two from :data:`PARALLEL_ITEMS` items,
    else one); each block's E-step and its share of the next M-step's soft counts
    run in their own thread, and the counts are summed: the same EM, in float64.
    """
    blocks = data.row_blocks(2 if data.n_items >= PARALLEL_ITEMS else 1)
    n_ann = max(data.design().nnz, 1)
    gold = data.gold if data.has_gold else None
    k = data.n_classes
    steps = _initial_steps(data, blocks)
    confusion = np.full((data.n_raters, k, k), 1.0 / k)
    skill: np.ndarray | None = None
    prior = np.full(k, 1.0 / k)
    history: list[float] = []
    converged = False
    it = 0
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(len(blocks))) if len(blocks) > 1 else None
        for it in range(1, n_iter + 1):  # noqa: B007 - the count is reported
            counts = _counts_array(_total([s.counts for s in steps]), k)
            totals = _total([s.class_totals for s in steps])
            steps = []  # the previous posteriors are summed up: free them before the E-step
            if one_coin:
                confusion, skill, prior = _one_coin_m_step(counts, totals, smoothing)
            else:
                confusion, prior = _full_m_step(counts, totals, smoothing)
            steps = _e_steps(pool, blocks, gold, log_confusion_design(confusion), np.log(prior))
            history.append(-sum(s.loglik for s in steps) / n_ann)
            if loss_converged(history, tol):
                converged = True
                break
    post = _total_rows([s.posteriors for s in steps])
    unclamped = _last_unclamped(post, steps, gold, n_iter)
    if not one_coin:
        skill = np.einsum("rkk,k->r", confusion, prior)
    return TaskFit(
        posteriors=post,
        history=tuple(history),
        n_iter=it if n_iter else 0,
        converged=converged,
        confusion=confusion,
        skills=skill,
        prior=prior,
        unclamped=unclamped,
    )


def _initial_steps(data: TaskData, blocks: tuple[RowBlock, ...]) -> list[_Step]:
    """The majority-vote start cut into the blocks (views of one array)."""
    init = majority_init(data)
    k = init.shape[1]
    parts = [init[b.start : b.stop] for b in blocks]
    return [
        _Step(part, np.zeros((0, k)), 0.0, *_counts_of(b, part))
        for b, part in zip(blocks, parts, strict=True)
    ]


def _last_unclamped(
    post: np.ndarray, steps: list[_Step], gold: np.ndarray | None, n_iter: int
) -> np.ndarray | None:
    """The gold items' posteriors before clamping, from the last E-step.

    Without gold they are the posteriors; with ``n_iter=0`` no E-step ran and
    they are the majority-vote start's rows (``None`` without gold).
    """
    if not n_iter:
        return post[gold >= 0] if gold is not None else None
    if gold is None:
        return post
    return _total_rows([s.unclamped for s in steps])


def _total_rows(parts: list[np.ndarray]) -> np.ndarray:
    """The blocks' rows one after the other (no copy for one block)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
