"""Solving with a list of :class:`~odenet.solving.events.Event`: segments between events.

Each segment runs the ordinary stepping loop with one composite terminal event

    G(t, y) = min_i ( s_i g_i(t, y) - c_i ),

where ``s_i`` is the sign of ``g_i`` before its next crossing and ``c_i`` is zero, except
right after ``g_i`` crossed or was reset: then ``c_i = s_i g_i(t_r, y_r)`` (a rounding-level
residual at the restart) so that ``G`` starts exactly at zero and the loop does not
re-detect the crossing it just handled. ``G`` first reaches zero where the first ``g_i``
crosses; the crossing is then classified (its direction against ``Event.direction``), and
the solve stops (terminal), records and resets, or continues.

Per-sample events (``Event(per_sample=True)``, joint batch mode) contribute one channel per
sample to the minimum; a per-sample terminal event freezes its sample (the field's row is
masked to zero) and a per-sample reset changes its row only.

Gradients: autograd (as for a single event). Each fired event's time carries the implicit
function theorem gradient and the next segment starts from a state and time that carry it
(:func:`odenet.solving.time_grad.attach_start_time`), so gradients pass through resets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..errors import TooManyEvents
from ..solvers.integrate import RawSolution, StepRecord
from ._checks import FlatState, _positive_int, check_method, merge_options, wrap_tuple_func
from ._run import Plan, dense_from_raw, integrate_rk
from .event_grad import differentiable_event
from .events import Event, EventRecord
from .solution import Solution, Stats

__all__ = ["MAX_EVENTS", "solve_events"]

#: crossings handled (fired or skipped for their direction) before TooManyEvents
MAX_EVENTS = 10_000

Flat = Callable[[Tensor, Tensor], Tensor]


@dataclass
class _Channels:
    """One channel per scalar event and per sample of a per-sample event.

    ``sign``/``offset``/``active`` are ``(n_channels,)`` tensors on the state's device;
    ``owner[c] = (event index, sample or None)``.
    """

    owner: list[tuple[int, int | None]]
    sign: Tensor
    offset: Tensor
    active: Tensor

    def composite(self, gs: list[Flat]) -> Flat:
        sign, offset, active = self.sign.clone(), self.offset.clone(), self.active.clone()

        def g(t: Tensor, y: Tensor) -> Tensor:
            vals = _values(gs, t, y)
            h = sign.to(vals.dtype) * vals - offset.to(vals.dtype)
            return torch.where(active, h, torch.full_like(h, math.inf)).min()

        return g


def _values(gs: list[Flat], t: Tensor, y: Tensor) -> Tensor:
    """Every channel's event value at ``(t, y)``: ``(n_channels,)``."""
    return torch.cat([g(t, y).reshape(-1) for g in gs])


def _rates(gs: list[Flat], f: Flat, t: Tensor, y: Tensor) -> Tensor:
    """``d/dt g_c(t, y(t)) = ∂g_c/∂t + ∇_y g_c · f(t, y)`` for every channel.

    The directional derivative ``d/dε g(t + ε, y + ε f)`` at ``ε = 0`` for all channels at
    once, by the double-backward trick (reverse mode twice: ``u = ∂(v·g)/∂ε``, then
    ``∂u/∂v``), so any differentiable event function works.
    """
    with torch.no_grad():
        direction = f(t.detach(), y.detach())
    with torch.enable_grad():
        eps = torch.zeros((), dtype=t.dtype, device=t.device, requires_grad=True)
        tt = t.detach() + eps
        yy = y.detach() + eps.to(y.dtype) * direction
        vals = _values(gs, tt, yy)
        v = torch.ones_like(vals, requires_grad=True)
        (u,) = torch.autograd.grad(vals, eps, v, create_graph=True, allow_unused=True)
        if u is None or not u.requires_grad:  # no channel depends on the direction
            return torch.zeros_like(vals).detach()
        (rate,) = torch.autograd.grad(u, v, allow_unused=True)
    return torch.zeros_like(vals).detach() if rate is None else rate.detach()


def _arm(gs: list[Flat], f: Flat, t: Tensor, y: Tensor, fallback: Tensor) -> tuple[Tensor, Tensor]:
    """``(sign, offset)`` per channel at a (re)start point: the sign of ``g`` where it is
    clearly away from zero, else the sign it is moving towards (``fallback`` when it does
    not move), with an offset cancelling the rounding-level residual."""
    with torch.no_grad():
        value = _values(gs, t, y.detach())
    rate = _rates(gs, f, t, y).to(value.dtype)
    resolution = 16 * np.finfo(np.float64).eps * max(abs(float(t)), 1.0)
    clear = (value.abs() > 10 * rate.abs() * resolution) & (value != 0)
    moving = torch.where(rate != 0, torch.sign(rate), fallback.to(value.dtype))
    sign = torch.where(clear, torch.sign(value), moving)
    offset = torch.where(clear, torch.zeros_like(value), sign * value)
    return sign, offset


@dataclass
class _Totals:
    nfe: int = 0
    n_accepted: int = 0
    n_rejected: int = 0
    initial_step: float = math.nan
    last_step: float = math.nan
    n_jacobians: int = 0
    n_lu: int = 0
    steps: list[StepRecord] = field(default_factory=list)

    def add(self, raw: RawSolution, nfe: int) -> None:
        self.nfe += nfe
        self.n_accepted += raw.n_accepted
        self.n_rejected += raw.n_rejected
        self.n_jacobians += raw.n_jacobians
        self.n_lu += raw.n_lu
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
    from .time_grad import attach_start_time, wants_time_grad

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
        if math.isinf(times[-1]):
            raise ValueError(
                f"n_steps={n} divides the span t[0]..t[-1], but t[-1]={times[-1]} (an "
                "open-ended event search); give step_size instead, e.g. step_size=0.01"
            )
        opts["step_size"] = abs(times[-1] - times[0]) / n
    plan = Plan(solver, opts, rtol, atol)
    f: Flat = wrap_tuple_func(func, flat) if flat.is_tuple else func  # type: ignore[assignment]
    gs = [_flat_fn(ev.fn, flat) for ev in events]
    y = flat.y0
    chans = _channels(events, gs, flat, t[:1].detach()[0], y)
    alive = torch.ones(y.shape[0] if y.dim() else 1, dtype=torch.bool, device=y.device)
    t_start = t[0]
    chans.sign, chans.offset = _arm(gs, f, t[:1].detach()[0], y, torch.ones_like(chans.sign))
    outputs: list[Tensor] = [y]
    records: list[EventRecord] = []
    totals = _Totals()
    remaining = times[1:]
    crossings = 0
    terminal: tuple[Tensor, Tensor] | None = None
    seg_start = times[0]
    fld = f
    while remaining:
        seg_times = [seg_start, *remaining]
        y_in = attach_start_time(t_start.reshape(1), y, fld) if t_start.requires_grad else y
        raw, nfe = integrate_rk(
            fld, y_in, seg_times, t.dtype, plan, dense, event_fn=chans.composite(gs)
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
        c = _which(gs, chans, te, ye)
        i, b = chans.owner[c]
        ev = events[i]
        upward = bool(chans.sign[c] < 0)
        fires = ev.direction == 0 or ev.direction == (1 if upward else -1)
        with torch.no_grad():
            chans.sign[c] = -chans.sign[c]
            chans.offset[c] = chans.sign[c] * _values(gs, te, ye.detach())[c]
        seg_start = raw.event_t
        t_start, y = te, ye
        if not fires:
            continue
        g_c = _channel_fn(gs[i], 0 if b is None else b)
        event_t, event_y = differentiable_event(g_c, fld, raw.event_t, ye, t)
        records.append(EventRecord(event_t, i, flat.unpack(event_y), b))
        t_start, y = event_t, event_y
        if ev.terminal and b is None:
            terminal = (event_t, event_y)
            break
        if ev.terminal:  # a per-sample terminal event freezes sample b
            alive = alive.clone()
            alive[b] = False
            chans.active = chans.active & torch.tensor(
                [s != b for _, s in chans.owner], device=chans.active.device
            )
            if not bool(alive.any()):
                terminal = (event_t, event_y)
                break
            fld = _frozen(f, alive)
        if ev.reset is not None:
            y = _reset(ev.reset, flat, event_t, event_y, b)
            chans.sign, chans.offset = _arm(gs, fld, te.detach(), y, chans.sign)
    return _solution(t, flat, solver, times, outputs, records, terminal, totals, dense)


def _flat_fn(fn: Callable[..., Tensor], flat: FlatState) -> Flat:
    if not flat.is_tuple:
        return fn
    return lambda t, y: fn(t, flat.unpack(y))


def _channels(
    events: tuple[Event, ...], gs: list[Flat], flat: FlatState, t: Tensor, y: Tensor
) -> _Channels:
    """The channels of ``events`` (per-sample events need a tensor ``y0`` ``(batch, ...)``
    and one value per sample)."""
    owner: list[tuple[int, int | None]] = []
    for i, (ev, g) in enumerate(zip(events, gs, strict=True)):
        if ev.per_sample and (flat.is_tuple or y.dim() == 0):
            raise ValueError(
                f"event_fn[{i}] has per_sample=True, which needs a tensor y0 of shape "
                "(batch, *state); got a tuple or 0-d y0"
            )
        with torch.no_grad():
            value = g(t, y)
        if not isinstance(value, Tensor):
            raise TypeError(
                f"event_fn[{i}].fn(t, y) must return a tensor; got {type(value).__name__}. "
                "Build it from t and y, e.g. y[..., 0] - 1.0"
            )
        n = value.numel()
        if not ev.per_sample:
            if n != 1:
                raise ValueError(
                    f"event_fn[{i}].fn(t, y) must return one value (a 0-d tensor); got shape "
                    f"{tuple(value.shape)}. Reduce it (e.g. y[:, 0].min()) or pass "
                    "per_sample=True for one event per sample"
                )
            owner.append((i, None))
            continue
        if n != y.shape[0]:
            raise ValueError(
                f"event_fn[{i}] has per_sample=True and must return one value per sample "
                f"({y.shape[0]},); it returned {n} values"
            )
        owner.extend((i, b) for b in range(n))
    n_ch = len(owner)
    ones = torch.ones(n_ch, dtype=y.dtype, device=y.device)
    active = torch.ones(n_ch, dtype=torch.bool, device=y.device)
    return _Channels(owner, ones, torch.zeros_like(ones), active)


def _channel_fn(g: Flat, b: int) -> Flat:
    return lambda t, y: g(t, y).reshape(-1)[b]


def _frozen(f: Flat, alive: Tensor) -> Flat:
    """``f`` with the rows of frozen samples set to zero (their state stays put)."""

    def field(t: Tensor, y: Tensor) -> Tensor:
        out = f(t, y)
        mask = alive.view(-1, *([1] * (out.dim() - 1))).to(out.dtype)
        return out * mask

    return field


def _which(gs: list[Flat], chans: _Channels, te: Tensor, ye: Tensor) -> int:
    """The active channel whose shifted, signed value is smallest at the located root."""
    with torch.no_grad():
        vals = _values(gs, te, ye)
        h = chans.sign.to(vals.dtype) * vals - chans.offset.to(vals.dtype)
        h = torch.where(chans.active, h, torch.full_like(h, math.inf))
    return int(torch.argmin(h))


def _reset(
    reset: Callable[..., object], flat: FlatState, t: Tensor, y: Tensor, sample: int | None
) -> Tensor:
    new = reset(t, flat.unpack(y))
    if flat.is_tuple:
        shapes = flat.shapes or ()
        if not isinstance(new, (tuple, list)) or len(new) != len(shapes):
            raise TypeError(f"Event.reset must return a tuple like y0; got {type(new).__name__}")
        for j, (part, shape) in enumerate(zip(new, shapes, strict=True)):
            _check_reset_part(part, shape, y, f"Event.reset(t, y)[{j}]")
        return torch.cat([p.reshape(-1) for p in new])  # type: ignore[union-attr]
    _check_reset_part(new, y.shape, y, "Event.reset(t, y)")
    if sample is None:
        return new
    row = torch.zeros(y.shape[0], dtype=torch.bool, device=y.device)
    row[sample] = True
    return torch.where(row.view(-1, *([1] * (y.dim() - 1))), new, y)


def _check_reset_part(part: object, shape: torch.Size, y: Tensor, name: str) -> None:
    """A reset state (or one part of a tuple state) must keep the shape, dtype and device
    of the state it replaces: the solve continues from it (a float32 reset of a float64
    solve would silently continue in float32)."""
    if not isinstance(part, Tensor):
        raise TypeError(f"{name} must return a tensor like y; got {type(part).__name__}")
    if part.shape != shape:
        raise ValueError(f"{name} must return y's shape {tuple(shape)}; got {tuple(part.shape)}")
    if part.dtype != y.dtype or part.device != y.device:
        raise TypeError(
            f"{name} must return y's dtype and device ({y.dtype}, {y.device}); got "
            f"({part.dtype}, {part.device}). Build the new state from y, e.g. torch.stack or "
            "y.clone() with its entries changed"
        )


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
        totals.nfe,
        totals.n_accepted,
        totals.n_rejected,
        totals.initial_step,
        totals.last_step,
        n_jacobians=totals.n_jacobians,
        n_lu=totals.n_lu,
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
