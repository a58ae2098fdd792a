"""The explicit Runge--Kutta step shared by every method, and its dense output.

A method is a small subclass of :class:`RungeKutta` that sets a validated
:class:`~odenet.solvers.tableau.ButcherTableau` and states its order, its reference and,
where it has one, its own continuous-extension polynomial. Everything else (stages, the
embedded error estimate, interpolation) is shared here, written as chains of
``add(..., alpha=...)`` with Python-float coefficients so a step launches few small kernels
and never synchronises with the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from .method import Method
from .tableau import ButcherTableau

__all__ = ["RungeKutta"]

#: ``field(t, y) -> dy/dt`` with ``t`` a Python float (converted to a tensor by the caller).
Field = Callable[[float, Tensor], Tensor]

Coeffs = tuple[tuple[int, float], ...]


def _nonzero(weights: Sequence[float]) -> Coeffs:
    return tuple((j, w) for j, w in enumerate(weights) if w != 0.0)


def combine(y: Tensor, ks: Sequence[Tensor], coeffs: Coeffs, scale: float) -> Tensor:
    """``y + scale * sum_j a_j ks[j]`` over the non-zero ``(j, a_j)`` pairs, as a fresh tensor."""
    if not coeffs:
        return y.clone()
    (j0, a0), *rest = coeffs
    out = torch.add(y, ks[j0], alpha=a0 * scale)
    for j, a in rest:
        out.add_(ks[j], alpha=a * scale)
    return out


#: :func:`_accumulate`'s plan of ``sum_j b_j k_j``: ``(j0, b0, ((j, b_j / b0), ...))``
SumPlan = tuple[int, float, Coeffs]


def _sum_plan(coeffs: Coeffs) -> SumPlan:
    (j0, b0), *rest = coeffs
    return j0, b0, tuple((j, b / b0) for j, b in rest)


def _accumulate(y: Tensor, ks: Sequence[Tensor], plan: SumPlan, scale: float) -> Tensor:
    """``y + (scale * sum_j b_j ks[j])``: the increment is summed first and added to ``y``
    once, so the state is rounded once per step (this matters in float32 over many steps).

    ``plan`` is :func:`_sum_plan` of the non-zero ``(j, b_j)``: the ratios ``b_j / b_0``
    are made once per method, not per step.
    """
    j0, b0, rest = plan
    if not rest:
        return torch.add(y, ks[j0], alpha=b0 * scale)
    # sum_j (b_j / b_0) k_j, then scaled by b_0 * scale in the add to y: one operation
    # fewer than scaling the first term separately
    (j1, r1), *more = rest
    incr = torch.add(ks[j0], ks[j1], alpha=r1)
    for j, r in more:
        incr.add_(ks[j], alpha=r)
    return torch.add(y, incr, alpha=b0 * scale)


def _weighted_sum(ks: Sequence[Tensor], coeffs: Coeffs, scale: float) -> Tensor:
    (j0, a0), *rest = coeffs
    out = torch.mul(ks[j0], a0 * scale)
    for j, a in rest:
        out.add_(ks[j], alpha=a * scale)
    return out


class RungeKutta(Method):
    """An explicit Runge--Kutta method defined by a Butcher tableau.

    Class attributes set by each method:
        tableau: the validated coefficients.
        order: order of the propagated solution.
        error_order: order of the embedded solution (``None`` for fixed-step methods).
        name: the string shortcut (``method="dopri5"``).
        reference: where the coefficients come from.
        dense_weights: optional continuous extension: ``dense_weights[i][p]`` is the
            coefficient of ``theta**(p+1)`` in ``b_i(theta)``, so that
            ``y(t + theta*h) = y + h * sum_i b_i(theta) k_i``. ``None`` means cubic Hermite
            interpolation from ``y0, y1, f(t0, y0), f(t1, y1)`` (third order).
        interpolant_order: order of the dense output. When it is below ``order - 1`` the
            adaptive loop ends steps on the requested output times instead of
            interpolating, so outputs keep the method's accuracy.

    Capabilities (read before solving): ``adaptive`` (has an error estimate), ``fsal``
    (the last stage is ``f(t1, y1)`` and is reused as the next step's first stage).
    """

    tableau: ClassVar[ButcherTableau]
    order: ClassVar[int]
    error_order: ClassVar[int | None] = None
    name: ClassVar[str]
    reference: ClassVar[str] = ""
    dense_weights: ClassVar[tuple[tuple[float, ...], ...] | None] = None
    interpolant_order: ClassVar[int] = 3

    def __init__(self) -> None:
        tab = self.tableau
        rows = [_nonzero(row) for row in tab.a]
        self._fsal_flag = tab.fsal  # read on every step: a plain attribute, not a property
        # per stage: (c_i, first non-zero (j, a_ij), the other non-zero pairs)
        self._stages = (
            (0.0, (0, 0.0), ()),
            *((tab.c[i], row[0], row[1:]) for i, row in enumerate(rows) if i > 0),
        )
        self._b = _nonzero(tab.b)
        self._b_plan = _sum_plan(self._b)
        # the stages after the first as (c_i, j0, a_i,j0, other pairs), the FSAL last one
        # (whose input is the new state) apart: what :meth:`step` runs
        inner = tuple((c, j0, a0, rest) for c, (j0, a0), rest in self._stages[1:])
        self._inner = inner[:-1] if self._fsal_flag else inner
        self._c_last = tab.c[-1]
        self._e = None if tab.b_error is None else _nonzero(tab.b_error)
        self._dense = (
            None if self.dense_weights is None else tuple(tuple(w) for w in self.dense_weights)
        )

    # -- capabilities -----------------------------------------------------------------
    @property
    def adaptive(self) -> bool:
        """True when the method carries an embedded error estimate."""
        return self.tableau.b_error is not None

    @property
    def fsal(self) -> bool:
        """True when the last stage equals ``f(t + h, y1)`` (First Same As Last)."""
        return self._fsal_flag

    @property
    def stages(self) -> int:
        return self.tableau.stages

    @property
    def error_exponent_order(self) -> int:
        """The order ``q`` in the step-size law ``h_new = h * err**(-1/q)``."""
        lower = self.error_order if self.error_order is not None else self.order
        return min(lower, self.order) + 1

    # -- one step ---------------------------------------------------------------------
    def step(
        self, field: Field, t: float, y: Tensor, dt: float, k0: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """Advance ``y`` (any shape) from ``t`` by ``dt`` (signed).

        Args:
            field: ``field(t, y)`` with a Python-float ``t``.
            k0: ``field(t, y)``, computed by the caller (reused across FSAL steps).

        Returns:
            ``(y1, ks)``: the new state and the list of the ``s`` stage derivatives. For an
            FSAL method ``ks[-1] == field(t + dt, y1)``.
        """
        ks = [k0]
        append = ks.append
        for ci, j0, a0, rest in self._inner:
            yi = torch.add(y, ks[j0], alpha=a0 * dt)
            for j, a in rest:
                yi.add_(ks[j], alpha=a * dt)
            append(field(t + ci * dt, yi))
        y1 = _accumulate(y, ks, self._b_plan, dt)
        if self._fsal_flag:
            append(field(t + self._c_last * dt, y1))
        return y1, ks

    def error_estimate(self, ks: Sequence[Tensor], dt: float) -> Tensor:
        """``dt * sum_i e_i k_i``: the local error estimate of an adaptive method."""
        if self._e is None:
            raise TypeError(f"method {self.name!r} is fixed-step and has no error estimate")
        return _weighted_sum(ks, self._e, dt)

    # -- dense output -----------------------------------------------------------------
    def interpolate(
        self,
        theta: float,
        y0: Tensor,
        y1: Tensor,
        ks: Sequence[Tensor],
        dt: float,
        f1: Tensor | None = None,
    ) -> Tensor:
        """State at ``t0 + theta * dt`` for ``theta`` in [0, 1] within one step.

        Uses the method's own continuous extension when it has one, else cubic Hermite
        interpolation; ``f1 = field(t0 + dt, y1)`` is needed for Hermite when the method is
        not FSAL.
        """
        if self._dense is not None:
            coeffs = tuple(
                (i, sum(w * theta ** (p + 1) for p, w in enumerate(row)))
                for i, row in enumerate(self._dense)
            )
            return combine(y0, ks, tuple(cw for cw in coeffs if cw[1] != 0.0), dt)
        if f1 is None:
            if not self.fsal:
                raise ValueError("Hermite interpolation needs f1 = field(t1, y1)")
            f1 = ks[-1]
        return hermite(theta, y0, y1, ks[0], f1, dt)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


def hermite(
    theta: float | Tensor,
    y0: Tensor,
    y1: Tensor,
    f0: Tensor,
    f1: Tensor,
    dt: float | Tensor,
) -> Tensor:
    """Cubic Hermite interpolant on one step (third order; exact for cubics).

    ``p(theta) = y0 + h01 (y1 - y0) + dt (h10 f0 + h11 f1)`` with the Hermite basis
    ``h01 = 3θ² - 2θ³``, ``h10 = θ³ - 2θ² + θ``, ``h11 = θ³ - θ²``.

    ``theta`` and ``dt`` are floats (one step for the whole state, the joint mode), or
    ``(batch,)`` tensors, one step per sample (the independent mode), broadcast over the
    state dimensions of ``y0, y1, f0, f1`` (``(batch, *state)``); the result has
    ``y0``'s dtype either way.
    """
    th2 = theta * theta
    th3 = th2 * theta
    w01 = 3.0 * th2 - 2.0 * th3
    w10 = dt * (th3 - 2.0 * th2 + theta)
    w11 = dt * (th3 - th2)
    if isinstance(theta, Tensor):  # per-sample weights, broadcast over the state
        shape = (-1,) + (1,) * (y0.dim() - 1)
        w01, w10, w11 = (w.reshape(shape).to(y0.dtype) for w in (w01, w10, w11))
        out = torch.addcmul(y0, w01, y1 - y0)
        return out.addcmul_(w10, f0).addcmul_(w11, f1)
    out = torch.add(y0, y1 - y0, alpha=w01)
    out.add_(f0, alpha=w10)
    out.add_(f1, alpha=w11)
    return out
