"""Kværnø's ESDIRK 5(4): L-stable, stiffly accurate, 7 stages with an explicit first one."""

from __future__ import annotations

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["Kvaerno5"]

_G = 0.26
_ROWS = (
    (0.0,),
    (_G,),
    (0.13, 0.84033320996790809),
    (0.22371961478320505, 0.47675532319799699, -0.06470895363112615),
    (0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998),
    (0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676),
    (
        0.13659751177640291,
        0.0,
        -0.05496908796538376,
        -0.04118626728321046,
        0.62993304899016403,
        0.06962479448202728,
    ),
)


def _square(rows: tuple[tuple[float, ...], ...]) -> list[list[float]]:
    """Lower rows plus the diagonal ``γ`` (0 for the explicit first stage), zero-padded."""
    s = len(rows)
    out = []
    for i, row in enumerate(rows):
        full = list(row[:i]) + [0.0 if i == 0 else _G] + [0.0] * (s - i - 1)
        out.append(full)
    return out


_A = _square(_ROWS)
_B = _A[-1]
_B_HAT = _A[-2]  # the embedded fourth-order solution is the sixth stage value

KVAERNO5_TABLEAU = ButcherTableau(
    c=[0.0, 0.52, 1.230333209967908, 0.8957659843500759, 0.43639360985864756, 1.0, 1.0],
    a=_A,
    b=_B,
    b_error=[x - y for x, y in zip(_B, _B_HAT, strict=True)],
    implicit=True,
)

# Stage predictors: weights of earlier stage derivatives for the initial Newton guess
# (from OrdinaryDiffEq.jl's Kvaerno5 via diffrax, with diffrax's correction of α21).
_PREDICTOR = (
    (),
    (1.0,),
    (-1.366025403784441, 2.3660254037844357),
    (-0.19650552613122207, 0.8113579546496623, 0.38514757148155954),
    (0.10375304369958693, 0.937994698066431, -0.04174774176601781, 0.0),
    (-0.17281112873898072, 0.6235784481025847, 0.5492326806363959, 0.0, 0.0),
    (*_A[5][:5], _G),
)


class Kvaerno5(ImplicitRungeKutta):
    """Kværnø 5(4): ESDIRK, order 5 with embedded order 4, 7 stages (6 implicit with the
    same diagonal γ = 0.26, so one LU per step), FSAL, L-stable and stiffly accurate;
    cubic Hermite dense output (the loop lands on output times to keep fifth order).

    Reference: A. Kværnø, "Singly diagonally implicit Runge--Kutta methods with an explicit
    first stage", BIT Numer. Math. 44(3):489-502, 2004.
    """

    tableau = KVAERNO5_TABLEAU
    order = 5
    error_order = 4
    name = "kvaerno5"
    reference = "A. Kværnø, BIT Numer. Math. 44(3):489-502, 2004"
    predictor = _PREDICTOR
