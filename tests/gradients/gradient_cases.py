"""Shared pieces of the gradient tests: a small time-dependent field and gradient collection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

import odenet


class TimeMLP(nn.Module):
    """``f(t, y) = tanh(y W1^T + b1 + t c) W2^T + b2`` on ``(*batch, dim)``.

    ``unused`` is a parameter the field never touches (autograd gives it no gradient).
    """

    def __init__(
        self, dim: int = 3, hidden: int = 8, seed: int = 0, dtype: torch.dtype = torch.float64
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)

        def draw(*shape: int, std: float) -> nn.Parameter:  # float64 draw: same values per dtype
            return nn.Parameter(
                (std * torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)
            )

        self.w1 = draw(hidden, dim, std=0.6)
        self.b1 = draw(hidden, std=0.3)
        self.c = draw(hidden, std=0.5)
        self.w2 = draw(dim, hidden, std=0.6)
        self.b2 = draw(dim, std=0.1)
        self.unused = nn.Parameter(torch.ones(2, dtype=dtype))

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return torch.tanh(y @ self.w1.T + self.b1 + t * self.c) @ self.w2.T + self.b2


def initial_state(
    batch: int = 4, dim: int = 3, seed: int = 1, dtype: torch.dtype = torch.float64
) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, dim, generator=g, dtype=dtype)


def weighted_loss(ys: Tensor) -> Tensor:
    """A loss that weights every output time and entry differently."""
    w = torch.linspace(0.5, 1.5, ys.numel(), dtype=ys.dtype).reshape(ys.shape)
    return (w * ys).sum() + 0.1 * (ys**2).sum()


def collect(
    func: nn.Module,
    y0: Tensor,
    t: Tensor,
    solve: Callable[..., Any] = odenet.odeint,
    loss: Callable[[Tensor], Tensor] = weighted_loss,
    **kwargs: Any,
) -> dict[str, Tensor | None]:
    """Outputs and gradients of ``loss(solve(func, y0, t, **kwargs))`` w.r.t. y0, t, params."""
    y0 = y0.detach().clone().requires_grad_(True)
    t = t.detach().clone().requires_grad_(True)
    func.zero_grad(set_to_none=True)
    ys = solve(func, y0, t, **kwargs)
    loss(ys).backward()
    out: dict[str, Tensor | None] = {"ys": ys.detach(), "y0": y0.grad, "t": t.grad}
    for name, p in func.named_parameters():
        out[name] = None if p.grad is None else p.grad.clone()
    return out


def max_difference(a: dict[str, Tensor | None], b: dict[str, Tensor | None]) -> float:
    """Largest entrywise difference; inf when one side is None and the other is not."""
    worst = 0.0
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if x is None or y is None:
            if (x is None) != (y is None):
                return float("inf")
            continue
        worst = max(worst, float((x - y).abs().max()))
    return worst


def scale(a: dict[str, Tensor | None]) -> float:
    return max(float(v.abs().max()) for v in a.values() if v is not None)
