"""The vector field as the solvers see it: Python-float time in, evaluations counted."""

from __future__ import annotations

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
        njac, nlu: Jacobians and LU factorisations of implicit methods so far.
        cache: scratch of implicit methods (the last linearisation), ``None`` at first.
    """

    __slots__ = ("__weakref__", "_device", "_dtype", "cache", "func", "nfe", "njac", "nlu")

    def __init__(
        self, func: Callable[[Tensor, Tensor], Tensor], t_dtype: torch.dtype, device: torch.device
    ) -> None:
        self.func = func
        self._dtype = t_dtype
        self._device = device
        self.nfe = 0
        self.njac = 0
        self.nlu = 0
        self.cache: object = None

    def time(self, t: float) -> Tensor:
        """``t`` as a 0-d tensor of the time dtype, on the state's device."""
        return torch.scalar_tensor(t, dtype=self._dtype, device=self._device)

    def __call__(self, t: float, y: Tensor) -> Tensor:
        self.nfe += 1
        return self.func(torch.scalar_tensor(t, dtype=self._dtype, device=self._device), y)
