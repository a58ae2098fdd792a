"""Augmentation (Dupont, Doucet, Teh, "Augmented Neural ODEs", NeurIPS 2019).

A neural ODE is a homeomorphism of its state space, so it cannot, e.g., pull the inner disk
of two concentric annuli out through the outer one. Appending ``augment_dim`` zero channels
lets the flow move points through the extra dimensions.
"""

from __future__ import annotations

import torch
from torch import nn

from odenet.nn._checks import check_positive_int


class Augment(nn.Module):
    """Append ``augment_dim`` zero channels along ``dim``.

    Shapes: ``(B, C, ...) -> (B, C + augment_dim, ...)`` for ``dim=1`` (``(B, D)`` inputs use
    ``dim=1`` too).
    """

    def __init__(self, augment_dim: int, dim: int = 1) -> None:
        super().__init__()
        self.augment_dim = check_positive_int("augment_dim", augment_dim)
        self.dim = int(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not -x.dim() <= self.dim < x.dim():
            got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"Augment(augment_dim={self.augment_dim}, dim={self.dim}) appends channels "
                f"along dimension {self.dim}, which x of {got} does not have; pass x of "
                f"shape (batch, channels, ...) or build it with dim=-1 for the last dimension."
            )
        shape = list(x.shape)
        shape[self.dim] = self.augment_dim
        return torch.cat([x, x.new_zeros(shape)], dim=self.dim)


class Augmented(nn.Module):
    """Run ``block`` on ``x`` with ``augment_dim`` zero channels appended along ``dim``.

    With ``drop=True`` (default) the extra channels are dropped after the block, so the
    module maps ``(B, C, ...) -> (B, C, ...)``; with ``drop=False`` it returns the full
    augmented state ``(B, C + augment_dim, ...)`` (the readout of Dupont et al. 2019).
    The block (e.g. an ``ODEBlock``) must act on ``C + augment_dim`` channels.
    """

    def __init__(self, block: nn.Module, augment_dim: int, dim: int = 1, drop: bool = True) -> None:
        super().__init__()
        self.augment = Augment(augment_dim, dim)
        self.block = block
        self.drop = bool(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[self.augment.dim]
        out = self.block(self.augment(x))
        if self.drop:
            out = out.narrow(self.augment.dim, 0, channels)
        return out
