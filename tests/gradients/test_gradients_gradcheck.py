"""torch.autograd.gradcheck in float64 for every strategy, w.r.t. y0, a parameter and t."""

from __future__ import annotations

import pytest
import torch

import odenet
from odenet.gradients import Adjoint, Autograd, Checkpoint, Reversible

CASES = [
    ("autograd", {"method": "rk4", "n_steps": 50}),
    ("checkpoint", {"method": "dopri5", "rtol": 1e-9, "atol": 1e-11}),
    ("adjoint", {"method": "dopri5", "rtol": 1e-10, "atol": 1e-12}),
    ("reversible", {"method": "reversible_heun", "n_steps": 400}),
]


def _strategy(name: str, w: torch.Tensor) -> object:
    if name == "autograd":
        return Autograd()
    return {"checkpoint": Checkpoint, "adjoint": Adjoint, "reversible": Reversible}[name](
        params=(w,)
    )


@pytest.mark.parametrize(("name", "settings"), CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name: str, settings: dict) -> None:
    g = torch.Generator().manual_seed(0)
    y0 = torch.randn(2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64, requires_grad=True)

    def solve(y0: torch.Tensor, w: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        def f(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.tanh(y @ w) * (1.0 + 0.5 * torch.sin(s))

        return odenet.odeint(f, y0, t, gradient=_strategy(name, w), **settings)

    assert torch.autograd.gradcheck(solve, (y0, w, t))
