"""Input checks shared by the interpolations: data ``(batch, time, channels)`` and times."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_data", "check_times"]


def check_data(x: object) -> Tensor:
    """``x``: a floating tensor ``(batch, time, channels)`` with at least 2 times; NaN = missing."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor (batch, time, channels); got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"x must be floating point; got {x.dtype}. Use x.to(torch.float32)")
    if x.dim() != 3:
        raise ValueError(
            f"x must have shape (batch, time, channels); got shape {tuple(x.shape)}. Add the "
            "missing axes, e.g. x[None] for one series or x[..., None] for one channel"
        )
    if x.shape[1] < 2:
        raise ValueError(f"x must hold at least 2 times; got x.shape[1]={x.shape[1]}")
    if bool(torch.isinf(x).any()):
        raise ValueError("x contains inf; only NaN is accepted (it marks a missing value)")
    return x


def check_times(t: object, x: Tensor) -> Tensor:
    """Knot times: ``None`` (``0, 1, ..., T-1``), shared ``(T,)`` or per-sample ``(batch, T)``.

    Each row must be finite and strictly increasing; the result has ``x``'s dtype and device.
    """
    n_batch, n_time = x.shape[0], x.shape[1]
    if t is None:
        return torch.arange(n_time, dtype=x.dtype, device=x.device)
    if not isinstance(t, Tensor):
        raise TypeError(f"t must be a torch.Tensor of knot times or None; got {type(t).__name__}")
    if t.shape not in ((n_time,), (n_batch, n_time)):
        raise ValueError(
            f"t must have shape ({n_time},) (shared times) or ({n_batch}, {n_time}) (one row per "
            f"sample) to match x of shape {tuple(x.shape)}; got {tuple(t.shape)}"
        )
    if t.device != x.device:
        raise ValueError(f"t is on {t.device} but x is on {x.device}; use t.to(x.device)")
    t = t.to(x.dtype)
    if not bool(torch.isfinite(t).all()):
        raise ValueError("t must be finite (NaN marks a missing value in x, never in t)")
    steps = t[..., 1:] - t[..., :-1]
    if not bool((steps > 0).all()):
        bad = torch.nonzero(steps <= 0)[0].tolist()
        raise ValueError(
            f"t must be strictly increasing along time; the step at index {bad} is "
            f"{float(steps[tuple(bad)]):g}. Sort the observations by time"
        )
    return t
