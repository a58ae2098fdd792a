"""Adaptive step-size control: the error norm, a PI controller and the initial step.

References:
    E. Hairer, S. P. Nørsett & G. Wanner, *Solving ODEs I*, §II.4 (error norm, the
    initial-step algorithm) and the DOPRI5 code (PI coefficients ``beta = 0.04``);
    K. Gustafsson, "Control theoretic techniques for stepsize selection in explicit
    Runge--Kutta methods", ACM TOMS 17(4), 1991.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..errors import NonFiniteState, StepSizeUnderflow

__all__ = ["PIController", "initial_step_size", "rms_norm"]

Norm = Callable[[Tensor], Tensor]

#: a step-size factor or error ratio: one float (joint mode) or one per sample
Factor = float | Tensor | np.ndarray

#: dtypes whose error norms are computed in float32
LOW_PRECISION = (torch.float16, torch.bfloat16)


def rms_norm(x: Tensor) -> Tensor:
    """Root mean square of all entries: ``sqrt(mean(x**2))``, a 0-d tensor."""
    return torch.linalg.vector_norm(x) / math.sqrt(max(x.numel(), 1))


def scaled_error_norm(
    err: Tensor, y0_abs: Tensor, y1_abs: Tensor, rtol: float, atol: float, norm: Norm
) -> Tensor:
    """``norm(err / (atol + rtol * max(|y0|, |y1|)))``; overwrites ``err`` (no grad).

    Half-precision states are measured in float32, where ``atol`` does not round to 0.
    """
    if err.dtype in LOW_PRECISION:
        err, y0_abs, y1_abs = err.float(), y0_abs.float(), y1_abs.float()
    tol = torch.maximum(y0_abs, y1_abs).mul_(rtol).add_(atol)
    return norm(err.div_(tol))


def rms_ratio_scales(
    norm: Norm, rtol: float, atol: float, dtype: torch.dtype, numel: int
) -> tuple[float, float] | None:
    """``(atol / rtol, 1 / (rtol * sqrt(n)))`` for :func:`shifted_error_norm`, or ``None``
    when it does not apply (another norm, half precision, ``rtol = 0``).

    With ``m = max(|y0|, |y1|)`` and ``n`` entries,
    ``rms_norm(err / (atol + rtol * m)) = ||err / (m + atol / rtol)||_2 / (rtol * sqrt(n))``:
    the right side makes two device operations fewer per step (no ``* rtol``, no division
    of the norm); its last factor is applied on the host to the number read for the accept
    decision. Its quotient is ``rtol`` times the left side's, so it overflows no sooner.
    """
    if norm is not rms_norm or dtype in LOW_PRECISION or not rtol > 0.0:
        return None
    shift, scale = atol / rtol, 1.0 / (rtol * math.sqrt(max(numel, 1)))
    if not (math.isfinite(shift) and math.isfinite(scale)):
        return None
    return shift, scale


def shifted_error_norm(err: Tensor, y0_abs: Tensor, y1_abs: Tensor, shift: float) -> Tensor:
    """``||err / (max(|y0|, |y1|) + shift)||_2`` (0-d); overwrites ``err`` (no grad). Times
    the ``scale`` of :func:`rms_ratio_scales` it is the RMS error ratio."""
    return torch.linalg.vector_norm(err.div_(torch.maximum(y0_abs, y1_abs).add_(shift)))


@dataclass(frozen=True)
class PIController:
    """Proportional-integral step-size controller.

    After an accepted step with error ratio ``r_n`` (``<= 1``) and previous ratio
    ``r_{n-1}``, the step is multiplied by
    ``safety * r_n**(-(1/q - 0.75*beta)) * r_{n-1}**beta`` (clipped to
    ``[factor_min, factor_max]``), where ``q`` is the order of the error estimate plus one.
    ``beta = 0`` gives the classical integral controller used by torchdiffeq. After a
    rejected step the factor is ``max(factor_min, safety * r_n**(-1/q))`` and the next step
    may not grow.

    Args:
        safety: factor below 1 keeping steps away from the rejection threshold.
        beta: weight of the previous error (Hairer's DOPRI5 uses 0.04).
        factor_min: smallest factor per step (``dfactor`` in torchdiffeq).
        factor_max: largest factor per step (``ifactor`` in torchdiffeq).
        dt_min: smallest step magnitude allowed; reaching it raises StepSizeUnderflow.
        dt_max: largest step magnitude allowed.
    """

    safety: float = 0.9
    beta: float = 0.04
    factor_min: float = 0.2
    factor_max: float = 10.0
    dt_min: float = 0.0
    dt_max: float = math.inf

    def __post_init__(self) -> None:
        if not 0.0 < self.safety <= 1.0:
            raise ValueError(f"safety must be in (0, 1]; got {self.safety}")
        if not 0.0 <= self.beta < 0.2:
            raise ValueError(f"beta must be in [0, 0.2); got {self.beta}")
        if not 0.0 < self.factor_min < 1.0:
            raise ValueError(f"factor_min (dfactor) must be in (0, 1); got {self.factor_min}")
        if not self.factor_max > 1.0:
            raise ValueError(f"factor_max (ifactor) must be > 1; got {self.factor_max}")
        if not 0.0 <= self.dt_min < self.dt_max:
            raise ValueError(
                f"need 0 <= dt_min < dt_max; got dt_min={self.dt_min}, dt_max={self.dt_max}"
            )

    def accept_factor(self, ratio: Factor, prev_ratio: Factor, q: int) -> Factor:
        """Step multiplier after an accepted step (``ratio <= 1``); a zero error gives
        ``factor_max``.

        Elementwise: ``ratio`` and ``prev_ratio`` are Python floats (the joint loop), or
        ``(batch,)`` tensors / NumPy arrays (the independent loops, one factor per sample).
        """
        if isinstance(ratio, (float, int)):  # joint hot path: plain float arithmetic
            if ratio <= 0.0:
                return self.factor_max
            return _clip(self._accept_law(ratio, prev_ratio, q), self.factor_min, self.factor_max)
        where = torch.where if isinstance(ratio, Tensor) else np.where
        factor = self._accept_law(ratio.clip(min=1e-300), prev_ratio, q)
        return where(ratio <= 0.0, self.factor_max, _clip(factor, self.factor_min, self.factor_max))

    def reject_factor(self, ratio: Factor, q: int) -> Factor:
        """Step multiplier after a rejected step (``ratio > 1``), in ``[factor_min, 1]``;
        elementwise like :meth:`accept_factor`."""
        return _clip(self.safety * ratio ** (-1.0 / q), self.factor_min, 1.0)

    def _accept_law(self, ratio: Factor, prev_ratio: Factor, q: int) -> Factor:
        """``safety * r_n**(-(1/q - 0.75 beta)) * r_{n-1}**beta`` (operators only, so it
        runs unchanged on floats, tensors and NumPy arrays)."""
        return self.safety * ratio ** (-(1.0 / q - 0.75 * self.beta)) * prev_ratio**self.beta


def _clip(x: Factor, lo: float, hi: float) -> Factor:
    """``x`` clipped to ``[lo, hi]``: floats by ``min``/``max``, arrays by ``.clip``."""
    if isinstance(x, (float, int)):
        return min(hi, max(lo, x))
    return x.clip(lo, hi)


def initial_step_size(
    field: Callable[[float, Tensor], Tensor],
    t0: float,
    y0: Tensor,
    f0: Tensor,
    direction: float,
    order: int,
    rtol: float,
    atol: float,
    norm: Norm,
) -> float:
    """Initial step magnitude by Hairer, Nørsett & Wanner's algorithm (§II.4).

    Costs one evaluation of ``field`` and two host synchronisations.
    """
    y0_dtype = y0.dtype
    if norm is rms_norm:  # the 2-norm on the device, its 1/sqrt(n) on the host
        vector_norm, root_n = torch.linalg.vector_norm, math.sqrt(max(y0.numel(), 1))
    else:
        vector_norm, root_n = norm, 1.0
    with torch.no_grad():
        if y0.dtype in LOW_PRECISION:
            y0, f0 = y0.float(), f0.float()
        scale = y0.abs().mul_(rtol).add_(atol)
        norms = torch.stack([vector_norm(y0 / scale), vector_norm(f0 / scale)])
        d0, d1 = (x / root_n for x in norms.tolist())  # one sync
        if not (math.isfinite(d0) and math.isfinite(d1)):
            raise NonFiniteState(
                t=t0,
                dt=0.0,
                detail=" (y0 or func(t0, y0) is not finite, or overflows when scaled by rtol/atol)",
            )
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        if h0 == 0.0:  # |func(t0, y0)| so large that no step is representable
            raise StepSizeUnderflow(t=t0, dt=0.0)
        y1 = torch.add(y0, f0, alpha=direction * h0)
        f1 = field(t0 + direction * h0, y1.to(y0_dtype)).to(y0.dtype)
        d2 = float(vector_norm((f1 - f0).div_(scale))) / root_n / h0  # second sync
        dmax = max(d1, d2)
        h1 = max(1e-6, h0 * 1e-3) if dmax <= 1e-15 else (0.01 / dmax) ** (1.0 / (order + 1))
        return min(100 * h0, h1)
