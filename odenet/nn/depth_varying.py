"""Layers and vector fields whose weights are functions of depth ``t``.

``W(t) = sum_k phi_k(t) W_k`` over a ``Basis`` (see ``odenet.nn.bases``). Over the
piecewise-constant basis with L pieces, ``W(t) = W_k`` on the k-th piece, so
``odeint(DepthVaryingMLPField(...), x, [0, 1], method="euler", step_size=1/L)`` is exactly
the ResNet ``x <- x + (1/L) f_k(x)``, k = 0..L-1 (``odenet.models.MLPResNet`` with
``scale="1/L"``). Layout: ``field.layers[i].weight[k]`` and ``.bias[k]`` are the
coefficients of the i-th linear/conv layer on basis function k; copying the weighted layers
of ResNet block k's ``branch`` (in call order) into slot k gives that identity (see
``tests/models/test_resnet_euler_identity.py``). Over the Legendre/Fourier bases these
are the Galerkin layers of Massaroli et al. 2020 ("Dissecting Neural ODEs").

Initialisation: every coefficient of the local bases (piecewise constant, piecewise linear)
is drawn like the corresponding ``nn.Linear``/``nn.Conv2d`` weight; for the spectral bases
only the constant mode ``k = 0`` is drawn and the others start at zero, so the field starts
constant in depth. Times enter the basis detached: the field is not differentiated in t.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from odenet.nn._checks import InputSpec, check_positive_int, checks_input
from odenet.nn.activations import make_activation
from odenet.nn.bases import Basis, FourierBasis, LegendreBasis, make_basis


def _combine(basis: Basis, coefficients: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``sum_k phi_k(t) coefficients[k]``: (n_basis, *shape) -> (*shape)."""
    if basis.one_hot:
        return coefficients[basis.index(t)]
    phi = basis(t).to(dtype=coefficients.dtype, device=coefficients.device)
    return torch.tensordot(phi, coefficients, dims=1)


def _init_coefficients(basis: Basis, coefficients: torch.Tensor, template: nn.Module) -> None:
    """Fill ``coefficients[k]`` with fresh draws of ``template``'s default initialisation."""
    name = "weight" if coefficients.ndim > 2 else "bias"
    with torch.no_grad():
        for k in range(basis.n_basis):
            template.reset_parameters()
            if k > 0 and isinstance(basis, (LegendreBasis, FourierBasis)):
                coefficients[k].zero_()
            else:
                coefficients[k].copy_(getattr(template, name))


class DepthVaryingLinear(nn.Module):
    """Linear layer with depth-varying weight ``(n_basis, out, in)`` and bias ``(n_basis, out)``.

    Shapes: ``forward(t, x)``: ``x: (*batch, in_features) -> (*batch, out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, basis: Basis) -> None:
        super().__init__()
        n = basis.n_basis
        self.basis = basis
        self.weight = nn.Parameter(torch.empty(n, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n, out_features))
        template = nn.Linear(in_features, out_features)
        _init_coefficients(basis, self.weight, template)
        _init_coefficients(basis, self.bias, template)

    def weights_at(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W(t), b(t))`` of shapes ``(out, in)`` and ``(out,)``."""
        return _combine(self.basis, self.weight, t), _combine(self.basis, self.bias, t)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weights_at(t)
        return F.linear(x, w, b)


class DepthVaryingConv2d(nn.Module):
    """Same-padding conv, weight ``(n_basis, out, in, k, k)``, bias ``(n_basis, out)``.

    Shapes: ``forward(t, x)``: ``x: (B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, basis: Basis) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep H, W; got {kernel_size}.")
        n = basis.n_basis
        self.basis = basis
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(
            torch.empty(n, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(n, out_channels))
        template = nn.Conv2d(in_channels, out_channels, kernel_size, padding=self.padding)
        _init_coefficients(basis, self.weight, template)
        _init_coefficients(basis, self.bias, template)

    def weights_at(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W(t), b(t))`` of shapes ``(out, in, k, k)`` and ``(out,)``."""
        return _combine(self.basis, self.weight, t), _combine(self.basis, self.bias, t)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weights_at(t)
        return F.conv2d(x, w, b, padding=self.padding)


class _DepthVaryingChain(nn.Module):
    """Alternates depth-varying layers and an activation (optionally starting with it)."""

    def __init__(self, layers: list[nn.Module], activation: str, preactivation: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.activation = make_activation(activation)
        self.preactivation = bool(preactivation)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            if self.preactivation or i > 0:
                x = self.activation(x)
            x = layer(t, x)
        return x


class DepthVaryingMLPField(_DepthVaryingChain):
    """MLP field ``dim -> hidden (x num_hidden_layers) -> dim`` with depth-varying weights.

    Without ``preactivation``: ``Linear, act, ..., act, Linear`` (the branch of
    ``MLPResNet``); with it, an activation also comes first (He et al. 2016).
    Shapes: ``x: (batch, dim) -> (batch, dim)``.

    Args:
        basis: a ``Basis`` or one of ``"piecewise_constant"``, ``"piecewise_linear"``,
            ``"legendre"``, ``"fourier"``; ``n_basis`` functions on ``t_span``.
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 64,
        num_hidden_layers: int = 1,
        basis: str | Basis = "piecewise_constant",
        n_basis: int = 4,
        activation: str = "tanh",
        preactivation: bool = False,
        t_span: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        check_positive_int("dim", dim)
        check_positive_int("hidden", hidden)
        check_positive_int("num_hidden_layers", num_hidden_layers)
        b = make_basis(basis, n_basis, *t_span)
        sizes = [dim] + [hidden] * num_hidden_layers + [dim]
        layers = [DepthVaryingLinear(i, o, b) for i, o in itertools.pairwise(sizes)]
        super().__init__(layers, activation, preactivation)
        self.basis = b

    def input_spec(self) -> InputSpec:
        """The input this field expects (checked at the first call and on errors)."""
        dim = self.layers[0].weight.shape[-1]
        return InputSpec(f"DepthVaryingMLPField(dim={dim})", "(batch, dim)", dim, "dim")

    @checks_input(1)
    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return super().forward(t, x)


class DepthVaryingConvField(_DepthVaryingChain):
    """Conv field ``channels -> hidden -> channels`` (two k x k convs) with depth-varying weights.

    Without ``preactivation``: ``conv, act, conv`` (the branch of ``ConvResNet`` with
    ``norm="none"``); with it, ``act, conv, act, conv``.
    Shapes: ``x: (B, channels, H, W) -> (B, channels, H, W)``.
    """

    def __init__(
        self,
        channels: int,
        hidden: int | None = None,
        kernel_size: int = 3,
        basis: str | Basis = "piecewise_constant",
        n_basis: int = 4,
        activation: str = "relu",
        preactivation: bool = False,
        t_span: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        check_positive_int("channels", channels)
        hidden = channels if hidden is None else check_positive_int("hidden", hidden)
        b = make_basis(basis, n_basis, *t_span)
        layers = [
            DepthVaryingConv2d(channels, hidden, kernel_size, b),
            DepthVaryingConv2d(hidden, channels, kernel_size, b),
        ]
        super().__init__(layers, activation, preactivation)
        self.basis = b

    def input_spec(self) -> InputSpec:
        """The input this field expects (checked at the first call and on errors)."""
        c = self.layers[0].weight.shape[2]
        return InputSpec(
            f"DepthVaryingConvField(channels={c})",
            "(batch, channels, H, W)",
            c,
            "channels",
            axis=1,
            rank=4,
        )

    @checks_input(1)
    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return super().forward(t, x)
