"""Fixed-grid Adams methods: coefficients, the start-up and the shared stepping loop.

A ``k``-step Adams--Bashforth formula (explicit, order ``k``) advances with the last ``k``
evaluations of ``f``::

    y_{n+1} = y_n + h * sum_{j<k} beta_{k,j} f_{n-j}

and a ``k``-th order Adams--Moulton formula (implicit) includes the new point::

    y_{n+1} = y_n + h * (gamma_{k,0} f(t_{n+1}, y_{n+1}) + sum_{1<=j<k} gamma_{k,j} f_{n+1-j}).

The coefficients are the integrals over one step of the Lagrange basis polynomials on the
equally spaced past points (Hairer, Norsett & Wanner, *Solving ODEs I*, Sec. III.1); they
are computed here exactly in rational arithmetic.

The procedure is torchdiffeq 0.2.5's ``explicit_adams``/``implicit_adams`` (fixed grid):
the history holds at most ``max_order - 1`` evaluations, all on equally spaced points: where
the grid's step changes (an explicit ``grid``, a shortened last step) it restarts from the
newest evaluation (torchdiffeq keeps the equal-step weights there, which drops a
non-uniform grid to second order); while it holds fewer than three,
the step is Runge--Kutta's 3/8 rule (fourth order); afterwards the order grows by one per
step up to ``max_order - 1`` for the predictor. The implicit variant corrects with the
Adams--Moulton formula one order higher, by functional iteration until two iterates agree
to ``rtol``/``atol`` (max norm, relative to the increments) or ``max_iters`` iterations;
when the iteration does not converge it warns and drops the oldest history entry.
The start-up bounds the global order: a fixed number of steps with local error
``O(h^(q+1))`` contributes ``O(h^(q+1))``, so the explicit method converges with order
``min(max_order - 1, 4)`` (its third-order start-up step) and the implicit one with order
``min(max_order, 5)`` (its fourth-order start-up steps), for ``max_order >= 4``; below 4
both are the fourth-order 3/8 rule.

High-order Adams--Bashforth formulas have small regions of absolute stability: with
``max_order=12`` (the default, as in torchdiffeq) the explicit method needs ``|h lambda|``
of order ``1e-2`` or less on oscillatory problems; ``max_order=5`` is a safer choice.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from typing import ClassVar

import torch
from torch import Tensor

from .field import CountingField
from .integrate import RawSolution, StepRecord, _emit_outputs, _EventTracker, _one_sided
from .method import EventFn, LoopMethod, LoopSettings, step_stats
from .runge_kutta import RungeKutta, hermite
from .tableau import ButcherTableau

__all__ = [
    "MAX_ORDER",
    "AdamsMethod",
    "adams_bashforth_coefficients",
    "adams_moulton_coefficients",
    "global_order",
]

#: highest ``max_order`` accepted (torchdiffeq's bound)
MAX_ORDER = 12
#: history length below which the start-up Runge--Kutta step is used (torchdiffeq's)
_MIN_HISTORY = 3


def _integrate_lagrange(nodes: Sequence[int], j: int) -> Fraction:
    """``int_0^1 prod_{i != j} (s - nodes[i]) / (nodes[j] - nodes[i]) ds``, exactly."""
    poly = [Fraction(1)]  # coefficients, lowest degree first
    denom = Fraction(1)
    for i, node in enumerate(nodes):
        if i == j:
            continue
        poly = [Fraction(0), *poly]  # times s
        for p in range(len(poly) - 1):
            poly[p] -= node * poly[p + 1]  # minus node times the old polynomial
        denom *= nodes[j] - node
    return sum((c / (p + 1) for p, c in enumerate(poly)), Fraction(0)) / denom


@cache
def adams_bashforth_coefficients(k: int) -> tuple[Fraction, ...]:
    """``beta_{k,j}``, ``j = 0..k-1``: weights of ``f_n, f_{n-1}, ...`` (order ``k``)."""
    return tuple(_integrate_lagrange([-i for i in range(k)], j) for j in range(k))


@cache
def adams_moulton_coefficients(k: int) -> tuple[Fraction, ...]:
    """``gamma_{k,j}``, ``j = 0..k-1``: weights of ``f_{n+1}, f_n, ...`` (order ``k``)."""
    return tuple(_integrate_lagrange([1 - i for i in range(k)], j) for j in range(k))


#: Kutta's 3/8 rule (fourth order), the start-up step (torchdiffeq's ``rk4_alt_step_func``)
RK38_TABLEAU = ButcherTableau(
    c=[0.0, 1 / 3, 2 / 3, 1.0],
    a=[[], [1 / 3], [-1 / 3, 1.0], [1.0, -1.0, 1.0]],
    b=[1 / 8, 3 / 8, 3 / 8, 1 / 8],
)


class _ThreeEighths(RungeKutta):
    tableau = RK38_TABLEAU
    order = 4
    name = "rk38"
    reference = "W. Kutta, Z. Math. Phys. 46 (1901)"


_STARTER = _ThreeEighths()


def _weighted(
    history: Sequence[Tensor], weights: Sequence[float], scale: float, skip: int = 0
) -> Tensor:
    """``scale * sum_j weights[j + skip] * history[j]`` over ``len(weights) - skip`` terms."""
    out = torch.mul(history[0], weights[skip] * scale)
    for j in range(1, len(weights) - skip):
        out.add_(history[j], alpha=weights[j + skip] * scale)
    return out


def _check_int(name: str, value: object, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer; got {name}={value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}; got {name}={value}")
    return value


def global_order(max_order: int, implicit: bool) -> int:
    """Convergence order of a whole solve, bounded by the start-up (module docstring)."""
    if max_order <= _MIN_HISTORY:
        return 4  # every step is the 3/8 rule
    return min(max_order, 5) if implicit else min(max_order - 1, 4)


class AdamsMethod(LoopMethod):
    """Shared loop of :class:`~odenet.solvers.ExplicitAdams` and
    :class:`~odenet.solvers.ImplicitAdams` (fixed grid; see the module docstring).

    Args:
        max_order: 1..12; the predictor uses at most ``max_order - 1`` past evaluations
            (below 4 every step is the 3/8 Runge--Kutta rule, with a warning).
        max_iters: corrector iterations per step (implicit variant only), at least 1.
    """

    adaptive = False
    order: ClassVar[int] = 4
    valid_options: ClassVar[frozenset[str] | None] = frozenset(
        {"step_size", "n_steps", "max_num_steps", "grid", "perturb"}
    )
    gradients: ClassVar[frozenset[str]] = frozenset({"autograd", "adjoint"})
    implicit: ClassVar[bool]
    reference: ClassVar[str] = (
        "Hairer, Norsett & Wanner, Solving ODEs I (1993), Sec. III.1; torchdiffeq 0.2.5"
    )

    def __init__(self, max_order: int = MAX_ORDER, max_iters: int = 4) -> None:
        self.max_order = _check_int("max_order", max_order, 1, MAX_ORDER)
        self.max_iters = _check_int("max_iters", max_iters, 1, None)
        self.order = global_order(self.max_order, self.implicit)  # type: ignore[misc]
        if self.max_order < _MIN_HISTORY + 1:
            warnings.warn(
                f"max_order={max_order} is below {_MIN_HISTORY + 1}: every step of "
                f"{self.name!r} is the 3/8 Runge--Kutta rule (torchdiffeq's behaviour)",
                stacklevel=2,
            )
        self._beta = {k: [float(c) for c in adams_bashforth_coefficients(k)] for k in range(1, 12)}
        self._gamma = {k: [float(c) for c in adams_moulton_coefficients(k)] for k in range(1, 13)}

    # -- one step ---------------------------------------------------------------------
    def _advance(
        self,
        fld: CountingField,
        t: float,
        y: Tensor,
        dt: float,
        history: deque[Tensor],
        rtol: float,
        atol: float,
    ) -> Tensor:
        """``y(t + dt)`` from the history ``f_n, f_{n-1}, ...`` (newest first)."""
        k = min(len(history), self.max_order - 1)
        if k < _MIN_HISTORY:
            y1, _ = _STARTER.step(fld, t, y, dt, history[0])
            return y1
        dy = _weighted(history, self._beta[k], dt)
        if self.implicit:
            gamma = self._gamma[k + 1]
            known = _weighted(history, gamma, dt, skip=1)
            for _ in range(self.max_iters):
                previous = dy
                f_new = fld(t + dt, y + dy)
                dy = torch.add(known, f_new, alpha=gamma[0] * dt)
                if _converged(previous, dy, rtol, atol):
                    break
            else:
                warnings.warn(
                    f"{self.name}: the corrector's functional iteration did not converge in "
                    f"max_iters={self.max_iters} iterations at t={t:.6g}; the solution may "
                    "be inaccurate. Use a smaller step_size or a larger max_iters",
                    RuntimeWarning,
                    stacklevel=2,
                )
                history.pop()
        return y + dy

    # -- the loop ---------------------------------------------------------------------
    def solve_raw(
        self,
        fld: CountingField,
        y0: Tensor,
        k0: Tensor,
        times: list[float],
        settings: LoopSettings,
        dense: bool = False,
        event_fn: EventFn | None = None,
    ) -> RawSolution:
        """Step along ``settings.grid``; outputs between grid points by cubic Hermite."""
        grid = settings.grid
        if grid is None:
            raise ValueError(f"method {self.name!r} is fixed-step and needs a step grid")
        d = 1.0 if times[-1] > times[0] else -1.0
        raw = RawSolution(ys=[y0], steps=[] if dense else None)
        events = None if event_fn is None else _EventTracker(event_fn, fld, times[0], y0)
        history: deque[Tensor] = deque(maxlen=max(self.max_order - 1, 1))
        idx, t, y, f = 1, grid[0], y0, k0
        last = len(grid) - 1
        # perturb: every step samples func just inside its ends (k0 was taken just after t0)
        perturb = bool(settings.opts.get("perturb", False))
        dt_prev = None
        for n, t_new in enumerate(grid[1:], start=1):
            dt = t_new - t
            if dt_prev is not None and not _same_step(dt, dt_prev):
                history.clear()  # the Adams weights hold for equal steps only: restart
            dt_prev = dt
            history.appendleft(f)
            step_fld = _one_sided(fld, t, t_new) if perturb else fld  # type: ignore[arg-type]
            y1 = self._advance(step_fld, t, y, dt, history, settings.rtol, settings.atol)
            raw.n_accepted += 1
            need_f1 = (
                n < last
                or dense
                or events is not None
                or (idx < len(times) and (times[idx] - t_new) * d < 0.0)
            )
            t_f1 = fld.nudge(t_new, d) if perturb and n < last else t_new  # next step's start
            f1 = fld(t_f1, y1) if need_f1 else None
            if events is not None:
                # the tracker and the output helper take any object with ``interpolate``
                hit = events.check(self, t, dt, y, y1, [f], f1)  # type: ignore[arg-type]
                if hit is not None:
                    raw.event_t, raw.event_y = hit
                    te, ye = hit
                    _emit_outputs(raw, times, idx, self, t, te, d, y, ye, [f], f1, (dt, y1))  # type: ignore[arg-type]
                    break
            idx = _emit_outputs(raw, times, idx, self, t, t_new, d, y, y1, [f], f1)  # type: ignore[arg-type]
            if raw.steps is not None:
                raw.steps.append(StepRecord(t, dt, y, y1, [f], f1))
            t, y, f = t_new, y1, f1  # type: ignore[assignment]
        step_stats(raw, grid)
        return raw

    def interpolate(
        self,
        theta: float,
        y0: Tensor,
        y1: Tensor,
        ks: list[Tensor],
        dt: float,
        f1: Tensor | None = None,
    ) -> Tensor:
        """Cubic Hermite on one step from ``y0, y1, f(t0, y0) = ks[0], f(t1, y1) = f1``."""
        if f1 is None:
            raise ValueError("Hermite interpolation needs f1 = field(t1, y1)")
        return hermite(theta, y0, y1, ks[0], f1, dt)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_order={self.max_order}, max_iters={self.max_iters})"

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and self.max_order == other.max_order  # type: ignore[attr-defined]
            and self.max_iters == other.max_iters  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self), self.max_order, self.max_iters))


def _same_step(dt: float, dt_prev: float) -> bool:
    """Whether two grid steps are equal up to the rounding of the grid's construction
    (the history's Adams weights assume equally spaced points)."""
    return abs(dt - dt_prev) <= 1e-9 * max(abs(dt), abs(dt_prev))


def _converged(previous: Tensor, current: Tensor, rtol: float, atol: float) -> bool:
    """Max-norm test of two corrector increments: ``|d1 - d0| < atol + rtol max(|d0|, |d1|)``."""
    with torch.no_grad():
        tol = torch.maximum(previous.abs(), current.abs()).mul_(rtol).add_(atol)
        return bool(((current - previous).abs() / tol).max() < 1.0)
