"""The reversible Heun method itself: second order, exactly reversible, one evaluation per step."""

from __future__ import annotations

import itertools
import math

import torch

from odenet.gradients.checkpoint import StepRecorder
from odenet.solvers import RK4
from odenet.solvers.field import CountingField
from odenet.solvers.reversible_heun import ReversibleHeun
from tests.helpers import linear_problem


def _solve(n: int) -> tuple[torch.Tensor, int]:
    prob = linear_problem()
    fld = CountingField(prob.f, torch.float64, prob.y0.device)
    method = ReversibleHeun()
    state = (prob.y0, prob.y0, fld(0.0, prob.y0))
    for k in range(n):
        state = method.step(fld, k / n, (k + 1) / n, state)
    return state[0], fld.nfe


def test_second_order_convergence() -> None:
    exact = linear_problem().exact(torch.tensor([1.0], dtype=torch.float64))[0]
    errs = [float((_solve(n)[0] - exact).abs().max()) for n in (50, 100, 200, 400)]
    slopes = [math.log2(a / b) for a, b in itertools.pairwise(errs)]
    assert all(1.9 <= s <= 2.1 for s in slopes), slopes


def test_one_evaluation_per_step() -> None:
    assert _solve(37)[1] == 38  # f(t0, z0) plus one per step


def test_reverse_undoes_step_to_rounding() -> None:
    prob = linear_problem()
    fld = CountingField(prob.f, torch.float64, prob.y0.device)
    method = ReversibleHeun()
    start = (prob.y0, prob.y0 + 0.01, fld(0.0, prob.y0 + 0.01))
    state = start
    grid = [0.0, 0.1, 0.25, 0.3]
    for a, b in itertools.pairwise(grid):
        state = method.step(fld, a, b, state)
    for a, b in zip(grid[-2::-1], grid[:0:-1], strict=True):
        state = method.reverse(fld, b, a, state)
    for x, y in zip(state, start, strict=True):
        assert torch.allclose(x, y, rtol=0, atol=1e-14)


def test_step_recorder_keeps_about_sqrt_n_states() -> None:
    prob = linear_problem()
    fld = CountingField(prob.f, torch.float64, prob.y0.device)
    for n, budget in [(1000, None), (100, None), (1000, 5)]:
        rec = StepRecorder(RK4(), budget)
        y, k = prob.y0, fld(0.0, prob.y0)
        for j in range(n):
            y, _ks = rec.step(fld, j / n, y, 1 / n, k)
            k = fld((j + 1) / n, y)
        assert len(rec.starts) == n and min(rec.states) == 0
        kept = len(rec.states)
        if budget is None:
            assert math.sqrt(n) / 2 <= kept <= 2 * math.sqrt(n) + 1, (n, kept)
            assert rec.stride <= 2 * math.sqrt(n)  # replayed segments are short too
        else:
            assert kept <= budget
        assert all(i % rec.stride == 0 for i in rec.states)
