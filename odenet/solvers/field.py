"""The vector field as the solvers see it: Python-float time in, evaluations counted."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["CountingField"]


class CountingField:
    """Wraps ``func(t, y)`` so the stepping loop can keep time as a Python float.

    Time is held in float64 by the loop (so a float32 state never stalls near ``t1``) and
    handed to ``func`` as a 0-d tensor of the user's time dtype on the state's device,
    created with ``torch.scalar_tensor`` (a fill, not a host-to-device copy; about 4x
    cheaper on CPU than ``torch.tensor``/``torch.full``).

    Attributes:
        nfe: number of evaluations so far.
    """

    __slots__ = ("_device", "_dtype", "func", "nfe")

    def __init__(
        self, func: Callable[[Tensor, Tensor], Tensor], t_dtype: torch.dtype, device: torch.device
    ) -> None:
        self.func = func
        self._dtype = t_dtype
        self._device = device
        self.nfe = 0

    def time(self, t: float) -> Tensor:
        """``t`` as a 0-d tensor of the time dtype, on the state's device."""
        return torch.scalar_tensor(t, dtype=self._dtype, device=self._device)

    def nudge(self, t: float, toward: float) -> float:
        """The time nearest ``t`` strictly on the ``toward`` side (``+1.0``/``-1.0``) that
        ``func`` can tell apart from ``t``: representable in the time dtype ``func`` receives.

        A one-float64-ulp nudge would round back onto ``t`` in float32 (``jump_t`` would then
        evaluate ``func`` on the wrong side of a discontinuity).
        """
        x = torch.scalar_tensor(t, dtype=self._dtype)
        if (float(x) - t) * toward > 0:  # rounding already moved it to the requested side
            return float(x)
        return float(torch.nextafter(x, torch.scalar_tensor(toward * math.inf, dtype=self._dtype)))

    def __call__(self, t: float, y: Tensor) -> Tensor:
        self.nfe += 1
        return self.func(torch.scalar_tensor(t, dtype=self._dtype, device=self._device), y)
