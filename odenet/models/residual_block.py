"""Residual block ``x + s * f(x)``: one Euler step of size ``s`` of the field ``f``.

Attributes read by the converters (``odenet.convert.resnet_to_ode``):

- ``block.branch``: the residual branch ``f`` (an ``nn.Module`` mapping x to f(x), same shape);
- ``block.scale``: the branch scale ``s`` (a float: 1, 1/L, 1/sqrt(L), ...);
- ``block.rezero``: ``None`` or the learnable ReZero gain ``alpha`` (an ``nn.Parameter``
  of shape ``()``, starting at 0; Bachlechner et al. 2020);
- ``block.survival_prob``: probability that the branch is kept in training (stochastic
  depth, Huang et al. 2016);
- ``block.effective_scale()``: the factor multiplying ``f(x)`` in eval mode,
  ``scale * alpha * survival_prob`` (``alpha = 1`` without ReZero).

Stochastic depth (Huang, Sun, Liu, Sedra, Weinberger, "Deep Networks with Stochastic
Depth", ECCV 2016): in training the branch of each sample is kept with probability
``survival_prob`` (unscaled when kept); in eval mode the block is deterministic and the
branch is multiplied by ``survival_prob``, its expectation.
"""

from __future__ import annotations

import torch
from torch import nn

from odenet.nn._checks import check_probability


class ResidualBlock(nn.Module):
    """``x -> x + s * alpha * m * branch(x)`` with ``m ~ Bernoulli(survival_prob)`` in training.

    Shapes: ``x: (batch, *state) -> (batch, *state)``; the branch must preserve the shape.
    """

    def __init__(
        self,
        branch: nn.Module,
        scale: float = 1.0,
        rezero: bool = False,
        survival_prob: float = 1.0,
    ) -> None:
        super().__init__()
        if not isinstance(scale, (int, float)) or isinstance(scale, bool):
            raise TypeError(f"scale must be a float; got {scale!r}. Pass e.g. scale=1.0.")
        self.branch = branch
        self.scale = float(scale)
        self.rezero = nn.Parameter(torch.zeros(())) if rezero else None
        self.survival_prob = check_probability("survival_prob", survival_prob, open_left=True)

    def effective_scale(self) -> torch.Tensor | float:
        """Factor multiplying ``branch(x)`` in eval mode: ``scale * alpha * survival_prob``."""
        s = self.scale * self.survival_prob
        return s if self.rezero is None else s * self.rezero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fx = self.branch(x)
        if self.training and self.survival_prob < 1.0:
            keep = torch.rand(x.shape[0], *([1] * (x.ndim - 1)), device=x.device)
            mask = (keep < self.survival_prob).to(x.dtype)
            s = self.scale if self.rezero is None else self.scale * self.rezero
            return x + s * mask * fx
        return x + self.effective_scale() * fx

    def extra_repr(self) -> str:
        return (
            f"scale={self.scale:.6g}, rezero={self.rezero is not None}, "
            f"survival_prob={self.survival_prob}"
        )
