"""Hermite cubic interpolation with backward differences (torchcde's
``hermite_cubic_coefficients_with_backward_differences``; Morrill et al. 2021,
"Neural controlled differential equations for online prediction tasks").

On ``[t_i, t_{i+1}]`` the cubic matches the values ``x_i, x_{i+1}`` and the slopes
``m_{i-1}`` at ``t_i`` and ``m_i`` at ``t_{i+1}``, where ``m_i = (x_{i+1} - x_i) / h_i`` is the
slope of interval ``i`` (``m_{-1} = m_0``). So the path is C1, reproduces linear data
exactly, and on ``[t_i, t_{i+1}]`` depends on the data up to ``t_{i+1}`` only (causal up to
one observation).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_data, check_times
from ._missing import fill_linear
from .piecewise import PiecewiseCubic

__all__ = ["HermiteCubic"]


class HermiteCubic(PiecewiseCubic):
    """C1 piecewise cubic through the observations with backward-difference slopes.

    Args:
        x: ``(batch, time, channels)``; NaN values are first filled by linear interpolation
            (as :class:`~odenet.interpolate.LinearInterpolation` does).
        t: knot times ``(time,)``, ``(batch, time)`` or ``None``.
    """

    def __init__(self, x: Tensor, t: Tensor | None = None) -> None:
        x = check_data(x)
        knots = check_times(t, x)
        x = fill_linear(x, knots)
        h = (knots[..., 1:] - knots[..., :-1]).unsqueeze(-1)
        m = (x[:, 1:] - x[:, :-1]) / h
        p = torch.cat([m[:, :1], m[:, :-1]], dim=1)  # slope at the left knot
        q = m  # slope at the right knot
        c = (3 * m - 2 * p - q) / h
        d = (p + q - 2 * m) / (h * h)
        super().__init__(knots, x[:, :-1], p, c, d)
