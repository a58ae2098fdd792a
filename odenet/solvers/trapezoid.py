"""The trapezoidal rule (Crank--Nicolson): order 2, A-stable, explicit first stage."""

from __future__ import annotations

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["Trapezoid"]

TRAPEZOID_TABLEAU = ButcherTableau(
    c=[0.0, 1.0], a=[[0.0, 0.0], [0.5, 0.5]], b=[0.5, 0.5], implicit=True
)


class Trapezoid(ImplicitRungeKutta):
    """Trapezoidal rule ``y1 = y + h/2 (f(t, y) + f(t + h, y1))``: order 2, A-stable
    (not L-stable), FSAL, fixed step.

    Reference: Hairer & Wanner, *Solving ODEs II*, §IV.3 (Lobatto IIIA, s = 2).
    """

    tableau = TRAPEZOID_TABLEAU
    order = 2
    name = "trapezoid"
    reference = "Hairer & Wanner, Solving ODEs II, §IV.3"
