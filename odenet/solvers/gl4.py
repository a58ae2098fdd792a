"""Gauss--Legendre with two stages: order 4, A-stable, symplectic, fully implicit."""

from __future__ import annotations

import math

from .implicit.implicit_rk import ImplicitRungeKutta
from .tableau import ButcherTableau

__all__ = ["GaussLegendre4"]

_S3 = math.sqrt(3.0)

GL4_TABLEAU = ButcherTableau(
    c=[0.5 - _S3 / 6, 0.5 + _S3 / 6],
    a=[[0.25, 0.25 - _S3 / 6], [0.25 + _S3 / 6, 0.25]],
    b=[0.5, 0.5],
    implicit=True,
)


class GaussLegendre4(ImplicitRungeKutta):
    """Gauss--Legendre, 2 stages: order 4, A-stable, symplectic, fixed step.

    The nodes are the Gauss points ``1/2 ∓ √3/6`` (torchdiffeq 0.2.5 lists ``1/2 - √3/6``
    twice; the rows of ``a`` and the order conditions need ``1/2 + √3/6`` for the second).
    Reference: Hairer & Wanner, *Solving ODEs II*, §IV.5, Table 5.1.
    """

    tableau = GL4_TABLEAU
    order = 4
    name = "gl4"
    reference = "Hairer & Wanner, Solving ODEs II, §IV.5, Table 5.1"
