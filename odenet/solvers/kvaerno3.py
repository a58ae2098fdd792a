"""Kværnø's ESDIRK 3(2): L-stable, stiffly accurate, 4 stages with an explicit first one."""

from __future__ import annotations

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["Kvaerno3"]

# γ is the root of 6γ³ - 18γ² + 9γ - 1 = 0 in (0, 1) that makes the method L-stable
_G = 0.43586652150845899942
_A31 = (-4 * _G**2 + 6 * _G - 1) / (4 * _G)
_A32 = (-2 * _G + 1) / (4 * _G)
_A41 = (6 * _G - 1) / (12 * _G)
_A42 = -1 / ((24 * _G - 12) * _G)
_A43 = (-6 * _G**2 + 6 * _G - 1) / (6 * _G - 3)

KVAERNO3_TABLEAU = ButcherTableau(
    c=[0.0, 2 * _G, 1.0, 1.0],
    a=[
        [0.0, 0.0, 0.0, 0.0],
        [_G, _G, 0.0, 0.0],
        [_A31, _A32, _G, 0.0],
        [_A41, _A42, _A43, _G],
    ],
    b=[_A41, _A42, _A43, _G],
    # the embedded second-order solution is the third stage value (b_hat = a[2])
    b_error=[_A41 - _A31, _A42 - _A32, _A43 - _G, _G],
    implicit=True,
)

_THETA = 1 / (2 * _G)


class Kvaerno3(ImplicitRungeKutta):
    """Kværnø 3(2): ESDIRK, order 3 with embedded order 2, 4 stages (3 implicit, FSAL),
    L-stable and stiffly accurate; cubic Hermite dense output.

    Stage predictors (initial Newton guesses) as in diffrax's ``Kvaerno3``.
    Reference: A. Kværnø, "Singly diagonally implicit Runge--Kutta methods with an explicit
    first stage", BIT Numer. Math. 44(3):489-502, 2004.
    """

    tableau = KVAERNO3_TABLEAU
    order = 3
    error_order = 2
    name = "kvaerno3"
    reference = "A. Kværnø, BIT Numer. Math. 44(3):489-502, 2004"
    predictor = ((), (1.0,), (1.0 - _THETA, _THETA), (_A31, _A32, _G))
