"""``gradient="adjoint"``: the continuous adjoint (optimise-then-discretise).

Chen, Rubanova, Bettencourt & Duvenaud, "Neural ordinary differential equations",
NeurIPS 2018, Section 2 and Appendix B. The forward pass solves without a graph and keeps
only the outputs. The backward pass solves the augmented system

    dy/dt = f(t, y),   da/dt = -a^T ∂f/∂y,   dg/dt = -a^T ∂f/∂θ

backwards from ``t_N`` to ``t_0`` with ``a(t_N) = dL/dy(t_N)`` and ``g(t_N) = 0``, one
interval at a time: at each output time ``t_i`` the adjoint jumps by ``dL/dy(t_i)`` and ``y``
is reset to the forward value. Then ``dL/dy0 = a(t_0)`` and ``dL/dθ = g(t_0)``. The error is
that of the backward solve (its own ``rtol``, ``atol`` and method), not zero: the gradient
converges to autograd's as the tolerances tighten.

``seminorm=True`` leaves the parameter channels ``g`` out of the error norm of the backward
solve (Kidger, Chen & Lyons, "'Hey, that's not an ODE': faster ODE adjoints via
seminorms", ICML 2021): ``g`` is a pure quadrature whose error does not feed back into the
dynamics, so controlling it costs steps without improving the gradient of ``y0``.

Cost: the backward makes one evaluation of ``func`` plus one vector-Jacobian product (for
``y`` and every parameter in a single ``torch.autograd.grad`` call) per stage. An adaptive
backward solve starts with the step size the forward controller proposed at ``t_N`` (when
method and tolerances are the forward ones) and each later interval with the one its
predecessor ended on, instead of Hairer's initial-step probe: the probe costs an evaluation
and, on the augmented state, proposes steps far below the forward's, which the controller
then needs several steps to grow out of (dopri5, MLP 256x32, rtol 1e-6: 86 -> 31 backward
evaluations).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from ..solvers import RungeKutta, rms_norm
from ..solving._checks import (
    ADAPTIVE_OPTIONS,
    STEP_HOOKS,
    check_method,
    check_tolerance,
    fixed_grid,
    merge_options,
)
from ..solving.solution import Solution
from ..solving.strategy import GradientStrategy, Problem, find_params
from ..solving.time_grad import attach_output_times, attach_start_time
from ._loop import Plan, build_solution, integrate_rk, plan_rk, stats_from_raw

__all__ = ["Adjoint"]

#: forward options carried over to an adaptive backward solve: all but the initial step and
#: the norm (the backward state is larger, so both are chosen afresh)
_CARRIED = tuple(sorted(ADAPTIVE_OPTIONS - {"first_step", "norm"} - STEP_HOOKS))


class AugmentedField:
    """``(y, a, g) -> (f, -a^T ∂f/∂y, -a^T ∂f/∂θ)`` on the concatenated vector.

    Layout of the 1-D state: ``y`` (``n`` entries, the flat state), ``a`` (``n``), then the
    flattened parameters in order. One ``torch.autograd.grad`` call per evaluation gives
    the products for ``y`` and every parameter together. ``used[k]`` records whether
    parameter ``k`` ever received a vector-Jacobian product (unused ones get ``None``
    gradients, like autograd).
    """

    def __init__(self, field: Any, shape: torch.Size, params: tuple[Tensor, ...]) -> None:
        self.field = field
        self.shape = shape
        self.n = math.prod(shape)
        self.params = params
        self.used = [False] * len(params)

    def __call__(self, t: Tensor, s: Tensor) -> Tensor:
        n = self.n
        with torch.enable_grad():
            y = s[:n].detach().reshape(self.shape).requires_grad_(True)
            f = self.field(t, y)
            a = s[n : 2 * n].reshape(self.shape)
            if f.requires_grad:
                vjps = torch.autograd.grad(f, (y, *self.params), -a, allow_unused=True)
            else:  # f depends on neither y nor the parameters (a pure forcing term)
                vjps = (None,) * (1 + len(self.params))
        parts = [f.detach().reshape(-1)]
        parts.append(
            torch.zeros(n, dtype=s.dtype, device=s.device)
            if vjps[0] is None
            else vjps[0].reshape(-1)
        )
        for k, (p, v) in enumerate(zip(self.params, vjps[1:], strict=True)):
            if v is None:
                parts.append(torch.zeros(p.numel(), dtype=s.dtype, device=s.device))
            else:
                self.used[k] = True
                parts.append(v.reshape(-1) if v.dtype == s.dtype else v.reshape(-1).to(s.dtype))
        return torch.cat(parts)


def seminorm(n_state: int) -> Any:
    """RMS norm over the ``y`` and ``a`` channels only (the first ``2 n_state`` entries)."""

    def norm(x: Tensor) -> Tensor:
        return rms_norm(x[: 2 * n_state])

    return norm


@dataclass
class _Run:
    problem: Problem
    forward: Plan
    backward: Plan
    params: tuple[Tensor, ...]
    seminorm: bool
    owner: Any = None
    raw: Any = None
    nfe_forward: int = 0


class _AdjointFunction(Function):
    @staticmethod
    def forward(ctx: Any, y0: Tensor, run: _Run, *params: Tensor) -> Tensor:  # type: ignore[override]
        p = run.problem
        raw, nfe = integrate_rk(p.field, y0, p.times, p.t.dtype, run.forward)
        run.raw, run.nfe_forward = raw, nfe
        ys = torch.stack(raw.ys)
        ctx.run = run
        ctx.save_for_backward(ys)
        return ys

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_ys: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        run: _Run = ctx.run
        (ys,) = ctx.saved_tensors
        p, params = run.problem, run.params
        aug = AugmentedField(p.field, ys.shape[1:], params)
        plan = run.backward
        if run.seminorm:
            opts = {**plan.opts, "norm": seminorm(aug.n)}
            plan = Plan(plan.solver, opts, plan.rtol, plan.atol)
        n_par = sum(q.numel() for q in params)
        g = torch.zeros(n_par, dtype=ys.dtype, device=ys.device)
        a = grad_ys[-1].reshape(-1)
        reuse = plan.solver.adaptive and "first_step" not in plan.opts
        fwd = run.forward
        same = (fwd.solver, fwd.rtol, fwd.atol) == (plan.solver, plan.rtol, plan.atol)
        first = run.raw.next_step if reuse and same else None
        nfe = 0
        for i in range(len(p.times) - 1, 0, -1):
            s = torch.cat([ys[i].reshape(-1), a, g])
            interval = plan
            if first is not None and math.isfinite(first):
                # start where the last solve's controller left off: no initial-step probe
                interval = Plan(plan.solver, {**plan.opts, "first_step": first}, plan.rtol,
                                plan.atol)  # fmt: skip
            raw, k = integrate_rk(aug, s, [p.times[i], p.times[i - 1]], p.t.dtype, interval)
            nfe += k
            first = raw.next_step if reuse else None
            end = raw.ys[-1]
            a = end[aug.n : 2 * aug.n] + grad_ys[i - 1].reshape(-1)
            g = end[2 * aug.n :]
        if run.owner is not None:
            run.owner.nfe_backward = nfe
        grads: list[Tensor | None] = []
        offset = 0
        for q, used in zip(params, aug.used, strict=True):
            piece = g[offset : offset + q.numel()]
            offset += q.numel()
            grads.append(piece.reshape(q.shape).to(q.dtype) if used else None)
        return (a.reshape(ys.shape[1:]), None, *grads)


@dataclass(eq=False)
class Adjoint(GradientStrategy):
    """The continuous adjoint of Chen et al. (2018): memory O(1) in the number of steps.

    Args:
        rtol, atol: tolerances of the backward solve (default: the forward ones).
        method: method of the backward solve (default: the forward one).
        options: options of the backward solve, as for ``odeint`` (default: the forward
            step-size controller settings; for a fixed-step method, the forward step size).
        params: tensors ``func`` depends on (default: the parameters of ``func`` when it is
            an ``nn.Module``; else required).
        seminorm: leave the parameter channels out of the backward error norm (Kidger et
            al. 2021); fewer backward steps at the same accuracy of ``dL/dy0``.

    After a backward pass, ``nfe_backward`` holds the evaluations of ``func`` it made (each
    also computes one vector-Jacobian product).
    """

    rtol: float | None = None
    atol: float | None = None
    method: str | RungeKutta | None = None
    options: Mapping[str, object] | None = None
    params: Sequence[Tensor] | None = None
    seminorm: bool = False
    nfe_backward: int = field(default=0, init=False, repr=False)
    name = "adjoint"

    def __post_init__(self) -> None:
        if self.rtol is not None:
            self.rtol = check_tolerance("adjoint rtol", self.rtol)
        if self.atol is not None:
            self.atol = check_tolerance("adjoint atol", self.atol)
        if self.method is not None:
            check_method(self.method)
        if self.options is not None and not isinstance(self.options, Mapping):
            raise TypeError(
                f"adjoint options must be a dict or None; got {type(self.options).__name__}"
            )
        if not isinstance(self.seminorm, bool):
            raise TypeError(f"seminorm must be True or False; got seminorm={self.seminorm!r}")

    def takes_over(self, method: object, t: Tensor, event_fn: object) -> bool:
        self.check(method, event_fn)
        return torch.is_grad_enabled()

    def backward_plan(self, problem: Problem, forward: Plan) -> Plan:
        """The method, options and tolerances of the backward solve."""
        solver = forward.solver if self.method is None else check_method(self.method)
        rtol = problem.rtol if self.rtol is None else self.rtol
        atol = problem.atol if self.atol is None else self.atol
        if self.options is not None:
            return Plan(solver, merge_options(self.options, solver), rtol, atol)
        if solver.adaptive:
            src = forward.opts if forward.solver.adaptive else {}
            return Plan(solver, {k: v for k, v in src.items() if k in _CARRIED}, rtol, atol)
        return Plan(solver, {"step_size": self._forward_step(problem, forward)}, rtol, atol)

    def _forward_step(self, problem: Problem, forward: Plan) -> float:
        opts = forward.opts
        if not forward.solver.adaptive and opts.get("step_size") is not None:
            return float(opts["step_size"])  # type: ignore[arg-type]
        if not forward.solver.adaptive and opts.get("n_steps") is not None:
            return abs(problem.times[-1] - problem.times[0]) / int(opts["n_steps"])  # type: ignore[call-overload]
        if not forward.solver.adaptive:  # neither step_size nor n_steps: fixed_grid names the fix
            fixed_grid(opts, forward.solver, problem.times[0], problem.times[-1])
            raise ValueError(
                "the forward solve steps on an explicit options['grid'], which the backward "
                "solve cannot reuse interval by interval; give the backward step size, e.g. "
                "Adjoint(options={'step_size': 0.01})"
            )
        raise ValueError(
            "the adjoint method is fixed-step but the forward solve is adaptive; give the "
            "backward step size, e.g. Adjoint(method='rk4', options={'step_size': 0.01})"
        )

    def solve(self, problem: Problem) -> Solution:
        forward = plan_rk(problem)
        params = find_params(problem.func, self.params, self.name, argument="adjoint_params")
        run = _Run(
            problem, forward, self.backward_plan(problem, forward), params, self.seminorm, self
        )
        y0 = attach_start_time(problem.t, problem.flat.y0, problem.field)
        ys = _AdjointFunction.apply(y0, run, *params)
        ys = attach_output_times(problem.t, ys, problem.field)
        return build_solution(problem, ys, stats_from_raw(run.raw, run.nfe_forward))
