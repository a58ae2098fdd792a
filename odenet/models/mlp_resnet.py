"""``MLPResNet``: stem, L residual blocks ``x + s * f_l(x)``, head."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from odenet.models.branch_scale import branch_scale
from odenet.models.parametrisation import parametrised_scale, stack_param_groups
from odenet.models.residual_block import ResidualBlock
from odenet.models.resnet_init import apply_init, survival_probs
from odenet.nn._checks import InputSpec, check_positive_int, checks_input
from odenet.nn.activations import make_activation


def mlp_branch(
    width: int, hidden: int, num_hidden_layers: int, activation: str, preactivation: bool
) -> nn.Sequential:
    """``Linear, act, ..., act, Linear`` (``width -> hidden ... -> width``); with
    ``preactivation`` an activation also comes first (He et al. 2016, identity mappings)."""
    sizes = [width] + [hidden] * num_hidden_layers + [width]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        if preactivation or i > 0:
            layers.append(make_activation(activation))
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


class MLPResNet(nn.Module):
    """Fully connected ResNet: ``head(blocks(stem(x)))``.

    ``stem = Linear(in_features, width)``; ``blocks`` is an ``nn.Sequential`` of ``depth``
    ``ResidualBlock`` s whose ``branch`` is ``mlp_branch(...)`` and whose ``scale`` is
    ``branch_scale(scale, depth)``; ``head = [act,] Linear(width, out_features)`` (the
    activation only with ``preactivation``). With ``scale="1/L"`` the blocks are L Euler
    steps of ``DepthVaryingMLPField`` over the piecewise-constant basis.

    Shapes: ``(batch, in_features) -> (batch, out_features)``; an input with more
    dimensions, e.g. images ``(batch, 1, 8, 8)``, is flattened to ``(batch, in_features)``.

    Args:
        scale: ``"1"``, ``"1/L"``, ``"1/sqrt(L)"`` or a float (see ``branch_scale``);
            ``None`` (default): ``"1/L"``, or ``"1/sqrt(L)"`` with ``"depth_mup"``.
        preactivation: activation first in each branch (He et al. 2016).
        rezero: learnable gain per block starting at 0 (Bachlechner et al. 2020).
        stochastic_depth: drop probability of the last block; block l survives with
            ``1 - (l / L) * stochastic_depth`` (Huang et al. 2016).
        init: ``"iid"``, ``"smooth"`` or ``"fixup"`` (see ``odenet.models.resnet_init``).
        parametrisation: ``"standard"`` (``scale`` as given, default ``"1/L"``; one lr for
            every parameter) or ``"depth_mup"`` (Depth-muP, Yang, Yu, Zhu & Hayou 2023,
            "Tensor Programs VI", arXiv:2310.02244): branch multiplier ``1/sqrt(L)`` (so
            ``scale`` must be ``None`` or ``"1/sqrt(L)"``), the default depth-independent
            initialisation, and residual-block lr ``eta`` for SGD, ``eta / sqrt(L)`` for
            Adam, stem and head lr ``eta``: see :meth:`optimizer_param_groups` and
            ``odenet.limits.depth_mup`` (rule, derivation). The rule is derived for one-layer
            blocks (``num_hidden_layers=0, preactivation=True``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 64,
        depth: int = 4,
        hidden: int | None = None,
        num_hidden_layers: int = 1,
        activation: str = "relu",
        scale: str | float | None = None,
        preactivation: bool = False,
        rezero: bool = False,
        stochastic_depth: float = 0.0,
        init: str = "iid",
        smooth_frequencies: int = 2,
        parametrisation: str = "standard",
    ) -> None:
        super().__init__()
        check_positive_int("in_features", in_features)
        check_positive_int("out_features", out_features)
        check_positive_int("width", width)
        check_positive_int("depth", depth)
        hidden = width if hidden is None else check_positive_int("hidden", hidden)
        self.depth = depth
        s = branch_scale(parametrised_scale(parametrisation, scale), depth)
        self.parametrisation = parametrisation
        self.stem = nn.Linear(in_features, width)
        probs = survival_probs(depth, stochastic_depth)
        self.blocks = nn.Sequential(
            *(
                ResidualBlock(
                    mlp_branch(width, hidden, num_hidden_layers, activation, preactivation),
                    scale=s,
                    rezero=rezero,
                    survival_prob=p,
                )
                for p in probs
            )
        )
        head: list[nn.Module] = [make_activation(activation)] if preactivation else []
        self.head = nn.Sequential(*head, nn.Linear(width, out_features))
        apply_init(init, [b.branch for b in self.blocks], self.head, smooth_frequencies)

    def optimizer_param_groups(self, lr: float, optimizer: str) -> list[dict]:
        """Parameter groups for ``torch.optim`` with base lr ``lr`` (``optimizer``: ``"sgd"``
        or ``"adam"``): one group of every parameter for ``"standard"``; for ``"depth_mup"``
        stem and head at ``lr``, the blocks (group ``"hidden_blocks"``) at ``lr`` for SGD and
        ``lr / sqrt(L)`` for Adam (``odenet.models.parametrisation.stack_param_groups``)."""
        stacks = {"hidden_blocks": self.blocks}
        return stack_param_groups(self, stacks, lr, optimizer, self.parametrisation)

    def input_spec(self) -> InputSpec:
        """The input this model expects (checked at the first call and on errors)."""
        n = self.stem.in_features
        return InputSpec(
            f"MLPResNet(in_features={n})",
            "(batch, in_features) or (batch, *dims) with prod(dims) = in_features",
            n,
            "in_features",
            axis=None,
        )

    @checks_input(0)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            x = x.flatten(1)
        return self.head(self.blocks(self.stem(x)))
