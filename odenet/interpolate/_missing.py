"""Filling missing values (NaN) along time, per sample and channel, as torchcde does.

Shapes: ``x (batch, time, channels)``; ``t (time,)`` or ``(batch, time)``.
A channel with no observation at all in a sample is filled with zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["fill_forward", "fill_linear", "neighbours"]


def neighbours(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Indices of the previous and next observed time (inclusive) and the observed mask.

    Returns ``(prev, nxt, observed)``, each ``(batch, time, channels)``; ``prev`` is ``-1``
    before the first observation and ``nxt`` is ``time`` after the last.
    """
    n = x.shape[1]
    observed = ~torch.isnan(x)
    idx = torch.arange(n, device=x.device).view(1, n, 1).expand_as(x)
    prev = torch.where(observed, idx, torch.full_like(idx, -1)).cummax(dim=1).values
    flipped = torch.where(observed, idx, torch.full_like(idx, n)).flip(1)
    nxt = (-(-flipped).cummax(dim=1).values).flip(1)
    return prev, nxt, observed


def _gather(x: Tensor, index: Tensor) -> Tensor:
    return torch.gather(x, 1, index.clamp(0, x.shape[1] - 1))


def fill_linear(x: Tensor, t: Tensor) -> Tensor:
    """NaNs replaced by linear interpolation in time between the neighbouring observations;
    leading (trailing) NaNs take the first (last) observed value."""
    if not bool(torch.isnan(x).any()):
        return x
    n = x.shape[1]
    prev, nxt, observed = neighbours(x)
    tt = (t if t.dim() == 2 else t.expand(x.shape[0], n)).unsqueeze(-1).expand_as(x)
    zero = torch.zeros_like(x)
    xs = torch.where(observed, x, zero)
    x_prev, x_next = _gather(xs, prev), _gather(xs, nxt)
    t_prev, t_next = _gather(tt, prev), _gather(tt, nxt)
    has_prev, has_next = prev >= 0, nxt < n
    both = has_prev & has_next & ~observed
    span = torch.where(both, t_next - t_prev, torch.ones_like(tt))
    w = torch.where(both, (tt - t_prev) / span, zero)
    inner = x_prev + w * (x_next - x_prev)
    filled = torch.where(
        has_prev, torch.where(has_next, inner, x_prev), torch.where(has_next, x_next, zero)
    )
    return torch.where(observed, x, filled)


def fill_forward(x: Tensor) -> Tensor:
    """NaNs replaced by the last observed value (the first observed one before it)."""
    if not bool(torch.isnan(x).any()):
        return x
    n = x.shape[1]
    prev, nxt, observed = neighbours(x)
    xs = torch.where(observed, x, torch.zeros_like(x))
    held = torch.where(prev >= 0, _gather(xs, prev), _gather(xs, nxt))
    held = torch.where((prev < 0) & (nxt >= n), torch.zeros_like(x), held)
    return torch.where(observed, x, held)
