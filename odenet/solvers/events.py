"""Terminal events: locate a sign change of ``event_fn(t, y)`` on the dense output."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["locate_event"]

MAX_EVENT_ITERATIONS = 200


def locate_event(
    g: Callable[[float], float],
    g_lo: float,
    g_hi: float,
    t_lo: float,
    t_hi: float,
    tol: float,
) -> float:
    """Root of ``g`` in ``[t_lo, t_hi]`` (bracketed: ``g_lo * g_hi <= 0``), to ``tol`` in t.

    Illinois variant of regula falsi (Dowell & Jarratt 1971): superlinear and always
    bracketing; at most ``MAX_EVENT_ITERATIONS`` iterations, so it always terminates.
    """
    if g_lo == 0.0:
        return t_lo
    if g_hi == 0.0:
        return t_hi
    a, b, fa, fb = t_lo, t_hi, g_lo, g_hi
    for _ in range(MAX_EVENT_ITERATIONS):
        if abs(b - a) <= tol:
            break
        c = (a * fb - b * fa) / (fb - fa)
        if not (min(a, b) < c < max(a, b)):
            c = 0.5 * (a + b)
        fc = g(c)
        if fc == 0.0:
            return c
        if fc * fb < 0:
            a, fa = b, fb
        else:
            fa *= 0.5
        b, fb = c, fc
    return b if abs(fb) <= abs(fa) else a


def event_value(event_fn: Callable[[Tensor, Tensor], Tensor], t: Tensor, y: Tensor) -> float:
    """``float(event_fn(t, y))``; the event function must return a single number."""
    value = event_fn(t, y)
    if not isinstance(value, Tensor) or not torch.is_floating_point(value):
        got = value.dtype if isinstance(value, Tensor) else type(value).__name__
        raise TypeError(
            f"event_fn must return a floating-point tensor whose sign change marks the event; "
            f"got {got}. Return e.g. y[..., 0] - threshold, not a comparison or a Python number"
        )
    if value.numel() != 1:
        raise ValueError(
            f"event_fn must return a single number (a 0-d tensor); got shape "
            f"{tuple(value.shape)}. Reduce over the batch, e.g. return g.min()"
        )
    return float(value.detach())
