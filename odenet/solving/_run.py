"""One place that runs the stepping loops: ``odenet.solve`` and every gradient strategy
call :func:`integrate_rk`, so a strategy's forward pass takes exactly the plain solve's steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import MaxStepsReached, NonFiniteState
from ..solvers import LoopMethod, Method
from ..solvers.field import CountingField
from ..solvers.integrate import RawSolution, integrate_adaptive, integrate_fixed
from ..solvers.interpolation import LinearOutputs
from ..solvers.method import LoopSettings
from ._checks import (
    FIXED_INTERPOLANTS,
    all_finite,
    check_options,
    check_output,
    check_precision,
    coarser_dtype,
    fixed_grid,
    step_hook,
)
from .solution import DenseOutput, Stats

__all__ = ["Plan", "check_finite", "dense_from_raw", "integrate_rk", "stats_from_raw"]

Field = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Plan:
    """A resolved method with its merged options and tolerances."""

    solver: Method
    opts: Mapping[str, object]
    rtol: float
    atol: float


def integrate_rk(
    field: Field,
    y0: Tensor,
    times: list[float],
    t_dtype: torch.dtype,
    plan: Plan,
    dense: bool = False,
    solver: object = None,
    event_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> tuple[RawSolution, int]:
    """Solve ``field`` from ``y0`` at ``times`` with the fixed or adaptive loop.

    A :class:`~odenet.solvers.LoopMethod` (Adams, scipy) runs its own loop instead, with
    the same grid (fixed-step) or tolerances (adaptive), events and dense output.

    Args:
        field: ``field(t, y)`` on the flat state ``y`` (shape of ``y0``); its first output is
            checked against ``y0``'s shape and dtype.
        solver: an object standing in for ``plan.solver`` in the loop (e.g. a step
            recorder); the plan's solver still decides fixed or adaptive.
        event_fn: terminal event on the flat state.

    Returns:
        ``(raw, nfe)``: the loop's :class:`RawSolution` and the evaluations of ``field``.
    """
    method = plan.solver if solver is None else solver
    fld = CountingField(field, y0.dtype, y0.device)
    perturb = bool(plan.opts.get("perturb", False))
    direction = 1.0 if times[-1] > times[0] else -1.0
    k0 = fld(fld.nudge(times[0], direction) if perturb else times[0], y0)
    check_output(k0, y0)
    if isinstance(plan.solver, LoopMethod):
        return _integrate_own_loop(fld, y0, k0, times, plan, dense, event_fn), fld.nfe
    if plan.solver.adaptive:
        check_precision(plan.rtol, y0.dtype)
        cfg = check_options(plan.opts, plan.solver, plan.rtol, plan.atol)
        raw = integrate_adaptive(fld, method, y0, k0, times, cfg, event_fn, dense)  # type: ignore[arg-type]
        _work_counts(raw, fld, method)
        return raw, fld.nfe
    grid = fixed_grid(plan.opts, plan.solver, times[0], times[-1], coarser_dtype(t_dtype, y0.dtype))
    interp = plan.opts.get("interp", "hermite")
    if interp not in FIXED_INTERPOLANTS:
        raise ValueError(f"options['interp'] must be one of {FIXED_INTERPOLANTS}; got {interp!r}")
    if interp == "linear":
        method = LinearOutputs(method)
    hook = step_hook(plan.opts, "on_step")
    raw = integrate_fixed(fld, method, y0, k0, times, grid, event_fn, dense, perturb, hook)  # type: ignore[arg-type]
    if interp == "linear":
        raw.interpolant = method
    _work_counts(raw, fld, method)
    check_finite(raw.ys, times, raw.last_step)
    if math.isinf(times[-1]) and raw.event_t is None:
        raise MaxStepsReached(
            t=grid[-1], dt=grid[-1] - grid[-2], max_steps=len(grid) - 1, t_end=times[-1]
        )
    return raw, fld.nfe


def _integrate_own_loop(
    fld: CountingField,
    y0: Tensor,
    k0: Tensor,
    times: list[float],
    plan: Plan,
    dense: bool,
    event_fn: Callable[[Tensor, Tensor], Tensor] | None,
) -> RawSolution:
    method: LoopMethod = plan.solver  # type: ignore[assignment]
    if method.adaptive:
        check_precision(plan.rtol, y0.dtype)
        check_options(plan.opts, method, plan.rtol, plan.atol)  # validates the values
        grid = None
    else:
        grid = fixed_grid(plan.opts, method, times[0], times[-1])  # type: ignore[arg-type]
    settings = LoopSettings(grid, plan.opts, plan.rtol, plan.atol)
    raw = method.solve_raw(fld, y0, k0, times, settings, dense, event_fn)
    check_finite(raw.ys, times, raw.last_step)
    if grid is not None and math.isinf(times[-1]) and raw.event_t is None:
        raise MaxStepsReached(
            t=grid[-1], dt=grid[-1] - grid[-2], max_steps=len(grid) - 1, t_end=times[-1]
        )
    return raw


def _work_counts(raw: RawSolution, fld: CountingField, method: object) -> None:
    """Jacobians and LU factorisations of an implicit method into ``raw``: counted on the
    field (Rosenbrock methods) or in the method's Newton statistics of this solve (implicit
    Runge--Kutta methods, ``last_stats``)."""
    raw.n_jacobians, raw.n_lu, fld.cache = fld.njac, fld.nlu, None
    newton = getattr(method, "last_stats", None)
    if newton is not None and not (fld.njac or fld.nlu):
        raw.n_jacobians = int(getattr(newton, "n_jacobians", 0))
        raw.n_lu = int(getattr(newton, "n_lu", 0))


def check_finite(ys: list[Tensor], times: list[float], dt: float) -> None:
    """Fixed steps cannot shrink: raise NonFiniteState at the first non-finite output."""
    with torch.no_grad():
        if all_finite(ys[-1]):
            return
        for i, y in enumerate(ys):
            if not all_finite(y):
                raise NonFiniteState(t=times[i], dt=dt, detail=f" (first non-finite output t[{i}])")


def stats_from_raw(raw: RawSolution, nfe: int) -> Stats:
    """The :class:`Stats` of a loop's result."""
    return Stats(
        nfe,
        raw.n_accepted,
        raw.n_rejected,
        raw.initial_step,
        raw.last_step,
        n_jacobians=raw.n_jacobians,
        n_lu=raw.n_lu,
    )


def dense_from_raw(
    raw: RawSolution,
    solver: Method,
    unpack: Callable[[Tensor], object],
    times: list[float],
) -> DenseOutput | None:
    """Dense output over the loop's recorded steps (``None`` when none were kept)."""
    if not raw.steps:
        return None
    d = 1.0 if times[-1] > times[0] else -1.0
    interpolant = getattr(raw, "interpolant", None)  # event_loop passes its own record
    interpolant = solver if interpolant is None else interpolant
    return DenseOutput(interpolant, raw.steps, unpack, d)  # type: ignore[arg-type]
