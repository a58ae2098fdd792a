"""scipy_solver: scipy.integrate's solvers behind odeint; compared with solve_ivp called
directly, with exact solutions and with torchdiffeq's scipy_solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import odenet
from odenet.solvers import ScipySolver, get_method
from odenet.solvers.scipy_solver import SCIPY_SOLVERS
from tests.helpers import linear_problem

scipy_integrate = pytest.importorskip("scipy.integrate")

SOLVERS = sorted(SCIPY_SOLVERS)


def _linear():
    prob = linear_problem()
    a = prob.f(torch.tensor(0.0), torch.eye(4, dtype=torch.float64)).T  # f(y) = y @ A.T
    return prob, a.numpy()


@pytest.mark.parametrize("solver", SOLVERS)
def test_matches_solve_ivp_called_directly(solver: str) -> None:
    prob, a = _linear()
    t = torch.linspace(0.0, 2.0, 9, dtype=torch.float64)
    ours = odenet.odeint(prob.f, prob.y0, t, method=ScipySolver(solver), rtol=1e-8, atol=1e-10)
    shape = prob.y0.shape
    ref = scipy_integrate.solve_ivp(
        lambda _, y: (y.reshape(shape) @ a.T).reshape(-1),
        (0.0, 2.0),
        prob.y0.numpy().reshape(-1),
        method=solver,
        t_eval=t.numpy(),
        rtol=1e-8,
        atol=1e-10,
    )
    expected = torch.from_numpy(ref.y.T).reshape(9, *shape)
    # the same steps: agreement to rounding (torch's and NumPy's matmul round differently,
    # 1.5e-13 seen with DOP853; a different step sequence differs by ~1e-9). LSODA keeps
    # Fortran state: agreement to its internal rounding
    tol = 1e-10 if solver == "LSODA" else 1e-12
    torch.testing.assert_close(ours, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("solver", SOLVERS)
def test_accuracy_against_the_exact_solution(solver: str) -> None:
    prob, _ = _linear()
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    sol = odenet.solve(prob.f, prob.y0, t, method=ScipySolver(solver), rtol=1e-9, atol=1e-11)
    err = float((sol.ys - prob.exact(t)).abs().max())
    assert err < 1e-6, f"{solver}: error {err:.2e}"
    assert sol.stats.n_accepted > 0 and sol.stats.nfe > sol.stats.n_accepted
    assert sol.status == "success" and sol.dense is None


def test_time_dependent_field_backwards_float32_and_tuple_state() -> None:
    # y' = cos(t) from y(2) = 1, solved backwards to t = 0: y = 1 + sin(t) - sin(2)
    y0 = torch.tensor([1.0], dtype=torch.float32)
    t = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float32)
    ys = odenet.odeint(lambda t, y: torch.cos(t).expand_as(y), y0, t, method="scipy_solver")
    assert ys.dtype == torch.float32 and ys.device == y0.device
    expected = 1.0 + torch.sin(t) - math.sin(2.0)
    torch.testing.assert_close(ys[:, 0], expected, rtol=1e-5, atol=1e-5)
    # a tuple state (x, v) of the harmonic oscillator: x = cos(t)
    state = (torch.tensor([1.0], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64))
    tt = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    xs, vs = odenet.odeint(
        lambda t, s: (s[1], -s[0]), state, tt, method=ScipySolver("DOP853"), rtol=1e-10, atol=1e-12
    )
    torch.testing.assert_close(xs[:, 0], torch.cos(tt), rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(vs[:, 0], -torch.sin(tt), rtol=1e-8, atol=1e-8)


def test_stiff_problem_with_a_stiff_solver() -> None:
    """y' = -1000 (y - cos t): Radau/BDF take few steps where RK45 needs hundreds."""
    y0 = torch.tensor([0.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -1000.0 * (y - torch.cos(t))

    stiff = odenet.solve(f, y0, t, method=ScipySolver("Radau"), rtol=1e-6, atol=1e-9)
    explicit = odenet.solve(f, y0, t, method=ScipySolver("RK45"), rtol=1e-6, atol=1e-9)
    # quasi-stationary solution y ~ (1e6 cos t + 1e3 sin t) / (1e6 + 1)
    exact = (1e6 * math.cos(1.0) + 1e3 * math.sin(1.0)) / (1e6 + 1.0)
    assert float(stiff.ys[-1, 0]) == pytest.approx(exact, abs=1e-6)
    assert stiff.stats.n_accepted * 5 < explicit.stats.n_accepted


@pytest.mark.filterwarnings("ignore:The following arguments have no effect")  # torchdiffeq's
def test_agrees_with_torchdiffeq_scipy_solver() -> None:
    torchdiffeq = pytest.importorskip("torchdiffeq")
    prob, _ = _linear()
    t = torch.linspace(0.0, 1.0, 6, dtype=torch.float64)
    for solver in ("RK45", "Radau"):
        ref = torchdiffeq.odeint(
            prob.f, prob.y0, t, method="scipy_solver", options={"solver": solver},
            rtol=1e-8, atol=1e-10,
        )  # fmt: skip
        ours = odenet.odeint(prob.f, prob.y0, t, method=ScipySolver(solver), rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(ours, ref, rtol=1e-13, atol=1e-13)


def test_options_first_step_max_step_and_max_steps() -> None:
    prob, _ = _linear()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    sol = odenet.solve(prob.f, prob.y0, t, method=ScipySolver("RK45"), first_step=1e-4)
    assert sol.stats.initial_step == pytest.approx(1e-4)
    capped = odenet.solve(prob.f, prob.y0, t, method=ScipySolver("RK45", max_step=0.01))
    assert capped.stats.n_accepted >= 100
    with pytest.raises(odenet.MaxStepsReached):
        odenet.solve(prob.f, prob.y0, t, method="scipy_solver", max_steps=3)


class _Field(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 4).double()

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.layer(y)


def test_refuses_inputs_that_ask_for_gradients() -> None:
    prob, _ = _linear()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    y0 = prob.y0.clone().requires_grad_()
    with pytest.raises(ValueError, match="cannot give gradients, but y0 require grad"):
        odenet.odeint(prob.f, y0, t, method="scipy_solver")
    with pytest.raises(ValueError, match="but t require grad"):
        odenet.odeint(prob.f, prob.y0, t.clone().requires_grad_(), method="scipy_solver")
    field = _Field()
    with pytest.raises(ValueError, match="the parameters of func"):
        odenet.odeint(field, prob.y0, t, method="scipy_solver")
    with pytest.raises(ValueError, match="does not support gradient='adjoint'"):
        odenet.odeint(prob.f, prob.y0, t, method="scipy_solver", gradient="adjoint")
    with torch.no_grad():  # the documented way: no graph wanted
        ys = odenet.odeint(field, y0, t, method="scipy_solver")
    assert not ys.requires_grad
    ys = odenet.odeint(prob.f, y0.detach(), t, method="scipy_solver")
    assert not ys.requires_grad
    with torch.no_grad():  # no gradient wanted: odeint_adjoint is a plain solve (torchdiffeq too)
        ys = odenet.odeint_adjoint(field, y0, t, method="scipy_solver")
    assert ys.shape == (2, *y0.shape)


def test_bad_arguments_name_the_fix() -> None:
    prob, _ = _linear()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"solver must be one of scipy's .* got solver='rk45'"):
        ScipySolver("rk45")
    with pytest.raises(ValueError, match="max_step must be a number >= 0"):
        ScipySolver(max_step=-1.0)
    with pytest.raises(ValueError, match="max_step must exceed min_step"):
        ScipySolver(min_step=0.5, max_step=0.1)
    with pytest.raises(ValueError, match=r"options\['norm'\] is not supported by"):
        odenet.odeint(prob.f, prob.y0, t, method="scipy_solver", options={"norm": max})
    with pytest.raises(ValueError, match=r"step_size=0\.1 is not supported"):
        odenet.odeint(prob.f, prob.y0, t, method="scipy_solver", step_size=0.1)
    with pytest.raises(ValueError, match="does not support event_fn"):
        odenet.odeint(prob.f, prob.y0, t, method="scipy_solver", event_fn=lambda t, y: y.sum())
    with pytest.raises(ValueError, match="explicit Runge--Kutta methods only"):
        odenet.odeint(prob.f, prob.y0, t, method="scipy_solver", batch_mode="independent")


def test_registered_with_capabilities() -> None:
    m = get_method("scipy_solver")
    assert isinstance(m, ScipySolver) and m.solver == "LSODA"  # torchdiffeq's default
    assert m.adaptive and not m.differentiable and not m.gradients and m.reference
    assert ScipySolver("RK45") == ScipySolver("RK45") != ScipySolver("BDF")
    assert ScipySolver("DOP853").order == 8
    assert np.isinf(m.max_step)
