"""Adams--Bashforth--Moulton predictor--corrector on a fixed grid (``implicit_adams``)."""

from __future__ import annotations

from .adams import AdamsMethod

__all__ = ["ImplicitAdams"]


class ImplicitAdams(AdamsMethod):
    """Adams--Bashforth predictor, Adams--Moulton corrector, fixed step.

    Each step predicts with the Adams--Bashforth formula of order ``p`` (``p`` grows from 3
    to ``max_order - 1`` during start-up) and corrects with the Adams--Moulton formula of
    order ``p + 1``, iterating ``y1 <- y0 + h (gamma_0 f(t1, y1) + ...)`` until two
    increments agree to ``rtol``/``atol`` (max norm) or ``max_iters`` iterations have run
    (then it warns and shortens the history by one). Cost per step: one evaluation plus
    one per corrector iteration. A solve converges with order 4 for ``max_order=4`` and
    order 5 for ``max_order >= 5`` (the fourth-order start-up bounds it; ``order`` holds
    it). Outputs between grid points: cubic Hermite.

    Args:
        max_order: 1..12 (default 12); below 4 every step is the 3/8 Runge--Kutta rule.
        max_iters: at most this many corrector iterations per step (default 4).

    Reference: Moulton (1926); Hairer, Norsett & Wanner, Solving ODEs I, Sec. III.1;
    torchdiffeq 0.2.5 ``implicit_adams``.
    """

    name = "implicit_adams"
    implicit = True
