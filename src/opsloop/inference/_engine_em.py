"""Majority vote and Dawid–Skene as engine queries (Ibis: DuckDB, Spark, …).

The numpy kernels (:class:`MajorityVote`, :class:`DawidSkene`) need the coded
annotations in memory. For data beyond one machine the same estimators run
here as Ibis expressions: every EM iteration is a few joins and grouped
aggregations, the posteriors are a table ``item_id, label, probability``
materialised with ``Table.cache()`` between iterations, and only one scalar
(the log-likelihood, for the stopping rule) comes back to Python. A parity
test holds these and the numpy kernels together.

Dawid & Skene (1979), as in :mod:`opsloop.inference._dawid_skene`:

* M-step: ``n_r[k, l] = Σ_{(i, r, l)} T[i, k]`` (join annotations × posteriors,
  group by rater, true class, label); ``π_r[k, l] = (n_r[k, l] + ε) /
  (Σ_l' n_r[k, l'] + Kε)``; ``ρ_k = (Σ_i T[i, k] + ε) / (n + Kε)``.
* E-step: ``s[i, k] = log ρ_k + Σ_{(i, r, l)} log π_r[k, l]`` (join annotations
  × log π, group by item and class), ``T[i, k] = softmax_k s[i, k]`` (window
  over the item); gold items clamped to one-hot.

Intermediate tables are written to the backend (``_opsloop_em_…``), which
keeps every iteration's query plan small (see :class:`_Scratch`).

Same start (vote shares, gold clamped), smoothing, stopping rule
(``|Δ mean NLL per annotation| < tol``) and tie rule (highest posterior, then
the larger class prior, then category order) as the numpy kernel.
Differences: exact float ties only (the kernel treats scores within 1e-12 as
tied) and repeated (item, rater) annotations all count (the kernel keeps the
last). Tasks are fitted one after the other.

>>> import ibis
>>> t = ibis.memtable({"item_id": ["a", "a", "a", "b", "b", "b"],
...                    "rater_id": ["r1", "r2", "r3"] * 2,
...                    "label": ["x", "x", "y", "y", "y", "y"]})
>>> est = EngineDawidSkene(n_iter=5).fit(t)
>>> sorted(est.labels_.to_pyarrow().to_pydict()["label"])
['x', 'y']
"""

from __future__ import annotations

import uuid
from typing import Any

import ibis
import ibis.expr.types as ir

from opsloop.errors import UsageError
from opsloop.inference._base import DEFAULT_TASK, REQUIRED, loss_converged

_K = "true_label"


def _as_ibis(table: Any, what: str) -> ir.Table:
    if isinstance(table, ir.Table):
        return table
    try:
        return ibis.memtable(table)
    except Exception as exc:  # not a table-like object
        raise UsageError(f"{what}: expected an Ibis, pyarrow or pandas table") from exc


def engine_annotations(table: Any) -> ir.Table:
    """``task, item_id, rater_id, label`` as strings, rows with a null key dropped."""
    t = _as_ibis(table, "annotations")
    missing = [c for c in REQUIRED if c not in t.columns]
    if missing:
        raise UsageError(f"annotations: missing column(s) {', '.join(missing)}")
    task = (
        t.task.cast("string").fill_null(DEFAULT_TASK)
        if "task" in t.columns
        else ibis.literal(DEFAULT_TASK)
    )
    t = t.select(
        task=task,
        item_id=t.item_id.cast("string"),
        rater_id=t.rater_id.cast("string"),
        label=t.label.cast("string"),
    )
    return t.filter(t.item_id.notnull() & t.rater_id.notnull() & t.label.notnull())


def engine_gold(gold: Any) -> ir.Table | None:
    """``task, item_id, gold`` (one gold label per item and task)."""
    if gold is None:
        return None
    g = _as_ibis(gold, "gold")
    for c in ("item_id", "label"):
        if c not in g.columns:
            raise UsageError(f"gold: missing column {c!r}")
    task = (
        g.task.cast("string").fill_null(DEFAULT_TASK)
        if "task" in g.columns
        else ibis.literal(DEFAULT_TASK)
    )
    g = g.select(task=task, item_id=g.item_id.cast("string"), gold=g.label.cast("string"))
    g = g.filter(g.item_id.notnull() & g.gold.notnull())
    return g.group_by(["task", "item_id"]).aggregate(gold=g.gold.max())


def clamp_expr(post: ir.Table, gold: ir.Table | None) -> ir.Table:
    """Posteriors ``item_id, true_label, p`` with gold items set to one-hot."""
    if gold is None:
        return post
    j = post.left_join(gold, "item_id").drop("item_id_right")
    p = ibis.cases((j.gold.isnull(), j.p), (j[_K] == j.gold, 1.0), else_=0.0)
    return j.mutate(p=p).drop("gold")


def vote_shares(ann: ir.Table, cats: ir.Table) -> ir.Table:
    """``T[i, k] = n_ik / n_i`` on every (item, category) pair: ``item_id, true_label, p``."""
    votes = ann.group_by(["item_id", "label"]).aggregate(n=ann.count())
    items = ann.select("item_id").distinct()
    dense = items.cross_join(cats.select(**{_K: cats.label}))
    j = dense.left_join(votes, [dense.item_id == votes.item_id, dense[_K] == votes.label])
    j = j.select("item_id", _K, n=j.n.fill_null(0).cast("float64"))
    w = ibis.window(group_by="item_id")
    return j.select("item_id", _K, p=j.n / j.n.sum().over(w))


def m_step_expr(
    ann: ir.Table, post: ir.Table, n_cats: int, smoothing: float
) -> tuple[ir.Table, ir.Table]:
    """``log π`` as ``rater_id, true_label, label, logpi`` and ``log ρ`` as ``true_label, logrho``."""
    soft = ann.join(post, "item_id")
    counts = soft.group_by(["rater_id", _K, "label"]).aggregate(n=soft.p.sum())
    w = ibis.window(group_by=["rater_id", _K])
    logpi = counts.select(
        "rater_id",
        _K,
        "label",
        logpi=((counts.n + smoothing) / (counts.n.sum().over(w) + n_cats * smoothing)).ln(),
    )
    mass = post.group_by(_K).aggregate(s=post.p.sum())
    wall = ibis.window()
    logrho = mass.select(
        _K, logrho=((mass.s + smoothing) / (mass.s.sum().over(wall) + n_cats * smoothing)).ln()
    )
    return logpi, logrho


def e_step_expr(
    ann: ir.Table, logpi: ir.Table, logrho: ir.Table, gold: ir.Table | None
) -> tuple[ir.Table, ir.Value]:
    """Clamped posteriors ``item_id, true_label, p`` and the log-likelihood (a scalar)."""
    j = ann.join(logpi, ["rater_id", "label"])
    sc = j.group_by(["item_id", _K]).aggregate(s=j.logpi.sum())
    sc = sc.join(logrho, _K)
    return posterior_expr(sc.select("item_id", _K, s=sc.s + sc.logrho), gold)


def posterior_expr(sc: ir.Table, gold: ir.Table | None) -> tuple[ir.Table, ir.Value]:
    """Softmax of log scores ``item_id, true_label, s`` per item, gold clamped, and the log-likelihood.

    The log-likelihood is ``Σ_i log Σ_k exp s[i, k]`` over non-gold items plus
    ``s[i, g_i]`` over gold items (as the numpy E-steps).
    """
    w = ibis.window(group_by="item_id")
    top = sc.s.max().over(w)
    sc = sc.mutate(e=(sc.s - top).exp(), top=top)
    sc = sc.mutate(z=sc.e.sum().over(w))
    post = sc.select("item_id", _K, p=sc.e / sc.z, lognorm=sc.z.ln() + sc.top, s=sc.s)
    if gold is not None:
        post = post.left_join(gold, "item_id").drop("item_id_right")
    else:
        post = post.mutate(gold=ibis.null("string"))
    per_item = post.group_by(["item_id", "gold"]).aggregate(
        ln=post.lognorm.max(), gs=(post[_K] == post.gold).ifelse(post.s, 0.0).sum()
    )
    loglik = per_item.gold.isnull().ifelse(per_item.ln, per_item.gs).sum()
    clamped = post.select(
        "item_id",
        _K,
        p=ibis.cases((post.gold.isnull(), post.p), (post[_K] == post.gold, 1.0), else_=0.0),
    )
    return clamped, loglik


def label_expr(post: ir.Table, prior: ir.Table) -> ir.Table:
    """Arg-max label per item; ties to the larger prior, then category order."""
    j = post.join(prior, _K)
    w = ibis.window(group_by="item_id", order_by=[ibis.desc(j.p), ibis.desc(j.rho), j[_K]])
    ranked = j.mutate(rn=ibis.row_number().over(w))
    top = ranked.filter(ranked.rn == 0)
    return top.select("item_id", label=top[_K])


class EngineMajorityVote:
    """Majority vote as engine queries (tie rule as :class:`MajorityVote`).

    ``fit(table, gold=None)``; learned ``probas_`` (``task, item_id, label,
    probability``) and ``labels_`` (``task, item_id, label``) as Ibis tables.
    """

    def __init__(self) -> None:
        self.probas_: ir.Table | None = None
        self.labels_: ir.Table | None = None

    def fit(self, table: Any, gold: Any = None) -> EngineMajorityVote:
        ann = engine_annotations(table)
        g = engine_gold(gold)
        probas, labels = [], []
        for task in _tasks(ann):
            a = ann.filter(ann.task == task).drop("task")
            gt = g.filter(g.task == task).drop("task") if g is not None else None
            cats = _categories(a, gt)
            post = clamp_expr(vote_shares(a, cats), gt)
            freq = a.group_by("label").aggregate(n=a.count())
            prior = cats.left_join(freq, "label").select(
                **{_K: cats.label}, rho=ibis.coalesce(freq.n, 0)
            )
            probas.append(_public(post, task))
            labels.append(label_expr(post, prior).mutate(task=ibis.literal(task)))
        self.probas_ = ibis.union(*probas) if len(probas) > 1 else probas[0]
        self.labels_ = (ibis.union(*labels) if len(labels) > 1 else labels[0]).select(
            "task", "item_id", "label"
        )
        return self


class EngineDawidSkene:
    """Dawid–Skene EM as engine queries (module docstring).

    Settings as :class:`DawidSkene` (``n_iter``, ``tol``, ``smoothing``).
    Learned: ``probas_`` (``task, item_id, label, probability``), ``labels_``
    (``task, item_id, label``), ``errors_`` (``task, rater_id, true_label,
    label, probability`` for the labels each rater used), ``prior_``
    (``task, label, probability``) as Ibis tables on the backend of the input,
    ``loss_history_`` and ``n_iter_`` per task.
    """

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.01) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.probas_: ir.Table | None = None
        self.labels_: ir.Table | None = None
        self.errors_: ir.Table | None = None
        self.prior_: ir.Table | None = None
        self.loss_history_: dict[str, list[float]] = {}
        self.n_iter_: dict[str, int] = {}
        self.converged_ = False

    def fit(self, table: Any, gold: Any = None) -> EngineDawidSkene:
        if not isinstance(self.n_iter, int) or self.n_iter < 1:
            raise UsageError(
                f"{type(self).__name__}: n_iter must be a positive integer, got {self.n_iter!r}"
            )
        if not self.smoothing > 0:
            raise UsageError(
                f"{type(self).__name__}: smoothing must be > 0, got {self.smoothing!r}"
            )
        ann = engine_annotations(table)
        g = engine_gold(gold)
        probas, labels, errors, priors = [], [], [], []
        self.converged_ = True
        for task in _tasks(ann):
            a = ann.filter(ann.task == task).drop("task").cache()
            gt = g.filter(g.task == task).drop("task").cache() if g is not None else None
            post, logpi, logrho = self._fit_task(task, a, gt)
            probas.append(_public(post, task))
            labels.append(
                label_expr(post, logrho.select(_K, rho=logrho.logrho)).mutate(
                    task=ibis.literal(task)
                )
            )
            errors.append(
                logpi.select(
                    task=ibis.literal(task),
                    rater_id=logpi.rater_id,
                    true_label=logpi[_K],
                    label=logpi.label,
                    probability=logpi.logpi.exp(),
                )
            )
            priors.append(
                logrho.select(
                    task=ibis.literal(task), label=logrho[_K], probability=logrho.logrho.exp()
                )
            )
        self.probas_ = _union(probas)
        self.labels_ = _union(labels).select("task", "item_id", "label")
        self.errors_ = _union(errors)
        self.prior_ = _union(priors)
        return self

    def _m_step(self, ann: ir.Table, post: ir.Table, n_cats: int) -> tuple[ir.Table, ir.Table]:
        return m_step_expr(ann, post, n_cats, self.smoothing)

    def _fit_task(
        self, task: str, ann: ir.Table, gold: ir.Table | None
    ) -> tuple[ir.Table, ir.Table, ir.Table]:
        store, ann, gold, cats, n_cats, n_ann = stage_inputs(ann, gold)
        post = store.put("post", clamp_expr(vote_shares(ann, cats), gold))
        history: list[float] = []
        converged = False
        it = 0
        logpi = logrho = None
        for it in range(1, self.n_iter + 1):  # noqa: B007 - the count is reported
            logpi, logrho = self._m_step(ann, post, n_cats)
            logpi, logrho = store.put("logpi", logpi), store.put("logrho", logrho)
            new_post, loglik = e_step_expr(ann, logpi, logrho, gold)
            post = store.put("post", new_post)
            history.append(-float(loglik.to_pyarrow().as_py()) / n_ann)
            if loss_converged(history, self.tol):
                converged = True
                break
        store.drop_stale()
        self.loss_history_[task] = history
        self.n_iter_[task] = it
        self.converged_ = self.converged_ and converged
        if logpi is None or logrho is None:  # pragma: no cover - n_iter >= 1 is checked
            raise UsageError("EngineDawidSkene: no iteration ran")
        return post, logpi, logrho


def stage_inputs(
    ann: ir.Table, gold: ir.Table | None
) -> tuple[_Scratch, ir.Table, ir.Table | None, ir.Table, int, int]:
    """Materialise one task's annotations and gold; return them with the categories,
    the number of categories and the number of annotations (at least 1)."""
    store = _Scratch(ibis.get_backend(ann))
    ann = store.put("ann", ann)
    gold = store.put("gold", gold) if gold is not None else None
    cats = _categories(ann, gold)
    n_cats = int(cats.count().to_pyarrow().as_py())
    n_ann = max(int(ann.count().to_pyarrow().as_py()), 1)
    return store, ann, gold, cats, n_cats, n_ann


class _Scratch:
    """Materialised intermediate tables (``_opsloop_em_<id>_<n>``) on the input's backend.

    Writing each iteration's tables cuts the query lineage: with views or
    ``cache()`` Spark re-plans the whole chain of earlier iterations, which
    grows with every step. Tables replaced by a newer one of the same role
    are dropped by :meth:`drop_stale`; the final ones back the fitted
    attributes.
    """

    def __init__(self, con: Any) -> None:
        self.con = con
        self.prefix = f"_opsloop_em_{uuid.uuid4().hex[:12]}_"
        self.n = 0
        self.current: dict[str, str] = {}
        self.stale: list[str] = []

    def put(self, role: str, expr: ir.Table) -> ir.Table:
        self.n += 1
        name = f"{self.prefix}{self.n}"
        out = self.con.create_table(name, expr, overwrite=True)
        if role in self.current:
            self.stale.append(self.current[role])
        self.current[role] = name
        if len(self.stale) > 6:
            self.drop_stale(keep=3)
        return out

    def drop_stale(self, keep: int = 0) -> None:
        while len(self.stale) > keep:
            self.con.drop_table(self.stale.pop(0), force=True)


def _tasks(ann: ir.Table) -> list[str]:
    out: list[str] = sorted(ann.select("task").distinct().to_pyarrow()["task"].to_pylist())
    return out


def _categories(ann: ir.Table, gold: ir.Table | None) -> ir.Table:
    cats = ann.select("label").distinct()
    if gold is not None:
        cats = ibis.union(cats, gold.select(label=gold.gold).distinct(), distinct=True)
    return cats


def _public(post: ir.Table, task: str) -> ir.Table:
    return post.select(
        task=ibis.literal(task), item_id=post.item_id, label=post[_K], probability=post.p
    )


def _union(parts: list[ir.Table]) -> ir.Table:
    return ibis.union(*parts) if len(parts) > 1 else parts[0]
