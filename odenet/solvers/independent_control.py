"""Per-sample step-size control for ``batch_mode="independent"``.

The same laws as :mod:`odenet.solvers.controller`, written on tensors of shape
``(batch,)`` so every sample of a batch gets its own error norm, step size and
accept/reject decision without leaving the device.

References:
    E. Hairer, S. P. Nørsett & G. Wanner, *Solving ODEs I*, §II.4 (error norm, initial
    step); K. Gustafsson, ACM TOMS 17(4), 1991 (PI control).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from .batched_step import expand_to
from .controller import PIController

#: ``(batch,)`` per-sample values: a tensor, or a NumPy array in the host-controlled loop
Array = Tensor | np.ndarray

__all__ = [
    "accept_factor",
    "per_sample_initial_step",
    "per_sample_rms",
    "reject_factor",
    "scaled_ratio",
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


def accept_factor(ctrl: PIController, ratio: Array, prev_ratio: Array, q: int) -> Array:
    """Per-sample step multiplier after an accepted step (``ratio <= 1``), shape ``(batch,)``.

    ``safety * r_n**(-(1/q - 0.75 beta)) * r_{n-1}**beta`` clipped to
    ``[factor_min, factor_max]``; a zero error gives ``factor_max``. Works on tensors (the
    device loop) and on NumPy arrays (the host-controlled eager loop) alike.
    """
    where = torch.where if isinstance(ratio, Tensor) else np.where
    safe = ratio.clip(min=1e-300)
    factor = ctrl.safety * safe ** (-(1.0 / q - 0.75 * ctrl.beta)) * prev_ratio**ctrl.beta
    factor = factor.clip(ctrl.factor_min, ctrl.factor_max)
    return where(ratio <= 0.0, ctrl.factor_max, factor)


def reject_factor(ctrl: PIController, ratio: Array, q: int) -> Array:
    """Per-sample multiplier after a rejected step (``ratio > 1``), in ``[factor_min, 1]``
    (tensors or NumPy arrays)."""
    return (ctrl.safety * ratio ** (-1.0 / q)).clip(ctrl.factor_min, 1.0)


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
