"""``compile_loop=True``: the whole Runge--Kutta stepping loop as one compiled graph.

:func:`integrate_compiled` runs the adaptive loop of :func:`~odenet.solvers.integrate.
integrate_adaptive` (or the fixed-grid loop) inside ``torch.while_loop`` under
``torch.compile``: step attempts, the embedded error estimate, the PI controller, landing
on the end time and writing the requested outputs all stay on the device, so a solve is one
call of generated code with no Python per step and no host synchronisation until it ends
(``compile_step=True`` compiles one step and keeps the loop in Python: one sync per step).

It takes the same steps as the eager loop (same controller, same landing rule, outputs
from the same interpolant), so results agree to rounding -- except where one eager step
would pass more than ``window`` pending output times: the compiled loop shortens that step
(see below), so with many closely spaced outputs it takes more, shorter steps (which count
against ``max_steps``). What it leaves out, checked by the caller before solving: autograd
(``torch.while_loop`` has no backward: run it under ``torch.no_grad()``), events,
``jump_t``/``step_t``, step callbacks, custom norms, dense output, implicit and Adams
methods, and the stiffness test.

Outputs: the loop carries the ``(len(t), *y0.shape)`` output buffer and, on each accepted
step, fills the pending outputs inside the step from a window of the next ``window``
output times (cost ``window * stages * y0.numel()`` per step, not ``len(t) * ...``); an
adaptive step that would pass more than ``window`` pending outputs is shortened to end on
the last one of the window, as the eager loop's steps are shortened to land on ``t_end``.

Compilation happens once per ``(func, method, controller, window)``, state shape and
number of output times; tolerances, time values and the step budget enter as tensors, so
changing them does not recompile.
``torch.while_loop`` is a prototype feature of PyTorch.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch._higher_order_ops import while_loop
from torch.func import functional_call

from .compiled import _combo, _nonzero  # the compiled step's stage sums
from .controller import PIController
from .func_cache import FuncCache
from .integrate import MAX_NONFINITE_RETRIES
from .runge_kutta import RungeKutta

__all__ = ["CompiledLoopResult", "clear_cache", "integrate_compiled"]

Func = Callable[[Tensor, Tensor], Tensor]
State = dict[str, Tensor] | None
#: the values of a module's parameters and buffers, in ``_Program.names`` order
Values = tuple[Tensor, ...]

#: outputs filled per accepted step in the adaptive loop (more shorten the step)
WINDOW = 8
#: status codes the loop ends with
RUNNING, DONE, UNDERFLOW, NONFINITE = 0, 1, 2, 3


@dataclass
class CompiledLoopResult:
    """What the compiled loop hands back (one host synchronisation reads the scalars).

    Attributes:
        ys: ``(len(t), *y0.shape)`` outputs (valid up to the last time reached).
        n_accepted, n_rejected: step counts.
        nfe: evaluations of ``func`` including the first one (``k0``), not the initial-step
            heuristic's.
        status: :data:`DONE`, :data:`RUNNING` (the step budget ran out), :data:`UNDERFLOW`
            or :data:`NONFINITE`.
        t, h, last_step: time reached, next step magnitude, last accepted step magnitude.
    """

    ys: Tensor
    n_accepted: int
    n_rejected: int
    nfe: int
    status: int
    t: float
    h: float
    last_step: float


def _at(x: Tensor, i: Tensor) -> Tensor:
    """``x[i]`` for a 0-d integer tensor ``i``, without a data-dependent Python index."""
    return x.index_select(0, i.reshape(1)).reshape(())


class _Program:
    """The traced loop of one method and controller: :meth:`adaptive` and :meth:`fixed`
    are the functions handed to ``torch.compile`` (the method's constants are Python
    floats baked into the graph)."""

    def __init__(self, func: Func, method: RungeKutta, ctrl: PIController, window: int) -> None:
        tab = method.tableau
        self.func = func
        self.c = tuple(float(x) for x in tab.c)
        self.rows = tuple(_nonzero(row) for row in tab.a)
        self.b = _nonzero(tab.b)
        self.e = None if tab.b_error is None else _nonzero(tab.b_error)
        self.fsal = bool(tab.fsal)
        self.dense = method.dense_weights
        self.q = method.error_exponent_order
        self.ctrl = ctrl
        self.window = window
        self.evals_per_step = len(self.c) - 1 + (0 if self.fsal else 1)
        self.names = tuple(_state(func) or ())

    def _loop(self, cond: Callable[..., Tensor], body: Callable[..., tuple[Tensor, ...]],
              init: tuple[Tensor, ...], values: Values) -> tuple[Tensor, ...]:  # fmt: skip
        """``while_loop`` over ``init``, with ``func``'s parameters and buffers carried
        along unchanged (as loop inputs, views such as ``w.T`` taken inside ``forward`` are
        formed inside the body; captured from outside, each view would be a separate input
        aliasing the others, which ``torch.while_loop`` refuses)."""
        n = len(init)

        def cond_all(*carry: Tensor) -> Tensor:
            return cond(*carry[:n])

        def body_all(*carry: Tensor) -> tuple[Tensor, ...]:
            state = dict(zip(self.names, carry[n:], strict=True)) if self.names else None
            return (*body(*carry[:n], state=state), *(v.clone() for v in carry[n:]))

        return tuple(while_loop(cond_all, body_all, (*init, *values)))[:n]

    # -- one step ---------------------------------------------------------------------
    def _call(self, t: Tensor, y: Tensor, state: State) -> Tensor:
        """``func(t, y)``; an ``nn.Module`` runs on ``state``, its parameters and buffers
        passed in as loop inputs (``torch.while_loop`` refuses two views of one captured
        tensor, such as a buffer ``w`` and ``w.T`` read inside ``forward``)."""
        if state is None:
            return self.func(t, y)
        return functional_call(self.func, state, (t, y))  # type: ignore[arg-type]

    def _step(
        self, t: Tensor, y: Tensor, dt: Tensor, k0: Tensor, state: State
    ) -> tuple[Tensor, list[Tensor]]:
        """``(y1, ks)``; ``ks[-1]`` is ``f(t + dt, y1)`` (evaluated for non-FSAL methods)."""
        dty = dt.to(y.dtype)
        ks = [k0]
        yi = y
        for i in range(1, len(self.c)):
            yi = y + dty * _combo(ks, self.rows[i]) if self.rows[i] else y
            ks.append(self._call((t + self.c[i] * dt).to(y.dtype), yi, state))
        if self.fsal:
            return yi, ks
        y1 = y + dty * _combo(ks, self.b)
        return y1, [*ks, self._call((t + dt).to(y.dtype), y1, state)]

    def _interpolate(
        self, theta: Tensor, y: Tensor, y1: Tensor, ks: list[Tensor], dt: Tensor
    ) -> Tensor:
        """States at ``t + theta * dt`` for a ``(W,)`` vector ``theta``: ``(W, *y.shape)``."""
        view = (-1,) + (1,) * y.dim()
        th = theta.to(y.dtype).reshape(view)
        dty = dt.to(y.dtype)
        if self.dense is not None:  # the method's continuous extension b_i(theta)
            out = y.unsqueeze(0)
            for i, row in enumerate(self.dense):
                if any(w != 0.0 for w in row):
                    bi = sum(w * th ** (p + 1) for p, w in enumerate(row) if w != 0.0)
                    out = out + (dty * bi) * ks[i]
            return out
        f0, f1 = ks[0], ks[-1]  # cubic Hermite (third order)
        h00 = (1 + 2 * th) * (1 - th) ** 2
        h10 = th * (1 - th) ** 2
        h01 = th * th * (3 - 2 * th)
        h11 = th * th * (th - 1)
        return h00 * y + h10 * dty * f0 + h01 * y1 + h11 * dty * f1

    def _emit(
        self, ys: Tensor, oi: Tensor, t_out: Tensor, d: Tensor, t: Tensor, t_new: Tensor,
        dt: Tensor, y: Tensor, y1: Tensor, ks: list[Tensor], accept: Tensor,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Write the pending outputs in ``(t, t_new]`` of an accepted step."""
        n = t_out.shape[0] - 1  # the last entry is the sink (NaN time, a spare row of ys)
        pos = oi + torch.arange(self.window, device=oi.device)
        idx = pos.clamp(max=n)  # window positions past the end all point at the sink
        tau = t_out[idx]
        inside = accept & ((tau - t_new) * d <= 0) & ((tau - t) * d > 0)
        vals = self._interpolate((tau - t) / dt, y, y1, ks, dt)
        vals = torch.where((tau == t_new).reshape((-1,) + (1,) * y.dim()), y1.unsqueeze(0), vals)
        mask = inside.reshape((-1,) + (1,) * y.dim())
        ys = ys.index_copy(0, idx, torch.where(mask, vals, ys[idx]))
        return ys, oi + inside.sum()

    # -- the adaptive loop ------------------------------------------------------------
    def adaptive(
        self, y0: Tensor, k0: Tensor, ys: Tensor, t_out: Tensor, land_t: Tensor,
        scalars: Tensor, max_steps: Tensor, values: Values,
    ) -> tuple[Tensor, ...]:  # fmt: skip
        """``scalars = (t0, h0, rtol, atol, dt_min, dt_max, h_floor, direction)`` (float64).

        Carries ``(fs, ints, y, k, ys)``: the float64 scalars ``fs = (t, h, previous error
        ratio, last accepted step)`` and the int64 ones ``ints = (next output, next
        landing, accepted, rejected, non-finite retries, status, rejected last)``, packed
        so that each iteration allocates and hands over few tensors (with inductor's C++
        wrapper the per-tensor bookkeeping is most of an iteration's cost on small states).
        """
        ctrl, q = self.ctrl, self.q
        n_land = land_t.shape[0]
        low = y0.dtype in (torch.float16, torch.bfloat16)

        def cond(fs: Tensor, ints: Tensor, y: Tensor, k: Tensor, ys: Tensor) -> Tensor:
            return (ints[5] == RUNNING) & (ints[2] + ints[3] < max_steps)

        def body(fs: Tensor, ints: Tensor, y: Tensor, k: Tensor, ys: Tensor, state: State):
            _, _, rtol, atol, dt_min, dt_max, h_floor, d = scalars.unbind(0)
            t, h, prev, last = fs.unbind(0)
            oi, li, n_acc, n_rej, nonfin, status, rej_last = ints.unbind(0)
            target = _at(land_t, li.clamp(max=n_land - 1))
            cap = _at(t_out, (oi + self.window - 1).clamp(max=t_out.shape[0] - 2))
            target = torch.where((cap - target) * d < 0, cap, target)
            remaining = (target - t) * d
            land = h >= remaining
            h_try = torch.where(land, remaining, h)
            dt = d * h_try
            t_new = torch.where(land, target, t + dt)
            y1, ks = self._step(t, y, dt, k, state)
            err = dt.to(y.dtype) * _combo(ks, self.e)  # type: ignore[arg-type]
            ya, y1a = y.abs(), y1.abs()
            if low:
                err, ya, y1a = err.float(), ya.float(), y1a.float()
            tol = torch.maximum(ya, y1a) * rtol.to(ya.dtype) + atol.to(ya.dtype)
            ratio = (torch.linalg.vector_norm(err / tol) / math.sqrt(max(err.numel(), 1))).double()
            finite = torch.isfinite(ratio)
            accept = finite & (ratio <= 1.0)
            # controller: accepted
            law = ctrl.safety * ratio.clamp(min=1e-300) ** (-(1.0 / q - 0.75 * ctrl.beta))
            law = law * prev**ctrl.beta
            fac = torch.where(
                ratio <= 0.0, ctrl.factor_max, law.clamp(ctrl.factor_min, ctrl.factor_max)
            )
            fac = torch.where(rej_last > 0, fac.clamp(max=1.0), fac)
            h_acc = h_try * fac
            h_acc = torch.where(land, torch.maximum(h_acc, h), h_acc)
            h_acc = h_acc.clamp(min=dt_min).minimum(dt_max)
            # controller: rejected (finite) and non-finite
            rej_fac = (ctrl.safety * ratio.clamp(min=1e-300) ** (-1.0 / q)).clamp(
                ctrl.factor_min, 1.0
            )
            h_rej = torch.where(finite, h_try * rej_fac, h_try * 0.25)
            # outputs and the new state
            ys, oi = self._emit(ys, oi, t_out, d, t, t_new, dt, y, y1, ks, accept)
            landed = accept & land & (target == _at(land_t, li.clamp(max=n_land - 1)))
            li = li + landed.long()
            nonfin = torch.where(finite, 0, nonfin + 1)
            status = torch.where(accept & (li >= n_land), DONE, status)
            status = torch.where(~accept & finite & (h_rej < h_floor), UNDERFLOW, status)
            bad = ~finite & ((nonfin > MAX_NONFINITE_RETRIES) | (h_rej < h_floor))
            status = torch.where(bad, NONFINITE, status)
            fs = torch.stack([
                torch.where(accept, t_new, t),
                torch.where(accept, h_acc, h_rej),
                torch.where(accept, ratio.clamp(min=1e-4), prev),
                torch.where(accept, h_try, last),
            ])  # fmt: skip
            rejected = (~accept).long()
            ints = torch.stack(
                [oi, li, n_acc + accept.long(), n_rej + rejected, nonfin, status, rejected]
            )
            return fs, ints, torch.where(accept, y1, y), torch.where(accept, ks[-1], k), ys

        t0, h0 = scalars[0], scalars[1]
        fs = torch.stack([t0, h0, torch.ones_like(t0), torch.zeros_like(t0)])
        ints = torch.tensor([1, 0, 0, 0, 0, RUNNING, 0], dtype=torch.int64, device=y0.device)
        return self._loop(cond, body, (fs, ints, y0, k0, ys), values)

    # -- the fixed-grid loop ----------------------------------------------------------
    def fixed(
        self, y0: Tensor, k0: Tensor, ys: Tensor, t_out: Tensor, grid: Tensor, d: Tensor,
        values: Values,
    ) -> tuple[Tensor, ...]:  # fmt: skip
        """Steps along ``grid`` (float64, ``grid[0] = t0``); ``window`` must cover the most
        outputs inside one grid step."""
        n_steps = grid.shape[0] - 1

        def cond(i, y, k, ys, oi):
            return i < n_steps

        def body(i, y, k, ys, oi, state):
            t, t_new = _at(grid, i), _at(grid, i + 1)
            dt = t_new - t
            y1, ks = self._step(t, y, dt, k, state)
            ys, oi = self._emit(ys, oi, t_out, d, t, t_new, dt, y, y1, ks, i >= 0)
            return i + 1, y1, ks[-1], ys, oi

        start = torch.zeros((), dtype=torch.int64, device=y0.device)
        return self._loop(cond, body, (start, y0, k0, ys, start + 1), values)


#: compiled programs: ``(func, key) -> (program, compiled adaptive, compiled fixed)``
_CACHE: FuncCache[tuple[_Program, Any, Any]] = FuncCache()


def _program(
    func: Func, method: RungeKutta, ctrl: PIController, window: int
) -> tuple[_Program, Any, Any]:
    key = (type(method), method.name, ctrl, window)
    hit = _CACHE.get(func, key)
    if hit is not None:
        return hit
    prog = _Program(func, method, ctrl, window)
    # inductor's C++ wrapper runs the loop body without Python: 41 vs 111 ms per solve on
    # the 256 Van der Pol batch (dopri5, 510 steps), compile 32 vs 30 s (same process)
    opts = {"cpp_wrapper": True}
    compiled = tuple(
        torch.compile(_own_code(fn, prog), fullgraph=True, dynamic=False, options=opts)
        for fn in (_Program.adaptive, _Program.fixed)
    )
    return _CACHE.put(func, key, (prog, *compiled))


def _own_code(fn: Callable[..., Any], prog: _Program) -> Callable[..., Any]:
    """``fn`` bound to ``prog`` with a copy of its code object: Dynamo counts recompiles
    per code object (``recompile_limit``), so programs must not share one, or the ninth
    ``(func, method, shape)`` would silently run eagerly."""
    code = fn.__code__.replace()
    fresh = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    return types.MethodType(fresh, prog)


def clear_cache() -> None:
    """Forget the compiled loops (Dynamo's own caches are reset by ``torch._dynamo.reset``)."""
    _CACHE.clear()


def integrate_compiled(
    func: Func,
    method: RungeKutta,
    y0: Tensor,
    k0: Tensor,
    t_out: Sequence[float],
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    controller: PIController | None = None,
    first_step: float = 0.0,
    h_floor: float = 0.0,
    max_steps: int = 0,
    grid: Sequence[float] | None = None,
) -> CompiledLoopResult:
    """Run the compiled loop; adaptive when ``grid`` is ``None``, else along ``grid``.

    Args:
        func: ``func(t, y)`` with a 0-d tensor ``t`` of ``y``'s dtype; traced by Dynamo.
        method: an explicit Runge--Kutta method (adaptive ones need ``b_error``).
        y0, k0: ``(*batch, *state)`` initial state and ``func(t_out[0], y0)``.
        t_out: output times, strictly monotone; ``t_out[-1]`` is where the solve ends.
        rtol, atol, controller, first_step, h_floor, max_steps: the adaptive loop's settings
            (``h_floor``: the step magnitude below which a rejection is an underflow).
        grid: the fixed grid (``grid[0] == t_out[0]``, ``grid[-1] == t_out[-1]``).

    Returns:
        A :class:`CompiledLoopResult`; the caller turns a status other than :data:`DONE`
        into the eager loop's errors.
    """
    n = len(t_out)
    dev = y0.device
    # output times and rows, plus a sink: a NaN time and a spare row that all window
    # positions past the end point at (they rewrite its own value; real rows are written
    # at most once per step)
    t_ten = torch.tensor([*t_out, math.nan], dtype=torch.float64, device=dev)
    d = 1.0 if t_out[-1] > t_out[0] else -1.0
    ys = torch.zeros((n + 1, *y0.shape), dtype=y0.dtype, device=dev)
    ys[0] = y0
    if grid is not None:
        g = torch.tensor(list(grid), dtype=torch.float64, device=dev)
        window = _fixed_window(t_out, grid)
        prog, _, fixed = _program(func, method, controller or PIController(), window)
        d_ten = torch.tensor(d, dtype=torch.float64, device=dev)
        ys = _traced(fixed, y0, k0, ys, t_ten, g, d_ten, _values(func))[3][:n]
        steps = len(grid) - 1
        last = abs(grid[-1] - grid[-2])
        return CompiledLoopResult(ys, steps, 0, 1 + steps * prog.evals_per_step, DONE,
                                  float(t_out[-1]), last, last)  # fmt: skip
    if method.tableau.b_error is None:
        raise TypeError(f"method {method.name!r} is fixed-step: pass its grid")
    ctrl = controller or PIController()
    window = min(WINDOW, max(n - 1, 1))
    prog, adaptive, _ = _program(func, method, ctrl, window)
    landings = [t_out[-1]]
    if method.interpolant_order < method.order - 1:  # outputs land, as in the eager loop
        landings = list(t_out[1:])
    scalars = torch.tensor(
        [t_out[0], first_step, rtol, atol, ctrl.dt_min, ctrl.dt_max, h_floor, d],
        dtype=torch.float64, device=dev,
    )  # fmt: skip
    land_t = torch.tensor(landings, dtype=torch.float64, device=dev)
    budget = torch.tensor(max_steps, dtype=torch.int64, device=dev)
    out = _traced(adaptive, y0, k0, ys, t_ten, land_t, scalars, budget, _values(func))
    fs, ints, _, _, ys = out
    scal = torch.cat([fs[[0, 1, 3]], ints[[2, 3, 5]].double()]).tolist()
    t_f, h_f, last_f, acc_f, rej_f, st_f = scal  # the one host synchronisation
    acc, rej = int(acc_f), int(rej_f)
    return CompiledLoopResult(ys[:n], acc, rej, 1 + (acc + rej) * prog.evals_per_step, int(st_f),
                              t_f, h_f, last_f)  # fmt: skip


def _state(func: Func) -> State:
    """The parameters and buffers of an ``nn.Module`` ``func`` (``None`` otherwise)."""
    if not isinstance(func, nn.Module):
        return None
    return {**dict(func.named_parameters()), **dict(func.named_buffers())}


def _traced(fn: Callable[..., tuple[Tensor, ...]], *args: Any) -> tuple[Tensor, ...]:
    """Call a compiled loop; a ``func`` Dynamo cannot capture whole becomes a ValueError."""
    try:
        return fn(*args)
    except (
        torch._dynamo.exc.Unsupported,
        torch._dynamo.exc.UserError,
        torch._dynamo.exc.UncapturedHigherOrderOpError,
    ) as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        first = lines[1] if len(lines) > 1 else (lines[0] if lines else type(err).__name__)
        raise ValueError(
            f"compile_loop=True could not capture func inside torch.while_loop ({first}). "
            "func must be traceable without graph breaks (no Python side effects, no "
            "data-dependent Python control flow); an nn.Module's parameters are passed into "
            "the loop, so prefer one over a closure. Or drop compile_loop (compile_step=True "
            "compiles one step at a time)"
        ) from err


def _values(func: Func) -> Values:
    return tuple((_state(func) or {}).values())


def _fixed_window(t_out: Sequence[float], grid: Sequence[float]) -> int:
    """The most output times that fall inside one grid step ``(g_i, g_{i+1}]``."""
    edges = torch.tensor(list(grid), dtype=torch.float64)
    times = torch.tensor(list(t_out[1:]), dtype=torch.float64)
    if grid[-1] < grid[0]:
        edges, times = -edges, -times
    step_of = torch.searchsorted(edges, times, right=False)
    return int(torch.bincount(step_of).max()) if len(times) else 1
