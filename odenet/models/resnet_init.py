"""Initialisations of a residual stack: iid, smooth in depth, Fixup.

- ``"iid"``: every block drawn independently (PyTorch's default layer initialisation).
- ``"smooth"``: weights drawn as a smooth function of depth ``t = l / L`` (Marion, Wu,
  Sander, Biau, "Implicit regularization of deep residual networks towards neural ODEs",
  ICLR 2024): ``W_l = sum_j b_j(l / L) A_j`` with ``2m`` iid anchors ``A_j`` (each drawn with
  the default initialisation) and ``b = (cos(pi j t), sin(pi j t))_{j=1..m} / sqrt(m)``.
  Since ``sum_j b_j(t)^2 = 1``, every entry keeps the variance of the iid initialisation,
  while consecutive blocks differ by O(1/L).
- ``"fixup"`` (Zhang, Dauphin, Ma, "Fixup initialization", ICLR 2019): the last layer of
  every branch starts at zero, the other branch layers are rescaled by
  ``L^(-1/(2m-2))`` (m layers per branch, L blocks), and the classifier starts at zero.
  Fixup's scalar biases and multipliers are not added.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from odenet.nn._checks import check_choice, check_positive_int

INITS = ("iid", "smooth", "fixup")


def weighted_layers(branch: nn.Module) -> list[nn.Module]:
    """The ``nn.Linear``/``nn.Conv2d`` layers of a branch, in call order."""
    return [m for m in branch.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def smooth_basis(t: float, frequencies: int) -> list[float]:
    """``(cos(pi j t), sin(pi j t))_{j=1..m} / sqrt(m)``; the squares sum to 1."""
    norm = math.sqrt(frequencies)
    out = []
    for j in range(1, frequencies + 1):
        out += [math.cos(math.pi * j * t) / norm, math.sin(math.pi * j * t) / norm]
    return out


@torch.no_grad()
def init_smooth(branches: list[nn.Module], frequencies: int = 2) -> None:
    """Set the weights of ``branches`` (same structure) to a smooth function of depth."""
    check_positive_int("smooth_frequencies", frequencies)
    per_block = [weighted_layers(b) for b in branches]
    depth = len(branches)
    for position in range(len(per_block[0])):
        template = per_block[0][position]
        anchors = []
        for _ in range(2 * frequencies):
            template.reset_parameters()
            anchors.append([p.detach().clone() for p in template.parameters()])
        for depth_index, layers in enumerate(per_block):
            coeffs = smooth_basis(depth_index / depth, frequencies)
            for i, p in enumerate(layers[position].parameters()):
                p.copy_(sum(c * a[i] for c, a in zip(coeffs, anchors, strict=True)))


@torch.no_grad()
def init_fixup(branches: list[nn.Module], head: nn.Module | None) -> None:
    """Fixup: zero last branch layer and classifier, rescale the other branch layers."""
    depth = len(branches)
    for branch in branches:
        layers = weighted_layers(branch)
        m = len(layers)
        if m < 2:
            raise ValueError(f"fixup needs branches with >= 2 weighted layers; got {m}.")
        for layer in layers[:-1]:
            layer.weight.mul_(depth ** (-1.0 / (2 * m - 2)))
        for p in layers[-1].parameters():
            p.zero_()
    if head is not None:
        for p in head.parameters():
            p.zero_()


def apply_init(
    init: str, branches: list[nn.Module], head: nn.Module | None, smooth_frequencies: int = 2
) -> None:
    """Apply the initialisation named ``init`` (one of ``INITS``) to a residual stack."""
    check_choice("init", init, INITS)
    if init == "smooth":
        init_smooth(branches, smooth_frequencies)
    elif init == "fixup":
        init_fixup(branches, head)


def survival_probs(num_blocks: int, stochastic_depth: float) -> list[float]:
    """Huang et al. 2016 linear decay: ``p_l = 1 - (l / L) * stochastic_depth``, l = 1..L."""
    if not 0.0 <= float(stochastic_depth) < 1.0:
        raise ValueError(
            f"stochastic_depth (drop probability of the last block) must lie in [0, 1); "
            f"got {stochastic_depth!r}."
        )
    return [1.0 - (k / num_blocks) * float(stochastic_depth) for k in range(1, num_blocks + 1)]
