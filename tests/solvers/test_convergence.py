"""Empirical order of convergence: halve the step, the log-log slope matches the order."""

from __future__ import annotations

import pytest
import torch

import odenet
from odenet.solvers import get_method
from odenet.solvers.field import CountingField
from odenet.solvers.integrate import integrate_fixed
from tests.helpers import ALL_METHODS, FIXED_METHODS, linear_problem, log_slope, riccati_problem


# (problem, step counts over [0, t1]) per order, chosen so errors stay in the asymptotic
# range and far above float64 rounding. dopri8 is checked on the nonlinear problem only: on a
# linear problem its stability polynomial matches exp to one more degree and the slope is 9.
def _riccati_long():
    return riccati_problem(y0_value=0.5, t1=1.6)


def _riccati_near_pole():
    return riccati_problem(y0_value=1.0, t1=0.9)


CASES = {
    1: [(linear_problem, [16, 32, 64, 128, 256]), (riccati_problem, [16, 32, 64, 128, 256])],
    2: [(linear_problem, [16, 32, 64, 128, 256]), (riccati_problem, [16, 32, 64, 128, 256])],
    3: [(linear_problem, [8, 16, 32, 64, 128]), (riccati_problem, [8, 16, 32, 64, 128])],
    4: [(linear_problem, [8, 16, 32, 64, 128]), (riccati_problem, [8, 16, 32, 64, 128])],
    # tsit5 minimises its fifth-order error terms, so on y' = y^2 its slope is still ~5.8 at
    # the steps float64 can resolve; the nonlinear check for order 5 is dopri5's, below.
    5: [(linear_problem, [8, 16, 32, 64])],
    8: [(_riccati_long, [12, 16, 24, 32, 48])],
}


def _fixed_step_error(name: str, n: int, problem_fn) -> float:
    prob = problem_fn()
    method = get_method(name)
    t = torch.tensor([0.0, prob.t1], dtype=torch.float64)
    fld = CountingField(prob.f, t.dtype, prob.y0.device)
    grid = [prob.t1 * k / n for k in range(n + 1)]
    raw = integrate_fixed(fld, method, prob.y0, fld(0.0, prob.y0), [0.0, prob.t1], grid)
    return float((raw.ys[-1] - prob.exact(t)[-1]).abs().max())


@pytest.mark.parametrize(("name", "order"), ALL_METHODS)
def test_order_of_convergence(name: str, order: int) -> None:
    """Every method, adaptive ones included, run on a fixed grid of halving steps."""
    for problem_fn, levels in CASES[order]:
        errs = [_fixed_step_error(name, n, problem_fn) for n in levels]
        slope = log_slope([1.0 / n for n in levels], errs)
        assert abs(slope - order) <= 0.3, f"{name}: slope {slope:.3f}, errors {errs}"


def test_dopri5_order_on_a_nonlinear_problem() -> None:
    levels = [16, 32, 64, 128]
    errs = [_fixed_step_error("dopri5", n, _riccati_near_pole) for n in levels]
    slope = log_slope([1.0 / n for n in levels], errs)
    assert abs(slope - 5) <= 0.3, f"slope {slope:.3f}, errors {errs}"


@pytest.mark.parametrize(("name", "order"), FIXED_METHODS)
def test_public_api_step_size_matches_n_steps(name: str, order: int) -> None:
    prob = linear_problem()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    a = odenet.odeint(prob.f, prob.y0, t, method=name, step_size=1 / 32)
    b = odenet.odeint(prob.f, prob.y0, t, method=name, n_steps=32)
    torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)
    err = float((a[-1] - prob.exact(t)[-1]).abs().max())
    assert err < 5.0 * (1 / 32) ** order


def test_last_step_lands_on_t_end_when_span_is_not_a_multiple() -> None:
    prob = linear_problem()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    sol = odenet.solve(prob.f, prob.y0, t, method="rk4", step_size=0.3)
    assert sol.stats.n_accepted == 4  # 0, .3, .6, .9, 1.0
    assert sol.stats.last_step == pytest.approx(0.1)
    assert float((sol.ys[-1] - prob.exact(t)[-1]).abs().max()) < 1e-3
