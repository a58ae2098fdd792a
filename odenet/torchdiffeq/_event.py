"""``odeint_event``: solve until an event, with the event time's gradient."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..solving.event_grad import differentiable_event
from ._adjoint import odeint_adjoint
from ._norms import split_flat
from ._odeint import combine_event_functions, odeint

__all__ = ["odeint_event"]

State = Tensor | tuple[Tensor, ...]


def odeint_event(
    func: Callable[[Tensor, Any], Any],
    y0: State,
    t0: Tensor,
    *,
    event_fn: Callable[[Tensor, Any], Tensor],
    reverse_time: bool = False,
    odeint_interface: Callable[..., Any] = odeint,
    **kwargs: Any,
) -> tuple[Tensor, State]:
    """Solve from ``t0`` (forwards, or backwards with ``reverse_time``) until ``event_fn``
    crosses zero, with no end time.

    Returns:
        ``(event_t, outputs)``: ``outputs`` holds ``y0`` and the state at ``event_t``
        (``(2, *y0.shape)``, tuples for a tuple state). Both carry the gradient of the
        implicit function theorem (Chen, Amos & Nickel 2021), also with respect to ``t0``.
    """
    t0 = t0.reshape(-1)
    step = -1.0 if reverse_time else 1.0
    t = torch.cat([t0, t0.detach() + step])
    event_t, solution = odeint_interface(func, y0, t, event_fn=event_fn, **kwargs)
    if odeint_interface in (odeint, odeint_adjoint):
        return event_t, solution  # these already attach the event's gradient
    return _reroute(func, y0, t, event_fn, event_t, solution)


def _reroute(
    func: Callable[..., Any],
    y0: State,
    t: Tensor,
    event_fn: Callable[..., Tensor],
    event_t: Tensor,
    solution: State,
) -> tuple[Tensor, State]:
    """Attach the implicit-function-theorem gradient to another interface's result."""
    if isinstance(solution, Tensor):
        combined = combine_event_functions(event_fn, t[0].to(solution.dtype), y0)
        et, ye = differentiable_event(combined, func, float(event_t), solution[-1], t)
        return et, torch.cat([solution[:-1], ye.unsqueeze(0)])
    shapes = tuple(s.shape[1:] for s in solution)
    flat = torch.cat([s[-1].reshape(-1) for s in solution])

    def flat_func(tt: Tensor, y: Tensor) -> Tensor:
        return torch.cat([o.reshape(-1) for o in func(tt, split_flat(y, shapes))])

    def flat_event(tt: Tensor, y: Tensor) -> Tensor:
        return event_fn(tt, split_flat(y, shapes))

    combined = combine_event_functions(flat_event, t[0].to(flat.dtype), flat.detach())
    et, ye = differentiable_event(combined, flat_func, float(event_t), flat, t)
    parts = split_flat(ye, shapes)
    return et, tuple(
        torch.cat([s[:-1], p.unsqueeze(0)]) for s, p in zip(solution, parts, strict=True)
    )
