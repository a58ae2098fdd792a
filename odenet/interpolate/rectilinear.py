"""Rectilinear interpolation (torchcde's ``rectilinear=`` option; Morrill et al. 2021).

A causal, piecewise linear path that moves along one axis at a time: first time advances
with the values held, then the values jump to the new observation at fixed time. Written
on a virtual time ``s = 0, 1, ..., 2 (T - 1)``, with time as the first output channel:

    X(2i) = (t_i, x_i),    X(2i + 1) = (t_{i+1}, x_i),    X(2i + 2) = (t_{i+1}, x_{i+1}).

Integrate a CDE over ``s in [0, 2 (T - 1)]`` (``X.interval``); the value of the solution at
``s = 2i`` depends on the observations up to ``t_i`` only.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_data, check_times
from ._missing import fill_forward
from .piecewise import PiecewiseCubic

__all__ = ["RectilinearInterpolation"]


class RectilinearInterpolation(PiecewiseCubic):
    """Lead-lag style path with channels ``(time, *x channels)`` on the virtual knots
    ``0, 1, ..., 2 (T - 1)``.

    Args:
        x: ``(batch, time, channels)``; NaN values hold the last observation (the first one
            before it; zeros when a channel is never observed).
        t: knot times ``(time,)``, ``(batch, time)`` or ``None``.
    """

    def __init__(self, x: Tensor, t: Tensor | None = None) -> None:
        x = check_data(x)
        knots = check_times(t, x)
        x = fill_forward(x)
        n_batch, n_time = x.shape[0], x.shape[1]
        tt = (knots if knots.dim() == 2 else knots.expand(n_batch, n_time)).unsqueeze(-1)
        held = torch.cat([tt[:, 1:], x[:, :-1]], dim=-1)  # X(2i + 1)
        obs = torch.cat([tt, x], dim=-1)  # X(2i)
        points = torch.stack([obs[:, :-1], held], dim=2).reshape(n_batch, -1, obs.shape[-1])
        points = torch.cat([points, obs[:, -1:]], dim=1)  # (batch, 2T - 1, 1 + channels)
        virtual = torch.arange(points.shape[1], dtype=x.dtype, device=x.device)
        super().__init__(virtual, points[:, :-1], points[:, 1:] - points[:, :-1])
