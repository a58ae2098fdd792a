"""``gradient="reversible"``: backpropagation through the reversible Heun method in O(1) memory.

The forward pass runs :class:`~odenet.solvers.reversible_heun.ReversibleHeun` without a
graph and keeps only the final ``(y_N, z_N)``. The backward pass walks the steps in reverse:
it rebuilds ``(y_n, z_n)`` from ``(y_{n+1}, z_{n+1})`` with the algebraic inverse
(Kidger, Foster, Li & Lyons 2021, Section 3 and Appendix), evaluates ``f(t_n, z_n)`` once
with a graph, and applies the exact adjoint of the step:

    B_f = A_f + dt/2 A_y                  (total adjoint of f(t_{n+1}, z_{n+1}))
    B_z = A_z + (∂f/∂z)^T B_f,  A_θ += (∂f/∂θ)^T B_f
    A_y <- A_y + 2 B_z,  A_z <- -B_z,  A_f <- dt/2 A_y + dt B_z

so the gradient is that of the discrete forward solution (equal to autograd through the same
steps, to rounding of the reconstruction). Cost: one evaluation and one vector-Jacobian
product per step backward; memory does not grow with the number of steps.

The step grid is the fixed grid of ``step_size``/``n_steps`` with every output time added
as a grid point (reversible Heun has no dense output).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from ..solvers.field import CountingField
from ..solvers.reversible_heun import ReversibleHeun, reverse_y, reverse_z
from ..solving._checks import fixed_grid, merge_options
from ..solving.solution import Solution, Stats
from ..solving.strategy import GradientStrategy, Problem, find_params, method_name
from ..solving.time_grad import attach_output_times, attach_start_time
from ._loop import build_solution, check_finite

__all__ = ["Reversible", "integrate_reversible_heun", "reversible_grid"]

Field = Callable[[float, Tensor], Tensor]


def reversible_grid(problem: Problem) -> tuple[list[float], list[int]]:
    """The step grid (uniform steps plus every output time) and each output's grid index.

    Uniform grid points within ``1e-9`` of a step of an output time are dropped so no
    step is vanishingly short.
    """
    method = ReversibleHeun()
    opts = merge_options(problem.options, method, **problem.explicit)  # type: ignore[arg-type]
    times = problem.times
    uniform = fixed_grid(opts, method, times[0], times[-1])  # type: ignore[arg-type]
    h = abs(uniform[1] - uniform[0])
    d = 1.0 if times[-1] > times[0] else -1.0
    outs = set(times)
    keep = [x for x in uniform if x in outs or min(abs(x - o) for o in times) > 1e-9 * h]
    grid = sorted(set(keep) | outs, key=lambda x: x * d)
    index = {x: n for n, x in enumerate(grid)}
    return grid, [index[x] for x in times]


def integrate_reversible_heun(
    field: Field, y0: Tensor, grid: list[float], out_idx: list[int]
) -> tuple[list[Tensor], tuple[Tensor, Tensor, Tensor]]:
    """Reversible Heun along ``grid`` from ``y0`` (differentiable when run with grad).

    Returns:
        The states at ``grid[out_idx[i]]`` and the final ``(y_N, z_N, f(t_N, z_N))``.
    """
    method = ReversibleHeun()
    wanted = set(out_idx)
    state = (y0, y0, field(grid[0], y0))
    by_index = {0: y0}
    for n in range(1, len(grid)):
        state = method.step(field, grid[n - 1], grid[n], state)
        if n in wanted:
            by_index[n] = state[0]
    return [by_index[n] for n in out_idx], state


@dataclass
class _Run:
    problem: Problem
    grid: list[float]
    out_idx: list[int]
    params: tuple[Tensor, ...]
    owner: Any = None
    nfe_forward: int = 0


class _ReversibleFunction(Function):
    @staticmethod
    def forward(ctx: Any, y0: Tensor, run: _Run, *params: Tensor) -> Tensor:  # type: ignore[override]
        fld = CountingField(run.problem.field, y0.dtype, y0.device)
        outs, (y_n, z_n, _) = integrate_reversible_heun(fld, y0, run.grid, run.out_idx)
        check_finite(outs, run.problem.times, run.grid[-1] - run.grid[-2])
        run.nfe_forward = fld.nfe
        ctx.run = run
        ctx.save_for_backward(y_n, z_n)
        return torch.stack(outs)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_ys: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        run: _Run = ctx.run
        y, z_n = ctx.saved_tensors
        grid, params = run.grid, run.params
        fld = CountingField(run.problem.field, y.dtype, y.device)
        out_at = {n: i for i, n in enumerate(run.out_idx)}
        grads: list[Tensor | None] = [None] * len(params)

        def vjp(f: Tensor, z: Tensor, w: Tensor) -> Tensor:
            res = torch.autograd.grad(f, [z, *params], w, allow_unused=True)
            for k, g in enumerate(res[1:]):
                if g is not None:
                    grads[k] = g if grads[k] is None else grads[k] + g
            return res[0] if res[0] is not None else torch.zeros_like(w)

        n = len(grid) - 1
        z = z_n.detach().requires_grad_(True)
        with torch.enable_grad():
            f = fld(grid[n], z)
        a_y = grad_ys[out_at[n]].clone()
        a_z = torch.zeros_like(a_y)
        a_f = torch.zeros_like(a_y)
        for n in range(len(grid) - 1, 0, -1):
            dt = grid[n] - grid[n - 1]
            b_z = a_z + vjp(f, z, a_f + a_y * (0.5 * dt))
            with torch.no_grad():
                f_d = f.detach()
                z_prev = reverse_z(y, z.detach(), f_d, dt).requires_grad_(True)
            with torch.enable_grad():
                f_prev = fld(grid[n - 1], z_prev)
            with torch.no_grad():
                y = reverse_y(y, f_prev.detach(), f_d, dt)
            a_y, a_z, a_f = a_y + 2.0 * b_z, -b_z, a_y * (0.5 * dt) + b_z * dt
            z, f = z_prev, f_prev
            if n - 1 in out_at:
                a_y = a_y + grad_ys[out_at[n - 1]]
        grad_y0 = a_y + a_z + vjp(f, z, a_f)
        if run.owner is not None:
            run.owner.nfe_backward = fld.nfe
        return (grad_y0, None, *grads)


@dataclass(eq=False)
class Reversible(GradientStrategy):
    """Backpropagation through reversible Heun with states rebuilt backwards (O(1) memory).

    Use with ``method="reversible_heun"`` and ``step_size`` or ``n_steps``.

    Args:
        params: tensors ``func`` depends on; default: the parameters of ``func`` when it is
            an ``nn.Module`` (else this argument is required when gradients are recorded).

    After a backward pass, ``nfe_backward`` holds the evaluations of ``func`` it made.
    """

    params: Sequence[Tensor] | None = None
    nfe_backward: int = field(default=0, init=False, repr=False)
    name = "reversible"

    def check(self, method: object, event_fn: object) -> None:
        if method_name(method) != "reversible_heun":
            raise ValueError(
                f"gradient='reversible' needs an algebraically reversible method; got "
                f"method={method!r}. Pass method='reversible_heun' (with step_size or "
                "n_steps), or keep your method and use gradient='checkpoint' (exact, "
                "O(sqrt(n)) memory) or gradient='adjoint'"
            )
        if event_fn is not None:
            raise ValueError(
                "event_fn is not supported with gradient='reversible'; drop event_fn or "
                "use gradient='autograd' with a Runge--Kutta method"
            )

    def solve(self, problem: Problem) -> Solution:
        grid, out_idx = reversible_grid(problem)
        recording = torch.is_grad_enabled()
        params = find_params(problem.func, self.params, self.name) if recording else ()
        run = _Run(problem, grid, out_idx, params, owner=self)
        y0 = attach_start_time(problem.t, problem.flat.y0, problem.field)
        ys = _ReversibleFunction.apply(y0, run, *params)
        ys = attach_output_times(problem.t, ys, problem.field)
        steps = len(grid) - 1
        h = abs(grid[1] - grid[0]) if steps else math.nan
        stats = Stats(run.nfe_forward, steps, 0, h, abs(grid[-1] - grid[-2]))
        return build_solution(problem, ys, stats)
