"""Depth bases and depth-varying layers: partition of unity, interpolation, exact identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import legendre

from odenet.nn import (
    DepthVaryingConvField,
    DepthVaryingLinear,
    DepthVaryingMLPField,
    FourierBasis,
    LegendreBasis,
    ODEBlock,
    PiecewiseConstantBasis,
    PiecewiseLinearBasis,
)
from odenet.nn.bases import make_basis


def test_piecewise_constant_pieces_and_boundaries() -> None:
    b = PiecewiseConstantBasis(3)
    # t = k/L computed with rounding error still selects piece k
    assert [b.index(t) for t in (0.0, 0.1, 1 / 3, 1 / 3 + 1 / 3, 0.99, 1.0)] == [0, 0, 1, 2, 2, 2]
    assert b.index(sum([1 / 3] * 2)) == 2 and b.index(2 / 3 - 1e-12) == 2
    assert torch.equal(b(torch.tensor(0.5)), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    shifted = PiecewiseConstantBasis(4, t0=1.0, t1=3.0)
    assert shifted.index(2.0) == 2


def test_piecewise_linear_interpolates_nodes() -> None:
    b = PiecewiseLinearBasis(5)
    for t in np.linspace(0, 1, 17):
        phi = b(torch.tensor(t))
        assert phi.sum().item() == pytest.approx(1.0)  # partition of unity
        nodes = torch.linspace(0, 1, 5, dtype=torch.float64)
        assert (phi * nodes).sum().item() == pytest.approx(t)  # reproduces linear functions
    assert torch.equal(b(torch.tensor(0.25)), torch.tensor([0, 1.0, 0, 0, 0], dtype=torch.float64))


def test_legendre_matches_numpy() -> None:
    b = LegendreBasis(6)
    for s in (0.0, 0.2, 0.75, 1.0):
        phi = b(torch.tensor(s)).numpy()
        expected = [legendre.legval(2 * s - 1, np.eye(6)[k]) for k in range(6)]
        assert np.allclose(phi, expected, atol=1e-12)


def test_fourier_orthonormal_by_quadrature() -> None:
    b = FourierBasis(5)
    s = torch.arange(400, dtype=torch.float64) / 400
    phi = torch.stack([b(x) for x in s])  # (400, 5)
    gram = phi.T @ phi / 400
    assert torch.allclose(
        gram, torch.diag(torch.tensor([1, 0.5, 0.5, 0.5, 0.5])).double(), atol=1e-12
    )


@pytest.mark.parametrize("basis", ["piecewise_linear", "legendre", "fourier"])
def test_weights_are_basis_combinations(basis: str) -> None:
    torch.manual_seed(0)
    layer = DepthVaryingLinear(3, 2, make_basis(basis, 4)).double()
    with torch.no_grad():
        layer.weight.normal_()
    t = torch.tensor(0.37, dtype=torch.float64)
    w, _ = layer.weights_at(t)
    phi = layer.basis(t)
    assert torch.allclose(w, sum(phi[k] * layer.weight[k] for k in range(4)), atol=1e-14)


def test_spectral_init_is_constant_in_depth() -> None:
    field = DepthVaryingMLPField(3, hidden=4, basis="legendre", n_basis=4)
    w0, _ = field.layers[0].weights_at(torch.tensor(0.0))
    w1, _ = field.layers[0].weights_at(torch.tensor(0.9))
    assert torch.allclose(w0, w1)


def test_piecewise_linear_field_rk4_converges_like_fixed_field() -> None:
    """A depth-varying field is a genuine time-dependent ODE: rk4 with halved steps converges
    (error ratio ~16 once the steps align with the kinks of the piecewise-linear weights)."""
    torch.manual_seed(0)
    field = DepthVaryingMLPField(2, hidden=8, basis="piecewise_linear", n_basis=3).double()
    with torch.no_grad():
        for p in field.parameters():
            p.mul_(2.0)
    x = torch.randn(4, 2, dtype=torch.float64)
    ref = ODEBlock(field, rtol=1e-12, atol=1e-12)(x)
    errs = [
        (ODEBlock(field, method="rk4", step_size=h)(x) - ref).abs().max().item()
        for h in (0.1, 0.05)
    ]
    assert 10 < errs[0] / errs[1] < 24


def test_conv_field_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    field = DepthVaryingConvField(3, hidden=5, basis="fourier", n_basis=3)
    with torch.no_grad():
        for p in field.parameters():
            p.add_(0.1)
    block = ODEBlock(field, method="euler", step_size=0.5)
    out = block(torch.randn(2, 3, 6, 6))
    assert out.shape == (2, 3, 6, 6)
    out.pow(2).sum().backward()
    for name, p in field.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert math.isfinite(out.sum().item())


def test_bad_basis_names_argument() -> None:
    with pytest.raises(ValueError, match="basis"):
        DepthVaryingMLPField(2, basis="chebyshev")
