"""Continuous extensions (dense output) expressed as stage weights ``b_i(theta)``.

Every interpolant here is written as ``y(t0 + θh) = y0 + h Σ_i b_i(θ) k_i`` with polynomial
``b_i``; the methods store the coefficient matrix ``B[i][p]`` of ``θ^(p+1)``. Cubic Hermite
interpolation, the fallback, lives in :mod:`odenet.solvers.runge_kutta`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["LinearOutputs", "polynomial_weights", "quartic_through_midpoint"]


def quartic_through_midpoint(
    b: Sequence[float], c_mid: Sequence[float]
) -> tuple[tuple[float, ...], ...]:
    """Quartic interpolant through ``y0, y1, y(1/2)`` with slopes ``f0, f1`` (fourth order).

    This is the construction Shampine (1986, "Some practical Runge--Kutta formulas",
    Math. Comp. 46) gives for Dormand--Prince: a midpoint value ``y0 + h Σ c_mid_i k_i`` of
    order 5, and the quartic matching it, both end values and both end slopes. The method
    must be FSAL so that ``f1`` is the last stage.

    Returns:
        ``B`` of shape ``(s, 4)``: coefficients of ``θ, θ², θ³, θ⁴`` in ``b_i(θ)``.
    """
    s = len(b)
    b_arr = np.asarray(b, dtype=np.float64)
    mid = np.asarray(c_mid, dtype=np.float64)
    f0 = np.zeros(s)
    f0[0] = 1.0
    f1 = np.zeros(s)
    f1[-1] = 1.0
    # p(θ)/h = f0 θ + c2 θ² + c3 θ³ + c4 θ⁴ ; conditions at θ = 1 (value, slope), θ = 1/2.
    lhs = np.array([[1.0, 1.0, 1.0], [2.0, 3.0, 4.0], [0.25, 0.125, 0.0625]])
    rhs = np.stack([b_arr - f0, f1 - f0, mid - 0.5 * f0])
    c234 = np.linalg.solve(lhs, rhs)  # (3, s)
    coeffs = np.concatenate([f0[None, :], c234], axis=0).T  # (s, 4)
    return tuple(tuple(float(x) for x in row) for row in coeffs)


def polynomial_weights(
    polys: Sequence[np.polynomial.Polynomial],
) -> tuple[tuple[float, ...], ...]:
    """Coefficient matrix of ``b_i(θ)`` given as numpy polynomials vanishing at 0.

    Returns ``B`` of shape ``(s, degree)``: the coefficients of ``θ, θ², ...``.
    """
    degree = max(p.degree() for p in polys)
    rows = []
    for p in polys:
        coef = np.zeros(degree + 1)
        coef[: len(p.coef)] = p.coef
        if abs(coef[0]) > 1e-14:
            raise ValueError(f"an interpolation weight must vanish at theta=0; got {coef[0]}")
        rows.append(tuple(float(x) for x in coef[1:]))
    return tuple(rows)


class LinearOutputs:
    """A fixed-step method whose outputs between grid points are linear interpolants.

    Stands in for the method in the fixed-step loop (``options={"interp": "linear"}``):
    steps are the method's own; ``interpolate`` joins ``y0`` and ``y1`` by a straight line
    (first order; torchdiffeq's default for fixed grids), and needs no ``f(t1, y1)``.
    """

    #: not ``None``: the loop then never evaluates ``f(t1, y1)`` just to interpolate
    dense_weights = ()

    def __init__(self, method: Any) -> None:
        self._method = method

    def __getattr__(self, name: str) -> Any:
        return getattr(self._method, name)

    def interpolate(
        self,
        theta: float,
        y0: Tensor,
        y1: Tensor,
        ks: Sequence[Tensor],
        dt: float,
        f1: Tensor | None = None,
    ) -> Tensor:
        """``y0 + theta (y1 - y0)`` for ``theta`` in [0, 1]."""
        return torch.lerp(y0, y1, theta)
