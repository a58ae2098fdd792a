"""Bases of functions of depth ``s in [0, 1]`` for depth-varying weights.

A depth-varying weight is ``W(t) = sum_k phi_k(s) W_k`` with ``s = (t - t0) / (t1 - t0)``.
Each basis maps a scalar time ``t`` to the vector ``(phi_1(s), ..., phi_n(s))`` of shape
``(n_basis,)``.

- ``PiecewiseConstantBasis(L)``: indicators of ``[k/L, (k+1)/L)``; a depth-varying field
  over it, solved with L Euler steps, is exactly a ResNet with L blocks and scale 1/L.
- ``PiecewiseLinearBasis(n)``: hat functions on n equally spaced nodes (linear interpolation
  of n weight tensors).
- ``LegendreBasis(n)``: shifted Legendre polynomials ``P_k(2s - 1)``, k < n.
- ``FourierBasis(n)``: ``1, cos(2 pi s), sin(2 pi s), cos(4 pi s), ...`` (n functions).

The spectral bases give the Galerkin neural ODEs of Massaroli, Poli, Park, Yamashita,
Asama, "Dissecting Neural ODEs", NeurIPS 2020.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from odenet.nn._checks import check_choice, check_finite_float, check_positive_int

BOUNDARY_TOLERANCE = 1e-4
"""Fraction of a piece by which a time just below a piece boundary still selects the next
piece, so that ``t = k/L`` computed with rounding error selects piece ``k``."""


class Basis(nn.Module):
    """Base class: ``forward(t) -> (n_basis,)`` weights at depth ``t`` (scalar tensor)."""

    one_hot = False

    def __init__(self, n_basis: int, t0: float = 0.0, t1: float = 1.0) -> None:
        super().__init__()
        self.n_basis = check_positive_int("n_basis", n_basis)
        check_finite_float("t0", t0)
        check_finite_float("t1", t1)
        if float(t0) == float(t1):
            raise ValueError(f"t0 and t1 must differ; got t0={t0}, t1={t1}.")
        self.t0, self.t1 = float(t0), float(t1)

    def depth(self, t: torch.Tensor | float) -> torch.Tensor:
        """Normalised depth ``s = (t - t0) / (t1 - t0)`` as a float64 scalar tensor."""
        t = torch.as_tensor(t).detach().to(torch.float64).reshape(())
        return (t - self.t0) / (self.t1 - self.t0)

    def extra_repr(self) -> str:
        return f"n_basis={self.n_basis}, t0={self.t0}, t1={self.t1}"


class PiecewiseConstantBasis(Basis):
    """Indicators of the L pieces ``[k/L, (k+1)/L)`` of ``[0, 1]`` (last piece closed)."""

    one_hot = True

    def index(self, t: torch.Tensor | float) -> int:
        """Index of the piece containing depth ``t`` (clamped to ``[0, L-1]``)."""
        k = math.floor(float(self.depth(t)) * self.n_basis + BOUNDARY_TOLERANCE)
        return min(max(k, 0), self.n_basis - 1)

    def forward(self, t: torch.Tensor | float) -> torch.Tensor:
        out = torch.zeros(self.n_basis, dtype=torch.float64)
        out[self.index(t)] = 1.0
        return out


class PiecewiseLinearBasis(Basis):
    """Hat functions on ``n`` nodes ``k/(n-1)``: linear interpolation between n tensors."""

    def forward(self, t: torch.Tensor | float) -> torch.Tensor:
        n = self.n_basis
        if n == 1:
            return torch.ones(1, dtype=torch.float64)
        s = self.depth(t).clamp(0.0, 1.0)
        nodes = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
        return (1.0 - (s - nodes).abs() * (n - 1)).clamp(min=0.0)


class LegendreBasis(Basis):
    """Shifted Legendre polynomials ``P_k(2s - 1)``, ``k = 0..n-1`` (Bonnet's recursion)."""

    def forward(self, t: torch.Tensor | float) -> torch.Tensor:
        x = 2.0 * self.depth(t) - 1.0
        values = [torch.ones((), dtype=torch.float64), x]
        for k in range(1, self.n_basis - 1):
            values.append(((2 * k + 1) * x * values[k] - k * values[k - 1]) / (k + 1))
        return torch.stack(values[: self.n_basis])


class FourierBasis(Basis):
    """``1, cos(2 pi s), sin(2 pi s), cos(4 pi s), sin(4 pi s), ...`` (first n functions)."""

    def forward(self, t: torch.Tensor | float) -> torch.Tensor:
        s = self.depth(t)
        values = [torch.ones((), dtype=torch.float64)]
        k = 1
        while len(values) < self.n_basis:
            values.append(torch.cos(2 * math.pi * k * s))
            values.append(torch.sin(2 * math.pi * k * s))
            k += 1
        return torch.stack(values[: self.n_basis])


BASES: dict[str, type[Basis]] = {
    "piecewise_constant": PiecewiseConstantBasis,
    "piecewise_linear": PiecewiseLinearBasis,
    "legendre": LegendreBasis,
    "fourier": FourierBasis,
}


def make_basis(basis: str | Basis, n_basis: int, t0: float = 0.0, t1: float = 1.0) -> Basis:
    """Return ``basis`` if it is a ``Basis``, else build the named one (a key of ``BASES``)."""
    if isinstance(basis, Basis):
        return basis
    check_choice("basis", basis, tuple(BASES))
    return BASES[basis](n_basis, t0, t1)
