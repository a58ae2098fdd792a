"""``ConvResNet``: stem, stages of shape-preserving residual blocks, downsampling, head."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from odenet.models.branch_scale import branch_scale
from odenet.models.parametrisation import parametrised_scale, stack_param_groups
from odenet.models.residual_block import ResidualBlock
from odenet.models.resnet_init import apply_init, survival_probs
from odenet.nn._checks import InputSpec, check_positive_int, checks_input
from odenet.nn.activations import make_activation
from odenet.nn.conv_field import make_norm


def conv_branch(
    channels: int, kernel_size: int, activation: str, norm: str, preactivation: bool
) -> nn.Sequential:
    """Shape-preserving branch of two k x k convolutions.

    Post-activation: ``conv, norm, act, conv, norm``; pre-activation (He et al. 2016,
    identity mappings): ``norm, act, conv, norm, act, conv``. With ``norm="none"`` these are
    ``conv, act, conv`` and ``act, conv, act, conv`` (the ``DepthVaryingConvField`` layout).
    """
    pad = kernel_size // 2

    def conv() -> nn.Conv2d:
        return nn.Conv2d(channels, channels, kernel_size, padding=pad)

    def norm_act() -> list[nn.Module]:
        layers = [make_norm(norm, channels), make_activation(activation)]
        return [m for m in layers if not isinstance(m, nn.Identity)]

    if preactivation:
        layers = [*norm_act(), conv(), *norm_act(), conv()]
    else:
        layers = [conv(), *norm_act(), conv(), make_norm(norm, channels)]
    return nn.Sequential(*(m for m in layers if not isinstance(m, nn.Identity)))


def _as_int_tuple(name: str, value: object) -> tuple[int, ...]:
    if isinstance(value, int):
        value = (value,)
    if not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty list of ints; got {value!r}.")
    return tuple(check_positive_int(name, int(v)) for v in value)


class ConvResNet(nn.Module):
    """Convolutional ResNet.

    - ``stem``: ``Conv2d(in_channels, channels[0], 3, padding=1)`` and an activation;
    - ``stages[i]``: an ``nn.Sequential`` of ``blocks_per_stage[i]`` ``ResidualBlock`` s
      with ``channels[i]`` channels, branch ``conv_branch(...)`` and scale
      ``branch_scale(scale, blocks_per_stage[i])`` (so each stage with ``"1/L"`` is an ODE
      on [0, 1] solved with L Euler steps);
    - ``downsamples[i]`` (between stages i and i+1): ``Conv2d(channels[i], channels[i+1],
      3, stride=2, padding=1)``;
    - ``head``: [activation,] global average pooling, ``Linear(channels[-1], num_classes)``.

    Stochastic depth decays linearly over all blocks of all stages (Huang et al. 2016).
    ``scale=None`` (default) is ``"1/L"``. ``parametrisation="depth_mup"`` (Depth-muP, Yang et
    al. 2023; see ``odenet.models.parametrisation``) sets each stage's scale to
    ``1/sqrt(L_i)`` and :meth:`optimizer_param_groups` gives stage i the lr ``lr / sqrt(L_i)``
    with Adam (``lr`` with SGD) and stem, downsampling and head ``lr``.
    Shapes: ``(B, in_channels, H, W) -> (B, num_classes)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        channels: Sequence[int] = (16, 32),
        blocks_per_stage: Sequence[int] = (2, 2),
        kernel_size: int = 3,
        activation: str = "relu",
        norm: str = "batch",
        scale: str | float | None = None,
        preactivation: bool = False,
        rezero: bool = False,
        stochastic_depth: float = 0.0,
        init: str = "iid",
        smooth_frequencies: int = 2,
        parametrisation: str = "standard",
    ) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("num_classes", num_classes)
        channels = _as_int_tuple("channels", channels)
        blocks = _as_int_tuple("blocks_per_stage", blocks_per_stage)
        if len(channels) != len(blocks):
            raise ValueError(
                f"channels and blocks_per_stage must have equal lengths; got {channels} and "
                f"{blocks}."
            )
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep H, W; got {kernel_size}.")
        scale = parametrised_scale(parametrisation, scale)
        self.parametrisation = parametrisation
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, padding=1), make_activation(activation)
        )
        probs = iter(survival_probs(sum(blocks), stochastic_depth))
        self.stages = nn.ModuleList()
        for c, n in zip(channels, blocks, strict=True):
            stage = [
                ResidualBlock(
                    conv_branch(c, kernel_size, activation, norm, preactivation),
                    scale=branch_scale(scale, n),
                    rezero=rezero,
                    survival_prob=next(probs),
                )
                for _ in range(n)
            ]
            self.stages.append(nn.Sequential(*stage))
        self.downsamples = nn.ModuleList(
            nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in itertools.pairwise(channels)
        )
        head: list[nn.Module] = [make_activation(activation)] if preactivation else []
        self.head = nn.Sequential(
            *head, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[-1], num_classes)
        )
        for i, stage in enumerate(self.stages):
            last = i == len(self.stages) - 1
            apply_init(
                init, [b.branch for b in stage], self.head if last else None, smooth_frequencies
            )

    def optimizer_param_groups(self, lr: float, optimizer: str) -> list[dict]:
        """Parameter groups for ``torch.optim`` (``optimizer``: ``"sgd"`` or ``"adam"``): one
        group at ``lr`` for ``"standard"``; for ``"depth_mup"`` stem, downsampling and head at
        ``lr`` and group ``"stage_i"`` at ``lr`` (SGD) or ``lr / sqrt(L_i)`` (Adam)."""
        stacks = {f"stage_{i}": stage for i, stage in enumerate(self.stages)}
        return stack_param_groups(self, stacks, lr, optimizer, self.parametrisation)

    def input_spec(self) -> InputSpec:
        """The input this model expects (checked at the first call and on errors)."""
        c = self.stem[0].in_channels
        return InputSpec(
            f"ConvResNet(in_channels={c})", "(batch, in_channels, H, W)", c, "in_channels", 1, 4
        )

    @checks_input(0)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downsamples[i - 1](x)
            x = stage(x)
        return self.head(x)
