"""TR-BDF2 as a three-stage ESDIRK: order 2, L-stable (Bank et al. 1985)."""

from __future__ import annotations

import math

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["TRBDF2"]

_G = 1.0 - math.sqrt(2.0) / 2.0
_B = math.sqrt(2.0) / 4.0

TRBDF2_TABLEAU = ButcherTableau(
    c=[0.0, 2 * _G, 1.0],
    a=[[0.0, 0.0, 0.0], [_G, _G, 0.0], [_B, _B, _G]],
    b=[_B, _B, _G],
    implicit=True,
)


class TRBDF2(ImplicitRungeKutta):
    """TR-BDF2: a trapezoidal stage to ``t + 2γh`` then a BDF2 stage to ``t + h``
    (γ = 1 - √2/2), written as an ESDIRK; order 2, L-stable, FSAL, fixed step.

    Reference: R. E. Bank, W. M. Coughran, W. Fichtner, E. H. Grosse, D. J. Rose &
    R. K. Smith, "Transient simulation of silicon devices and circuits", IEEE Trans.
    CAD 4(4):436-451, 1985; M. E. Hosea & L. F. Shampine, Appl. Numer. Math. 20, 1996.
    """

    tableau = TRBDF2_TABLEAU
    order = 2
    name = "trbdf2"
    reference = "Bank et al., IEEE Trans. CAD 4(4):436-451, 1985"
