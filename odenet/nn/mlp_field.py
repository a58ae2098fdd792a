"""Multilayer-perceptron vector field ``f(t, x)`` for states of shape ``(batch, dim)``."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from odenet.nn._checks import InputSpec, check_positive_int, checks_input
from odenet.nn.activations import make_activation
from odenet.nn.time_conditioning import ConcatLinear


class MLPField(nn.Module):
    """MLP vector field ``dx/dt = f(t, x)``.

    Architecture: ``dim -> hidden -> ... -> hidden -> dim`` with ``num_hidden_layers``
    hidden layers and ``activation`` between linear layers. With ``time_conditioning`` each
    linear layer also receives ``t`` as an extra input (Chen et al. 2018); otherwise ``t``
    is ignored and the field is autonomous.

    Shapes: ``t`` scalar tensor, ``x: (batch, dim) -> (batch, dim)``.
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 64,
        num_hidden_layers: int = 2,
        activation: str = "tanh",
        time_conditioning: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("dim", dim)
        check_positive_int("hidden", hidden)
        check_positive_int("num_hidden_layers", num_hidden_layers)
        self.dim = dim
        self.time_conditioning = bool(time_conditioning)
        sizes = [dim] + [hidden] * num_hidden_layers + [dim]
        layer = ConcatLinear if self.time_conditioning else nn.Linear
        self.layers = nn.ModuleList(layer(a, b) for a, b in itertools.pairwise(sizes))
        self.activation = make_activation(activation)

    def input_spec(self) -> InputSpec:
        """The input this field expects (checked at the first call and on errors)."""
        return InputSpec(f"MLPField(dim={self.dim})", "(batch, dim)", self.dim, "dim")

    @checks_input(1)
    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(t, x) if self.time_conditioning else layer(x)
            if i < len(self.layers) - 1:
                x = self.activation(x)
        return x
