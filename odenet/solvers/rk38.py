"""Kutta's 3/8 rule: the fourth-order Runge--Kutta method torchdiffeq calls ``rk4``."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["RK38"]

RK38_TABLEAU = ButcherTableau(
    c=[0.0, 1 / 3, 2 / 3, 1.0],
    a=[[], [1 / 3], [-1 / 3, 1.0], [1.0, -1.0, 1.0]],
    b=[1 / 8, 3 / 8, 3 / 8, 1 / 8],
)


class RK38(RungeKutta):
    """The 3/8 rule, order 4, 4 stages, fixed step (Kutta 1901).

    Slightly smaller error constants than classical RK4 for one more addition per stage;
    ``odenet.torchdiffeq`` maps torchdiffeq's ``"rk4"`` onto it (torchdiffeq's fixed-grid
    ``rk4`` is this rule). Hairer, Nørsett & Wanner, *Solving ODEs I*, Table II.1.2.
    """

    tableau = RK38_TABLEAU
    order = 4
    name = "rk38"
    reference = "W. Kutta, Z. Math. Phys. 46 (1901); Hairer, Nørsett & Wanner, Table II.1.2"
