"""Capability errors, torch.no_grad, unused parameters and dtypes for every strategy."""

from __future__ import annotations

import pytest
import torch

import odenet
from odenet.gradients import Adjoint, Checkpoint, Reversible, SavedTensorMeter
from tests.gradients.gradient_cases import TimeMLP, collect, initial_state, max_difference, scale

T = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
STRATEGIES = [
    ("autograd", {"method": "rk4", "n_steps": 20}),
    ("checkpoint", {"method": "rk4", "n_steps": 20}),
    ("adjoint", {"method": "rk4", "n_steps": 20}),
    ("reversible", {"method": "reversible_heun", "n_steps": 20}),
]
IDS = [s[0] for s in STRATEGIES]


def test_reversible_needs_reversible_heun() -> None:
    with pytest.raises(ValueError, match=r"method='reversible_heun'.*gradient='checkpoint'"):
        odenet.odeint(TimeMLP(), initial_state(), T, method="dopri5", gradient="reversible")


@pytest.mark.parametrize("gradient", [None, "autograd", "adjoint", "checkpoint"])
def test_reversible_heun_needs_reversible_gradient(gradient: str | None) -> None:
    with pytest.raises(ValueError, match=r"gradient='reversible'"):
        odenet.odeint(
            TimeMLP(), initial_state(), T, method="reversible_heun", n_steps=10, gradient=gradient
        )


def test_reversible_needs_a_step() -> None:
    with pytest.raises(ValueError, match="step_size"):
        odenet.odeint(
            TimeMLP(), initial_state(), T, method="reversible_heun", gradient="reversible"
        )


@pytest.mark.parametrize("gradient", ["adjoint", "checkpoint", "reversible"])
def test_parameters_must_be_findable(gradient: str) -> None:
    w = torch.ones(3, 3, dtype=torch.float64, requires_grad=True)
    method = "reversible_heun" if gradient == "reversible" else "rk4"
    with pytest.raises(ValueError, match=r"not an nn.Module.*params"):
        odenet.odeint(
            lambda t, y: y @ w, initial_state(), T, method=method, n_steps=5, gradient=gradient
        )


def test_odeint_adjoint_on_a_plain_function_names_adjoint_params() -> None:
    with pytest.raises(ValueError, match="adjoint_params"):
        odenet.odeint_adjoint(lambda t, y: -y, initial_state(), T)


@pytest.mark.parametrize("budget", [0, -3, 2.5, True, "4"])
def test_checkpoint_budget_must_be_a_positive_integer(budget: object) -> None:
    with pytest.raises(ValueError, match=r"budget must be a positive integer.*got budget="):
        Checkpoint(budget=budget)  # type: ignore[arg-type]


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match=r"'backsolve' is not a known strategy.*'adjoint'"):
        odenet.odeint(TimeMLP(), initial_state(), T, gradient="backsolve")
    with pytest.raises(TypeError, match="gradient must be None"):
        odenet.odeint(TimeMLP(), initial_state(), T, gradient=3)


@pytest.mark.parametrize("gradient", ["adjoint", "checkpoint"])
def test_events_only_with_autograd(gradient: str) -> None:
    y0 = initial_state()
    with pytest.raises(ValueError, match="event_fn is supported with gradient='autograd' only"):
        odenet.odeint(TimeMLP(), y0, T, gradient=gradient, event_fn=lambda t, y: y.sum() - 100.0)


def test_adjoint_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="adjoint rtol"):
        Adjoint(rtol=-1.0)
    with pytest.raises(ValueError, match="not a known method"):
        Adjoint(method="rk5")
    with pytest.raises(ValueError, match="give the backward step size"):
        odenet.odeint(TimeMLP(), initial_state(), T, gradient=Adjoint(method="rk4"))


@pytest.mark.parametrize(("gradient", "settings"), STRATEGIES, ids=IDS)
def test_no_grad_keeps_nothing(gradient: str, settings: dict) -> None:
    f = TimeMLP()
    y0 = initial_state().requires_grad_(True)
    with torch.no_grad(), SavedTensorMeter() as meter:
        ys = odenet.odeint(f, y0, T, gradient=gradient, **settings)
    assert not ys.requires_grad
    assert meter.packed == 0
    with_grad = odenet.odeint(f, y0, T, gradient=gradient, **settings)
    assert torch.equal(ys, with_grad.detach())


@pytest.mark.parametrize(("gradient", "settings"), STRATEGIES, ids=IDS)
def test_unused_parameters_like_autograd(gradient: str, settings: dict) -> None:
    class Field(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Parameter(torch.tensor(-0.7, dtype=torch.float64))
            self.zeroed = torch.nn.Parameter(torch.tensor(2.0, dtype=torch.float64))
            self.unused = torch.nn.Parameter(torch.tensor(3.0, dtype=torch.float64))

        def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.a * y + 0.0 * self.zeroed

    f = Field()
    ys = odenet.odeint(f, initial_state(), T, gradient=gradient, **settings)
    ys.sum().backward()
    assert f.unused.grad is None  # as autograd: never used, no gradient
    assert f.zeroed.grad is not None and float(f.zeroed.grad) == 0.0  # used, zero
    assert f.a.grad is not None and float(f.a.grad) != 0.0


@pytest.mark.parametrize(("gradient", "settings"), STRATEGIES, ids=IDS)
def test_float32(gradient: str, settings: dict) -> None:
    f64, f32 = TimeMLP(), TimeMLP(dtype=torch.float32)
    t32 = T.to(torch.float32)
    ref = collect(f64, initial_state(), T, gradient=gradient, **settings)
    got = collect(f32, initial_state(dtype=torch.float32), t32, gradient=gradient, **settings)
    assert got["y0"].dtype == torch.float32 and got["w1"].dtype == torch.float32
    got64 = {k: None if v is None else v.double() for k, v in got.items()}
    assert max_difference(got64, ref) <= 1e-5 * scale(ref)  # float32 rounding, relative


@pytest.mark.cuda
@pytest.mark.parametrize(("gradient", "settings"), STRATEGIES, ids=IDS)
def test_cuda_matches_cpu(gradient: str, settings: dict) -> None:
    ref = collect(TimeMLP(), initial_state(), T, gradient=gradient, **settings)
    got = collect(TimeMLP().cuda(), initial_state().cuda(), T.cuda(), gradient=gradient, **settings)
    got = {k: None if v is None else v.cpu() for k, v in got.items()}
    assert max_difference(got, ref) <= 1e-10


def test_solve_returns_stats_for_every_strategy() -> None:
    for gradient, settings in STRATEGIES:
        sol = odenet.solve(
            TimeMLP(), initial_state().requires_grad_(True), T, gradient=gradient, **settings
        )
        assert sol.stats.n_accepted == 20 and sol.ys.shape == (3, 4, 3)
        assert sol.stats.nfe >= 21
    sol = odenet.solve(
        TimeMLP(),
        initial_state(),
        T,
        method="reversible_heun",
        gradient=Reversible(),
        step_size=0.3,
    )
    assert sol.stats.n_accepted == 5  # grid 0, 0.3, 0.5 (output), 0.6, 0.9, 1.0


@pytest.mark.parametrize(("gradient", "settings"), STRATEGIES[1:], ids=IDS[1:])
def test_second_derivatives_are_refused_not_wrong(gradient: str, settings: dict) -> None:
    y0 = initial_state().requires_grad_(True)
    ys = odenet.odeint(TimeMLP(), y0, T, gradient=gradient, **settings)
    (g,) = torch.autograd.grad(ys.square().sum(), y0, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()
