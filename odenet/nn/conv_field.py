"""Convolutional vector field of the ODE-Net of Chen et al. 2018 (``ODEfunc``).

``f(t, x) = N3(conv2(t, act(N2(conv1(t, act(N1(x)))))))`` where ``conv_i(t, .)`` are 3x3
convolutions that see ``t`` as an extra channel (``ConcatConv2d``) and ``N_i`` are group
normalisations (or identities with ``norm="none"``). Shape-preserving:
``x: (batch, channels, H, W) -> (batch, channels, H, W)``.

Reference: Chen, Rubanova, Bettencourt, Duvenaud, "Neural Ordinary Differential
Equations", NeurIPS 2018.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from odenet.nn._checks import InputSpec, check_choice, check_positive_int, checks_input
from odenet.nn.activations import make_activation
from odenet.nn.time_conditioning import ConcatConv2d


def make_norm(norm: str, channels: int) -> nn.Module:
    """Normalisation layer by name: ``"group"`` (GroupNorm, gcd(32, C) groups),
    ``"batch"`` (BatchNorm2d) or ``"none"`` (identity)."""
    check_choice("norm", norm, ("group", "batch", "none"))
    if norm == "group":
        return nn.GroupNorm(math.gcd(32, channels), channels)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ConvField(nn.Module):
    """Time-conditioned convolutional vector field (Chen et al. 2018).

    Args:
        channels: number of state channels C; the field maps (B, C, H, W) -> (B, C, H, W).
        hidden: channels of the intermediate feature map (default: ``channels``).
        kernel_size: odd kernel size of both convolutions (padding keeps H, W).
        activation: name of the activation (see ``odenet.nn.activations``).
        norm: ``"group"``, ``"batch"`` or ``"none"``.
        time_conditioning: if False, plain convolutions and ``t`` is ignored.
    """

    def __init__(
        self,
        channels: int,
        hidden: int | None = None,
        kernel_size: int = 3,
        activation: str = "relu",
        norm: str = "group",
        time_conditioning: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        hidden = channels if hidden is None else check_positive_int("hidden", hidden)
        check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep H, W; got {kernel_size}.")
        pad = kernel_size // 2
        self.channels = channels
        self.time_conditioning = bool(time_conditioning)
        if self.time_conditioning:
            self.conv1 = ConcatConv2d(channels, hidden, kernel_size, padding=pad)
            self.conv2 = ConcatConv2d(hidden, channels, kernel_size, padding=pad)
        else:
            self.conv1 = nn.Conv2d(channels, hidden, kernel_size, padding=pad)
            self.conv2 = nn.Conv2d(hidden, channels, kernel_size, padding=pad)
        self.norm1 = make_norm(norm, channels)
        self.norm2 = make_norm(norm, hidden)
        self.norm3 = make_norm(norm, channels)
        self.activation = make_activation(activation)

    def _conv(self, conv: nn.Module, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return conv(t, x) if self.time_conditioning else conv(x)

    def input_spec(self) -> InputSpec:
        """The input this field expects (checked at the first call and on errors)."""
        return InputSpec(
            f"ConvField(channels={self.channels})",
            "(batch, channels, H, W)",
            self.channels,
            "channels",
            axis=1,
            rank=4,
        )

    @checks_input(1)
    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = self._conv(self.conv1, t, self.activation(self.norm1(x)))
        out = self._conv(self.conv2, t, self.activation(self.norm2(out)))
        return self.norm3(out)
