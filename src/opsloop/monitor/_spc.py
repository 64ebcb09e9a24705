"""Statistical process control: p-charts, X̄-style charts and EWMA charts, in numpy.

A control chart asks whether a period's KPI is different from what the
process usually produces, given that period's sample size. Three charts:

* **p-chart** for a proportion ``p_i = k_i / n_i`` (Shewhart 1931; Montgomery,
  *Introduction to Statistical Quality Control*, 6th ed., §7.2.2, variable
  sample size): centre ``p̄ = Σk / Σn`` over a baseline, limits
  ``p̄ ± 3·sqrt(p̄(1 − p̄) / n_i)`` clipped to ``[0, 1]`` — each period gets the
  limits of its own ``n_i``.
* **X̄-style chart** for a mean or ratio estimated per period with standard
  error ``se_i`` (Montgomery §6.2): limits ``centre ± 3·se_i`` around the
  pooled centre.
* **EWMA chart** (Roberts 1959; Lucas & Saccucci 1990; Montgomery §9.2):
  ``z_t = λ·x_t + (1 − λ)·z_{t−1}`` from ``z_0 = centre``, limits
  ``centre ± L·sqrt(Var z_t)`` with ``Var z_t = λ²σ_t² + (1 − λ)²·Var z_{t−1}``,
  which for a constant ``σ`` is ``σ²·λ/(2 − λ)·[1 − (1 − λ)^{2t}]``. It sees small
  sustained shifts the Shewhart charts miss. Defaults ``λ = 0.2, L = 3``
  (Montgomery §9.2.1 recommends ``0.05 ≤ λ ≤ 0.25``; with ``L = 3`` the
  in-control run length is close to a 3σ Shewhart chart's).

Signals (Western Electric 1956, *Statistical Quality Control Handbook*):
rule 1, a point beyond a control limit; rule 4, a run of eight consecutive
points on one side of the centre line (Nelson 1984 counts nine: pass
``run_length=9``). A missing period (NaN) breaks a run and leaves the EWMA
recursion where it was.

>>> c = p_chart([12, 15, 8], [50, 50, 50])
>>> round(c.centre, 4), round(c.ucl[0], 4)
(0.2333, 0.4128)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Rule = Literal["beyond_limits", "run", "ewma"]
Side = Literal["above", "below"]
Baseline = int | slice | None
ArrayLike = Sequence[float] | FloatArray

DEFAULT_LAMBDA = 0.2
DEFAULT_L = 3.0
DEFAULT_SIGMA = 3.0
RUN_LENGTH = 8


def _clean(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else float(x)


def _floats(xs: Sequence[float]) -> list[float | None]:
    return [_clean(x) for x in xs]


@dataclass(frozen=True)
class Signal:
    """Point ``index`` broke ``rule`` (``above`` or ``below`` the centre or a limit)."""

    index: int
    rule: Rule
    side: Side

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "rule": self.rule, "side": self.side}


@dataclass(frozen=True)
class ControlChart:
    """A Shewhart chart: per-point ``values`` and limits, the ``centre`` and the signals.

    ``kind`` is ``"p"`` or ``"xbar"``; ``baseline`` is the number of points the
    centre was estimated from. Limits are NaN where a point has no data.
    """

    kind: Literal["p", "xbar"]
    values: tuple[float, ...]
    centre: float
    lcl: tuple[float, ...]
    ucl: tuple[float, ...]
    signals: tuple[Signal, ...]
    baseline: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "values": _floats(self.values),
            "centre": _clean(self.centre),
            "lcl": _floats(self.lcl),
            "ucl": _floats(self.ucl),
            "signals": [s.to_dict() for s in self.signals],
            "baseline": self.baseline,
        }


@dataclass(frozen=True)
class EwmaChart:
    """An EWMA chart: the smoothed series ``z``, its limits and the points outside them."""

    lam: float
    L: float
    centre: float
    z: tuple[float, ...]
    lcl: tuple[float, ...]
    ucl: tuple[float, ...]
    signals: tuple[Signal, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lambda": self.lam,
            "L": self.L,
            "centre": _clean(self.centre),
            "z": _floats(self.z),
            "lcl": _floats(self.lcl),
            "ucl": _floats(self.ucl),
            "signals": [s.to_dict() for s in self.signals],
        }


def _array(x: ArrayLike, name: str) -> FloatArray:
    out = np.asarray(x, dtype=np.float64)
    if out.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return out


def baseline_mask(size: int, baseline: Baseline) -> BoolArray:
    """Which of ``size`` points form the baseline: all, the first ``k``, or a slice.

    >>> baseline_mask(4, 2).tolist(), baseline_mask(4, slice(1, 3)).tolist()
    ([True, True, False, False], [False, True, True, False])
    """
    mask = np.zeros(size, dtype=bool)
    if baseline is None:
        mask[:] = True
    elif isinstance(baseline, slice):
        mask[baseline] = True
    else:
        if baseline < 1:
            raise ValueError(f"baseline must be a positive number of periods, not {baseline}")
        mask[: int(baseline)] = True
    return mask


def beyond_limits(values: ArrayLike, lcl: ArrayLike, ucl: ArrayLike) -> list[Signal]:
    """Rule 1: points strictly above ``ucl`` or below ``lcl`` (NaN never signals).

    >>> [(s.index, s.side) for s in beyond_limits([1, 5, -3], [0, 0, 0], [2, 2, 2])]
    [(1, 'above'), (2, 'below')]
    """
    x, lo, hi = _array(values, "values"), _array(lcl, "lcl"), _array(ucl, "ucl")
    out: list[Signal] = []
    with np.errstate(invalid="ignore"):
        above, below = x > hi, x < lo
    for i in range(len(x)):
        if above[i]:
            out.append(Signal(i, "beyond_limits", "above"))
        elif below[i]:
            out.append(Signal(i, "beyond_limits", "below"))
    return out


def run_rule(values: ArrayLike, centre: float, length: int = RUN_LENGTH) -> list[Signal]:
    """Rule 4: the ``length``-th and later points of a run on one side of ``centre``.

    A point on the centre line or missing (NaN) ends the run.

    >>> [s.index for s in run_rule([1, 1, 1, -1, 1, 1, 1, 1], 0.0, length=3)]
    [2, 6, 7]
    """
    if length < 2:
        raise ValueError(f"a run needs at least 2 points, not {length}")
    x = _array(values, "values")
    out: list[Signal] = []
    side, count = 0, 0
    for i, v in enumerate(x):
        s = 0 if math.isnan(v) or v == centre else (1 if v > centre else -1)
        count = count + 1 if s != 0 and s == side else (1 if s != 0 else 0)
        side = s
        if count >= length:
            out.append(Signal(i, "run", "above" if side > 0 else "below"))
    return out


def _signals(
    values: FloatArray, centre: float, lcl: FloatArray, ucl: FloatArray, run_length: int | None
) -> tuple[Signal, ...]:
    sig = beyond_limits(values, lcl, ucl)
    if run_length is not None and not math.isnan(centre):
        sig += run_rule(values, centre, run_length)
    return tuple(sorted(sig, key=lambda s: (s.index, s.rule)))


def p_chart(
    k: ArrayLike,
    n: ArrayLike,
    *,
    baseline: Baseline = None,
    sigma: float = DEFAULT_SIGMA,
    run_length: int | None = RUN_LENGTH,
) -> ControlChart:
    """p-chart with limits that follow each point's sample size.

    ``p̄ = Σk / Σn`` over the baseline points; ``LCL_i, UCL_i = p̄ ∓ sigma·sqrt(p̄(1 − p̄)/n_i)``
    clipped to ``[0, 1]``. Points with ``n_i = 0`` are NaN and never signal.

    >>> c = p_chart([5, 30], [100, 100])
    >>> round(c.centre, 3), [s.rule for s in c.signals]
    (0.175, ['beyond_limits', 'beyond_limits'])
    """
    kk, nn = _array(k, "k"), _array(n, "n")
    if kk.shape != nn.shape:
        raise ValueError("k and n must have the same length")
    if np.any(nn < 0) or np.any(kk < 0) or np.any(kk > nn):
        raise ValueError("counts must satisfy 0 <= k <= n")
    base = baseline_mask(len(nn), baseline) & (nn > 0)
    total = float(nn[base].sum())
    centre = float(kk[base].sum()) / total if total > 0 else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(nn > 0, kk / np.where(nn > 0, nn, 1.0), np.nan)
        half = sigma * np.sqrt(centre * (1 - centre) / np.where(nn > 0, nn, np.nan))
    lcl = np.clip(centre - half, 0.0, 1.0)
    ucl = np.clip(centre + half, 0.0, 1.0)
    return ControlChart(
        "p",
        tuple(p.tolist()),
        centre,
        tuple(lcl.tolist()),
        tuple(ucl.tolist()),
        _signals(p, centre, lcl, ucl, run_length),
        int(base.sum()),
    )


def xbar_chart(
    values: ArrayLike,
    se: ArrayLike,
    *,
    centre: float | None = None,
    weights: ArrayLike | None = None,
    baseline: Baseline = None,
    sigma: float = DEFAULT_SIGMA,
    run_length: int | None = RUN_LENGTH,
) -> ControlChart:
    """X̄-style chart of per-period estimates with their standard errors.

    Limits ``centre ± sigma·se_i``. ``centre`` defaults to the ``weights``-weighted
    mean of the baseline values (equal weights by default); pass the pooled
    estimate (e.g. ``Σx / Σn`` over the baseline) when it is known.

    >>> c = xbar_chart([10.0, 10.2, 13.0], [0.5, 0.5, 0.5], centre=10.0)
    >>> c.ucl[0], [(s.index, s.side) for s in c.signals]
    (11.5, [(2, 'above')])
    """
    x, s = _array(values, "values"), _array(se, "se")
    if x.shape != s.shape:
        raise ValueError("values and se must have the same length")
    base = baseline_mask(len(x), baseline) & np.isfinite(x)
    if centre is None:
        w = np.ones_like(x) if weights is None else _array(weights, "weights")
        wb = w[base]
        centre = float((x[base] * wb).sum() / wb.sum()) if wb.sum() > 0 else math.nan
    ok = np.isfinite(x) & np.isfinite(s)
    lcl = np.where(ok, centre - sigma * s, np.nan)
    ucl = np.where(ok, centre + sigma * s, np.nan)
    return ControlChart(
        "xbar",
        tuple(x.tolist()),
        float(centre),
        tuple(lcl.tolist()),
        tuple(ucl.tolist()),
        _signals(x, float(centre), lcl, ucl, run_length),
        int(base.sum()),
    )


def ewma_chart(
    values: ArrayLike,
    sigma: ArrayLike | float,
    centre: float,
    *,
    lam: float = DEFAULT_LAMBDA,
    L: float = DEFAULT_L,
) -> EwmaChart:
    """EWMA chart with time-varying limits for per-point standard deviations ``sigma``.

    ``z_t = λx_t + (1 − λ)z_{t−1}``, ``z_0 = centre``;
    ``Var z_t = λ²σ_t² + (1 − λ)²·Var z_{t−1}``, ``Var z_0 = 0``; limits
    ``centre ± L·sqrt(Var z_t)``. For a proportion ``σ_t² = p̄(1 − p̄)/n_t``; for
    a mean, ``σ_t = se_t``. A missing point (NaN value or σ) is NaN in ``z`` and
    leaves the recursion where it was.

    Montgomery (6th ed.) Example 9.2: ``λ = 0.1, L = 2.7, μ0 = 10, σ = 1`` gives
    an upper limit of 10.27 at ``t = 1``, 10.36 at ``t = 2``:

    >>> e = ewma_chart([9.45, 7.99], 1.0, 10.0, lam=0.1, L=2.7)
    >>> [round(u, 2) for u in e.ucl], [round(z, 4) for z in e.z]
    ([10.27, 10.36], [9.945, 9.7495])
    """
    if not 0 < lam <= 1:
        raise ValueError(f"lambda must be in (0, 1], not {lam}")
    if L <= 0:
        raise ValueError(f"L must be positive, not {L}")
    x = _array(values, "values")
    sd = np.full_like(x, sigma) if isinstance(sigma, int | float) else _array(sigma, "sigma")
    if sd.shape != x.shape:
        raise ValueError("values and sigma must have the same length")
    z = np.full_like(x, np.nan)
    var = np.full_like(x, np.nan)
    z_prev, v_prev = float(centre), 0.0
    for t in range(len(x)):
        if np.isfinite(x[t]) and np.isfinite(sd[t]) and not math.isnan(centre):
            z_prev = lam * float(x[t]) + (1 - lam) * z_prev
            v_prev = lam * lam * float(sd[t]) ** 2 + (1 - lam) ** 2 * v_prev
            z[t], var[t] = z_prev, v_prev
    half = L * np.sqrt(var)
    lcl, ucl = centre - half, centre + half
    return EwmaChart(
        lam,
        L,
        float(centre),
        tuple(z.tolist()),
        tuple(lcl.tolist()),
        tuple(ucl.tolist()),
        tuple(Signal(s.index, "ewma", s.side) for s in beyond_limits(z, lcl, ucl)),
    )
