"""Implicit Runge--Kutta methods: the step shared by DIRK, ESDIRK and fully implicit methods.

A method is a small subclass of :class:`ImplicitRungeKutta` with a validated implicit
:class:`~odenet.solvers.tableau.ButcherTableau`. It plugs into the same stepping loops as the
explicit methods (fixed grid, adaptive PI control, dense output, events, per-sample batch
mode) by overriding ``step``:

* diagonally implicit tableaux are solved stage by stage; a stage with ``a_ii = 0`` is
  explicit, the others solve ``Z_i = psi_i + h a_ii f(t_i, Z_i)`` by simplified Newton with
  one LU of ``I - h a_ii J`` shared by all stages with the same ``a_ii``;
* fully implicit tableaux (Radau IIA, Gauss--Legendre) solve all stages as one coupled
  ``s n`` system ``(I - h A ⊗ J)``, batched over samples.

Stage derivatives are recovered from the stage values, ``k_i = (Z_i - psi_i) / (h a_ii)``
(``K = A^{-1} (Z - y) / h`` when fully implicit), not by evaluating ``f`` at the iterate:
the latter would multiply the Newton error by ``h ||J||``, which is large when the problem
is stiff (Hairer & Wanner, *Solving ODEs II*, §IV.8). Gradients flow through the stage
solves by implicit differentiation (:mod:`.gradient`).

The step returns ``ks`` whose first entry is always ``f(t, y)`` (for Hermite dense output);
methods without an explicit first stage put it in front of their ``s`` stage derivatives.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from ...errors import NewtonConvergenceError
from ..runge_kutta import RungeKutta, hermite
from .gradient import attach_implicit_gradient
from .newton import NewtonOptions, NewtonSolver, NewtonStats, stage_sum

__all__ = ["ImplicitBatchedStep", "ImplicitRungeKutta"]

Field = Callable[[Any, Tensor], Tensor]

Step = float | Tensor


def _mul(x: Tensor, h: Step) -> Tensor:
    """``x * h`` with ``h`` a float or per-sample ``(B,)`` (broadcast over ``x``'s tail)."""
    if isinstance(h, Tensor):
        return x * h.to(x.dtype).reshape(h.shape[0], *([1] * (x.dim() - 1)))
    return x * h


def _stage_mul(x: Tensor, h: Step) -> Tensor:
    """``x * h`` for stacked stages ``(m, B, *state)``."""
    if isinstance(h, Tensor):
        return x * h.to(x.dtype).reshape(1, h.shape[0], *([1] * (x.dim() - 2)))
    return x * h


def _weighted(ks: Sequence[Tensor], weights: Sequence[float]) -> Tensor | None:
    out: Tensor | None = None
    for k, w in zip(ks, weights, strict=False):
        if w != 0.0:
            out = k * w if out is None else out.add(k, alpha=w)
    return out


class ImplicitRungeKutta(RungeKutta):
    """A Runge--Kutta method with an implicit tableau, solved by simplified Newton.

    Class attributes (besides :class:`RungeKutta`'s): ``predictor``: optional rows
    ``alpha[i]`` (weights of the earlier stage derivatives, summing to 1) giving the
    initial guess ``k_i ≈ sum_j alpha_ij k_j`` of an implicit stage of a DIRK method.

    Args:
        jacobian: ``"auto"``, ``"batch"`` (per-sample blocks) or ``"full"``; see
            :class:`~odenet.solvers.implicit.newton.NewtonOptions`.
        ad: ``"rev"`` or ``"fwd"`` automatic differentiation for the Jacobian.
        max_iters: Newton iterations per stage solve.
        newton_rtol, newton_atol: tolerances of the Newton stopping test (default: the
            solve's ``rtol``/``atol`` on adaptive solves, ``1e-9``/``1e-11`` on fixed grids).
        linear_solver: ``"direct"`` (Jacobian blocks + LU), ``"krylov"`` (matrix-free
            Newton--Krylov: GMRES on Jacobian-vector products) or ``"auto"`` (Krylov when a
            system has more than ``krylov_above`` components, e.g. conv fields).

    Attributes:
        last_stats: :class:`~odenet.solvers.implicit.newton.NewtonStats` of the latest solve
            (Jacobians, LU factorisations, Newton iterations, stage solves, failures).
    """

    predictor: ClassVar[tuple[tuple[float, ...], ...] | None] = None
    interpolant_order: ClassVar[int] = 3

    def __init__(
        self,
        jacobian: str = "auto",
        ad: str = "rev",
        max_iters: int = 10,
        newton_rtol: float | None = None,
        newton_atol: float | None = None,
        linear_solver: str = "auto",
        krylov_above: int = 1024,
    ) -> None:
        tab = self.tableau
        if not tab.implicit:
            raise TypeError(f"{type(self).__name__}.tableau must be an implicit ButcherTableau")
        self.options = NewtonOptions(
            jacobian=jacobian,  # type: ignore[arg-type]
            ad=ad,  # type: ignore[arg-type]
            max_iters=max_iters,
            rtol=newton_rtol,
            atol=newton_atol,
            linear_solver=linear_solver,  # type: ignore[arg-type]
            krylov_above=krylov_above,
        )
        self._fsal_flag = tab.fsal
        self._dense = None
        self._e = None if tab.b_error is None else tuple(enumerate(tab.b_error))
        self._a = tab.a_matrix()
        self._dirk = tab.diagonally_implicit
        self._offset = 0 if tab.explicit_first_stage else 1
        a = torch.tensor(self._a, dtype=torch.float64)
        self._a_tensor = a
        self._a_inv = None if self._dirk else torch.linalg.inv(a)
        self._solvers: weakref.WeakKeyDictionary[object, NewtonSolver] = weakref.WeakKeyDictionary()
        self.last_stats = NewtonStats()

    # -- per-solve state ----------------------------------------------------------------
    def start_solve(self, field: object, rtol: float | None, atol: float | None) -> None:
        """Called by the adaptive loop before the first step: a fresh Newton state (Jacobian,
        LU cache, counters) for this solve, with the solve's tolerances."""
        self._new_solver(field, rtol, atol)

    def _new_solver(
        self, field: object, rtol: float | None, atol: float | None, per_sample: bool = False
    ) -> NewtonSolver:
        solver = NewtonSolver(self.options, per_sample=per_sample, rtol=rtol, atol=atol)
        # a field that is not weak-referenceable keeps its state for this call only
        with contextlib.suppress(TypeError):
            self._solvers[field] = solver
        self.last_stats = solver.stats
        return solver

    def _solver_for(self, field: object) -> NewtonSolver:
        # the loop wraps the solve's field per step near jumps (_left_limit, _one_sided):
        # key the Newton state (Jacobian, LU, counts) on the field underneath
        field = getattr(field, "base", field)
        try:
            solver = self._solvers.get(field)
        except TypeError:
            solver = None
        return solver if solver is not None else self._new_solver(field, None, None)

    # -- capabilities -------------------------------------------------------------------
    @property
    def stages(self) -> int:
        return self.tableau.stages + self._offset

    # -- one step -----------------------------------------------------------------------
    def step(
        self, field: Field, t: float, y: Tensor, dt: float, k0: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """Advance ``y`` (any shape; ``(B, *state)`` for per-sample Jacobians) by ``dt``.

        Raises:
            NewtonConvergenceError: a stage solve failed even with a fresh Jacobian (the
                adaptive loop retries with a smaller step).
        """
        solver = self._solver_for(field)
        y1, ks, ok = implicit_step(self, solver, field, t, y, dt, k0)
        if not bool(ok.all()):
            raise NewtonConvergenceError(t=t, dt=dt)
        return y1, ks

    def error_estimate(self, ks: Sequence[Tensor], dt: float) -> Tensor:
        """``dt * sum_i e_i k_i`` over the stage derivatives."""
        if self._e is None:
            raise TypeError(f"method {self.name!r} is fixed-step and has no error estimate")
        out = _weighted(ks[self._offset :], [w for _, w in self._e])
        assert out is not None
        return out * dt

    def batched_step(self, rtol: float, atol: float) -> ImplicitBatchedStep:
        """The per-sample step of ``batch_mode="independent"`` (one Newton state per solve)."""
        return ImplicitBatchedStep(self, rtol, atol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.options == other.options  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.options))


def implicit_step(
    method: ImplicitRungeKutta,
    solver: NewtonSolver,
    field: Field,
    t: Step,
    y: Tensor,
    dt: Step,
    k0: Tensor,
) -> tuple[Tensor, list[Tensor], Tensor]:
    """One step of ``method`` from ``(t, y)`` by ``dt``: floats (joint) or ``(B,)`` tensors
    (per sample, ``dt = 0`` leaves a sample unchanged).

    Returns:
        ``(y1, ks, ok)``: ``ks[0] = k0``; ``ok`` the Newton success flags (``(1,)`` or
        ``(B,)``).
    """
    solver.begin_step(field, t, y)
    if method._dirk:
        ks, ok = _dirk_stages(method, solver, field, t, y, dt, k0)
    else:
        ks, ok = _coupled_stages(method, solver, field, t, y, dt, k0)
    solver.end_step()
    incr = _weighted(ks[method._offset :], method.tableau.b)
    assert incr is not None
    y1 = y + _mul(incr, dt)
    return y1, ks, ok


def _retrying_solve(
    solver: NewtonSolver,
    field: Field,
    t: Step,
    y: Tensor,
    args: tuple[Any, ...],
) -> tuple[Tensor, Tensor, Tensor]:
    """``solver.solve(*args)``; on failure with a Jacobian from an earlier step, evaluate
    a fresh one at ``(t, y)`` and try once more."""
    z, f, ok = solver.solve(field, *args)
    if not bool(ok.all()) and not solver.jacobian_is_fresh:
        solver.update_jacobian(field, t, y)
        z2, f2, ok2 = solver.solve(field, *args)
        if solver.per_sample:  # keep the samples that had converged
            keep = ok.reshape(1, -1, *([1] * (z.dim() - 2)))
            z, f, ok = torch.where(keep, z, z2), torch.where(keep, f, f2), ok | ok2
        else:
            z, f, ok = z2, f2, ok2
    if not bool(ok.all()) and solver.fixed_grid:
        # a fixed grid cannot shrink the step: full Newton from the explicit part psi
        times, psi, _, h_a, _ = args
        z, f, ok = solver.solve_full(field, times, psi, psi.detach(), h_a)
        solver.mark_stale()  # the Jacobian is no longer the one at (t, y)
    if not bool(ok.all()):
        solver.mark_stale()
    return z, f, ok


def _safe_div(num: Tensor, h: Step, fallback: Tensor) -> Tensor:
    """``num / h`` per sample, ``fallback`` where ``h == 0`` (masked samples)."""
    if not isinstance(h, Tensor):
        return num / h
    zero = (h == 0).reshape(1, h.shape[0], *([1] * (num.dim() - 2)))
    safe = torch.where(h == 0, torch.ones_like(h), h)
    return torch.where(zero, fallback, _stage_mul(num, 1.0 / safe))


def _dirk_stages(
    method: ImplicitRungeKutta,
    solver: NewtonSolver,
    field: Field,
    t: Step,
    y: Tensor,
    dt: Step,
    k0: Tensor,
) -> tuple[list[Tensor], Tensor]:
    tab = method.tableau
    a = method._a
    pred = method.predictor
    ks: list[Tensor] = [k0] if method._offset else []
    stage_ks: list[Tensor] = []
    ok = torch.ones(y.shape[0] if solver.per_sample else 1, dtype=torch.bool, device=y.device)
    for i in range(tab.stages):
        ti = t + tab.c[i] * dt
        incr = _weighted(stage_ks, a[i][:i])
        psi = y if incr is None else y + _mul(incr, dt)
        gamma = a[i][i]
        if gamma == 0.0:
            k = k0 if (i == 0 and tab.explicit_first_stage) else field(ti, psi)
            stage_ks.append(k)
            continue
        h_a: Step = gamma * dt
        # initial guess: the method's predictor, else the explicit part psi (an explicit
        # extrapolation can land far outside the basin of a stiff stage: ROBER)
        guess = _weighted(stage_ks, pred[i][:i]) if (pred is not None and i > 0) else None
        with torch.no_grad():
            z0 = (psi if guess is None else psi + _mul(guess, h_a)).detach()[None]
        key = ("dirk", gamma, dt if not isinstance(dt, Tensor) else solver.step_count)
        z, f, ok_i = _retrying_solve(solver, field, t, y, ([ti], psi[None], z0, h_a, key))
        ok = ok & ok_i
        lu = solver.lu(h_a, key)
        mode = solver.mode or "full"
        z = attach_implicit_gradient(field, [ti], psi[None], z, h_a, lu, mode, solver.memo)
        k = _safe_div(z - psi[None], h_a, f)[0]
        stage_ks.append(k)
    return ks + stage_ks, ok


def _coupled_stages(
    method: ImplicitRungeKutta,
    solver: NewtonSolver,
    field: Field,
    t: Step,
    y: Tensor,
    dt: Step,
    k0: Tensor,
) -> tuple[list[Tensor], Tensor]:
    tab = method.tableau
    s = tab.stages
    a = method._a_tensor.to(y.device)
    times = [t + c * dt for c in tab.c]
    if isinstance(dt, Tensor):
        h_a: Tensor = dt.to(torch.float64)[:, None, None] * a
        key: object = ("coupled", solver.step_count)
    else:
        h_a = a * dt
        key = ("coupled", dt)
    psi = y.unsqueeze(0).expand(s, *y.shape)
    with torch.no_grad():
        z0 = psi.detach().clone()
    z, f, ok = _retrying_solve(solver, field, t, y, (times, psi, z0, h_a, key))
    lu = solver.lu(h_a, key)
    z = attach_implicit_gradient(field, times, psi, z, h_a, lu, solver.mode or "full", solver.memo)
    a_inv = method._a_inv
    assert a_inv is not None
    stage_k = _safe_div(stage_sum(a_inv.to(y.device), z - psi), dt, f)
    return [k0, *stage_k.unbind(0)], ok


class ImplicitBatchedStep:
    """The per-sample step of an implicit method for ``batch_mode="independent"``: the
    interface of :class:`~odenet.solvers.batched_step.BatchedStep` (``dt`` of shape
    ``(B,)``), Newton convergence measured per sample. A sample whose stage solve failed
    gets an infinite error estimate, so the loop shrinks its step and retries it."""

    def __init__(self, method: ImplicitRungeKutta, rtol: float, atol: float) -> None:
        if method.tableau.b_error is None:
            raise TypeError(f"method {method.name!r} is fixed-step and has no error estimate")
        self.method = method
        self.fsal = method.fsal
        self.solver = NewtonSolver(method.options, per_sample=True, rtol=rtol, atol=atol)
        method.last_stats = self.solver.stats

    @property
    def stages(self) -> int:
        return self.method.stages

    def __call__(
        self, field: Field, t: Tensor, y: Tensor, dt: Tensor, k0: Tensor
    ) -> tuple[Tensor, list[Tensor], Tensor]:
        y1, ks, ok = implicit_step(self.method, self.solver, field, t, y, dt, k0)
        with torch.no_grad():
            incr = _weighted(ks[self.method._offset :], [w for _, w in self.method._e or ()])
            assert incr is not None
            err = _mul(incr.detach(), dt)
            bad = (~ok).reshape(-1, *([1] * (err.dim() - 1)))
            err = torch.where(bad, torch.full_like(err, float("inf")), err)
        return y1, ks, err

    def interpolate(
        self, theta: Tensor, y0: Tensor, y1: Tensor, ks: Sequence[Tensor], dt: Tensor
    ) -> Tensor:
        """Cubic Hermite per sample from ``y0, y1, ks[0] = f(t0, y0), ks[-1] = f(t1, y1)``."""
        return hermite(theta, y0, y1, ks[0], ks[-1], dt)
