"""Bogacki--Shampine 3(2): a small adaptive pair, FSAL."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["Bosh3"]

_B = (2 / 9, 1 / 3, 4 / 9, 0.0)
_B_HAT = (7 / 24, 1 / 4, 1 / 3, 1 / 8)

BOSH3_TABLEAU = ButcherTableau(
    c=[0.0, 0.5, 0.75, 1.0],
    a=[[], [0.5], [0.0, 0.75], [2 / 9, 1 / 3, 4 / 9]],
    b=_B,
    b_error=[x - y for x, y in zip(_B, _B_HAT, strict=True)],
)


class Bosh3(RungeKutta):
    """Bogacki--Shampine, order 3 with embedded order 2, 4 stages (3 per step with FSAL).

    Dense output: cubic Hermite from the FSAL stage (third order).
    Reference: P. Bogacki & L. F. Shampine, Appl. Math. Lett. 2(4), 1989.
    """

    tableau = BOSH3_TABLEAU
    order = 3
    error_order = 2
    name = "bosh3"
    reference = "Bogacki & Shampine, Appl. Math. Lett. 2(4):321-325, 1989"
