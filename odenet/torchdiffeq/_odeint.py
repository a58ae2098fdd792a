"""``odeint`` with torchdiffeq 0.2.5's signature and semantics, on odenet's engine.

The differences from :func:`odenet.odeint` that live here (and nowhere in the core):

- a fixed-step method without ``step_size`` steps on the output times (or on
  ``grid_constructor(func, y0, t)``); ``step_size`` builds torchdiffeq's grid in ``t``'s
  dtype; outputs between grid points are linear unless ``interp="cubic"``;
- ``len(t) == 1`` returns ``y0[None]``;
- ``event_fn`` may return several values (the first to cross zero stops the solve) and
  the search is open-ended past ``t[1]``; the result is ``(event_t, [y0, y(event_t)])``;
- ``options["norm"]`` receives the scaled error in the user's shape (a tuple for a tuple
  state), ``min_step``/``max_step``, the integral step-size controller and an unbounded
  ``max_num_steps`` by default; unknown keys warn instead of raising;
- ``func.callback_step``, ``callback_accept_step`` and ``callback_reject_step`` are called
  as ``(t0, y0, dt)`` before each step, after an accepted and after a rejected one.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from ..solving.odeint import odeint as odenet_odeint
from ._errors import TorchdiffeqInputError
from ._inputs import check_inputs
from ._norms import split_flat, state_norm
from ._options import Translated, fixed_grid, translate, valid_core_options

__all__ = ["CALLBACK_HOOKS", "combine_event_functions", "odeint"]

State = Tensor | tuple[Tensor, ...]

#: torchdiffeq's callback attribute on ``func`` -> odenet's step hook
CALLBACK_HOOKS = {
    "callback_step": "on_step",
    "callback_accept_step": "on_accept",
    "callback_reject_step": "on_reject",
}


def combine_event_functions(
    event_fn: Callable[[Tensor, Any], Tensor], t0: Tensor, y0: State
) -> Callable[[Tensor, Any], Tensor]:
    """One event function from several: each value's sign is normalised to start positive,
    and the minimum crosses zero when the first of them does (torchdiffeq's convention)."""
    with torch.no_grad():
        signs = torch.sign(event_fn(t0, y0))

    def combined(t: Tensor, y: Any) -> Tensor:
        return torch.min(event_fn(t, y) * signs)

    return combined


def _hooks(
    source: object, names: Mapping[str, str], shapes: tuple[torch.Size, ...] | None
) -> dict[str, Callable[..., object]]:
    """odenet step hooks calling ``source``'s torchdiffeq callbacks with the user's state."""
    hooks: dict[str, Callable[..., object]] = {}
    for attr, hook in names.items():
        callback = getattr(source, attr, None)
        if callback is None:
            continue

        def call(t0: Tensor, y: Tensor, dt: Tensor, _cb: Any = callback) -> object:
            state = split_flat(y, shapes) if shapes is not None else y
            return _cb(t0, state, dt.abs())

        hooks[hook] = call
    return hooks


def _core_options(
    tr: Translated,
    norm: object,
    shapes: tuple[torch.Size, ...] | None,
    hooks: Mapping[str, Callable[..., object]],
) -> dict[str, object]:
    """odenet's options for the translated torchdiffeq options, the norm and callbacks;
    what the method does not honour is dropped with torchdiffeq's warnings."""
    opts = dict(tr.options)
    wanted: dict[str, object] = dict(hooks)
    if tr.method.adaptive:
        wanted["norm"] = state_norm(norm, shapes)  # type: ignore[arg-type]
    else:
        if tr.perturb:
            wanted["perturb"] = True
        if tr.interp == "linear":
            wanted["interp"] = "linear"
    valid = valid_core_options(tr.method)
    name = getattr(tr.method, "name", type(tr.method).__name__)
    dropped_hooks = sorted(k for k, v in CALLBACK_HOOKS.items() if v in hooks and v not in valid)
    if dropped_hooks:
        warnings.warn(
            f"Solver '{name}' does not support callbacks {set(dropped_hooks)}", stacklevel=4
        )
    dropped = {k: v for k, v in wanted.items() if k not in valid and k in ("perturb",)}
    if dropped:
        warnings.warn(f"{type(tr.method).__name__}: Unexpected arguments {dropped}", stacklevel=4)
    opts.update({k: v for k, v in wanted.items() if k in valid})
    return opts


def _grid_options(tr: Translated, func: object, y0: State, t: Tensor) -> dict[str, object]:
    """The fixed-step grid as odenet options: the explicit grid where the method takes one,
    else the step size, else equal steps on evenly spaced output times."""
    valid = valid_core_options(tr.method)
    if "grid" in valid:
        return {"grid": fixed_grid(tr, func, y0, t).detach()}
    if tr.step_size is not None and tr.grid_constructor is None:
        return {"step_size": float(tr.step_size)}
    raise ValueError(
        f"method {tr.method.name!r} takes no explicit step grid; give options={{'step_size': h}}"
    )


def _first_only(y0: State) -> State:
    if isinstance(y0, tuple):
        return tuple(y.unsqueeze(0) for y in y0)
    return y0.unsqueeze(0)


def odeint(
    func: Callable[[Tensor, Any], Any],
    y0: State,
    t: Tensor,
    *,
    rtol: float | Tensor = 1e-7,
    atol: float | Tensor = 1e-9,
    method: str | None = None,
    options: Mapping[str, object] | None = None,
    event_fn: Callable[[Tensor, Any], Tensor] | None = None,
    callbacks_from: object = None,
) -> Any:
    """torchdiffeq's ``odeint``: ``y`` at the times ``t`` (``(len(t), *y0.shape)``).

    Args:
        func: ``func(t, y)``; ``t`` is a 0-d tensor in ``y0``'s dtype.
        y0: a tensor ``(*state)`` or a tuple of tensors.
        t: 1-D times, increasing or decreasing (``t[0]`` is the initial time). With
            ``event_fn``, exactly 2 entries; only the direction of ``t[1]`` matters.
        rtol, atol: tolerances of the adaptive methods.
        method: any name in :data:`odenet.solvers.METHODS` (default ``"dopri5"``), plus
            torchdiffeq's alias ``"fixed_adams"``.
        options: torchdiffeq's options for the method (see :mod:`._options`).
        event_fn: ``event_fn(t, y) -> tensor``; the solve stops where the first of its
            values changes sign.
        callbacks_from: the object whose ``callback_*`` attributes are called (default
            ``func``; the adjoint passes its own).

    Returns:
        The outputs (a tuple for a tuple ``y0``), or ``(event_t, outputs)`` with
        ``event_fn``, where ``outputs`` holds ``y0`` and the state at ``event_t``.
    """
    inputs = check_inputs(y0, t, rtol, atol)
    if event_fn is not None and inputs.t.numel() != 2:
        raise ValueError(
            f"We require len(t) == 2 when in event handling mode, but got len(t)={len(t)}."
        )
    opts = dict(options) if options is not None else {}
    tr = translate(method, opts, event=event_fn is not None)
    src = func if callbacks_from is None else callbacks_from
    hooks = _hooks(src, CALLBACK_HOOKS, inputs.shapes)
    core = _core_options(tr, opts.get("norm"), inputs.shapes, hooks)
    t = inputs.t
    if event_fn is None and t.numel() == 1:
        return _first_only(y0)
    if event_fn is not None:
        return _until_event(func, y0, t, rtol, atol, tr, core, event_fn, inputs.decreasing)
    if not tr.method.adaptive:
        core.update(_grid_options(tr, func, y0, t))
    with _grad_mode(tr.method):
        return odenet_odeint(
            func, y0, t, method=tr.method, rtol=_number(rtol), atol=_number(atol), options=core
        )


def _grad_mode(method: object) -> Any:
    """A method that solves outside autograd (scipy) returns a result without a graph, as
    in torchdiffeq, instead of odenet's refusal of inputs requiring grad."""
    if getattr(method, "differentiable", True):
        return contextlib.nullcontext()
    return torch.no_grad()


def _number(tol: float | Tensor) -> float:
    return float(tol)


def _until_event(
    func: Callable[..., Any],
    y0: State,
    t: Tensor,
    rtol: float | Tensor,
    atol: float | Tensor,
    tr: Translated,
    core: dict[str, object],
    event_fn: Callable[[Tensor, Any], Tensor],
    decreasing: bool,
) -> tuple[Tensor, State]:
    """Open-ended search from ``t[0]`` in the direction of ``t[1]``."""
    state_dtype = y0.dtype if isinstance(y0, Tensor) else y0[0].dtype
    combined = combine_event_functions(event_fn, t[0].to(state_dtype), y0)
    if not tr.method.adaptive:
        if tr.step_size is None:
            raise TorchdiffeqInputError(
                "Event handling for fixed step solvers currently requires `step_size` to be "
                "provided in options."
            )
        core["step_size"] = float(tr.step_size)
    end = torch.full((1,), -math.inf if decreasing else math.inf, dtype=t.dtype, device=t.device)
    span = torch.cat([t[:1], end])
    with _grad_mode(tr.method):
        return odenet_odeint(  # type: ignore[return-value]
            func,
            y0,
            span,
            method=tr.method,
            rtol=_number(rtol),
            atol=_number(atol),
            options=core,
            event_fn=combined,
        )
