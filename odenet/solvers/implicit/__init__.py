"""Machinery of implicit Runge--Kutta methods: batched Jacobians, LU factorisations,
simplified Newton, matrix-free Newton--Krylov, and implicit differentiation of the stages.

Usage (the methods themselves live next to the explicit ones, one file each)::

    sol = odenet.solve(f, y0, t, method="kvaerno5", rtol=1e-6, atol=1e-9)  # adaptive ESDIRK
    ys = odenet.odeint(f, y0, t, method="radauIIA5", options={"step_size": 0.1})
    m = odenet.Kvaerno5(jacobian="batch", linear_solver="krylov")  # options as an object
    m.last_stats  # Jacobians, LU factorisations, Newton iterations, failures, matvecs

Modules:
    jacobian: ``∂f/∂y`` per sample ``(B, n, n)`` or whole ``(1, N, N)`` (``torch.func``,
        finite-difference fallback), Newton matrices ``I - hA ⊗ J``, :class:`LUFactor`.
    newton: :class:`NewtonSolver` (one per solve): Jacobian/LU reuse, rate-based
        convergence test (Hairer & Wanner IV.8), per-sample success flags.
    krylov: GMRES on Jacobian-vector products for large states.
    gradient: implicit-function-theorem gradients of the stage solves.
    implicit_rk: :class:`ImplicitRungeKutta`, the step every implicit method shares.
"""

from __future__ import annotations

from .implicit_rk import ImplicitBatchedStep, ImplicitRungeKutta
from .jacobian import LUFactor, batched_jacobian, block_view, newton_matrix
from .krylov import KrylovOperator, gmres
from .newton import NewtonOptions, NewtonSolver, NewtonStats

__all__ = [
    "ImplicitBatchedStep",
    "ImplicitRungeKutta",
    "KrylovOperator",
    "LUFactor",
    "NewtonOptions",
    "NewtonSolver",
    "NewtonStats",
    "batched_jacobian",
    "block_view",
    "gmres",
    "newton_matrix",
]
