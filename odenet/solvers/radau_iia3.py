"""Radau IIA with two stages: order 3, L-stable, stiffly accurate, fully implicit."""

from __future__ import annotations

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["RadauIIA3"]

RADAU_IIA3_TABLEAU = ButcherTableau(
    c=[1 / 3, 1.0],
    a=[[5 / 12, -1 / 12], [3 / 4, 1 / 4]],
    b=[3 / 4, 1 / 4],
    implicit=True,
)


class RadauIIA3(ImplicitRungeKutta):
    """Radau IIA, 2 stages solved as one coupled system: order 3, L-stable, fixed step.

    Reference: Hairer & Wanner, *Solving ODEs II*, §IV.5, Table 5.5.
    """

    tableau = RADAU_IIA3_TABLEAU
    order = 3
    name = "radauIIA3"
    reference = "Hairer & Wanner, Solving ODEs II, §IV.5, Table 5.5"
