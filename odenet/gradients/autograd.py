"""``gradient="autograd"`` (the default): backpropagate through the solver's operations.

Discretise-then-optimise: the gradient is exact for the discrete solution; the graph keeps
every stage of every step, so memory grows linearly with the number of steps. Without
``t`` requiring grad this is ``odenet.solve``'s own path; when ``t`` requires grad the same
loops run with the time terms of :mod:`odenet.solving.time_grad` attached.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..solving.solution import Solution
from ..solving.strategy import GradientStrategy, Problem
from ..solving.time_grad import attach_output_times, attach_start_time, wants_time_grad
from ._loop import build_solution, dense_output, integrate_rk, plan_rk, stats_from_raw

__all__ = ["Autograd"]


class Autograd(GradientStrategy):
    """Plain backpropagation through every step (memory ``O(n_steps)``)."""

    name = "autograd"
    supports_events = True

    def takes_over(self, method: object, t: Tensor, event_fn: object) -> bool:
        self.check(method, event_fn)
        # with event_fn, solve()'s own path attaches the time terms and the event's gradient
        return wants_time_grad(t) and event_fn is None

    def solve(self, problem: Problem) -> Solution:
        plan = plan_rk(problem)
        y0 = attach_start_time(problem.t, problem.flat.y0, problem.field)
        raw, nfe = integrate_rk(
            problem.field, y0, problem.times, problem.t.dtype, plan, problem.dense
        )
        ys = attach_output_times(problem.t, torch.stack(raw.ys), problem.field)
        return build_solution(
            problem, ys, stats_from_raw(raw, nfe), dense_output(problem, raw, plan)
        )
