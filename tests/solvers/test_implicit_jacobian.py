"""Batched Jacobians and Newton-matrix LU solves against dense float64 references."""

from __future__ import annotations

import pytest
import torch

from odenet.solvers.implicit import LUFactor, batched_jacobian, block_view, newton_matrix


def _field(w: torch.Tensor):
    def f(t, y):
        flat = y.reshape(y.shape[0], -1)
        out = torch.tanh(flat @ w.T) * float(t) + flat**2
        return out.reshape(y.shape)

    return f


@pytest.mark.parametrize("ad", ["rev", "fwd"])
@pytest.mark.parametrize("state", [(3,), (2, 2)])
def test_batch_blocks_match_autograd(ad: str, state: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(0)
    n = int(torch.tensor(state).prod())
    w = torch.randn(n, n, generator=g, dtype=torch.float64)
    y = torch.randn(5, *state, generator=g, dtype=torch.float64)
    f = _field(w)
    jac = batched_jacobian(f, 0.7, y, mode="batch", ad=ad)
    assert jac.shape == (5, n, n)
    for b in range(5):
        ref = torch.autograd.functional.jacobian(lambda z: f(0.7, z[None])[0], y[b])
        torch.testing.assert_close(jac[b], ref.reshape(n, n), rtol=1e-12, atol=1e-12)


def test_full_mode_is_the_whole_jacobian() -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.randn(3, 2, generator=g, dtype=torch.float64)

    def coupled(t, z):  # samples interact through the mean
        return torch.sin(z) * z.mean(0, keepdim=True) + t

    jac = batched_jacobian(coupled, 0.2, y, mode="full")
    ref = torch.autograd.functional.jacobian(lambda z: coupled(0.2, z), y).reshape(6, 6)
    assert jac.shape == (1, 6, 6)
    torch.testing.assert_close(jac[0], ref, rtol=1e-12, atol=1e-12)


def test_jacobian_has_no_graph_to_parameters() -> None:
    w = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    jac = batched_jacobian(_field(w), 1.0, torch.randn(2, 3, dtype=torch.float64))
    assert not jac.requires_grad


def test_newton_matrix_and_lu_solve() -> None:
    g = torch.Generator().manual_seed(2)
    jac = torch.randn(4, 3, 3, generator=g, dtype=torch.float64)
    h_a = torch.tensor([[0.2, -0.1], [0.3, 0.25]], dtype=torch.float64)
    mat = newton_matrix(jac, h_a)
    assert mat.shape == (4, 6, 6)
    for r in range(4):
        ref = torch.eye(6, dtype=torch.float64) - torch.kron(h_a, jac[r])
        torch.testing.assert_close(mat[r], ref)
    lu = LUFactor(mat)
    rhs = torch.randn(4, 6, generator=g, dtype=torch.float64)
    x = lu.solve(rhs)
    torch.testing.assert_close(torch.einsum("rij,rj->ri", mat, x), rhs)
    xt = lu.solve(rhs, adjoint=True)
    torch.testing.assert_close(torch.einsum("rji,rj->ri", mat, xt), rhs)
    one = LUFactor.newton(jac, 0.1)
    torch.testing.assert_close(
        one.solve(rhs[:, :3]),
        torch.linalg.solve(torch.eye(3, dtype=torch.float64) - 0.1 * jac, rhs[:, :3]),
    )
    assert not bool(lu.singular.any())


def test_block_view_and_bad_mode() -> None:
    x = torch.zeros(2, 5, 3, 4)
    assert block_view(x, "batch", lead=1).shape == (2, 5, 12)
    assert block_view(x, "full", lead=1).shape == (2, 1, 60)
    with pytest.raises(ValueError, match="mode"):
        batched_jacobian(lambda t, y: y, 0.0, torch.zeros(2, 2), mode="blocks")  # type: ignore[arg-type]
