"""``solve(..., batch_mode="independent")``: checks, the per-sample loop, the Solution.

Kept apart from :mod:`odenet.odeint` so the joint path stays as it is; ``solve`` calls
:func:`solve_independent` after its own checks of ``func`` and ``y0``.

Scope: adaptive methods, a tensor ``y0`` ``(batch, *state)``, no
``step_t``/``jump_t``/custom norm, no dense output (ask for the times as ``t``, one row
per sample if they differ).

Events: one terminal event per sample. ``event_fn(t, y) -> (batch,)`` (``t`` is
``(batch,)``, as ``func`` gets it), or ``odenet.Event(fn, direction=..., terminal=True)``
(``per_sample`` is implied), is checked after each accepted step of each sample; a sample
whose value crosses zero (in ``direction``) stops at the crossing, located on that step's
continuous extension to float64 resolution: its ``sample_status`` is ``"event"``,
``Solution.event_t[b]`` / ``event_y[b]`` hold the time and state (NaN for samples without
an event, which run to their last time as usual), and its outputs at times after the
event are NaN. ``Solution.status`` is ``"event"`` when some sample stopped at an event and
none failed. Event times and states carry implicit-function-theorem gradients per sample
(sample ``b``'s event value must depend on row ``b`` of ``y`` only). Refused here (use
``batch_mode="joint"``): non-terminal events, resets, several events, ``compile_step=True``
and methods without an accurate continuous extension; ``t`` must be finite. As in the joint
loop, crossings are seen only where a step's end values differ in sign (two crossings
inside one step are missed).

Gradients: autograd through the masked steps (step-size
control is not differentiated, as in the joint loop), or ``gradient="checkpoint"``:
per-step checkpointing (``torch.utils.checkpoint``), which saves each step's inputs
(``O(n_steps)`` states) and recomputes its stages and ``func`` activations in backward --
no ``sqrt(n)`` state budget as in the joint mode's Checkpoint. The adjoint is not
available here. Masking caveat: a sample whose rejected attempt produced NaN/inf
has a zero output gradient there, but ``0 * NaN`` in ``func``'s backward can still make
shared parameter gradients NaN -- such a sample fails (and raises) anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from ..errors import SamplesFailed
from ..solvers import RungeKutta, rms_norm
from ..solvers.independent import (
    EVENT,
    STATUS_NAMES,
    SUCCESS,
    IndependentResult,
    SampleField,
    integrate_independent,
)
from ..solvers.integrate import AdaptiveConfig
from ._checks import (
    FlatState,
    check_method,
    check_options,
    check_output,
    check_t,
    check_time_resolution,
    coarser_dtype,
    merge_options,
)
from .events import as_events
from .solution import SampleStats, Solution, Stats

__all__ = ["BATCH_MODES", "check_batch_mode", "check_batched_t", "solve_independent"]

BATCH_MODES = ("joint", "independent")
ON_FAILURE = ("raise", "return")


def check_batch_mode(batch_mode: object) -> str:
    """``"joint"`` (one error norm over the batch) or ``"independent"`` (per sample)."""
    if batch_mode not in BATCH_MODES:
        raise ValueError(
            f"batch_mode must be one of {BATCH_MODES}; got batch_mode={batch_mode!r}. Use "
            "'joint' for one step size for the whole batch, 'independent' for one per sample"
        )
    return str(batch_mode)


def check_on_failure(on_failure: object, batch_mode: str, compile_step: object = False) -> str:
    """``on_failure`` is meaningful in independent mode only; ``compile_step`` is a bool
    (or, in joint mode, a ``torch.compile`` mode string)."""
    if not isinstance(compile_step, bool) and not (
        isinstance(compile_step, str) and batch_mode == "joint"
    ):
        raise TypeError(
            f"compile_step must be True or False (or, with batch_mode='joint', a "
            f"torch.compile mode such as 'reduce-overhead'); got {compile_step!r}"
        )
    if on_failure not in ON_FAILURE:
        raise ValueError(f"on_failure must be one of {ON_FAILURE}; got on_failure={on_failure!r}")
    if on_failure == "return" and batch_mode != "independent":
        raise ValueError(
            "on_failure='return' applies to batch_mode='independent' only (a joint solve "
            "has no per-sample result to return); drop it or set batch_mode='independent'"
        )
    return str(on_failure)


def check_batched_t(t: object, y0: Tensor) -> Tensor:
    """Output times as ``(batch, n)`` float64: a shared 1-D ``t`` or one row per sample."""
    if isinstance(t, Tensor) and t.dim() == 2:
        return _check_rows(t, y0)
    times = check_t(t, y0)
    row = torch.tensor(times, dtype=torch.float64, device=y0.device)
    return row.expand(y0.shape[0], -1).contiguous()


def _check_rows(t: Tensor, y0: Tensor) -> Tensor:
    if t.shape[0] != y0.shape[0] or t.shape[1] < 2:
        raise ValueError(
            f"a 2-D t must have shape (batch, n_times) with batch = y0.shape[0] = "
            f"{y0.shape[0]} and n_times >= 2; got shape {tuple(t.shape)}"
        )
    if not torch.is_floating_point(t):
        raise TypeError(f"t must be floating point; got {t.dtype}. Use t.to(torch.float64)")
    if t.device != y0.device:
        raise ValueError(f"t is on {t.device} but y0 is on {y0.device}; use t.to(y0.device)")
    rows = t.detach().to(torch.float64)
    if not bool(torch.isfinite(rows).all()):
        bad = torch.nonzero(~torch.isfinite(rows))[0].tolist()
        raise ValueError(f"t must be finite; got t[{bad[0]}, {bad[1]}]={float(t[bad[0], bad[1]])}")
    diffs = rows.diff(dim=1) * torch.sign(rows[:, 1:2] - rows[:, :1])
    if not bool((diffs > 0).all()):
        b, i = torch.nonzero(diffs <= 0)[0].tolist()
        raise ValueError(
            f"each row of t must be strictly increasing or decreasing; got "
            f"t[{b}, {i + 1}]={float(rows[b, i + 1])} after t[{b}, {i}]={float(rows[b, i])}"
        )
    gap, t_max = float(diffs.min()), float(rows.abs().max())
    check_time_resolution(
        gap, t_max, coarser_dtype(t.dtype, y0.dtype), "the smallest gap between times of a row of t"
    )
    return rows.contiguous()


def _check_supported(
    flat: FlatState, solver: RungeKutta, event_fn: object, gradient: object
) -> None:
    if flat.is_tuple:
        raise TypeError(
            "batch_mode='independent' needs y0 as one tensor (batch, *state); got a tuple. "
            "Concatenate the parts along a state dimension, or use batch_mode='joint'"
        )
    if flat.y0.dim() < 1 or flat.y0.shape[0] == 0:
        raise ValueError(
            f"batch_mode='independent' needs y0 of shape (batch, *state) with batch >= 1; "
            f"got shape {tuple(flat.y0.shape)}"
        )
    if not isinstance(solver, RungeKutta):
        raise ValueError(
            f"batch_mode='independent' runs explicit Runge--Kutta methods only; got "
            f"method={solver.name!r}. Use batch_mode='joint' or a method such as 'dopri5'"
        )
    if not solver.adaptive:
        raise ValueError(
            f"batch_mode='independent' needs an adaptive method; method={solver.name!r} is "
            "fixed-step and already steps every sample on the same grid. Use "
            "batch_mode='joint' (the same result) or an adaptive method such as 'dopri5'"
        )
    name = getattr(gradient, "name", gradient)
    if gradient is not None and name not in ("autograd", "checkpoint"):
        raise ValueError(
            f"batch_mode='independent' supports gradient=None, 'autograd' or 'checkpoint'; "
            f"got gradient={gradient!r}. Use batch_mode='joint' for the adjoint"
        )
    if name == "checkpoint" and getattr(gradient, "budget", None) is not None:
        raise ValueError(
            f"batch_mode='independent' checkpoints every step (no state budget); got "
            f"gradient={gradient!r}. Pass gradient='checkpoint', or batch_mode='joint' "
            "for a budget"
        )


def _sample_event(event_fn: object) -> tuple[Callable[[Tensor, Tensor], Tensor], int] | None:
    """``(fn, direction)`` of the one terminal per-sample event of independent mode."""
    if event_fn is None:
        return None
    events = as_events(event_fn)
    if events is None:
        if not callable(event_fn):
            raise TypeError(f"event_fn must be callable as event_fn(t, y); got {event_fn!r}")
        return event_fn, 0  # type: ignore[return-value]
    if len(events) != 1:
        raise ValueError(
            f"batch_mode='independent' supports one event function; got {len(events)} "
            "events. Combine them into one (e.g. a minimum) or use batch_mode='joint'"
        )
    ev = events[0]
    if not ev.terminal:
        raise ValueError(
            "batch_mode='independent' supports terminal events only (each sample stops at "
            f"its event); got {ev!r} with terminal=False. Use batch_mode='joint' for "
            "non-terminal events and resets"
        )
    return ev.fn, ev.direction


def _wants_checkpoint(gradient: object) -> bool:
    return getattr(gradient, "name", gradient) == "checkpoint"


def _check_config(cfg: AdaptiveConfig) -> None:
    if cfg.step_t or cfg.jump_t:
        raise ValueError(
            "options 'step_t'/'jump_t' are not supported with batch_mode='independent'; "
            "use batch_mode='joint'"
        )
    if cfg.on_step is not None or cfg.on_accept is not None or cfg.on_reject is not None:
        raise ValueError(
            "options 'on_step'/'on_accept'/'on_reject' (step hooks) are not supported with "
            "batch_mode='independent' (every sample steps on its own); use batch_mode='joint'"
        )
    if cfg.norm is not rms_norm:
        raise ValueError(
            "options['norm'] is not supported with batch_mode='independent' (the error norm "
            "is the RMS over each sample's non-batch dimensions)"
        )


def solve_independent(
    func: Callable[[Tensor, Any], Any],
    flat: FlatState,
    t: Tensor,
    *,
    method: str | RungeKutta,
    rtol: float,
    atol: float,
    first_step: float | None,
    max_steps: int | None,
    step_size: float | None = None,
    n_steps: int | None = None,
    options: Mapping[str, object] | None,
    event_fn: object,
    gradient: object,
    on_failure: str = "raise",
    compile_step: bool = False,
) -> Solution:
    """Solve every sample of ``y0`` (leading dimension) with its own adaptive steps.

    Args:
        t: ``(n,)`` output times shared by every sample, or ``(batch, n)`` one row per
            sample (each strictly monotonic; rows may differ in span and direction).
        on_failure: ``"raise"`` (default) raises :class:`~odenet.errors.SamplesFailed`
            naming the failed samples; ``"return"`` returns the Solution with per-sample
            status (outputs of a failed sample past the time it reached are NaN).
        compile_step: run each step attempt under ``torch.compile`` (fixed shapes: the
            batch is masked, never resized, so one compilation serves the whole solve).

    Returns:
        A Solution with ``ys`` of shape ``(n, batch, *state)``, ``ts = t`` and per-sample
        ``sample_stats`` / ``sample_status``.
    """
    solver = check_method(method)
    _check_supported(flat, solver, event_fn, gradient)
    event = _sample_event(event_fn)
    opts = merge_options(
        options,
        solver,
        step_size=step_size,
        n_steps=n_steps,
        first_step=first_step,
        max_num_steps=max_steps,
    )
    cfg = check_options(opts, solver, rtol, atol)
    _check_config(cfg)
    y0 = flat.y0
    t_out = check_batched_t(t, y0)
    fld = SampleField(func, flat.y0.dtype, check=not compile_step)
    k0 = fld(t_out[:, 0], y0)
    check_output(k0, y0)
    if compile_step and _wants_checkpoint(gradient):
        raise ValueError(
            "compile_step=True with gradient='checkpoint' is not supported; choose one"
        )
    res = integrate_independent(
        fld,
        solver,
        y0,
        k0,
        t_out,
        cfg,
        compile_step,
        checkpoint=_wants_checkpoint(gradient),
        event=event,
    )
    sol = _build(res, t)
    failed = ((res.status != SUCCESS) & (res.status != EVENT)).nonzero().squeeze(1).tolist()
    if failed and on_failure == "raise":
        raise SamplesFailed(
            indices=failed,
            statuses=[sol.sample_status[i] for i in failed],  # type: ignore[index]
            t_reached=[float(res.t_reached[i]) for i in failed],
            batch=y0.shape[0],
            solution=sol,
        )
    return sol


def _build(res: IndependentResult, t: Tensor) -> Solution:
    status = tuple(STATUS_NAMES[c] for c in res.status.tolist())
    last = res.last_step[~torch.isnan(res.last_step)]
    stats = Stats(
        nfe=res.calls,
        n_accepted=int(res.n_accepted.sum()),
        n_rejected=int(res.n_rejected.sum()),
        initial_step=float(res.initial_step.min()),
        last_step=float(last.min()) if last.numel() else math.nan,
    )
    sample_stats = SampleStats(
        nfe=res.nfe,
        n_accepted=res.n_accepted,
        n_rejected=res.n_rejected,
        t_reached=res.t_reached,
        initial_step=res.initial_step,
        last_step=res.last_step,
    )
    if not all(s in ("success", "event") for s in status):
        overall = "failed"
    else:
        overall = "event" if "event" in status else "success"
    return Solution(
        ts=t,
        ys=res.ys,
        stats=stats,
        status=overall,
        event_t=res.event_t,
        event_y=res.event_y,
        sample_stats=sample_stats,
        sample_status=status,
    )
