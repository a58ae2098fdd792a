"""Plain autograd through the solver: gradcheck in float64, against the exact gradient."""

from __future__ import annotations

import pytest
import torch

import odenet


@pytest.mark.parametrize(
    ("method", "kw"),
    [("rk4", {"step_size": 0.1}), ("dopri5", {}), ("tsit5", {}), ("euler", {"n_steps": 7})],
)
def test_gradcheck_y0_and_parameter(method: str, kw: dict) -> None:
    torch.manual_seed(0)
    a = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.4, 1.0], dtype=torch.float64)

    def fn(y0: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return odenet.odeint(
            lambda t, y: torch.tanh(y @ a), y0, t, method=method, rtol=1e-11, atol=1e-12, **kw
        )

    # adaptive: tight tolerances so that step choices move the finite differences < 1e-6
    assert torch.autograd.gradcheck(fn, (y0, a), eps=1e-4, atol=1e-5)


def test_gradient_matches_exact_derivative() -> None:
    """y' = k y: d y(1) / d k = y0 * exp(k), d y(1) / d y0 = exp(k)."""
    k = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y0 = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    ys = odenet.odeint(
        lambda t, y: k * y,
        y0,
        torch.tensor([0.0, 1.0], dtype=torch.float64),
        rtol=1e-10,
        atol=1e-12,
    )
    ys[-1].sum().backward()
    assert float(k.grad) == pytest.approx(2.0 * torch.exp(torch.tensor(0.7)).item(), rel=1e-7)
    assert float(y0.grad) == pytest.approx(torch.exp(torch.tensor(0.7)).item(), rel=1e-7)


def test_no_grad_keeps_no_graph() -> None:
    y0 = torch.ones(3, requires_grad=True)
    with torch.no_grad():
        ys = odenet.odeint(lambda t, y: -y, y0, torch.tensor([0.0, 1.0]))
    assert not ys.requires_grad
