"""Running the solver core's loops for a strategy, and packaging what they return.

The loop itself is :func:`odenet.solving._run.integrate_rk`, the one ``odenet.solve`` uses, so a
strategy's forward pass takes the same steps as the plain solve.
"""

from __future__ import annotations

from torch import Tensor

from ..solvers.integrate import RawSolution
from ..solving._checks import check_differentiable, check_method, merge_options
from ..solving._run import Plan, check_finite, dense_from_raw, integrate_rk, stats_from_raw
from ..solving.solution import DenseOutput, Solution, Stats
from ..solving.strategy import Problem

__all__ = [
    "Plan",
    "build_solution",
    "check_finite",
    "dense_output",
    "integrate_rk",
    "plan_rk",
    "stats_from_raw",
]


def plan_rk(problem: Problem) -> Plan:
    """Resolve ``problem.method`` and merge ``options`` with the keyword settings."""
    solver = check_method(problem.method)
    check_differentiable(solver, problem.flat.y0, problem.t, problem.func)
    opts = merge_options(problem.options, solver, **problem.explicit)
    return Plan(solver, opts, problem.rtol, problem.atol)


def build_solution(
    problem: Problem, ys: Tensor, stats: Stats, dense: DenseOutput | None = None
) -> Solution:
    """A :class:`Solution` from stacked flat outputs ``ys`` of shape ``(len(t), *flat)``."""
    return Solution(
        ts=problem.t, ys=problem.flat.unpack(ys), stats=stats, status="success", dense=dense
    )


def dense_output(problem: Problem, raw: RawSolution, plan: Plan) -> DenseOutput | None:
    """Dense output over the loop's recorded steps (``None`` when none were kept)."""
    return dense_from_raw(raw, plan.solver, problem.flat.unpack, problem.times)
