"""Random-ResNet depth limits: Monte-Carlo moments against the closed forms of
odenet.limits.closed_form, within their standard errors (|z| < 4.5)."""

from __future__ import annotations

import math

import pytest
import torch

from odenet.limits import (
    depth_limit_law,
    finite_depth_moments,
    mc_moments,
    sample_linear_log_ratio,
    simulate_random_resnet,
    two_sample_z,
    width_limit_value,
)
from odenet.limits.closed_form import gamma_gauss_rule

Z = 4.5


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_quadrature_tends_to_depth_limit_law() -> None:
    """Exact finite-L moments converge to N(sigma^2 (1 - 2/n), 4 sigma^2 / n) at rate 1/L."""
    for n in (3, 8, 32):
        lim = depth_limit_law(n, sigma2=1.3)
        errs = []
        for depth in (64, 256, 1024):
            m = finite_depth_moments(n, depth, sigma2=1.3)
            errs.append(abs(m.mean - lim.mean) + abs(m.var - lim.var))
        assert errs[-1] < 2e-3
        # O(1/L): quadrupling L divides the error by ~4 (band [3, 5]).
        assert 3 < errs[0] / errs[1] < 5 and 3 < errs[1] / errs[2] < 5, errs


def test_quadrature_matches_direct_sampling_of_one_block() -> None:
    """E log rho and Var log rho of one block, rho = (1 + a g1)^2 + a^2 chi2_{n-1}, from 10^6
    direct draws (n = 3, L = 4: a strongly non-Gaussian case) vs the quadrature."""
    n, depth = 3, 4
    gen = _gen(7)
    a = 1 / math.sqrt(n * depth)
    g = torch.randn(10**6, n, generator=gen, dtype=torch.float64)
    logr = torch.log((1 + a * g[:, 0]) ** 2 + a * a * (g[:, 1:] ** 2).sum(-1))
    mc, exact = mc_moments(logr), finite_depth_moments(n, depth)
    assert mc.z_mean(exact.mean / depth) < Z
    assert mc.z_var(exact.var / depth) < Z


def test_gamma_rule_is_exact_for_polynomials_and_large_shapes() -> None:
    """Gamma(k) moments E U^m = k (k+1) ... (k+m-1), for shapes up to 4096 (no overflow)."""
    for shape in (0.5, 3.5, 4095.5):
        u, w = gamma_gauss_rule(shape, 40)
        for m in (0, 1, 2, 3):
            exact = math.prod(shape + j for j in range(m))
            assert float((w * u**m).sum()) == pytest.approx(exact, rel=1e-10)


def test_matrix_resnet_matches_finite_depth_closed_form() -> None:
    """Simulated linear ResNet (n = 8, L = 32, 3000 weight draws): mean and variance of
    log||x_L||^2 - log||x_0||^2 match the exact finite-depth moments."""
    n, depth = 8, 32
    x0 = torch.randn(n, generator=_gen(0), dtype=torch.float64)
    sample = simulate_random_resnet(x0, depth, "1/sqrt(L)", n_seeds=3000, generator=_gen(1))
    mc, exact = mc_moments(sample.log_ratio), finite_depth_moments(n, depth)
    print(
        f"n={n} L={depth}: MC {mc.mean:.4f}±{mc.se_mean:.4f} var {mc.var:.4f}±{mc.se_var:.4f}"
        f" | exact {exact.mean:.4f} var {exact.var:.4f}"
    )
    assert mc.z_mean(exact.mean) < Z
    assert mc.z_var(exact.var) < Z


@pytest.mark.parametrize("n", [4, 16])
def test_deep_limit_matches_gaussian_law(n: int) -> None:
    """L = 512 (exact ratio sampler, 20000 draws): moments of the log-norm ratio match the
    L -> infinity law N(1 - 2/n, 4/n); the O(1/L) bias (< 2e-3) is far below the SE."""
    d = sample_linear_log_ratio(n, 512, n_seeds=20000, generator=_gen(n))
    mc, lim = mc_moments(d), depth_limit_law(n)
    print(
        f"n={n} L=1024: MC {mc.mean:.4f}±{mc.se_mean:.4f} var {mc.var:.4f}±{mc.se_var:.4f}"
        f" | limit {lim.mean:.4f} var {lim.var:.4f}"
    )
    assert mc.z_mean(lim.mean) < Z
    assert mc.z_var(lim.var) < Z
    # Gaussian limit: skewness of the sample is ~0 (SE of skewness ~ sqrt(6/N) = 0.012).
    c = d - d.mean()
    skew = float((c**3).mean() / (c**2).mean() ** 1.5)
    assert abs(skew) < Z * math.sqrt(6 / d.numel())


def test_ratio_sampler_agrees_with_matrix_simulation() -> None:
    """The O(L) rotational-invariance sampler and the O(L n^2) matrix simulation give the
    same law (two-sample z on mean and variance), here at s = 1 where the law is far from
    Gaussian."""
    n, depth = 6, 16
    a = mc_moments(
        simulate_random_resnet(
            torch.ones(n, dtype=torch.float64), depth, "1", n_seeds=3000, generator=_gen(2)
        ).log_ratio
    )
    b = mc_moments(sample_linear_log_ratio(n, depth, n_seeds=20000, scaling="1", generator=_gen(3)))
    assert two_sample_z(a, b) < Z and two_sample_z(a, b, "var") < Z


def test_width_first_limit_is_deterministic_and_depth_first_agrees() -> None:
    """Width before depth: at L = 64 and n = 8192 the ratio concentrates at
    L log(1 + 1/L) (variance ~ 4/n). Depth before width: the depth-limit law's mean
    1 - 2/n at n = 8192 and L log(1 + 1/L) at L -> infinity both tend to sigma^2 = 1."""
    n, depth = 8192, 64
    d = sample_linear_log_ratio(n, depth, n_seeds=4000, generator=_gen(4))
    mc, exact = mc_moments(d), finite_depth_moments(n, depth)
    assert mc.z_mean(exact.mean) < Z and mc.z_var(exact.var) < Z
    assert abs(exact.mean - width_limit_value(depth)) < 1e-3
    assert exact.var < 5 / n
    # The two iterated limits coincide (both -> 1) at matching rates O(1/L) and O(1/n).
    assert abs(width_limit_value(2**20) - 1) < 1e-6
    assert abs(depth_limit_law(2**20).mean - 1) < 1e-5 and depth_limit_law(2**20).var < 1e-5
