"""Trace estimators and the kinetic / Jacobian-Frobenius regularisers (Finlay et al. 2020)."""

from __future__ import annotations

import math

import torch
from torch import nn

from odenet.nn import MLPField, RegularisedODEBlock, exact_trace, hutchinson_trace
from odenet.nn.trace import sample_noise


def test_exact_trace_matches_jacobian() -> None:
    torch.manual_seed(0)
    field = MLPField(4, hidden=7).double()
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(0.3, dtype=torch.float64)
    tr = exact_trace(field(t, x), x)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda xi: field(t, xi[None])[0], x[i].detach())
        assert torch.allclose(tr[i], torch.trace(jac), atol=1e-12)


def test_hutchinson_trace_unbiased_within_mc_error() -> None:
    torch.manual_seed(1)
    field = MLPField(5, hidden=16).double()
    t = torch.tensor(0.5, dtype=torch.float64)
    x0 = torch.randn(1, 5, dtype=torch.float64)
    n = 20000
    x = x0.expand(n, 5).clone().requires_grad_(True)
    x1 = x0.clone().requires_grad_(True)
    exact = exact_trace(field(t, x1), x1)[0]
    for kind in ("rademacher", "gaussian"):
        est = hutchinson_trace(field(t, x), x, sample_noise(x, kind), create_graph=False)
        se = est.std() / math.sqrt(n)
        assert est.std() > 0
        assert abs(est.mean() - exact) < 4 * se, kind


class ConstantField(nn.Module):
    def __init__(self, c: torch.Tensor) -> None:
        super().__init__()
        self.c = nn.Parameter(c)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.c.expand_as(x)


def test_kinetic_energy_of_constant_field() -> None:
    c = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64)
    block = RegularisedODEBlock(ConstantField(c), t_span=(0.0, 2.5), jacobian=True)
    x = torch.randn(4, 3, dtype=torch.float64)
    y, reg = block(x)
    assert torch.allclose(y, x + 2.5 * c)
    assert torch.allclose(
        reg["kinetic"], torch.full((4,), c.pow(2).sum().item() * 2.5, dtype=torch.float64)
    )
    assert torch.equal(reg["jacobian"], torch.zeros(4, dtype=torch.float64))  # J = 0


class LinearField(nn.Module):
    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x @ self.a.T


def test_jacobian_frobenius_of_linear_field_unbiased() -> None:
    """For f = A x, E_J = T ||eps^T A||^2 with E[.] = T ||A||_F^2."""
    torch.manual_seed(0)
    a = torch.tensor([[0.0, 0.3], [-0.4, 0.1]], dtype=torch.float64)
    # the integrand ||eps^T A||^2 is constant in time, so two Euler steps integrate it exactly
    block = RegularisedODEBlock(LinearField(a), t_span=(0.0, 2.0), method="euler", step_size=1.0)
    x = torch.randn(1, 2, dtype=torch.float64).expand(20000, 2)
    with torch.no_grad():
        _, reg = block(x)
    e_j = reg["jacobian"]
    target = 2.0 * a.pow(2).sum()
    assert abs(e_j.mean() - target) < 4 * e_j.std() / math.sqrt(len(e_j))


def test_regularisers_are_differentiable() -> None:
    torch.manual_seed(0)
    block = RegularisedODEBlock(MLPField(3, hidden=8), method="rk4", step_size=0.5)
    _, reg = block(torch.randn(5, 3))
    (reg["kinetic"].mean() + reg["jacobian"].mean()).backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert block.nfe_forward == 8
