"""Gradients with respect to the initial time and the output times.

The solver loops keep time as Python floats, so the graph of a solve does not contain
``t``. For ``y(t_i) = y0 + ∫_{t0}^{t_i} f(s, y(s)) ds`` the derivatives are

    ∂y(t_i)/∂t_i = f(t_i, y(t_i)),        ∂y(t_i)/∂t0 = -Φ(t_i, t0) f(t0, y0),

so ``dL/dt_i = <dL/dy(t_i), f(t_i, y(t_i))>`` and ``dL/dt0 = -<a(t0), f(t0, y0)>`` where
``a(t0) = dL/dy0`` is the total adjoint at the start (Chen et al. 2018, Appendix B). Two
identity functions put these terms into the graph: :func:`attach_start_time` on ``y0``
before the solve (its backward sees ``a(t0)``) and :func:`attach_output_times` on the
stacked outputs. Each costs evaluations of ``f`` only in the backward pass (one for ``t0``,
one per output time) and only when ``t`` requires grad. These are the derivatives of the
exact flow; for a discretised solve they agree with differentiating the discrete map up to
the method's error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

__all__ = ["attach_output_times", "attach_start_time", "wants_time_grad"]

Field = Callable[[Tensor, Tensor], Tensor]


def wants_time_grad(t: Tensor) -> bool:
    """True when ``t`` requires grad and grad mode is on."""
    return torch.is_grad_enabled() and t.requires_grad


class _StartTime(Function):
    """Identity on ``y0``; backward adds ``dL/dt0 = -<dL/dy0, f(t0, y0)>``."""

    @staticmethod
    def forward(ctx: Any, t0: Tensor, y0: Tensor, field: Field) -> Tensor:  # type: ignore[override]
        ctx.field = field
        ctx.save_for_backward(t0, y0)
        return y0.view_as(y0)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor, None]:  # type: ignore[override]
        t0, y0 = ctx.saved_tensors
        grad_t0 = None
        if ctx.needs_input_grad[0]:
            with torch.no_grad():
                f0 = ctx.field(t0.detach().to(y0.dtype), y0.detach())
                grad_t0 = -(grad * f0).sum().to(t0.dtype).reshape(t0.shape)
        return grad_t0, grad, None


class _OutputTimes(Function):
    """Identity on ``ys`` ``(n, *state)``; backward adds ``dL/dt_i = <dL/dy_i, f(t_i, y_i)>``."""

    @staticmethod
    def forward(ctx: Any, t: Tensor, ys: Tensor, field: Field) -> Tensor:  # type: ignore[override]
        ctx.field = field
        ctx.save_for_backward(t, ys)
        return ys.view_as(ys)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor, None]:  # type: ignore[override]
        t, ys = ctx.saved_tensors
        grad_t = None
        if ctx.needs_input_grad[0]:
            with torch.no_grad():
                parts = [
                    (grad[i] * ctx.field(t[i].detach().to(ys.dtype), ys[i].detach())).sum()
                    for i in range(t.shape[0])
                ]
                grad_t = torch.stack(parts).to(t.dtype)
        return grad_t, grad, None


def attach_start_time(t: Tensor, y0: Tensor, field: Field) -> Tensor:
    """``y0`` unchanged, carrying the ``t[0]`` gradient term when ``t`` requires grad."""
    if not wants_time_grad(t):
        return y0
    return _StartTime.apply(t[0], y0, field)  # type: ignore[no-any-return]


def attach_output_times(t: Tensor, ys: Tensor, field: Field) -> Tensor:
    """``ys`` ``(len(t), *state)`` unchanged, carrying the output-time gradient terms."""
    if not wants_time_grad(t):
        return ys
    return _OutputTimes.apply(t, ys, field)  # type: ignore[no-any-return]
