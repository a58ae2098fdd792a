"""``solve(..., compile_loop=True)``: checks, then the whole loop as one compiled graph.

The numerical part is :func:`odenet.solvers.compiled_loop.integrate_compiled`; this module
refuses what it cannot do (each with the fix), computes the first evaluation and the
initial step eagerly as the eager loop does, and turns the loop's status into the eager
loop's errors and a :class:`~odenet.solving.solution.Solution` (no dense output).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import MaxStepsReached, NonFiniteState, StepSizeUnderflow
from ..solvers import Method, RungeKutta, rms_norm
from ..solvers.compiled_loop import DONE, NONFINITE, RUNNING, integrate_compiled
from ..solvers.controller import initial_step_size
from ..solvers.field import CountingField
from ._checks import (
    FlatState,
    check_options,
    check_output,
    check_precision,
    coarser_dtype,
    fixed_grid,
    merge_options,
    wrap_tuple_func,
)
from ._run import check_finite
from .solution import Solution, Stats
from .strategy import get_gradient

__all__ = ["check_compile_loop", "solve_compiled_loop"]


def check_compile_loop(
    compile_loop: object, *, batch_mode: str, compile_step: object, gradient: object,
    event_fn: object, args: object, y0: object,
) -> bool:  # fmt: skip
    """Whether ``compile_loop`` is on; raises for the combinations it does not support."""
    if not isinstance(compile_loop, bool):
        raise TypeError(f"compile_loop must be True or False; got {compile_loop!r}")
    if not compile_loop:
        return False
    fix = "; drop compile_loop (or use compile_step=True, which keeps autograd)"
    if torch.is_grad_enabled():
        raise ValueError(
            "compile_loop=True runs outside autograd (torch.while_loop has no backward), but "
            "grad mode is on: call it under torch.no_grad() or torch.inference_mode(), or "
            "use compile_step=True for a compiled solve that can be differentiated"
        )
    if batch_mode != "joint":
        raise ValueError(f"compile_loop=True needs batch_mode='joint'; got {batch_mode!r}{fix}")
    if compile_step is not False:
        raise ValueError(
            f"compile_loop=True and compile_step={compile_step!r} both compile; choose one"
        )
    if gradient is not None and getattr(get_gradient(gradient), "name", None) != "autograd":
        raise ValueError(
            f"compile_loop=True solves without gradients; got gradient={gradient!r}{fix}"
        )
    if event_fn is not None:
        raise ValueError(f"compile_loop=True does not watch events; got event_fn{fix}")
    if args is not None or isinstance(y0, tuple):
        # both wrap func in a closure made per call: the compiled loop is kept per func
        raise ValueError(
            "compile_loop=True needs func(t, y) on a single tensor y0: got "
            f"{'args' if args is not None else 'a tuple y0'}. Close over the extra inputs "
            "in func (e.g. an nn.Module holding them), concatenate the state, or drop "
            "compile_loop"
        )
    return True


#: what the compiled loop re-implements: a method overriding one of these (in its class or
#: on the instance) does something else, which the loop would silently skip
_SHARED = ("step", "error_estimate", "interpolate")


def _explicit_rk(solver: Method) -> RungeKutta:
    """The method, if it is an explicit Runge--Kutta method stepping with the shared step."""
    if isinstance(solver, RungeKutta) and all(
        getattr(type(solver), name) is getattr(RungeKutta, name) and name not in vars(solver)
        for name in _SHARED
    ):
        return solver
    raise ValueError(
        f"compile_loop=True supports explicit Runge--Kutta methods (e.g. 'dopri5', 'tsit5', "
        f"'rk4'); got method={solver.name!r}. Drop compile_loop for this method"
    )


def _refuse(what: str) -> None:
    raise ValueError(f"compile_loop=True does not support {what}; drop it or drop compile_loop")


def solve_compiled_loop(
    func: Callable[..., Tensor],
    flat: FlatState,
    t: Tensor,
    times: list[float],
    solver: Method,
    rtol: float,
    atol: float,
    options: Mapping[str, object] | None,
    explicit: dict[str, Any],
) -> Solution:
    """Solve with the compiled loop; ``func``, ``t`` and the tolerances are checked."""
    method = _explicit_rk(solver)
    if not all(math.isfinite(x) for x in times):
        _refuse("an infinite end time")
    opts = merge_options(options, method, **explicit)
    f = wrap_tuple_func(func, flat) if flat.is_tuple else func
    y0 = flat.y0
    fld = CountingField(f, y0.dtype, y0.device)
    k0 = fld(times[0], y0)
    check_output(k0, y0)
    if method.adaptive:
        res, first = _adaptive(fld, f, method, y0, k0, times, opts, rtol, atol)
    else:
        res, first = _fixed(f, method, y0, k0, times, opts, t.dtype)
    stats = Stats(fld.nfe + res.nfe - 1, res.n_accepted, res.n_rejected, first, res.last_step)
    return Solution(ts=t, ys=flat.unpack(res.ys), stats=stats, status="success", dense=None)


def _adaptive(
    fld: CountingField, f: Callable[..., Tensor], method: RungeKutta, y0: Tensor, k0: Tensor,
    times: list[float], opts: Mapping[str, object], rtol: float, atol: float,
) -> tuple[Any, float]:  # fmt: skip
    check_precision(rtol, y0.dtype)
    cfg = check_options(opts, method, rtol, atol)
    if cfg.step_t or cfg.jump_t:
        _refuse("options['step_t'] or options['jump_t']")
    if cfg.on_step is not None or cfg.on_accept is not None or cfg.on_reject is not None:
        _refuse("step callbacks (options['on_step'], 'on_accept', 'on_reject')")
    if cfg.norm is not rms_norm:
        _refuse("a custom options['norm']")
    if opts.get("stiffness_check"):
        _refuse("options['stiffness_check']=True (the stiffness test runs in the eager loop)")
    t0, t_end = times[0], times[-1]
    d = 1.0 if t_end > t0 else -1.0
    ctrl = cfg.controller
    if cfg.first_step is not None:
        h = cfg.first_step
    else:
        h = initial_step_size(fld, t0, y0, k0, d, method.order, rtol, atol, rms_norm)
    h = min(max(h, ctrl.dt_min), ctrl.dt_max)
    h_floor = max(ctrl.dt_min, 8 * np.finfo(np.float64).eps * max(abs(t0), abs(t_end)))
    res = integrate_compiled(
        f, method, y0, k0, times, rtol=rtol, atol=atol, controller=ctrl, first_step=h,
        h_floor=h_floor, max_steps=cfg.max_steps,
    )  # fmt: skip
    if res.status == RUNNING:
        raise MaxStepsReached(t=res.t, dt=d * res.h, max_steps=cfg.max_steps, t_end=t_end)
    if res.status == NONFINITE:
        raise NonFiniteState(t=res.t, dt=d * res.h, detail=" (compiled loop: step retries)")
    if res.status != DONE:
        raise StepSizeUnderflow(t=res.t, dt=d * res.h)
    return res, h


def _fixed(
    f: Callable[..., Tensor], method: RungeKutta, y0: Tensor, k0: Tensor, times: list[float],
    opts: Mapping[str, object], t_dtype: torch.dtype,
) -> tuple[Any, float]:  # fmt: skip
    if opts.get("perturb"):
        _refuse("options['perturb']")
    if opts.get("interp", "hermite") != "hermite":
        _refuse(f"options['interp']={opts['interp']!r} (outputs use cubic Hermite)")
    if opts.get("on_step") is not None:
        _refuse("options['on_step']")
    grid = fixed_grid(opts, method, times[0], times[-1], coarser_dtype(t_dtype, y0.dtype))
    res = integrate_compiled(f, method, y0, k0, times, grid=grid)
    check_finite(list(res.ys.unbind(0)), times, res.last_step)
    return res, abs(grid[1] - grid[0])
