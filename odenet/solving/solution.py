"""The result of :func:`odenet.solve`: outputs, statistics, status and dense output."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..solvers.integrate import StepRecord
from ..solvers.runge_kutta import RungeKutta

__all__ = ["SampleStats", "Solution", "Stats"]

State = Tensor | tuple[Tensor, ...]


@dataclass(frozen=True)
class Stats:
    """Solver statistics.

    Attributes:
        nfe: evaluations of ``func`` in the forward solve (including the initial-step
            estimate and event location, excluding the event function).
        n_accepted: accepted steps.
        n_rejected: rejected steps (adaptive methods; NaN/inf retries included).
        initial_step: magnitude of the first step tried.
        last_step: magnitude of the last accepted step.
        n_jacobians: Jacobians ``∂f/∂y`` formed by an implicit method (0 for explicit ones).
        n_lu: LU factorisations of an implicit method's linear systems.
    """

    nfe: int
    n_accepted: int
    n_rejected: int
    initial_step: float
    last_step: float
    n_jacobians: int = 0
    n_lu: int = 0

    @property
    def n_steps(self) -> int:
        """Accepted plus rejected steps."""
        return self.n_accepted + self.n_rejected


@dataclass(frozen=True)
class SampleStats:
    """Per-sample statistics of ``batch_mode="independent"``; every field is ``(batch,)``.

    Attributes:
        nfe: evaluations of ``func`` charged to each sample (int64): batched calls made
            while the sample was still running, i.e. what solving it alone would cost.
        n_accepted, n_rejected: accepted / rejected steps (int64).
        t_reached: time each sample reached (float64; its end time on success).
        initial_step: magnitude of the first step tried (float64).
        last_step: magnitude of the last accepted step (float64, NaN if none).
    """

    nfe: Tensor
    n_accepted: Tensor
    n_rejected: Tensor
    t_reached: Tensor
    initial_step: Tensor
    last_step: Tensor

    @property
    def n_steps(self) -> Tensor:
        """Accepted plus rejected steps per sample."""
        return self.n_accepted + self.n_rejected


@dataclass
class DenseOutput:
    """Every accepted step's stages, to evaluate the solution anywhere in the span."""

    method: RungeKutta
    steps: list[StepRecord]
    unpack: Callable[[Tensor], State]
    direction: float
    _starts: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self._starts = [s.t0 * self.direction for s in self.steps]

    @property
    def t_start(self) -> float:
        return self.steps[0].t0

    @property
    def t_end(self) -> float:
        last = self.steps[-1]
        return last.t0 + last.dt

    def at(self, tau: float) -> Tensor:
        """Flat state at time ``tau`` (inside the solved span)."""
        i = bisect.bisect_right(self._starts, tau * self.direction) - 1
        s = self.steps[min(max(i, 0), len(self.steps) - 1)]
        theta = (tau - s.t0) / s.dt
        if theta == 1.0:
            return s.y1
        return self.method.interpolate(theta, s.y0, s.y1, s.ks, s.dt, s.f1)


@dataclass
class Solution:
    """Result of a solve.

    Attributes:
        ts: the requested times, shape ``(n,)`` (only those reached when an event stopped
            the solve).
        ys: states at ``ts``: shape ``(n, *y0.shape)``, or a tuple of such tensors.
        stats: :class:`Stats`.
        status: ``"success"`` (reached ``t[-1]``) or ``"event"`` (stopped at ``event_t``).
        event_t: time of the terminal event (0-d tensor), or ``None``. With
            ``batch_mode="independent"`` and ``event_fn``: ``(batch,)`` float64, one event
            time per sample (NaN for samples without an event).
        event_y: state at ``event_t``, or ``None`` (``(batch, *state)`` in independent
            mode, NaN rows for samples without an event).
        sample_stats: per-sample :class:`SampleStats` (``batch_mode="independent"`` only).
        sample_status: per-sample status (``"success"``, ``"max_steps"``, ``"underflow"``,
            ``"nonfinite"`` or ``"event"``; ``batch_mode="independent"`` only). There,
            ``status`` is ``"success"`` when every sample succeeded, ``"event"`` when some
            stopped at their event and none failed, and ``"failed"`` otherwise, and
            ``stats`` sums steps over samples with ``nfe`` the number of batched calls.
        events: with ``event_fn=[Event(...), ...]``, one :class:`~odenet.solving.events.EventRecord`
            ``(t, index, y)`` per event that fired, in time order (``y`` before any reset).
    """

    ts: Tensor
    ys: State
    stats: Stats
    status: str
    event_t: Tensor | None = None
    event_y: State | None = None
    dense: DenseOutput | None = None
    sample_stats: SampleStats | None = None
    sample_status: tuple[str, ...] | None = None
    events: tuple | None = None  # EventRecord per event fired (odenet.solving.events.Event lists)

    def evaluate(self, t: Tensor | float) -> State:
        """Dense output: the solution at any time(s) within the solved span.

        Args:
            t: a float, a 0-d tensor, or a 1-D tensor of times between the first time and
                the last time reached.

        Returns:
            ``(*y0.shape)`` for a scalar ``t``, ``(len(t), *y0.shape)`` for a 1-D ``t``
            (tuples for tuple states). Accuracy is that of the method's interpolant
            (fourth order for dopri5/tsit5/dopri8, third order Hermite otherwise).

        Raises:
            ValueError: when the solve kept no dense output (``dense=False``) or a time
                lies outside the solved span.
        """
        if self.sample_status is not None:
            raise ValueError(
                "batch_mode='independent' keeps no dense output; request the times you need "
                "as t (one row per sample: t of shape (batch, n_times))"
            )
        if self.dense is None or not self.dense.steps:
            raise ValueError(
                "this Solution has no dense output; call solve(..., dense=True) with the "
                "default gradient='autograd' and without compile_loop to keep it (the "
                "adjoint, checkpoint and reversible strategies and compile_loop=True keep "
                "no dense output)"
            )
        scalar = not isinstance(t, Tensor) or t.dim() == 0
        times = [float(t)] if scalar else [float(x) for x in t.reshape(-1).tolist()]
        lo, hi = sorted((self.dense.t_start, self.dense.t_end))
        slack = 1e-12 * max(abs(lo), abs(hi), 1.0)
        for tau in times:
            if not lo - slack <= tau <= hi + slack:
                raise ValueError(
                    f"t={tau} is outside the solved span [{lo}, {hi}]; dense output does "
                    "not extrapolate: solve over a span that contains it"
                )
        flat = [self.dense.at(tau) for tau in times]
        out = flat[0] if scalar else torch.stack(flat)
        return self.dense.unpack(out)
