"""Heun--Euler 2(1): the smallest embedded pair (torchdiffeq's ``adaptive_heun``)."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["AdaptiveHeun"]

_B = (0.5, 0.5)
_B_HAT = (1.0, 0.0)

ADAPTIVE_HEUN_TABLEAU = ButcherTableau(
    c=[0.0, 1.0],
    a=[[], [1.0]],
    b=_B,
    b_error=[x - y for x, y in zip(_B, _B_HAT, strict=True)],
)


class AdaptiveHeun(RungeKutta):
    """Heun's method with Euler as the embedded solution: order 2, embedded order 1,
    2 stages. Dense output: cubic Hermite. Reference: Hairer, Nørsett & Wanner I, §II.4.
    """

    tableau = ADAPTIVE_HEUN_TABLEAU
    order = 2
    error_order = 1
    name = "adaptive_heun"
    reference = "Hairer, Nørsett & Wanner, Solving ODEs I, §II.4 (Heun with Euler embedded)"
