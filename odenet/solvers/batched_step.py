"""One explicit Runge--Kutta step with a per-sample step size ``dt`` of shape ``(batch,)``.

:meth:`odenet.solvers.RungeKutta.step` takes one Python-float ``dt`` for the whole state;
``batch_mode="independent"`` needs one per sample. This reuses the method's validated
tableau and continuous extension (``method.tableau``, ``method.dense_weights``) with the
stage sums taken first and scaled by ``dt`` per sample::

    y_i = y + dt * sum_j a_ij k_j,    y1 = y + dt * sum_i b_i k_i,    err = dt * sum_i e_i k_i

Reference: Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.1 (explicit RK), §II.6 (dense
output).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .runge_kutta import RungeKutta, hermite

__all__ = ["BatchedStep", "batched_step_for", "expand_to", "mask_to"]

Coeffs = tuple[tuple[int, float], ...]
#: ``field(t, y)`` with ``t`` of shape ``(batch,)`` (float64) and ``y`` ``(batch, *state)``.
BatchField = Callable[[Tensor, Tensor], Tensor]


def expand_to(v: Tensor, like: Tensor) -> Tensor:
    """``(batch,) -> (batch, 1, ..., 1)`` in ``like``'s dtype, broadcasting against ``like``."""
    out = v.reshape(v.shape[0], *([1] * (like.dim() - 1)))
    return out if out.dtype == like.dtype else out.to(like.dtype)


def mask_to(m: Tensor, like: Tensor) -> Tensor:
    """Boolean ``(batch,) -> (batch, 1, ..., 1)`` broadcasting against ``like``."""
    return m.reshape(m.shape[0], *([1] * (like.dim() - 1)))


def _nonzero(weights: Sequence[float]) -> Coeffs:
    return tuple((j, float(w)) for j, w in enumerate(weights) if w != 0.0)


def _weighted(ks: Sequence[Tensor], coeffs: Coeffs) -> Tensor | None:
    """``sum_j a_j ks[j]`` over the non-zero coefficients (``None`` when there are none)."""
    if not coeffs:
        return None
    (j0, a0), *rest = coeffs
    out = torch.mul(ks[j0], a0)
    for j, a in rest:
        out.add_(ks[j], alpha=a)  # in place on a fresh tensor: safe under autograd
    return out


#: :func:`_chain`'s plan of ``sum_j a_j k_j``: ``(a_0, j0, ((j, a_j / a_0), ...))``
ChainPlan = tuple[float, int, Coeffs]


def _chain_plan(coeffs: Coeffs) -> ChainPlan | None:
    if not coeffs:
        return None
    (j0, a0), *rest = coeffs
    return a0, j0, tuple((j, a / a0) for j, a in rest)


def _chain(ks: Sequence[Tensor], plan: ChainPlan) -> Tensor:
    """``sum_j (a_j / a_0) k_j`` (``ks[j0]`` itself for one term): one operation fewer than
    :func:`_weighted`, the caller applies ``a_0`` as the ``value`` of its ``addcmul``."""
    _, j0, rest = plan
    if not rest:
        return ks[j0]
    (j1, r1), *more = rest
    out = torch.add(ks[j0], ks[j1], alpha=r1)
    for j, r in more:
        out.add_(ks[j], alpha=r)  # in place on a fresh tensor: safe under autograd
    return out


def _step_to(y: Tensor, dtb: Tensor, ks: Sequence[Tensor], plan: ChainPlan | None) -> Tensor:
    """``y + dt * sum_j a_j k_j`` per sample (``y`` itself when the row is empty)."""
    if plan is None:
        return y
    return torch.addcmul(y, dtb, _chain(ks, plan), value=plan[0])


class BatchedStep:
    """The step, error estimate and dense output of an adaptive ``method`` per sample."""

    def __init__(self, method: RungeKutta) -> None:
        tab = method.tableau
        if tab.b_error is None:
            raise TypeError(f"method {method.name!r} is fixed-step and has no error estimate")
        self.c = tab.c
        self.c_col = torch.tensor(tab.c, dtype=torch.float64)[:, None]
        self.rows = tuple(_nonzero(row) for row in tab.a)
        self.b = _nonzero(tab.b)
        self.e = _nonzero(tab.b_error)
        self.fsal = method.fsal
        dense = method.dense_weights
        self.dense = None if dense is None else torch.tensor(dense, dtype=torch.float64)
        self._row_plans = tuple(_chain_plan(row) for row in self.rows)
        self._b_plan = _chain_plan(self.b)

    @property
    def stages(self) -> int:
        return len(self.c)

    def __call__(
        self, field: BatchField, t: Tensor, y: Tensor, dt: Tensor, k0: Tensor
    ) -> tuple[Tensor, list[Tensor], Tensor]:
        """Advance ``y`` ``(batch, *state)`` from ``t`` by ``dt`` (both ``(batch,)``, float64).

        ``dt = 0`` leaves a sample unchanged (its stages are evaluated at ``y``).

        Returns:
            ``(y1, ks, err)``: the new state, the ``s`` stage derivatives (``ks[-1]`` is
            ``f(t + dt, y1)`` for FSAL methods) and the embedded error estimate (no grad).
        """
        dtb = expand_to(dt, y)
        times = torch.addcmul(t[None], self.c_col.to(t.device), dt[None]).unbind(0)  # (batch,) each
        ks = [k0]
        y1 = None
        last = len(self.c) - 1
        for i in range(1, len(self.c)):
            yi = _step_to(y, dtb, ks, self._row_plans[i])
            if i == last and self.fsal:
                y1 = yi
            ks.append(field(times[i], yi))
        if y1 is None:
            y1 = _step_to(y, dtb, ks, self._b_plan)
        with torch.no_grad():
            err = _weighted(ks, self.e).mul_(dtb)  # type: ignore[union-attr]
        return y1, ks, err

    def interpolate(
        self, theta: Tensor, y0: Tensor, y1: Tensor, ks: Sequence[Tensor], dt: Tensor
    ) -> Tensor:
        """State at ``t0 + theta * dt`` per sample (``theta``, ``dt``: ``(m,)`` float64).

        The method's own continuous extension when it has one (``y0 + dt sum_i b_i(theta)
        k_i``), else cubic Hermite from ``y0, y1, ks[0], ks[-1]`` (third order; FSAL
        methods only -- the loop lands other methods on the output times).
        """
        if self.dense is not None:
            dense = self.dense.to(theta.device)
            powers = torch.arange(1, dense.shape[1] + 1, dtype=torch.float64, device=theta.device)
            bw = (theta[:, None] ** powers) @ dense.T * dt[:, None]  # (m, s)
            out = y0
            for i, k in enumerate(ks):
                out = torch.addcmul(out, expand_to(bw[:, i], y0), k)
            return out
        return hermite(theta, y0, y1, ks[0], ks[-1], dt)


def batched_step_for(method: object, rtol: float, atol: float) -> BatchedStep:
    """The per-sample step of ``method`` for the independent batch mode: the method's own
    ``batched_step(rtol, atol)`` when it brings one (implicit and Rosenbrock methods, whose
    stages need Newton or linear solves), else the explicit :class:`BatchedStep`."""
    own_step = getattr(method, "batched_step", None)
    return BatchedStep(method) if own_step is None else own_step(rtol, atol)  # type: ignore[arg-type]
