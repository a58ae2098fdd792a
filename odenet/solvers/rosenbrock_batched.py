"""The per-sample Rosenbrock step of ``batch_mode="independent"``.

Each sample ``b`` of ``y`` ``(B, *state)`` takes its own step ``dt_b`` from its own time
``t_b``: per-sample Jacobian blocks ``J_b`` (the samples of an independent solve never
interact) and ``∂f_b/∂t_b`` from one batched backward pass (with a graph: one forward-mode
evaluation with a unit tangent in every ``t_b``), one batched factorisation of
``I - dt_b gamma J_b`` and the division-free stage equations of
:func:`~odenet.solvers.rosenbrock.rosenbrock_stages` (``dt_b = 0`` leaves a finished
sample unchanged). The interface is that of :class:`~odenet.solvers.batched_step.BatchedStep`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .implicit import batched_jacobian
from .rosenbrock import (
    SMALL_BLOCK,
    differentiable_jacobian,
    reverse_linearisation,
    rosenbrock_stages,
    small_jacobian,
    time_derivative,
)

if TYPE_CHECKING:
    from .rosenbrock import Rosenbrock

__all__ = ["RosenbrockBatchedStep"]


class RosenbrockBatchedStep:
    """``step(field, t, y, dt, k0) -> (y1, [k0, err], err)`` with ``t, dt`` of shape ``(B,)``.

    Attributes:
        n_jacobians, n_lu: batched Jacobians / LU factorisations formed so far (one per
            step attempt: a retried sample is linearised again with the whole batch).
    """

    fsal = False

    def __init__(self, method: Rosenbrock) -> None:
        self.method = method
        self.n_jacobians = 0
        self.n_lu = 0

    @property
    def stages(self) -> int:
        return self.method.stages

    def __call__(
        self,
        field: Callable[[Tensor, Tensor], Tensor],
        t: Tensor,
        y: Tensor,
        dt: Tensor,
        k0: Tensor,
    ) -> tuple[Tensor, list[Tensor], Tensor]:
        func = getattr(field, "func", field)
        tt = t.to(getattr(field, "t_dtype", t.dtype))
        if not k0.requires_grad:  # J and (when t reaches the output) f_t in one pass
            try:
                jac, ft = reverse_linearisation(func, tt, y, "batch")
            except RuntimeError:  # func differentiates inside: f_t by differences below
                jac, ft = batched_jacobian(func, tt, y, mode="batch"), None
        else:
            if math.prod(y.shape[1:]) <= SMALL_BLOCK:
                jac = small_jacobian(func, tt, y, "batch", True)
            else:
                jac = differentiable_jacobian(func, tt, y, "batch")
            try:
                ft = time_derivative(func, tt, y)
            except (RuntimeError, NotImplementedError):
                ft = None
        if ft is None:  # func ignores t, or its tangent was dropped: forward differences
            eps = torch.finfo(torch.float64).eps ** 0.5
            delta = (t.abs().clamp(min=1.0) * eps).where(dt >= 0, -(t.abs().clamp(min=1.0) * eps))
            ft = (field(t + delta, y) - k0) / delta.to(y.dtype).reshape(-1, *([1] * (y.dim() - 1)))
        self.n_jacobians += 1
        self.n_lu += 1
        tab = self.method.rosenbrock_tableau
        y1, err = rosenbrock_stages(tab, field, t, y, dt, k0, jac, ft)
        return y1, [k0, err], err

    def interpolate(
        self, theta: Tensor, y0: Tensor, y1: Tensor, ks: Sequence[Tensor], dt: Tensor
    ) -> Tensor:
        """Not available: the independent loop ends Rosenbrock steps on every output time
        (their dense output is below their order), so it never interpolates inside a step."""
        raise NotImplementedError(
            "Rosenbrock steps keep no f(t1, y1) for interpolation in batch_mode='independent'; "
            "the loop lands on every output time instead"
        )
