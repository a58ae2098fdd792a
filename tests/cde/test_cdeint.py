"""odenet.cdeint: reduction to an ODE for X(t) = t, a closed form for linear fields, and
gradients (every strategy) against float64 finite differences and autograd."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenet
from odenet.interpolate import HermiteCubic, LinearInterpolation, NaturalCubicSpline
from tests.helpers import ALL_METHODS, FIXED_METHODS

D = torch.float64
FIXED = {name for name, _ in FIXED_METHODS}


class Field(nn.Module):
    """``f(t, z) = tanh(W z + b + t u)``, reshaped to ``(batch, hidden, channels)``."""

    def __init__(self, hidden: int, channels: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.hidden, self.channels = hidden, channels
        self.lin = nn.Linear(hidden, hidden * channels).to(D)
        self.u = nn.Parameter(0.3 * torch.randn(hidden * channels, dtype=D))

    def forward(self, t, z):
        out = torch.tanh(self.lin(z) + t.reshape(-1, 1) * self.u)  # t: () or (batch,)
        return out.view(z.shape[0], self.hidden, self.channels)


def _kw(name: str) -> dict:
    return {"n_steps": 20} if name in FIXED else {"rtol": 1e-6, "atol": 1e-8}


@pytest.mark.parametrize(("name", "order"), ALL_METHODS)
def test_control_equal_to_time_reduces_to_the_ode(name, order):
    t = torch.linspace(0, 1.5, 6, dtype=D)
    X = NaturalCubicSpline(t[None, :, None].expand(2, -1, -1), t)  # X(t) = t exactly
    f = Field(3, 1)
    z0 = torch.randn(2, 3, dtype=D, generator=torch.Generator().manual_seed(1))
    zs = odenet.cdeint(X, f, z0, t, method=name, **_kw(name))
    ys = odenet.odeint(lambda s, y: f(s, y)[..., 0], z0, t, method=name, **_kw(name))
    torch.testing.assert_close(zs, ys, rtol=1e-12, atol=1e-12)


def test_linear_control_steps_onto_knots_and_reduces_to_the_ode():
    t = torch.linspace(0, 1.5, 6, dtype=D)
    X = LinearInterpolation(t[None, :, None], t)
    f = Field(3, 1)
    z0 = torch.randn(1, 3, dtype=D)
    zs = odenet.cdeint(X, f, z0, t, rtol=1e-10, atol=1e-12)
    ys = odenet.odeint(lambda s, y: f(s, y)[..., 0], z0, t, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(zs, ys, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("path", [NaturalCubicSpline, HermiteCubic, LinearInterpolation])
def test_linear_field_has_the_exponential_solution(path):
    """With one channel and f(t, z) = A z: z(t) = expm(A (X(t) - X(t0))) z0 for any path."""
    g = torch.Generator().manual_seed(2)
    times = torch.cat(
        [torch.zeros(2, 1, dtype=D), (0.1 + torch.rand(2, 7, generator=g, dtype=D)).cumsum(1)], 1
    )
    x = torch.randn(2, 8, 1, generator=g, dtype=D)
    x[0, 3, 0] = float("nan")
    X = path(x, times)
    a = torch.tensor([[-0.2, 1.0], [-1.0, -0.1]], dtype=D)
    z0 = torch.randn(2, 2, generator=g, dtype=D)
    t = torch.linspace(0, float(times[:, -1].min()), 5, dtype=D)
    zs = odenet.cdeint(X, lambda s, z: (z @ a.T)[..., None], z0, t, rtol=1e-10, atol=1e-12)
    for i, s in enumerate(t):
        dx = (X.evaluate(s) - X.evaluate(t[0]))[:, 0]
        expect = torch.stack([torch.linalg.matrix_exp(a * dx[b]) @ z0[b] for b in range(2)])
        torch.testing.assert_close(zs[i], expect, rtol=1e-7, atol=1e-8)


def _problem():
    g = torch.Generator().manual_seed(3)
    times = torch.linspace(0, 1, 6, dtype=D)
    x = (0.4 * torch.randn(2, 6, 2, generator=g, dtype=D)).requires_grad_(True)
    z0 = torch.randn(2, 3, generator=g, dtype=D, requires_grad=True)
    return times, x, z0, Field(3, 2, seed=4)


def _loss(x, z0, f, times, **kw):
    X = NaturalCubicSpline(x, times)
    zs = odenet.cdeint(X, f, z0, times[[0, 3, 5]], **kw)
    return (zs[1:] ** 2).sum() + zs[-1, 0, 0]


def _finite_difference(fun, v: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    grad = torch.zeros_like(v)
    flat = v.detach().reshape(-1)
    for i in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[i] = eps
        up = fun((flat + e).reshape(v.shape))
        down = fun((flat - e).reshape(v.shape))
        grad.view(-1)[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize(
    ("gradient", "kw", "tol"),
    [
        ("autograd", {"method": "rk4", "n_steps": 20}, 1e-7),
        ("checkpoint", {"method": "rk4", "n_steps": 20}, 1e-7),
        # the continuous adjoint differs from the discrete gradient by the O(h^4) error of
        # the solve (about 1e-3 here); test_adjoint_agrees_with_autograd checks it tightly
        ("adjoint", {"method": "rk4", "n_steps": 20}, 3e-3),
        ("reversible", {"method": "reversible_heun", "n_steps": 20}, 1e-7),
    ],
)
def test_gradients_match_finite_differences(gradient, kw, tol):
    times, x, z0, f = _problem()
    loss = _loss(x, z0, f, times, gradient=gradient, **kw)
    gx, gz, gw = torch.autograd.grad(loss, (x, z0, f.lin.weight))
    with torch.no_grad():
        fx = _finite_difference(lambda v: _loss(v, z0, f, times, gradient=gradient, **kw), x)
        fz = _finite_difference(lambda v: _loss(x, v, f, times, gradient=gradient, **kw), z0)
    torch.testing.assert_close(gx, fx, rtol=tol, atol=tol)
    torch.testing.assert_close(gz, fz, rtol=tol, atol=tol)
    assert gw is not None and float(gw.abs().sum()) > 0


def test_adjoint_agrees_with_autograd():
    times, x, z0, f = _problem()
    grads = []
    for gradient in ("autograd", "adjoint"):
        loss = _loss(x, z0, f, times, gradient=gradient, rtol=1e-8, atol=1e-10)
        grads.append(torch.autograd.grad(loss, (x, z0, *f.parameters())))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_gradcheck_autograd():
    times, x, z0, f = _problem()
    torch.autograd.gradcheck(lambda v, z: _loss(v, z, f, times, method="rk4", n_steps=8), (x, z0))


def test_independent_batch_mode_matches_joint():
    times, x, z0, f = _problem()
    X = NaturalCubicSpline(x.detach(), times)
    joint = odenet.cdeint(X, f, z0.detach(), times, rtol=1e-10, atol=1e-12)
    indep = odenet.cdeint(
        X, f, z0.detach(), times, rtol=1e-10, atol=1e-12, batch_mode="independent"
    )
    torch.testing.assert_close(indep, joint, rtol=1e-7, atol=1e-8)


def test_bad_inputs():
    times, x, z0, f = _problem()
    X = NaturalCubicSpline(x.detach(), times)
    with pytest.raises(ValueError, match="batch, hidden, channels"):
        odenet.cdeint(X, lambda t, z: z, z0.detach(), times)
    with pytest.raises(TypeError, match="derivative"):
        odenet.cdeint(x, f, z0.detach(), times)
    with pytest.raises(ValueError, match="one initial state per path"):
        odenet.cdeint(X, f, z0.detach()[:1], times)


@pytest.mark.parametrize("gradient", ["checkpoint", "adjoint"])
def test_linear_path_gradients_with_knot_stepping(gradient):
    """jump_t onto the knots reaches every strategy's forward (and adjoint backward) solve."""
    times, x, z0, f = _problem()
    grads = []
    for g in ("autograd", gradient):
        X = LinearInterpolation(x, times)
        zs = odenet.cdeint(X, f, z0, times[[0, 5]], gradient=g, rtol=1e-8, atol=1e-10)
        grads.append(torch.autograd.grad(zs[-1].square().sum(), (x, z0)))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
