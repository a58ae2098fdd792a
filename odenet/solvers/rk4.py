"""The classical fourth-order Runge--Kutta method."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["RK4"]

RK4_TABLEAU = ButcherTableau(
    c=[0.0, 0.5, 0.5, 1.0],
    a=[[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]],
    b=[1 / 6, 1 / 3, 1 / 3, 1 / 6],
)


class RK4(RungeKutta):
    """Classical Runge--Kutta, order 4, 4 stages, fixed step (Kutta 1901)."""

    tableau = RK4_TABLEAU
    order = 4
    name = "rk4"
    reference = "W. Kutta, Z. Math. Phys. 46 (1901)"
