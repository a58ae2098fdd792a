"""The vector field as the solvers see it: Python-float time in, evaluations counted."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["CountingField", "check_evaluation"]


class CountingField:
    """Wraps ``func(t, y)`` so the stepping loop can keep time as a Python float.

    Time is held in float64 by the loop (so a float32 state never stalls near ``t1``) and
    handed to ``func`` as a 0-d tensor of the user's time dtype on the state's device,
    created with ``torch.scalar_tensor`` (a fill, not a host-to-device copy; about 4x
    cheaper on CPU than ``torch.tensor``/``torch.full``). Consecutive calls at the same
    time receive the same tensor (it is made once), as do calls at times :meth:`preload`
    made.

    Every evaluation is checked without a host sync: the output must have the shape and
    dtype of ``y`` (an output that changes shape after the first call would otherwise be
    broadcast by the stage sums), and ``func`` must not modify ``y`` in place (seen through
    the tensor's version counter, which any in-place operation on it or a view bumps).
    Both raise with the time of the offending call; see :func:`check_evaluation`.

    Attributes:
        nfe: number of evaluations so far.
        njac, nlu: Jacobians and LU factorisations of implicit methods so far.
        cache: scratch of implicit methods (the last linearisation), ``None`` at first.
    """

    __slots__ = (
        "__weakref__",
        "_device",
        "_dtype",
        "_last_t",
        "_last_tt",
        "_shape",
        "_y_dtype",
        "cache",
        "func",
        "nfe",
        "njac",
        "nlu",
        "times",
    )

    def __init__(
        self, func: Callable[[Tensor, Tensor], Tensor], t_dtype: torch.dtype, device: torch.device
    ) -> None:
        self.func = func
        self._dtype = t_dtype
        self._device = device
        self.nfe = 0
        self._shape: torch.Size | None = None  # the state's, once an evaluation passed
        self._y_dtype: torch.dtype | None = None
        self.njac = 0
        self.nlu = 0
        self.cache: object = None
        #: optional ``{float time: 0-d tensor}`` made in one transfer by a fixed-grid loop
        self.times: dict[float, Tensor] = {}
        # the time tensor of the last call: consecutive calls at one time (rk4's two middle
        # stages, a step's last stage and the next step's first) share it
        self._last_t = math.nan
        self._last_tt: Tensor | None = None

    @property
    def preloads(self) -> bool:
        """Whether :meth:`preload` pays: off the CPU it replaces a fill kernel per call by
        one copy per block; on the CPU a fill costs less than the block's bookkeeping."""
        return self._device.type != "cpu"

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
        if t == self._last_t:
            tt = self._last_tt
        else:
            tt = self.times.get(t) if self.times else None
            if tt is None:
                tt = torch.scalar_tensor(t, dtype=self._dtype, device=self._device)
            self._last_t, self._last_tt = t, tt
        try:
            version = y._version
        except RuntimeError:  # an inference tensor (torch.inference_mode) has no version
            return self._unversioned(tt, t, y)
        out = self.func(tt, y)
        if (
            y._version != version
            or type(out) is not Tensor
            or out.shape != self._shape
            or out.dtype is not self._y_dtype
        ):
            check_evaluation(out, y, t, version, self.nfe)
            self._shape, self._y_dtype = y.shape, y.dtype  # the fast test for the next calls
        return out

    def _unversioned(self, tt: Tensor, t: float, y: Tensor) -> Tensor:
        """An evaluation on an inference tensor: output checked, in-place use not seen."""
        out = self.func(tt, y)
        check_evaluation(out, y, t, None, self.nfe)
        return out

    def preload(self, ts: list[float]) -> None:
        """Make the time tensors of ``ts`` in one operation (one copy to the device) so
        calls at those times skip the per-call fill."""
        values = torch.tensor(ts, dtype=torch.float64).to(self._dtype)
        self.times = dict(zip(ts, values.to(self._device).unbind(0), strict=True))


def check_evaluation(
    out: object, y: Tensor, t: float | Tensor, version: int | None, call: int
) -> None:
    """Raise the error an evaluation ``out = func(t, y)`` deserves (no-op when it is fine).

    Args:
        out: what ``func`` returned.
        y: the state it was given at time ``t`` (a float, or per-sample times ``(batch,)``
            in ``batch_mode="independent"``); ``version`` is ``y._version`` before the call
            (``None`` for an inference tensor, which keeps no version counter).
        call: 1-based number of the evaluation (``1``: the first call, ``func(t0, y0)``).

    Raises:
        ValueError: ``func`` modified ``y`` in place, or returned another shape.
        TypeError: ``func`` returned a non-tensor or another dtype.
    """
    if version is not None and y._version != version:
        raise ValueError(
            f"{_when(t, call)} modified its input y in place (e.g. y += ..., y.mul_(...), "
            "y[...] = ...); the solver still needs y after the call, so the result would be "
            "silently wrong. Return a new tensor instead, e.g. dy = -y rather than y.neg_(), "
            "or work on y.clone()"
        )
    if not isinstance(out, Tensor):
        raise TypeError(f"{_when(t, call)} must return a tensor (dy/dt); got {type(out).__name__}")
    first = "" if call == 1 else " (earlier calls returned the state's shape and dtype)"
    if out.shape != y.shape:
        raise ValueError(
            f"{_when(t, call)} returned shape {tuple(out.shape)} but the state has shape "
            f"{tuple(y.shape)}{first}; func(t, y) must return dy/dt with the shape of y at "
            "every call"
        )
    if out.dtype != y.dtype:
        raise TypeError(
            f"{_when(t, call)} returned dtype {out.dtype} but the state is {y.dtype}{first}; "
            "return dy/dt in the dtype of y at every call (e.g. build func's parameters in that "
            "dtype)"
        )


def _when(t: float | Tensor, call: int) -> str:
    """``"func(t, y) at t=0.25 (evaluation 7)"``; per-sample times are read (a host
    synchronisation) only here, on the error path."""
    if call == 1:
        return "func(t0, y0)"
    if isinstance(t, Tensor):
        lo, hi = float(t.min()), float(t.max())
        at = f"t={lo:.12g}" if lo == hi else f"t in [{lo:.12g}, {hi:.12g}]"
    else:
        at = f"t={t:.12g}"
    return f"func(t, y) at {at} (evaluation {call})"
