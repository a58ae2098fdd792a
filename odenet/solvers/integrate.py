"""The stepping loops: fixed grid and adaptive. Nothing here checks user input.

Both loops keep time in Python floats (float64), produce outputs at the requested times
from each step's dense output, and locate terminal events. The adaptive loop synchronises
with the device once per step (``float(error ratio)``), for the accept/reject decision.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..errors import MaxStepsReached, NewtonConvergenceError, NonFiniteState, StepSizeUnderflow
from .controller import (
    PIController,
    initial_step_size,
    rms_norm,
    rms_ratio_scales,
    scaled_error_norm,
    shifted_error_norm,
)
from .events import event_value, locate_event
from .field import CountingField
from .runge_kutta import RungeKutta
from .stiffness import StiffnessMonitor

__all__ = ["AdaptiveConfig", "RawSolution", "StepRecord", "integrate_adaptive", "integrate_fixed"]

EventFn = Callable[[Tensor, Tensor], Tensor]

#: consecutive steps with a non-finite error before giving up
MAX_NONFINITE_RETRIES = 30

#: a fixed-grid solve makes the time tensors of this many steps in one operation (a small
#: block: a time saved for backward keeps its block alive, so memory stays O(1) in steps)
PRELOAD_STEPS = 8


@dataclass
class StepRecord:
    """One accepted step, kept for dense output: ``[t0, t0 + dt]``."""

    t0: float
    dt: float
    y0: Tensor
    y1: Tensor
    ks: list[Tensor]
    f1: Tensor | None = None


@dataclass
class RawSolution:
    """What a loop returns: outputs (one per requested time reached) and statistics."""

    ys: list[Tensor]
    n_accepted: int = 0
    n_rejected: int = 0
    initial_step: float = math.nan
    last_step: float = math.nan
    #: the step the controller proposed after the last accepted step (adaptive loop)
    next_step: float = math.nan
    event_t: float | None = None
    event_y: Tensor | None = None
    steps: list[StepRecord] | None = None
    #: the interpolation the loop used for outputs when it differs from the method's own
    #: (``options["interp"] = "linear"``); dense output must use the same
    interpolant: object = None
    n_jacobians: int = 0
    n_lu: int = 0


@dataclass
class AdaptiveConfig:
    """Settings of the adaptive loop (already validated by ``odeint``)."""

    rtol: float
    atol: float
    controller: PIController = field(default_factory=PIController)
    first_step: float | None = None
    max_steps: int = 100_000
    norm: Callable[[Tensor], Tensor] = rms_norm
    step_t: tuple[float, ...] = ()
    jump_t: tuple[float, ...] = ()
    #: called as ``hook(t0, y0, dt)`` (0-d tensors, loop state) before every step attempt,
    #: after an accepted and after a rejected one
    on_step: Callable[[Tensor, Tensor, Tensor], object] | None = None
    on_accept: Callable[[Tensor, Tensor, Tensor], object] | None = None
    on_reject: Callable[[Tensor, Tensor, Tensor], object] | None = None
    stiffness_check: bool = True


class _EventTracker:
    """Watches ``event_fn`` for a sign change across each accepted step."""

    def __init__(self, event_fn: EventFn, fld: CountingField, t0: float, y0: Tensor) -> None:
        self.event_fn = event_fn
        self.field = fld
        self.g = event_value(event_fn, fld.time(t0), y0)

    def check(
        self,
        method: RungeKutta,
        t: float,
        dt: float,
        y0: Tensor,
        y1: Tensor,
        ks: list[Tensor],
        f1: Tensor | None,
    ) -> tuple[float, Tensor] | None:
        t1 = t + dt
        g1 = event_value(self.event_fn, self.field.time(t1), y1)
        g0, self.g = self.g, g1
        if g0 == 0.0 or g0 * g1 > 0.0:
            return None

        def g_at(tau: float) -> float:
            y = method.interpolate((tau - t) / dt, y0, y1, ks, dt, f1)
            return event_value(self.event_fn, self.field.time(tau), y)

        tol = 4 * np.finfo(np.float64).eps * max(abs(t), abs(t1), 1.0)
        te = locate_event(g_at, g0, g1, t, t1, tol)
        ye = y1 if te == t1 else method.interpolate((te - t) / dt, y0, y1, ks, dt, f1)
        return te, ye


def _left_limit(
    fld: CountingField, t_jump: float, toward: float
) -> Callable[[float, Tensor], Tensor]:
    """``fld`` with times at or past a discontinuity moved back to the last time before it
    that ``func`` can resolve (in the time dtype it receives)."""
    before = fld.nudge(t_jump, toward)

    def field(tau: float, y: Tensor) -> Tensor:
        return fld(before if (tau - before) * toward < 0 else tau, y)

    field.base = fld  # type: ignore[attr-defined]  # implicit methods key Newton state on it
    return field


def _emit_outputs(
    raw: RawSolution,
    t_out: list[float],
    idx: int,
    method: RungeKutta,
    t: float,
    t_new: float,
    d: float,
    y: Tensor,
    y1: Tensor,
    ks: list[Tensor],
    f1: Tensor | None,
    step: tuple[float, Tensor] | None = None,
) -> int:
    """Append outputs for requested times in ``(t, t_new]``; return the next index.

    ``step=(dt, y_end)``: the step taken, when ``t_new`` (with state ``y1``) ends it early
    at an event; times before ``t_new`` are then interpolated on that whole step.
    """
    dt, y_end = step if step is not None else (t_new - t, y1)
    n = len(t_out)
    while idx < n and (t_out[idx] - t_new) * d <= 0.0:
        tau = t_out[idx]
        if tau == t_new:
            raw.ys.append(y1)
        else:
            raw.ys.append(method.interpolate((tau - t) / dt, y, y_end, ks, dt, f1))
        idx += 1
    return idx


def _needs_f1(method: RungeKutta, t_out: list[float], idx: int, t_new: float, d: float) -> bool:
    """Non-FSAL methods need ``f(t1, y1)`` to interpolate strictly inside the step."""
    if method.fsal or method.dense_weights is not None:
        return False
    return idx < len(t_out) and (t_out[idx] - t_new) * d < 0.0


def _one_sided(fld: CountingField, t0: float, t1: float) -> Callable[[float, Tensor], Tensor]:
    """``fld`` on the step ``[t0, t1]`` with its end times moved just inside the step.

    A field that jumps at the grid points is then sampled on the step's own side of each
    jump: evaluations at ``t0`` happen just after it, at ``t1`` just before it (in the time
    dtype ``func`` receives).
    """
    d = 1.0 if t1 > t0 else -1.0
    after, before = fld.nudge(t0, d), fld.nudge(t1, -d)
    near = 4 * np.finfo(np.float64).eps * max(abs(t0), abs(t1), 1.0)

    def field(tau: float, y: Tensor) -> Tensor:
        if abs(tau - t0) <= near:
            return fld(after, y)
        if abs(tau - t1) <= near:
            return fld(before, y)
        return fld(tau, y)

    field.base = fld  # type: ignore[attr-defined]  # implicit methods key Newton state on it
    return field


def _stage_times(method: RungeKutta, grid: list[float]) -> list[float]:
    """Every time a fixed-grid solve evaluates ``func`` at, computed exactly as the step
    computes them (``t + c_i * dt``), plus the grid points (``f(t1, y1)``, events)."""
    cs = list(method.tableau.c)
    out = list(grid)
    for t, t_new in itertools.pairwise(grid):
        dt = t_new - t
        out.extend(t + c * dt for c in cs)
    return list(dict.fromkeys(out))


def integrate_fixed(
    fld: CountingField,
    method: RungeKutta,
    y0: Tensor,
    k0: Tensor,
    t_out: list[float],
    grid: list[float],
    event_fn: EventFn | None = None,
    dense: bool = False,
    perturb: bool = False,
    on_step: Callable[[Tensor, Tensor, Tensor], object] | None = None,
) -> RawSolution:
    """Steps along ``grid`` (``grid[0] == t_out[0]``, ``grid[-1] == t_out[-1]``).

    Outputs at requested times between grid points come from cubic Hermite interpolation
    (or the method's own continuous extension); times on the grid return the grid value.
    With ``perturb``, every step samples ``func`` just inside its own ends (see
    :func:`_one_sided`; ``k0`` must then be the evaluation just after ``grid[0]``), so a
    field with jumps on the grid points is integrated on the correct side of each.
    """
    t0, t_end = t_out[0], t_out[-1]
    d = 1.0 if t_end > t0 else -1.0
    raw = RawSolution(ys=[y0], steps=[] if dense else None)
    events = _EventTracker(event_fn, fld, t0, y0) if event_fn is not None else None
    idx = 1
    n_out = len(t_out)
    fsal, always_f1 = method.fsal, dense or events is not None
    # Hermite outputs strictly inside a step need f(t1, y1) (see _needs_f1)
    hermite_f1 = not fsal and method.dense_weights is None
    preload = fld.preloads
    step = method.step
    t, y, k = t0, y0, k0
    for i, t_new in enumerate(grid[1:]):
        if preload and i % PRELOAD_STEPS == 0:
            fld.preload(_stage_times(method, grid[i : i + PRELOAD_STEPS + 1]))
        dt = t_new - t
        step_fld = _one_sided(fld, t, t_new) if perturb else fld
        if on_step is not None:
            on_step(fld.time(t), y, fld.time(dt))
        if k is None:
            k = step_fld(t, y)
        y1, ks = step(step_fld, t, y, dt, k)
        if fsal:
            f1 = ks[-1]
        elif always_f1 or (hermite_f1 and idx < n_out and (t_out[idx] - t_new) * d < 0.0):
            f1 = step_fld(t_new, y1)
        else:
            f1 = None
        raw.n_accepted += 1
        if events is not None:
            hit = events.check(method, t, dt, y, y1, ks, f1)
            if hit is not None:
                raw.event_t, raw.event_y = hit
                _emit_outputs(
                    raw, t_out, idx, method, t, hit[0], d, y, hit[1], ks, f1, step=(dt, y1)
                )
                break
        if idx < n_out and (t_out[idx] - t_new) * d <= 0.0:
            idx = _emit_outputs(raw, t_out, idx, method, t, t_new, d, y, y1, ks, f1)
        if raw.steps is not None:
            raw.steps.append(StepRecord(t, dt, y, y1, ks, f1))
        t, y, k = t_new, y1, None if perturb else f1
    raw.initial_step = abs(grid[1] - grid[0])
    raw.last_step = abs(grid[-1] - grid[-2])
    return raw


def integrate_adaptive(
    fld: CountingField,
    method: RungeKutta,
    y0: Tensor,
    k0: Tensor,
    t_out: list[float],
    cfg: AdaptiveConfig,
    event_fn: EventFn | None = None,
    dense: bool = False,
) -> RawSolution:
    """Adaptive stepping with an embedded error estimate and a PI controller.

    Every step ends on ``t_end`` exactly when it would pass it, and on any time listed in
    ``step_t``/``jump_t``; after a ``jump_t`` time the first stage is re-evaluated just
    past the discontinuity. Raises MaxStepsReached, StepSizeUnderflow or NonFiniteState,
    and StiffnessDetected from Hairer's test (``cfg.stiffness_check``; explicit pairs whose
    last two stages share a node, see :mod:`odenet.solvers.stiffness`).
    """
    t0, t_end = t_out[0], t_out[-1]
    d = 1.0 if t_end > t0 else -1.0
    ctrl = cfg.controller
    q = method.error_exponent_order
    rtol, atol, norm = cfg.rtol, cfg.atol, cfg.norm
    raw = RawSolution(ys=[y0], steps=[] if dense else None)
    events = _EventTracker(event_fn, fld, t0, y0) if event_fn is not None else None
    jumps = set(cfg.jump_t)
    forced = (*cfg.step_t, *cfg.jump_t)
    if method.interpolant_order < method.order - 1:
        forced = (*forced, *t_out)
    landings = sorted(
        {x for x in forced if (x - t0) * d > 0 and (t_end - x) * d > 0},
        key=lambda x: x * d,
    )
    landings.append(t_end)
    if cfg.first_step is not None:
        h = cfg.first_step
    else:
        h = initial_step_size(fld, t0, y0, k0, d, method.order, rtol, atol, norm)
    h = min(max(h, ctrl.dt_min), ctrl.dt_max)
    raw.initial_step = h
    span_scale = max(abs(t0), abs(t_end) if math.isfinite(t_end) else 0.0)  # t_end may be inf
    h_floor = max(ctrl.dt_min, 8 * np.finfo(np.float64).eps * span_scale)
    start_solve = getattr(method, "start_solve", None)  # implicit methods: Newton state
    if start_solve is not None:
        start_solve(fld, rtol, atol)
    with torch.no_grad():
        y_abs = y0.abs()
    stiff = StiffnessMonitor.for_method(method) if cfg.stiffness_check else None
    # the default RMS norm: two device operations fewer per step (see rms_ratio_scales)
    rms_scales = rms_ratio_scales(norm, rtol, atol, y0.dtype, y0.numel())
    t, y, k = t0, y0, k0
    idx, li, prev_ratio, rejected_last, nonfinite = 1, 0, 1.0, False, 0
    while True:
        if raw.n_accepted + raw.n_rejected >= cfg.max_steps:
            raise MaxStepsReached(t=t, dt=d * h, max_steps=cfg.max_steps, t_end=t_end)
        target = landings[li]
        remaining = (target - t) * d
        land = h >= remaining
        h_try = remaining if land else h
        dt = d * h_try
        t_new = target if land else t + dt
        if cfg.on_step is not None:
            cfg.on_step(fld.time(t), y, fld.time(dt))
        try:
            if land and target in jumps:
                y1, ks = method.step(_left_limit(fld, target, -d), t, y, dt, k)
            else:
                y1, ks = method.step(fld, t, y, dt, k)
        except NewtonConvergenceError:  # implicit methods: halve the step and retry
            raw.n_rejected += 1
            rejected_last = True
            h = h_try * 0.5
            if h < h_floor:
                raise
            continue
        with torch.no_grad():
            y1_abs = y1.abs()
            err = method.error_estimate(ks, dt)
            if rms_scales is None:
                ratio_t, scale = scaled_error_norm(err, y_abs, y1_abs, rtol, atol, norm), 1.0
            else:
                ratio_t = shifted_error_norm(err, y_abs, y1_abs, rms_scales[0])
                scale = rms_scales[1]
            if stiff is not None and stiff.wants(raw.n_accepted):  # read with the ratio
                ratio, *probe = torch.cat([ratio_t.double()[None], stiff.norms(ks, dt)]).tolist()
            else:
                ratio, probe = float(ratio_t), None
            ratio *= scale
        if not math.isfinite(ratio):
            raw.n_rejected += 1
            nonfinite += 1
            h = h_try * 0.25
            if nonfinite > MAX_NONFINITE_RETRIES or h < h_floor:
                raise NonFiniteState(t=t, dt=dt, detail=f" ({nonfinite} step retries)")
            rejected_last = True
            continue
        nonfinite = 0
        if ratio > 1.0:
            if cfg.on_reject is not None:
                cfg.on_reject(fld.time(t), y, fld.time(dt))
            raw.n_rejected += 1
            rejected_last = True
            h = h_try * ctrl.reject_factor(ratio, q)
            if h < h_floor:
                raise StepSizeUnderflow(t=t, dt=d * h)
            continue
        # accepted
        if cfg.on_accept is not None:
            cfg.on_accept(fld.time(t), y, fld.time(dt))
        raw.n_accepted += 1
        raw.last_step = h_try
        if probe is not None:
            stiff.update(*probe, h_try, t_new, dt, t_end, raw.n_accepted)  # type: ignore[union-attr]
        f1 = ks[-1] if method.fsal else None
        if f1 is None and (dense or events is not None or _needs_f1(method, t_out, idx, t_new, d)):
            f1 = fld(t_new, y1)
        if events is not None:
            hit = events.check(method, t, dt, y, y1, ks, f1)
            if hit is not None:
                raw.event_t, raw.event_y = hit
                _emit_outputs(
                    raw, t_out, idx, method, t, hit[0], d, y, hit[1], ks, f1, step=(dt, y1)
                )
                return raw
        idx = _emit_outputs(raw, t_out, idx, method, t, t_new, d, y, y1, ks, f1)
        if raw.steps is not None:
            raw.steps.append(StepRecord(t, dt, y, y1, ks, f1))
        factor = ctrl.accept_factor(ratio, prev_ratio, q)
        if rejected_last:
            factor = min(factor, 1.0)
        h_next = h_try * factor
        if land:
            h_next = max(h_next, h)  # a step shortened to land says nothing against h
            li += 1
        h = min(max(h_next, ctrl.dt_min), ctrl.dt_max)
        if li == len(landings):
            raw.next_step = h
            return raw
        prev_ratio = max(ratio, 1e-4)
        rejected_last = False
        t, y, y_abs = t_new, y1, y1_abs
        if land and t_new in jumps:
            k = fld(fld.nudge(t_new, d), y1)
        else:
            k = f1 if f1 is not None else fld(t_new, y1)
