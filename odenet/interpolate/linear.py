"""Linear interpolation of irregular, partly missing data (torchcde's ``linear_interpolation``).

Continuous, piecewise linear; the derivative is piecewise constant and jumps at the knots,
so an adaptive solver should step onto them: ``jump_t=X.grid_points`` (``odenet.cdeint``
does this for you).
"""

from __future__ import annotations

from torch import Tensor

from ._checks import check_data, check_times
from ._missing import fill_linear
from .piecewise import PiecewiseCubic

__all__ = ["LinearInterpolation"]


def _widths(knots: Tensor) -> Tensor:
    """Interval widths broadcastable against ``(batch, time - 1, channels)``."""
    h = knots[..., 1:] - knots[..., :-1]
    return h.unsqueeze(-1)


class LinearInterpolation(PiecewiseCubic):
    """Piecewise linear path through the observations.

    Args:
        x: ``(batch, time, channels)``; NaN marks a missing value, filled per channel by
            linear interpolation in time between the neighbouring observations (the first
            or last observed value before/after them; zeros when a channel is never observed).
        t: knot times ``(time,)`` shared, ``(batch, time)`` per sample, or ``None``
            (``0, 1, ..., time - 1``); strictly increasing.
    """

    def __init__(self, x: Tensor, t: Tensor | None = None) -> None:
        x = check_data(x)
        knots = check_times(t, x)
        x = fill_linear(x, knots)
        slope = (x[:, 1:] - x[:, :-1]) / _widths(knots)
        super().__init__(knots, x[:, :-1], slope)
