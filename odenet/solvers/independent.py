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

Two loops share these laws: eager solves run
:func:`~odenet.solvers.independent_host.integrate_host_controlled` (the per-sample
controller on ``(batch,)`` NumPy arrays on the host, the stages on the device), and
``compile_step=True`` runs :class:`StepAttempt` below, all on the device, fused by
``torch.compile``.

Reference for per-sample batched solving: M. Lienen & S. Günnemann, "torchode: A Parallel
ODE Solver for PyTorch", NeurIPS workshop 2022.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.utils.checkpoint
from torch import Tensor

from .batched_step import BatchedStep, batched_step_for, mask_to
from .field import check_evaluation
from .func_cache import FuncCache
from .independent_control import per_sample_initial_step, scaled_ratio
from .independent_host import integrate_host_controlled
from .integrate import MAX_NONFINITE_RETRIES, AdaptiveConfig
from .runge_kutta import RungeKutta

__all__ = [
    "STATUS_NAMES",
    "IndependentResult",
    "SampleField",
    "integrate_independent",
]

#: Status codes of a sample, indices into :data:`STATUS_NAMES`.
RUNNING, SUCCESS, MAX_STEPS, UNDERFLOW, NONFINITE, EVENT = range(6)
STATUS_NAMES = ("running", "success", "max_steps", "underflow", "nonfinite", "event")


class SampleField:
    """``func(t, y)`` called with per-sample times ``t`` (``(batch,)``, float64 inside the
    loop), handed over in the state's dtype (as ``odenet.solve`` does).

    With ``check`` (not under ``compile_step``), every evaluation is checked as in the joint
    loop (:class:`~odenet.solvers.field.CountingField`): output shape and dtype, and no
    in-place change of ``y``; no host synchronisation unless the check fails.
    """

    def __init__(
        self, func: Callable[[Tensor, Tensor], Tensor], t_dtype: torch.dtype, check: bool = True
    ) -> None:
        self.func = func
        self.t_dtype = t_dtype
        self.check = check
        self.calls = 0

    def __call__(self, t: Tensor, y: Tensor) -> Tensor:
        tt = t if t.dtype == self.t_dtype else t.to(self.t_dtype)
        if not self.check:
            return self.func(tt, y)
        self.calls += 1
        try:
            version = y._version
        except RuntimeError:  # an inference tensor has no version counter
            version = None
        out = self.func(tt, y)
        if (
            version is None
            or y._version != version
            or type(out) is not Tensor
            or out.shape != y.shape
            or out.dtype is not y.dtype
        ):
            check_evaluation(out, y, t, version, self.calls)
        return out


@dataclass
class IndependentResult:
    """What :func:`integrate_independent` returns; every per-sample tensor is ``(batch,)``.

    Attributes:
        ys: ``(n_times, batch, *state)``; outputs a failed sample never reached are NaN.
        status: int64 codes into :data:`STATUS_NAMES`.
        nfe: int64 evaluations charged to each sample while it was running.
        calls: batched calls of ``func`` (including the one that gave ``k0``).
        n_accepted, n_rejected: int64 step counts.
        t_reached: float64 time each sample reached.
        initial_step, last_step: float64 step magnitudes (first tried, last accepted;
            NaN when no step was accepted).
        event_t, event_y: with a per-sample event, ``(batch,)`` float64 event times and
            ``(batch, *state)`` states there (NaN for samples without an event).
    """

    ys: Tensor
    status: Tensor
    nfe: Tensor
    calls: int
    n_accepted: Tensor
    n_rejected: Tensor
    t_reached: Tensor
    initial_step: Tensor
    last_step: Tensor
    event_t: Tensor | None = None
    event_y: Tensor | None = None


class Carry(NamedTuple):
    """The loop state between step attempts (all ``(batch,)`` except ``y``, ``k``)."""

    t: Tensor  # float64 time reached
    y: Tensor  # (batch, *state)
    k: Tensor  # f(t, y), (batch, *state)
    h: Tensor  # float64 magnitude of the next step to try
    prev_ratio: Tensor  # float64 error ratio of the last accepted step (PI memory)
    rejected_last: Tensor  # bool
    status: Tensor  # int64 code
    n_acc: Tensor  # int64
    n_rej: Tensor  # int64
    nonfinite: Tensor  # int64 consecutive non-finite attempts
    nfe: Tensor  # int64
    last_step: Tensor  # float64


class Attempt(NamedTuple):
    """One step attempt, as the output writer needs it."""

    t: Tensor
    t_new: Tensor
    dt: Tensor
    y: Tensor
    y1: Tensor
    ks: list[Tensor]
    accept: Tensor


class StepAttempt:
    """One masked step attempt for the whole batch: stages, per-sample error ratio and PI
    control, status updates. Pure tensor code with fixed shapes, so it can run under
    ``torch.compile``; the only host synchronisation is the caller's read of ``flags``.
    """

    def __init__(
        self,
        method: RungeKutta,
        field: SampleField,
        cfg: AdaptiveConfig,
        t_out: Tensor,
        h_floor: Tensor,
    ) -> None:
        self.step = batched_step_for(method, cfg.rtol, cfg.atol)
        self.field = field
        self.cfg = cfg
        self.q = method.error_exponent_order
        self.t_out = t_out
        self.t_end = t_out[:, -1]
        self.d = torch.sign(t_out[:, -1] - t_out[:, 0])
        self.h_floor = h_floor
        # land on every output time when the dense output is below the method's accuracy
        self.force = method.interpolant_order < method.order - 1 or (
            method.dense_weights is None and not method.fsal
        )

    def _next_out(self, idx: Tensor) -> Tensor:
        n = self.t_out.shape[1]
        return self.t_out.gather(1, idx.clamp(max=n - 1)[:, None]).squeeze(1)

    def __call__(self, c: Carry, idx: Tensor) -> tuple[Carry, Attempt, Tensor, Tensor]:
        """Returns ``(carry, attempt, hit, flags)``: ``hit`` marks samples with an output
        time inside their accepted step; ``flags = [any hit, any still running]``."""
        ctrl, cfg, d, fsal = self.cfg.controller, self.cfg, self.d, self.step.fsal
        active = c.status == RUNNING
        target = self._next_out(idx) if self.force else self.t_end
        remaining = (target - c.t) * d
        land = active & (c.h >= remaining)
        h_try = torch.minimum(c.h, remaining).mul_(active)  # 0 for finished/failed samples
        dt = d * h_try
        t_new = torch.where(land, target, c.t + dt)
        y1, ks, err = self.step(self.field, c.t, c.y, dt, c.k)
        with torch.no_grad():
            y_abs, y1_abs = c.y.detach().abs(), y1.detach().abs()
            ratio = scaled_ratio(err, y_abs, y1_abs, cfg.rtol, cfg.atol)
        finite = torch.isfinite(ratio)
        accept = active & finite & (ratio <= 1.0)
        bad = active & ~finite
        reject = active & finite & ~accept
        nonfinite = torch.where(bad, c.nonfinite + 1, torch.where(active, 0, c.nonfinite))

        safe = torch.where(finite, ratio, 1.0)
        fac = ctrl.accept_factor(safe, c.prev_ratio, self.q)
        fac = torch.where(c.rejected_last, fac.clamp(max=1.0), fac)
        h_acc = h_try * fac
        h_acc = torch.where(land, torch.maximum(h_acc, c.h), h_acc).clamp(ctrl.dt_min, ctrl.dt_max)
        h_rej = h_try * torch.where(bad, 0.25, ctrl.reject_factor(safe.clamp(min=1.0), self.q))
        h = torch.where(accept, h_acc, torch.where(active, h_rej, c.h))

        status = torch.where(
            bad & ((nonfinite > MAX_NONFINITE_RETRIES) | (h < self.h_floor)), NONFINITE, c.status
        )
        status = torch.where(reject & (h < self.h_floor), UNDERFLOW, status)
        status = torch.where(accept & land & (target == self.t_end), SUCCESS, status)
        n_acc, n_rej = c.n_acc + accept, c.n_rej + (active & ~accept)
        status = torch.where(
            (status == RUNNING) & (n_acc + n_rej >= cfg.max_steps), MAX_STEPS, status
        )
        nfe = c.nfe + active * (self.step.stages - 1)

        m = mask_to(accept, c.y)
        y = torch.where(m, y1, c.y)
        t = torch.where(accept, t_new, c.t)
        if fsal:
            k = torch.where(m, ks[-1], c.k)
        else:  # one more evaluation, charged to the samples that moved on
            k = torch.where(m, self.field(t, y), c.k)
            nfe = nfe + (accept & (status == RUNNING))
        # an accepted sample still has outputs left (idx < n): the last one is its end time
        hit = accept & ((self._next_out(idx) - t_new) * d <= 0.0)
        flags = torch.stack([hit.any(), (status == RUNNING).any()])
        carry = Carry(
            t=t,
            y=y,
            k=k,
            h=h,
            prev_ratio=torch.where(accept, ratio.clamp(min=1e-4), c.prev_ratio),
            rejected_last=torch.where(active, ~accept, c.rejected_last),
            status=status,
            n_acc=n_acc,
            n_rej=n_rej,
            nonfinite=nonfinite,
            nfe=nfe,
            last_step=torch.where(accept, h_try, c.last_step),
        )
        return carry, Attempt(c.t, t_new, dt, c.y, y1, ks, accept), hit, flags


#: compiled step attempts, one per (func, method)
_COMPILED: FuncCache[Callable[..., Any]] = FuncCache()


def compiled_attempt(func: object, method: RungeKutta) -> Callable[..., Any]:
    """``torch.compile`` of :meth:`StepAttempt.__call__`, cached per ``(func, method)``.

    Each entry compiles its own copy of the code object, so solves with another ``func``
    or method never share (and never invalidate) a compilation: one compilation per pair
    serves every later solve with the same shapes. At most ``_COMPILED.size`` are kept.
    """
    hit = _COMPILED.get(func, method.name)
    if hit is not None:
        return hit
    fn = StepAttempt.__call__
    fresh = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__)
    return _COMPILED.put(func, method.name, torch.compile(fresh, dynamic=False))


def _emit(
    ys: Tensor, idx: Tensor, hit: Tensor, t_out: Tensor, a: Attempt, step: BatchedStep
) -> Tensor:
    """Write outputs for requested times in ``(t, t_new]`` of accepted samples into ``ys``.

    ``ys``: ``(n, batch, *state)``, written in place; ``idx``: ``(batch,)`` next output
    index; ``hit``: samples whose next output lies in the step. Returns the advanced ``idx``.
    """
    n = t_out.shape[1]
    d = torch.sign(t_out[:, -1] - t_out[:, 0])
    while True:
        rows = hit.nonzero().squeeze(1)
        if rows.numel() == 0:
            return idx
        tau = t_out[rows, idx[rows]]
        t_r, t1_r, dt_r = a.t[rows], a.t_new[rows], a.dt[rows]
        y1_r = a.y1[rows]
        at_end = tau == t1_r
        if bool(at_end.all()):  # outputs at step ends (e.g. the end time): no interpolation
            values = y1_r
        else:
            theta = (tau - t_r) / dt_r
            inner = step.interpolate(theta, a.y[rows], y1_r, [k[rows] for k in a.ks], dt_r)
            values = torch.where(mask_to(at_end, y1_r), y1_r, inner)
        ys.index_put_((idx[rows], rows), values)
        idx = idx + hit
        nxt = t_out.gather(1, idx.clamp(max=n - 1)[:, None]).squeeze(1)
        hit = a.accept & (idx < n) & ((nxt - a.t_new) * d <= 0.0)


def integrate_independent(
    fld: SampleField,
    method: RungeKutta,
    y0: Tensor,
    k0: Tensor,
    t_out: Tensor,
    cfg: AdaptiveConfig,
    compile_step: bool = False,
    checkpoint: bool = False,
    event: tuple[Callable[[Tensor, Tensor], Tensor], int] | None = None,
) -> IndependentResult:
    """Adaptive stepping with per-sample time, step size and accept/reject.

    Args:
        fld: the vector field with per-sample times.
        method: an adaptive method (embedded error estimate).
        y0: ``(batch, *state)`` initial states; ``k0 = fld(t_out[:, 0], y0)`` (one call,
            already made by the caller and charged here).
        t_out: ``(batch, n)`` float64 output times, each row strictly monotonic; row ``b``
            is solved from ``t_out[b, 0]`` to ``t_out[b, -1]``.
        cfg: tolerances, controller, first step and step budget (per sample).
        compile_step: run each step attempt under ``torch.compile``.
        checkpoint: run each step attempt under ``torch.utils.checkpoint`` (backward
            recomputes its stages instead of keeping them).
        event: ``(fn, direction)``: a terminal event per sample, ``fn(t, y) -> (batch,)``
            (eager loop only; see :mod:`odenet.solvers.independent_events`).

    Returns:
        An :class:`IndependentResult`; failures are reported in ``status``, not raised.
    """
    batch, n = t_out.shape
    dev = y0.device
    ctrl = cfg.controller
    t0, t_end = t_out[:, 0].clone(), t_out[:, -1]
    calls = 1
    nfe = torch.ones(batch, dtype=torch.int64, device=dev)
    if cfg.first_step is not None:
        h = torch.full((batch,), cfg.first_step, dtype=torch.float64, device=dev)
    else:
        d = torch.sign(t_end - t0)
        h = per_sample_initial_step(fld, t0, y0, k0, d, method.order, cfg.rtol, cfg.atol)
        calls, nfe = calls + 1, nfe + 1
    h = h.clamp(ctrl.dt_min, ctrl.dt_max)
    eps = float(np.finfo(np.float64).eps)
    h_floor = (8 * eps * torch.maximum(t0.abs(), t_end.abs())).clamp(min=ctrl.dt_min)
    if event is not None and compile_step:
        raise ValueError(
            "event_fn with batch_mode='independent' is not supported with compile_step=True "
            "(locating events is host-side work between compiled steps); pass "
            "compile_step=False"
        )
    if not compile_step:
        ys, arr, more, events = integrate_host_controlled(
            fld, method, y0, k0, t_out, cfg, h, h_floor, checkpoint=checkpoint, event=event
        )
        tens = {key: torch.from_numpy(v).to(dev) for key, v in arr.items()}
        ev_t, ev_y = (None, None) if events is None else events.results(y0.shape)
        return IndependentResult(
            ys=ys,
            status=tens["status"],
            nfe=tens["nfe"] + nfe,
            calls=calls + more,
            n_accepted=tens["n_acc"],
            n_rejected=tens["n_rej"],
            t_reached=tens["t"],
            initial_step=h,
            last_step=tens["last_step"],
            event_t=ev_t,
            event_y=ev_y,
        )
    attempt = StepAttempt(method, fld, cfg, t_out, h_floor)
    if compile_step and getattr(method, "batched_step", None) is not None:
        raise ValueError(
            f"compile_step=True is not supported with the implicit method {method.name!r}: its "
            "Newton iterations decide convergence on the host, so torch.compile recompiles "
            "instead of speeding up; pass compile_step=False"
        )
    if compile_step:
        compiled = compiled_attempt(fld.func, method)
        run: Callable[[Carry, Tensor], Any] = lambda c, i: compiled(attempt, c, i)  # noqa: E731
    elif checkpoint and torch.is_grad_enabled():
        run = lambda c, i: torch.utils.checkpoint.checkpoint(  # noqa: E731
            attempt, c, i, use_reentrant=False
        )
    else:
        run = attempt

    ys = torch.full((n, *y0.shape), float("nan"), dtype=y0.dtype, device=dev)
    ys[0] = y0
    zeros = torch.zeros(batch, dtype=torch.int64, device=dev)
    carry = Carry(
        t=t0,
        y=y0,
        k=k0,
        h=h,
        prev_ratio=torch.ones(batch, dtype=torch.float64, device=dev),
        rejected_last=torch.zeros(batch, dtype=torch.bool, device=dev),
        status=zeros,  # distinct tensors: aliased inputs would recompile a compiled step
        n_acc=zeros.clone(),
        n_rej=zeros.clone(),
        nonfinite=zeros.clone(),
        nfe=nfe,
        last_step=torch.full((batch,), float("nan"), dtype=torch.float64, device=dev),
    )
    idx = torch.ones(batch, dtype=torch.int64, device=dev)
    per_attempt = attempt.step.stages - 1 + (0 if attempt.step.fsal else 1)
    while True:
        carry, tried, hit, flags = run(carry, idx)
        calls += per_attempt
        any_hit, running = flags.tolist()
        if any_hit:
            idx = _emit(ys, idx, hit, t_out, tried, attempt.step)
        if not running:
            break
    return IndependentResult(
        ys=ys,
        status=carry.status,
        nfe=carry.nfe,
        calls=calls,
        n_accepted=carry.n_acc,
        n_rejected=carry.n_rej,
        t_reached=carry.t,
        initial_step=h,
        last_step=carry.last_step,
    )
