"""Heun's third-order method (torchdiffeq's ``heun3``)."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["Heun3"]

HEUN3_TABLEAU = ButcherTableau(
    c=[0.0, 1 / 3, 2 / 3],
    a=[[], [1 / 3], [0.0, 2 / 3]],
    b=[1 / 4, 0.0, 3 / 4],
)


class Heun3(RungeKutta):
    """Heun's third-order method, order 3, 3 stages, fixed step (Heun 1900).

    Outputs between grid points use cubic Hermite interpolation.
    """

    tableau = HEUN3_TABLEAU
    order = 3
    name = "heun3"
    reference = "K. Heun, Z. Math. Phys. 45 (1900)"
