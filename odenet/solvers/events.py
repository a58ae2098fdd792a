"""Terminal events: locate a sign change of ``event_fn(t, y)`` on the dense output."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["locate_event", "locate_events"]

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


def locate_events(
    g: Callable[[np.ndarray], np.ndarray],
    g_lo: np.ndarray,
    g_hi: np.ndarray,
    t_lo: np.ndarray,
    t_hi: np.ndarray,
    tol: np.ndarray,
) -> np.ndarray:
    """:func:`locate_event` for ``m`` brackets at once (all arguments ``(m,)`` float64).

    ``g`` maps ``(m,)`` trial times to ``(m,)`` values (entry ``i`` belongs to bracket
    ``i``); each iteration makes one call, for every bracket (finished ones repeat their
    last point, whose value is then ignored). Same iteration and result per bracket as
    :func:`locate_event`.
    """
    a, b = t_lo.astype(np.float64), t_hi.astype(np.float64)
    fa, fb = g_lo.astype(np.float64), g_hi.astype(np.float64)
    done = (fa == 0.0) | (fb == 0.0)
    root = np.where(fa == 0.0, a, b)
    for _ in range(MAX_EVENT_ITERATIONS):
        active = ~done & (np.abs(b - a) > tol)
        if not active.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            c = (a * fb - b * fa) / (fb - fa)
        inside = (np.minimum(a, b) < c) & (c < np.maximum(a, b))
        c = np.where(active, np.where(inside, c, 0.5 * (a + b)), b)
        fc = np.asarray(g(c), dtype=np.float64)
        zero = active & (fc == 0.0)
        root = np.where(zero, c, root)
        done = done | zero
        move = active & ~zero
        flip = move & (fc * fb < 0)
        a, fa = np.where(flip, b, a), np.where(flip, fb, np.where(move, 0.5 * fa, fa))
        b, fb = np.where(move, c, b), np.where(move, fc, fb)
    return np.where(done, root, np.where(np.abs(fb) <= np.abs(fa), b, a))


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
