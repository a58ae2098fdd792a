"""SDEBlock: laws of linear SDEs against closed forms (Monte-Carlo within standard errors),
Ito vs Stratonovich, general noise covariance, adjoint vs backprop, error messages."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from odenet.sde import SDEBlock

Z = 4.5  # z-score bound for Monte-Carlo checks (two-sided p ~ 7e-6 per check)


def _z_mean(x: Tensor, mean: float) -> float:
    return abs(float(x.mean()) - mean) / (float(x.std()) / math.sqrt(x.numel()))


def _z_var(x: Tensor, var: float) -> float:
    """z-score of the sample variance of (assumed) Gaussian x; SE = var * sqrt(2 / (N - 1))."""
    return abs(float(x.var()) - var) / (var * math.sqrt(2.0 / (x.numel() - 1)))


class OUDrift(nn.Module):
    def __init__(self, theta: float, mu: float) -> None:
        super().__init__()
        self.theta, self.mu = theta, mu

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return self.theta * (self.mu - y)


def _const_diag(sigma: float):
    return lambda t, y: torch.full_like(y, sigma)


@pytest.mark.parametrize(
    ("method", "sde_type"),
    [
        ("euler", "ito"),
        ("milstein", "ito"),
        ("srk", "ito"),
        ("midpoint", "stratonovich"),
        ("reversible_heun", "stratonovich"),
    ],
)
def test_ou_marginal_matches_closed_form(method: str, sde_type: str) -> None:
    """dX = theta (mu - X) dt + sigma dW, X0 = x0: X_T ~ N(mu + (x0 - mu) e^{-theta T},
    sigma^2 (1 - e^{-2 theta T}) / (2 theta)). Additive noise: Ito = Stratonovich."""
    theta, mu, sigma, x0, T, n = 1.5, 0.8, 0.6, -1.0, 1.0, 4000
    block = SDEBlock(
        OUDrift(theta, mu),
        _const_diag(sigma),
        sde_type=sde_type,
        method=method,
        dt=5e-3,
        t_span=(0.0, T),
        seed=11,
    )
    xT = block(torch.full((n, 1), x0, dtype=torch.float64)).detach()
    mean = mu + (x0 - mu) * math.exp(-theta * T)
    var = sigma**2 * (1 - math.exp(-2 * theta * T)) / (2 * theta)
    assert _z_mean(xT, mean) < Z
    assert _z_var(xT, var) < Z


@pytest.mark.parametrize(("sde_type", "method"), [("ito", "milstein"), ("stratonovich", "heun")])
def test_gbm_log_law_depends_on_calculus(sde_type: str, method: str) -> None:
    """dX = a X dt + b X dW (multiplicative diagonal noise). Ito: log X_T ~ N((a - b^2/2) T,
    b^2 T); Stratonovich: log X_T ~ N(a T, b^2 T). The two means differ by b^2 T / 2 = 0.18,
    i.e. ~28 standard errors, so a calculus mix-up fails the test."""
    a, b, T, n = 0.3, 0.6, 1.0, 4000
    block = SDEBlock(
        lambda t, y: a * y,
        lambda t, y: b * y,
        sde_type=sde_type,
        method=method,
        dt=5e-3,
        seed=3,
    )
    logx = torch.log(block(torch.ones(n, 1, dtype=torch.float64))).detach()
    mean = (a - b**2 / 2) * T if sde_type == "ito" else a * T
    assert _z_mean(logx, mean) < Z
    assert _z_var(logx, b**2 * T) < Z


@pytest.mark.parametrize("method", ["euler", "midpoint", "log_ode"])
def test_general_noise_covariance(method: str) -> None:
    """dX = B dW with B (2x3) constant: X_T ~ N(0, B B^T T). Checks each covariance entry
    within 4.5 Monte-Carlo standard errors (SE of x_i x_j estimated from the sample)."""
    B = torch.tensor([[1.0, 0.5, 0.0], [-0.3, 0.8, 0.4]], dtype=torch.float64)
    T, n = 2.0, 4000
    sde_type = "ito" if method == "euler" else "stratonovich"
    block = SDEBlock(
        lambda t, y: torch.zeros_like(y),
        lambda t, y: B.expand(y.shape[0], 2, 3),
        noise_type="general",
        sde_type=sde_type,
        method=method,
        dt=0.05,
        t_span=(0.0, T),
        seed=5,
    )
    x = block(torch.zeros(n, 2, dtype=torch.float64))
    prod = x[:, :, None] * x[:, None, :]  # (n, 2, 2)
    cov, se = prod.mean(0), prod.std(0) / math.sqrt(n)
    target = B @ B.T * T
    assert bool(((cov - target).abs() / se < Z).all()), (cov, target, se)


def test_scalar_noise_variance() -> None:
    """Scalar noise, g = (c1, c2)^T: X_T = c W_T, so Var X_i = c_i^2 T and corr(X1, X2) = 1."""
    c = torch.tensor([0.5, -1.5], dtype=torch.float64)
    block = SDEBlock(
        lambda t, y: torch.zeros_like(y),
        lambda t, y: c.expand(y.shape[0], 2).unsqueeze(-1),
        noise_type="scalar",
        method="euler",
        dt=0.1,
        seed=2,
    )
    x = block(torch.zeros(4000, 2, dtype=torch.float64))
    assert _z_var(x[:, 0], 0.25) < Z
    assert _z_var(x[:, 1], 2.25) < Z
    torch.testing.assert_close(x[:, 1], -3.0 * x[:, 0])


def test_seed_fixes_noise_and_fresh_noise_without_seed() -> None:
    block = SDEBlock(OUDrift(1.0, 0.0), _const_diag(1.0), method="euler", dt=0.1)
    y0 = torch.zeros(64, 1)
    a, b = block(y0, seed=7), block(y0, seed=7)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.manual_seed(0)
    c = block(y0)
    torch.manual_seed(0)
    d = block(y0)
    torch.testing.assert_close(c, d, rtol=0, atol=0)
    # Without a seed, successive calls draw fresh noise: sample std of X_1 is ~0.66.
    assert float((block(y0) - block(y0)).abs().mean()) > 0.1


def test_path_output_shape_and_initial_value() -> None:
    block = SDEBlock(OUDrift(1.0, 0.0), _const_diag(0.5), method="srk", dt=0.05, seed=0)
    y0 = torch.randn(8, 3)
    ts = torch.linspace(0, 1, 6)
    ys = block(y0, ts)
    assert ys.shape == (6, 8, 3)
    torch.testing.assert_close(ys[0], y0)


class _LinearSDE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(-0.7, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.4, dtype=torch.float64))

    def drift(self, t: Tensor, y: Tensor) -> Tensor:
        return self.a * torch.sin(y) + 0.1 * y

    def diffusion(self, t: Tensor, y: Tensor) -> Tensor:
        return self.b * torch.cos(y)


def _grads(adjoint: bool, method: str, dt: float) -> list[Tensor]:
    model = _LinearSDE()
    drift = model.drift
    block = SDEBlock(
        drift,
        model.diffusion,
        sde_type="stratonovich",
        method=method,
        dt=dt,
        adjoint=adjoint,
        seed=123,
    )
    assert {id(p) for p in block.parameters()} == {id(model.a), id(model.b)}
    y0 = torch.linspace(-1, 1, 16, dtype=torch.float64).unsqueeze(1).requires_grad_()
    ys = block(y0, torch.linspace(0, 1, 5, dtype=torch.float64))
    (ys**2).sum().backward()
    return [model.a.grad, model.b.grad, y0.grad]


def test_reversible_heun_adjoint_equals_backprop() -> None:
    """Reversible Heun's adjoint retraces the forward steps exactly (Kidger et al. 2021), so
    its gradients equal backprop through the solver up to round-off. dt = 2^-4 makes the
    step grid exact in binary floating point, so the output times ts are hit exactly."""
    adjoint, backprop = (
        _grads(True, "reversible_heun", 0.0625),
        _grads(False, "reversible_heun", 0.0625),
    )
    for g_adj, g_bp in zip(adjoint, backprop, strict=True):
        torch.testing.assert_close(g_adj, g_bp, rtol=1e-12, atol=1e-12)


def test_midpoint_adjoint_converges_to_backprop() -> None:
    """For a non-reversible solver the adjoint gradient differs from backprop by the
    discretisation error, which must shrink when dt is refined (same Brownian path)."""
    errs = []
    for dt in (0.05, 0.0125):
        adj, bp = _grads(True, "midpoint", dt), _grads(False, "midpoint", dt)
        pairs = zip(adj, bp, strict=True)
        errs.append(max(float((x - y).abs().max() / y.abs().max()) for x, y in pairs))
    assert errs[1] < 0.5 * errs[0], errs
    assert errs[1] < 1e-2, errs


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "midpoint", "sde_type": "ito"}, "sde_type='ito'"),
        ({"method": "srk", "noise_type": "general"}, "noise_type='general'"),
        ({"method": "milstein", "noise_type": "general"}, "euler"),
        ({"method": "rk4"}, "method must be one of"),
        ({"sde_type": "levy"}, "sde_type must be one of"),
        ({"noise_type": "full"}, "noise_type must be one of"),
        ({"method": "euler", "adjoint": True, "adjoint_method": "adjoint_reversible_heun"}, "only"),
        ({"method": "euler", "adjoint_method": "euler"}, "adjoint=True"),
        ({"dt": 0.0}, "dt must be > 0"),
    ],
)
def test_unsupported_combinations_named_before_torchsde(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SDEBlock(OUDrift(1.0, 0.0), _const_diag(1.0), **kwargs)


def test_bad_shapes_and_grids_are_named() -> None:
    with pytest.raises(TypeError, match="seed must be an int or None"):
        SDEBlock(OUDrift(1.0, 0.0), _const_diag(1.0), seed=1.5)
    block = SDEBlock(OUDrift(1.0, 0.0), _const_diag(1.0), method="euler")
    with pytest.raises(ValueError, match="y0 must be a tensor of shape"):
        block(torch.zeros(3))
    with pytest.raises(ValueError, match="strictly increasing"):
        block(torch.zeros(2, 1), torch.tensor([0.0, 0.5, 0.5]))
    general = SDEBlock(OUDrift(1.0, 0.0), _const_diag(1.0), noise_type="general", method="euler")
    with pytest.raises(ValueError, match="noise_type='general' must return shape"):
        general(torch.zeros(2, 1))
    rev = SDEBlock(
        OUDrift(1.0, 0.0),
        _const_diag(1.0),
        sde_type="stratonovich",
        method="reversible_heun",
        dt=0.3,
        adjoint=True,
        adjoint_params=(),
    )
    with pytest.raises(ValueError, match="multiple of dt"):
        rev(torch.zeros(2, 1), torch.tensor([0.0, 1.0]))
