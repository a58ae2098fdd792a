"""odeint(..., args=...): func(t, y, args), gradients to the tensors in args with every
strategy against float64 finite differences."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenet
from odenet.interpolate import NaturalCubicSpline

D = torch.float64


def field(t, y, args):
    """``dy/dt = -A y + b sin(t) + u(t)``: matrix, vector and a forcing path in args."""
    a, extra = args
    force = extra["forcing"].evaluate(t)
    return -y @ a.T + extra["b"] * torch.sin(t) + force


def _args(requires_grad: bool = True):
    g = torch.Generator().manual_seed(0)
    a = (torch.eye(2, dtype=D) + 0.3 * torch.randn(2, 2, generator=g, dtype=D)).requires_grad_(
        requires_grad
    )
    b = torch.randn(2, generator=g, dtype=D).requires_grad_(requires_grad)
    data = torch.randn(1, 5, 2, generator=g, dtype=D).requires_grad_(requires_grad)
    return a, b, data


def _loss(a, b, data, y0, **kw):
    path = NaturalCubicSpline(data, torch.linspace(0, 1, 5, dtype=D))
    t = torch.tensor([0.0, 0.5, 1.0], dtype=D)
    ys = odenet.odeint(field, y0, t, args=(a, {"b": b, "forcing": path}), **kw)
    return (ys[1:] ** 2).sum() + ys[-1, 0, 1]


def _fd(fun, v, eps=1e-6):
    out = torch.zeros_like(v)
    flat = v.detach().reshape(-1)
    for i in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[i] = eps
        out.view(-1)[i] = (fun((flat + e).view(v.shape)) - fun((flat - e).view(v.shape))) / (
            2 * eps
        )
    return out


CASES = [
    ("autograd", {"method": "rk4", "n_steps": 10}, 1e-7),
    ("checkpoint", {"method": "rk4", "n_steps": 10}, 1e-7),
    ("reversible", {"method": "reversible_heun", "n_steps": 10}, 1e-7),
    # continuous adjoint vs the discrete solve's FD: the O(h^4) error of the solve
    ("adjoint", {"method": "rk4", "n_steps": 10}, 1e-4),
]


@pytest.mark.parametrize(("gradient", "kw", "tol"), CASES)
def test_gradients_reach_args(gradient, kw, tol):
    a, b, data = _args()
    y0 = torch.tensor([[1.0, -0.5]], dtype=D, requires_grad=True)
    loss = _loss(a, b, data, y0, gradient=gradient, **kw)
    grads = torch.autograd.grad(loss, (a, b, data, y0))
    with torch.no_grad():
        refs = [
            _fd(lambda v: _loss(v, b, data, y0, gradient=gradient, **kw), a),
            _fd(lambda v: _loss(a, v, data, y0, gradient=gradient, **kw), b),
            _fd(lambda v: _loss(a, b, v, y0, gradient=gradient, **kw), data),
            _fd(lambda v: _loss(a, b, data, v, gradient=gradient, **kw), y0),
        ]
    for got, ref in zip(grads, refs, strict=True):
        torch.testing.assert_close(got, ref, rtol=tol, atol=tol)


def test_adjoint_matches_autograd_for_args():
    a, b, data = _args()
    y0 = torch.tensor([[1.0, -0.5]], dtype=D)
    out = []
    for gradient in ("autograd", "adjoint"):
        loss = _loss(a, b, data, y0, gradient=gradient, rtol=1e-10, atol=1e-12)
        out.append(torch.autograd.grad(loss, (a, b, data)))
    for x, y in zip(*out, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-8)


class Scaled(nn.Module):
    """An nn.Module field with its own parameter, plus args."""

    def __init__(self) -> None:
        super().__init__()
        self.k = nn.Parameter(torch.tensor(0.7, dtype=D))

    def forward(self, t, y, args):
        return -self.k * y + args


@pytest.mark.parametrize("gradient", ["autograd", "adjoint", "checkpoint"])
def test_module_parameters_and_args_both_get_gradients(gradient):
    f = Scaled()
    c = torch.tensor([0.3, -0.2], dtype=D, requires_grad=True)
    y0 = torch.tensor([1.0, 2.0], dtype=D)
    t = torch.tensor([0.0, 1.0], dtype=D)
    y1 = odenet.odeint(f, y0, t, args=c, gradient=gradient, rtol=1e-10, atol=1e-12)[-1]
    gk, gc = torch.autograd.grad(y1.sum(), (f.k, c))
    # closed form: y(1) = e^{-k} y0 + (1 - e^{-k}) c / k
    k = f.k.detach()
    e = torch.exp(-k)
    torch.testing.assert_close(gc, torch.full((2,), float((1 - e) / k), dtype=D))
    dk = (-e * y0 + (e / k - (1 - e) / k**2) * c.detach()).sum()
    torch.testing.assert_close(gk, dk, rtol=1e-6, atol=1e-8)


def test_args_with_independent_batch_mode_and_tuple_state():
    c = torch.tensor(2.0, dtype=D)
    y0 = torch.tensor([[1.0], [2.0]], dtype=D)
    t = torch.tensor([0.0, 1.0], dtype=D)
    ys = odenet.odeint(lambda s, y, k: -k * y, y0, t, args=c, batch_mode="independent")
    torch.testing.assert_close(ys[-1], y0 * torch.exp(torch.tensor(-2.0, dtype=D)))
    pair = odenet.odeint(lambda s, y, k: (-k * y[0], k * y[1]), (y0, y0), t, args=c)
    torch.testing.assert_close(pair[1][-1], y0 * torch.exp(torch.tensor(2.0, dtype=D)))


def test_cdeint_passes_args():
    t = torch.linspace(0, 1, 4, dtype=D)
    X = NaturalCubicSpline(t[None, :, None], t)
    w = torch.tensor(-0.5, dtype=D, requires_grad=True)
    z0 = torch.ones(1, 1, dtype=D)
    z = odenet.cdeint(X, lambda s, z, k: (k * z)[..., None], z0, t, args=w, gradient="adjoint")
    (g,) = torch.autograd.grad(z[-1].sum(), w)
    torch.testing.assert_close(z[-1, 0, 0], torch.exp(w.detach()), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(g, torch.exp(w.detach()), rtol=1e-5, atol=1e-7)


def test_odeint_adjoint_passes_args():
    a, b, data = _args()
    y0 = torch.tensor([[1.0, -0.5]], dtype=D)
    t = torch.tensor([0.0, 1.0], dtype=D)

    def extra():
        return (a, {"b": b, "forcing": NaturalCubicSpline(data, torch.linspace(0, 1, 5, dtype=D))})

    y_adj = odenet.odeint_adjoint(field, y0, t, args=extra(), rtol=1e-8, atol=1e-10)
    y_ref = odenet.odeint(field, y0, t, args=extra(), rtol=1e-8, atol=1e-10)
    g_adj = torch.autograd.grad(y_adj[-1].sum(), (a, b, data))
    g_ref = torch.autograd.grad(y_ref[-1].sum(), (a, b, data))
    for x, y in zip(g_adj, g_ref, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("gradient", ["autograd", "adjoint", "checkpoint"])
def test_tensors_in_a_dataclass_or_namespace_get_gradients(gradient: str) -> None:
    """A dataclass (or SimpleNamespace) of tensors as args: y(1) = exp(-w) y0, so
    d sum(y(1)) / dw = -sum(y0) exp(-w) with every strategy (the adjoint used to raise
    'element 0 of tensors does not require grad')."""
    import dataclasses
    import types

    @dataclasses.dataclass
    class Rate:
        w: torch.Tensor

    y0 = torch.ones(3, dtype=D)
    t = torch.tensor([0.0, 1.0], dtype=D)
    for wrap in (Rate, lambda w: types.SimpleNamespace(w=w)):
        w = torch.tensor(0.7, dtype=D, requires_grad=True)
        ys = odenet.odeint(
            lambda t, y, a: -a.w * y, y0, t, args=wrap(w), gradient=gradient,
            rtol=1e-10, atol=1e-12,
        )  # fmt: skip
        ys[-1].sum().backward()
        expected = -3 * torch.exp(-torch.tensor(0.7, dtype=D))
        torch.testing.assert_close(w.grad, expected, rtol=1e-7, atol=1e-9)
