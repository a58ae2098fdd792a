"""Backward (implicit) Euler: first order, L-stable, one implicit stage."""

from __future__ import annotations

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["ImplicitEuler"]

IMPLICIT_EULER_TABLEAU = ButcherTableau(c=[1.0], a=[[1.0]], b=[1.0], implicit=True)


class ImplicitEuler(ImplicitRungeKutta):
    """Implicit Euler ``y1 = y + h f(t + h, y1)``: order 1, L-stable, fixed step.

    Reference: Hairer & Wanner, *Solving ODEs II*, §IV.3.
    """

    tableau = IMPLICIT_EULER_TABLEAU
    order = 1
    name = "implicit_euler"
    reference = "Hairer & Wanner, Solving ODEs II, §IV.3"
