"""Tsitouras 5(4): an optimised fifth-order pair, FSAL, with its own quartic interpolant."""

from __future__ import annotations

from numpy.polynomial import Polynomial as P

from .interpolation import polynomial_weights
from .runge_kutta import RungeKutta
from .tableau import ButcherTableau

__all__ = ["Tsit5"]

_B = (
    0.09646076681806523,
    0.01,
    0.4798896504144996,
    1.379008574103742,
    -3.290069515436081,
    2.324710524099774,
    0.0,
)
# b - b_hat. The sign of the last entry is printed wrongly in the paper; -1/66 is correct
# (see the errata discussed by the OrdinaryDiffEq.jl and diffrax projects).
_B_ERROR = (
    0.001780011052226,
    0.000816434459657,
    -0.007880878010262,
    0.144711007173263,
    -0.582357165452555,
    0.458082105929187,
    -1 / 66,
)

TSIT5_TABLEAU = ButcherTableau(
    c=[0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0],
    a=[
        [],
        [0.161],
        [-0.008480655492356989, 0.335480655492357],
        [2.8971530571054935, -6.359448489975075, 4.3622954328695815],
        [5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525],
        [
            5.86145544294642,
            -12.92096931784711,
            8.159367898576159,
            -0.071584973281401,
            -0.02826905039406838,
        ],
        list(_B[:6]),
    ],
    b=_B,
    b_error=_B_ERROR,
)

_T = P([0.0, 1.0])


def _tsit5_dense() -> tuple[tuple[float, ...], ...]:
    """The seven weight polynomials b_i(θ) of Tsitouras (2011), §3, in product form."""
    t2 = _T * _T
    polys = [
        -1.0530884977290216
        * _T
        * (_T - 1.3299890189751412)
        * (t2 - 1.4364028541716351 * _T + 0.7139816917074209),
        0.1017 * t2 * (t2 - 2.1966568338249754 * _T + 1.2949852507374631),
        2.490627285651252793 * t2 * (t2 - 2.38535645472061657 * _T + 1.57803468208092486),
        -16.54810288924490272 * (_T - 1.21712927295533244) * (_T - 0.61620406037800089) * t2,
        47.37952196281928122 * (_T - 1.203071208372362603) * (_T - 0.658047292653547382) * t2,
        -34.87065786149660974 * (_T - 1.2) * (_T - 0.666666666666666667) * t2,
        2.5 * (_T - 1) * (_T - 0.6) * t2,
    ]
    return polynomial_weights(polys)


class Tsit5(RungeKutta):
    """Tsitouras, order 5 with embedded order 4, 7 stages (6 per step with FSAL).

    Dense output: the paper's own fourth-order continuous extension.
    Reference: Ch. Tsitouras, "Runge--Kutta pairs of order 5(4) satisfying only the first
    column simplifying assumption", Comput. Math. Appl. 62(2):770-775, 2011.
    """

    tableau = TSIT5_TABLEAU
    order = 5
    error_order = 4
    name = "tsit5"
    reference = "Tsitouras, Comput. Math. Appl. 62(2):770-775, 2011"
    interpolant_order = 4
    dense_weights = _tsit5_dense()
