"""Shared problems and method lists for the torchdiffeq-compatibility tests.

The oracle is the real torchdiffeq (0.2.5, in the dev extra): the same inputs go to both.
"""

from __future__ import annotations

import torch
from torchdiffeq._impl.odeint import SOLVERS

from odenet.torchdiffeq._options import method_names, resolve_method

#: torchdiffeq's methods that odenet.torchdiffeq also has (grows as methods are added)
SHARED = sorted(set(method_names()) & set(SOLVERS))
ADAPTIVE = [m for m in SHARED if resolve_method(m, {})[0].adaptive]
FIXED = [m for m in SHARED if m not in ADAPTIVE and m != "scipy_solver"]
#: fixed-step Runge--Kutta methods of both libraries (odenet's loop, torchdiffeq's grids)
FIXED_RK = [m for m in FIXED if m in ("euler", "midpoint", "rk4", "heun2", "heun3")]


class Linear(torch.nn.Module):
    """``dy/dt = A y + b sin(t)`` on a batch ``(2, 3)``, with a parameter that is unused."""

    def __init__(self, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        a = 0.5 * torch.randn(3, 3, generator=g, dtype=torch.float64)
        self.A = torch.nn.Parameter((a - a.T - 0.2 * torch.eye(3, dtype=torch.float64)).to(dtype))
        self.b = torch.nn.Parameter(torch.randn(3, generator=g, dtype=torch.float64).to(dtype))
        self.unused = torch.nn.Linear(3, 2).to(dtype)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ self.A.T + self.b * torch.sin(t)


def y0_batch(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, generator=g, dtype=torch.float64).to(dtype)
