"""Controlled differential equations: ``dz = f(t, z) dX(t)``.

Kidger, Morrill, Foster & Lyons, "Neural controlled differential equations for irregular
time series", NeurIPS 2020. For a path ``X`` that is differentiable in ``t`` (any
:mod:`odenet.interpolate` path) the CDE is the ODE

    dz/dt = f(t, z) X'(t),    f(t, z): (batch, hidden, channels),  X'(t): (batch, channels),

solved with :func:`odenet.solve`, so every method, gradient strategy and batch mode of
odenet applies. Where ``X'`` jumps (the knots of a linear or rectilinear path) an adaptive
solver is told to step onto the knots (``jump_t``) instead of rejecting its way across.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..interpolate import LinearInterpolation, PiecewiseCubic, RectilinearInterpolation
from ..solvers import get_method
from .args import grad_inputs
from .odeint import solve
from .solution import Solution
from .strategy import method_name

__all__ = ["CDEField", "cdeint", "cdesolve"]

#: paths whose derivative is discontinuous at the knots
KINKED = (LinearInterpolation, RectilinearInterpolation)


class CDEField(nn.Module):
    """``(t, z) -> f(t, z) @ X'(t)``: the CDE as an ODE vector field.

    Args:
        X: a path with ``derivative(t) -> (batch, channels)`` (``t`` 0-d or ``(batch,)``).
        func: ``func(t, z) -> (batch, hidden, channels)`` for ``z (batch, hidden)``
            (``func(t, z, args)`` when ``args`` is given).
        args: extra inputs for ``func`` (see :mod:`odenet.solving.args`).

    ``wrapped_func``/``grad_inputs`` let the gradient strategies find ``func``'s parameters
    and the path's coefficients when they require grad (a path built from a network's
    output, say).
    """

    def __init__(self, X: Any, func: Callable[..., Tensor], args: Any = None) -> None:
        super().__init__()
        self.X = X
        self.wrapped_func = func
        self.args = args
        self._checked = False

    @property
    def grad_inputs(self) -> tuple[Tensor, ...]:
        return grad_inputs((self.X, self.args))

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        dx = self.X.derivative(t)
        extra = () if self.args is None else (self.args,)
        f = self.wrapped_func(t, z, *extra)
        if not self._checked:
            _check_field_output(f, z, dx)
            self._checked = True
        return torch.matmul(f, dx.unsqueeze(-1).to(f.dtype)).squeeze(-1)


def _check_field_output(f: object, z: Tensor, dx: Tensor) -> None:
    want = (*z.shape, dx.shape[-1])
    if not isinstance(f, Tensor) or tuple(f.shape) != want:
        got = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
        raise ValueError(
            f"func(t, z) must return (batch, hidden, channels) = {want} for z of shape "
            f"{tuple(z.shape)} and a path with {dx.shape[-1]} channels; got {got}. Reshape "
            "the network's output, e.g. out.view(batch, hidden, channels)"
        )


def _check_path(X: object, z0: object) -> None:
    if not callable(getattr(X, "derivative", None)):
        raise TypeError(
            f"X must be a path with .derivative(t), e.g. odenet.interpolate."
            f"NaturalCubicSpline(x, t); got {type(X).__name__}"
        )
    if not isinstance(z0, Tensor) or z0.dim() != 2:
        shape = tuple(z0.shape) if isinstance(z0, Tensor) else type(z0).__name__
        raise ValueError(f"z0 must be a tensor (batch, hidden); got {shape}")
    batch = getattr(X, "batch", z0.shape[0])
    if batch != z0.shape[0]:
        raise ValueError(
            f"z0 has batch {z0.shape[0]} but X holds {batch} paths; give one initial state per path"
        )


def _with_knots(
    X: object, method: Any, t: Tensor, options: Mapping[str, object] | None, batch_mode: str
) -> Mapping[str, object] | None:
    """Add ``jump_t`` = the path's knots inside the span for a kinked path and an adaptive
    method (unless the user set ``jump_t`` or the batch is solved per sample)."""
    if not isinstance(X, KINKED) or batch_mode != "joint" or t.dim() != 1:
        return options
    if options is not None and "jump_t" in options:
        return options
    if method_name(method) == "reversible_heun" or not get_method(method).adaptive:
        return options
    lo, hi = sorted((float(t[0]), float(t[-1])))
    knots = X.grid_points  # type: ignore[union-attr]
    inside = knots[(knots > lo) & (knots < hi)]
    if inside.numel() == 0:
        return options
    return {**(options or {}), "jump_t": inside}


def cdesolve(
    X: PiecewiseCubic | Any,
    func: Callable[[Tensor, Tensor], Tensor],
    z0: Tensor,
    t: Tensor,
    *,
    method: Any = "dopri5",
    options: Mapping[str, object] | None = None,
    batch_mode: str = "joint",
    **kwargs: Any,
) -> Solution:
    """Solve ``dz = func(t, z) dX(t)``; return a :class:`~odenet.solving.solution.Solution`.

    Takes the arguments of :func:`cdeint`; ``kwargs`` go to :func:`odenet.solve`.
    """
    _check_path(X, z0)
    field = CDEField(X, func, kwargs.pop("args", None))
    opts = _with_knots(X, method, t, options, batch_mode)
    return solve(field, z0, t, method=method, options=opts, batch_mode=batch_mode, **kwargs)


def cdeint(
    X: PiecewiseCubic | Any,
    func: Callable[[Tensor, Tensor], Tensor],
    z0: Tensor,
    t: Tensor,
    *,
    method: Any = "dopri5",
    options: Mapping[str, object] | None = None,
    batch_mode: str = "joint",
    **kwargs: Any,
) -> Tensor:
    """Solve the controlled differential equation ``dz = func(t, z) dX(t)``, ``z(t[0]) = z0``.

    Args:
        X: the control path, e.g. ``odenet.interpolate.NaturalCubicSpline(x, times)``; any
            object with ``derivative(t) -> (batch, channels)`` works.
        func: ``func(t, z) -> (batch, hidden, channels)`` (usually an ``nn.Module``, so the
            adjoint/checkpoint strategies find its parameters).
        z0: ``(batch, hidden)``.
        t: output times ``(n,)`` (e.g. ``X.interval`` or ``X.grid_points``); with
            ``batch_mode="independent"`` also ``(batch, n)``.
        method, options, batch_mode: as for :func:`odenet.solve`. For a linear or
            rectilinear ``X`` and an adaptive method, the knots inside ``t``'s span are
            added as ``jump_t`` (the derivative of ``X`` jumps there).
        kwargs: any other argument of :func:`odenet.solve` (``rtol, atol, step_size,
            n_steps, gradient, args, ...``); with ``args``, ``func(t, z, args)``.

    Returns:
        ``z`` at the times ``t``: ``(n, batch, hidden)`` (time first, like ``odeint``;
        torchcde returns ``(batch, n, hidden)``).
    """
    kwargs.setdefault("dense", False)
    sol = cdesolve(X, func, z0, t, method=method, options=options, batch_mode=batch_mode, **kwargs)
    return sol.ys  # type: ignore[return-value]
