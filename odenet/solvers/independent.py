"""The adaptive loop of ``batch_mode="independent"``: one time and step size per sample.

Every sample of the batch (leading dimension of the state) carries its own time, step
size, PI-controller memory, accept/reject decision, statistics and status, inside one
batched evaluation of ``func`` per stage. A sample that finished or failed is *masked*:
its step size is 0, so its stages are evaluated at its frozen state (the batched call
still computes them) and its state, time and statistics stop changing. Failures are per
sample (max steps, step-size underflow, non-finite error) and never stop the others.

The step uses the method's tableau with a per-sample ``dt`` of shape ``(batch,)``:
``y_i = y + dt * sum_j a_ij k_j``. The controller laws are those of the joint loop
(:mod:`odenet.solvers.integrate`), applied per sample, so a sample solved in a batch takes
the steps it would take alone (up to rounding in the stage sums).

Time is held in float64 tensors ``(batch,)`` and handed to ``func`` as a tensor of shape
``(batch,)`` in the user's time dtype (as torchode does): ``func(t, y)`` must accept a
per-sample ``t`` (an autonomous ``func`` ignores it).

Reference for per-sample batched solving: M. Lienen & S. Günnemann, "torchode: A Parallel
ODE Solver for PyTorch", NeurIPS workshop 2022.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .independent_control import (
    _expand,
    accept_factor,
    per_sample_initial_step,
    reject_factor,
    scaled_ratio,
)
from .integrate import MAX_NONFINITE_RETRIES, AdaptiveConfig
from .runge_kutta import RungeKutta

__all__ = [
    "STATUS_NAMES",
    "IndependentResult",
    "SampleField",
    "integrate_independent",
]

#: Status codes of a sample, indices into :data:`STATUS_NAMES`.
RUNNING, SUCCESS, MAX_STEPS, UNDERFLOW, NONFINITE = range(5)
STATUS_NAMES = ("running", "success", "max_steps", "underflow", "nonfinite")

Coeffs = tuple[tuple[int, float], ...]


class SampleField:
    """``func(t, y)`` with per-sample times, counting evaluations per active sample.

    Attributes:
        calls: batched calls of ``func`` so far.
        nfe: ``(batch,)`` int64 evaluations per sample, counted only while the sample is
            active (what a solver of that sample alone would have spent).
    """

    def __init__(
        self,
        func: Callable[[Tensor, Tensor], Tensor],
        t_dtype: torch.dtype,
        batch: int,
        device: torch.device,
    ) -> None:
        self.func = func
        self.t_dtype = t_dtype
        self.calls = 0
        self.nfe = torch.zeros(batch, dtype=torch.int64, device=device)

    def __call__(self, t: Tensor, y: Tensor, active: Tensor) -> Tensor:
        """``t``: ``(batch,)`` float64; ``active``: ``(batch,)`` bool (who is charged)."""
        self.calls += 1
        self.nfe += active
        return self.func(t.to(self.t_dtype), y)


@dataclass
class IndependentResult:
    """What :func:`integrate_independent` returns; every per-sample tensor is ``(batch,)``.

    Attributes:
        ys: ``(n_times, batch, *state)``; outputs a failed sample never reached are NaN.
        status: int64 codes into :data:`STATUS_NAMES`.
        n_accepted, n_rejected: int64 step counts.
        t_reached: float64 time each sample reached.
        initial_step, last_step: float64 step magnitudes (first tried, last accepted;
            NaN when no step was accepted).
    """

    ys: Tensor
    status: Tensor
    n_accepted: Tensor
    n_rejected: Tensor
    t_reached: Tensor
    initial_step: Tensor
    last_step: Tensor


def _nonzero(weights: Sequence[float]) -> Coeffs:
    return tuple((j, float(w)) for j, w in enumerate(weights) if w != 0.0)


def _weighted(ks: Sequence[Tensor], coeffs: Coeffs) -> Tensor | None:
    """``sum_j a_j ks[j]`` over non-zero coefficients (``None`` when there are none)."""
    if not coeffs:
        return None
    (j0, a0), *rest = coeffs
    out = torch.mul(ks[j0], a0)
    for j, a in rest:
        out = out.add(ks[j], alpha=a)
    return out


class BatchedStep:
    """One explicit Runge--Kutta step with a per-sample ``dt`` (tableau of ``method``)."""

    def __init__(self, method: RungeKutta) -> None:
        tab = method.tableau
        if tab.b_error is None:
            raise TypeError(f"method {method.name!r} is fixed-step and has no error estimate")
        self.c = tab.c
        self.rows = tuple(_nonzero(row) for row in tab.a)
        self.b = _nonzero(tab.b)
        self.e = _nonzero(tab.b_error)
        self.fsal = method.fsal
        dense = method.dense_weights
        self.dense = None if dense is None else torch.tensor(dense, dtype=torch.float64)

    def __call__(
        self, field: SampleField, t: Tensor, y: Tensor, dt: Tensor, k0: Tensor, active: Tensor
    ) -> tuple[Tensor, list[Tensor], Tensor]:
        """Advance ``y`` ``(batch, *state)`` from ``t`` by ``dt`` (``(batch,)``, signed).

        Returns ``(y1, ks, err)``: the new state, the stage derivatives (``ks[-1]`` is
        ``f(t + dt, y1)`` for FSAL methods) and the embedded error estimate (no grad).
        """
        dtb = _expand(dt, y).to(y.dtype)
        ks = [k0]
        y1 = None
        last = len(self.c) - 1
        for i in range(1, len(self.c)):
            incr = _weighted(ks, self.rows[i])
            yi = y if incr is None else y + dtb * incr
            if i == last and self.fsal:
                y1 = yi
            ks.append(field(t + self.c[i] * dt, yi, active))
        if y1 is None:
            y1 = y + dtb * _weighted(ks, self.b)  # type: ignore[operator]
        with torch.no_grad():
            err = dtb * _weighted([k.detach() for k in ks], self.e)  # type: ignore[operator]
        return y1, ks, err

    def interpolate(
        self, theta: Tensor, y0: Tensor, y1: Tensor, ks: Sequence[Tensor], dt: Tensor
    ) -> Tensor:
        """State at ``t0 + theta * dt`` per sample (``theta``, ``dt``: ``(m,)`` float64).

        The method's own continuous extension when it has one, else cubic Hermite from
        ``y0, y1, ks[0], ks[-1]`` (FSAL methods only; others land on output times).
        """
        if self.dense is not None:
            powers = torch.arange(1, self.dense.shape[1] + 1, dtype=torch.float64)
            bw = (theta[:, None] ** powers.to(theta.device)) @ self.dense.to(theta.device).T
            bw = bw * dt[:, None]  # (m, s)
            out = y0
            for i, k in enumerate(ks):
                out = out + _expand(bw[:, i], y0).to(y0.dtype) * k
            return out
        th2, th3 = theta * theta, theta * theta * theta
        h01 = _expand(3.0 * th2 - 2.0 * th3, y0).to(y0.dtype)
        h10 = _expand(dt * (th3 - 2.0 * th2 + theta), y0).to(y0.dtype)
        h11 = _expand(dt * (th3 - th2), y0).to(y0.dtype)
        return y0 + h01 * (y1 - y0) + h10 * ks[0] + h11 * ks[-1]


def _emit(
    ys: Tensor,
    idx: Tensor,
    t_out: Tensor,
    accept: Tensor,
    t: Tensor,
    t_new: Tensor,
    dt: Tensor,
    d: Tensor,
    step: BatchedStep,
    y: Tensor,
    y1: Tensor,
    ks: list[Tensor],
) -> Tensor:
    """Write outputs for requested times in ``(t, t_new]`` of accepted samples into ``ys``.

    ``ys``: ``(n, batch, *state)``, written in place; ``idx``: ``(batch,)`` next output index.
    Returns the advanced ``idx``.
    """
    n = t_out.shape[1]
    while True:
        nxt = t_out.gather(1, idx.clamp(max=n - 1)[:, None]).squeeze(1)
        hit = accept & (idx < n) & ((nxt - t_new) * d <= 0.0)
        rows = hit.nonzero().squeeze(1)
        if rows.numel() == 0:
            return idx
        tau, t_r, dt_r = nxt[rows], t[rows], dt[rows]
        at_end = _expand(tau == t_new[rows], y1)
        inner = step.interpolate((tau - t_r) / dt_r, y[rows], y1[rows], [k[rows] for k in ks], dt_r)
        ys.index_put_((idx[rows], rows), torch.where(at_end, y1[rows], inner))
        idx = idx + hit


def integrate_independent(
    fld: SampleField,
    method: RungeKutta,
    y0: Tensor,
    k0: Tensor,
    t_out: Tensor,
    cfg: AdaptiveConfig,
) -> IndependentResult:
    """Adaptive stepping with per-sample time, step size and accept/reject.

    Args:
        fld: the vector field with per-sample times.
        method: an adaptive method (embedded error estimate).
        y0: ``(batch, *state)`` initial states; ``k0 = fld(t_out[:, 0], y0)``.
        t_out: ``(batch, n)`` float64 output times, each row strictly monotonic; row ``b``
            is solved from ``t_out[b, 0]`` to ``t_out[b, -1]``.
        cfg: tolerances, controller, first step and step budget (per sample).

    Returns:
        An :class:`IndependentResult`; failures are reported in ``status``, not raised.
    """
    batch, n = t_out.shape
    dev = y0.device
    step = BatchedStep(method)
    ctrl = cfg.controller
    q = method.error_exponent_order
    force = method.interpolant_order < method.order - 1 or (
        method.dense_weights is None and not method.fsal
    )
    t0, t_end = t_out[:, 0].clone(), t_out[:, -1]
    d = torch.sign(t_end - t0)
    everyone = torch.ones(batch, dtype=torch.bool, device=dev)
    if cfg.first_step is not None:
        h = torch.full((batch,), cfg.first_step, dtype=torch.float64, device=dev)
    else:
        init_field = lambda tt, yy: fld(tt, yy, everyone)  # noqa: E731
        h = per_sample_initial_step(init_field, t0, y0, k0, d, method.order, cfg.rtol, cfg.atol)
    h = h.clamp(ctrl.dt_min, ctrl.dt_max)
    initial_step = h.clone()
    eps = float(np.finfo(np.float64).eps)
    h_floor = (8 * eps * torch.maximum(t0.abs(), t_end.abs())).clamp(min=ctrl.dt_min)

    ys = torch.full((n, *y0.shape), float("nan"), dtype=y0.dtype, device=dev)
    ys[0] = y0
    zeros_i = torch.zeros(batch, dtype=torch.int64, device=dev)
    status, n_acc, n_rej, nonfinite = zeros_i.clone(), zeros_i.clone(), zeros_i.clone(), zeros_i
    idx = torch.ones(batch, dtype=torch.int64, device=dev)
    prev_ratio = torch.ones(batch, dtype=torch.float64, device=dev)
    rejected_last = torch.zeros(batch, dtype=torch.bool, device=dev)
    last_step = torch.full((batch,), float("nan"), dtype=torch.float64, device=dev)
    t, y, k = t0, y0, k0
    with torch.no_grad():
        y_abs = y0.abs()
    while True:
        active = status == RUNNING
        over = active & (n_acc + n_rej >= cfg.max_steps)
        status = torch.where(over, MAX_STEPS, status)
        active = active & ~over
        if not bool(active.any()):
            break
        target = t_out.gather(1, idx.clamp(max=n - 1)[:, None]).squeeze(1) if force else t_end
        remaining = (target - t) * d
        land = active & (h >= remaining)
        h_try = torch.where(active, torch.where(land, remaining, h), 0.0)
        dt = d * h_try
        t_new = torch.where(land, target, t + dt)
        y1, ks, err = step(fld, t, y, dt, k, active)
        with torch.no_grad():
            y1_abs = y1.detach().abs()
            ratio = scaled_ratio(err, y_abs, y1_abs, cfg.rtol, cfg.atol)
        finite = torch.isfinite(ratio)
        accept = active & finite & (ratio <= 1.0)
        bad = active & ~finite
        reject = active & finite & ~accept
        n_acc = n_acc + accept
        n_rej = n_rej + (bad | reject)
        nonfinite = torch.where(bad, nonfinite + 1, torch.where(active, 0, nonfinite))

        safe_ratio = torch.where(finite, ratio, 1.0)
        fac = accept_factor(ctrl, safe_ratio, prev_ratio, q)
        fac = torch.where(rejected_last, fac.clamp(max=1.0), fac)
        h_acc = h_try * fac
        h_acc = torch.where(land, torch.maximum(h_acc, h), h_acc).clamp(ctrl.dt_min, ctrl.dt_max)
        h_rej = h_try * reject_factor(ctrl, safe_ratio.clamp(min=1.0), q)
        h_new = torch.where(accept, h_acc, torch.where(bad, h_try * 0.25, h_rej))
        h = torch.where(active, h_new, h)

        fail_bad = bad & ((nonfinite > MAX_NONFINITE_RETRIES) | (h < h_floor))
        fail_small = reject & (h < h_floor)
        done = accept & land & (target == t_end)
        status = torch.where(fail_bad, NONFINITE, status)
        status = torch.where(fail_small, UNDERFLOW, status)
        status = torch.where(done, SUCCESS, status)

        idx = _emit(ys, idx, t_out, accept, t, t_new, dt, d, step, y, y1, ks)
        prev_ratio = torch.where(accept, ratio.clamp(min=1e-4), prev_ratio)
        rejected_last = torch.where(active, ~accept, rejected_last)
        last_step = torch.where(accept, h_try, last_step)
        m = _expand(accept, y)
        y = torch.where(m, y1, y)
        y_abs = torch.where(m, y1_abs, y_abs)
        t = torch.where(accept, t_new, t)
        if step.fsal:
            k = torch.where(m, ks[-1], k)
        else:
            fresh = accept & (status == RUNNING)
            if bool(fresh.any()):
                k = torch.where(_expand(fresh, y), fld(t, y, fresh), k)
    return IndependentResult(
        ys=ys,
        status=status,
        n_accepted=n_acc,
        n_rejected=n_rej,
        t_reached=t,
        initial_step=initial_step,
        last_step=last_step,
    )
