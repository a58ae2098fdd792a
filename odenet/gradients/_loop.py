"""Running the solver core's loops for a strategy, and packaging what they return.

These helpers call :func:`odenet.solvers.integrate.integrate_fixed` /
:func:`~odenet.solvers.integrate.integrate_adaptive` exactly as ``odenet.solve`` does, so a
strategy's forward pass takes the same steps as the plain solve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_method, check_options, check_output, fixed_grid, merge_options
from ..errors import NonFiniteState
from ..solution import DenseOutput, Solution, Stats
from ..solvers import RungeKutta
from ..solvers.field import CountingField
from ..solvers.integrate import RawSolution, integrate_adaptive, integrate_fixed
from .base import Problem

__all__ = ["Plan", "build_solution", "dense_output", "integrate_rk", "plan_rk", "stats_from_raw"]

Field = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Plan:
    """A resolved Runge--Kutta method with its merged options."""

    solver: RungeKutta
    opts: Mapping[str, object]
    rtol: float
    atol: float


def plan_rk(problem: Problem) -> Plan:
    """Resolve ``problem.method`` and merge ``options`` with the keyword settings."""
    solver = check_method(problem.method)
    opts = merge_options(problem.options, solver, **problem.explicit)
    return Plan(solver, opts, problem.rtol, problem.atol)


def integrate_rk(
    field: Field,
    y0: Tensor,
    times: list[float],
    t_dtype: torch.dtype,
    plan: Plan,
    dense: bool = False,
    solver: object = None,
) -> tuple[RawSolution, int]:
    """Solve ``field`` from ``y0`` at ``times`` with the solver core's loops.

    Args:
        field: ``field(t, y)`` on the flat state ``y`` (shape of ``y0``).
        solver: an object standing in for ``plan.solver`` (e.g. a step recorder).

    Returns:
        ``(raw, nfe)``: the loop's :class:`RawSolution` (``raw.ys``: one tensor per time)
        and the number of evaluations of ``field``.
    """
    method = plan.solver if solver is None else solver
    fld = CountingField(field, t_dtype, y0.device)
    k0 = fld(times[0], y0)
    check_output(k0, y0)
    if plan.solver.adaptive:
        cfg = check_options(plan.opts, plan.solver, plan.rtol, plan.atol)
        raw = integrate_adaptive(fld, method, y0, k0, times, cfg, None, dense)  # type: ignore[arg-type]
        return raw, fld.nfe
    grid = fixed_grid(plan.opts, plan.solver, times[0], times[-1])
    raw = integrate_fixed(fld, method, y0, k0, times, grid, None, dense)  # type: ignore[arg-type]
    check_finite(raw.ys, times, raw.last_step)
    return raw, fld.nfe


def check_finite(ys: list[Tensor], times: list[float], dt: float) -> None:
    """Fixed steps cannot shrink: raise NonFiniteState at the first non-finite output."""
    with torch.no_grad():
        if bool(torch.isfinite(ys[-1]).all()):
            return
        for i, y in enumerate(ys):
            if not bool(torch.isfinite(y).all()):
                raise NonFiniteState(t=times[i], dt=dt, detail=f" (first non-finite output t[{i}])")


def stats_from_raw(raw: RawSolution, nfe: int) -> Stats:
    """The :class:`Stats` of a loop's result."""
    return Stats(nfe, raw.n_accepted, raw.n_rejected, raw.initial_step, raw.last_step)


def build_solution(
    problem: Problem, ys: Tensor, stats: Stats, dense: DenseOutput | None = None
) -> Solution:
    """A :class:`Solution` from stacked flat outputs ``ys`` of shape ``(len(t), *flat)``."""
    return Solution(
        ts=problem.t, ys=problem.flat.unpack(ys), stats=stats, status="success", dense=dense
    )


def dense_output(problem: Problem, raw: RawSolution, plan: Plan) -> DenseOutput | None:
    """Dense output over the loop's recorded steps (``None`` when none were kept)."""
    if not raw.steps:
        return None
    d = 1.0 if problem.times[-1] > problem.times[0] else -1.0
    return DenseOutput(plan.solver, raw.steps, problem.flat.unpack, d)
