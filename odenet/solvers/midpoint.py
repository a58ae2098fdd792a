"""The explicit midpoint rule: second order, two stages."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["Midpoint"]

MIDPOINT_TABLEAU = ButcherTableau(c=[0.0, 0.5], a=[[], [0.5]], b=[0.0, 1.0])


class Midpoint(RungeKutta):
    """Explicit midpoint (modified Euler), order 2, 2 stages, fixed step (Runge 1895)."""

    tableau = MIDPOINT_TABLEAU
    order = 2
    name = "midpoint"
    reference = "C. Runge, Math. Ann. 46 (1895); Hairer, Nørsett & Wanner I, §II.1"
