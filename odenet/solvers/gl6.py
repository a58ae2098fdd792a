"""Gauss--Legendre with three stages: order 6, A-stable, symplectic, fully implicit."""

from __future__ import annotations

import math

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["GaussLegendre6"]

_S15 = math.sqrt(15.0)

GL6_TABLEAU = ButcherTableau(
    c=[0.5 - _S15 / 10, 0.5, 0.5 + _S15 / 10],
    a=[
        [5 / 36, 2 / 9 - _S15 / 15, 5 / 36 - _S15 / 30],
        [5 / 36 + _S15 / 24, 2 / 9, 5 / 36 - _S15 / 24],
        [5 / 36 + _S15 / 30, 2 / 9 + _S15 / 15, 5 / 36],
    ],
    b=[5 / 18, 4 / 9, 5 / 18],
    implicit=True,
)


class GaussLegendre6(ImplicitRungeKutta):
    """Gauss--Legendre, 3 stages: order 6, A-stable, symplectic, fixed step.

    Reference: Hairer & Wanner, *Solving ODEs II*, §IV.5, Table 5.2.
    """

    tableau = GL6_TABLEAU
    order = 6
    name = "gl6"
    reference = "Hairer & Wanner, Solving ODEs II, §IV.5, Table 5.2"
