"""The three branch scalings s = 1, 1/L, 1/sqrt(L), and the 1/sqrt(L) ResNet against its
SDE limit solved by torchsde (moments within Monte-Carlo error, |z| < 4.5)."""

from __future__ import annotations

import math

import pytest
import torch

from odenet.limits import (
    branch_scale,
    depth_limit_law,
    finite_depth_moments,
    mc_moments,
    resnet_diffusion_limit,
    simulate_random_resnet,
    two_sample_z,
)

Z = 4.5


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_scale_one_log_norm_grows_linearly_in_depth() -> None:
    """s = 1, linear, n = 64: E D_L = L E[log rho] exactly (iid block ratios), so the mean
    log-norm ratio grows linearly in L: check L = 8 and 32 against the quadrature."""
    n = 64
    x0 = torch.ones(n, dtype=torch.float64)
    means = []
    for depth, seed in ((8, 0), (32, 1)):
        d = simulate_random_resnet(
            x0, depth, "1", n_seeds=300, renormalise=True, generator=_gen(seed)
        ).log_ratio
        mc, exact = mc_moments(d), finite_depth_moments(n, depth, scale=1.0)
        assert mc.z_mean(exact.mean) < Z and mc.z_var(exact.var) < Z
        means.append(mc.mean)
    assert means[1] / means[0] == pytest.approx(4.0, rel=0.05)
    assert means[1] > 20  # ||x_32||^2 / ||x_0||^2 ~ e^{21}: blow-up


def test_scale_one_over_depth_converges_to_ode_limit() -> None:
    """s = 1/L with W_k = M + n^{-1/2} G_k (linear): E x_L = (I + M/L)^L x0 exactly, which
    tends to expm(M) x0 (the ODE x' = M x). For M = 0 the total variance across seeds is
    exactly ||x0||^2 ((1 + sigma^2/L^2)^L - 1) ~ sigma^2 ||x0||^2 / L -> 0."""
    n, depth = 4, 256
    gen = _gen(2)
    m = 0.8 * torch.randn(n, n, generator=gen, dtype=torch.float64) / math.sqrt(n)
    x0 = torch.randn(n, generator=gen, dtype=torch.float64)
    x = simulate_random_resnet(x0, depth, "1/L", n_seeds=2000, weight_mean=m, generator=gen).x
    exact = torch.linalg.matrix_power(torch.eye(n, dtype=torch.float64) + m / depth, depth) @ x0
    se = x.std(0) / math.sqrt(x.shape[0])
    assert bool(((x.mean(0) - exact).abs() < Z * se).all())
    ode = torch.linalg.matrix_exp(m) @ x0
    assert float((exact - ode).abs().max()) < 5.0 / depth
    # Spread shrinks like L^{-1/2} when M = 0: total variance at L vs the exact formula.
    for depth in (16, 256):
        x = simulate_random_resnet(x0, depth, "1/L", n_seeds=2000, generator=gen).x
        tot = ((x - x.mean(0)) ** 2).sum(-1)  # per-seed squared deviation, mean = total var
        mc = mc_moments(tot * x.shape[0] / (x.shape[0] - 1))
        target = float(x0 @ x0) * ((1 + 1 / depth**2) ** depth - 1)
        assert mc.z_mean(target) < Z, (depth, mc, target)


def test_branch_scale_names() -> None:
    assert branch_scale("1/sqrt(L)", 64) == 0.125
    assert branch_scale("1/L", 64) == 1 / 64 and branch_scale("1", 64) == 1.0
    with pytest.raises(ValueError, match="scaling must be one of"):
        branch_scale("1/L^2", 4)
    with pytest.raises(ValueError, match="n_seeds must be a positive int"):
        simulate_random_resnet(torch.ones(2), 2, "1", n_seeds=0)
    with pytest.raises(ValueError, match="renormalise=True needs"):
        simulate_random_resnet(torch.ones(2), 2, "1", n_seeds=2, phi="tanh", renormalise=True)


def test_linear_sde_limit_matches_closed_form_and_resnet() -> None:
    """n = 4, linear: torchsde solution of dx = n^{-1/2} dB x (general noise, 16 channels)
    and the 1/sqrt(L) ResNet at L = 64 both give D ~ N(1 - 2/n, 4/n) = N(0.5, 1), and
    E||x_1||^2 = ||x0||^2 e (SDE) vs ||x0||^2 (1 + 1/L)^L (ResNet)."""
    n, batch = 4, 1500
    x0 = torch.ones(batch, n, dtype=torch.float64)
    x1 = resnet_diffusion_limit(n, dt=1 / 128, seed=3)(x0)
    sde = mc_moments(torch.log((x1 * x1).sum(-1) / n))
    resnet = mc_moments(
        simulate_random_resnet(x0[0], 64, "1/sqrt(L)", n_seeds=batch, generator=_gen(4)).log_ratio
    )
    lim = depth_limit_law(n)
    print(f"SDE {sde}\nResNet {resnet}\nlimit {lim}")
    for m in (sde, resnet):
        assert m.z_mean(lim.mean) < Z and m.z_var(lim.var) < Z
    assert two_sample_z(sde, resnet) < Z and two_sample_z(sde, resnet, "var") < Z
    # Euler-Maruyama with dt = 1/128 for this SDE: E||x||^2 = ||x0||^2 (1 + dt)^{1/dt}.
    sq = mc_moments((x1 * x1).sum(-1) / n)
    assert sq.z_mean((1 + 1 / 128) ** 128) < Z


def test_tanh_resnet_matches_sde_in_distribution() -> None:
    """Nonlinear phi = tanh (no closed form): the 1/sqrt(L) ResNet at L = 64 and the
    torchsde solution of dx = n^{-1/2} dB tanh(x) agree in mean and variance of x_1[0] and
    of log||x_1||^2 (two-sample z-scores)."""
    n, batch = 4, 1500
    x0 = torch.linspace(-1.0, 1.5, n, dtype=torch.float64)
    x1 = resnet_diffusion_limit(n, phi="tanh", dt=1 / 128, seed=5)(x0.expand(batch, n))
    xr = simulate_random_resnet(x0, 64, "1/sqrt(L)", n_seeds=batch, phi="tanh", generator=_gen(6)).x
    for stat in (lambda x: x[:, 0], lambda x: torch.log((x * x).sum(-1))):
        a, b = mc_moments(stat(x1)), mc_moments(stat(xr))
        assert two_sample_z(a, b) < Z and two_sample_z(a, b, "var") < Z, (a, b)
    # E x_1 = x0 exactly (zero drift: a martingale), for both.
    for x in (x1, xr):
        se = x.std(0) / math.sqrt(batch)
        assert bool(((x.mean(0) - x0).abs() < Z * se).all())
