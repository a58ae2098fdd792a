"""Adams--Bashforth on a fixed grid, with torchdiffeq 0.2.5's start-up (``explicit_adams``)."""

from __future__ import annotations

from .adams import AdamsMethod

__all__ = ["ExplicitAdams"]


class ExplicitAdams(AdamsMethod):
    """Explicit Adams--Bashforth, variable order up to ``max_order - 1``, fixed step.

    One evaluation of ``func`` per step once started (the first two steps are the 3/8
    Runge--Kutta rule, four evaluations each). The order of the formula grows from 3 to
    ``max_order - 1`` during start-up, so a solve converges with order 3 for
    ``max_order=4`` and order 4 for ``max_order >= 5`` (the third-order start-up step
    bounds the global error; ``order`` holds it). Outputs between grid points: cubic
    Hermite. The default ``max_order=12`` is torchdiffeq's; its formula is stable only
    for small ``|h lambda|`` (about 1e-2 on oscillatory problems): prefer ``max_order=5``.

    Args:
        max_order: 1..12 (default 12); below 4 every step is the 3/8 rule.
        max_iters: accepted for torchdiffeq compatibility; unused by the explicit method.

    Reference: Bashforth & Adams (1883); torchdiffeq 0.2.5 ``explicit_adams``.
    """

    name = "explicit_adams"
    implicit = False
