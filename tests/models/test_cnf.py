"""CNF: log-density of a linear field against the closed-form Gaussian; sampling; gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from odenet.models.cnf import CNF


class LinearField(nn.Module):
    """f(t, z) = z A^T: the flow z(t) = exp(A t) z(0) maps N(0, I) to N(0, e^{At} e^{A^T t})."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a.clone())

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return z @ self.a.T


A = torch.tensor([[-0.3, 0.8, 0.1], [-0.5, 0.2, 0.0], [0.3, -0.1, 0.4]], dtype=torch.float64)


def closed_form(x: torch.Tensor, t1: float) -> torch.Tensor:
    m = torch.linalg.matrix_exp(A * t1)
    cov = m @ m.T
    return torch.distributions.MultivariateNormal(torch.zeros(3, dtype=x.dtype), cov).log_prob(x)


def test_linear_field_log_prob_matches_gaussian() -> None:
    torch.manual_seed(0)
    cnf = CNF(dim=3, field=LinearField(A), t1=1.5, rtol=1e-10, atol=1e-10)
    x = torch.randn(16, 3, dtype=torch.float64) * 2
    assert torch.allclose(cnf.log_prob(x), closed_form(x, 1.5), rtol=0, atol=1e-8)
    with torch.no_grad():  # works without a graph too
        assert torch.allclose(cnf.log_prob(x), closed_form(x, 1.5), rtol=0, atol=1e-8)


def test_linear_field_hutchinson_is_unbiased() -> None:
    """For a linear field eps^T A eps is the same at every t; over n probes (rademacher) the
    mean log-density matches the exact one within 4 standard errors."""
    torch.manual_seed(0)
    cnf = CNF(dim=3, field=LinearField(A), trace="hutchinson", rtol=1e-8, atol=1e-8)
    x = torch.randn(1, 3, dtype=torch.float64).expand(4000, 3)
    with torch.no_grad():
        est = cnf.log_prob(x)
    exact = closed_form(x[:1], 1.0)
    se = est.std() / math.sqrt(len(est))
    assert est.std() > 0  # the estimator is random
    assert abs(est.mean() - exact) < 4 * se


def test_sampling_solves_forward() -> None:
    torch.manual_seed(0)
    cnf = CNF(dim=3, field=LinearField(A), t1=0.7, rtol=1e-10, atol=1e-10).double()
    z = torch.randn(5, 3, dtype=torch.float64)
    x = cnf.transform(z)
    assert torch.allclose(x, z @ torch.linalg.matrix_exp(A * 0.7).T, atol=1e-8)
    assert cnf.sample(7).shape == (7, 3)


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_mlp_cnf_gradients_reach_every_parameter(trace: str) -> None:
    torch.manual_seed(0)
    cnf = CNF(dim=2, hidden=8, num_hidden_layers=2, trace=trace, method="rk4", step_size=0.25)
    loss = -cnf.log_prob(torch.randn(6, 2)).mean()
    loss.backward()
    assert cnf.ode.nfe_forward == 16
    for name, p in cnf.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_shape_names_argument() -> None:
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        CNF(dim=2).log_prob(torch.randn(4, 3))


class ConstantField(nn.Module):
    """f = c: x = z + c t1, so log p(x) = log N(x - c t1; 0, I)."""

    def __init__(self, c: torch.Tensor) -> None:
        super().__init__()
        self.c = nn.Parameter(c.clone())

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.c.expand_as(z)


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_rnode_regularisers_of_constant_field(trace: str) -> None:
    c = torch.tensor([0.5, -1.0], dtype=torch.float64)
    cnf = CNF(dim=2, field=ConstantField(c), t1=2.0, trace=trace, method="rk4", step_size=0.5)
    x = torch.randn(5, 2, dtype=torch.float64)
    log_p, reg = cnf.log_prob_and_regularisation(x)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x - 2.0 * c).sum(1)
    assert torch.allclose(log_p, expected, atol=1e-12)
    assert torch.allclose(reg["kinetic"], torch.full((5,), 1.25 * 2.0, dtype=torch.float64))
    assert torch.equal(reg["jacobian"], torch.zeros(5, dtype=torch.float64))


def test_rnode_jacobian_of_linear_field_unbiased() -> None:
    """f = A z: the Jacobian term is t1 ||eps^T A||^2 with mean t1 ||A||_F^2."""
    torch.manual_seed(0)
    cnf = CNF(dim=3, field=LinearField(A), trace="exact", method="rk4", step_size=0.25)
    x = torch.randn(1, 3, dtype=torch.float64).expand(4000, 3)
    with torch.no_grad():
        _, reg = cnf.log_prob_and_regularisation(x)
    e_j = reg["jacobian"]
    assert abs(e_j.mean() - A.pow(2).sum()) < 4 * e_j.std() / math.sqrt(len(e_j))
    loss_model = CNF(dim=2, hidden=8, num_hidden_layers=1, method="rk4", step_size=0.5)
    log_p, reg = loss_model.log_prob_and_regularisation(torch.randn(4, 2))
    (-log_p.mean() + reg["kinetic"].mean() + reg["jacobian"].mean()).backward()
    for name, p in loss_model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
