"""Radau IIA with three stages: order 5, L-stable, stiffly accurate, fully implicit."""

from __future__ import annotations

import math

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["RadauIIA5"]

_S6 = math.sqrt(6.0)

RADAU_IIA5_TABLEAU = ButcherTableau(
    c=[(4 - _S6) / 10, (4 + _S6) / 10, 1.0],
    a=[
        [(88 - 7 * _S6) / 360, (296 - 169 * _S6) / 1800, (-2 + 3 * _S6) / 225],
        [(296 + 169 * _S6) / 1800, (88 + 7 * _S6) / 360, (-2 - 3 * _S6) / 225],
        [(16 - _S6) / 36, (16 + _S6) / 36, 1 / 9],
    ],
    b=[(16 - _S6) / 36, (16 + _S6) / 36, 1 / 9],
    implicit=True,
)


class RadauIIA5(ImplicitRungeKutta):
    """Radau IIA, 3 stages solved as one coupled system: order 5, L-stable, fixed step
    (the tableau of Hairer & Wanner's RADAU5 code).

    Reference: Hairer & Wanner, *Solving ODEs II*, §IV.5, Table 5.6.
    """

    tableau = RADAU_IIA5_TABLEAU
    order = 5
    name = "radauIIA5"
    reference = "Hairer & Wanner, Solving ODEs II, §IV.5, Table 5.6"
