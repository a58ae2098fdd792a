"""``odeint`` and ``solve``: the user-facing entry points of the solver core."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from ..solvers import Method
from ..solvers.compiled import compiled_steps
from ..solvers.integrate import RawSolution
from ._checks import (
    FlatState,
    check_differentiable,
    check_func,
    check_method,
    check_t,
    check_tolerance,
    check_y0,
    merge_options,
    wrap_tuple_func,
)
from ._compiled_loop import check_compile_loop, solve_compiled_loop
from ._independent import check_batch_mode, check_on_failure, solve_independent
from ._run import Plan, dense_from_raw, integrate_rk, stats_from_raw
from .args import bind_args
from .event_grad import differentiable_event
from .event_loop import solve_events
from .events import as_events
from .solution import Solution
from .strategy import Problem as GradientProblem
from .strategy import get_gradient
from .time_grad import attach_output_times, attach_start_time, wants_time_grad

__all__ = ["odeint", "solve"]

State = Tensor | tuple[Tensor, ...]
Func = Callable[[Tensor, Any], Any]
EventFn = Callable[[Tensor, Any], Tensor]


def solve(
    func: Func,
    y0: State,
    t: Tensor,
    *,
    method: str | Method = "dopri5",
    rtol: float = 1e-7,
    atol: float = 1e-9,
    step_size: float | None = None,
    n_steps: int | None = None,
    first_step: float | None = None,
    max_steps: int | None = None,
    options: Mapping[str, object] | None = None,
    event_fn: EventFn | None = None,
    gradient: object = None,
    dense: bool = True,
    batch_mode: str = "joint",
    on_failure: str = "raise",
    compile_step: bool | str = False,
    compile_loop: bool = False,
    args: Any = None,
    progress: bool = False,
) -> Solution:
    """Solve ``dy/dt = func(t, y)`` from ``y(t[0]) = y0`` and report how it went.

    Args:
        func: ``func(t, y) -> dy/dt``; ``t`` is a 0-d tensor in the state's dtype (the dtype
            of ``y0``, whatever the dtype of ``t``: a float32 state receives float32 times,
            as in torchdiffeq, so fields that build tensors from ``t`` and ``y`` work; the
            loops keep time in float64 themselves), ``y`` has ``y0``'s shape (or is a tuple
            like ``y0``), and the result must match ``y``'s shape and dtype.
        y0: initial state, a floating tensor ``(*batch, *state)`` or a tuple of tensors.
        t: 1-D floating tensor of output times, strictly increasing or decreasing, on
            ``y0``'s device; ``t[0]`` is the initial time. Gaps between requested times
            below 16 units of the spacing of float numbers at ``max |t|`` are refused, in
            the coarser of ``t``'s dtype and the state's (e.g. float32 around 1e6 is
            spaced 0.0625: gaps under 1); shift the time origin or use float64 there
            (``odenet.solving._checks.check_time_resolution``; fixed steps likewise).
        method: a name (``euler, midpoint, heun, heun3, rk4, rk38`` fixed-step explicit;
            ``implicit_euler, implicit_midpoint, trapezoid, radauIIA3, radauIIA5, gl4, gl6,
            sdirk2, trbdf2`` fixed-step implicit; ``adaptive_heun,
            fehlberg2, bosh3, dopri5, tsit5, dopri8`` adaptive; ``rodas5``, ``kvaerno3``,
            ``kvaerno5`` implicit, for stiff problems; ``explicit_adams,
            implicit_adams`` fixed-step multistep; ``scipy_solver`` scipy's integrators,
            no gradients) or a :class:`~odenet.solvers.Method` instance such as
            ``Dopri5()`` or ``ImplicitAdams(max_order=5)``.
        rtol, atol: relative and absolute tolerances of the adaptive error control: a
            step is accepted when the RMS of ``err / (atol + rtol * max(|y0|, |y1|))`` is
            at most 1.
        step_size: step of a fixed-step method (the grid is ``t0 + k * step_size``; the
            last step is shortened to end on ``t[-1]``).
        n_steps: alternatively, the number of equal fixed steps over ``[t[0], t[-1]]``.
        first_step: initial step of an adaptive method (default: Hairer's estimate).
        max_steps: bound on the number of steps (accepted + rejected; default 100000).
        options: torchdiffeq-style dict; accepted keys are ``first_step, safety, ifactor,
            dfactor, beta, max_num_steps, step_t, jump_t, norm, dt_min, dt_max,
            stiffness_check`` (adaptive; ``stiffness_check=False`` turns off the
            StiffnessDetected test of explicit pairs)
            and ``step_size, n_steps, max_num_steps, grid, perturb`` (fixed: ``grid`` is an
            explicit step grid from ``t[0]`` to ``t[-1]``; ``perturb=True`` samples ``func``
            just inside each step's ends, for fields that jump on the grid points;
            ``interp="linear"`` joins grid values by straight lines instead of the default
            ``"hermite"``). Step hooks ``on_step`` (before every step attempt; fixed and
            adaptive), ``on_accept`` and ``on_reject`` (adaptive) are called as
            ``hook(t0, y0, dt)`` with 0-d tensors and the loop's state (a tuple state
            flattened). Unknown keys raise.
        event_fn: an :class:`~odenet.solving.events.Event` or a list of them (several events,
            directions, non-terminal events with state resets; see :mod:`odenet.solving.events`),
            or a terminal event ``event_fn(t, y) -> 0-d tensor``: the solve stops where it
            changes sign, located on the dense output to float64 resolution in ``t``. The
            event time and state are differentiable (implicit function theorem; one extra
            evaluation of ``func``), with the default autograd gradient, also with respect
            to ``t`` when it requires grad. With ``event_fn``, ``t[-1]`` may be ``inf``
            (``-inf`` backwards): the search is open-ended, stopping at the event or raising
            MaxStepsReached (fixed-step methods need ``step_size`` then).
        gradient: gradient strategy (an object from :mod:`odenet.gradients` or its name):
            ``None``/``"autograd"`` backpropagates through the solver's operations (memory
            grows with the steps); ``"adjoint"`` solves the continuous adjoint backwards
            (Chen et al. 2018); ``"checkpoint"`` stores about sqrt(n) states and replays the
            steps (Chen et al. 2016); ``"reversible"`` with ``method="reversible_heun"``
            reconstructs states exactly (Kidger et al. 2021).
        dense: keep every step for :meth:`Solution.evaluate`.
        batch_mode: ``"joint"`` (default): one time and step size for the whole batch,
            controlled by one error norm over all of it. ``"independent"``: every sample
            of ``y0`` (leading dimension) gets its own time, step size, accept/reject and
            statistics (adaptive methods, tensor ``y0``, gradient ``"autograd"`` or
            ``"checkpoint"`` (per step)); ``t`` may
            then be ``(batch, n)`` (one row of output times per sample) and ``func``
            receives ``t`` of shape ``(batch,)``. See :mod:`odenet.solving._independent`.
        on_failure: ``"raise"`` (default) or, with ``batch_mode="independent"``,
            ``"return"``: return the Solution with ``sample_status`` instead of raising
            :class:`~odenet.errors.SamplesFailed` when some samples fail.
        compile_step: run each step under ``torch.compile`` (``func`` included). With
            ``batch_mode="independent"`` the whole step attempt (stages, control,
            masking); in the joint mode the stages and the error estimate of each step
            (:mod:`odenet.solvers.compiled`; control, outputs and events stay in Python;
            a string is taken as the ``torch.compile`` mode, e.g. ``"reduce-overhead"``
            for CUDA graphs; gradient autograd only, ``t`` without grad). Pays on long
            solves; the first call compiles (seconds), later solves with the same
            ``func`` object, method and state shape reuse it (one compilation per shape);
            ``func`` must be traceable (no Python side effects such as call counters,
            which would force recompilation).
        compile_loop: run the whole stepping loop -- step attempts, error control,
            outputs -- as one ``torch.compile``'d ``torch.while_loop``, with one host
            synchronisation per solve instead of one per step
            (:mod:`odenet.solvers.compiled_loop`). Same steps and results as the eager
            loop, except that a step passing more than 8 pending output times is
            shortened to end on the 8th. Forward only: call it under ``torch.no_grad()``;
            joint batch mode, explicit Runge--Kutta methods, no events, no progress bar,
            no dense output (``sol.dense`` is ``None`` whatever ``dense`` says), no
            stiffness test. Compiles once per ``func``, method, state shape and number
            of output times (tens of seconds on CPU); other tolerances, time values and
            ``max_steps`` do not recompile. The last 8 compiled ``func`` objects stay
            referenced by the cache.
        args: extra inputs; when not ``None``, ``func`` is called as ``func(t, y, args)``
            (any object: tensors, containers of tensors, an interpolated forcing path).
            Gradients reach the tensors in ``args`` with every strategy (see
            :mod:`odenet.solving.args`).
        progress: show a tqdm progress bar over the time span (joint batch mode), advanced
            once per accepted step without host synchronisation (:mod:`odenet.solving.progress`).

    Returns:
        A :class:`~odenet.solving.solution.Solution` with ``ys`` of shape ``(len(t), *y0.shape)``.

    Outputs between steps come from the method's dense output (dopri5, tsit5, dopri8:
    fourth order; others: cubic Hermite), so output times never shorten steps. Fixed-step
    outputs at grid points are the grid values themselves.

    Every evaluation of ``func`` is checked (no host synchronisation): it must return
    the shape and dtype of ``y`` at every call (not only the first) and must not modify
    ``y`` in place; either raises, naming the time of the offending call.

    Raises:
        TypeError, ValueError: bad input (the message names the argument and the fix).
        MaxStepsReached, StepSizeUnderflow, NonFiniteState: the solve could not finish.
        StiffnessDetected: an explicit pair (dopri5, tsit5, dopri8) found the problem
            stiff; use ``method="rodas5"`` or ``"kvaerno5"``.
    """
    if progress:  # a tqdm bar around this same call: odenet.solving.progress
        if compile_loop is True:
            raise ValueError(
                "compile_loop=True reads nothing back until the solve ends, so a progress "
                "bar would jump from 0 to 100%; drop progress or compile_loop"
            )
        from .progress import solve_with_progress

        return solve_with_progress(solve, dict(locals()))

    strategy = get_gradient(gradient)
    func = bind_args(func, args)
    check_func(func)
    flat = check_y0(y0)
    check_on_failure(on_failure, check_batch_mode(batch_mode), compile_step)
    loop = check_compile_loop(
        compile_loop, batch_mode=batch_mode, compile_step=compile_step, gradient=gradient,
        event_fn=event_fn, args=args, y0=y0,
    )  # fmt: skip
    if batch_mode == "independent":
        return solve_independent(
            func, flat, t, method=method, rtol=check_tolerance("rtol", rtol),
            atol=check_tolerance("atol", atol), step_size=step_size, n_steps=n_steps,
            first_step=first_step, max_steps=max_steps,
            options=options, event_fn=event_fn, gradient=gradient, on_failure=on_failure,
            compile_step=compile_step,
        )  # fmt: skip
    times = check_t(t, flat.y0, open_end=event_fn is not None)
    rtol = check_tolerance("rtol", rtol)
    atol = check_tolerance("atol", atol)
    if loop:  # the whole loop in one compiled graph: odenet.solving._compiled_loop
        explicit = {"step_size": step_size, "n_steps": n_steps, "first_step": first_step}
        explicit["max_num_steps"] = max_steps
        solver = check_method(method)
        return solve_compiled_loop(func, flat, t, times, solver, rtol, atol, options, explicit)
    if as_events(event_fn) is not None:  # a list of odenet.Event: odenet.solving.event_loop
        if compile_step is not False:
            raise ValueError(
                f"compile_step={compile_step!r} is not supported with a list of odenet.Event "
                "(the event loop steps eagerly); drop compile_step, or pass a single "
                "terminal event function"
            )
        strategy.check(method, event_fn)
        explicit = {"step_size": step_size, "n_steps": n_steps, "first_step": first_step}
        explicit["max_num_steps"] = max_steps
        return solve_events(
            func, flat, t, times, as_events(event_fn), method, rtol, atol, options,
            explicit, dense,
        )  # fmt: skip
    # -- gradient strategy dispatch (odenet.gradients) --
    if strategy.takes_over(method, t, event_fn):
        if compile_step is not False:
            raise ValueError(
                f"compile_step with gradient={getattr(strategy, 'name', gradient)!r} (or a t "
                "that requires grad) is not supported in batch_mode='joint'; use the "
                "default gradient (autograd) with a t that needs no gradient, or drop "
                "compile_step"
            )
        explicit = {"step_size": step_size, "n_steps": n_steps, "first_step": first_step}
        explicit["max_num_steps"] = max_steps
        problem = GradientProblem.build(func, flat, t, times, method, rtol, atol, explicit)
        return strategy.solve(problem.configured(options, event_fn, dense))
    # -- end of gradient strategy dispatch --
    solver = check_method(method)
    check_differentiable(solver, flat.y0, t, func)
    opts = merge_options(
        options,
        solver,
        step_size=step_size,
        n_steps=n_steps,
        first_step=first_step,
        max_num_steps=max_steps,
    )
    f = wrap_tuple_func(func, flat) if flat.is_tuple else func
    ev = _wrap_event(event_fn, flat) if event_fn is not None else None
    plan = Plan(solver, opts, rtol, atol)
    y0_flat = attach_start_time(t, flat.y0, f)  # t[0]'s gradient term when t requires grad
    stand_in = None
    if compile_step is not False:
        mode = compile_step if isinstance(compile_step, str) else None
        stand_in = compiled_steps(solver, f, mode)
    raw, nfe = integrate_rk(f, y0_flat, times, t.dtype, plan, dense, stand_in, ev)
    if wants_time_grad(t):
        reached = torch.stack(raw.ys)
        raw.ys = list(attach_output_times(t[: len(raw.ys)], reached, f).unbind(0))
    event_t = None
    if raw.event_t is not None and ev is not None:
        event_t, raw.event_y = differentiable_event(ev, f, raw.event_t, raw.event_y, t)
    return _build_solution(raw, nfe, t, flat, solver, times, event_t)


def odeint(
    func: Func,
    y0: State,
    t: Tensor,
    *,
    method: str | Method = "dopri5",
    rtol: float = 1e-7,
    atol: float = 1e-9,
    step_size: float | None = None,
    n_steps: int | None = None,
    first_step: float | None = None,
    max_steps: int | None = None,
    options: Mapping[str, object] | None = None,
    event_fn: EventFn | None = None,
    gradient: object = None,
    batch_mode: str = "joint",
    compile_step: bool | str = False,
    compile_loop: bool = False,
    args: Any = None,
    progress: bool = False,
) -> State | tuple[Tensor, State]:
    """Drop-in for ``torchdiffeq.odeint``: the solution at the times ``t``.

    Takes the arguments of :func:`solve` and returns ``ys`` of shape
    ``(len(t), *y0.shape)`` (a tuple of such tensors for a tuple ``y0``).

    With ``event_fn``, returns ``(event_t, ys)`` as torchdiffeq does: ``ys`` holds the
    states at the requested times before the event followed by the state at ``event_t``
    (when no event occurs before ``t[-1]``, ``event_t = t[-1]`` and ``ys`` is the full
    solution).
    """
    sol = solve(
        func,
        y0,
        t,
        method=method,
        rtol=rtol,
        atol=atol,
        step_size=step_size,
        n_steps=n_steps,
        first_step=first_step,
        max_steps=max_steps,
        options=options,
        event_fn=event_fn,
        gradient=gradient,
        dense=False,
        batch_mode=batch_mode,
        compile_step=compile_step,
        compile_loop=compile_loop,
        args=args,
        progress=progress,
    )
    if event_fn is None:
        return sol.ys
    if sol.event_t is None:
        return t[-1], sol.ys
    ys = sol.ys
    ey = sol.event_y
    if isinstance(ys, tuple):
        return sol.event_t, tuple(
            torch.cat([a, b.unsqueeze(0)])
            for a, b in zip(ys, ey, strict=True)  # type: ignore[arg-type]
        )
    return sol.event_t, torch.cat([ys, ey.unsqueeze(0)])  # type: ignore[union-attr]


def _wrap_event(event_fn: EventFn, flat: FlatState) -> Callable[[Tensor, Tensor], Tensor]:
    if not callable(event_fn):
        raise TypeError(f"event_fn must be callable as event_fn(t, y); got {event_fn!r}")
    if not flat.is_tuple:
        return event_fn
    return lambda t, y: event_fn(t, flat.unpack(y))


def _build_solution(
    raw: RawSolution,
    nfe: int,
    t: Tensor,
    flat: FlatState,
    solver: Method,
    times: list[float],
    event_t: Tensor | None = None,
) -> Solution:
    ys = flat.unpack(torch.stack(raw.ys))
    stats = stats_from_raw(raw, nfe)
    dense = dense_from_raw(raw, solver, flat.unpack, times)
    if raw.event_t is None:
        return Solution(ts=t, ys=ys, stats=stats, status="success", dense=dense)
    return Solution(
        ts=t[: len(raw.ys)],
        ys=ys,
        stats=stats,
        status="event",
        event_t=event_t,
        event_y=flat.unpack(raw.event_y),  # type: ignore[arg-type]
        dense=dense,
    )
