"""Training through SDEBlock recovers OU parameters; the OU helpers are exact."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from odenet.sde import SDEBlock
from odenet.sde.ou import OUParams, ou_mle, ou_sample_paths, path_moments

TRUE = OUParams(theta=1.5, mu=0.8, sigma=0.4)


def test_exact_sampler_transition_moments() -> None:
    """One step of ou_sample_paths from x0: mean mu + (x0 - mu) e^{-theta h}, variance
    sigma^2 (1 - e^{-2 theta h}) / (2 theta), both within 4.5 standard errors."""
    gen = torch.Generator().manual_seed(0)
    ts = torch.tensor([0.0, 0.7], dtype=torch.float64)
    x = ou_sample_paths(TRUE, torch.full((20000, 1), 2.0, dtype=torch.float64), ts, gen)[-1]
    a = math.exp(-TRUE.theta * 0.7)
    mean, var = TRUE.mu + (2.0 - TRUE.mu) * a, TRUE.sigma**2 * (1 - a * a) / (2 * TRUE.theta)
    n = x.numel()
    assert abs(float(x.mean()) - mean) < 4.5 * math.sqrt(var / n)
    assert abs(float(x.var()) - var) < 4.5 * var * math.sqrt(2 / (n - 1))


def test_mle_is_consistent() -> None:
    """Closed-form MLE on 4000 x 40 transitions: relative errors below 5%."""
    gen = torch.Generator().manual_seed(1)
    ts = torch.linspace(0, 4, 41, dtype=torch.float64)
    x0 = torch.randn(4000, 1, generator=gen, dtype=torch.float64)
    est = ou_mle(ou_sample_paths(TRUE, x0, ts, gen), ts)
    for name in ("theta", "mu", "sigma"):
        assert abs(getattr(est, name) / getattr(TRUE, name) - 1) < 0.05, (name, est)


def test_path_moments_of_ou_closed_form() -> None:
    """Stationary OU: lag-h correlation e^{-theta h}, sd sigma / sqrt(2 theta)."""
    gen = torch.Generator().manual_seed(2)
    ts = torch.linspace(0, 0.5, 3, dtype=torch.float64)
    sd0 = TRUE.sigma / math.sqrt(2 * TRUE.theta)
    x0 = TRUE.mu + sd0 * torch.randn(50000, 1, generator=gen, dtype=torch.float64)
    m = path_moments(ou_sample_paths(TRUE, x0, ts, gen))
    mean, sd, corr = m[:3], m[3:6], m[6:]
    torch.testing.assert_close(mean, torch.full_like(mean, TRUE.mu), atol=4.5 * sd0 / 224, rtol=0)
    # SE of a Gaussian sample standard deviation ~ sd / sqrt(2 n).
    torch.testing.assert_close(sd, torch.full_like(sd, sd0), atol=4.5 * sd0 / 316, rtol=0)
    rho = math.exp(-TRUE.theta * 0.25)
    # SE of a correlation estimate ~ (1 - rho^2) / sqrt(n).
    torch.testing.assert_close(
        corr, torch.full_like(corr, rho), atol=4.5 * (1 - rho**2) / 224, rtol=0
    )


class LinearDrift(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(0.5))
        self.mu = nn.Parameter(torch.tensor(0.0))

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return self.theta * (self.mu - y)


class ConstantDiffusion(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.log_sigma = nn.Parameter(torch.tensor(0.0))

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return self.log_sigma.exp().expand_as(y)


def test_fit_recovers_ou_parameters() -> None:
    """Moment matching through torchsde from (theta, mu, sigma) = (0.5, 0, 1) recovers
    (1.5, 0.8, 0.4): theta and sigma within 10% relative, mu within 0.05 absolute.
    Trained with reversible Heun and its exact adjoint (the gradients equal backprop's, see
    test_reversible_heun_adjoint_equals_backprop)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(3)
    ts = torch.linspace(0.0, 2.0, 17)  # spacing 1/8: an exact multiple of dt in floating point
    x0 = -1.0 + 0.5 * torch.randn(2000, 1, generator=gen)
    data = ou_sample_paths(TRUE, x0, ts, gen)
    target = path_moments(data)
    mle = ou_mle(data, ts)
    drift, diffusion = LinearDrift(), ConstantDiffusion()
    block = SDEBlock(
        drift,
        diffusion,
        sde_type="stratonovich",
        method="reversible_heun",
        dt=1 / 32,
        adjoint=True,
        seed=4,
    )
    opt = torch.optim.Adam(block.parameters(), lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        # 400 model paths from the first 400 data initial values, common random numbers.
        loss = ((path_moments(block(x0[:400], ts)) - target) ** 2).sum()
        loss.backward()
        opt.step()
    theta, mu = drift.theta.item(), drift.mu.item()
    sigma = diffusion.log_sigma.exp().item()
    print(f"recovered: theta {theta:.3f} mu {mu:.3f} sigma {sigma:.3f} loss {loss:.2e}; {mle}")
    assert abs(theta / TRUE.theta - 1) < 0.10
    assert abs(mu - TRUE.mu) < 0.05
    assert abs(sigma / TRUE.sigma - 1) < 0.10
