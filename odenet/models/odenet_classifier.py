"""``ODENet``: the image classifier of Chen et al. 2018.

Downsampling stem, one ODE block with a time-conditioned convolutional field
(``ConvField``), and a head (norm, ReLU, global average pooling, linear).
Reference: Chen, Rubanova, Bettencourt, Duvenaud, "Neural Ordinary Differential
Equations", NeurIPS 2018 (Section 3, "ODE-Net").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from odenet.nn._checks import (
    InputSpec,
    check_nonnegative_int,
    check_positive_int,
    checks_input,
)
from odenet.nn.conv_field import ConvField, make_norm
from odenet.nn.ode_block import ODEBlock


class ODENet(nn.Module):
    """Chen et al. 2018 ODE-Net, sized by arguments.

    - ``stem``: ``Conv2d(in_channels, channels, 3, padding=1)`` then ``downsample`` times
      ``norm, ReLU, Conv2d(channels, channels, 4, stride=2, padding=1)`` (halves H and W);
    - ``ode``: ``ODEBlock(ConvField(channels, norm=norm), t_span, method, ...)``;
    - ``head``: ``norm, ReLU, AdaptiveAvgPool2d(1), Flatten, Linear(channels, num_classes)``.

    Shapes: ``(B, in_channels, H, W) -> (B, num_classes)`` (logits); H and W divisible by
    ``2**downsample``. ``model.ode.nfe`` reports the field evaluations of the last call.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        channels: int = 32,
        downsample: int = 1,
        norm: str = "group",
        t_span: tuple[float, float] = (0.0, 1.0),
        method: Any = "dopri5",
        rtol: float = 1e-3,
        atol: float = 1e-3,
        step_size: float | None = None,
        gradient: Any = None,
    ) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("num_classes", num_classes)
        check_positive_int("channels", channels)
        check_nonnegative_int("downsample", downsample)
        stem: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1)]
        for _ in range(downsample):
            stem += [
                make_norm(norm, channels),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 4, stride=2, padding=1),
            ]
        self.stem = nn.Sequential(*stem)
        self.ode = ODEBlock(
            ConvField(channels, norm=norm),
            t_span=tuple(t_span),
            method=method,
            rtol=rtol,
            atol=atol,
            step_size=step_size,
            gradient=gradient,
        )
        self.head = nn.Sequential(
            make_norm(norm, channels),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, num_classes),
        )

    def input_spec(self) -> InputSpec:
        """The input this model expects (checked at the first call and on errors)."""
        c = self.stem[0].in_channels
        return InputSpec(
            f"ODENet(in_channels={c})", "(batch, in_channels, H, W)", c, "in_channels", 1, 4
        )

    @checks_input(0)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.ode(self.stem(x)))
