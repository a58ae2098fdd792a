"""Layers that see depth ``t`` as an extra input channel (Chen et al. 2018, ``ConcatConv2d``).

Reference: R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud, "Neural Ordinary
Differential Equations", NeurIPS 2018.
"""

from __future__ import annotations

import torch
from torch import nn


class ConcatLinear(nn.Module):
    """Linear layer on ``[x, t]``: ``(batch, in_features) -> (batch, out_features)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features + 1, out_features, bias=bias)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(*x.shape[:-1], 1)
        return self.linear(torch.cat([x, tt], dim=-1))


class ConcatConv2d(nn.Module):
    """2-D convolution on ``[x, t]`` with ``t`` broadcast to a constant channel.

    Shapes: ``x: (batch, in_channels, H, W) -> (batch, out_channels, H', W')``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels + 1, out_channels, kernel_size, stride=stride, padding=padding, bias=bias
        )

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        tt = tt.expand(x.shape[0], 1, *x.shape[2:])
        return self.conv(torch.cat([x, tt], dim=1))
