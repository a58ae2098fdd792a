"""Implicit midpoint rule: the one-stage Gauss--Legendre method (order 2, A-stable)."""

from __future__ import annotations

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["ImplicitMidpoint"]

IMPLICIT_MIDPOINT_TABLEAU = ButcherTableau(c=[0.5], a=[[0.5]], b=[1.0], implicit=True)


class ImplicitMidpoint(ImplicitRungeKutta):
    """Implicit midpoint ``y1 = y + h f(t + h/2, (y + y1)/2)``: order 2, A-stable,
    symplectic, fixed step.

    Reference: Hairer & Wanner, *Solving ODEs II*, §IV.3 (Gauss methods, s = 1).
    """

    tableau = IMPLICIT_MIDPOINT_TABLEAU
    order = 2
    name = "implicit_midpoint"
    reference = "Hairer & Wanner, Solving ODEs II, §IV.3"
