"""Per-sample terminal events for the eager loop of ``batch_mode="independent"``.

After each step attempt the event function ``g(t, y) -> (batch,)`` is evaluated once on
the whole batch at the new times; a sample whose step was accepted and whose value changed
sign there (in the event's direction) has its event time located on that step's dense
output by :func:`~odenet.solvers.events.locate_events` (Illinois regula falsi, to float64
resolution in ``t``), all samples that crossed in this step at once (each iteration is one
batched call of ``g`` with their rows moved to their trial points). The sample then stops there.

The located state and time carry the implicit function theorem gradient, per sample:

    dt_e/dθ = -(∂g/∂θ + ∇_y g · ∂y/∂θ) / ġ,   ġ = ∂g/∂t + ∇_y g · f(t_e, y_e),
    dy_e/dθ = ∂y/∂θ + f(t_e, y_e) dt_e/dθ

(as :mod:`odenet.solving.event_grad` does for one event). ``ġ`` of every crossed sample comes
from one backward pass of the sum of their values, which assumes that sample ``b``'s
event value depends on row ``b`` of ``y`` (and on ``t[b]``) only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from .batched_step import BatchedStep, expand_to
from .events import locate_events

__all__ = ["SampleEvents"]

Fn = Callable[[Tensor, Tensor], Tensor]


class SampleEvents:
    """Tracks one terminal event per sample in the host-controlled loop.

    Args:
        fn: ``fn(t, y) -> (batch,)`` with ``t`` ``(batch,)`` in the state's dtype.
        direction: ``+1`` (upward crossings only), ``-1`` (downward) or ``0`` (both).
        fld: the vector field (per-sample times), used once per firing for ``ġ``.
        t0: ``(batch,)`` float64 start times; ``y0``: ``(batch, *state)``.
    """

    def __init__(self, fn: Fn, direction: int, fld: Fn, t0: np.ndarray, y0: Tensor) -> None:
        self.fn, self.direction, self.fld = fn, direction, fld
        self.dtype, self.device = y0.dtype, y0.device
        self.batch = y0.shape[0]
        self.g = self.values(t0, y0)
        self.sign = np.sign(self.g)  # last non-zero sign of each sample's event value
        self.t_e = np.full(self.batch, np.nan)
        self.fired: list[tuple[Tensor, Tensor, Tensor]] = []  # (rows, event_t, event_y)

    def _time(self, t: np.ndarray) -> Tensor:
        return torch.from_numpy(np.array(t, dtype=np.float64)).to(self.device, self.dtype)

    def values(self, t: np.ndarray, y: Tensor) -> np.ndarray:
        """``fn`` at ``(t, y)`` as ``(batch,)`` float64 (no graph)."""
        with torch.no_grad():
            out = self.fn(self._time(t), y.detach())
        if not isinstance(out, Tensor) or not torch.is_floating_point(out):
            got = out.dtype if isinstance(out, Tensor) else type(out).__name__
            raise TypeError(
                "event_fn must return a floating-point tensor of shape (batch,) whose sign "
                f"change marks each sample's event; got {got}"
            )
        if out.shape != (self.batch,):
            raise ValueError(
                f"with batch_mode='independent', event_fn(t, y) must return one value per "
                f"sample, shape ({self.batch},); got shape {tuple(out.shape)}. Return e.g. "
                "y[:, 0] - threshold"
            )
        return out.detach().to(torch.float64).cpu().numpy()

    def after_step(
        self,
        accept: np.ndarray,
        t: np.ndarray,
        t_new: np.ndarray,
        dt: np.ndarray,
        y: Tensor,
        y1: Tensor,
        ks: list[Tensor],
        step: BatchedStep,
    ) -> np.ndarray:
        """Check the accepted steps ``t -> t_new`` for crossings; locate and record them.

        Returns the ``(batch,)`` bool mask of samples whose event fired in this step (their
        event times are then in ``self.t_e``).
        """
        g1 = self.values(t_new, y1)
        s1 = np.sign(g1)
        up = (self.sign < 0) & (s1 >= 0)
        down = (self.sign > 0) & (s1 <= 0)
        crossed = up | down if self.direction == 0 else (up if self.direction > 0 else down)
        crossed &= accept & np.isfinite(g1)
        passed = accept & np.isfinite(g1)  # every accepted sample moves on
        g0 = self.g.copy()
        self.g = np.where(passed, g1, self.g)
        self.sign = np.where(passed & (s1 != 0), s1, self.sign)
        rows = np.flatnonzero(crossed)
        if rows.size == 0:
            return crossed
        self.t_e[rows] = self._locate(rows, g0[rows], g1[rows], t, t_new, dt, y, y1, ks, step)
        base_t = t_new.copy()
        base_t[rows] = self.t_e[rows]
        self._record(rows, base_t, y1.detach(), t, dt, y, y1, ks, step)
        return crossed

    def _locate(
        self,
        rows: np.ndarray,
        g0: np.ndarray,
        g1: np.ndarray,
        t_old: np.ndarray,
        t_new: np.ndarray,
        dt: np.ndarray,
        y: Tensor,
        y1: Tensor,
        ks: list[Tensor],
        step: BatchedStep,
    ) -> np.ndarray:
        """Event times of the crossed ``rows`` (one batched ``fn`` call per iteration)."""
        rows_d = torch.from_numpy(rows).to(self.device)
        y_r, y1_r = y[rows_d].detach(), y1[rows_d].detach()
        k_r = [k[rows_d].detach() for k in ks]
        t_r, dt_np = t_old[rows], dt[rows]
        dt_r = torch.from_numpy(dt_np.copy()).to(self.device)
        base = y1.detach().clone()
        times = t_new.copy()

        def g_at(tau: np.ndarray) -> np.ndarray:
            theta = torch.from_numpy((tau - t_r) / dt_np).to(self.device)
            with torch.no_grad():
                base[rows_d] = step.interpolate(theta, y_r, y1_r, k_r, dt_r)
            times[rows] = tau
            return self.values(times, base)[rows]

        eps = np.finfo(np.float64).eps
        tol = 4 * eps * np.maximum(np.maximum(np.abs(t_r), np.abs(t_new[rows])), 1.0)
        return locate_events(g_at, g0, g1, t_r, t_new[rows], tol)

    def _record(
        self,
        rows: np.ndarray,
        times: np.ndarray,
        base_y: Tensor,
        t: np.ndarray,
        dt: np.ndarray,
        y: Tensor,
        y1: Tensor,
        ks: list[Tensor],
        step: BatchedStep,
    ) -> None:
        """The event states of ``rows`` (with the solve's graph) and the implicit function
        theorem corrections of their times and states."""
        dev = self.device
        rows_d = torch.from_numpy(rows).to(dev)
        theta = torch.from_numpy((self.t_e[rows] - t[rows]) / dt[rows]).to(dev)
        dt_r = torch.from_numpy(dt[rows].copy()).to(dev)
        y_e = step.interpolate(theta, y[rows_d], y1[rows_d], [k[rows_d] for k in ks], dt_r)
        t_e = torch.from_numpy(self.t_e[rows].copy()).to(dev)
        if torch.is_grad_enabled():
            t_e, y_e = self._implicit(rows_d, times, base_y, t_e, y_e)
        self.fired.append((rows_d, t_e, y_e))

    def _implicit(
        self, rows: Tensor, times: np.ndarray, base_y: Tensor, t_e: Tensor, y_e: Tensor
    ) -> tuple[Tensor, Tensor]:
        tt = self._time(times)
        full = base_y.index_put((rows,), y_e)
        g = self.fn(tt, full)[rows]
        if not g.requires_grad:
            return t_e, y_e
        with torch.enable_grad():
            t_loc = tt.detach().requires_grad_(True)
            y_loc = full.detach().requires_grad_(True)
            total = self.fn(t_loc, y_loc)[rows].sum()
            g_t, g_y = torch.autograd.grad(total, (t_loc, y_loc), allow_unused=True)
        with torch.no_grad():
            f_e = self.fld(tt, full.detach())[rows]
            g_dot = torch.zeros(rows.shape[0], dtype=self.dtype, device=self.device)
            if g_y is not None:
                g_dot = g_dot + (g_y[rows] * f_e).reshape(rows.shape[0], -1).sum(1)
            if g_t is not None:
                g_dot = g_dot + g_t[rows]
        if bool((g_dot == 0).any()):
            b = int(rows[int(torch.nonzero(g_dot == 0)[0])])
            raise ValueError(
                f"event_fn of sample {b} touches zero without crossing it at "
                f"t={self.t_e[b]:.12g} (d/dt g = 0), so its event time has no derivative; "
                "compute the gradient without the event or use an event function that "
                "crosses zero transversally"
            )
        corr = -(g - g.detach()) / g_dot
        return t_e + corr.to(t_e.dtype), y_e + f_e * expand_to(corr, y_e)

    def results(self, shape: torch.Size) -> tuple[Tensor, Tensor]:
        """``event_t`` ``(batch,)`` float64 and ``event_y`` ``(batch, *state)``, NaN for
        samples without an event."""
        event_t = torch.full((self.batch,), float("nan"), dtype=torch.float64, device=self.device)
        event_y = torch.full(tuple(shape), float("nan"), dtype=self.dtype, device=self.device)
        for rows, t_e, y_e in self.fired:
            event_t = event_t.index_put((rows,), t_e)
            event_y = event_y.index_put((rows,), y_e)
        return event_t, event_y
