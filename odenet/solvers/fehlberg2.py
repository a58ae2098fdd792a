"""Runge--Kutta--Fehlberg 2(1) (torchdiffeq's ``fehlberg2``)."""

from __future__ import annotations

from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["Fehlberg2"]

_B = (1 / 512, 255 / 256, 1 / 512)
_B_HAT = (1 / 256, 255 / 256, 0.0)

FEHLBERG2_TABLEAU = ButcherTableau(
    c=[0.0, 0.5, 1.0],
    a=[[], [0.5], [1 / 256, 255 / 256]],
    b=_B,
    b_error=[x - y for x, y in zip(_B, _B_HAT, strict=True)],
)


class Fehlberg2(RungeKutta):
    """Fehlberg's low-order pair, propagating the second-order solution: order 2, embedded
    order 1, 3 stages. Dense output: cubic Hermite.
    Reference: E. Fehlberg, NASA Technical Report R-315, 1969.
    """

    tableau = FEHLBERG2_TABLEAU
    order = 2
    error_order = 1
    name = "fehlberg2"
    reference = "E. Fehlberg, NASA Technical Report R-315, 1969"
