"""Matrix-free Newton--Krylov: GMRES on ``I - (hA ⊗ J)`` with Jacobian-vector products.

For large states (convolutional fields: ``n`` in the thousands per sample) the Jacobian
blocks ``(B, n, n)`` and their LU factorisations cost ``O(B n²)`` memory and ``O(B n³)``
time. :class:`KrylovOperator` never forms them: it applies ``v -> v - (hA ⊗ I) J v`` with one
``torch.func.jvp`` of the field per stage at the linearisation point ``(t, y)`` (the point
where the direct path would evaluate ``J``), and solves with restarted GMRES. The transposed
operator (for implicit differentiation) uses ``torch.func.vjp``. Fields that ``torch.func``
cannot transform fall back to finite-difference directional derivatives.

It has the interface of :class:`~odenet.solvers.implicit.jacobian.LUFactor`
(``solve(rows, adjoint=False)``), so the Newton iteration does not know which one it uses.

References: Y. Saad & M. H. Schultz, "GMRES: a generalized minimal residual algorithm",
SIAM J. Sci. Stat. Comput. 7(3), 1986; D. A. Knoll & D. E. Keyes, "Jacobian-free
Newton--Krylov methods", J. Comput. Phys. 193, 2004.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .newton_layout import from_rows, stage_sum, to_rows

__all__ = ["KrylovOperator", "gmres"]


def gmres(
    matvec: Callable[[Tensor], Tensor],
    b: Tensor,
    rtol: float = 1e-4,
    restart: int = 30,
    max_restarts: int = 4,
) -> tuple[Tensor, int]:
    """Restarted GMRES for ``A x = b`` with ``A`` given by ``matvec`` (any tensor shape).

    Stops when ``||b - A x|| <= rtol ||b||`` or after ``restart * max_restarts`` products.

    Returns:
        ``(x, n_matvecs)``.
    """
    x = torch.zeros_like(b)
    b_norm = float(torch.linalg.vector_norm(b))
    if b_norm == 0.0:
        return x, 0
    target = rtol * b_norm
    n_mv = 0
    for restart_index in range(max_restarts):
        if restart_index == 0:
            r = b.clone()  # x = 0
        else:
            r = b - matvec(x)
            n_mv += 1
        beta = float(torch.linalg.vector_norm(r))
        if beta <= target:
            break
        basis = [r / beta]
        hess = torch.zeros(restart + 1, restart, dtype=torch.float64)
        coef = torch.zeros(1, dtype=torch.float64)
        res = beta
        for j in range(restart):
            w = matvec(basis[j])
            n_mv += 1
            for i in range(j + 1):  # modified Gram--Schmidt
                hij = float(torch.vdot(w.reshape(-1), basis[i].reshape(-1)))
                hess[i, j] = hij
                w = w - hij * basis[i]
            h_next = float(torch.linalg.vector_norm(w))
            hess[j + 1, j] = h_next
            rhs = torch.zeros(j + 2, dtype=torch.float64)
            rhs[0] = beta
            coef = torch.linalg.lstsq(hess[: j + 2, : j + 1], rhs[:, None]).solution[:, 0]
            res = float(torch.linalg.vector_norm(hess[: j + 2, : j + 1] @ coef - rhs))
            if res <= target or h_next <= 1e-14 * beta:
                break
            basis.append(w / h_next)
        for i, c in enumerate(coef.tolist()):
            x = x + c * basis[i]
        if res <= target:
            break
    return x, n_mv


class KrylovOperator:
    """``I - (hA ⊗ J(t, y))`` applied matrix-free, solved by GMRES.

    Args:
        field: ``field(t, y)``.
        t, y: the linearisation point (``y``: ``(B, *state)``).
        h_a: as in :func:`~odenet.solvers.implicit.newton_layout.stage_sum`.
        stages: ``m``, the number of coupled stages.
        mode: the row layout of the right-hand sides (``"batch"`` or ``"full"``).
        rtol: relative residual of each GMRES solve.
        stats: a :class:`~odenet.solvers.implicit.newton.NewtonStats` whose ``n_matvecs``
            counts the products.
    """

    def __init__(
        self,
        field: Callable[..., Tensor],
        t: object,
        y: Tensor,
        h_a: Tensor | float,
        stages: int,
        mode: str,
        rtol: float = 1e-4,
        stats: object = None,
    ) -> None:
        self.field = field
        self.t = t
        self.y = y.detach()
        self.h_a = h_a
        self.like = torch.empty((stages, *y.shape), dtype=y.dtype, device=y.device)
        self.mode = mode
        self.rtol = rtol
        self.stats = stats
        self.singular = torch.zeros(1, dtype=torch.bool)

    def _jvp(self, v: Tensor) -> Tensor:
        def f(z: Tensor) -> Tensor:
            return self.field(self.t, z)

        try:
            return torch.func.jvp(f, (self.y,), (v,))[1]
        except RuntimeError:  # not transformable: a forward difference
            eps = torch.finfo(v.dtype).eps ** 0.5
            scale = eps * max(float(self.y.abs().max()), 1.0) / max(float(v.abs().max()), 1e-300)
            with torch.no_grad():
                return (f(self.y + scale * v) - f(self.y)) / scale

    def _vjp(self, w: Tensor) -> Tensor:
        with torch.enable_grad():
            z = self.y.detach().requires_grad_(True)
            out = self.field(self.t, z)
            (g,) = torch.autograd.grad(out, z, w, allow_unused=True)
        return torch.zeros_like(w) if g is None else g

    def matvec(self, v: Tensor, adjoint: bool = False) -> Tensor:
        """``(I - hA ⊗ J) v`` (or its transpose) for stacked stages ``v``: ``(m, B, *state)``."""
        with torch.no_grad():
            if adjoint:
                h_t = self.h_a
                if isinstance(h_t, Tensor) and h_t.dim() >= 2:
                    h_t = h_t.transpose(-1, -2)
                u = stage_sum(h_t, v)
                jv = torch.stack([self._vjp(ui) for ui in u])
                return v - jv
            jv = torch.stack([self._jvp(vi) for vi in v])
            return v - stage_sum(self.h_a, jv)

    def solve(self, rhs: Tensor, adjoint: bool = False) -> Tensor:
        """Solve for right-hand sides in the row layout ``(R, m*n)``."""
        b = from_rows(rhs, self.like, self.mode)
        x, n_mv = gmres(lambda v: self.matvec(v, adjoint), b, rtol=self.rtol)
        if self.stats is not None:
            self.stats.n_matvecs += n_mv  # type: ignore[attr-defined]
        return to_rows(x, self.mode)
