"""The eager loop of ``batch_mode="independent"``: device stages, host-side control.

Same laws and results as the device loop of :mod:`odenet.solvers.independent` (which
``compile_step=True`` runs, fused by ``torch.compile``), arranged for eager execution:
the per-sample controller works on ``(batch,)`` float64 NumPy arrays on the host, where an
operation on a few hundred numbers costs about a microsecond instead of the several a
PyTorch dispatch costs (the controller is ~100 such operations per step attempt, more than
the stages of a small field). Per attempt the device computes the stages and the
per-sample error ratios; the ratios come to the host in one transfer, which is the accept
decision's synchronisation (the device loop reads two flags at the same point); the step
sizes and the accept mask go back in one copy each (no copy on CPU).

Profile that motivated it (dopri5, 256 Van der Pol oscillators, eager): control 51%, stages
and ``func`` 40%, output writing 7% of the time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.utils.checkpoint
from torch import Tensor

from .batched_step import BatchedStep, batched_step_for, mask_to
from .independent_control import scaled_ratio, shifted_norms
from .independent_events import SampleEvents
from .integrate import MAX_NONFINITE_RETRIES, AdaptiveConfig
from .runge_kutta import RungeKutta

__all__ = ["integrate_host_controlled"]

#: state dtypes whose error ratios take rtol and 1/sqrt(n) on the host (half precision
#: keeps the device formula: ``atol / rtol`` may not be representable there)
FOLD_DTYPES = (torch.float32, torch.float64)

#: status codes, as in :mod:`odenet.solvers.independent`
RUNNING, SUCCESS, MAX_STEPS, UNDERFLOW, NONFINITE, EVENT = range(6)


def _dev(x: np.ndarray, device: torch.device) -> Tensor:
    """A device tensor holding a copy of ``x`` (a fresh copy: autograd may save it)."""
    out = torch.from_numpy(np.array(x, copy=True))
    return out if device.type == "cpu" else out.to(device, non_blocking=True)


def integrate_host_controlled(
    fld: Callable[[Tensor, Tensor], Tensor],
    method: RungeKutta,
    y0: Tensor,
    k0: Tensor,
    t_out: Tensor,
    cfg: AdaptiveConfig,
    h0: Tensor,
    h_floor: Tensor,
    checkpoint: bool = False,
    event: tuple[Callable[[Tensor, Tensor], Tensor], int] | None = None,
) -> tuple[Tensor, dict[str, np.ndarray], int, SampleEvents | None]:
    """Per-sample adaptive stepping with the controller on the host.

    Args:
        fld: ``fld(t, y)`` with ``t`` of shape ``(batch,)`` float64.
        method: an adaptive method.
        y0, k0: ``(batch, *state)`` initial state and ``fld(t0, y0)``.
        t_out: ``(batch, n)`` float64 output times, each row strictly monotonic.
        cfg: tolerances, controller and step budget.
        h0, h_floor: ``(batch,)`` float64 first step magnitudes and step-size floors.
        checkpoint: run each attempt's stages under ``torch.utils.checkpoint``.
        event: ``(fn, direction)``, a terminal event per sample
            (:class:`~odenet.solvers.independent_events.SampleEvents`): a sample stops at
            its event (status ``EVENT``, ``t`` its event time); its outputs after the
            event time are NaN.

    Returns:
        ``(ys, per-sample arrays, batched calls, events)``: ``ys`` ``(n, batch, *state)``
        (NaN where a failed sample never got), the arrays ``status, nfe, n_acc, n_rej, t,
        last_step`` (``(batch,)``), the number of batched calls of ``fld`` made here, and
        the :class:`SampleEvents` (``None`` without ``event``).
    """
    dev = y0.device
    step = batched_step_for(method, cfg.rtol, cfg.atol)
    ctrl, q = cfg.controller, method.error_exponent_order
    fsal = step.fsal
    force = method.interpolant_order < method.order - 1 or (
        method.dense_weights is None and not fsal
    )
    if event is not None and force:
        raise ValueError(
            f"event_fn with batch_mode='independent' needs a method whose continuous "
            f"extension is accurate inside a step; method={method.name!r} is stepped onto "
            "each output time instead. Use e.g. 'dopri5', 'tsit5' or 'bosh3', or "
            "batch_mode='joint'"
        )
    tout = t_out.detach().cpu().numpy()
    batch, n = tout.shape
    t_end = tout[:, -1]
    d = np.sign(t_end - tout[:, 0])
    rows_all = np.arange(batch)
    floor = h_floor.detach().cpu().numpy()

    t = tout[:, 0].copy()
    h = h0.detach().cpu().numpy().copy()
    prev_ratio = np.ones(batch)
    rejected_last = np.zeros(batch, dtype=bool)
    status = np.zeros(batch, dtype=np.int64)
    n_acc = np.zeros(batch, dtype=np.int64)
    n_rej = np.zeros(batch, dtype=np.int64)
    nonfinite = np.zeros(batch, dtype=np.int64)
    nfe = np.zeros(batch, dtype=np.int64)
    last_step = np.full(batch, np.nan)
    idx = np.ones(batch, dtype=np.int64)

    ys = torch.full((n, *y0.shape), float("nan"), dtype=y0.dtype, device=dev)
    ys[0] = y0
    y, k = y0, k0
    calls = 0
    events = None if event is None else SampleEvents(event[0], event[1], fld, t, y0)
    per_attempt = step.stages - 1

    # the ratios' factor 1 / (rtol * sqrt(n)) is applied on the host (see shifted_norms)
    n_state = math.prod(y0.shape[1:])
    host_scale = 1.0 / (cfg.rtol * math.sqrt(max(n_state, 1))) if cfg.rtol > 0.0 else math.inf
    shift = cfg.atol / cfg.rtol if math.isfinite(host_scale) else math.inf
    fold = math.isfinite(host_scale) and math.isfinite(shift) and y0.dtype in FOLD_DTYPES

    def stages(t_d: Tensor, y: Tensor, dt_d: Tensor, k: Tensor) -> tuple:
        y1, ks, err = step(fld, t_d, y, dt_d, k)
        with torch.no_grad():
            y_abs, y1_abs = y.detach().abs(), y1.detach().abs()
            if fold:
                ratio = shifted_norms(err, y_abs, y1_abs, shift)
            else:
                ratio = scaled_ratio(err, y_abs, y1_abs, cfg.rtol, cfg.atol)
        return y1, ks, ratio

    use_ckpt = checkpoint and torch.is_grad_enabled()
    clip_h = ctrl.dt_min > 0.0 or math.isfinite(ctrl.dt_max)
    stage_evals = step.stages - 1
    running = status == RUNNING
    while True:
        active = running
        stopped = not active.all()  # some samples finished or failed: mask them
        target = tout[rows_all, np.minimum(idx, n - 1)] if force else t_end
        remaining = (target - t) * d
        land = h >= remaining
        h_try = np.minimum(h, remaining)
        if stopped:
            land &= active
            h_try = np.where(active, h_try, 0.0)
        dt = d * h_try
        t_new = np.where(land, target, t + dt)
        t_d, dt_d = _dev(t, dev), _dev(dt, dev)
        if use_ckpt:
            y1, ks, ratio_d = torch.utils.checkpoint.checkpoint(
                stages, t_d, y, dt_d, k, use_reentrant=False
            )
        else:
            y1, ks, ratio_d = stages(t_d, y, dt_d, k)
        calls += per_attempt
        ratio = ratio_d.cpu().numpy()  # the accept decision's one synchronisation
        if fold:
            ratio = ratio * host_scale

        if math.isfinite(float(np.sum(ratio))):  # the usual case: no non-finite error
            ok = ratio <= 1.0
            accept = ok & active if stopped else ok
            bad = None
            safe = ratio
        else:
            finite = np.isfinite(ratio)
            accept = active & finite & (ratio <= 1.0)
            bad = active & ~finite
            safe = np.where(finite, ratio, 1.0)
        reject = active & ~accept if bad is None else active & ~accept & ~bad
        fac = ctrl.accept_factor(safe, prev_ratio, q)
        if rejected_last.any():
            fac = np.where(rejected_last, np.minimum(fac, 1.0), fac)
        h_acc = h_try * fac
        h_acc = np.where(land, np.maximum(h_acc, h), h_acc)
        if clip_h:
            h_acc = h_acc.clip(ctrl.dt_min, ctrl.dt_max)
        if accept.all():
            h = h_acc
        else:
            h_rej = h_try * ctrl.reject_factor(np.maximum(safe, 1.0), q)
            if bad is not None:
                h_rej = np.where(bad, 0.25 * h_try, h_rej)
            h = np.where(accept, h_acc, np.where(active, h_rej, h))
        if bad is not None or nonfinite.any():
            nonfinite = np.where(
                active, 0 if bad is None else np.where(bad, nonfinite + 1, 0), nonfinite
            )
        if bad is not None:
            fail = bad & ((nonfinite > MAX_NONFINITE_RETRIES) | (h < floor))
            status = np.where(fail, NONFINITE, status)
        if reject.any():
            status = np.where(reject & (h < floor), UNDERFLOW, status)
        done = accept & land
        if not force:
            status = np.where(done, SUCCESS, status)
        else:
            status = np.where(done & (target == t_end), SUCCESS, status)
        t_stop = t_new
        if events is not None and accept.any():
            fired = events.after_step(accept, t, t_new, dt, y, y1, ks, step)
            if fired.any():
                status = np.where(fired, EVENT, status)
                t_stop = np.where(fired, events.t_e, t_new)
        n_acc = n_acc + accept
        n_rej = n_rej + reject if bad is None else n_rej + (active & ~accept)
        if n_acc.max() + n_rej.max() >= cfg.max_steps:
            over = (status == RUNNING) & (n_acc + n_rej >= cfg.max_steps)
            status = np.where(over, MAX_STEPS, status)
        nfe = nfe + (stage_evals if not stopped else active * stage_evals)
        prev_ratio = np.where(accept, np.maximum(ratio, 1e-4), prev_ratio)
        rejected_last = ~accept if not stopped else np.where(active, ~accept, rejected_last)
        last_step = np.where(accept, h_try, last_step)
        t_old, t = t, np.where(accept, t_stop, t)
        running = status == RUNNING
        y_old = y
        if accept.all():
            y = y1
            k = ks[-1] if fsal else fld(_dev(t, dev), y)
        elif accept.any():
            m = mask_to(torch.from_numpy(accept).to(dev, non_blocking=True), y1)
            y = torch.where(m, y1, y)
            k = torch.where(m, ks[-1] if fsal else fld(_dev(t, dev), y), k)
        if not fsal and accept.any():
            calls += 1
            nfe = nfe + (accept & running)
        # the last output (t_end, where a sample lands and then stays) is written after
        # the loop for every sample at once: most attempts then write nothing
        nxt = tout[rows_all, np.minimum(idx, n - 2)]
        hit = accept & (idx < n - 1) & ((nxt - t_stop) * d <= 0.0)
        if hit.any():
            idx = _emit(
                ys, idx, hit, accept, tout, d, t_old, t_new, t_stop, dt, y_old, y1, ks, step
            )
        if not running.any():
            break
    done = _dev(status == SUCCESS, dev)
    ys[n - 1] = torch.where(mask_to(done, y), y, ys[n - 1])
    per_sample = {
        "status": status,
        "nfe": nfe,
        "n_acc": n_acc,
        "n_rej": n_rej,
        "t": t,
        "last_step": last_step,
    }
    return ys, per_sample, calls, events


def _emit(
    ys: Tensor,
    idx: np.ndarray,
    hit: np.ndarray,
    accept: np.ndarray,
    tout: np.ndarray,
    d: np.ndarray,
    t: np.ndarray,
    t_new: np.ndarray,
    t_stop: np.ndarray,
    dt: np.ndarray,
    y: Tensor,
    y1: Tensor,
    ks: list[Tensor],
    step: BatchedStep,
) -> np.ndarray:
    """Write outputs for requested times in ``(t, t_stop]`` of the ``hit`` samples into
    ``ys`` (in place; ``t_stop`` is ``t_new``, or an event time inside the step); returns
    the advanced output indices."""
    n = tout.shape[1]
    dev = y1.device
    while True:
        rows = np.flatnonzero(hit)
        if rows.size == 0:
            return idx
        tau = tout[rows, idx[rows]]
        at_end = tau == t_new[rows]
        rows_d = _dev(rows, dev)
        y1_r = y1[rows_d]
        if at_end.all():  # outputs at step ends (e.g. the end time): no interpolation
            values = y1_r
        else:
            theta = _dev((tau - t[rows]) / dt[rows], dev)
            k_r = [kk[rows_d] for kk in ks]
            inner = step.interpolate(theta, y[rows_d], y1_r, k_r, _dev(dt[rows], dev))
            values = torch.where(mask_to(_dev(at_end, dev), y1_r), y1_r, inner)
        ys.index_put_((_dev(idx[rows], dev), rows_d), values)
        idx = idx + hit
        nxt = tout[np.arange(tout.shape[0]), np.minimum(idx, n - 1)]
        hit = accept & (idx < n) & ((nxt - t_stop) * d <= 0.0)
