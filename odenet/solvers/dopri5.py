"""Dormand--Prince 5(4): the default adaptive method, FSAL, with Shampine's dense output."""

from __future__ import annotations

from .interpolation import quartic_through_midpoint
from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["Dopri5"]

_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B_HAT = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)

DOPRI5_TABLEAU = ButcherTableau(
    c=[0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0],
    a=[
        [],
        [1 / 5],
        [3 / 40, 9 / 40],
        [44 / 45, -56 / 15, 32 / 9],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
        list(_B[:6]),
    ],
    b=_B,
    b_error=[x - y for x, y in zip(_B, _B_HAT, strict=True)],
)

# Shampine (1986): weights of a fifth-order value at the midpoint of the step.
_C_MID = (
    6025192743 / 30085553152 / 2,
    0.0,
    51252292925 / 65400821598 / 2,
    -2691868925 / 45128329728 / 2,
    187940372067 / 1594534317056 / 2,
    -1776094331 / 19743644256 / 2,
    11237099 / 235043384 / 2,
)


class Dopri5(RungeKutta):
    """Dormand--Prince, order 5 with embedded order 4, 7 stages (6 per step with FSAL).

    Dense output: the quartic through the fifth-order midpoint value (fourth order).
    References: J. R. Dormand & P. J. Prince, J. Comput. Appl. Math. 6(1), 1980;
    L. F. Shampine, Math. Comp. 46(173), 1986 (dense output).
    """

    tableau = DOPRI5_TABLEAU
    order = 5
    error_order = 4
    name = "dopri5"
    reference = "Dormand & Prince, J. Comput. Appl. Math. 6(1):19-26, 1980"
    interpolant_order = 4
    dense_weights = quartic_through_midpoint(_B, _C_MID)
