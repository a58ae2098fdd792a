"""Heun's method (explicit trapezoid): second order, two stages."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["Heun"]

HEUN_TABLEAU = ButcherTableau(c=[0.0, 1.0], a=[[], [1.0]], b=[0.5, 0.5])


class Heun(RungeKutta):
    """Heun's method (explicit trapezoidal rule), order 2, 2 stages, fixed step (Heun 1900).

    Its tableau is FSAL-shaped only in ``c``; the last stage is at ``y + h k1``, not at
    ``y1``, so it is not FSAL.
    """

    tableau = HEUN_TABLEAU
    order = 2
    name = "heun"
    reference = "K. Heun, Z. Math. Phys. 45 (1900)"
