"""Gradients of implicit stage solves by implicit differentiation, not by unrolling Newton.

The stage values ``Z*`` solve ``Z = G(Z, θ) = psi(θ) + (hA ⊗ I) F(Z, θ)`` (``θ``: ``y``, the
earlier stages, the field's parameters). By the implicit function theorem
``dZ*/dθ = (I - ∂G/∂Z)^{-1} ∂G/∂θ`` with ``∂G/∂Z = hA ⊗ J``. The forward pass returns the
value ``Z*`` (from Newton, under ``no_grad``) carrying the graph of one evaluation
``G(Z*, θ)``; a hook on that graph replaces the incoming gradient ``g`` by the solution ``w``
of the transposed system ``(I - ∂G/∂Z)^T w = g`` before it flows into ``∂G/∂θ``.

The transposed system is solved by iterative refinement: exact vector-Jacobian products
``(∂G/∂Z)^T w`` of the field at ``Z*`` for the residual, the Newton iteration's LU
factorisation (adjoint solve) as the preconditioner. When the iteration's Jacobian is too
stale for the refinement to converge, the exact Jacobian at ``Z*`` is evaluated and factored.

Reference: the implicit function theorem as used for deep equilibrium models, S. Bai,
J. Z. Kolter & V. Koltun, "Deep equilibrium models", NeurIPS 2019, §3.3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .jacobian import LUFactor, batched_jacobian
from .newton import from_rows, stage_sum, to_rows

__all__ = ["attach_implicit_gradient"]

#: refinement sweeps before falling back to the exact Jacobian
MAX_REFINEMENTS = 12


def _transpose_stage_sum(h_a: Tensor | float, w: Tensor) -> Tensor:
    """``(hA ⊗ I)^T w`` for ``w`` ``(m, B, *state)``."""
    if not isinstance(h_a, Tensor):
        return w * h_a
    if h_a.dim() == 1:  # per-sample scalar
        return w * h_a.to(w.dtype).reshape(1, -1, *([1] * (w.dim() - 2)))
    if h_a.dim() == 2:
        return stage_sum(h_a.T, w)
    return stage_sum(h_a.transpose(1, 2), w)


def attach_implicit_gradient(
    field: Callable[..., Tensor],
    times: Sequence[object],
    psi: Tensor,
    z_star: Tensor,
    h_a: Tensor | float,
    lu: LUFactor,
    mode: str,
    memo: dict[str, bool] | None = None,
) -> Tensor:
    """``Z*`` with the implicit-function gradient attached (``Z*`` itself when no input
    requires grad or grad mode is off).

    Args:
        field: ``field(t, y)``.
        times: the ``m`` stage times.
        psi: ``(m, B, *state)`` explicit part (with its graph).
        z_star: ``(m, B, *state)`` converged stage values (no graph).
        h_a: as in :meth:`NewtonSolver.solve`.
        lu: the factorisation of ``I - hA ⊗ J`` used by Newton (the preconditioner).
        mode: ``"batch"`` or ``"full"`` (layout of ``lu``'s rows).
        memo: per-solve dict; ``memo["field_grad"]`` records whether the field's output
            depends on a tensor requiring grad (its parameters). Once it is known to be
            ``False``, a stage whose ``psi`` has no graph skips the extra evaluation.
    """
    if not torch.is_grad_enabled():
        return z_star
    if memo is not None and memo.get("field_grad") is False and not psi.requires_grad:
        return z_star
    z_star = z_star.detach()
    f = torch.stack([field(ti, zi) for ti, zi in zip(times, z_star, strict=True)])
    if memo is not None:
        memo["field_grad"] = f.requires_grad
    g_val = psi + stage_sum(h_a, f)
    if not g_val.requires_grad:
        return z_star

    def hook(grad: Tensor | None) -> Tensor | None:
        if grad is None:  # an undefined gradient stays undefined
            return None
        return _solve_transposed(field, times, z_star, h_a, lu, mode, grad)

    g_val.register_hook(hook)
    return z_star + (g_val - g_val.detach())


def _solve_transposed(
    field: Callable[..., Tensor],
    times: Sequence[object],
    z_star: Tensor,
    h_a: Tensor | float,
    lu: LUFactor,
    mode: str,
    grad: Tensor,
) -> Tensor:
    """``w`` with ``w - (hA ⊗ J(Z*))^T w = grad``."""
    with torch.enable_grad():
        z = z_star.detach().requires_grad_(True)
        f = torch.stack([field(ti, zi) for ti, zi in zip(times, z, strict=True)])

    def jt(w: Tensor) -> Tensor:  # (∂G/∂Z)^T w = J^T (hA ⊗ I)^T w, stage by stage
        u = _transpose_stage_sum(h_a, w)
        (v,) = torch.autograd.grad(f, z, u, retain_graph=True)
        return v

    with torch.no_grad():
        grad = grad.detach()
        scale = grad.abs().max().clamp(min=torch.finfo(grad.dtype).tiny)
        tol = 64 * torch.finfo(grad.dtype).eps * scale
    w = from_rows(lu.solve(to_rows(grad, mode), adjoint=True), grad, mode)
    for _ in range(MAX_REFINEMENTS):
        r = grad - (w - jt(w))
        if bool(r.abs().max() <= tol):
            return w
        w = w + from_rows(lu.solve(to_rows(r, mode), adjoint=True), grad, mode)
    if not isinstance(lu, LUFactor):  # matrix-free: no exact factorisation to fall back on
        return w
    # the Newton Jacobian is too far from J(Z*): factor the exact one, then refine again
    exact = _exact_lu(field, times, z_star, h_a, mode)
    w = from_rows(exact.solve(to_rows(grad, mode), adjoint=True), grad, mode)
    for _ in range(MAX_REFINEMENTS):
        r = grad - (w - jt(w))
        if bool(r.abs().max() <= tol):
            break
        w = w + from_rows(exact.solve(to_rows(r, mode), adjoint=True), grad, mode)
    return w


def _exact_lu(
    field: Callable[..., Tensor],
    times: Sequence[object],
    z_star: Tensor,
    h_a: Tensor | float,
    mode: str,
) -> LUFactor:
    """Factor ``I - (hA ⊗ I) diag(J(t_j, Z*_j))`` with each stage's own Jacobian."""
    jacs = [
        batched_jacobian(field, ti, zi, mode=mode)  # type: ignore[arg-type]
        for ti, zi in zip(times, z_star, strict=True)
    ]
    m = len(jacs)
    r, n, _ = jacs[0].shape
    dtype, dev = jacs[0].dtype, jacs[0].device
    if not isinstance(h_a, Tensor):
        ha = torch.full((r, 1, 1), h_a, dtype=dtype, device=dev)
    elif h_a.dim() == 1:
        ha = h_a.to(dtype).reshape(r, 1, 1)
    elif h_a.dim() == 2:
        ha = h_a.to(dtype).expand(r, m, m)
    else:
        ha = h_a.to(dtype)
    blocks = torch.zeros(r, m, n, m, n, dtype=dtype, device=dev)
    for i in range(m):
        for j in range(m):
            blocks[:, i, :, j, :] = ha[:, i, j, None, None] * jacs[j]
    mat = torch.eye(m * n, dtype=dtype, device=dev) - blocks.reshape(r, m * n, m * n)
    return LUFactor(mat)
