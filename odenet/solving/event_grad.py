"""Differentiable terminal events: the implicit function theorem at the located root.

The event time ``t_e(θ)`` is defined by ``g(t_e, y(t_e; θ); θ) = 0``. Differentiating,

    dt_e/dθ = -(∂g/∂θ + ∇_y g · ∂y/∂θ) / ġ,     ġ = ∂g/∂t + ∇_y g · f(t_e, y_e),
    dy_e/dθ = ∂y/∂θ + f(t_e, y_e) dt_e/dθ.

Both are put into the graph with zero-valued corrections, so the values are exactly the
located event while the gradients are the implicit-function-theorem ones (the approach of
torchdiffeq's ``odeint_event``; Chen, Amos & Nickel 2021, "Learning neural event functions
for ordinary differential equations").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["differentiable_event"]


def differentiable_event(
    event_fn: Callable[[Tensor, Tensor], Tensor],
    func: Callable[[Tensor, Tensor], Tensor],
    t_e: float,
    y_e: Tensor,
    t_like: Tensor,
) -> tuple[Tensor, Tensor]:
    """``(event_t, event_y)`` carrying gradients through the event time.

    Args:
        event_fn, func: on the (flat) state; ``func`` is evaluated once more at the event.
        t_e: the located event time; ``y_e``: the state there, ``(*state)``, with the graph
            of the solve at fixed time.
        t_like: the user's ``t`` (dtype and device of the returned time).

    Without grad mode, or when nothing upstream requires grad, returns the plain values.
    """
    t0 = torch.tensor(t_e, dtype=t_like.dtype, device=t_like.device)
    if not torch.is_grad_enabled():
        return t0, y_e
    t_state = t0.to(y_e.dtype)  # func and event_fn see time in the state's dtype
    g = event_fn(t_state, y_e)
    if not g.requires_grad:
        return t0, y_e
    with torch.enable_grad():
        tt = t_state.detach().requires_grad_(True)
        yy = y_e.detach().requires_grad_(True)
        g_local = event_fn(tt, yy)
        g_t, g_y = torch.autograd.grad(g_local, (tt, yy), allow_unused=True)
    with torch.no_grad():
        f_e = func(t_state, y_e.detach())
        g_dot = (g_y * f_e).sum() if g_y is not None else torch.zeros((), dtype=y_e.dtype)
        if g_t is not None:
            g_dot = g_dot + g_t.to(g_dot.dtype)
    if float(g_dot) == 0.0:
        raise ValueError(
            f"event_fn touches zero without crossing it at t={t_e:.12g} (d/dt g = 0), so the "
            "event time has no derivative; compute the gradient without the event or use an "
            "event function that crosses zero transversally"
        )
    dt = -(g - g.detach()) / g_dot
    event_t = t0 + dt.to(t0.dtype).reshape(())
    event_y = y_e + f_e * dt.to(y_e.dtype)
    return event_t, event_y
