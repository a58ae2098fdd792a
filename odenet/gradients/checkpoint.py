"""``gradient="checkpoint"``: backpropagation with recomputation from stored states.

Discretise-then-optimise like autograd, with the memory of the sublinear scheme of
Chen, Xu, Zhang & Guestrin, "Training deep nets with sublinear memory cost" (2016), the
approach of diffrax's ``RecursiveCheckpointAdjoint``. The forward pass runs the solver
core's loop without a graph and records the accepted steps ``(t_j, dt_j)`` (Python floats)
and the states at every ``stride``-th step. The stride doubles whenever more states are
kept than allowed -- ``budget`` states, or by default the stride itself, which keeps about
``sqrt(n)`` states for ``n`` steps without knowing ``n`` in advance (adaptive solves).
The backward pass replays one segment at a time from its stored state with the same steps,
stages and interpolation, and backpropagates through it. Memory saved for backward:
``O(sqrt(n))`` states plus one segment's graph; cost: one extra forward evaluation per step.
The gradients equal autograd's to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from ..solvers import RungeKutta
from ..solvers.field import CountingField
from ..solving._checks import check_options
from ..solving.solution import Solution, Stats
from ..solving.strategy import GradientStrategy, Problem, find_params
from ..solving.time_grad import attach_output_times, attach_start_time
from ._loop import Plan, build_solution, integrate_rk, plan_rk

__all__ = ["Checkpoint"]

Field = Callable[[Tensor, Tensor], Tensor]


class StepRecorder:
    """Stands in for a :class:`RungeKutta` in the loop; records the accepted steps.

    A call ``step(field, t, y, dt, k0)`` from the same ``(t, y)`` as the previous call
    means the previous attempt was rejected (the adaptive loop retries from the same state),
    so it replaces the last record. States are kept at multiples of ``stride``.
    """

    def __init__(self, method: RungeKutta, budget: int | None) -> None:
        self.method = method
        self.budget = budget
        self.starts: list[float] = []
        self.dts: list[float] = []
        self.states: dict[int, Tensor] = {}
        self.stride = 1
        self._last_y: Tensor | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["method"], name)

    def step(
        self, fld: Callable[[float, Tensor], Tensor], t: float, y: Tensor, dt: float, k0: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        if self._last_y is y and self.starts and self.starts[-1] == t:
            self.dts[-1] = dt
        else:
            j = len(self.starts)
            self.starts.append(t)
            self.dts.append(dt)
            if j % self.stride == 0:
                self._keep(j, y)
        self._last_y = y
        return self.method.step(fld, t, y, dt, k0)

    def _keep(self, j: int, y: Tensor) -> None:
        self.states[j] = y
        while len(self.states) > (self.budget if self.budget is not None else self.stride):
            self.stride *= 2
            self.states = {i: s for i, s in self.states.items() if i % self.stride == 0}


@dataclass
class Replay:
    """Everything the backward pass needs to redo steps ``[a, b)`` exactly."""

    field: Field
    plan: Plan
    t_dtype: torch.dtype
    starts: list[float]
    dts: list[float]
    ends: list[float]
    outputs: dict[int, list[tuple[int, float | None]]]  # step -> [(output index, theta)]
    jumps: frozenset[float]
    direction: float
    params: tuple[Tensor, ...]
    budget: int | None
    kept: list[int] = field(default_factory=list)
    nfe_forward: int = 0
    nfe_backward: int = 0
    n_rejected: int = 0
    initial_step: float = math.nan
    owner: Any = None  # the strategy, told ``nfe_backward`` after each backward

    def first_stage(self, fld: CountingField, a: int, y: Tensor) -> Tensor:
        """``k0`` of step ``a`` evaluated as the forward loop evaluated it."""
        solver = self.plan.solver
        t = self.starts[a]
        if a > 0 and t in self.jumps:
            return fld(float(np.nextafter(t, t + self.direction)), y)
        if a > 0 and solver.fsal:
            return fld(self.starts[a - 1] + solver.tableau.c[-1] * self.dts[a - 1], y)
        return fld(t, y)

    def left_of(self, fld: CountingField, t_jump: float) -> Callable[[float, Tensor], Tensor]:
        """``fld`` with times at or past ``t_jump`` moved one ulp before it (as the forward
        loop evaluates the step that lands on a discontinuity)."""
        before = float(np.nextafter(t_jump, t_jump - self.direction))

        def left(tau: float, y: Tensor) -> Tensor:
            return fld(before if (tau - before) * self.direction > 0 else tau, y)

        return left

    def run(
        self, y: Tensor, a: int, b: int, nfe: list[int]
    ) -> tuple[Tensor, list[tuple[int, Tensor]]]:
        """Redo steps ``a..b-1`` from ``y``: the end state and the outputs inside them."""
        solver = self.plan.solver
        fld = CountingField(self.field, y.dtype, y.device)
        k = self.first_stage(fld, a, y)
        outs: list[tuple[int, Tensor]] = []
        for j in range(a, b):
            t, t_new = self.starts[j], self.ends[j]
            # a step landing on a jump_t time ran on the left limit of func there
            stepper = self.left_of(fld, t_new) if t_new in self.jumps else fld
            y1, ks = solver.step(stepper, t, y, self.dts[j], k)
            f1 = ks[-1] if solver.fsal else None
            for i, theta in self.outputs.get(j, []):
                if theta is None:
                    outs.append((i, y1))
                    continue
                if f1 is None and solver.dense_weights is None:
                    f1 = fld(t_new, y1)
                outs.append((i, solver.interpolate(theta, y, y1, ks, t_new - t, f1)))
            if j + 1 < b:
                if t_new in self.jumps:
                    k = fld(float(np.nextafter(t_new, t_new + self.direction)), y1)
                else:
                    k = f1 if f1 is not None else fld(t_new, y1)
            y = y1
        nfe[0] += fld.nfe
        return y, outs


def map_outputs(
    times: list[float], starts: list[float], ends: list[float], d: float
) -> dict[int, list[tuple[int, float | None]]]:
    """For each output ``i >= 1``: the step that produced it and its ``theta`` (``None``: the
    step's end), with the rule of the loop's ``_emit_outputs``."""
    out: dict[int, list[tuple[int, float | None]]] = {}
    j = 0
    for i in range(1, len(times)):
        tau = times[i]
        while (tau - ends[j]) * d > 0.0:
            j += 1
        theta = None if tau == ends[j] else (tau - starts[j]) / (ends[j] - starts[j])
        out.setdefault(j, []).append((i, theta))
    return out


class _CheckpointFunction(Function):
    @staticmethod
    def forward(ctx: Any, y0: Tensor, problem: Problem, rep: Replay, *params: Tensor) -> Tensor:  # type: ignore[override]
        recorder = StepRecorder(rep.plan.solver, rep.budget)
        raw, nfe = integrate_rk(
            rep.field, y0, problem.times, rep.t_dtype, rep.plan, solver=recorder
        )
        rep.starts, rep.dts = recorder.starts, recorder.dts
        rep.ends = [*recorder.starts[1:], problem.times[-1]]
        rep.outputs = map_outputs(problem.times, rep.starts, rep.ends, rep.direction)
        rep.kept = sorted(recorder.states)
        rep.nfe_forward, rep.n_rejected, rep.initial_step = nfe, raw.n_rejected, raw.initial_step
        ctx.rep = rep
        ctx.save_for_backward(*(recorder.states[j] for j in rep.kept))
        return torch.stack(raw.ys)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_ys: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        rep: Replay = ctx.rep
        states = dict(zip(rep.kept, ctx.saved_tensors, strict=True))
        bounds = [*rep.kept, len(rep.starts)]
        adj = torch.zeros_like(grad_ys[0])
        grads: list[Tensor | None] = [None] * len(rep.params)
        nfe = [0]
        for s in reversed(range(len(rep.kept))):
            a, b = bounds[s], bounds[s + 1]
            with torch.enable_grad():
                y_a = states[a].detach().requires_grad_(True)
                y_b, outs = rep.run(y_a, a, b, nfe)
            roots = [y_b, *(o for _, o in outs)]
            weights = [adj, *(grad_ys[i] for i, _ in outs)]
            res = torch.autograd.grad(roots, [y_a, *rep.params], weights, allow_unused=True)
            adj = res[0] if res[0] is not None else torch.zeros_like(adj)
            for n, g in enumerate(res[1:]):
                if g is not None:
                    grads[n] = g if grads[n] is None else grads[n] + g
        rep.nfe_backward = nfe[0]
        if rep.owner is not None:
            rep.owner.nfe_backward = nfe[0]
        return (adj + grad_ys[0], None, None, *grads)


@dataclass(eq=False)
class Checkpoint(GradientStrategy):
    """Recompute-from-checkpoints backpropagation (gradients equal autograd's).

    Args:
        budget: most states to store (a positive integer; at least 1, the initial state).
            ``None`` keeps about ``sqrt(n)`` for ``n`` steps.
        params: tensors ``func`` depends on; default: the parameters of ``func`` when it is
            an ``nn.Module`` (else this argument is required).

    After a backward pass, ``nfe_backward`` holds the evaluations of ``func`` it made.
    """

    budget: int | None = None
    params: Sequence[Tensor] | None = None
    nfe_backward: int = field(default=0, init=False, repr=False)
    name = "checkpoint"

    def __post_init__(self) -> None:
        b = self.budget
        if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 1):
            raise ValueError(
                f"budget must be a positive integer (the most states to store) or None for "
                f"about sqrt(n_steps); got budget={b!r}"
            )

    def takes_over(self, method: object, t: Tensor, event_fn: object) -> bool:
        self.check(method, event_fn)
        return torch.is_grad_enabled()

    def solve(self, problem: Problem) -> Solution:
        plan = plan_rk(problem)
        params = find_params(problem.func, self.params, self.name)
        times = problem.times
        jumps = frozenset()
        if plan.solver.adaptive:
            jumps = frozenset(check_options(plan.opts, plan.solver, plan.rtol, plan.atol).jump_t)
        rep = Replay(
            field=problem.field,
            plan=plan,
            t_dtype=problem.t.dtype,
            starts=[],
            dts=[],
            ends=[],
            outputs={},
            jumps=jumps,
            direction=1.0 if times[-1] > times[0] else -1.0,
            params=params,
            budget=self.budget,
            owner=self,
        )
        y0 = attach_start_time(problem.t, problem.flat.y0, problem.field)
        ys = _CheckpointFunction.apply(y0, problem, rep, *params)
        ys = attach_output_times(problem.t, ys, problem.field)
        n = len(rep.starts)
        last = abs(rep.ends[-1] - rep.starts[-1]) if n else math.nan
        stats = Stats(rep.nfe_forward, n, rep.n_rejected, rep.initial_step, last)
        return build_solution(problem, ys, stats)
