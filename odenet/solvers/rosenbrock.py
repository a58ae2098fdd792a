"""The Rosenbrock (linearly implicit) step shared by Rosenbrock methods such as Rodas5.

One step from ``(t, y)`` with step ``h`` (HW II §IV.7, transformed form; see
:mod:`odenet.solvers.rosenbrock_tableau`)::

    J = ∂f/∂y (t, y),   f_t = ∂f/∂t (t, y),   M = I - h gamma J   (one factorisation per step)
    u_i = h gamma M^-1 [f(t + c_i h, y + sum_j a_ij u_j) + sum_j (C_ij / h) u_j + h d_i f_t]
    y1 = y + sum_i m_i u_i,     err = sum_i e_i u_i

Without a graph, ``J`` (per sample ``(B, n, n)`` blocks or for the whole state
``(1, N, N)``) and ``f_t`` come from one evaluation of ``func`` and one batched backward
pass (:func:`reverse_linearisation`; ``f_t`` by a forward difference in ``t`` when ``t``
does not reach the output differentiably). When the solve carries a graph (``func(t0, y0)``
requires grad) the Jacobian is built keeping its graph (``torch.func.jacrev`` or one
backward pass per row), ``f_t`` by one forward-mode (dual-number) evaluation in ``t``, and
the step backpropagates through the Newton matrix's inverse or LU factorisation, so
gradients are those of the discrete solution (the linearisation included). The stage sums
are one matrix product each with the stacked increments, and blocks of at most
:data:`INVERSE_BLOCK` rows are solved with the explicit inverse of ``M``: for a small
state the cost of a step is its number of tensor operations. A rejected step retried from
the same ``(t, y)`` reuses ``J`` and ``f_t`` and only refactors ``M``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

import torch
import torch.autograd.forward_ad as fwad
from torch import Tensor

from .implicit import batched_jacobian, newton_matrix
from .implicit.jacobian import reverse_jacobian
from .rosenbrock_tableau import RosenbrockTableau
from .runge_kutta import RungeKutta

if TYPE_CHECKING:
    from .rosenbrock_batched import RosenbrockBatchedStep

__all__ = ["Rosenbrock", "resolve_jacobian_mode"]

Field = Callable[[float, Tensor], Tensor]
JacobianOption = Literal["auto", "batch", "full"]
Step = float | Tensor


def resolve_jacobian_mode(option: str, y: Tensor) -> Literal["batch", "full"]:
    """``"auto"``: per-sample blocks for a state ``(B, *state)`` (``y.dim() >= 2``), the
    whole Jacobian for a 1-D state."""
    if option == "auto":
        return "batch" if y.dim() >= 2 else "full"
    return option  # type: ignore[return-value]


def differentiable_jacobian(
    func: Callable[[Tensor, Tensor], Tensor], tt: Tensor, y: Tensor, mode: str
) -> Tensor:
    """The blocks of :func:`~odenet.solvers.implicit.batched_jacobian` (same layout), built
    with a graph to ``y`` and to ``func``'s parameters, for backpropagation through a step."""
    shape = y.shape
    if mode == "full":
        n_all = y.numel()

        def flat(z: Tensor) -> Tensor:
            return func(tt, z.reshape(shape)).reshape(-1)

        return torch.func.jacrev(flat)(y.reshape(-1)).reshape(1, n_all, n_all)
    b, n = shape[0], math.prod(shape[1:])

    def summed(z: Tensor) -> Tensor:
        return func(tt, z).sum(0).reshape(-1)

    return torch.func.jacrev(summed)(y).reshape(n, b, n).transpose(0, 1)


#: largest Jacobian block formed by a loop of backward passes instead of torch.func (measured:
#: the loop wins for ROBER's 3 rows, one vmapped jacrev for HIRES' 8)
SMALL_BLOCK = 4


def small_jacobian(
    func: Callable[[Tensor, Tensor], Tensor], tt: Tensor, y: Tensor, mode: str, graph: bool
) -> Tensor:
    """The blocks of :func:`~odenet.solvers.implicit.batched_jacobian` for blocks of at most
    :data:`SMALL_BLOCK` rows: one evaluation of ``func`` and one backward pass per row
    (cheaper than ``torch.func``'s transforms for the few rows of a small system).

    Args:
        graph: keep the graph to ``y`` and to ``func``'s parameters (``create_graph``).
    """
    shape = y.shape
    with torch.enable_grad():
        z = y if graph and y.requires_grad else y.detach().requires_grad_(True)
        out = func(tt, z)
        rows_out = out.reshape(1, -1) if mode == "full" else out.reshape(shape[0], -1)
        m = rows_out.shape[1]
        rows = []
        for i in range(m):
            (g,) = torch.autograd.grad(
                rows_out[:, i].sum(), z, retain_graph=graph or i < m - 1, create_graph=graph
            )
            rows.append(g.reshape(rows_out.shape[0], m))
    jac = torch.stack(rows, dim=1)  # [r, i, j] = d f_ri / d y_rj
    return jac if graph else jac.detach()


def reverse_linearisation(
    func: Callable[[Tensor, Tensor], Tensor], tt: Tensor, y: Tensor, mode: str
) -> tuple[Tensor, Tensor | None]:
    """Jacobian blocks (no graph) and ``∂f/∂t`` from one evaluation of ``func`` and one
    batched backward pass: :func:`~odenet.solvers.implicit.jacobian.reverse_jacobian` with
    the gradient in ``t``.

    Args:
        tt: ``t`` as a tensor: 0-d, or ``(B,)`` per-sample times in ``"batch"`` mode.
        y: the state ``(B, *state)`` (any shape for ``"full"``).

    Returns:
        ``(jac, ft)``: blocks ``(R, m, m)`` and ``∂f/∂t`` with ``y``'s shape, or ``None``
        when ``t`` does not reach the output through differentiable operations (``func``
        ignores ``t``, reads it as a number, or the rows share one time); the caller then
        differences in ``t``. Raises RuntimeError when ``func`` cannot be differentiated.
    """
    return reverse_jacobian(func, tt, y, mode, time=True)


def finite_difference_jacobian(field: Field, t: float, y: Tensor, k0: Tensor, mode: str) -> Tensor:
    """Jacobian blocks by forward differences, one evaluation of ``field`` per column of a
    block (all samples perturbed at once in ``"batch"`` mode), with Hairer's increments
    ``sqrt(eps * max(1e-5, |y_j|))`` (RODAS). For fields that automatic differentiation
    cannot go through (e.g. the adjoint system, which differentiates ``func`` inside)."""
    with torch.no_grad():
        rows = 1 if mode == "full" else y.shape[0]
        flat = y.reshape(rows, -1)
        m = flat.shape[1]
        f0 = k0.reshape(rows, m)
        eps = torch.finfo(y.dtype).eps
        delta = (flat.abs().clamp(min=1e-5) * eps).sqrt()  # (rows, m)
        cols = []
        for j in range(m):
            z = flat.clone()
            z[:, j] += delta[:, j]
            fj = field(t, z.reshape(y.shape)).reshape(rows, m)
            cols.append((fj - f0) / delta[:, j : j + 1])
        return torch.stack(cols, dim=2)  # [r, i, j]


def time_derivative(
    func: Callable[[Tensor, Tensor], Tensor], tt: Tensor, y: Tensor
) -> Tensor | None:
    """``∂f/∂t`` at ``(tt, y)`` by forward-mode AD (one dual evaluation; differentiable).

    Returns ``None`` when the output carries no tangent: ``func`` ignores ``t`` or a
    wrapper dropped the tangent (e.g. ``t.detach()``); the caller then differences in
    ``t``. Raises whatever ``func`` raises when it does not support forward AD.
    """
    with fwad.dual_level():
        dual = fwad.make_dual(tt, torch.ones_like(tt))
        tangent = fwad.unpack_dual(func(dual, y)).tangent
    return None if tangent is None else tangent.to(y.dtype)


def finite_difference_time(field: Field, t: float, y: Tensor, k0: Tensor, d: float) -> Tensor:
    """``∂f/∂t`` by a one-sided difference in the direction ``d`` of integration (as in
    Hairer's RODAS), for fields whose tangent in ``t`` is unavailable."""
    delta = math.sqrt(torch.finfo(torch.float64).eps) * max(1.0, abs(t)) * d
    return (field(t + delta, y) - k0) / delta


def _scale(x: Tensor, h: Step) -> Tensor:
    """``x * h`` for a float ``h`` or a per-sample ``h`` of shape ``(B,)``."""
    if isinstance(h, Tensor):
        return x * h.to(x.dtype).reshape(h.shape[0], *([1] * (x.dim() - 1)))
    return x * h


def rosenbrock_stages(
    tab: RosenbrockTableau,
    field: Callable[[Step, Tensor], Tensor],
    t: Step,
    y: Tensor,
    h: Step,
    k0: Tensor,
    jac: Tensor,
    ft: Tensor,
) -> tuple[Tensor, Tensor]:
    """The stages of one step in the division-free form (``h = 0`` leaves ``y`` unchanged)::

        (I - h gamma J) u_i = h gamma f_i + gamma sum_j C_ij u_j + h^2 gamma d_i f_t

    The sums over earlier stages are one matrix product each with the stacked increments
    (:class:`~odenet.solvers.rosenbrock_tableau.StageMatrices`): for a small state the cost
    of a step is the number of tensor operations, not their arithmetic.

    Args:
        t, h: Python floats (joint) or ``(B,)`` tensors (per sample; ``jac`` then holds
            per-sample blocks).
        jac: ``(R, m, m)`` Jacobian blocks; ``ft``: ``∂f/∂t`` with ``y``'s shape.

    Returns:
        ``(y1, err)``: the new state and the embedded error estimate (no graph).
    """
    g = tab.gamma
    coef = tab.matrices(y.dtype, y.device)
    per_sample = isinstance(h, Tensor)
    hg = (h * g).to(jac.dtype) if per_sample else h * g
    matrix = newton_matrix(jac, hg.reshape(-1, 1, 1) if per_sample else hg)
    solve = _stage_solver(matrix, y.numel())
    n_all, shape = y.numel(), y.shape
    # a state that already is one row (a single sample) needs no reshapes in the stages
    as_row = shape == (1, n_all)
    rows = [_scale(ft, h * h * g).reshape(1, n_all)]  # the stack: [h^2 g f_t, u_0, u_1, ...]
    y_row = y if as_row else y.reshape(1, n_all)
    stack = rows[0]
    for i in range(tab.stages):
        if i == 0:
            fi = k0
        else:
            stack = torch.cat(rows)
            arg = torch.addmm(y_row, coef.args[i], stack)
            fi = field(t + tab.c[i] * h, arg if as_row else arg.view(shape))
        if per_sample:
            rhs = torch.addmm(_scale(fi, hg).reshape(1, n_all), coef.rhs[i], stack)
        else:
            fi_row = fi if as_row else fi.reshape(1, n_all)
            rhs = torch.addmm(fi_row, coef.rhs[i], stack, beta=hg)
        rows.append(solve(rhs))
    stack = torch.cat(rows)
    y1 = torch.addmm(y_row, coef.sol, stack)
    err = torch.mm(coef.err, stack.detach())  # no graph: nothing in it requires grad
    if not as_row:
        y1, err = y1.view(shape), err.view(shape)
    return y1, err


#: largest Jacobian block whose Newton matrix is inverted explicitly (the stage solves are
#: then one matrix product each, cheaper than ``lu_solve`` for a few rows; larger blocks
#: keep the LU factorisation)
INVERSE_BLOCK = 8


def _stage_solver(matrix: Tensor, n_all: int) -> Callable[[Tensor], Tensor]:
    """``rhs (1, N) -> M^-1 rhs (1, N)`` for the Newton matrices ``M`` ``(R, m, m)`` (one
    per block of rows of the flattened state): an explicit inverse for blocks of at most
    :data:`INVERSE_BLOCK` rows, else an LU factorisation."""
    r, m, _ = matrix.shape
    if m > INVERSE_BLOCK:
        lu, pivots, _ = torch.linalg.lu_factor_ex(matrix)
        return lambda rhs: torch.linalg.lu_solve(lu, pivots, rhs.view(r, m, 1)).view(1, n_all)
    inverse, _ = torch.linalg.inv_ex(matrix)
    if r == 1:
        inverse_t = inverse[0].T
        return lambda rhs: torch.mm(rhs, inverse_t)
    return lambda rhs: torch.bmm(inverse, rhs.view(r, m, 1)).view(1, n_all)


class Rosenbrock(RungeKutta):
    """A Rosenbrock method: linearly implicit, one Jacobian and one LU per step.

    Subclasses set ``rosenbrock_tableau``, ``order``, ``error_order``, ``name`` and
    ``reference``. Capabilities: ``adaptive`` (embedded error estimate), not FSAL, dense
    output by cubic Hermite interpolation (``interpolant_order = 3``), ``implicit = True``.

    Args:
        jacobian: ``"auto"`` (default): per-sample blocks ``(B, n, n)`` for a state of shape
            ``(B, *state)``, the full matrix for a 1-D state; ``"batch"``: per-sample blocks
            (``func`` must treat samples independently, as any per-sample network does);
            ``"full"``: one ``(N, N)`` matrix over the whole state (samples may interact).

    Work counters (Jacobians, LU factorisations) are reported in ``Solution.stats``.
    """

    rosenbrock_tableau: ClassVar[RosenbrockTableau]
    implicit: ClassVar[bool] = True
    interpolant_order: ClassVar[int] = 3

    def __init__(self, jacobian: JacobianOption = "auto") -> None:
        if jacobian not in ("auto", "batch", "full"):
            raise ValueError(
                f"jacobian must be 'auto', 'batch' or 'full'; got jacobian={jacobian!r}"
            )
        self.jacobian = jacobian
        self._fsal_flag = False
        self._dense = None
        tab = self.rosenbrock_tableau
        self._c_nonzero = tuple(ci != 0.0 for ci in tab.c)

    # -- capabilities -----------------------------------------------------------------
    @property
    def adaptive(self) -> bool:
        return True

    @property
    def fsal(self) -> bool:
        return False

    @property
    def stages(self) -> int:
        return self.rosenbrock_tableau.stages

    # -- one step ---------------------------------------------------------------------
    @staticmethod
    def _ad_jacobian(
        func: Callable[[Tensor, Tensor], Tensor], tt: Tensor, y: Tensor, mode: str, graph: bool
    ) -> Tensor:
        """Jacobian blocks by automatic differentiation; ``graph``: keep the graph to ``y``
        and to ``func``'s parameters (the solve is being differentiated)."""
        block = y.numel() if mode == "full" else math.prod(y.shape[1:])
        if block <= SMALL_BLOCK:
            return small_jacobian(func, tt, y, mode, graph)
        if graph:
            return differentiable_jacobian(func, tt, y, mode)
        return batched_jacobian(func, tt, y, mode=mode)

    def linearise(
        self, field: Field, t: float, y: Tensor, k0: Tensor, dt: float
    ) -> tuple[Tensor, Tensor]:
        """``(J blocks, f_t)`` at ``(t, y)``, reused from the field's cache when the loop
        retries a rejected step from the same state."""
        cache = getattr(field, "cache", None)
        if cache is not None and cache[0] == t and cache[1] is y:
            return cache[2], cache[3]
        mode = resolve_jacobian_mode(self.jacobian, y)
        func, to_time = getattr(field, "func", None), getattr(field, "time", None)
        if func is not None and to_time is not None:
            tt = to_time(t)
            d = 1.0 if dt >= 0 else -1.0
            graph = k0.requires_grad
            try:
                if graph:
                    jac, ft = self._ad_jacobian(func, tt, y, mode, graph=True), None
                else:  # J and (when t reaches the output) f_t from one backward pass
                    jac, ft = reverse_linearisation(func, tt, y, mode)
            except RuntimeError:
                # func differentiates inside (e.g. the adjoint system, which also detaches
                # its output, so forward AD in t would silently give 0): differences for both
                jac = finite_difference_jacobian(field, t, y, k0, mode)
                ft = finite_difference_time(field, t, y, k0, d)
            else:
                field.nfe += 1  # type: ignore[attr-defined]
                if graph:
                    try:
                        ft = time_derivative(func, tt, y)
                    except (RuntimeError, NotImplementedError):  # no forward AD in func
                        ft = None
                    field.nfe += 1  # type: ignore[attr-defined]
                if ft is None:
                    ft = finite_difference_time(field, t, y, k0, d)
        else:  # a wrapped field with float time: Jacobian without graph, f_t by differences
            jac = batched_jacobian(field, t, y, mode=mode)
            ft = finite_difference_time(field, t, y, k0, 1.0 if dt >= 0 else -1.0)
        if hasattr(field, "njac"):
            field.njac += 1  # type: ignore[attr-defined]
            field.cache = (t, y, jac, ft)  # type: ignore[attr-defined]
        return jac, ft

    def step(
        self, field: Field, t: float, y: Tensor, dt: float, k0: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """Advance ``y`` from ``t`` by ``dt``; returns ``(y1, [k0, err])`` (``err`` without
        a graph). ``y``: any shape (``(B, *state)`` for per-sample Jacobian blocks)."""
        jac, ft = self.linearise(field, t, y, k0, dt)
        if hasattr(field, "nlu"):
            field.nlu += 1  # type: ignore[attr-defined]
        y1, err = rosenbrock_stages(self.rosenbrock_tableau, field, t, y, dt, k0, jac, ft)
        return y1, [k0, err]

    def batched_step(self, rtol: float, atol: float) -> RosenbrockBatchedStep:
        """The per-sample step of ``batch_mode="independent"`` (tolerances unused: no
        Newton iteration)."""
        from .rosenbrock_batched import RosenbrockBatchedStep

        return RosenbrockBatchedStep(self)

    def error_estimate(self, ks: Sequence[Tensor], dt: float) -> Tensor:
        """The embedded error ``sum_i e_i u_i`` computed by :meth:`step` (a fresh copy)."""
        return ks[-1].clone()

    def __repr__(self) -> str:
        arg = "" if self.jacobian == "auto" else f"jacobian={self.jacobian!r}"
        return f"{type(self).__name__}({arg})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.jacobian == other.jacobian  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.jacobian))
