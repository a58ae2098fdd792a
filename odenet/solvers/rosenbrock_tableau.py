"""Coefficients of a Rosenbrock method, validated, in the form the step uses.

A Rosenbrock method with ``s`` stages is given (Hairer & Wanner II, §IV.7) by
``alpha`` (strictly lower triangular), ``beta = alpha + Gamma`` (lower triangular with
``gamma`` on the diagonal) and the weights ``b`` (and ``b_hat`` of an embedded solution)::

    k_i = h f(t + alpha_i h, y + sum_j alpha_ij k_j) + h J sum_{j<=i} gamma_ij k_j
          + gamma_i h^2 f_t,        alpha_i = sum_j alpha_ij,  gamma_i = sum_{j<=i} gamma_ij
    y1  = y + sum_i b_i k_i

The step solves for ``u = Gamma k`` instead (HW II eq. (7.25)), so that every stage
needs one solve with the same matrix and no product with ``J``::

    (I/(h gamma) - J) u_i = f(t + c_i h, y + sum_j a_ij u_j) + sum_j (C_ij / h) u_j
                            + h d_i f_t
    y1 = y + sum_i m_i u_i,   err = sum_i e_i u_i

with ``a = alpha Gamma^-1``, ``C = diag(1/gamma) - Gamma^-1``, ``m = b Gamma^-1``,
``e = (b - b_hat) Gamma^-1``, ``c_i = alpha_i``, ``d_i = gamma_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

__all__ = ["RosenbrockTableau", "StageMatrices"]

_TOL = 1e-10

Coeffs = tuple[tuple[int, float], ...]


def _nonzero(row: Sequence[float], tol: float = 1e-13) -> Coeffs:
    return tuple((j, float(w)) for j, w in enumerate(row) if abs(w) > tol)


def _lower(rows: Sequence[Sequence[float]], s: int, name: str, diagonal: bool) -> np.ndarray:
    if len(rows) != s:
        raise ValueError(f"RosenbrockTableau.{name} must have {s} rows; got {len(rows)}")
    out = np.zeros((s, s))
    for i, row in enumerate(rows):
        width = i + 1 if diagonal else i
        if len(row) != width:
            raise ValueError(
                f"RosenbrockTableau.{name}[{i}] must have {width} entries; got {len(row)}"
            )
        out[i, :width] = row
    return out


@dataclass(frozen=True)
class StageMatrices:
    """The tableau as coefficient rows acting on the stacked stage increments, for a step
    that forms each stage's sums with one matrix product instead of one addition per term.

    The stack has the rows ``[h^2 gamma f_t, u_0, ..., u_{i-1}]`` (column 0 of every row
    below weights the time-derivative term; the state flattened to ``N``), so that::

        y + sum_j a_ij u_j                          = y + args[i] @ stack       (1, i+1)
        gamma (h d_i f_t + sum_j C_ij u_j) * h      = rhs[i] @ stack            (1, i+1)
        y1 = y + sol @ stack,   err = err @ stack                               (1, s+1)
    """

    args: tuple[Tensor, ...]
    rhs: tuple[Tensor, ...]
    sol: Tensor
    err: Tensor


@dataclass(frozen=True)
class RosenbrockTableau:
    """A Rosenbrock method in transformed form, built from ``alpha, beta, b, b_hat``.

    Checks on construction: ``Gamma = beta - alpha`` has the constant diagonal ``gamma``;
    ``b`` and ``b_hat`` sum to 1 and satisfy the order conditions of order 2 and 3
    (``sum b_i beta_i = 1/2 - gamma``, ``sum b_i alpha_i^2 = 1/3``,
    ``sum b_i beta_ij beta_j = 1/6 - gamma + gamma^2``, with ``beta_i = sum_{j<i} beta_ij``;
    HW II Table 7.1) to 1e-10. Higher orders are checked empirically by the tests.

    Attributes (all Python floats, ``s`` stages):
        gamma: the diagonal of ``Gamma``.
        c: stage times ``alpha_i``; d: time-derivative weights ``gamma_i``.
        a, C: per stage ``i`` the non-zero ``(j, a_ij)`` / ``(j, C_ij)`` pairs, ``j < i``.
        m, e: non-zero ``(i, m_i)`` / ``(i, e_i)`` pairs of the solution and error.
    """

    gamma: float
    c: tuple[float, ...]
    d: tuple[float, ...]
    a: tuple[Coeffs, ...]
    C: tuple[Coeffs, ...]
    m: Coeffs
    e: Coeffs
    _matrices: dict[tuple[torch.dtype, torch.device], StageMatrices] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def from_alpha_beta(
        cls,
        alpha: Sequence[Sequence[float]],
        beta: Sequence[Sequence[float]],
        b: Sequence[float],
        b_hat: Sequence[float],
    ) -> RosenbrockTableau:
        """Build and validate (see the class docstring); raises ValueError on failure."""
        s = len(b)
        al = _lower(alpha, s, "alpha", diagonal=False)
        be = _lower(beta, s, "beta", diagonal=True)
        bw, bh = np.asarray(b, dtype=float), np.asarray(b_hat, dtype=float)
        if bh.shape != (s,):
            raise ValueError(f"RosenbrockTableau.b_hat must have {s} entries; got {bh.shape}")
        gam = be - al
        g = float(gam[0, 0])
        if np.max(np.abs(np.diag(gam) - g)) > _TOL:
            raise ValueError(f"beta - alpha must have a constant diagonal; got {np.diag(gam)}")
        _check_order(al, be, bw, g, "b", 3)
        _check_order(al, be, bh, g, "b_hat", 2)
        ginv = np.linalg.inv(gam)
        a = al @ ginv
        cmat = np.diag(1.0 / np.diag(gam)) - ginv
        return cls(
            gamma=g,
            c=tuple(float(x) for x in al.sum(1)),
            d=tuple(0.0 if abs(x) < 1e-12 else float(x) for x in gam.sum(1)),
            a=tuple(_nonzero(a[i, :i]) for i in range(s)),
            C=tuple(_nonzero(cmat[i, :i]) for i in range(s)),
            m=_nonzero(bw @ ginv),
            e=_nonzero((bw - bh) @ ginv),
        )

    @property
    def stages(self) -> int:
        return len(self.c)

    def matrices(self, dtype: torch.dtype, device: torch.device) -> StageMatrices:
        """The coefficient rows of :class:`StageMatrices` in ``dtype`` on ``device``, made
        once per tableau, dtype and device."""
        key = (dtype, device)
        found = self._matrices.get(key)
        if found is not None:
            return found
        s = self.stages
        table = np.zeros((2 * s + 2, s + 1))  # rows: args (s), rhs (s), sol, err
        for i in range(s):
            for j, a in self.a[i]:
                table[i, j + 1] = a
            table[s + i, 0] = self.d[i]
            for j, c in self.C[i]:
                table[s + i, j + 1] = self.gamma * c
        for j, w in self.m:
            table[2 * s, j + 1] = w
        for j, w in self.e:
            table[2 * s + 1, j + 1] = w
        rows = torch.tensor(table, dtype=dtype, device=device).unsqueeze(1)  # (2s+2, 1, s+1)
        made = StageMatrices(
            args=tuple(rows[i, :, : i + 1] for i in range(s)),
            rhs=tuple(rows[s + i, :, : i + 1] for i in range(s)),
            sol=rows[2 * s],
            err=rows[2 * s + 1],
        )
        self._matrices[key] = made
        return made


def _check_order(
    al: np.ndarray, be: np.ndarray, w: np.ndarray, g: float, name: str, order: int
) -> None:
    beta_strict = np.tril(be, -1)
    bi = beta_strict.sum(1)
    ai = al.sum(1)
    conds = [(float(w.sum()), 1.0, "sum b_i = 1"), (float(w @ bi), 0.5 - g, "sum b_i beta_i")]
    if order >= 3:
        conds.append((float(w @ ai**2), 1.0 / 3.0, "sum b_i alpha_i^2"))
        conds.append((float(w @ beta_strict @ bi), 1 / 6 - g + g * g, "sum b_i beta_ij beta_j"))
    for got, want, what in conds:
        if abs(got - want) > _TOL:
            raise ValueError(
                f"RosenbrockTableau weights {name} violate the order condition {what}: "
                f"got {got!r}, need {want!r}"
            )
