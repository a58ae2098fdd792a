"""Per-sample step-size control for ``batch_mode="independent"``.

The error norm and initial step of :mod:`odenet.solvers.controller`, written on tensors
of shape ``(batch,)`` so every sample of a batch gets its own error norm and first step
without leaving the device. The step-size law itself is :class:`PIController`'s
(``accept_factor`` / ``reject_factor`` work elementwise on such tensors and on NumPy
arrays).

References:
    E. Hairer, S. P. Nørsett & G. Wanner, *Solving ODEs I*, §II.4 (error norm, initial
    step).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .batched_step import expand_to

__all__ = [
    "per_sample_initial_step",
    "per_sample_rms",
    "scaled_ratio",
    "shifted_norms",
]


def per_sample_rms(x: Tensor) -> Tensor:
    """RMS over every dimension but the first: ``(batch, *state) -> (batch,)`` in float64."""
    flat = x.reshape(x.shape[0], -1)
    norm = torch.linalg.vector_norm(flat, dim=1, dtype=torch.float64)
    return norm / math.sqrt(max(flat.shape[1], 1))


def scaled_ratio(err: Tensor, y0_abs: Tensor, y1_abs: Tensor, rtol: float, atol: float) -> Tensor:
    """``rms(err / (atol + rtol * max(|y0|, |y1|)))`` per sample, shape ``(batch,)``."""
    tol = torch.maximum(y0_abs, y1_abs).mul_(rtol).add_(atol)
    return per_sample_rms(err / tol)


def shifted_norms(err: Tensor, y0_abs: Tensor, y1_abs: Tensor, shift: float) -> Tensor:
    """``||err / (max(|y0|, |y1|) + shift)||_2`` per sample, ``(batch,)`` float64;
    overwrites ``err``. With ``shift = atol / rtol`` this times ``1 / (rtol * sqrt(n))``
    (``n`` entries per sample) is :func:`scaled_ratio`, two operations fewer (the host loop
    applies that factor to the ratios it reads)."""
    tol = torch.maximum(y0_abs, y1_abs).add_(shift)
    flat = err.div_(tol).reshape(err.shape[0], -1)
    return torch.linalg.vector_norm(flat, dim=1, dtype=torch.float64)


def per_sample_initial_step(
    field: Callable[[Tensor, Tensor], Tensor],
    t0: Tensor,
    y0: Tensor,
    f0: Tensor,
    direction: Tensor,
    order: int,
    rtol: float,
    atol: float,
) -> Tensor:
    """Hairer, Nørsett & Wanner's initial step (§II.4) per sample, magnitudes ``(batch,)``.

    Args:
        field: ``field(t, y)`` with ``t`` of shape ``(batch,)`` (float64).
        t0, direction: ``(batch,)`` float64 start times and signs (+1/-1).
        y0, f0: ``(batch, *state)`` state and its derivative.

    Costs one batched evaluation of ``field``.
    """
    with torch.no_grad():
        scale = y0.abs().mul_(rtol).add_(atol)
        d0 = per_sample_rms(y0 / scale)
        d1 = per_sample_rms(f0 / scale)
        small = (d0 < 1e-5) | (d1 < 1e-5)
        h0 = torch.where(small, torch.full_like(d0, 1e-6), 0.01 * d0 / d1.clamp(min=1e-300))
        step = expand_to(direction * h0, y0)
        f1 = field(t0 + direction * h0, y0 + step * f0)
        d2 = per_sample_rms((f1 - f0) / scale) / h0
        dmax = torch.maximum(d1, d2)
        h1 = torch.where(
            dmax <= 1e-15,
            torch.clamp(h0 * 1e-3, min=1e-6),
            (0.01 / dmax.clamp(min=1e-300)) ** (1.0 / (order + 1)),
        )
        return torch.minimum(100 * h0, h1)
