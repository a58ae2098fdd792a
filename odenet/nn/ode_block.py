"""``ODEBlock``: an nn.Module that solves ``dx/dt = field(t, x)`` over ``t_span``.

A residual block ``x + h * f(x)`` is one Euler step of a vector field; an ODE block solves
the same field with any method of ``odenet.odeint``. Reference: Chen, Rubanova,
Bettencourt, Duvenaud, "Neural Ordinary Differential Equations", NeurIPS 2018.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from odenet.solving.odeint import odeint


@dataclass
class NFECounter:
    """Function evaluations of the last call: ``forward`` during the solve, ``backward`` after
    it returned (e.g. evaluations made by an adjoint gradient strategy)."""

    forward: int = 0
    backward: int = 0
    solving: bool = False

    def reset(self) -> None:
        self.forward, self.backward, self.solving = 0, 0, True

    def tick(self) -> None:
        if self.solving:
            self.forward += 1
        else:
            self.backward += 1


class CountingField(nn.Module):
    """Wraps ``field`` and counts its calls in ``counter``; shares the field's parameters."""

    def __init__(self, field: nn.Module, counter: NFECounter) -> None:
        super().__init__()
        self.field = field
        self.counter = counter

    def forward(self, t: torch.Tensor, x: Any) -> Any:
        self.counter.tick()
        return self.field(t, x)


def _check_t_span(t_span: object) -> tuple[float, float]:
    if isinstance(t_span, str) or not isinstance(t_span, Sequence) or len(t_span) != 2:
        raise ValueError(f"t_span must be a pair (t0, t1); got {t_span!r}. Pass e.g. (0.0, 1.0).")
    t0, t1 = (float(v) for v in t_span)
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise ValueError(f"t_span must hold finite times; got {t_span!r}. Pass e.g. (0.0, 1.0).")
    if t0 == t1:
        raise ValueError(f"t_span must have t0 != t1; got {t_span!r}.")
    return t0, t1


def _check_solver_settings(
    method: Any,
    rtol: float,
    atol: float,
    step_size: float | None,
    gradient: Any,
    max_steps: int | None,
) -> None:
    """Fail at construction, not at the first forward, on settings odeint would reject."""
    from odenet.gradients import get_gradient
    from odenet.solvers import get_method
    from odenet.solvers.reversible_heun import ReversibleHeun
    from odenet.solving._checks import check_tolerance

    check_tolerance("rtol", rtol)
    check_tolerance("atol", atol)
    get_gradient(gradient)
    if step_size is not None and (
        isinstance(step_size, bool) or not 0 < float(step_size) < math.inf
    ):
        raise ValueError(
            f"step_size must be a positive number and finite; got step_size={step_size!r}"
        )
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps <= 0
    ):
        raise ValueError(f"max_steps must be a positive integer; got max_steps={max_steps!r}")
    if (
        isinstance(method, ReversibleHeun)
        or method is ReversibleHeun
        or (isinstance(method, str) and method.lower() == "reversible_heun")
    ):
        solver = None  # fixed-step, with its own loop (odenet.gradients.reversible)
    else:
        solver = get_method(method)
    if (solver is None or not solver.adaptive) and step_size is None:
        raise ValueError(
            f"ODEBlock(method={method!r}) is fixed-step and needs step_size, e.g. "
            f"ODEBlock(field, method={method!r}, step_size=0.1) for 10 steps over t_span=(0, 1)"
        )
    if solver is not None and solver.adaptive and step_size is not None:
        raise ValueError(
            f"step_size={step_size} applies to fixed-step methods only, but "
            f"method={method!r} is adaptive (it uses rtol/atol); drop step_size"
        )  # fmt: skip


class ODEBlock(nn.Module):
    """Solve ``dx/dt = field(t, x)`` from ``t_span[0]`` to ``t_span[1]``.

    Args:
        field: module called as ``field(t, x)`` with ``t`` a scalar tensor and ``x`` the
            state, returning ``dx/dt`` of the same shape.
        t_span: ``(t0, t1)`` floats; ``t1 < t0`` integrates backwards.
        method: solver name or object accepted by ``odenet.odeint`` (e.g. ``"dopri5"``,
            ``"euler"``, ``"rk4"``).
        rtol, atol: tolerances of adaptive methods.
        step_size: step of fixed-step methods (required by them).
        gradient: gradient strategy passed through to ``odenet.odeint`` (``None``: plain
            autograd through the solver steps).
        max_steps: optional cap on the number of steps.

    All settings are plain attributes (change them between calls, e.g.
    ``block.method = "rk4"``); only the field's parameters are in the ``state_dict``.

    After each call ``block.nfe_forward`` holds the field evaluations of the solve,
    ``block.nfe_backward`` those made during the following backward pass (zero with plain
    autograd, which differentiates the recorded steps without calling the field), and
    ``block.nfe`` their sum.

    Shapes: ``forward(x)`` maps ``(*batch, *state) -> (*batch, *state)`` (the state at
    ``t1``); ``forward(x, t)`` with a 1-D tensor ``t`` whose first entry is the start time
    returns ``(len(t), *batch, *state)``.
    """

    def __init__(
        self,
        field: nn.Module,
        t_span: tuple[float, float] = (0.0, 1.0),
        method: Any = "dopri5",
        rtol: float = 1e-3,
        atol: float = 1e-4,
        step_size: float | None = None,
        gradient: Any = None,
        max_steps: int | None = None,
    ) -> None:
        super().__init__()
        if not callable(field):
            raise TypeError(f"field must be a callable module f(t, x); got {type(field)}.")
        self.field = field
        self.t_span = _check_t_span(t_span)
        _check_solver_settings(method, rtol, atol, step_size, gradient, max_steps)
        self.method = method
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.step_size = None if step_size is None else float(step_size)
        self.gradient = gradient
        self.max_steps = max_steps
        self._counter = NFECounter()

    @property
    def nfe_forward(self) -> int:
        return self._counter.forward

    @property
    def nfe_backward(self) -> int:
        return self._counter.backward

    @property
    def nfe(self) -> int:
        """Field evaluations of the last forward plus those of the backward that followed."""
        return self._counter.forward + self._counter.backward

    def solver_kwargs(self) -> dict[str, Any]:
        """Keyword arguments given to ``odenet.odeint`` (only the ones that are set)."""
        kwargs: dict[str, Any] = {"method": self.method, "rtol": self.rtol, "atol": self.atol}
        if self.step_size is not None:
            kwargs["step_size"] = self.step_size
        if self.max_steps is not None:
            kwargs["max_steps"] = self.max_steps
        if self.gradient is not None:
            kwargs["gradient"] = self.gradient
        return kwargs

    def integrate(self, func: nn.Module, y0: Any, t: torch.Tensor) -> Any:
        """Solve ``func`` (already wrapped for counting) from ``y0`` at times ``t``."""
        return odeint(func, y0, t, **self.solver_kwargs())

    def _times(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.t_span, dtype=x.dtype, device=x.device)

    def solve(self, func: nn.Module, y0: Any, t: torch.Tensor) -> Any:
        """Count evaluations of ``func`` while solving from ``y0`` at times ``t``."""
        self._counter.reset()
        try:
            return self.integrate(CountingField(func, self._counter), y0, t)
        finally:
            self._counter.solving = False

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a tensor; got {type(x)}. Stack your state first.")
        if t is None:
            return self.solve(self.field, x, self._times(x))[-1]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.ndim != 1 or t.numel() < 2:
            raise ValueError(f"t must be a 1-D tensor of >= 2 times; got shape {tuple(t.shape)}.")
        return self.solve(self.field, x, t)

    def extra_repr(self) -> str:
        return (
            f"t_span={self.t_span}, method={self.method!r}, rtol={self.rtol}, "
            f"atol={self.atol}, step_size={self.step_size}, gradient={self.gradient!r}"
        )
