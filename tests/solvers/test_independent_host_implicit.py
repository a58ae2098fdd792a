"""Eager ``batch_mode="independent"`` with implicit methods (the host-controlled loop
must take the method's own per-sample step, not the explicit tableau sum)."""

from __future__ import annotations

import pytest
import torch

import odenet


@pytest.mark.parametrize("method", ["kvaerno3", "kvaerno5", "rodas5"])
def test_independent_implicit_matches_exact_decay(method: str) -> None:
    """dy/dt = -k_b y per sample; y(t) = exp(-k_b t) at every requested time."""
    k = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    y0 = torch.ones(3, 2, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    sol = odenet.solve(
        lambda t, y: -k * y, y0, t, method=method, rtol=1e-8, atol=1e-10,
        batch_mode="independent",
    )  # fmt: skip
    exact = torch.exp(-k * t.view(-1, 1, 1)).expand(3, 3, 2)
    torch.testing.assert_close(sol.ys, exact, rtol=1e-6, atol=1e-8)
