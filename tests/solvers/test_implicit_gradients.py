"""Gradients through implicit stage solves (implicit differentiation) and the adjoint with
implicit methods: float64 gradcheck and agreement between strategies."""

from __future__ import annotations

import pytest
import torch

import odenet
from odenet.solvers import Kvaerno5

T = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)


def _field(w: torch.Tensor):
    # the -20 y term makes h|λ| = 5 at h = 0.25: far from the explicit regime, so a gradient
    # that skipped the (I - h γ J)^{-1} factor of implicit differentiation would be wrong
    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # t is 0-d (joint) or (B,) (independent batch mode)
        return torch.tanh(y @ w.T) - 20.0 * y + torch.sin(t).reshape(-1, 1)

    return f


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = (0.5 * torch.randn(3, 3, generator=g, dtype=torch.float64)).requires_grad_()
    y0 = torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_()
    return w, y0


@pytest.mark.parametrize("name", ["implicit_euler", "sdirk2", "trbdf2", "radauIIA3", "gl4"])
def test_gradcheck_fixed_grid(name: str) -> None:
    w, y0 = _inputs()

    def run(w: torch.Tensor, y0: torch.Tensor) -> torch.Tensor:
        return odenet.odeint(_field(w), y0, T, method=name, options={"step_size": 0.25})

    assert torch.autograd.gradcheck(run, (w, y0))


@pytest.mark.slow
def test_gradcheck_adaptive_kvaerno5() -> None:
    """The step sizes depend (continuously) on the inputs but are not differentiated, as
    for every adaptive method: agreement to the tolerance of the solve."""
    w, y0 = _inputs(1)
    y0 = y0[:1].detach().requires_grad_()
    method = Kvaerno5(newton_rtol=1e-12, newton_atol=1e-12)
    t = torch.tensor([0.0, 0.5], dtype=torch.float64)

    def run(w: torch.Tensor, y0: torch.Tensor) -> torch.Tensor:
        return odenet.odeint(_field(w), y0, t, method=method, rtol=1e-6, atol=1e-8)

    assert torch.autograd.gradcheck(run, (w, y0), atol=1e-5)


class _Field(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 3).double()

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(y)) - 20.0 * y


@pytest.mark.parametrize(
    ("name", "rtol"), [("kvaerno5", 1e-9), pytest.param("kvaerno3", 1e-7, marks=pytest.mark.slow)]
)
def test_adjoint_with_implicit_method_matches_autograd(name: str, rtol: float) -> None:
    """The adjoint solves its augmented system with the same implicit method (its field
    calls autograd, so the Newton Jacobian falls back to finite differences)."""
    torch.manual_seed(0)
    f = _Field()
    y0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    params = (y0, *f.parameters())
    grads = []
    for gradient in ("autograd", "adjoint"):
        out = odenet.odeint(f, y0, T, method=name, rtol=rtol, atol=rtol, gradient=gradient)
        grads.append(torch.autograd.grad((out**2).sum(), params))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e3 * rtol, atol=1e3 * rtol)


def test_independent_batch_gradient_matches_single_solves() -> None:
    w, y0 = _inputs(2)
    f = _field(w)
    out = odenet.solve(
        f, y0, T, method="kvaerno5", rtol=1e-6, atol=1e-8, batch_mode="independent"
    ).ys
    g_batch = torch.autograd.grad(out[-1].sum(), (w, y0))
    g_w = torch.zeros_like(w)
    g_y = torch.zeros_like(y0)
    for b in range(2):
        single = odenet.odeint(f, y0[b : b + 1], T, method="kvaerno5", rtol=1e-6, atol=1e-8)
        gw, gy = torch.autograd.grad(single[-1].sum(), (w, y0))
        g_w += gw
        g_y += gy
    torch.testing.assert_close(g_batch[0], g_w, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(g_batch[1], g_y, rtol=1e-5, atol=1e-7)
