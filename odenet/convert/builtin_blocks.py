"""Blocks recognised without registration: odenet's ``ResidualBlock`` and torchvision-shaped
``BasicBlock``/``Bottleneck`` (matched by attribute names; torchvision is never imported).

**odenet ``ResidualBlock``** ``x + s * alpha * p * branch(x)`` (scale ``s``, ReZero gain
``alpha``, survival probability ``p`` in eval mode): the residual is
``s * alpha * p * branch(x)``; ``alpha`` is a parameter and ``s``, ``p`` are interpolated
along depth as scalars, so every scaling (1, 1/L, 1/sqrt(L)), pre-activation, ReZero and
stochastic depth convert.

**Post-activation blocks** (He et al. 2016; torchvision's ``BasicBlock``/``Bottleneck``):
``out = relu(x + g(x))`` with ``g = bn2(conv2(relu(bn1(conv1(x)))))`` (BasicBlock) or
``g = bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))))`` (Bottleneck). This is not of the
form ``x + g(x)``; it is written exactly as ``x + r(x)`` with

    r(x) = relu(x + g(x)) - x,

so with ``L`` blocks on ``[0, 1]`` the converted field is ``f(t, x) = L * (relu(x +
g_t(x)) - x)``. Euler with step ``1/L`` reproduces the network (up to one rounding per
block); other solvers integrate this field, which contains the ``-L x`` damping of the
clipped part of the state, so they are accurate only at steps comparable to ``1/L``.
Blocks with a ``downsample`` change the shape and stay discrete.

Matching by names cannot see the forward. Two guards (``odenet.convert.block_check``): a
matched block with a child module outside ``BASIC_CHILDREN``/``BOTTLENECK_CHILDREN`` (e.g. a
squeeze-excite ``se``) is refused with an error pointing to ``register_block``, and every
matched block is probed once on a small random input (``block(x)`` against
``x + residual(x)``). ``resnet_to_ode(..., check_input=x)`` checks the whole model on real
input.
"""

from __future__ import annotations

import torch
from torch import nn

from odenet.convert.registry import BlockRule, register_block, register_matcher
from odenet.models.residual_block import ResidualBlock


def residual_block_residual(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``s * alpha * p * branch(x)`` for an odenet ``ResidualBlock`` in eval mode."""
    return block.effective_scale() * block.branch(x)


def _rescale_residual_block(block: nn.Module, c: float) -> nn.Module:
    block.scale = float(block.scale) * c
    return block


def basic_block_residual(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``relu(x + bn2(conv2(relu(bn1(conv1(x)))))) - x`` (torchvision ``BasicBlock``)."""
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.bn2(block.conv2(out))
    return block.relu(out + x) - x


def bottleneck_residual(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``relu(x + bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))))) - x`` (``Bottleneck``)."""
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.relu(block.bn2(block.conv2(out)))
    out = block.bn3(block.conv3(out))
    return block.relu(out + x) - x


def _modules(block: nn.Module, names: tuple[str, ...]) -> bool:
    return all(isinstance(getattr(block, n, None), nn.Module) for n in names)


def _has_downsample_slot(block: nn.Module) -> bool:
    return hasattr(block, "downsample") and (
        block.downsample is None or isinstance(block.downsample, nn.Module)
    )


def is_basic_block_like(block: nn.Module) -> bool:
    """conv1, bn1, conv2, bn2, relu, downsample (None or a module), and no conv3."""
    return (
        _modules(block, ("conv1", "bn1", "conv2", "bn2", "relu"))
        and _has_downsample_slot(block)
        and not hasattr(block, "conv3")
    )


def is_bottleneck_like(block: nn.Module) -> bool:
    """conv1, bn1, conv2, bn2, conv3, bn3, relu, downsample (None or a module)."""
    return _modules(
        block, ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "relu")
    ) and _has_downsample_slot(block)


def keeps_shape(block: nn.Module) -> bool:
    """A torchvision-shaped block preserves the shape exactly when it has no downsample."""
    return block.downsample is None


BASIC_CHILDREN = frozenset({"conv1", "bn1", "conv2", "bn2", "relu", "downsample"})
"""Child modules that ``basic_block_residual`` accounts for (torchvision ``BasicBlock``)."""
BOTTLENECK_CHILDREN = BASIC_CHILDREN | {"conv3", "bn3"}
"""Child modules that ``bottleneck_residual`` accounts for (torchvision ``Bottleneck``)."""

POST_ACTIVATION_NOTE = "post-activation: x + (relu(x + g(x)) - x)"

BASIC_BLOCK_RULE = BlockRule(
    name="BasicBlock-like",
    residual_fn=basic_block_residual,
    convertible=keeps_shape,
    note=POST_ACTIVATION_NOTE,
    expected_children=BASIC_CHILDREN,
)
BOTTLENECK_RULE = BlockRule(
    name="Bottleneck-like",
    residual_fn=bottleneck_residual,
    convertible=keeps_shape,
    note=POST_ACTIVATION_NOTE,
    expected_children=BOTTLENECK_CHILDREN,
)

register_block(
    ResidualBlock,
    residual_block_residual,
    scalars=("scale", "survival_prob"),
    rescale=_rescale_residual_block,
    note="x + scale * alpha * survival_prob * branch(x)",
)
register_matcher(is_bottleneck_like, BOTTLENECK_RULE)
register_matcher(is_basic_block_like, BASIC_BLOCK_RULE)
