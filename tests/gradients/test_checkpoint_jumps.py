"""Checkpoint replays a step that lands on a ``jump_t`` time on func's left limit there,
as the forward loop ran it, so its gradients equal autograd's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenet


class Switch(nn.Module):
    """``dy/dt = -w y`` before ``t = 0.5`` and ``-3 w y`` after (a jump in the field)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

    def forward(self, t, y):
        return -self.w * y * torch.where(t < 0.5, 1.0, 3.0).to(y.dtype)


@pytest.mark.parametrize("budget", [None, 1])
def test_checkpoint_with_jump_t_matches_autograd(budget):
    y0 = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    grads = []
    for gradient in (None, odenet.Checkpoint(budget=budget)):
        f = Switch()
        ys = odenet.odeint(f, y0, t, gradient=gradient, options={"jump_t": [0.5]}, rtol=1e-6)
        grads.append(torch.autograd.grad(ys[1:].square().sum(), (y0, f.w)))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
