"""Forward Euler: first order, one stage. A residual block ``x + h f(x)`` is one Euler step."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["Euler"]

EULER_TABLEAU = ButcherTableau(c=[0.0], a=[[]], b=[1.0])


class Euler(RungeKutta):
    """Forward Euler, order 1, 1 stage, fixed step (Euler 1768).

    Outputs between grid points use cubic Hermite interpolation.
    """

    tableau = EULER_TABLEAU
    order = 1
    name = "euler"
    reference = "L. Euler, Institutionum calculi integralis, 1768"
