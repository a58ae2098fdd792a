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
    """

    __slots__ = ("_device", "_dtype", "func", "nfe", "times")

    def __init__(
        self, func: Callable[[Tensor, Tensor], Tensor], t_dtype: torch.dtype, device: torch.device
    ) -> None:
        self.func = func
        self._dtype = t_dtype
        self._device = device
        self.nfe = 0
        #: optional ``{float time: 0-d tensor}`` made in one transfer by a fixed-grid loop
        self.times: dict[float, Tensor] = {}

    def time(self, t: float) -> Tensor:
        """``t`` as a 0-d tensor of the time dtype, on the state's device."""
        return torch.scalar_tensor(t, dtype=self._dtype, device=self._device)

    def __call__(self, t: float, y: Tensor) -> Tensor:
        self.nfe += 1
        tt = self.times.get(t) if self.times else None
        if tt is None:
            tt = torch.scalar_tensor(t, dtype=self._dtype, device=self._device)
        return self.func(tt, y)

    def preload(self, ts: list[float]) -> None:
        """Make the time tensors of ``ts`` in one operation (one copy to the device) so
        calls at those times skip the per-call fill."""
        values = torch.tensor(ts, dtype=torch.float64).to(self._dtype)
        self.times = dict(zip(ts, values.to(self._device).unbind(0), strict=True))
