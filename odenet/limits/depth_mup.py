"""Depth-muP: branch multiplier 1/sqrt(L) and depth-scaled learning rates.

Rule (Yang, Yu, Zhu & Hayou 2023, "Tensor Programs VI: Feature Learning in Infinite-Depth
Neural Networks", arXiv:2310.02244, ICLR 2024; Depth-muP for resnets whose blocks have one
layer, x_l = x_{l-1} + (a / sqrt(L)) W_l phi(x_{l-1})):

* block (branch) multiplier: a / sqrt(L);
* learning rate of the hidden (residual-block) weights:
    - SGD:  eta            (depth independent),
    - Adam: eta / sqrt(L);
* input (stem) and output (head) layers: eta, not depth scaled (at fixed width; their width
  scaling is muP's, Yang et al. 2022, Tensor Programs V, which this module leaves alone).

Why (one step, one block): the branch output is multiplied by L^{-1/2} and so is its
gradient. SGD moves W_l by eta L^{-1/2}, so each block's output moves by eta / L and the L
blocks together by O(eta): feature updates are Theta(1) in L. Adam normalises the gradient
away, moving W_l by ~eta whatever its scale; each block then moves by eta L^{-1/2}, the sum by
eta sqrt(L), and the lr must be divided by sqrt(L) to restore Theta(1). The
"standard" parametrisation here is multiplier 1 with one global lr for every parameter.
Bordelon et al. 2023 ("Depthwise hyperparameter transfer in residual networks", ICLR 2024)
reach the same 1/sqrt(L) branch scaling independently.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# The constants and multipliers live below both odenet.limits and odenet.models (which
# applies them), so that neither package imports the other; they are re-exported here.
from odenet._depth_scaling import (
    OPTIMIZERS,
    PARAMETRISATIONS,
    depth_mup_branch_multiplier,
    hidden_lr_multiplier,
)
from odenet._depth_scaling import (
    check_choice as _check_choice,
)

__all__ = [
    "OPTIMIZERS",
    "PARAMETRISATIONS",
    "build_mlp_resnet",
    "check_branch_multiplier",
    "depth_mup_branch_multiplier",
    "hidden_lr_multiplier",
    "make_optimizer",
    "param_groups",
]


def _blocks(model: nn.Module) -> nn.Module:
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.Module) or len(list(blocks.children())) == 0:
        raise TypeError(
            f"model must have a non-empty `blocks` container of residual blocks (as "
            f"odenet.models.MLPResNet has); got {type(model).__name__} without one."
        )
    return blocks


def check_branch_multiplier(model: nn.Module, parametrisation: str) -> None:
    """Raise ValueError unless every block's ``scale`` is 1/sqrt(L) (Depth-muP) or 1
    (standard)."""
    _check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
    blocks = list(_blocks(model).children())
    want = depth_mup_branch_multiplier(len(blocks)) if parametrisation == "depth_mup" else 1.0
    for i, block in enumerate(blocks):
        got = getattr(block, "scale", None)
        if got is None or not math.isclose(float(got), want, rel_tol=1e-9):
            hint = '"1/sqrt(L)"' if parametrisation == "depth_mup" else '"1"'
            raise ValueError(
                f"parametrisation={parametrisation!r} needs every block's scale = {want:.6g} "
                f"(L={len(blocks)}); block {i} has scale={got!r}. Build the model with "
                f"scale={hint}."
            )


def param_groups(
    model: nn.Module,
    lr: float,
    *,
    optimizer: str,
    parametrisation: str = "depth_mup",
) -> list[dict]:
    """Optimiser parameter groups implementing the learning-rate rule above.

    Args:
        model: a residual network with a ``blocks`` container of L residual blocks (each with
            a ``scale`` attribute) and other parameters (stem, head) outside it.
        lr: base learning rate eta.
        optimizer: "sgd" or "adam" (AdamW follows the Adam rule).
        parametrisation: "standard" (one lr) or "depth_mup" (checks the 1/sqrt(L)
            multiplier, scales the block lr for Adam).

    Returns:
        Two groups, ``{"params": stem + head, "lr": eta, "name": "input_output"}`` and
        ``{"params": blocks, "lr": eta * m, "name": "hidden_blocks"}`` with
        ``m = hidden_lr_multiplier(depth, optimizer, parametrisation)``.
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0; got lr={lr!r}.")
    check_branch_multiplier(model, parametrisation)
    blocks = _blocks(model)
    depth = len(list(blocks.children()))
    hidden = list(blocks.parameters())
    hidden_ids = {id(p) for p in hidden}
    outer = [p for p in model.parameters() if id(p) not in hidden_ids]
    mult = hidden_lr_multiplier(depth, optimizer, parametrisation)
    return [
        {"params": outer, "lr": lr, "name": "input_output"},
        {"params": hidden, "lr": lr * mult, "name": "hidden_blocks"},
    ]


def make_optimizer(
    model: nn.Module, lr: float, *, optimizer: str, parametrisation: str
) -> torch.optim.Optimizer:
    """``torch.optim.SGD`` or ``torch.optim.Adam`` over :func:`param_groups`."""
    groups = param_groups(model, lr, optimizer=optimizer, parametrisation=parametrisation)
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    return torch.optim.Adam(groups, lr=lr)


def build_mlp_resnet(
    in_features: int,
    out_features: int,
    *,
    width: int,
    depth: int,
    parametrisation: str,
    activation: str = "relu",
) -> nn.Module:
    """odenet.models.MLPResNet with one-layer blocks x + s W phi(x) (pre-activation, no
    hidden layer: the block family Depth-muP is derived for), s = 1 (standard) or 1/sqrt(L)
    (Depth-muP)."""
    from odenet.models import MLPResNet

    _check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
    return MLPResNet(
        in_features,
        out_features,
        width=width,
        depth=depth,
        num_hidden_layers=0,
        preactivation=True,
        activation=activation,
        scale="1/sqrt(L)" if parametrisation == "depth_mup" else "1",
    )
