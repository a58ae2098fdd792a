"""Two-stage SDIRK of order 2: L-stable, stiffly accurate (Alexander 1977)."""

from __future__ import annotations

import math

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["SDIRK2"]

_G = (2.0 - math.sqrt(2.0)) / 2.0

SDIRK2_TABLEAU = ButcherTableau(
    c=[_G, 1.0], a=[[_G, 0.0], [1.0 - _G, _G]], b=[1.0 - _G, _G], implicit=True
)


class SDIRK2(ImplicitRungeKutta):
    """SDIRK with γ = 1 - √2/2, 2 implicit stages sharing one LU: order 2, L-stable,
    fixed step.

    Reference: R. Alexander, "Diagonally implicit Runge--Kutta methods for stiff O.D.E.'s",
    SIAM J. Numer. Anal. 14(6):1006-1021, 1977.
    """

    tableau = SDIRK2_TABLEAU
    order = 2
    name = "sdirk2"
    reference = "R. Alexander, SIAM J. Numer. Anal. 14(6):1006-1021, 1977"
