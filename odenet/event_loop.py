"""Solving with a list of :class:`~odenet.events.Event`: segments between events.

Each segment runs the ordinary stepping loop with one composite terminal event

    G(t, y) = min_i ( s_i g_i(t, y) - c_i ),

where ``s_i`` is the sign of ``g_i`` before its next crossing and ``c_i`` is zero, except
right after ``g_i`` crossed or was reset: then ``c_i = s_i g_i(t_r, y_r)`` (a rounding-level
residual at the restart) so that ``G`` starts exactly at zero and the loop does not
re-detect the crossing it just handled. ``G`` first reaches zero where the first ``g_i``
crosses; the crossing is then classified (its direction against ``Event.direction``), and
the solve stops (terminal), records and resets, or continues.

Gradients: autograd (as for a single event). Each fired event's time carries the implicit
function theorem gradient and the next segment starts from a state and time that carry it
(:func:`odenet.gradients.time_grad.attach_start_time`), so gradients pass through resets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ._checks import FlatState, _positive_int, check_method, merge_options, wrap_tuple_func
from ._run import Plan, dense_from_raw, integrate_rk
from .errors import TooManyEvents
from .event_grad import differentiable_event
from .events import Event, EventRecord
from .solution import Solution, Stats
from .solvers.integrate import RawSolution, StepRecord

__all__ = ["MAX_EVENTS", "solve_events"]

#: crossings handled (fired or skipped for their direction) before TooManyEvents
MAX_EVENTS = 10_000

Flat = Callable[[Tensor, Tensor], Tensor]


@dataclass
class _Signs:
    """``s_i`` and ``c_i`` of the composite event function."""

    sign: list[float]
    offset: list[float]

    def composite(self, gs: list[Flat]) -> Flat:
        sign, offset = list(self.sign), list(self.offset)

        def g(t: Tensor, y: Tensor) -> Tensor:
            vals = [s * fn(t, y).reshape(()) - c for fn, s, c in zip(gs, sign, offset, strict=True)]
            return torch.stack(vals).min()

        return g


def _rate(g: Flat, f: Flat, t: Tensor, y: Tensor) -> float:
    """``d/dt g(t, y(t)) = ∂g/∂t + ∇_y g · f(t, y)`` at ``(t, y)``."""
    with torch.enable_grad():
        tt = t.detach().clone().requires_grad_(True)
        yy = y.detach().clone().requires_grad_(True)
        val = g(tt, yy)
        g_t, g_y = torch.autograd.grad(val, (tt, yy), allow_unused=True)
    with torch.no_grad():
        rate = 0.0 if g_t is None else float(g_t)
        if g_y is not None:
            rate += float((g_y * f(t, y.detach())).sum())
    return rate


def _arm(g: Flat, f: Flat, t: Tensor, y: Tensor, fallback: float) -> tuple[float, float]:
    """``(s, c)`` for one event at a (re)start point: the sign of ``g`` when it is clearly
    away from zero, else the sign it is moving towards, with ``c`` cancelling the residual."""
    with torch.no_grad():
        value = float(g(t, y.detach()))
    rate = _rate(g, f, t, y)
    resolution = 16 * np.finfo(np.float64).eps * max(abs(float(t)), 1.0)
    if abs(value) > 10 * abs(rate) * resolution and value != 0.0:
        return math.copysign(1.0, value), 0.0
    s = math.copysign(1.0, rate) if rate != 0.0 else fallback
    return s, s * value


@dataclass
class _Totals:
    nfe: int = 0
    n_accepted: int = 0
    n_rejected: int = 0
    initial_step: float = math.nan
    last_step: float = math.nan
    steps: list[StepRecord] = field(default_factory=list)

    def add(self, raw: RawSolution, nfe: int) -> None:
        self.nfe += nfe
        self.n_accepted += raw.n_accepted
        self.n_rejected += raw.n_rejected
        if math.isnan(self.initial_step):
            self.initial_step = raw.initial_step
        self.last_step = raw.last_step
        if raw.steps:
            self.steps.extend(raw.steps)


def solve_events(
    func: Callable[..., object],
    flat: FlatState,
    t: Tensor,
    times: list[float],
    events: tuple[Event, ...],
    method: object,
    rtol: float,
    atol: float,
    options: object,
    explicit: dict[str, object],
    dense: bool,
) -> Solution:
    """``solve`` with a list of events (autograd gradients; joint batch mode)."""
    from .gradients.time_grad import attach_start_time, wants_time_grad

    if wants_time_grad(t):
        raise ValueError(
            "gradients with respect to t are not available together with event_fn; pass "
            "t.detach() (the event times carry their own gradients)"
        )
    solver = check_method(method)
    opts = merge_options(options, solver, **explicit)  # type: ignore[arg-type]
    if not solver.adaptive and opts.get("n_steps") is not None:
        # n_steps spans [t0, t_end]; segments restart at events, so keep its step size
        n = _positive_int("n_steps", opts.pop("n_steps"))
        opts["step_size"] = abs(times[-1] - times[0]) / n
    plan = Plan(solver, opts, rtol, atol)
    f: Flat = wrap_tuple_func(func, flat) if flat.is_tuple else func  # type: ignore[assignment]
    gs = [_flat_fn(ev.fn, flat) for ev in events]
    y = flat.y0
    t_start = t[0]
    t0 = t[:1].detach()[0]
    signs = _Signs(*map(list, zip(*[_arm(g, f, t0, y, 1.0) for g in gs], strict=True)))
    outputs: list[Tensor] = [y]
    records: list[EventRecord] = []
    totals = _Totals()
    remaining = times[1:]
    crossings = 0
    terminal: tuple[Tensor, Tensor] | None = None
    seg_start = times[0]
    while remaining:
        seg_times = [seg_start, *remaining]
        y_in = attach_start_time(t_start.reshape(1), y, f) if t_start.requires_grad else y
        raw, nfe = integrate_rk(
            f, y_in, seg_times, t.dtype, plan, dense, event_fn=signs.composite(gs)
        )
        totals.add(raw, nfe)
        outputs.extend(raw.ys[1:])
        remaining = remaining[len(raw.ys) - 1 :]
        if raw.event_t is None:
            break
        crossings += 1
        if crossings > MAX_EVENTS:
            raise TooManyEvents(t=raw.event_t, max_events=MAX_EVENTS)
        te = torch.scalar_tensor(raw.event_t, dtype=t.dtype, device=t.device)
        ye = raw.event_y
        i = _which(gs, signs, te, ye)
        upward = signs.sign[i] < 0
        ev = events[i]
        fires = ev.direction == 0 or ev.direction == (1 if upward else -1)
        signs.sign[i] = -signs.sign[i]
        with torch.no_grad():
            signs.offset[i] = signs.sign[i] * float(gs[i](te, ye.detach()))
        seg_start = raw.event_t
        t_start, y = te, ye
        if not fires:
            continue
        event_t, event_y = differentiable_event(gs[i], f, raw.event_t, ye, t)
        records.append(EventRecord(event_t, i, flat.unpack(event_y)))
        if ev.terminal:
            terminal = (event_t, event_y)
            break
        t_start, y = event_t, event_y
        if ev.reset is not None:
            y = _reset(ev.reset, flat, event_t, event_y)
            tr = te.detach()
            for j, g in enumerate(gs):
                signs.sign[j], signs.offset[j] = _arm(g, f, tr, y, signs.sign[j])
    return _solution(t, flat, solver, times, outputs, records, terminal, totals, dense)


def _flat_fn(fn: Callable[..., Tensor], flat: FlatState) -> Flat:
    if not flat.is_tuple:
        return fn
    return lambda t, y: fn(t, flat.unpack(y))


def _which(gs: list[Flat], signs: _Signs, te: Tensor, ye: Tensor) -> int:
    """The event whose shifted, signed value is smallest at the located root."""
    with torch.no_grad():
        vals = [
            s * float(g(te, ye)) - c for g, s, c in zip(gs, signs.sign, signs.offset, strict=True)
        ]
    return int(np.argmin(vals))


def _reset(reset: Callable[..., object], flat: FlatState, t: Tensor, y: Tensor) -> Tensor:
    new = reset(t, flat.unpack(y))
    if flat.is_tuple:
        if not isinstance(new, (tuple, list)) or len(new) != len(flat.shapes or ()):
            raise TypeError(f"Event.reset must return a tuple like y0; got {type(new).__name__}")
        return torch.cat([p.reshape(-1) for p in new])  # type: ignore[union-attr]
    if not isinstance(new, Tensor) or new.shape != y.shape:
        got = tuple(new.shape) if isinstance(new, Tensor) else type(new).__name__
        raise ValueError(f"Event.reset must return y's shape {tuple(y.shape)}; got {got}")
    return new


def _solution(
    t: Tensor,
    flat: FlatState,
    solver: object,
    times: list[float],
    outputs: list[Tensor],
    records: list[EventRecord],
    terminal: tuple[Tensor, Tensor] | None,
    totals: _Totals,
    dense: bool,
) -> Solution:
    stats = Stats(
        totals.nfe, totals.n_accepted, totals.n_rejected, totals.initial_step, totals.last_step
    )
    steps = _Raw(totals.steps) if dense and totals.steps else _Raw(None)
    dense_out = dense_from_raw(steps, solver, flat.unpack, times)  # type: ignore[arg-type]
    ys = flat.unpack(torch.stack(outputs))
    common = {"ys": ys, "stats": stats, "dense": dense_out, "events": tuple(records)}
    if terminal is None:
        return Solution(ts=t, status="success", **common)  # type: ignore[arg-type]
    return Solution(
        ts=t[: len(outputs)],
        status="event",
        event_t=terminal[0],
        event_y=flat.unpack(terminal[1]),
        **common,  # type: ignore[arg-type]
    )


@dataclass
class _Raw:
    steps: list[StepRecord] | None
